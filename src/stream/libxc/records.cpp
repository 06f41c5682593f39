#include "stream/libxc/records.hpp"

#include <algorithm>

namespace tern::stream::libxc {

CpuidLeaf CpuidPolicy::leaf(std::size_t i) const {
  const std::byte* p = raw.data() + kCpuidLeafSize * i;
  return {load_le<std::uint32_t>(p),      load_le<std::uint32_t>(p + 4),  load_le<std::uint32_t>(p + 8),
          load_le<std::uint32_t>(p + 12), load_le<std::uint32_t>(p + 16), load_le<std::uint32_t>(p + 20)};
}

MsrEntry MsrPolicy::entry(std::size_t i) const {
  const std::byte* p = raw.data() + kMsrEntrySize * i;
  return {load_le<std::uint32_t>(p), load_le<std::uint32_t>(p + 4), load_le<std::uint64_t>(p + 8)};
}

Expected<StreamHeader> parse_headers(Bytes h, std::uint64_t base) {
  if (h.size() < kImageHeaderSize)
    return make_error(Errc::truncated, "libxc stream: offset {}: input ends inside the image header ({} of {} bytes)",
                      base + h.size(), h.size(), kImageHeaderSize);
  const std::byte* p = h.data();
  if (auto marker = load_be<std::uint64_t>(p); marker != kImageMarker)
    return make_error(Errc::invalid, "libxc stream: offset {}: image header: marker is {:#018x}, expected 0xffffffffffffffff{}", base,
                      marker, marker != 0 ? " (a legacy pre-v2 image, not supported?)" : "");
  if (auto id = load_be<std::uint32_t>(p + 8); id != kImageId)
    return make_error(Errc::invalid, "libxc stream: offset {}: image header: id is {:#010x}, expected 0x58454e46 (\"XENF\")", base + 8, id);
  StreamHeader out;
  out.version = load_be<std::uint32_t>(p + 12);
  if (out.version != kVersion2 && out.version != kVersion3)
    return make_error(Errc::unsupported, "libxc stream: offset {}: image header: version {} is not supported (tern reads 2 and 3)", base + 12,
                      out.version);
  out.options = load_be<std::uint16_t>(p + 16);
  if (out.options & kOptionReservedMask)
    return make_error(Errc::invalid, "libxc stream: offset {}: image header: reserved option bits {:#06x} are set", base + 16,
                      out.options & kOptionReservedMask);
  if (out.options & kOptionBigEndian)
    return make_error(Errc::unsupported, "libxc stream: offset {}: image header: big-endian streams are not supported", base + 16);
  if (!all_zero(h.subspan(18, 6)))
    return make_error(Errc::invalid, "libxc stream: offset {}: image header: reserved bytes are not zero", base + 18);

  if (h.size() < kHeadersSize)
    return make_error(Errc::truncated, "libxc stream: offset {}: input ends inside the domain header ({} of {} bytes)",
                      base + h.size(), h.size() - kImageHeaderSize, kDomainHeaderSize);
  p += kImageHeaderSize;
  std::uint32_t type = load_le<std::uint32_t>(p);
  if (type != 1 && type != 2)
    return make_error(Errc::invalid, "libxc stream: offset {}: domain header: domain type {:#x} is not x86 PV (1) or x86 HVM (2)", base + 24,
                      type);
  out.domain_type = static_cast<DomainType>(type);
  out.page_shift = load_le<std::uint16_t>(p + 4);
  if (out.page_shift != kX86PageShift)
    return make_error(Errc::invalid, "libxc stream: offset {}: domain header: page_shift {} is not 12 (x86 pages are 4 KiB)", base + 28,
                      out.page_shift);
  if (auto r = load_le<std::uint16_t>(p + 6); r != 0)
    return make_error(Errc::invalid, "libxc stream: offset {}: domain header: reserved field is {:#x}, must be 0", base + 30, r);
  out.xen_major = load_le<std::uint32_t>(p + 8);
  out.xen_minor = load_le<std::uint32_t>(p + 12);
  return out;
}

void encode_headers(const StreamHeader& h, std::span<std::byte, kHeadersSize> out) {
  std::fill(out.begin(), out.end(), std::byte{0});
  std::byte* p = out.data();
  store_be<std::uint64_t>(p, kImageMarker);
  store_be<std::uint32_t>(p + 8, kImageId);
  store_be<std::uint32_t>(p + 12, h.version);
  store_be<std::uint16_t>(p + 16, h.options);
  p += kImageHeaderSize;
  store_le<std::uint32_t>(p, static_cast<std::uint32_t>(h.domain_type));
  store_le<std::uint16_t>(p + 4, h.page_shift);
  store_le<std::uint32_t>(p + 8, h.xen_major);
  store_le<std::uint32_t>(p + 12, h.xen_minor);
}

Expected<std::uint32_t> parse_page_data_count(Bytes hdr) {
  if (hdr.size() < kPageDataHeaderSize)
    return make_error(Errc::invalid, "body of {} bytes is shorter than the 8-byte PAGE_DATA header", hdr.size());
  std::uint32_t count = load_le<std::uint32_t>(hdr.data());
  if (count == 0) return make_error(Errc::invalid, "count is 0 (must be > 0)");
  if (count > kMaxPageDataCount)
    return make_error(Errc::invalid, "count {} exceeds tern's limit of {} pages per record", count, kMaxPageDataCount);
  if (auto r = load_le<std::uint32_t>(hdr.data() + 4); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be 0", r);
  return count;
}

Expected<std::uint32_t> check_pfn_array(Bytes pfns) {
  // The only per-page work of verification: one load and two tests per entry.
  const std::size_t n = pfns.size() / 8;
  std::uint32_t data = 0;
  std::uint64_t bad_bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t e = load_le<std::uint64_t>(pfns.data() + 8 * i);
    unsigned t = pfn_entry_type(e);
    bad_bits |= (e & kPfnReservedMask) | static_cast<std::uint64_t>(page_type_is_reserved(t));
    data += page_type_has_data(t) ? 1 : 0;
  }
  if (bad_bits == 0) return data;
  // Slow path only on error: find the first offending entry for the message.
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t e = load_le<std::uint64_t>(pfns.data() + 8 * i);
    if (e & kPfnReservedMask)
      return make_error(Errc::invalid, "pfn[{}] {:#x} has reserved bits 59-52 set ({:#018x})", i, pfn_entry_pfn(e),
                        e & kPfnReservedMask);
    if (page_type_is_reserved(pfn_entry_type(e)))
      return make_error(Errc::invalid, "pfn[{}] {:#x} has reserved page type {:#x}", i, pfn_entry_pfn(e),
                        pfn_entry_type(e));
  }
  return data;
}

