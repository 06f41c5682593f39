#include "migrate/page_plan.hpp"

#include <cstring>

#include "core/trace.hpp"
#include "migrate/record_map_update.hpp"

namespace tern::migrate {

namespace libxc = stream::libxc;
using Clock = std::chrono::steady_clock;

namespace {

std::string where(const PageOp& op) {
  return fmt::format("offset {}: record #{} (PAGE_DATA)", op.record_offset, op.record_index);
}

bool continues(const PageOp& last, PageOp::Kind kind, std::uint64_t pfn,
               std::uint64_t file_offset) {
  if (last.kind != kind || last.pfn + last.count != pfn) return false;
  if (kind == PageOp::Kind::map || kind == PageOp::Kind::copy)
    return last.file_offset + last.count * vm::kPageSize == file_offset;
  return true;
}

}  // namespace

void PagePlan::push(PageOp::Kind kind, std::uint64_t pfn, std::uint64_t count,
                    std::uint64_t file_offset) {
  if (!ops_.empty() && continues(ops_.back(), kind, pfn, file_offset)) {
    ops_.back().count += count;
    return;
  }
  if (kind == PageOp::Kind::map) ++map_runs_;
  ops_.push_back(PageOp{kind, pfn, count, file_offset, record_offset_, record_index_});
}

bool PagePlan::mappable(std::uint64_t pfn, std::uint64_t file_offset) const {
  if (file_offset % vm::kPageSize != 0) return false;
  if (!ops_.empty() && continues(ops_.back(), PageOp::Kind::map, pfn, file_offset)) return true;
  return map_runs_ < kMaxMappedRuns;
}

bool PagePlan::add_fresh_run(const libxc::PageData& pd, std::uint64_t payload) {
  constexpr unsigned kXtab = static_cast<unsigned>(libxc::PageType::xtab);
  constexpr unsigned kXalloc = static_cast<unsigned>(libxc::PageType::xalloc);
  if (pd.count == 0) return false;
  const std::uint64_t first = pd.pfn(0);
  for (std::uint32_t i = 0; i < pd.count; ++i) {
    const std::uint64_t e = pd.entry(i);
    if (libxc::pfn_entry_pfn(e) != first + i || libxc::pfn_entry_type(e) == kXtab) return false;
  }
  if (const auto e = map_.extent_from(first); e && e->first_pfn < first + pd.count) return false;
  // All absent before: populate them all; XALLOC frames then read zero and
  // need nothing else; data frames get their payloads, run by run.
  if (!map_.add(first, pd.count)) return false;  // (the slow way reports why)
  push(PageOp::Kind::populate, first, pd.count, 0);
  std::uint64_t data = 0;
  for (std::uint32_t i = 0; i < pd.count;) {
    if (pd.type(i) == kXalloc) {
      ++i;
      continue;
    }
    std::uint32_t j = i + 1;
    while (j < pd.count && pd.type(j) != kXalloc) ++j;
    const std::uint64_t off = payload + data * vm::kPageSize;
    push(mappable(first + i, off) ? PageOp::Kind::map : PageOp::Kind::copy, first + i, j - i, off);
    data += j - i;
    i = j;
  }
  return true;
}

// The same two passes as the streaming receiver applies (receiver.cpp):
// first the map changes in entry order, then the contents. Records of
// consecutive frames not present yet (all of a tern image's) take a shorter
// way with the same result.
Expected<void> PagePlan::add(const libxc::Record& r, const libxc::PageData& pd) {
  if (pd.payload_skipped)
    return make_error(Errc::internal, "page plan: record #{} has no payload view", r.index);
  record_offset_ = r.offset;
  record_index_ = r.index;
  constexpr unsigned kXtab = static_cast<unsigned>(libxc::PageType::xtab);
  constexpr unsigned kXalloc = static_cast<unsigned>(libxc::PageType::xalloc);
  const auto payload = static_cast<std::uint64_t>(pd.pages.data() - image_.bytes.data());
  if (add_fresh_run(pd, payload)) return {};

  TERN_TRY_ASSIGN(const bool has_xtab,
                  update_map_for_record(
                      pd, map_, was_present_,
                      [&](std::uint64_t first, std::uint64_t n) -> Expected<void> {
                        push(PageOp::Kind::populate, first, n, 0);
                        return {};
                      },
                      [&](std::uint64_t pfn) -> Expected<void> {
                        push(PageOp::Kind::depopulate, pfn, 1, 0);
                        return {};
                      }));

  std::uint64_t data = 0;
  for (std::uint32_t i = 0; i < pd.count; ++i) {
    const unsigned t = pd.type(i);
    const std::uint64_t pfn = pd.pfn(i);
    if (t == kXtab) continue;
    // Every other frame of the record is present now, unless an XTAB later
    // in the same record removed it again.
    const bool is_present = !has_xtab || map_.contains(pfn);
    if (t == kXalloc) {
      if (is_present && was_present_[i]) push(PageOp::Kind::zero, pfn, 1, 0);  // re-sent as zero
      continue;
    }
    const std::uint64_t off = payload + data * vm::kPageSize;
    ++data;
    if (!is_present) continue;
    push(mappable(pfn, off) ? PageOp::Kind::map : PageOp::Kind::copy, pfn, 1, off);
  }
  return {};
}

Expected<void> PagePlan::apply(vm::Domain& d, ReceiveStats& stats) const {
  trace::Scope span("restore.apply_pages");
  bool can_map = true;
  auto copy = [&](const PageOp& op) {
    for (std::uint64_t k = 0; k < op.count; ++k)
      std::memcpy(d.page(op.pfn + k), image_.bytes.data() + op.file_offset + k * vm::kPageSize,
                  vm::kPageSize);
  };
  for (const PageOp& op : ops_) {
    switch (op.kind) {
      case PageOp::Kind::populate:
        if (auto ok = d.populate(op.pfn, op.count); !ok)
          return std::unexpected(ok.error().context(where(op)));
        break;
      case PageOp::Kind::depopulate:
        if (auto ok = d.depopulate(op.pfn, op.count); !ok)
          return std::unexpected(ok.error().context(where(op)));
        break;
      case PageOp::Kind::zero:
        for (std::uint64_t k = 0; k < op.count; ++k)
          std::memset(d.page(op.pfn + k), 0, vm::kPageSize);
        break;
      case PageOp::Kind::map: {
        if (can_map) {
          const auto t0 = Clock::now();
          auto ok = d.map_file(op.pfn, op.count, image_.fd, op.file_offset);
          stats.map_file += Clock::now() - t0;
          if (ok) {
            stats.mapped_pages += op.count;
            ++stats.mapped_runs;
            break;
          }
          if (ok.error().code() != Errc::unsupported)
            return std::unexpected(ok.error().context(where(op)));
          can_map = false;  // this backend copies: so does every later page
        }
        copy(op);
        break;
      }
      case PageOp::Kind::copy:
        copy(op);
        break;
    }
  }
  return {};
}

}  // namespace tern::migrate
