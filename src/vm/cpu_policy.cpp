#include "vm/cpu_policy.hpp"

#include <cpuid.h>

#include <optional>
#include <string>

namespace tern::vm {

namespace {

enum Reg { eax, ebx, ecx, edx };
constexpr const char* kRegName[] = {"EAX", "EBX", "ECX", "EDX"};

// A feature register of a leaf, with the bits that are not CPU features.
struct FeatureReg {
  std::uint32_t leaf, subleaf;
  bool has_subleaf;
  Reg reg;
  std::uint32_t ignore;  // OS/hypervisor-dependent bits
};

constexpr FeatureReg kFeatureRegs[] = {
    {1, 0, false, ecx, (1u << 27) | (1u << 31)},  // OSXSAVE, hypervisor present
    {1, 0, false, edx, 1u << 28},                 // HTT (topology, not a feature)
    {7, 0, true, ebx, 0},
    {7, 0, true, ecx, 1u << 4},  // OSPKE
    {7, 0, true, edx, 0},
    {0xd, 1, true, eax, 0},
    {0x80000001, 0, false, ecx, 0},
    {0x80000001, 0, false, edx, 0},
    {0x80000007, 0, false, edx, 0},
};

struct FeatureName {
  std::uint32_t leaf;
  Reg reg;
  unsigned bit;
  const char* name;
};

// Names for the common features; others are reported by leaf/register/bit.
constexpr FeatureName kNames[] = {
    {1, ecx, 0, "sse3"},
    {1, ecx, 1, "pclmulqdq"},
    {1, ecx, 9, "ssse3"},
    {1, ecx, 12, "fma"},
    {1, ecx, 13, "cx16"},
    {1, ecx, 19, "sse4.1"},
    {1, ecx, 20, "sse4.2"},
    {1, ecx, 22, "movbe"},
    {1, ecx, 23, "popcnt"},
    {1, ecx, 25, "aes"},
    {1, ecx, 26, "xsave"},
    {1, ecx, 28, "avx"},
    {1, ecx, 29, "f16c"},
    {1, ecx, 30, "rdrand"},
    {1, edx, 0, "fpu"},
    {1, edx, 4, "tsc"},
    {1, edx, 6, "pae"},
    {1, edx, 8, "cx8"},
    {1, edx, 9, "apic"},
    {1, edx, 15, "cmov"},
    {1, edx, 25, "sse"},
    {1, edx, 26, "sse2"},
    {7, ebx, 0, "fsgsbase"},
    {7, ebx, 3, "bmi1"},
    {7, ebx, 5, "avx2"},
    {7, ebx, 7, "smep"},
    {7, ebx, 8, "bmi2"},
    {7, ebx, 9, "erms"},
    {7, ebx, 10, "invpcid"},
    {7, ebx, 16, "avx512f"},
    {7, ebx, 17, "avx512dq"},
    {7, ebx, 18, "rdseed"},
    {7, ebx, 19, "adx"},
    {7, ebx, 20, "smap"},
    {7, ebx, 23, "clflushopt"},
    {7, ebx, 24, "clwb"},
    {7, ebx, 28, "avx512cd"},
    {7, ebx, 29, "sha"},
    {7, ebx, 30, "avx512bw"},
    {7, ebx, 31, "avx512vl"},
    {7, ecx, 1, "avx512vbmi"},
    {7, ecx, 3, "pku"},
    {7, ecx, 8, "gfni"},
    {7, ecx, 9, "vaes"},
    {7, ecx, 10, "vpclmulqdq"},
    {7, ecx, 11, "avx512vnni"},
    {7, ecx, 22, "rdpid"},
    {7, edx, 4, "fsrm"},
    {0xd, eax, 0, "xsaveopt"},
    {0xd, eax, 1, "xsavec"},
    {0xd, eax, 3, "xsaves"},
    {0x80000001, ecx, 0, "lahf"},
    {0x80000001, ecx, 5, "lzcnt"},
    {0x80000001, ecx, 8, "prefetchw"},
    {0x80000001, edx, 11, "syscall"},
    {0x80000001, edx, 20, "nx"},
    {0x80000001, edx, 26, "pdpe1gb"},
    {0x80000001, edx, 27, "rdtscp"},
    {0x80000001, edx, 29, "lm"},
    {0x80000007, edx, 8, "invariant-tsc"},
};

std::uint32_t reg_of(const CpuidEntry& e, Reg r) {
  switch (r) {
    case eax:
      return e.eax;
    case ebx:
      return e.ebx;
    case ecx:
      return e.ecx;
    case edx:
      return e.edx;
  }
  return 0;
}

std::optional<CpuidEntry> find(std::span<const CpuidEntry> policy, const FeatureReg& f) {
  for (const CpuidEntry& e : policy)
    if (e.function == f.leaf && (!f.has_subleaf || e.index == f.subleaf)) return e;
  return std::nullopt;
}

std::string feature_name(const FeatureReg& f, unsigned bit) {
  std::string where =
      f.has_subleaf
          ? fmt::format("CPUID {:#x}.{} {} bit {}", f.leaf, f.subleaf, kRegName[f.reg], bit)
          : fmt::format("CPUID {:#x} {} bit {}", f.leaf, kRegName[f.reg], bit);
  for (const FeatureName& n : kNames)
    if (n.leaf == f.leaf && n.reg == f.reg && n.bit == bit)
      return fmt::format("{} ({})", n.name, where);
  return where;
}

}  // namespace

std::vector<CpuidEntry> host_cpu_policy() {
  std::vector<CpuidEntry> out;
  auto read = [&](std::uint32_t leaf, std::uint32_t sub, bool has_sub) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    __cpuid_count(leaf, sub, a, b, c, d);
    out.push_back(CpuidEntry{leaf, has_sub ? sub : 0, has_sub ? kCpuidFlagSubleaf : 0, a, b, c, d});
  };
  const unsigned max_basic = __get_cpuid_max(0, nullptr);
  read(0, 0, false);
  if (max_basic >= 1) read(1, 0, false);
  if (max_basic >= 7) read(7, 0, true);
  if (max_basic >= 0xd) read(0xd, 1, true);
  const unsigned max_ext = __get_cpuid_max(0x80000000, nullptr);
  if (max_ext >= 0x80000000) read(0x80000000, 0, false);
  if (max_ext >= 0x80000001) read(0x80000001, 0, false);
  if (max_ext >= 0x80000007) read(0x80000007, 0, false);
  if (max_ext >= 0x80000008) read(0x80000008, 0, false);
  return out;
}

Expected<void> check_cpu_policy(std::span<const CpuidEntry> wanted,
                                std::span<const CpuidEntry> host) {
  std::string missing;
  unsigned n = 0;
  for (const FeatureReg& f : kFeatureRegs) {
    auto w = find(wanted, f);
    if (!w) continue;
    auto h = find(host, f);
    const std::uint32_t have = h ? reg_of(*h, f.reg) : 0;
    const std::uint32_t lack = reg_of(*w, f.reg) & ~have & ~f.ignore;
    for (unsigned bit = 0; bit < 32; ++bit) {
      if ((lack & (1u << bit)) == 0) continue;
      if (n++ < 8) missing += (missing.empty() ? "" : ", ") + feature_name(f, bit);
    }
  }
  if (n == 0) return {};
  return make_error(Errc::unsupported, "this host's CPU lacks {} feature{} the image needs: {}{}",
                    n, n == 1 ? "" : "s", missing, n > 8 ? ", ..." : "");
}

}  // namespace tern::vm
