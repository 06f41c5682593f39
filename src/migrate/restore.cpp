#include "migrate/restore.hpp"

#include <fstream>

#include "io/input.hpp"
#include "vm/memory_map.hpp"

namespace tern::migrate {

std::optional<std::uint64_t> host_available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return std::nullopt;
}

namespace {

Expected<void> check_host_memory(const ReceiveResult& pre) {
  // Frames with contents need memory; zero (XALLOC) frames are populated
  // but stay untouched until the guest writes them.
  const std::uint64_t need = pre.stats.data_pages * vm::kPageSize;
  const auto avail = host_available_memory();
  if (avail && need > *avail)
    return make_error(Errc::unsupported,
                      "the image needs {} MiB of guest memory with contents; this host has {} MiB "
                      "available",
                      need >> 20, *avail >> 20);
  return {};
}

}  // namespace

Expected<ReceiveResult> restore_image(const std::string& path, const RestoreOptions& opts) {
  TERN_TRY_ASSIGN(auto input, io::InputFile::open(path));
  auto create = [&](const ImageConfig& c) {
    return vm::create_domain(opts.backend.value_or(c.backend), c.domain_config(opts.console));
  };
  if (!input.is_mapped()) {
    ReceiverOptions ro;
    ro.factory = create;
    auto r = receive_stream(input.source(), ro);
    if (!r) return std::unexpected(r.error().context(path));
    return r;
  }

  MemorySource pre_src(input.mapped());
  auto pre = receive_stream(pre_src, ReceiverOptions{});
  if (!pre) return std::unexpected(pre.error().context(path));
  if (auto ok = check_host_memory(*pre); !ok) return std::unexpected(ok.error().context(path));
  auto domain = create(pre->config);
  if (!domain) return std::unexpected(domain.error().context(path));
  if (auto ok = (*domain)->check_state(pre->state); !ok)
    return std::unexpected(ok.error().context(fmt::format("{}: the saved state", path)));

  ReceiverOptions ro;
  ro.factory = [&](const ImageConfig&) -> Expected<std::unique_ptr<vm::Domain>> {
    if (!*domain) return make_error(Errc::internal, "restore: the domain was already used");
    return std::move(*domain);
  };
  MemorySource src(input.mapped());
  auto r = receive_stream(src, ro);
  if (!r) return std::unexpected(r.error().context(path));
  return r;
}

}  // namespace tern::migrate
