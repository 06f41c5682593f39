#include "vm/sim/host_check.hpp"

#include <vector>

#include "core/bytes.hpp"
#include "vm/sim/guest_layout.hpp"
#include "vm/sim/pattern.hpp"
#include "vm/sim/work_state.hpp"

namespace tern::vm::sim {

namespace {
constexpr std::uint64_t kPagesPerMiB = kMiB / kPageSize;

struct Reader {
  Domain& d;
  [[nodiscard]] std::uint64_t word(std::uint64_t addr) const {
    const std::byte* p = d.page(addr >> kPageShift);
    return p ? load_le<std::uint64_t>(p + (addr & (kPageSize - 1))) : 0;
  }
  [[nodiscard]] std::uint64_t page_mismatches(std::uint64_t addr, std::uint64_t pass) const {
    const std::byte* p = d.page(addr >> kPageShift);
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < kPageSize / 8; ++i)
      bad += load_le<std::uint64_t>(p + 8 * i) != pattern_word(pass, addr + 8 * i);
    return bad;
  }
};
}  // namespace

Expected<HostCheck> host_check(Domain& d, const stream::domctx::StateImage& state) {
  const MemoryMap map = d.memory_map();
  if (!map.contains(kHeaderAddr >> kPageShift))
    return make_error(Errc::invalid, "host check: the workload header page is not populated");
  Reader r{d};
  if (r.word(kHeaderAddr) != kHeaderMagic)
    return make_error(Errc::invalid, "host check: no sim workload header at {:#x}", kHeaderAddr);
  const std::uint64_t mib = r.word(kHeaderAddr + 8 * 4), base = r.word(kHeaderAddr + 8 * 5);
  const std::uint64_t ws = r.word(kHeaderAddr + 8 * 6);
  const std::uint64_t balloon = r.word(kHeaderAddr + 8 * 10);
  const std::uint64_t bbase = r.word(kHeaderAddr + 8 * 12);
  const auto nv = static_cast<unsigned>(state.vcpus.size());

  // Pages of the current pass's window written before the vCPU paused: they
  // already hold the new pass although their chunk's table entry does not.
  std::vector<std::uint64_t> pass_of_page(mib * kPagesPerMiB, 0);
  for (unsigned v = 0; v < nv; ++v) {
    if (!state.vcpus[v].regs)
      return make_error(Errc::invalid, "host check: vCPU {} has no registers", v);
    WorkState s;
    s.from_regs(*state.vcpus[v].regs);
    if (s.phase() != Phase::write || s.get(kWaiting) != 0) continue;
    const std::uint64_t pass = s.get(kPass), pos = s.get(kPos);
    const std::uint64_t i = pos / kPagesPerMiB;
    if (i % nv != v || pos >= ws * kPagesPerMiB) continue;
    const std::uint64_t c = (((pass - 1) % mib) * ws % mib + i) % mib;
    for (std::uint64_t p = 0; p < pos % kPagesPerMiB; ++p)
      pass_of_page[c * kPagesPerMiB + p] = pass;
  }

  HostCheck out;
  for (std::uint64_t c = 0; c < mib; ++c) {
    const std::uint64_t chunk_pass = r.word(kChunkPassAddr + 8 * c);
    for (std::uint64_t p = 0; p < kPagesPerMiB; ++p) {
      const std::uint64_t pass =
          pass_of_page[c * kPagesPerMiB + p] != 0 ? pass_of_page[c * kPagesPerMiB + p] : chunk_pass;
      if (pass == 0) continue;
      out.mismatched_words += r.page_mismatches(base + c * kMiB + p * kPageSize, pass);
      ++out.checked_pages;
    }
  }
  for (std::uint64_t k = 0; k < balloon; ++k) {
    const std::uint64_t tag = r.word(kBalloonTableAddr + 8 * k);
    const std::uint64_t addr = bbase + k * kPageSize;
    const bool present = map.contains(addr >> kPageShift);
    if (present != (tag != kBalloonAbsent)) ++out.map_mismatches;
    if (present) ++out.balloon_pages_present;
    if (tag >= kBalloonTagBase && present) {
      out.mismatched_words += r.page_mismatches(addr, tag);
      ++out.checked_pages;
    }
  }
  return out;
}

}  // namespace tern::vm::sim
