#include "vm/kvm/cpuid.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace tern::vm::kvm {

namespace {

constexpr std::uint32_t kHypervisorBase = 0x40000000, kHypervisorTiming = 0x40000010;
constexpr std::uint32_t kApicBusKhz = 1000000;  // KVM's local APIC timer runs at 1 GHz

enum Reg { eax, ebx, ecx, edx };

std::uint32_t& reg(kvm_cpuid_entry2& e, Reg r) {
  switch (r) {
    case eax:
      return e.eax;
    case ebx:
      return e.ebx;
    case ecx:
      return e.ecx;
    default:
      return e.edx;
  }
}
std::uint32_t reg(const kvm_cpuid_entry2& e, Reg r) {
  return reg(const_cast<kvm_cpuid_entry2&>(e), r);
}

struct FeatureReg {
  std::uint32_t function, index;
  Reg r;
  std::uint32_t ignore;  // bits that reflect OS state, not the CPU
};
constexpr std::array<FeatureReg, 11> kFeatureRegs{{
    {0x1, 0, ecx, 1u << 27},  // OSXSAVE mirrors CR4.OSXSAVE
    {0x1, 0, edx, 0},
    {0x7, 0, ebx, 0},
    {0x7, 0, ecx, 1u << 4},  // OSPKE mirrors CR4.PKE
    {0x7, 0, edx, 0},
    {0x7, 1, eax, 0},
    {0xd, 1, eax, 0},
    {0x80000001, 0, ecx, 0},
    {0x80000001, 0, edx, 0},
    {0x80000007, 0, edx, 0},
    {0x80000008, 0, ebx, 0},
}};

// Names of the bits a restore most often trips over, for the message.
struct BitName {
  std::uint32_t function, index;
  Reg r;
  unsigned bit;
  std::string_view name;
};
constexpr std::array<BitName, 24> kBitNames{{
    {1, 0, ecx, 0, "sse3"},           {1, 0, ecx, 9, "ssse3"},
    {1, 0, ecx, 12, "fma"},           {1, 0, ecx, 19, "sse4.1"},
    {1, 0, ecx, 20, "sse4.2"},        {1, 0, ecx, 22, "movbe"},
    {1, 0, ecx, 23, "popcnt"},        {1, 0, ecx, 25, "aes"},
    {1, 0, ecx, 26, "xsave"},         {1, 0, ecx, 28, "avx"},
    {1, 0, ecx, 30, "rdrand"},        {7, 0, ebx, 3, "bmi1"},
    {7, 0, ebx, 5, "avx2"},           {7, 0, ebx, 8, "bmi2"},
    {7, 0, ebx, 16, "avx512f"},       {7, 0, ebx, 18, "rdseed"},
    {7, 0, ebx, 19, "adx"},           {7, 0, ebx, 29, "sha"},
    {7, 0, ebx, 30, "avx512bw"},      {7, 0, ebx, 31, "avx512vl"},
    {7, 0, ecx, 1, "avx512vbmi"},     {7, 0, edx, 24, "amx-tile"},
    {0x80000001, 0, ecx, 5, "lzcnt"}, {0x80000001, 0, edx, 29, "long mode"},
}};

std::string_view bit_name(std::uint32_t function, std::uint32_t index, Reg r, unsigned bit) {
  for (const BitName& b : kBitNames)
    if (b.function == function && b.index == index && b.r == r && b.bit == bit) return b.name;
  return {};
}

constexpr std::string_view kRegNames[] = {"EAX", "EBX", "ECX", "EDX"};

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& t, std::uint32_t function,
                             std::uint32_t index) {
  return find_cpuid(t, function, index);
}

}  // namespace

std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          std::uint32_t vcpu_index, std::uint32_t tsc_khz) {
  std::vector<kvm_cpuid_entry2> out = supported;
  bool have_timing = false;
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case 0x1:
        e.ebx = (e.ebx & 0x00ffffffu) | (vcpu_index << 24);
        break;  // initial APIC id
      case 0xb:
      case 0x1f:
        e.edx = vcpu_index;
        break;  // x2APIC id
      case 0x8000001e:
        e.eax = vcpu_index;
        break;  // extended APIC id (AMD)
      case kHypervisorBase:
        e.eax = std::max(e.eax, kHypervisorTiming);
        break;
      case kHypervisorTiming:
        e.eax = tsc_khz;
        e.ebx = kApicBusKhz;
        have_timing = true;
        break;
      default:
        break;
    }
  }
  if (!have_timing && find(out, kHypervisorBase, 0) != nullptr && tsc_khz != 0) {
    kvm_cpuid_entry2 t{};
    t.function = kHypervisorTiming;
    t.eax = tsc_khz;
    t.ebx = kApicBusKhz;
    out.push_back(t);
  }
  return out;
}

Expected<void> set_cpuid(const Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& entries) {
  CpuidBuffer buf(kCpuid2Header, entries.size());
  buf.set_count(static_cast<std::uint32_t>(entries.size()));
  std::copy(entries.begin(), entries.end(), buf.entries());
  TERN_TRY(vcpu.io(kIocSetCpuid2, buf.data(), "KVM_SET_CPUID2"));
  return {};
}

stream::domctx::CpuidList to_record(const std::vector<kvm_cpuid_entry2>& entries) {
  stream::domctx::CpuidList l;
  for (const auto& e : entries)
    l.entries.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
  return l;
}

std::vector<kvm_cpuid_entry2> from_record(const stream::domctx::CpuidList& list) {
  std::vector<kvm_cpuid_entry2> out;
  for (const auto& e : list.entries) {
    kvm_cpuid_entry2 k{};
    k.function = e.function, k.index = e.index, k.flags = e.flags;
    k.eax = e.eax, k.ebx = e.ebx, k.ecx = e.ecx, k.edx = e.edx;
    out.push_back(k);
  }
  return out;
}

Expected<void> check_cpuid_features(const std::vector<kvm_cpuid_entry2>& wanted,
                                    const std::vector<kvm_cpuid_entry2>& supported) {
  std::string missing_list;
  std::size_t count = 0;
  for (const FeatureReg& f : kFeatureRegs) {
    const kvm_cpuid_entry2* w = find(wanted, f.function, f.index);
    if (w == nullptr) continue;
    const kvm_cpuid_entry2* s = find(supported, f.function, f.index);
    std::uint32_t missing = reg(*w, f.r) & ~(s != nullptr ? reg(*s, f.r) : 0u) & ~f.ignore;
    for (; missing != 0; missing &= missing - 1) {
      const unsigned bit = static_cast<unsigned>(__builtin_ctz(missing));
      const std::string_view name = bit_name(f.function, f.index, f.r, bit);
      if (count++ < 8)
        missing_list += fmt::format(
            "{}CPUID {:#x}.{} {} bit {}{}{}{}", missing_list.empty() ? "" : ", ", f.function,
            f.index, kRegNames[f.r], bit, name.empty() ? "" : " (", name, name.empty() ? "" : ")");
    }
  }
  if (count == 0) return {};
  return make_error(Errc::unsupported,
                    "the saved CPU has {} feature{} this host's KVM cannot offer: {}{}", count,
                    count == 1 ? "" : "s", missing_list, count > 8 ? ", ..." : "");
}

}  // namespace tern::vm::kvm
