#include "stream/domctx/records_kvm.hpp"

#include <nlohmann/json.hpp>

namespace tern::stream::domctx {
namespace {

using json = nlohmann::json;

json segment(const kvm_segment& s) {
  return {{"base", s.base},   {"limit", s.limit}, {"selector", s.selector}, {"type", s.type},
          {"present", s.present}, {"dpl", s.dpl}, {"db", s.db},             {"s", s.s},
          {"l", s.l},         {"g", s.g},         {"avl", s.avl},           {"unusable", s.unusable}};
}

json dtable(const kvm_dtable& d) { return {{"base", d.base}, {"limit", d.limit}}; }

template <typename S>
json system_regs(const S& s) {
  return {{"cs", segment(s.cs)},   {"ds", segment(s.ds)},   {"es", segment(s.es)},   {"fs", segment(s.fs)},
          {"gs", segment(s.gs)},   {"ss", segment(s.ss)},   {"tr", segment(s.tr)},   {"ldt", segment(s.ldt)},
          {"gdt", dtable(s.gdt)},  {"idt", dtable(s.idt)},  {"cr0", s.cr0},          {"cr2", s.cr2},
          {"cr3", s.cr3},          {"cr4", s.cr4},          {"cr8", s.cr8},          {"efer", s.efer},
          {"apic_base", s.apic_base}};
}

std::uint32_t apic_reg(const kvm_lapic_state& l, std::size_t off) {
  return load_le<std::uint32_t>(reinterpret_cast<const std::byte*>(l.regs) + off);
}

Expected<void> counted_length(Bytes b, std::size_t entry, std::size_t max, std::uint32_t& count) {
  if (b.size() < 8) return make_error(Errc::invalid, "body is {} bytes, at least 8 needed", b.size());
  count = load_le<std::uint32_t>(b.data());
  if (std::uint32_t r = load_le<std::uint32_t>(b.data() + 4); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be zero", r);
  if (count > max) return make_error(Errc::invalid, "entry count {} exceeds the limit of {}", count, max);
  if (b.size() != 8 + std::uint64_t{count} * entry)
    return make_error(Errc::invalid, "{} entries need a body of {} bytes, found {}", count, 8 + count * entry,
                      b.size());
  return {};
}

}  // namespace

Expected<void> Codec<TypeCode::vcpu_regs>::check(const kvm_regs&) { return {}; }
json Codec<TypeCode::vcpu_regs>::fields(const kvm_regs& r) {
  return {{"rax", r.rax}, {"rbx", r.rbx}, {"rcx", r.rcx}, {"rdx", r.rdx}, {"rsi", r.rsi}, {"rdi", r.rdi},
          {"rsp", r.rsp}, {"rbp", r.rbp}, {"r8", r.r8},   {"r9", r.r9},   {"r10", r.r10}, {"r11", r.r11},
          {"r12", r.r12}, {"r13", r.r13}, {"r14", r.r14}, {"r15", r.r15}, {"rip", r.rip}, {"rflags", r.rflags}};
}

Expected<void> Codec<TypeCode::vcpu_sregs>::check(const kvm_sregs&) { return {}; }
json Codec<TypeCode::vcpu_sregs>::fields(const kvm_sregs& s) {
  json j = system_regs(s);
  j["interrupt_bitmap"] = json(std::vector<std::uint64_t>(std::begin(s.interrupt_bitmap), std::end(s.interrupt_bitmap)));
  return j;
}

Expected<void> Codec<TypeCode::vcpu_sregs2>::check(const kvm_sregs2& s) {
  if (s.flags & ~std::uint64_t{KVM_SREGS2_FLAGS_PDPTRS_VALID})
    return make_error(Errc::invalid, "unknown flag bits {:#x}", s.flags & ~std::uint64_t{KVM_SREGS2_FLAGS_PDPTRS_VALID});
  return {};
}
json Codec<TypeCode::vcpu_sregs2>::fields(const kvm_sregs2& s) {
  json j = system_regs(s);
  j["flags"] = s.flags;
  j["pdptrs"] = json(std::vector<std::uint64_t>(std::begin(s.pdptrs), std::end(s.pdptrs)));
  return j;
}

Expected<void> Codec<TypeCode::vcpu_xcrs>::check(const kvm_xcrs& x) {
  if (x.nr_xcrs > KVM_MAX_XCRS) return make_error(Errc::invalid, "nr_xcrs {} exceeds {}", x.nr_xcrs, KVM_MAX_XCRS);
  return {};
}
json Codec<TypeCode::vcpu_xcrs>::fields(const kvm_xcrs& x) {
  json list = json::array();
  for (std::uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; ++i)
    list.push_back({{"xcr", x.xcrs[i].xcr}, {"value", x.xcrs[i].value}});
  return {{"nr_xcrs", x.nr_xcrs}, {"flags", x.flags}, {"xcrs", list}};
}

Expected<void> Codec<TypeCode::vcpu_debugregs>::check(const kvm_debugregs&) { return {}; }
json Codec<TypeCode::vcpu_debugregs>::fields(const kvm_debugregs& d) {
  return {{"db", json(std::vector<std::uint64_t>(std::begin(d.db), std::end(d.db)))},
          {"dr6", d.dr6},
          {"dr7", d.dr7},
          {"flags", d.flags}};
}

Expected<void> Codec<TypeCode::vcpu_lapic>::check(const kvm_lapic_state&) { return {}; }
json Codec<TypeCode::vcpu_lapic>::fields(const kvm_lapic_state& l) {
  // Register offsets from the local APIC's memory map.
  return {{"id", apic_reg(l, 0x20) >> 24}, {"version", apic_reg(l, 0x30)}, {"tpr", apic_reg(l, 0x80)},
          {"ldr", apic_reg(l, 0xd0)},      {"svr", apic_reg(l, 0xf0)},     {"lvt_timer", apic_reg(l, 0x320)},
          {"timer_initial_count", apic_reg(l, 0x380)}, {"timer_divide", apic_reg(l, 0x3e0)}};
}

Expected<void> Codec<TypeCode::vcpu_events>::check(const kvm_vcpu_events&) { return {}; }
json Codec<TypeCode::vcpu_events>::fields(const kvm_vcpu_events& e) {
  return {{"exception", {{"injected", e.exception.injected}, {"nr", e.exception.nr},
                         {"has_error_code", e.exception.has_error_code}, {"pending", e.exception.pending},
                         {"error_code", e.exception.error_code}}},
          {"interrupt", {{"injected", e.interrupt.injected}, {"nr", e.interrupt.nr}, {"soft", e.interrupt.soft},
                         {"shadow", e.interrupt.shadow}}},
          {"nmi", {{"injected", e.nmi.injected}, {"pending", e.nmi.pending}, {"masked", e.nmi.masked}}},
          {"sipi_vector", e.sipi_vector},
          {"flags", e.flags},
          {"smi", {{"smm", e.smi.smm}, {"pending", e.smi.pending}, {"smm_inside_nmi", e.smi.smm_inside_nmi},
                   {"latched_init", e.smi.latched_init}}},
          {"triple_fault_pending", e.triple_fault.pending},
          {"exception_has_payload", e.exception_has_payload},
          {"exception_payload", e.exception_payload}};
}

Expected<void> Codec<TypeCode::vcpu_mp_state>::check(const kvm_mp_state& m) {
  if (m.mp_state > KVM_MP_STATE_SUSPENDED)
    return make_error(Errc::invalid, "mp_state {} is not a KVM_MP_STATE value (0..{})", m.mp_state,
                      KVM_MP_STATE_SUSPENDED);
  return {};
}
json Codec<TypeCode::vcpu_mp_state>::fields(const kvm_mp_state& m) { return {{"mp_state", m.mp_state}}; }

namespace {
json pic_fields(const kvm_pic_state& p) {
  return {{"last_irr", p.last_irr}, {"irr", p.irr}, {"imr", p.imr}, {"isr", p.isr},
          {"priority_add", p.priority_add}, {"irq_base", p.irq_base}, {"read_reg_select", p.read_reg_select},
          {"poll", p.poll}, {"special_mask", p.special_mask}, {"init_state", p.init_state},
          {"auto_eoi", p.auto_eoi}, {"rotate_on_auto_eoi", p.rotate_on_auto_eoi},
          {"special_fully_nested_mode", p.special_fully_nested_mode}, {"init4", p.init4}, {"elcr", p.elcr},
          {"elcr_mask", p.elcr_mask}};
}
}  // namespace

Expected<void> Codec<TypeCode::pic_master>::check(const kvm_pic_state&) { return {}; }
json Codec<TypeCode::pic_master>::fields(const kvm_pic_state& p) { return pic_fields(p); }
Expected<void> Codec<TypeCode::pic_slave>::check(const kvm_pic_state&) { return {}; }
json Codec<TypeCode::pic_slave>::fields(const kvm_pic_state& p) { return pic_fields(p); }

Expected<void> Codec<TypeCode::ioapic>::check(const kvm_ioapic_state&) { return {}; }
json Codec<TypeCode::ioapic>::fields(const kvm_ioapic_state& s) {
  json pins = json::array();
  for (const auto& r : s.redirtbl) pins.push_back(r.bits);
  return {{"base_address", s.base_address}, {"ioregsel", s.ioregsel}, {"id", s.id}, {"irr", s.irr},
          {"redirtbl", pins}};
}

Expected<void> Codec<TypeCode::pit>::check(const kvm_pit_state2&) { return {}; }
json Codec<TypeCode::pit>::fields(const kvm_pit_state2& p) {
  json ch = json::array();
  for (const auto& c : p.channels)
    ch.push_back({{"count", c.count}, {"latched_count", c.latched_count}, {"status", c.status},
                  {"rw_mode", c.rw_mode}, {"mode", c.mode}, {"bcd", c.bcd}, {"gate", c.gate},
                  {"count_load_time", c.count_load_time}});
  return {{"channels", ch}, {"flags", p.flags}};
}

Expected<void> Codec<TypeCode::kvm_clock>::check(const kvm_clock_data&) { return {}; }
json Codec<TypeCode::kvm_clock>::fields(const kvm_clock_data& c) {
  return {{"clock", c.clock}, {"flags", c.flags}, {"realtime", c.realtime}, {"host_tsc", c.host_tsc}};
}

Expected<XsaveArea> Codec<TypeCode::vcpu_xsave>::decode(Bytes b) {
  if (b.size() < kXsaveMin || b.size() > kXsaveMax)
    return make_error(Errc::invalid, "XSAVE area of {} bytes is outside {}..{}", b.size(), kXsaveMin, kXsaveMax);
  if (b.size() % 4 != 0) return make_error(Errc::invalid, "XSAVE area of {} bytes is not a multiple of 4", b.size());
  return XsaveArea{std::vector<std::byte>(b.begin(), b.end())};
}
json Codec<TypeCode::vcpu_xsave>::fields(const XsaveArea& x) {
  // Legacy region: FCW at 0, MXCSR at 24; XSAVE header at 512.
  const std::byte* p = x.bytes.data();
  return {{"size", x.bytes.size()},
          {"fcw", load_le<std::uint16_t>(p)},
          {"mxcsr", load_le<std::uint32_t>(p + 24)},
          {"xstate_bv", load_le<std::uint64_t>(p + 512)},
          {"xcomp_bv", load_le<std::uint64_t>(p + 520)}};
}

Expected<MsrList> Codec<TypeCode::vcpu_msrs>::decode(Bytes b) {
  std::uint32_t n = 0;
  TERN_TRY(counted_length(b, kMsrEntrySize, kMaxMsrs, n));
  MsrList v;
  v.entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::byte* e = b.data() + 8 + i * kMsrEntrySize;
    if (std::uint32_t r = load_le<std::uint32_t>(e + 4); r != 0)
      return make_error(Errc::invalid, "MSR entry {} reserved field is {:#x}, must be zero", i, r);
    v.entries.push_back({load_le<std::uint32_t>(e), load_le<std::uint64_t>(e + 8)});
  }
  return v;
}
json Codec<TypeCode::vcpu_msrs>::fields(const MsrList& v) {
  json list = json::array();
  for (const MsrEntry& e : v.entries) list.push_back({{"index", e.index}, {"value", e.value}});
  return {{"count", v.entries.size()}, {"msrs", list}};
}

Expected<CpuidList> Codec<TypeCode::vcpu_cpuid>::decode(Bytes b) {
  std::uint32_t n = 0;
  TERN_TRY(counted_length(b, kCpuidEntrySize, kMaxCpuid, n));
  CpuidList v;
  v.entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::byte* e = b.data() + 8 + i * kCpuidEntrySize;
    if (std::uint32_t r = load_le<std::uint32_t>(e + 28); r != 0)
      return make_error(Errc::invalid, "CPUID entry {} reserved field is {:#x}, must be zero", i, r);
    v.entries.push_back({load_le<std::uint32_t>(e), load_le<std::uint32_t>(e + 4), load_le<std::uint32_t>(e + 8),
                         load_le<std::uint32_t>(e + 12), load_le<std::uint32_t>(e + 16),
                         load_le<std::uint32_t>(e + 20), load_le<std::uint32_t>(e + 24)});
  }
  return v;
}
json Codec<TypeCode::vcpu_cpuid>::fields(const CpuidList& v) {
  json list = json::array();
  for (const CpuidEntry& e : v.entries)
    list.push_back({{"function", e.function}, {"index", e.index}, {"flags", e.flags}, {"eax", e.eax},
                    {"ebx", e.ebx}, {"ecx", e.ecx}, {"edx", e.edx}});
  return {{"count", v.entries.size()}, {"entries", list}};
}

Expected<TscKhz> Codec<TypeCode::vcpu_tsc_khz>::decode(Bytes b) {
  if (b.size() != 8) return make_error(Errc::invalid, "body is {} bytes, expected 8", b.size());
  if (std::uint32_t r = load_le<std::uint32_t>(b.data() + 4); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be zero", r);
  return TscKhz{load_le<std::uint32_t>(b.data())};
}
json Codec<TypeCode::vcpu_tsc_khz>::fields(const TscKhz& v) { return {{"khz", v.khz}}; }

}  // namespace tern::stream::domctx
