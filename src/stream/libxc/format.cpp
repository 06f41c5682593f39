#include "stream/libxc/format.hpp"

#include <array>

#include <fmt/format.h>

namespace tern::stream::libxc {

namespace {
constexpr std::array<std::string_view, kRecordTypeCount> kTypeNames = {
    "END",
    "PAGE_DATA",
    "X86_PV_INFO",
    "X86_PV_P2M_FRAMES",
    "X86_PV_VCPU_BASIC",
    "X86_PV_VCPU_EXTENDED",
    "X86_PV_VCPU_XSAVE",
    "SHARED_INFO",
    "X86_TSC_INFO",
    "HVM_CONTEXT",
    "HVM_PARAMS",
    "TOOLSTACK",
    "X86_PV_VCPU_MSRS",
    "VERIFY",
    "CHECKPOINT",
    "CHECKPOINT_DIRTY_PFN_LIST",
    "STATIC_DATA_END",
    "X86_CPUID_POLICY",
    "X86_MSR_POLICY",
};

constexpr std::array<std::string_view, kPageTypeCount> kPageTypeNames = {
    "NOTAB",       "L1TAB",       "L2TAB",       "L3TAB",       "L4TAB",  "RESERVED(0x5)",
    "RESERVED(0x6)", "RESERVED(0x7)", "RESERVED(0x8)", "L1TAB_PIN", "L2TAB_PIN", "L3TAB_PIN",
    "L4TAB_PIN",   "BROKEN",      "XALLOC",      "XTAB",
};
}  // namespace

std::string record_type_name(std::uint32_t type) {
  if (is_known_type(type)) return std::string(kTypeNames[type]);
  if (is_optional_type(type)) return fmt::format("UNKNOWN_OPTIONAL({:#x})", type);
  return fmt::format("UNKNOWN({:#x})", type);
}

std::string_view domain_type_name(DomainType t) {
  switch (t) {
    case DomainType::x86_pv: return "x86 PV";
    case DomainType::x86_hvm: return "x86 HVM";
  }
  return "unknown";
}

std::string_view page_type_name(unsigned t) { return t < kPageTypeCount ? kPageTypeNames[t] : "INVALID"; }

std::uint32_t max_body_length(std::uint32_t type, std::uint32_t page_size) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::end:
    case RecordType::verify:
    case RecordType::checkpoint:
    case RecordType::static_data_end:
      return 0;
    case RecordType::page_data: {
      std::uint64_t max = kPageDataHeaderSize + std::uint64_t{kMaxPageDataCount} * (8 + page_size);
      return max > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(max);
    }
    case RecordType::x86_pv_info: return kPvInfoSize;
    case RecordType::x86_pv_p2m_frames: return kMaxP2mFramesBody;
    case RecordType::x86_pv_vcpu_basic:
    case RecordType::x86_pv_vcpu_extended:
    case RecordType::x86_pv_vcpu_xsave:
    case RecordType::x86_pv_vcpu_msrs:
    case RecordType::hvm_context:
    case RecordType::toolstack:
      return kMaxBlobBody;
    case RecordType::shared_info: return page_size;
    case RecordType::x86_tsc_info: return kTscInfoSize;
    case RecordType::hvm_params: return kHvmParamsHeaderSize + kMaxHvmParams * kHvmParamEntrySize;
    case RecordType::checkpoint_dirty_pfn_list: return kMaxPfnListBody;
    case RecordType::x86_cpuid_policy:
    case RecordType::x86_msr_policy:
      return kMaxPolicyBody;
  }
  return is_optional_type(type) ? kMaxOptionalBody : 0;
}

}  // namespace tern::stream::libxc
