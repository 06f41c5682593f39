#include "migrate/restore.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <future>

#include "core/trace.hpp"
#include "io/input.hpp"
#include "migrate/page_plan.hpp"
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

Expected<void> check_host_memory(const ReceiveResult& pre, std::optional<std::uint64_t> avail) {
  // Frames with contents need memory; zero (XALLOC) frames are populated
  // but stay untouched until the guest writes them.
  const std::uint64_t need = pre.stats.data_pages * vm::kPageSize;
  if (avail && need > *avail)
    return make_error(Errc::unsupported,
                      "the image needs {} MiB of guest memory with contents; this host has {} MiB "
                      "available",
                      need >> 20, *avail >> 20);
  return {};
}

}  // namespace

namespace {

Expected<ReceiveResult> restore_from(io::InputFile& input, const std::string& path,
                                     const RestoreOptions& opts) {
  auto create = [&](const ImageConfig& c) {
    trace::Scope span("restore.create_domain");
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
  // Creating the domain needs nothing of the image but its config, and a KVM
  // domain returns from creation within a fraction of a millisecond, leaving
  // the slow kernel work (irqchip, PIT, memory slots: SRCU grace periods) to
  // threads of its own (kvm_domain.hpp). So it is created first, here (a new
  // thread can wait a scheduler tick to start on a busy host), and that work
  // runs while this thread validates the image. Nothing touches the domain
  // before the whole image passed: if it is refused, the domain is
  // destroyed unused.
  using Created = Expected<std::unique_ptr<vm::Domain>>;
  std::optional<Created> created;
  Clock::duration create_time{};
  {
    trace::Scope span("restore.read_config");
    MemorySource head(input.mapped());
    auto xl = stream::xl::read_header(head);
    if (xl && xl->has_config) {
      if (auto cfg = ImageConfig::from_json(xl->config)) {
        span.done();
        const auto c0 = Clock::now();
        created.emplace(create(*cfg));
        create_time = Clock::now() - c0;
      }
    }
  }

  // The one pass over the image: validates it and, for a lazy restore,
  // records what its pages do (page_plan.hpp).
  const MappedImage image{input.fd(), input.mapped()};
  PagePlan plan(image);
  const auto v0 = Clock::now();
  ReceiverOptions vo;
  if (!opts.copy) {
    vo.on_page_data = [&plan](const stream::libxc::Record& r, const stream::libxc::PageData& pd) {
      return plan.add(r, pd);
    };
  }
  MemorySource pre_src(input.mapped());
  trace::Scope walk_span("restore.validate_pass");
  auto pre = receive_stream(pre_src, vo);
  walk_span.done();
  const auto validate_time = Clock::now() - v0;
  if (!pre) return std::unexpected(pre.error().context(path));
  {
    trace::Scope span("restore.check_host_memory");
    if (auto ok = check_host_memory(*pre, host_available_memory()); !ok)
      return std::unexpected(ok.error().context(path));
  }
  if (!created) {
    const auto c0 = Clock::now();
    created.emplace(create(pre->config));
    create_time = Clock::now() - c0;
  }
  Created& domain = *created;
  if (!domain) return std::unexpected(domain.error().context(path));
  auto check_state = [&](vm::Domain& d, const stream::domctx::StateImage& st) -> Expected<void> {
    trace::Scope span("restore.check_state");
    if (auto ok = d.check_state(st); !ok)
      return std::unexpected(ok.error().context(fmt::format("{}: the saved state", path)));
    return {};
  };

  if (opts.copy) {
    // Copying costs memory and time: the state is checked first.
    TERN_TRY(check_state(**domain, pre->state));
    // read() rather than the mapping: the kernel reads ahead well for it,
    // and the image's pages do not pile up in this process.
    ReceiverOptions ro;
    ro.factory = [&](const ImageConfig&) -> Expected<std::unique_ptr<vm::Domain>> {
      if (!*domain) return make_error(Errc::internal, "restore: the domain was already used");
      return std::move(*domain);
    };
    if (::lseek(input.fd(), 0, SEEK_SET) != 0) return errno_error("seek " + path, errno);
    io::FdSource src(input.fd());
    auto r = receive_stream(src, ro);
    if (!r) return std::unexpected(r.error().context(path));
    r->stats.validate = validate_time;
    r->stats.create = create_time;
    return r;
  }

  ReceiveResult out = std::move(*pre);
  out.domain = std::move(*domain);
  auto fail = [&](const Error& e) -> Expected<ReceiveResult> {
    out.domain->shutdown();  // never a partial VM
    return std::unexpected(e.context(path));
  };
  // Mapping the pages first: it costs no memory, and a KVM domain's vCPUs,
  // which the state check needs, may still be on their way meanwhile
  // (kvm_domain.hpp). A refusal still comes before anything ran.
  const auto a0 = Clock::now();
  if (auto ok = plan.apply(*out.domain, out.stats); !ok) return fail(ok.error());
  out.stats.total = Clock::now() - a0;
  const auto s0 = Clock::now();
  if (auto ok = check_state(*out.domain, out.state); !ok) {
    out.domain->shutdown();
    return std::unexpected(ok.error());
  }
  if (auto ok = out.domain->load_state(out.state); !ok)
    return fail(ok.error().context("loading the saved state"));
  out.stats.state = Clock::now() - s0;
  out.stats.validate = validate_time;
  out.stats.create = create_time;
  return out;
}

}  // namespace

Expected<ReceiveResult> restore_image(const std::string& path, const RestoreOptions& opts) {
  trace::Scope open_span("restore.open_image");
  TERN_TRY_ASSIGN(auto opened, io::InputFile::open(path));
  auto input = std::make_shared<io::InputFile>(std::move(opened));
  open_span.done();
  auto r = restore_from(*input, path, opts);
  if (r) r->resources = std::move(input);
  return r;
}

}  // namespace tern::migrate
