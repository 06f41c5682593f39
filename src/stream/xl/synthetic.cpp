#include "stream/xl/synthetic.hpp"

#include <nlohmann/json.hpp>

#include "stream/xl/xl_header.hpp"

namespace tern::stream::xl {

std::string synthetic_config(const libxc::SyntheticOptions& o) {
  bool hvm = o.domain_type == libxc::DomainType::x86_hvm;
  std::uint64_t memkb = o.pages * 4;
  nlohmann::json cfg = {
      {"c_info", {{"type", hvm ? "hvm" : "pv"}, {"name", "tern-synthetic"}}},
      {"b_info",
       {{"max_vcpus", o.vcpus}, {"max_memkb", memkb}, {"target_memkb", memkb},
        {"type.hvm", hvm ? nlohmann::json::object() : nlohmann::json(nullptr)}}},
  };
  if (!hvm) cfg["b_info"].erase("type.hvm");
  return cfg.dump();
}

Expected<void> write_synthetic(ByteSink& sink, const libxl::SyntheticOptions& opts) {
  TERN_TRY(write_header(sink, synthetic_config(opts.libxc)));
  return libxl::write_synthetic(sink, opts);
}

}  // namespace tern::stream::xl
