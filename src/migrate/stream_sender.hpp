// Writes a tern image (or a migration stream: the same bytes) from a
// Domain, layer by layer as DESIGN.md draws it:
//
//   xl header + VM config JSON
//   libxl header, LIBXC_CONTEXT
//     libxc v3 header (x86 HVM), X86_CPUID_POLICY, X86_MSR_POLICY, STATIC_DATA_END
//     PAGE_DATA ...            round 0: every populated frame
//     PAGE_DATA ...            later rounds: the frames of a DirtyBitmap
//     X86_TSC_INFO, HVM_PARAMS, HVM_CONTEXT (domain-context blob), END
//   libxl END
//
// Pages are written with writev straight from Domain::page() memory; only a
// batch's pfn array is buffered, so memory use does not grow with the guest.
// All-zero frames go out as XALLOC entries (allocate, no payload) and frames
// that left the memory map as XTAB. Batch sizes are chosen so that page
// payloads start 4 KiB-aligned in the file (aligned_batch_count).
//
// Seed 002: a batch is planned against a snapshot of the memory map; right
// before it is written the map's generation is compared with the snapshot's
// and, if it moved, the snapshot is refreshed and the batch re-classified,
// so no frame is ever sent on the strength of a stale map. (A frame that
// leaves the map between that check and the write is in the dirty log and
// goes out again, as XTAB, in the next round.)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/byte_sink.hpp"
#include "migrate/image_config.hpp"
#include "stream/libxc/writer.hpp"
#include "stream/libxl/libxl_writer.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

struct RoundStats {
  std::uint64_t planned = 0;     // frames the round set out to send
  std::uint64_t data_pages = 0;  // sent with payload
  std::uint64_t zero_pages = 0;  // sent as XALLOC
  std::uint64_t xtab_pages = 0;  // sent as XTAB (not in the map)
  std::uint64_t batches = 0;
  std::uint64_t map_changes = 0;  // generation changes noticed before a batch
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds time{0};
  void add(const RoundStats& o);
};

struct SenderOptions {
  std::uint32_t max_batch = 1024;  // pfn entries per PAGE_DATA (<= 65536)
  // Called before each PAGE_DATA batch; an error aborts the round (a
  // migration's cancel, a VMM serving its control socket meanwhile).
  std::function<Expected<void>()> before_batch;
};

class StreamSender {
 public:
  StreamSender(vm::Domain& domain, ByteSink& sink, SenderOptions opts = {});

  // Everything up to STATIC_DATA_END.
  Expected<void> begin(const ImageConfig& config);
  // Round 0: every frame of the memory map as it is now.
  Expected<RoundStats> send_all();
  // A later round: the frames in `pfns` (present ones with their contents,
  // absent ones as XTAB). `zero_hint` false reads every present frame
  // instead of first asking the backend whether it was ever written: for
  // the final round, a set the downtime budget keeps small, where the
  // backend's answer for scattered frames (a mincore() each) costs more
  // than reading them (~0.2 ms for a few hundred frames, all of it pause).
  Expected<RoundStats> send(const vm::DirtyBitmap& pfns, bool zero_hint = true);
  // End-of-stream records with the domain's state; the stream is complete.
  Expected<void> finish(const stream::domctx::StateImage& state);

  [[nodiscard]] std::uint64_t bytes() const { return sink_.bytes_written() - start_; }

 private:
  class Batcher;
  ByteSink& sink_;
  vm::Domain& domain_;
  SenderOptions opts_;
  std::uint64_t start_;
  stream::libxl::Writer libxl_;
  stream::libxc::Writer libxc_;
};

}  // namespace tern::migrate
