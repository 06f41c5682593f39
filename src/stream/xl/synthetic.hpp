// Synthetic xl save images: the xl header with a JSON domain config, then a
// synthetic libxl stream (libxl/synthetic.hpp) — the layout `xl save` writes.
#pragma once

#include <string>

#include "stream/libxl/synthetic.hpp"

namespace tern::stream::xl {

// A small libxl_domain_config-shaped JSON document describing the guest.
[[nodiscard]] std::string synthetic_config(const libxc::SyntheticOptions& o);

[[nodiscard]] Expected<void> write_synthetic(ByteSink& sink, const libxl::SyntheticOptions& opts);

}  // namespace tern::stream::xl
