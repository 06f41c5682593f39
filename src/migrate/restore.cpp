#include "migrate/restore.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <future>

#include "io/input.hpp"
#include "stream/xl/xl_header.hpp"
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

  using Clock = std::chrono::steady_clock;
  // Creating the domain costs milliseconds of kernel work (KVM: the VM, its
  // irqchip, its vCPUs) that needs nothing of the image but its config, so
  // it runs while a helper thread validates the image. If the image is
  // refused the domain is destroyed unused: nothing runs before every check
  // passed.
  using Created = Expected<std::unique_ptr<vm::Domain>>;
  auto validating = std::async(std::launch::async, [&input] {
    const auto start = Clock::now();
    MemorySource pre_src(input.mapped());
    auto pre = receive_stream(pre_src, ReceiverOptions{});
    return std::pair<Expected<ReceiveResult>, Clock::duration>(std::move(pre),
                                                               Clock::now() - start);
  });
  std::optional<Created> created;
  Clock::duration create_time{};
  {
    MemorySource head(input.mapped());
    auto xl = stream::xl::read_header(head);
    if (xl && xl->has_config) {
      if (auto cfg = ImageConfig::from_json(xl->config)) {
        const auto c0 = Clock::now();
        created.emplace(create(*cfg));
        create_time = Clock::now() - c0;
      }
    }
  }
  auto [pre, validate_time] = validating.get();
  if (!pre) return std::unexpected(pre.error().context(path));
  if (auto ok = check_host_memory(*pre); !ok) return std::unexpected(ok.error().context(path));
  if (!created) {
    const auto c0 = Clock::now();
    created.emplace(create(pre->config));
    create_time = Clock::now() - c0;
  }
  Created& domain = *created;
  if (!domain) return std::unexpected(domain.error().context(path));
  if (auto ok = (*domain)->check_state(pre->state); !ok)
    return std::unexpected(ok.error().context(fmt::format("{}: the saved state", path)));

  ReceiverOptions ro;
  ro.factory = [&](const ImageConfig&) -> Expected<std::unique_ptr<vm::Domain>> {
    if (!*domain) return make_error(Errc::internal, "restore: the domain was already used");
    return std::move(*domain);
  };
  Expected<ReceiveResult> r;
  if (opts.copy) {
    // read() rather than the mapping: the kernel reads ahead well for it,
    // and the image's pages do not pile up in this process.
    if (::lseek(input.fd(), 0, SEEK_SET) != 0) return errno_error("seek " + path, errno);
    io::FdSource src(input.fd());
    r = receive_stream(src, ro);
  } else {
    ro.image = MappedImage{input.fd(), input.mapped()};
    MemorySource src(input.mapped());
    r = receive_stream(src, ro);
  }
  if (!r) return std::unexpected(r.error().context(path));
  r->stats.validate = validate_time;
  r->stats.create = create_time;
  return r;
}

}  // namespace tern::migrate
