// Booting the sim guest: what the built-in guest's ring 0 does before its
// workload starts (guest/kmain.c): parse the command line, check the
// region against RAM and the image, print the start line. The results go to
// the header in guest memory, where the vCPUs (and a restored copy) read
// them.
#include "core/bytes.hpp"
#include "vm/sim/sim_domain.hpp"

namespace tern::vm::sim {

namespace {
constexpr std::uint32_t kExitBadConfig = 0x40;
constexpr std::uint32_t kExitInternal = 0x42;

std::uint64_t align_down(std::uint64_t v, std::uint64_t a) { return v / a * a; }
}  // namespace

void SimDomain::guest_exit_now(std::uint32_t value) {
  std::lock_guard lk(mu_);
  exit_value_ = value;
  state_ = RunState::exited;
  cv_.notify_all();
}

std::optional<std::string> SimDomain::check_layout(const WorkloadOptions& o) const {
  const std::uint64_t ram = config_.memory_bytes;
  const std::uint64_t len = o.mib * kMiB;
  if (o.base > ram || len > ram - o.base)
    return fmt::format(
        "tern-guest: region {:#x}-{:#x} ({} MiB) is not inside one available RAM range below "
        "{:#x}\n",
        o.base, o.base + len - 1, o.mib, ram);
  if (o.base < kImageEnd && o.base + len > kImageStart)
    return "tern-guest: bad region: overlaps the guest image\n";
  if (o.balloon_pages != 0) {
    const std::uint64_t space = mem_->space_pages() * kPageSize;
    const std::uint64_t blen = o.balloon_pages * kPageSize;
    if (o.balloon_base > space || blen > space - o.balloon_base)
      return fmt::format(
          "tern-guest: bad balloon: {:#x}+{} pages is outside the {:#x}-byte "
          "address space\n",
          o.balloon_base, o.balloon_pages, space);
    auto overlaps = [&](std::uint64_t s, std::uint64_t n) {
      return o.balloon_base < s + n && o.balloon_base + blen > s;
    };
    if (overlaps(o.base, len) || overlaps(kImageStart, kImageEnd - kImageStart))
      return "tern-guest: bad balloon: overlaps the region or the guest image\n";
  }
  return std::nullopt;
}

void SimDomain::write_header(const WorkloadOptions& o, FaultKind fault) {
  GuestHeader h;
  h.vcpus = config_.vcpus;
  h.passes = o.passes;
  h.mib = o.mib;
  h.base = o.base;
  h.ws = o.ws;
  h.pause_us = o.pause_us;
  h.inject = o.inject;
  h.fault = static_cast<std::uint64_t>(fault);
  h.balloon_pages = o.balloon_pages;
  h.balloon_period = o.balloon_period;
  h.balloon_base = o.balloon_base;
  const std::uint64_t fields[] = {
      h.magic,       h.version,  h.vcpus,  h.passes, h.mib,           h.base,
      h.ws,          h.pause_us, h.inject, h.fault,  h.balloon_pages, h.balloon_period,
      h.balloon_base};
  std::byte* p = mem_->page(kHeaderAddr >> kPageShift);
  for (std::size_t i = 0; i < std::size(fields); ++i) store_le<std::uint64_t>(p + 8 * i, fields[i]);
  mem_->mark(mem_->vmm_shard(), kHeaderAddr >> kPageShift);
}

Expected<SimDomain::Layout> SimDomain::read_header() const {
  const std::uint64_t pfn = kHeaderAddr >> kPageShift;
  if (!mem_->contains(pfn))
    return make_error(Errc::invalid,
                      "sim: guest memory has no workload header (page {:#x} is not populated)",
                      kHeaderAddr);
  const std::byte* p = mem_->page(pfn);
  auto f = [&](unsigned i) { return load_le<std::uint64_t>(p + 8 * i); };
  if (f(0) != kHeaderMagic || f(1) != kLayoutVersion)
    return make_error(Errc::invalid,
                      "sim: guest memory at {:#x} holds no sim workload header (magic {:#x}, "
                      "version {})",
                      kHeaderAddr, f(0), f(1));
  if (f(2) != config_.vcpus)
    return make_error(Errc::invalid, "sim: the workload header says {} vCPUs, the domain has {}",
                      f(2), config_.vcpus);
  Layout l;
  l.opt.passes = f(3);
  l.opt.mib = f(4);
  l.opt.base = f(5);
  l.opt.ws = f(6);
  l.opt.pause_us = f(7);
  l.opt.inject = f(8);
  l.fault = static_cast<FaultKind>(f(9));
  l.opt.balloon_pages = f(10);
  l.opt.balloon_period = f(11);
  l.opt.balloon_base = f(12);
  if (l.opt.mib == 0 || l.opt.mib > kMaxMib || l.opt.ws == 0 || l.opt.ws > l.opt.mib ||
      l.opt.balloon_pages > kMaxBalloonPages || l.opt.balloon_period == 0 || f(9) > 2)
    return make_error(Errc::invalid, "sim: the workload header at {:#x} has impossible options",
                      kHeaderAddr);
  if (auto bad = check_layout(l.opt))
    return make_error(Errc::invalid, "sim: the workload header does not fit this domain: {}", *bad);
  l.region_pages = l.opt.mib * (kMiB / kPageSize);
  l.window_pages = l.opt.ws * (kMiB / kPageSize);
  if (!mem_->contains_range(l.opt.base >> kPageShift, l.region_pages))
    return make_error(Errc::invalid, "sim: the workload region {:#x}+{} MiB is not populated",
                      l.opt.base, l.opt.mib);
  return l;
}

Expected<void> SimDomain::boot() {
  if (config_.memory_bytes < kImageEnd) {
    print(fmt::format("tern-guest: {} KiB of RAM cannot hold the image ({:#x}-{:#x})\n",
                      config_.memory_bytes >> 10, kImageStart, kImageEnd));
    guest_exit_now(kExitInternal);
    return {};
  }
  TERN_TRY(mem_->populate(0, config_.memory_bytes >> kPageShift, mem_->vmm_shard()));
  auto opt = parse_workload_options(config_.cmdline);
  if (!opt) {
    print(fmt::format("tern-guest: bad command line: {}\n", opt.error().message()));
    guest_exit_now(kExitBadConfig);
    return {};
  }
  if (auto bad = check_layout(*opt)) {
    print(*bad);
    guest_exit_now(kExitBadConfig);
    return {};
  }
  const FaultKind fault = opt->fault == "ud"   ? FaultKind::ud
                          : opt->fault == "pf" ? FaultKind::pf
                                               : FaultKind::none;
  write_header(*opt, fault);
  for (std::uint64_t k = 0; k < opt->balloon_pages; ++k) {
    const std::uint64_t pfn = (opt->balloon_base >> kPageShift) + k;
    store_word(mem_->vmm_shard(), kBalloonTableAddr + 8 * k,
               mem_->contains(pfn) ? kBalloonUntouched : kBalloonAbsent);
  }
  print(fmt::format(
      "tern-guest: start {} | memory: {} MiB available in 1 ranges (sim), top {:#x}, image "
      "{:#x}-{:#x}\n",
      describe(*opt), config_.memory_bytes / kMiB, align_down(config_.memory_bytes, kPageSize),
      kImageStart, kImageEnd));
  print(fmt::format("tern-guest: mem {:#014x}-{:#014x} available\n", 0, config_.memory_bytes - 1));
  print(fmt::format("tern-guest: sim backend, {} vCPU{}, workload running\n", config_.vcpus,
                    config_.vcpus == 1 ? "" : "s"));
  TERN_TRY_ASSIGN(layout_, read_header());
  for (auto& s : states_) {
    s->set_phase(fault == FaultKind::none ? Phase::verify : Phase::fault);
    s->set(kPass, 1);
  }
  spawn_vcpus();
  return {};
}

}  // namespace tern::vm::sim
