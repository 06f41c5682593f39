// Bodies of the KVM vCPU and VM state records. Fixed-size bodies are the
// exact <linux/kvm.h> structures a VMM passes to KVM_GET_x / KVM_SET_x (so
// a backend copies them in and out unchanged); variable-size bodies (XSAVE,
// MSRs, CPUID, TSC kHz) have explicit layouts. docs/FORMAT.md §4 lists
// every byte.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "stream/domctx/codec.hpp"

namespace tern::stream::domctx {

static_assert(sizeof(kvm_regs) == 144);
static_assert(sizeof(kvm_sregs) == 312);
static_assert(sizeof(kvm_sregs2) == 320);
static_assert(sizeof(kvm_xcrs) == 392);
static_assert(sizeof(kvm_debugregs) == 128);
static_assert(sizeof(kvm_lapic_state) == 1024);
static_assert(sizeof(kvm_vcpu_events) == 64);
static_assert(sizeof(kvm_mp_state) == 4);
static_assert(sizeof(kvm_pic_state) == 16);
static_assert(sizeof(kvm_ioapic_state) == 216);
static_assert(sizeof(kvm_pit_state2) == 112);
static_assert(sizeof(kvm_clock_data) == 48);

// The XSAVE area exactly as KVM_GET_XSAVE2 returns it: at least 4096 bytes
// (struct kvm_xsave), more when dynamic features such as AMX are enabled.
struct XsaveArea {
  std::vector<std::byte> bytes;
  friend bool operator==(const XsaveArea&, const XsaveArea&) = default;
};
inline constexpr std::size_t kXsaveMin = 4096;
inline constexpr std::size_t kXsaveMax = 1 << 20;

// MSRs: u32 count, u32 reserved, count x {u32 index, u32 reserved, u64 value}.
struct MsrEntry {
  std::uint32_t index = 0;
  std::uint64_t value = 0;
  friend bool operator==(const MsrEntry&, const MsrEntry&) = default;
};
struct MsrList {
  std::vector<MsrEntry> entries;
  friend bool operator==(const MsrList&, const MsrList&) = default;
};
inline constexpr std::size_t kMsrEntrySize = 16;
inline constexpr std::size_t kMaxMsrs = 4096;

// CPUID: u32 count, u32 reserved, count x {function, index, flags, eax, ebx,
// ecx, edx, reserved} (all u32): the fields of struct kvm_cpuid_entry2.
struct CpuidEntry {
  std::uint32_t function = 0, index = 0, flags = 0, eax = 0, ebx = 0, ecx = 0, edx = 0;
  friend bool operator==(const CpuidEntry&, const CpuidEntry&) = default;
};
struct CpuidList {
  std::vector<CpuidEntry> entries;
  friend bool operator==(const CpuidList&, const CpuidList&) = default;
};
inline constexpr std::size_t kCpuidEntrySize = 32;
inline constexpr std::size_t kMaxCpuid = 256;  // KVM_MAX_CPUID_ENTRIES

// TSC frequency: u32 kHz, u32 reserved (zero).
struct TscKhz {
  std::uint32_t khz = 0;
  friend bool operator==(const TscKhz&, const TscKhz&) = default;
};

// ---- fixed KVM structures ----
#define TERN_DOMCTX_FIXED(C, T)                                                   \
  template <>                                                                     \
  struct Codec<TypeCode::C> : FixedCodec<Codec<TypeCode::C>, T, TypeCode::C> {     \
    static Expected<void> check(const T& v);                                      \
    static nlohmann::json fields(const T& v);                                     \
  }
TERN_DOMCTX_FIXED(vcpu_regs, kvm_regs);
TERN_DOMCTX_FIXED(vcpu_sregs, kvm_sregs);
TERN_DOMCTX_FIXED(vcpu_sregs2, kvm_sregs2);
TERN_DOMCTX_FIXED(vcpu_xcrs, kvm_xcrs);
TERN_DOMCTX_FIXED(vcpu_debugregs, kvm_debugregs);
TERN_DOMCTX_FIXED(vcpu_lapic, kvm_lapic_state);
TERN_DOMCTX_FIXED(vcpu_events, kvm_vcpu_events);
TERN_DOMCTX_FIXED(vcpu_mp_state, kvm_mp_state);
TERN_DOMCTX_FIXED(pic_master, kvm_pic_state);
TERN_DOMCTX_FIXED(pic_slave, kvm_pic_state);
TERN_DOMCTX_FIXED(ioapic, kvm_ioapic_state);
TERN_DOMCTX_FIXED(pit, kvm_pit_state2);
#undef TERN_DOMCTX_FIXED

// KVM clock: the first 16 bytes (clock, flags, pad0) are the oldest layout;
// realtime/host_tsc are only meaningful when flags say so, so a shorter body
// from an older producer is zero-extended.
template <>
struct Codec<TypeCode::kvm_clock> : FixedCodec<Codec<TypeCode::kvm_clock>, kvm_clock_data, TypeCode::kvm_clock> {
  static constexpr BodySize size = BodySize::extendable(16, sizeof(kvm_clock_data));
  static Expected<void> check(const kvm_clock_data& v);
  static nlohmann::json fields(const kvm_clock_data& v);
};

// ---- variable-size bodies ----
template <>
struct Codec<TypeCode::vcpu_xsave> {
  using Body = XsaveArea;
  static constexpr TypeCode code = TypeCode::vcpu_xsave;
  static constexpr BodySize size = BodySize::between(kXsaveMin, kXsaveMax);
  template <typename W>
  static void encode(W& w, const XsaveArea& v) {
    w.append(v.bytes);
  }
  static Expected<XsaveArea> decode(Bytes b);
  static nlohmann::json fields(const XsaveArea& v);
};

template <>
struct Codec<TypeCode::vcpu_msrs> {
  using Body = MsrList;
  static constexpr TypeCode code = TypeCode::vcpu_msrs;
  static constexpr BodySize size = BodySize::between(8, 8 + kMsrEntrySize * kMaxMsrs);
  template <typename W>
  static void encode(W& w, const MsrList& v) {
    w.template append_le<std::uint32_t>(static_cast<std::uint32_t>(v.entries.size()));
    w.template append_le<std::uint32_t>(0);
    for (const MsrEntry& e : v.entries) {
      w.template append_le<std::uint32_t>(e.index);
      w.template append_le<std::uint32_t>(0);
      w.template append_le<std::uint64_t>(e.value);
    }
  }
  static Expected<MsrList> decode(Bytes b);
  static nlohmann::json fields(const MsrList& v);
};

template <>
struct Codec<TypeCode::vcpu_cpuid> {
  using Body = CpuidList;
  static constexpr TypeCode code = TypeCode::vcpu_cpuid;
  static constexpr BodySize size = BodySize::between(8, 8 + kCpuidEntrySize * kMaxCpuid);
  template <typename W>
  static void encode(W& w, const CpuidList& v) {
    w.template append_le<std::uint32_t>(static_cast<std::uint32_t>(v.entries.size()));
    w.template append_le<std::uint32_t>(0);
    for (const CpuidEntry& e : v.entries) {
      for (std::uint32_t x : {e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx})
        w.template append_le<std::uint32_t>(x);
      w.template append_le<std::uint32_t>(0);
    }
  }
  static Expected<CpuidList> decode(Bytes b);
  static nlohmann::json fields(const CpuidList& v);
};

template <>
struct Codec<TypeCode::vcpu_tsc_khz> {
  using Body = TscKhz;
  static constexpr TypeCode code = TypeCode::vcpu_tsc_khz;
  static constexpr BodySize size = BodySize::exactly(8);
  template <typename W>
  static void encode(W& w, const TscKhz& v) {
    w.template append_le<std::uint32_t>(v.khz);
    w.template append_le<std::uint32_t>(0);
  }
  static Expected<TscKhz> decode(Bytes b);
  static nlohmann::json fields(const TscKhz& v);
};

}  // namespace tern::stream::domctx
