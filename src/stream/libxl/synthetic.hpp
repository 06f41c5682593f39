// Synthetic libxl streams (and xl save images, see xl/synthetic.hpp):
// libxc's synthetic stream wrapped the way libxl's saver wraps a real one:
//   header, LIBXC_CONTEXT, libxc stream
//     [at each libxc CHECKPOINT: emulator records (HVM), CHECKPOINT_END]
//   emulator records (HVM), END.
// Emulator records: EMULATOR_XENSTORE_DATA only when asked (Xen's own
// verifier mishandles non-empty ones under Python 3), EMULATOR_CONTEXT with a
// deterministic qemu-upstream blob for HVM guests.
#pragma once

#include "core/byte_sink.hpp"
#include "stream/libxc/synthetic.hpp"

namespace tern::stream::libxl {

struct SyntheticOptions {
  libxc::SyntheticOptions libxc;
  bool xenstore_data = false;             // HVM: add an EMULATOR_XENSTORE_DATA record
  std::uint32_t emulator_context_bytes = 1024;  // HVM: EMULATOR_CONTEXT blob size (0: no record)
};

[[nodiscard]] Expected<void> write_synthetic(ByteSink& sink, const SyntheticOptions& opts);

}  // namespace tern::stream::libxl
