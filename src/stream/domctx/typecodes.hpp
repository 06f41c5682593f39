// The one table of domain-context record type codes. Every code, its name
// and whether it is per-vCPU or global lives here; the record layouts live in
// records_kvm.hpp / records_xen.hpp and docs/FORMAT.md §4.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tern::stream::domctx {

enum class Scope : std::uint8_t { global, per_vcpu };

// Codes are stable on-disk values: never renumber, only append.
enum class TypeCode : std::uint16_t {
  end = 0,
  header = 1,
  // Per vCPU: the state a KVM VMM copies out of and into each vCPU.
  vcpu_regs = 2,
  vcpu_sregs = 3,
  vcpu_sregs2 = 4,
  vcpu_xsave = 5,
  vcpu_xcrs = 6,
  vcpu_debugregs = 7,
  vcpu_lapic = 8,
  vcpu_events = 9,
  vcpu_mp_state = 10,
  vcpu_msrs = 11,
  vcpu_cpuid = 12,
  vcpu_tsc_khz = 13,
  // Per VM (global, instance 0).
  pic_master = 32,
  pic_slave = 33,
  ioapic = 34,
  pit = 35,
  kvm_clock = 36,
  // Xen-style guests (seed 000's own examples).
  shared_info = 48,
  tsc_info = 49,
};

// Highest typecode a registry accepts (state records use 2..kMaxTypecode).
inline constexpr std::uint16_t kMaxTypecode = 63;
inline constexpr std::uint16_t kFirstStateTypecode = 2;

struct TypeCodeInfo {
  TypeCode code;
  std::string_view name;
  Scope scope;
};

inline constexpr std::array kTypeCodes{
    TypeCodeInfo{TypeCode::end, "END", Scope::global},
    TypeCodeInfo{TypeCode::header, "HEADER", Scope::global},
    TypeCodeInfo{TypeCode::vcpu_regs, "VCPU_REGS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_sregs, "VCPU_SREGS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_sregs2, "VCPU_SREGS2", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_xsave, "VCPU_XSAVE", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_xcrs, "VCPU_XCRS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_debugregs, "VCPU_DEBUGREGS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_lapic, "VCPU_LAPIC", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_events, "VCPU_EVENTS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_mp_state, "VCPU_MP_STATE", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_msrs, "VCPU_MSRS", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_cpuid, "VCPU_CPUID", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::vcpu_tsc_khz, "VCPU_TSC_KHZ", Scope::per_vcpu},
    TypeCodeInfo{TypeCode::pic_master, "PIC_MASTER", Scope::global},
    TypeCodeInfo{TypeCode::pic_slave, "PIC_SLAVE", Scope::global},
    TypeCodeInfo{TypeCode::ioapic, "IOAPIC", Scope::global},
    TypeCodeInfo{TypeCode::pit, "PIT", Scope::global},
    TypeCodeInfo{TypeCode::kvm_clock, "KVM_CLOCK", Scope::global},
    TypeCodeInfo{TypeCode::shared_info, "SHARED_INFO", Scope::global},
    TypeCodeInfo{TypeCode::tsc_info, "TSC_INFO", Scope::global},
};

[[nodiscard]] constexpr std::uint16_t code(TypeCode c) { return static_cast<std::uint16_t>(c); }

[[nodiscard]] constexpr const TypeCodeInfo* find_typecode(std::uint16_t c) {
  for (const auto& t : kTypeCodes)
    if (code(t.code) == c) return &t;
  return nullptr;
}

}  // namespace tern::stream::domctx
