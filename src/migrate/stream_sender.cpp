#include "migrate/stream_sender.hpp"

#include <optional>
#include <utility>

#include "core/bytes.hpp"
#include "migrate/state_blob.hpp"
#include "migrate/zero_hint.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::migrate {

namespace libxc = stream::libxc;
using Clock = std::chrono::steady_clock;

namespace {
// Xen's "no subleaf" marker in xen_cpuid_leaf_t.
constexpr std::uint32_t kNoSubleaf = 0xffffffff;
// MSR_INTEL_PLATFORM_INFO with no bits set: the guest is offered no
// MSR-based features (in particular no CPUID faulting).
constexpr libxc::MsrEntry kMsrPolicy[] = {{0xce, 0, 0}};
// HVM_PARAM_PAE_ENABLED = 1: true of every x86-64 guest.
constexpr libxc::HvmParam kHvmParams[] = {{4, 1}};
}  // namespace

void RoundStats::add(const RoundStats& o) {
  planned += o.planned;
  data_pages += o.data_pages;
  zero_pages += o.zero_pages;
  xtab_pages += o.xtab_pages;
  batches += o.batches;
  map_changes += o.map_changes;
  bytes += o.bytes;
  time += o.time;
}

// Collects pfns into PAGE_DATA batches and writes each batch, classified
// against a map snapshot that is refreshed whenever the generation moved.
class StreamSender::Batcher {
 public:
  // `zero_hint`: ask the backend which frames were never written before
  // reading them (ZeroHint). Off for the final round: see send().
  Batcher(StreamSender& s, RoundStats& stats, bool zero_hint)
      : s_(s), stats_(stats), map_(s.domain_.memory_map()) {
    if (zero_hint) zero_hint_.emplace(s.domain_);
  }

  void add(std::uint64_t pfn) {
    if (error_) return;
    if (pfns_.empty()) target_ = libxc::aligned_batch_count(s_.libxc_.offset(), s_.opts_.max_batch);
    pfns_.push_back(pfn);
    ++stats_.planned;
    if (pfns_.size() >= target_) flush();
  }

  Expected<void> finish() {
    if (!error_ && !pfns_.empty()) flush();
    if (error_) return std::unexpected(*error_);
    return {};
  }

 private:
  void flush() {
    if (auto r = write_batch(); !r) error_ = r.error();
    pfns_.clear();
  }

  Expected<void> write_batch() {
    if (s_.opts_.before_batch) TERN_TRY(s_.opts_.before_batch());
    if (s_.domain_.map_generation() != map_.generation()) {
      map_ = s_.domain_.memory_map();
      ++stats_.map_changes;
    }
    entries_.clear();
    parts_.clear();
    // The zero test below reads the start of every page: a cache and TLB
    // miss each, one after another. Asking for all of the batch's first
    // lines up front lets the misses overlap.
    pages_.clear();
    for (std::uint64_t pfn : pfns_) {
      const std::byte* page = map_.contains(pfn) ? s_.domain_.page(pfn) : nullptr;
      if (page != nullptr) __builtin_prefetch(page);
      pages_.push_back(page);
    }
    for (std::size_t k = 0; k < pfns_.size(); ++k) {
      const std::uint64_t pfn = pfns_[k];
      const std::byte* page = pages_[k];
      if (page == nullptr) {
        entries_.push_back(libxc::make_pfn_entry(pfn, libxc::PageType::xtab));
        ++stats_.xtab_pages;
        continue;
      }
      if ((zero_hint_ && zero_hint_->known_zero(pfn)) || all_zero(Bytes(page, vm::kPageSize))) {
        entries_.push_back(libxc::make_pfn_entry(pfn, libxc::PageType::xalloc));
        ++stats_.zero_pages;
        continue;
      }
      entries_.push_back(libxc::make_pfn_entry(pfn, libxc::PageType::notab));
      ++stats_.data_pages;
      // Contiguous host pages become one gather part.
      if (!parts_.empty() && parts_.back().data() + parts_.back().size() == page)
        parts_.back() = Bytes(parts_.back().data(), parts_.back().size() + vm::kPageSize);
      else
        parts_.emplace_back(page, vm::kPageSize);
    }
    ++stats_.batches;
    return s_.libxc_.write_page_data(entries_, parts_);
  }

