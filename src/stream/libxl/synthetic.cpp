#include "stream/libxl/synthetic.hpp"

#include <vector>

#include "stream/libxl/checkpoint_splicer.hpp"
#include "stream/libxl/libxl_writer.hpp"

namespace tern::stream::libxl {

namespace {

// The emulator state libxl writes after each round (HVM only).
Expected<void> write_emulator_records(Writer& w, const SyntheticOptions& o, std::uint32_t round) {
  if (o.libxc.domain_type != libxc::DomainType::x86_hvm) return {};
  if (o.xenstore_data) {
    XenstoreData d{.emu = {kEmulatorQemuUpstream, 0},
                   .entries = {{"physmap/f0000000/start_addr", "f0000000"},
                               {"physmap/f0000000/size", "800000"},
                               {"physmap/f0000000/name", "vga.vram"}}};
    TERN_TRY(w.emulator_xenstore_data(d));
  }
  if (o.emulator_context_bytes > 0) {
    std::vector<std::byte> blob(o.emulator_context_bytes);
    for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<std::byte>((i * 131 + round * 7) & 0xff);
    TERN_TRY(w.emulator_context({kEmulatorQemuUpstream, 0}, blob));
  }
  return {};
}

}  // namespace

Expected<void> write_synthetic(ByteSink& sink, const SyntheticOptions& opts) {
  Writer w(sink);
  TERN_TRY(w.write_header());
  TERN_TRY(w.libxc_context());
  std::uint32_t round = 0;
  CheckpointSplicer splicer(sink, [&](ByteSink&) -> Expected<void> {
    TERN_TRY(write_emulator_records(w, opts, ++round));
    return w.checkpoint_end();
  });
  TERN_TRY(libxc::write_synthetic(splicer, opts.libxc));
  TERN_TRY(write_emulator_records(w, opts, 0));
  return w.end();
}

}  // namespace tern::stream::libxl
