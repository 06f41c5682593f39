#include "stream/libxc/rules.hpp"

namespace tern::stream::libxc {

namespace {

bool pv_only(RecordType t) {
  switch (t) {
    case RecordType::x86_pv_info:
    case RecordType::x86_pv_p2m_frames:
    case RecordType::x86_pv_vcpu_basic:
    case RecordType::x86_pv_vcpu_extended:
    case RecordType::x86_pv_vcpu_xsave:
    case RecordType::x86_pv_vcpu_msrs:
    case RecordType::shared_info:
      return true;
    default:
      return false;
  }
}

bool hvm_only(RecordType t) { return t == RecordType::hvm_context || t == RecordType::hvm_params; }

bool v3_only(RecordType t) {
  return t == RecordType::static_data_end || t == RecordType::x86_cpuid_policy || t == RecordType::x86_msr_policy;
}

// Static data: invariant of guest execution, sent before STATIC_DATA_END.
bool is_static(RecordType t) {
  return t == RecordType::x86_pv_info || t == RecordType::x86_cpuid_policy || t == RecordType::x86_msr_policy;
}

bool is_vcpu(RecordType t) {
  return t == RecordType::x86_pv_vcpu_basic || t == RecordType::x86_pv_vcpu_extended ||
         t == RecordType::x86_pv_vcpu_xsave || t == RecordType::x86_pv_vcpu_msrs;
}

// The record before which a v2 stream's STATIC_DATA_END is inferred (spec 6.1).
RecordType inference_point(DomainType d) {
  return d == DomainType::x86_pv ? RecordType::x86_pv_p2m_frames : RecordType::page_data;
}

// Records that belong to the static part of the stream or carry no order.
bool order_free(RecordType t) {
  return t == RecordType::static_data_end || is_static(t) || t == RecordType::toolstack;
}

}  // namespace

bool StreamRules::needs_static_data_end_before(std::uint32_t type) const {
  if (static_data_ended_ || version_ < kVersion3 || ended_ || !is_known_type(type)) return false;
  return !order_free(static_cast<RecordType>(type));
}

StreamRules::StreamRules(DomainType type, std::uint32_t version) : type_(type), version_(version) {}

Expected<Admission> StreamRules::admit(std::uint32_t code_) {
  if (ended_) return make_error(Errc::invalid, "record after END (END must be the last record of the stream)");
  if (!is_known_type(code_)) {
    if (is_optional_type(code_)) return Admission{};  // unknown optional: may be skipped anywhere
    return make_error(Errc::invalid, "unknown mandatory record type {:#x} (bit 31 clear: cannot be skipped)", code_);
  }
  const auto t = static_cast<RecordType>(code_);
  const std::string name = record_type_name(code_);
  if (pv_only(t) && type_ != DomainType::x86_pv)
    return make_error(Errc::invalid, "{} is an x86 PV record, not valid in an {} stream", name, domain_type_name(type_));
  if (hvm_only(t) && type_ != DomainType::x86_hvm)
    return make_error(Errc::invalid, "{} is an x86 HVM record, not valid in an {} stream", name, domain_type_name(type_));
  if (v3_only(t) && version_ < kVersion3)
    return make_error(Errc::invalid, "{} is a v3 record, not valid in a v{} stream", name, version_);

  Admission a;
  if (t == RecordType::static_data_end) {
    if (static_data_ended_) return make_error(Errc::invalid, "second STATIC_DATA_END");
    static_data_ended_ = true;
    return a;
  }
  if (is_static(t)) {
    if (static_data_ended_)
      return make_error(Errc::invalid, "static data record {} after STATIC_DATA_END{}", name,
                        inferred_ ? " (inferred for this v2 stream)" : "");
    if (t == RecordType::x86_pv_info) {
      if (seen_pv_info_) return make_error(Errc::invalid, "second X86_PV_INFO");
      seen_pv_info_ = true;
    }
    return a;
  }
  if (t == RecordType::toolstack) return a;  // deprecated, carries no ordering

  // Memory and register records (everything else) come after STATIC_DATA_END.
  if (!static_data_ended_) {
    if (version_ >= kVersion3)
      return make_error(Errc::invalid, "{} before STATIC_DATA_END (v3 requires it ahead of memory and register records)",
                        name);
    if (t == inference_point(type_)) {
      a.infer_static_data_end_before = true;
      static_data_ended_ = inferred_ = true;
    }
  }

  if (type_ == DomainType::x86_pv) {
    // Spec 5.1: X86_PV_INFO -> X86_PV_P2M_FRAMES -> PAGE_DATA -> vCPU records.
    if (t == RecordType::x86_pv_p2m_frames) {
      if (!seen_pv_info_) return make_error(Errc::invalid, "X86_PV_P2M_FRAMES before X86_PV_INFO (PV order, spec 5.1)");
      seen_p2m_frames_ = true;
    } else if (t == RecordType::page_data) {
      if (!seen_p2m_frames_) return make_error(Errc::invalid, "PAGE_DATA before X86_PV_P2M_FRAMES (PV order, spec 5.1)");
      if (vcpu_in_round_)
        return make_error(Errc::invalid, "PAGE_DATA after vCPU records of the same checkpoint (PV order, spec 5.1)");
      seen_page_data_ = true;
    } else if (is_vcpu(t)) {
      if (!seen_page_data_) return make_error(Errc::invalid, "{} before any PAGE_DATA (PV order, spec 5.1)", name);
      vcpu_in_round_ = true;
    }
  }
  // HVM (spec 5.2) asks for HVM_PARAMS before HVM_CONTEXT, but Xen's own
  // saver writes HVM_CONTEXT first: both orders are accepted.

  if (t == RecordType::checkpoint) {
    ++checkpoints_;
    vcpu_in_round_ = false;
  } else if (t == RecordType::end) {
    ended_ = true;
  }
  return a;
}

}  // namespace tern::stream::libxc
