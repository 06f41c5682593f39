// The record-sequence rules of a libxc stream, in ONE place, shared by PV
// and HVM, by the reader and by the writer: which record types belong to the
// domain type, the ordering dependencies of spec section 5, static data vs
// STATIC_DATA_END (required in v3, inferred in v2 per section 6.1), END last,
// CHECKPOINT resumption.
//
// Feed every record type, in stream order, to admit(). It answers whether
// the record is allowed here and whether a STATIC_DATA_END must be inferred
// just before it (v2 only: before the first X86_PV_P2M_FRAMES of a PV
// stream, before the first PAGE_DATA of an HVM stream; at most once).
#pragma once

#include <cstdint>

#include "core/error.hpp"
#include "stream/libxc/format.hpp"

namespace tern::stream::libxc {

struct Admission {
  // True exactly once in a v2 stream: behave as if STATIC_DATA_END had been
  // read immediately before this record.
  bool infer_static_data_end_before = false;
};

class StreamRules {
 public:
  StreamRules(DomainType type, std::uint32_t version);

  // Checks that a record of `type` may come next and updates the state.
  // Errors (Errc::invalid) state the rule broken, without offset/record
  // context (the caller adds it). Unknown optional types are admitted
  // anywhere before END; unknown mandatory types are rejected.
  [[nodiscard]] Expected<Admission> admit(std::uint32_t type);

  // True if admitting `type` now would fail only because STATIC_DATA_END
  // has not been seen (v3). Lets v2->v3 conversion place a STATIC_DATA_END
  // ahead of the records of odd v2 streams that reach memory/register
  // records (or END) before the spec's inference point.
  [[nodiscard]] bool needs_static_data_end_before(std::uint32_t type) const;

  [[nodiscard]] DomainType domain_type() const { return type_; }
  [[nodiscard]] std::uint32_t version() const { return version_; }
  [[nodiscard]] bool static_data_ended() const { return static_data_ended_; }
  [[nodiscard]] bool static_data_end_inferred() const { return inferred_; }
  [[nodiscard]] bool ended() const { return ended_; }                 // END admitted
  [[nodiscard]] bool checkpointed() const { return checkpoints_ > 0; }  // a CHECKPOINT was admitted
  [[nodiscard]] std::uint64_t checkpoints() const { return checkpoints_; }

 private:
  DomainType type_;
  std::uint32_t version_;
  bool static_data_ended_ = false;
  bool inferred_ = false;
  bool ended_ = false;
  std::uint64_t checkpoints_ = 0;
  // PV dependency chain (spec 5.1): X86_PV_INFO -> X86_PV_P2M_FRAMES -> PAGE_DATA -> vCPU records.
  bool seen_pv_info_ = false;
  bool seen_p2m_frames_ = false;
  bool seen_page_data_ = false;
  bool vcpu_in_round_ = false;  // a vCPU record since the last CHECKPOINT: no PAGE_DATA until the next
};

}  // namespace tern::stream::libxc
