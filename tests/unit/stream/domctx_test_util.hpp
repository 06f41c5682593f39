// Shared helpers for the domctx tests: seeded random domain state (every
// standard record type, valid bodies, realistic or small sizes) and the
// byte offset an error message names.
#pragma once

#include <cstring>
#include <optional>
#include <random>
#include <regex>
#include <string>

#include "stream/domctx/state_image.hpp"

namespace tern::stream::domctx::testing {

struct RandomSizes {
  std::size_t xsave_extra_max = 1024;  // bytes beyond 4096
  std::size_t msrs_max = 24;
  std::size_t cpuid_max = 16;
  double presence = 0.7;  // chance each optional part is present
};

inline void fill_random(std::mt19937_64& rng, void* p, std::size_t n) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(rng());
}

template <typename T>
T random_pod(std::mt19937_64& rng) {
  T v;
  fill_random(rng, &v, sizeof v);
  return v;
}

inline std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) { return n ? rng() % n : 0; }

inline VcpuState random_vcpu(std::mt19937_64& rng, const RandomSizes& sz) {
  std::bernoulli_distribution has(sz.presence);
  VcpuState v;
  if (has(rng)) v.regs = random_pod<kvm_regs>(rng);
  if (has(rng)) v.sregs = random_pod<kvm_sregs>(rng);
  if (has(rng)) {
    v.sregs2 = random_pod<kvm_sregs2>(rng);
    v.sregs2->flags &= KVM_SREGS2_FLAGS_PDPTRS_VALID;
  }
  if (has(rng)) {
    XsaveArea x;
    x.bytes.resize(4096 + 4 * below(rng, sz.xsave_extra_max / 4 + 1));
    fill_random(rng, x.bytes.data(), x.bytes.size());
    v.xsave = std::move(x);
  }
  if (has(rng)) {
    v.xcrs = random_pod<kvm_xcrs>(rng);
    v.xcrs->nr_xcrs %= KVM_MAX_XCRS + 1;
  }
  if (has(rng)) v.debugregs = random_pod<kvm_debugregs>(rng);
  if (has(rng)) v.lapic = random_pod<kvm_lapic_state>(rng);
  if (has(rng)) v.events = random_pod<kvm_vcpu_events>(rng);
  if (has(rng)) v.mp_state = kvm_mp_state{static_cast<std::uint32_t>(below(rng, KVM_MP_STATE_SUSPENDED + 1))};
  if (has(rng)) {
    MsrList m;
    for (std::size_t i = 0, n = below(rng, sz.msrs_max + 1); i < n; ++i)
      m.entries.push_back({static_cast<std::uint32_t>(rng()), rng()});
    v.msrs = std::move(m);
  }
  if (has(rng)) {
    CpuidList c;
    for (std::size_t i = 0, n = below(rng, sz.cpuid_max + 1); i < n; ++i) {
      auto r = [&] { return static_cast<std::uint32_t>(rng()); };
      c.entries.push_back({r(), r(), r(), r(), r(), r(), r()});
    }
    v.cpuid = std::move(c);
  }
  if (has(rng)) v.tsc_khz = TscKhz{static_cast<std::uint32_t>(rng())};
  return v;
}

inline StateImage random_image(std::mt19937_64& rng, std::uint32_t vcpus, const RandomSizes& sz = {}) {
  std::bernoulli_distribution has(sz.presence);
  StateImage img;
  for (std::uint32_t i = 0; i < vcpus; ++i) img.vcpus.push_back(random_vcpu(rng, sz));
  VmState& vm = img.vm;
  if (has(rng)) vm.pic_master = random_pod<kvm_pic_state>(rng);
  if (has(rng)) vm.pic_slave = random_pod<kvm_pic_state>(rng);
  if (has(rng)) vm.ioapic = random_pod<kvm_ioapic_state>(rng);
  if (has(rng)) vm.pit = random_pod<kvm_pit_state2>(rng);
  if (has(rng)) vm.clock = random_pod<kvm_clock_data>(rng);
  if (has(rng)) {
    SharedInfo s;
    s.is_32bit = rng() & 1;
    s.buffer.resize(below(rng, kSharedInfoMax + 1));
    fill_random(rng, s.buffer.data(), s.buffer.size());
    vm.shared_info = std::move(s);
  }
  if (has(rng))
    vm.tsc_info = TscInfo{static_cast<std::uint32_t>(below(rng, kTscModeMax + 1)), static_cast<std::uint32_t>(rng()),
                          rng(), static_cast<std::uint32_t>(rng())};
  return img;
}

// Every part present, small sizes: a blob with each record type at least once.
inline StateImage full_image(std::uint64_t seed, std::uint32_t vcpus) {
  std::mt19937_64 rng(seed);
  RandomSizes sz;
  sz.presence = 1.0;
  sz.xsave_extra_max = 0;
  sz.msrs_max = 3;
  sz.cpuid_max = 3;
  StateImage img = random_image(rng, vcpus, sz);
  img.vm.shared_info->buffer.resize(13);  // odd size: the record needs padding
  return img;
}

// The offset a domctx error message names ("domctx: offset N: ...").
inline std::optional<std::uint64_t> error_offset(const std::string& msg) {
  static const std::regex re("domctx: offset ([0-9]+):");
  std::smatch m;
  if (!std::regex_search(msg, m, re)) return std::nullopt;
  return std::stoull(m[1].str());
}

}  // namespace tern::stream::domctx::testing