  StreamSender& s_;
  RoundStats& stats_;
  vm::MemoryMap map_;
  std::optional<ZeroHint> zero_hint_;  // none: read every frame (the final round)
  std::vector<std::uint64_t> pfns_;
  std::vector<std::uint64_t> entries_;
  std::vector<const std::byte*> pages_;  // the batch's host pages (null: not in the map)
  std::vector<Bytes> parts_;
  std::uint32_t target_ = 0;
  std::optional<Error> error_;
};

StreamSender::StreamSender(vm::Domain& domain, ByteSink& sink, SenderOptions opts)
    : sink_(sink),
      domain_(domain),
      opts_(std::move(opts)),
      start_(sink.bytes_written()),
      libxl_(sink),
      libxc_(sink) {}

Expected<void> StreamSender::begin(const ImageConfig& config) {
  if (opts_.max_batch == 0 || opts_.max_batch > libxc::kMaxPageDataCount)
    return make_error(Errc::usage, "sender: max batch {} is not 1..{}", opts_.max_batch,
                      libxc::kMaxPageDataCount);
  // The xl header is 48 bytes + u32 length + the NUL-terminated JSON. The
  // JSON is padded with trailing spaces so the libxl stream starts 8-byte
  // aligned in the file; otherwise no page payload could be 4 KiB-aligned.
  std::string json = config.to_json();
  const std::uint64_t header = sink_.bytes_written() + stream::xl::kFixedSize + 4 + json.size() + 1;
  json.append(static_cast<std::size_t>(align_up(header, 8) - header), ' ');
  TERN_TRY(stream::xl::write_header(sink_, json));
  TERN_TRY(libxl_.write_header());
  TERN_TRY(libxl_.libxc_context());
  libxc::StreamHeader h;
  h.version = libxc::kVersion3;
  h.domain_type = libxc::DomainType::x86_hvm;
  TERN_TRY(libxc_.write_header(h));
  std::vector<libxc::CpuidLeaf> leaves;
  for (const vm::CpuidEntry& e : domain_.cpu_policy())
    leaves.push_back({e.function, (e.flags & vm::kCpuidFlagSubleaf) ? e.index : kNoSubleaf, e.eax,
                      e.ebx, e.ecx, e.edx});
  TERN_TRY(libxc_.write_cpuid_policy(leaves));
  TERN_TRY(libxc_.write_msr_policy(kMsrPolicy));
  return libxc_.write_static_data_end();
}

Expected<RoundStats> StreamSender::send_all() {
  RoundStats st;
  const auto t0 = Clock::now();
  const std::uint64_t b0 = sink_.bytes_written();
  Batcher b(*this, st, /*zero_hint=*/true);
  const vm::MemoryMap map = domain_.memory_map();
  map.for_each([&](const vm::Extent& e) {
    for (std::uint64_t p = e.first_pfn; p < e.end(); ++p) b.add(p);
  });
  TERN_TRY(b.finish());
  st.bytes = sink_.bytes_written() - b0;
  st.time = Clock::now() - t0;
  return st;
}

Expected<RoundStats> StreamSender::send(const vm::DirtyBitmap& pfns, bool zero_hint) {
  RoundStats st;
  const auto t0 = Clock::now();
  const std::uint64_t b0 = sink_.bytes_written();
  Batcher b(*this, st, zero_hint);
  pfns.for_each([&](std::uint64_t p) { b.add(p); });
  TERN_TRY(b.finish());
  st.bytes = sink_.bytes_written() - b0;
  st.time = Clock::now() - t0;
  return st;
}

Expected<void> StreamSender::finish(const stream::domctx::StateImage& state) {
  TERN_TRY_ASSIGN(auto blob, encode_state(state));
  libxc::TscInfo tsc;
  if (!state.vcpus.empty())
    if (const auto& k = state.vcpus[0].tsc_khz) tsc.khz = k->khz;
  if (state.vm.clock) tsc.nsec = state.vm.clock->clock;
  TERN_TRY(libxc_.write_tsc_info(tsc));
  TERN_TRY(libxc_.write_hvm_params(kHvmParams));
  TERN_TRY(libxc_.write_hvm_context(blob));
  TERN_TRY(libxc_.write_end());
  return libxl_.end();
}

}  // namespace tern::migrate
