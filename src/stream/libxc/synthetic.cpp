#include "stream/libxc/synthetic.hpp"

#include <algorithm>
#include <vector>

#include "stream/libxc/writer.hpp"

namespace tern::stream::libxc {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Deterministic filler for blobs (vCPU contexts, HVM context, shared info).
std::vector<std::byte> blob(std::uint64_t seed, std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(splitmix64(seed * 1000003 + i / 8) >> (8 * (i % 8)));
  return b;
}

class Generator {
 public:
  Generator(ByteSink& sink, const SyntheticOptions& o) : w_(sink), o_(o) {}

  Expected<void> run() {
    if (o_.pages == 0) return make_error(Errc::usage, "synthetic stream: needs at least one page");
    if (o_.batch == 0 || o_.batch > kMaxPageDataCount)
      return make_error(Errc::usage, "synthetic stream: batch must be 1..{}", kMaxPageDataCount);
    if (o_.domain_type == DomainType::x86_pv && o_.pages > (1ull << 32))
      return make_error(Errc::usage, "synthetic stream: PV p2m pfns are 32-bit");
    StreamHeader h;
    h.version = o_.version;
    h.domain_type = o_.domain_type;
    h.xen_major = o_.xen_major;
    h.xen_minor = o_.xen_minor;
    TERN_TRY(w_.write_header(h));
    const bool pv = o_.domain_type == DomainType::x86_pv;

    // Static data.
    if (pv) TERN_TRY(w_.write_pv_info(PvInfo{8, 4}));
    if (o_.version >= kVersion3) {
      const CpuidLeaf leaves[] = {{0, 0xFFFFFFFF, 0xD, 0x756E6547, 0x6C65746E, 0x49656E69},
                                  {1, 0xFFFFFFFF, 0x000906EA, 0x00100800, 0xFFFA3203, 0x178BFBFF},
                                  {7, 0, 0, 0x029C6FBF, 0, 0}};
      const MsrEntry msrs[] = {{0xCE, 0, 0x80000000}, {0x10A, 0, 0}};
      TERN_TRY(w_.write_cpuid_policy(leaves));
      TERN_TRY(w_.write_msr_policy(msrs));
      TERN_TRY(w_.write_static_data_end());
    }
    if (pv) {
      auto end = static_cast<std::uint32_t>(o_.pages - 1);
      std::vector<std::uint64_t> frames(end / (kX86PageSize / 8) + 1);
      for (std::size_t i = 0; i < frames.size(); ++i) frames[i] = o_.pages + i;
      TERN_TRY(w_.write_p2m_frames(0, end, frames));
    }

    // Round 0: every page; then one round per checkpoint with some pages re-sent.
    std::vector<std::uint64_t> pfns(o_.pages);
    for (std::uint64_t p = 0; p < o_.pages; ++p) pfns[p] = p;
    TERN_TRY(send_pages(pfns));
    TERN_TRY(end_of_round(0));
    for (std::uint32_t k = 1; k <= o_.checkpoints; ++k) {
      TERN_TRY(w_.write_checkpoint());
      pfns.clear();
      for (std::uint64_t p = k % 16; p < o_.pages; p += 16) pfns.push_back(p);
      if (pfns.empty()) pfns.push_back(0);
      TERN_TRY(send_pages(pfns));
      TERN_TRY(end_of_round(k));
    }
    return w_.write_end();
  }

