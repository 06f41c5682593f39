#include "migrate/prefault.hpp"

#include <algorithm>
#include <cerrno>

#include "vm/host_ram.hpp"

namespace tern::migrate {

Prefaulter::Prefaulter(vm::Domain& d, std::uint64_t end_pfn)
    : thread_([this, &d, end_pfn] { run(d, end_pfn); }) {}

void Prefaulter::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Prefaulter::run(vm::Domain& d, std::uint64_t end_pfn) {
  for (std::uint64_t pfn = 0; pfn < end_pfn && !stop_.load(std::memory_order_relaxed);
       pfn += kStepPages) {
    const std::uint64_t n = std::min(kStepPages, end_pfn - pfn);
    std::byte* first = d.page(pfn);
    // Only a step whose frames are one contiguous piece of host memory (the
    // KVM backend's slots are; a step across a slot edge is skipped).
    if (first == nullptr || d.page(pfn + n - 1) != first + (n - 1) * vm::kPageSize) continue;
    if (const int e = vm::populate_writable(first, n * vm::kPageSize); e != 0) {
      if (e == EINVAL) {  // the kernel does not know the advice
        supported_ = false;
        return;
      }
      continue;  // e.g. ENOMEM: leave this step to the receiver's copies
    }
    bytes_.fetch_add(n * vm::kPageSize, std::memory_order_relaxed);
  }
}

}  // namespace tern::migrate
