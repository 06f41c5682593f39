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
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "core/byte_source.hpp"
#include "migrate/image_config.hpp"
#include "stream/domctx/state_image.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

using DomainFactory = std::function<Expected<std::unique_ptr<vm::Domain>>(const ImageConfig&)>;

struct ReceiveStats {
  std::uint64_t bytes = 0;
  std::uint64_t records = 0;
  std::uint64_t data_pages = 0;
  std::uint64_t zero_pages = 0;
  std::uint64_t xtab_pages = 0;
  std::chrono::nanoseconds total{0};
  std::chrono::nanoseconds state{0};  // decode + check + load of the state
};

struct ReceiveResult {
  ImageConfig config;
  std::unique_ptr<vm::Domain> domain;  // null in validate-only mode
  stream::domctx::StateImage state;
  ReceiveStats stats;
};

struct ReceiverOptions {
  // Null: validate only.
  DomainFactory factory;
  // A file must end right after the libxl END; a connection may carry more.
  bool expect_end_of_input = true;
};

Expected<ReceiveResult> receive_stream(ByteSource& src, const ReceiverOptions& opts);

}  // namespace tern::migrate