 private:
  Expected<void> send_pages(const std::vector<std::uint64_t>& pfns) {
    std::size_t i = 0;
    while (i < pfns.size()) {
      std::uint32_t n = o_.align_pages ? aligned_batch_count(w_.offset(), o_.batch) : o_.batch;
      n = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, pfns.size() - i));
      entries_.clear();
      pages_.resize(std::size_t{n} * kX86PageSize);
      std::size_t data = 0;
      for (std::uint32_t j = 0; j < n; ++j) {
        std::uint64_t pfn = pfns[i + j];
        PageType t = synthetic_page_type(o_.domain_type, pfn);
        entries_.push_back(make_pfn_entry(pfn, t));
        if (page_type_has_data(static_cast<unsigned>(t))) {
          synthetic_page(pfn, MutableBytes(pages_.data() + data * kX86PageSize, kX86PageSize));
          ++data;
        }
      }
      TERN_TRY(w_.write_page_data(entries_, Bytes(pages_.data(), data * kX86PageSize)));
      i += n;
    }
    return {};
  }

  Expected<void> end_of_round(std::uint32_t round) {
    TERN_TRY(w_.write_tsc_info(TscInfo{0, 2'000'000, 1'000'000'000ull * (round + 1), round + 1}));
    if (o_.domain_type == DomainType::x86_pv) {
      auto shared = blob(0x5A5A0000 + round, kX86PageSize);
      TERN_TRY(w_.write_shared_info(shared));
      for (std::uint32_t v = 0; v < o_.vcpus; ++v) {
        auto basic = blob(0x1000 + v, 1024);
        TERN_TRY(w_.write_vcpu(RecordType::x86_pv_vcpu_basic, v, basic));
        auto ext = blob(0x2000 + v, 128);
        auto xsave = blob(0x3000 + v, 576);
        auto msrs = blob(0x4000 + v, 32);
        // Errata streams carry the zero-content forms Xen 4.6-4.8 could send.
        TERN_TRY(w_.write_vcpu(RecordType::x86_pv_vcpu_extended, v, o_.errata ? Bytes{} : Bytes(ext)));
        TERN_TRY(w_.write_vcpu(RecordType::x86_pv_vcpu_xsave, v, o_.errata ? Bytes{} : Bytes(xsave)));
        TERN_TRY(w_.write_vcpu(RecordType::x86_pv_vcpu_msrs, v, o_.errata ? Bytes{} : Bytes(msrs)));
      }
      return {};
    }
    const HvmParam params[] = {{1, 0xFEFFF}, {2, 1}, {12, 0xFEFFD000}, {17, 0xFEFFE}, {18, 2}};
    auto ctx = blob(0x7000 + round, 1536);
    if (o_.errata) TERN_TRY(w_.write_hvm_params({}));
    if (o_.xen_order) {
      TERN_TRY(w_.write_hvm_context(ctx));
      TERN_TRY(w_.write_hvm_params(params));
    } else {
      TERN_TRY(w_.write_hvm_params(params));
      TERN_TRY(w_.write_hvm_context(ctx));
    }
    return {};
  }

  Writer w_;
  const SyntheticOptions& o_;
  std::vector<std::uint64_t> entries_;
  std::vector<std::byte> pages_;
};

}  // namespace

void synthetic_page(std::uint64_t pfn, MutableBytes page) {
  std::uint64_t x = splitmix64(pfn);
  std::size_t words = page.size() / 8;
  for (std::size_t i = 0; i < words; ++i) {
    // xorshift64: cheap, deterministic, and never repeats within a page.
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    store_le<std::uint64_t>(page.data() + 8 * i, x);
  }
  // Tag the first word with the pfn so a misplaced page is easy to spot.
  if (words > 0) store_le<std::uint64_t>(page.data(), pfn);
}

PageType synthetic_page_type(DomainType d, std::uint64_t pfn) {
  if (pfn % 509 == 508) return PageType::xtab;
  if (pfn % 1021 == 1020) return PageType::xalloc;
  if (pfn % 2039 == 2038) return PageType::broken;
  if (d == DomainType::x86_pv) {
    switch (pfn) {
      case 0: return PageType::l4tab_pin;
      case 1: return PageType::l3tab;
      case 2: return PageType::l2tab;
      case 3: return PageType::l1tab;
      default: break;
    }
    if (pfn % 97 == 5) return PageType::l1tab_pin;
  }
  return PageType::notab;
}

Expected<void> write_synthetic(ByteSink& sink, const SyntheticOptions& opts) {
  if (opts.version != kVersion2 && opts.version != kVersion3)
    return make_error(Errc::usage, "synthetic stream: version must be 2 or 3");
  Generator g(sink, opts);
  return g.run();
}

}  // namespace tern::stream::libxc