namespace {

Expected<RecordBody> parse_page_data(Bytes body, const ParseContext& ctx) {
  TERN_TRY_ASSIGN(std::uint32_t count, parse_page_data_count(body));
  std::uint64_t pfn_bytes = std::uint64_t{count} * 8;
  if (body.size() - kPageDataHeaderSize < pfn_bytes)
    return make_error(Errc::invalid, "body of {} bytes is too short for {} pfn entries", body.size(), count);
  PageData pd;
  pd.count = count;
  pd.pfns = body.subspan(kPageDataHeaderSize, pfn_bytes);
  TERN_TRY_ASSIGN(pd.data_pages, check_pfn_array(pd.pfns));
  std::uint64_t want = kPageDataHeaderSize + pfn_bytes + std::uint64_t{pd.data_pages} * ctx.page_size;
  if (body.size() != want)
    return make_error(Errc::invalid, "body is {} bytes, expected {} (8 + {} pfn entries * 8 + {} data pages * {})",
                      body.size(), want, count, pd.data_pages, ctx.page_size);
  pd.pages = body.subspan(kPageDataHeaderSize + pfn_bytes);
  return pd;
}

Expected<RecordBody> parse_pv_info(Bytes b) {
  if (b.size() != kPvInfoSize) return make_error(Errc::invalid, "body is {} bytes, expected 8", b.size());
  PvInfo i{static_cast<std::uint8_t>(b[0]), static_cast<std::uint8_t>(b[1])};
  if (i.guest_width != 4 && i.guest_width != 8)
    return make_error(Errc::invalid, "guest width {} is not 4 or 8", i.guest_width);
  if (i.pt_levels != 3 && i.pt_levels != 4)
    return make_error(Errc::invalid, "page-table levels {} is not 3 or 4", i.pt_levels);
  if (!all_zero(b.subspan(2))) return make_error(Errc::invalid, "reserved bytes 2-7 are not zero");
  return i;
}

Expected<RecordBody> parse_p2m_frames(Bytes b, const ParseContext& ctx) {
  if (b.size() < kP2mFramesHeaderSize)
    return make_error(Errc::invalid, "body of {} bytes is shorter than the 8-byte header", b.size());
  P2mFrames f;
  f.start_pfn = load_le<std::uint32_t>(b.data());
  f.end_pfn = load_le<std::uint32_t>(b.data() + 4);
  if (f.start_pfn > f.end_pfn)
    return make_error(Errc::invalid, "p2m_start_pfn {:#x} is above p2m_end_pfn {:#x}", f.start_pfn, f.end_pfn);
  if (ctx.guest_width == 0) return make_error(Errc::invalid, "guest width unknown (no X86_PV_INFO)");
  // Each p2m frame holds page_size / guest_width entries.
  std::uint64_t per_frame = ctx.page_size / ctx.guest_width;
  std::uint64_t frames = f.end_pfn / per_frame - f.start_pfn / per_frame + 1;
  std::uint64_t want = kP2mFramesHeaderSize + frames * 8;
  if (b.size() != want)
    return make_error(Errc::invalid, "body is {} bytes, expected {} for {} p2m frames covering pfns {:#x}-{:#x}", b.size(),
                      want, frames, f.start_pfn, f.end_pfn);
  f.frames = b.subspan(kP2mFramesHeaderSize);
  return f;
}

Expected<RecordBody> parse_vcpu(std::uint32_t type, Bytes b) {
  bool errata_ok = type != code(RecordType::x86_pv_vcpu_basic);
  if (b.empty() && errata_ok) return VcpuContext{};  // errata: zero-length record, ignored
  if (b.size() < kVcpuHeaderSize)
    return make_error(Errc::invalid, "body of {} bytes is shorter than the 8-byte vCPU header", b.size());
  VcpuContext v;
  v.vcpu_id = load_le<std::uint32_t>(b.data());
  if (auto r = load_le<std::uint32_t>(b.data() + 4); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be 0", r);
  v.context = b.subspan(kVcpuHeaderSize);
  if (v.context.empty() && !errata_ok) return make_error(Errc::invalid, "vCPU {} context is empty", v.vcpu_id);
  return v;
}

Expected<RecordBody> parse_tsc(Bytes b) {
  if (b.size() != kTscInfoSize) return make_error(Errc::invalid, "body is {} bytes, expected 24", b.size());
  if (auto r = load_le<std::uint32_t>(b.data() + 20); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be 0", r);
  return TscInfo{load_le<std::uint32_t>(b.data()), load_le<std::uint32_t>(b.data() + 4), load_le<std::uint64_t>(b.data() + 8),
                 load_le<std::uint32_t>(b.data() + 16)};
}

Expected<RecordBody> parse_hvm_params(Bytes b) {
  if (b.empty()) return HvmParams{};  // errata: zero-length record, ignored
  if (b.size() < kHvmParamsHeaderSize)
    return make_error(Errc::invalid, "body of {} bytes is shorter than the 8-byte header", b.size());
  HvmParams p;
  p.count = load_le<std::uint32_t>(b.data());
  if (auto r = load_le<std::uint32_t>(b.data() + 4); r != 0)
    return make_error(Errc::invalid, "reserved field is {:#x}, must be 0", r);
  std::uint64_t want = kHvmParamsHeaderSize + std::uint64_t{p.count} * kHvmParamEntrySize;
  if (b.size() != want)
    return make_error(Errc::invalid, "body is {} bytes, expected {} for count {}", b.size(), want, p.count);
  p.entries = b.subspan(kHvmParamsHeaderSize);
  return p;
}

Expected<void> require_multiple(Bytes b, std::size_t unit, std::string_view what) {
  if (b.size() % unit != 0)
    return make_error(Errc::invalid, "body of {} bytes is not a whole number of {}-byte {}", b.size(), unit, what);
  return {};
}

}  // namespace

Expected<RecordBody> parse_body(std::uint32_t type, Bytes b, const ParseContext& ctx) {
  if (!is_known_type(type)) {
    if (is_optional_type(type)) return Opaque{b};
    return make_error(Errc::invalid, "unknown mandatory record type {:#x}", type);
  }
  switch (static_cast<RecordType>(type)) {
    case RecordType::end:
    case RecordType::verify:
    case RecordType::checkpoint:
    case RecordType::static_data_end:
      if (!b.empty()) return make_error(Errc::invalid, "body is {} bytes, must be empty", b.size());
      return Empty{};
    case RecordType::page_data: return parse_page_data(b, ctx);
    case RecordType::x86_pv_info: return parse_pv_info(b);
    case RecordType::x86_pv_p2m_frames: return parse_p2m_frames(b, ctx);
    case RecordType::x86_pv_vcpu_basic:
    case RecordType::x86_pv_vcpu_extended:
    case RecordType::x86_pv_vcpu_xsave:
    case RecordType::x86_pv_vcpu_msrs:
      return parse_vcpu(type, b);
    case RecordType::shared_info:
      if (b.size() != ctx.page_size)
        return make_error(Errc::invalid, "body is {} bytes, expected exactly one page ({})", b.size(), ctx.page_size);
      return Opaque{b};
    case RecordType::x86_tsc_info: return parse_tsc(b);
    case RecordType::hvm_context:
      if (b.empty()) return make_error(Errc::invalid, "HVM context is empty");
      return Opaque{b};
    case RecordType::hvm_params: return parse_hvm_params(b);
    case RecordType::toolstack: return Opaque{b};
    case RecordType::checkpoint_dirty_pfn_list:
      TERN_TRY(require_multiple(b, 8, "pfns"));
      return PfnList{b};
    case RecordType::x86_cpuid_policy:
      TERN_TRY(require_multiple(b, kCpuidLeafSize, "xen_cpuid_leaf_t entries"));
      return CpuidPolicy{b};
    case RecordType::x86_msr_policy:
      TERN_TRY(require_multiple(b, kMsrEntrySize, "xen_msr_entry_t entries"));
      return MsrPolicy{b};
  }
  return make_error(Errc::internal, "unhandled record type {:#x}", type);
}

}  // namespace tern::stream::libxc
