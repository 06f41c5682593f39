#include "migrate/image_config.hpp"

#include <nlohmann/json.hpp>

namespace tern::migrate {

Expected<vm::Backend> parse_backend(std::string_view name) {
  if (name == "kvm") return vm::Backend::kvm;
  if (name == "sim") return vm::Backend::sim;
  return make_error(Errc::usage, "unknown backend '{}' (kvm or sim)", name);
}

ImageConfig ImageConfig::from(const vm::DomainConfig& c, vm::Backend backend) {
  ImageConfig i;
  i.backend = backend;
  i.memory_bytes = c.memory_bytes;
  i.address_space_bytes = c.address_space_bytes != 0 ? c.address_space_bytes : c.memory_bytes;
  i.vcpus = c.vcpus;
  i.kernel = c.kernel;
  i.cmdline = c.cmdline;
  return i;
}

vm::DomainConfig ImageConfig::domain_config(const std::string& console) const {
  vm::DomainConfig c;
  c.memory_bytes = memory_bytes;
  c.address_space_bytes = address_space_bytes;
  c.vcpus = vcpus;
  c.kernel = kernel;
  c.cmdline = cmdline;
  c.console = console;
  c.boot = false;
  return c;
}

std::string ImageConfig::to_json() const {
  const std::uint64_t memkb = memory_bytes / 1024;
  nlohmann::json j = {
      {"c_info", {{"type", "hvm"}, {"name", name}}},
      {"b_info",
       {{"max_vcpus", vcpus},
        {"max_memkb", memkb},
        {"target_memkb", memkb},
        {"type.hvm", nlohmann::json::object()}}},
      {"tern",
       {{"version", TERN_VERSION},
        {"backend", std::string(vm::backend_name(backend))},
        {"memory_bytes", memory_bytes},
        {"address_space_bytes", address_space_bytes},
        {"vcpus", vcpus},
        {"kernel", kernel},
        {"cmdline", cmdline}}},
  };
  return j.dump();
}

Expected<ImageConfig> ImageConfig::from_json(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::invalid, "the xl header's VM config is not a JSON object");
  if (!j.contains("tern") || !j["tern"].is_object())
    return make_error(Errc::unsupported,
                      "the image's VM config has no \"tern\" object: it was not saved by tern, so "
                      "there is no domain to restore it into");
  const auto& t = j["tern"];
  auto get_u64 = [&](const char* key) -> Expected<std::uint64_t> {
    if (!t.contains(key) || !t[key].is_number_unsigned())
      return make_error(Errc::invalid, "VM config: tern.{} is missing or not an unsigned number",
                        key);
    return t[key].get<std::uint64_t>();
  };
  auto get_str = [&](const char* key) -> Expected<std::string> {
    if (!t.contains(key) || !t[key].is_string())
      return make_error(Errc::invalid, "VM config: tern.{} is missing or not a string", key);
    return t[key].get<std::string>();
  };
  ImageConfig c;
  TERN_TRY_ASSIGN(std::string backend, get_str("backend"));
  auto b = parse_backend(backend);
  if (!b) return make_error(Errc::unsupported, "VM config: {}", b.error().message());
  c.backend = *b;
  TERN_TRY_ASSIGN(c.memory_bytes, get_u64("memory_bytes"));
  TERN_TRY_ASSIGN(c.address_space_bytes, get_u64("address_space_bytes"));
  TERN_TRY_ASSIGN(std::uint64_t vcpus, get_u64("vcpus"));
  TERN_TRY_ASSIGN(c.kernel, get_str("kernel"));
  TERN_TRY_ASSIGN(c.cmdline, get_str("cmdline"));
  if (vcpus == 0 || vcpus > 256)
    return make_error(Errc::invalid, "VM config: tern.vcpus {} is not 1..256", vcpus);
  c.vcpus = static_cast<std::uint32_t>(vcpus);
  if (c.memory_bytes == 0 || c.memory_bytes % vm::kPageSize != 0 ||
      c.address_space_bytes < c.memory_bytes || c.address_space_bytes % vm::kPageSize != 0 ||
      c.address_space_bytes / vm::kPageSize > vm::kMaxPfn + 1)
    return make_error(Errc::invalid,
                      "VM config: memory_bytes {} / address_space_bytes {} are not page multiples "
                      "with memory <= address space <= 2^52",
                      c.memory_bytes, c.address_space_bytes);
  if (j.contains("c_info") && j["c_info"].is_object() && j["c_info"].contains("name") &&
      j["c_info"]["name"].is_string())
    c.name = j["c_info"]["name"].get<std::string>();
  return c;
}

}  // namespace tern::migrate
