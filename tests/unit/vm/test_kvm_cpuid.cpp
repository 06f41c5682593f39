// The KVM backend's CPUID handling, without /dev/kvm: the per-vCPU table
// and the restore-side feature check.
#include <gtest/gtest.h>

#include "vm/kvm/cpuid.hpp"

namespace tern::vm::kvm {
namespace {

kvm_cpuid_entry2 leaf(std::uint32_t function, std::uint32_t index, std::uint32_t eax,
                      std::uint32_t ebx, std::uint32_t ecx, std::uint32_t edx,
                      bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = function, e.index = index, e.eax = eax, e.ebx = ebx, e.ecx = ecx, e.edx = edx;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  return e;
}

const std::vector<kvm_cpuid_entry2> kHost = {
    leaf(0, 0, 0xd, 0, 0, 0),
    leaf(1, 0, 0x800f12, 0x00000800, 0x80000001, 0x178bfbff),
    leaf(7, 0, 0, 0x0000018b, 0, 0, true),  // bits 0, 1, 3, 7, 8: no avx2 (5), no avx512f (16)
    leaf(0xb, 0, 1, 1, 0x100, 0, true),
    leaf(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d, false),
};

TEST(KvmCpuid, EachVcpuGetsItsApicIdAndTheTimingLeaf) {
  auto t = guest_cpuid(kHost, 3, 2596120);
  const auto* l1 = find_cpuid(t, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3U);
  EXPECT_EQ(l1->ebx & 0xffffffU, 0x800U);  // the rest of EBX untouched
  EXPECT_EQ(find_cpuid(t, 0xb, 0)->edx, 3U);
  EXPECT_EQ(find_cpuid(t, 0x40000000)->eax, 0x40000010U);
  const auto* timing = find_cpuid(t, 0x40000010);
  ASSERT_NE(timing, nullptr);
  EXPECT_EQ(timing->eax, 2596120U);
  EXPECT_EQ(timing->ebx, 1000000U);
}

TEST(KvmCpuid, FeatureCheckNamesEveryMissingBitAndIgnoresOsBits) {
  EXPECT_TRUE(check_cpuid_features(kHost, kHost));
  auto wanted = kHost;
  wanted[1].ecx |= 1U << 27;  // OSXSAVE: the guest's CR4, not a CPU feature
  EXPECT_TRUE(check_cpuid_features(wanted, kHost));
  wanted[2].ebx |= (1U << 16) | (1U << 5) | (1U << 30);  // avx512f, avx2, avx512bw
  wanted[1].ecx |= 1U << 28;                             // avx
  auto r = check_cpuid_features(wanted, kHost);
  ASSERT_FALSE(r.has_value());
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("has 4 features"), std::string::npos) << m;
  EXPECT_NE(m.find("CPUID 0x1.0 ECX bit 28 (avx)"), std::string::npos) << m;
  EXPECT_NE(m.find("CPUID 0x7.0 EBX bit 16 (avx512f)"), std::string::npos) << m;
  EXPECT_NE(m.find("CPUID 0x7.0 EBX bit 5 (avx2)"), std::string::npos) << m;
  EXPECT_NE(m.find("CPUID 0x7.0 EBX bit 30 (avx512bw)"), std::string::npos) << m;
  // A leaf the host lacks altogether: every feature bit in it is missing.
  wanted = kHost;
  wanted.push_back(leaf(0x80000001, 0, 0, 0, 0, 1U << 29));
  r = check_cpuid_features(wanted, kHost);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("(long mode)"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace tern::vm::kvm
