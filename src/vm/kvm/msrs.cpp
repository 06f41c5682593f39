#include "vm/kvm/msrs.hpp"

#include <algorithm>

namespace tern::vm::kvm {

namespace {

// Runs the MSR ioctl over `entries` from `from`; returns how many it handled.
Expected<std::size_t> msr_batch(const Vcpu& vcpu, unsigned long request, std::string_view what,
                                std::vector<kvm_msr_entry>& entries, std::size_t from) {
  const std::size_t n = entries.size() - from;
  MsrBuffer buf(kMsrsHeader, n);
  buf.set_count(static_cast<std::uint32_t>(n));
  std::copy(entries.begin() + static_cast<std::ptrdiff_t>(from), entries.end(), buf.entries());
  TERN_TRY_ASSIGN(const int done, vcpu.io(request, buf.data(), what));
  const auto handled = std::min(static_cast<std::size_t>(done), n);
  std::copy(buf.entries(), buf.entries() + handled,
            entries.begin() + static_cast<std::ptrdiff_t>(from));
  return handled;
}

Expected<MsrResult> msr_loop(const Vcpu& vcpu, unsigned long request, std::string_view what,
                             std::vector<kvm_msr_entry> entries) {
  MsrResult out;
  std::size_t from = 0;
  while (from < entries.size()) {
    TERN_TRY_ASSIGN(const std::size_t done, msr_batch(vcpu, request, what, entries, from));
    out.entries.insert(out.entries.end(), entries.begin() + static_cast<std::ptrdiff_t>(from),
                       entries.begin() + static_cast<std::ptrdiff_t>(from + done));
    from += done;
    if (from < entries.size()) out.skipped.push_back(entries[from++].index);
  }
  return out;
}

}  // namespace

Expected<MsrResult> get_msrs(const Vcpu& vcpu, std::span<const std::uint32_t> indices) {
  std::vector<kvm_msr_entry> entries(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) entries[i].index = indices[i];
  return msr_loop(vcpu, kIocGetMsrs, "KVM_GET_MSRS", std::move(entries));
}

Expected<MsrResult> set_msrs(const Vcpu& vcpu, std::span<const kvm_msr_entry> entries) {
  return msr_loop(vcpu, kIocSetMsrs, "KVM_SET_MSRS",
                  std::vector<kvm_msr_entry>(entries.begin(), entries.end()));
}

}  // namespace tern::vm::kvm
