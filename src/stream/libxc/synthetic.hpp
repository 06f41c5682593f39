// Deterministic synthetic libxc streams: for `tern synth`, interop tests
// against Xen's verify-stream-v2, benchmarks, fuzz corpora and the
// corruption tests. Page contents are a pure function of the pfn.
#pragma once

#include <cstdint>

#include "core/byte_sink.hpp"
#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/libxc/format.hpp"

namespace tern::stream::libxc {

struct SyntheticOptions {
  DomainType domain_type = DomainType::x86_hvm;
  std::uint32_t version = kVersion3;  // 2 or 3
  std::uint64_t pages = 256;          // guest pfns 0..pages-1 (a few are XTAB/BROKEN/XALLOC)
  std::uint32_t batch = 1024;         // max pfn entries per PAGE_DATA (1..kMaxPageDataCount)
  bool align_pages = false;           // choose batch sizes with aligned_batch_count()
  std::uint32_t checkpoints = 0;      // CHECKPOINT records; each followed by another round
  bool errata = false;                // add zero-content HVM_PARAMS / X86_PV_VCPU_{EXTENDED,XSAVE,MSRS}
  bool xen_order = false;             // HVM: HVM_CONTEXT before HVM_PARAMS, as Xen's saver does
  std::uint32_t vcpus = 2;            // PV vCPU record sets
  std::uint32_t xen_major = 4, xen_minor = 17;
};

// Fills `page` (page_size bytes) with the synthetic contents of `pfn`.
void synthetic_page(std::uint64_t pfn, MutableBytes page);

// Page type the generator gives `pfn` (mostly NOTAB; PV gets page-table
// types, and both get a sprinkling of XTAB/BROKEN/XALLOC).
[[nodiscard]] PageType synthetic_page_type(DomainType d, std::uint64_t pfn);

// Writes a complete, valid stream: headers, static records
// (PV: X86_PV_INFO; v3: CPUID/MSR policies, STATIC_DATA_END), PV
// X86_PV_P2M_FRAMES, PAGE_DATA for all pages, end-of-round records
// (TSC_INFO; PV: SHARED_INFO + vCPU records; HVM: HVM_PARAMS + HVM_CONTEXT),
// then for each checkpoint: CHECKPOINT, some re-sent pages and the
// end-of-round records again; finally END.
[[nodiscard]] Expected<void> write_synthetic(ByteSink& sink, const SyntheticOptions& opts);

}  // namespace tern::stream::libxc
