// Reads a tern image or migration stream with the validating readers and
// builds the destination domain from it:
//
//   xl header     -> the VM config (ImageConfig)
//   libxc header  -> must be x86 HVM with 4 KiB pages
//   X86_CPUID_POLICY -> checked against this host before anything is created
//   STATIC_DATA_END  -> the destination domain is created (nothing booted)
//   PAGE_DATA     -> frames populated and written (XALLOC: populated, zero;
//                    XTAB: removed from the map)
//   HVM_CONTEXT   -> the domain-context blob, kept until the end
//   libxc END, libxl END -> blob decoded, check_state(), load_state()
//
// The state is applied only after the whole stream has been read and
// validated; on any error the destination domain is shut down and
// destroyed, so a partial or invalid stream never yields a VM. The domain
// is returned paused-before-start: the caller resumes it.
//
// Validate-only mode (no domain) reads the same stream skipping page
// payloads: restore runs it first over a file so that a bad image is
// refused before anything is touched.
//
// A lazy restore from a file maps page payloads into the guest instead of
// copying them: it records them during the validate-only pass
// (ReceiverOptions::on_page_data, page_plan.hpp) and applies them after.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "core/byte_source.hpp"
#include "migrate/image_config.hpp"
#include "stream/domctx/state_image.hpp"
#include "stream/libxc/reader.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

using DomainFactory = std::function<Expected<std::unique_ptr<vm::Domain>>(const ImageConfig&)>;

struct ReceiveStats {
  std::uint64_t bytes = 0;
  std::uint64_t records = 0;
  std::uint64_t data_pages = 0;
  std::uint64_t mapped_pages = 0;  // data pages backed by the image file (lazy restore)
  std::uint64_t mapped_runs = 0;   // map_file calls that succeeded
  std::uint64_t zero_pages = 0;
  std::uint64_t xtab_pages = 0;
  std::chrono::nanoseconds total{0};
  std::chrono::nanoseconds state{0};          // decode + check + load of the state
  std::uint64_t prefaulted_bytes = 0;         // ReceiverOptions::prefault, prefault_lead_frames
  std::uint64_t prefault_released_bytes = 0;  // lead mode: given back as round 0 left it zero
  // Set by restore_image: the validate-only pass, and creating the domain.
  std::chrono::nanoseconds validate{0};
  std::chrono::nanoseconds create{0};  // (the two overlap)
  // Time spent in Domain::map_file (restore_image, lazy).
  std::chrono::nanoseconds map_file{0};
};

struct ReceiveResult {
  ImageConfig config;
  std::unique_ptr<vm::Domain> domain;  // null in validate-only mode
  stream::domctx::StateImage state;
  ReceiveStats stats;
  // What the result still holds open for the caller's convenience (a lazy
  // restore's mapping of the image): unmapping a large image costs a
  // fraction of a millisecond, so a restore drops it only once the guest
  // runs (reset() it then; the guest's own mappings of the image stay).
  std::shared_ptr<void> resources;
};

struct ReceiverOptions {
  // Null: validate only.
  DomainFactory factory;
  // Validate-only mode: called with each validated PAGE_DATA record, its
  // payload a view into the source (not skipped): a restore records its
  // page plan this way (page_plan.hpp) and applies it after the walk.
  std::function<Expected<void>(const stream::libxc::Record&, const stream::libxc::PageData&)>
      on_page_data;
  // A file must end right after the libxl END; a connection may carry more.
  bool expect_end_of_input = true;
  // Pre-fault the new domain's RAM on a thread of its own while round 0
  // fills it (prefault.hpp); stopped when a later round begins (a record
  // starting below the last frame seen), the state records begin, or the
  // stream ends.
  bool prefault = false;
  // Without `prefault`: pre-fault only this many frames past the last data
  // frame round 0 has announced (Prefaulter's lead mode), giving back what
  // round 0 then leaves zero. 0: the receiver's copies fault memory in.
  std::uint64_t prefault_lead_frames = 0;
  // Called in the receiving thread when the state records begin (the
  // source has paused its guest: the switch-over is under way). A migration
  // destination raises the thread's priority from here (vm::ThreadBoost);
  // the domain's own threads exist by then and do not inherit it.
  std::function<void()> on_state_records;
  // Called after each PAGE_DATA record is applied with the stream bytes
  // consumed so far (a migration destination sends them as ACKs).
  std::function<void(std::uint64_t consumed)> on_pages_applied;
};

Expected<ReceiveResult> receive_stream(ByteSource& src, const ReceiverOptions& opts);

}  // namespace tern::migrate
