// Streaming writer of libxc v3 streams (v2 only for tests and conversion
// sources). Nothing is held in memory: each record goes to the sink as it is
// written; PAGE_DATA goes out as one gather write whose page parts are the
// caller's own memory (header + pfn array are built in a small buffer).
//
// The writer checks every record against the same StreamRules the reader
// uses, so it cannot produce a stream tern's reader would reject for its
// record order (Errc::usage). It writes the spec's order itself; the one
// tolerated deviation (HVM_CONTEXT before HVM_PARAMS, as Xen writes) is
// allowed because the rules allow it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/byte_sink.hpp"
#include "core/error.hpp"
#include "stream/libxc/format.hpp"
#include "stream/libxc/records.hpp"
#include "stream/libxc/rules.hpp"
#include "stream/record_framing.hpp"

namespace tern::stream::libxc {

// Largest PAGE_DATA count c <= max_batch such that the first page payload
// of a record written at stream offset `record_offset` lands on a 4 KiB
// boundary in the file (payload starts at record_offset + 8 + 8 + 8*c).
// Returns max_batch when no c <= max_batch achieves it (only possible for
// max_batch < 512). record_offset must be 8-aligned (it always is).
// Callers cap the result by the pages they have left; a short last batch
// may then be unaligned.
[[nodiscard]] std::uint32_t aligned_batch_count(std::uint64_t record_offset, std::uint32_t max_batch);

class Writer {
 public:
  explicit Writer(ByteSink& sink);

  // Image + domain header. Must be first. header.version 3 (tern's format)
  // or 2 (to produce v2 test streams: STATIC_DATA_END and the v3-only
  // policy records are then refused).
  [[nodiscard]] Expected<void> write_header(const StreamHeader& header);

  // PAGE_DATA: `entries` are raw pfn entries (make_pfn_entry); `pages` are
  // the payloads of the entries whose type carries data, in order, as any
  // number of parts (one per page, or contiguous runs) totalling
  // N * page_size bytes. The parts are written straight from caller memory.
  [[nodiscard]] Expected<void> write_page_data(std::span<const std::uint64_t> entries,
                                               std::span<const Bytes> pages);
  [[nodiscard]] Expected<void> write_page_data(std::span<const std::uint64_t> entries, Bytes pages) {
    return write_page_data(entries, std::span<const Bytes>(&pages, 1));
  }

  [[nodiscard]] Expected<void> write_pv_info(const PvInfo& info);
  [[nodiscard]] Expected<void> write_p2m_frames(std::uint32_t start_pfn, std::uint32_t end_pfn,
                                                std::span<const std::uint64_t> frames);
  // type: one of the four X86_PV_VCPU_* types.
  [[nodiscard]] Expected<void> write_vcpu(RecordType type, std::uint32_t vcpu_id, Bytes context);
  [[nodiscard]] Expected<void> write_shared_info(Bytes page);
  [[nodiscard]] Expected<void> write_tsc_info(const TscInfo& tsc);
  [[nodiscard]] Expected<void> write_hvm_context(std::span<const Bytes> parts);
  [[nodiscard]] Expected<void> write_hvm_context(Bytes blob) { return write_hvm_context(std::span<const Bytes>(&blob, 1)); }
  [[nodiscard]] Expected<void> write_hvm_params(std::span<const HvmParam> params);
  [[nodiscard]] Expected<void> write_verify();
  [[nodiscard]] Expected<void> write_checkpoint();
  [[nodiscard]] Expected<void> write_dirty_pfn_list(std::span<const std::uint64_t> pfns);
  [[nodiscard]] Expected<void> write_static_data_end();
  [[nodiscard]] Expected<void> write_cpuid_policy(std::span<const CpuidLeaf> leaves);
  [[nodiscard]] Expected<void> write_msr_policy(std::span<const MsrEntry> entries);
  [[nodiscard]] Expected<void> write_end();

  // Any record, body as parts (conversion, optional records, tests). The
  // order rules still apply; the body is not parsed.
  [[nodiscard]] Expected<void> write_raw(std::uint32_t type, std::span<const Bytes> body_parts);
  [[nodiscard]] Expected<void> write_raw(std::uint32_t type, Bytes body) {
    return write_raw(type, std::span<const Bytes>(&body, 1));
  }

  // Stream offset of the next byte (the sink's count: a file offset when
  // the sink is the file, including what was written before this stream).
  [[nodiscard]] std::uint64_t offset() const { return sink_.bytes_written(); }
  [[nodiscard]] const StreamHeader& header() const { return header_; }
  [[nodiscard]] const StreamRules* rules() const { return rules_ ? &*rules_ : nullptr; }
  [[nodiscard]] ByteSink& sink() { return sink_; }

 private:
  Expected<void> admit(std::uint32_t type);
  Expected<void> emit(std::uint32_t type, std::span<const Bytes> parts);

  ByteSink& sink_;
  RecordWriter records_;
  StreamHeader header_;
  std::optional<StreamRules> rules_;
  std::vector<std::byte> scratch_;  // PAGE_DATA header + pfn array, small fixed bodies
  std::uint8_t guest_width_ = 0;    // from write_pv_info, to check X86_PV_P2M_FRAMES sizes
};

}  // namespace tern::stream::libxc
