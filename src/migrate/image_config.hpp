// The VM configuration a tern image carries in its xl header (the JSON that
// `xl save` puts there): xl's own c_info/b_info keys, so Xen tools show
// something sensible, and a "tern" object with what a restore needs to
// create the destination domain. docs/FORMAT.md §1 lists the keys.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

struct ImageConfig {
  std::string name = "tern-guest";
  vm::Backend backend = vm::Backend::sim;
  std::uint64_t memory_bytes = 0;
  std::uint64_t address_space_bytes = 0;
  std::uint32_t vcpus = 1;
  std::string kernel;  // "" = the built-in guest
  std::string cmdline;

  static ImageConfig from(const vm::DomainConfig& c, vm::Backend backend);
  // The destination's DomainConfig: same shape, nothing booted.
  [[nodiscard]] vm::DomainConfig domain_config(const std::string& console) const;

  [[nodiscard]] std::string to_json() const;
  // Errc::unsupported when the JSON is not a tern VM config (e.g. an image
  // saved by Xen), Errc::invalid when its tern object is malformed.
  static Expected<ImageConfig> from_json(std::string_view json);
};

[[nodiscard]] Expected<vm::Backend> parse_backend(std::string_view name);

}  // namespace tern::migrate
