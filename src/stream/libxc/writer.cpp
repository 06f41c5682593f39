#include "stream/libxc/writer.hpp"

#include <array>

namespace tern::stream::libxc {

std::uint32_t aligned_batch_count(std::uint64_t record_offset, std::uint32_t max_batch) {
  constexpr std::uint64_t kAlign = 4096;
  constexpr std::uint64_t kPerAlign = kAlign / 8;  // pfn entries per 4 KiB
  // Payload starts at record_offset + 16 + 8c; find c with that = 0 mod 4096.
  std::uint64_t fixed = (record_offset + kRecordHeaderSize + kPageDataHeaderSize) % kAlign;
  if (fixed % 8 != 0) return max_batch;
  std::uint64_t c0 = ((kAlign - fixed) % kAlign) / 8;  // smallest solution, in [0, 511]
  if (c0 == 0) c0 = kPerAlign;                         // count must be > 0
  if (c0 > max_batch) return max_batch;
  return static_cast<std::uint32_t>(c0 + (max_batch - c0) / kPerAlign * kPerAlign);
}

Writer::Writer(ByteSink& sink) : sink_(sink), records_(sink) {}

Expected<void> Writer::write_header(const StreamHeader& h) {
  if (rules_) return make_error(Errc::usage, "libxc writer: header written twice");
  if (h.version != kVersion2 && h.version != kVersion3)
    return make_error(Errc::usage, "libxc writer: cannot write version {} (tern writes 3, and 2 for tests)", h.version);
  if (h.options != 0) return make_error(Errc::usage, "libxc writer: only little-endian streams without options are written");
  if (h.page_shift != kX86PageShift) return make_error(Errc::usage, "libxc writer: page_shift must be 12 on x86");
  std::array<std::byte, kHeadersSize> buf{};
  encode_headers(h, buf);
  TERN_TRY(sink_.write(buf));
  header_ = h;
  rules_.emplace(h.domain_type, h.version);
  return {};
}

Expected<void> Writer::admit(std::uint32_t type) {
  if (!rules_) return make_error(Errc::usage, "libxc writer: record {} before the header", record_type_name(type));
  auto a = rules_->admit(type);
  if (!a)
    return make_error(Errc::usage, "libxc writer: offset {}: cannot write {}: {}", offset(), record_type_name(type),
                      a.error().message());
  return {};
}

Expected<void> Writer::emit(std::uint32_t type, std::span<const Bytes> parts) {
  TERN_TRY(admit(type));
  return records_.write(type, parts);
}

Expected<void> Writer::write_page_data(std::span<const std::uint64_t> entries, std::span<const Bytes> pages) {
  if (entries.empty() || entries.size() > kMaxPageDataCount)
    return make_error(Errc::usage, "libxc writer: PAGE_DATA needs 1..{} pfn entries, got {}", kMaxPageDataCount, entries.size());
  scratch_.resize(kPageDataHeaderSize + 8 * entries.size());
  store_le<std::uint32_t>(scratch_.data(), static_cast<std::uint32_t>(entries.size()));
  store_le<std::uint32_t>(scratch_.data() + 4, 0);
  for (std::size_t i = 0; i < entries.size(); ++i) store_le<std::uint64_t>(scratch_.data() + 8 + 8 * i, entries[i]);
  auto data = check_pfn_array(Bytes(scratch_).subspan(kPageDataHeaderSize));
  if (!data) return make_error(Errc::usage, "libxc writer: PAGE_DATA: {}", data.error().message());
  std::uint64_t have = 0;
  for (Bytes p : pages) have += p.size();
  std::uint64_t want = std::uint64_t{*data} * header_.page_size();
  if (have != want)
    return make_error(Errc::usage, "libxc writer: PAGE_DATA: {} bytes of pages given, {} data pages need {}", have, *data, want);
  // One gather write: [header + pfns][page parts...], pages straight from the caller.
  std::array<Bytes, 64> small;
  std::vector<Bytes> large;
  std::span<Bytes> parts;
  if (pages.size() + 1 <= small.size()) {
    parts = std::span<Bytes>(small.data(), pages.size() + 1);
  } else {
    large.resize(pages.size() + 1);
    parts = large;
  }
  parts[0] = scratch_;
  std::copy(pages.begin(), pages.end(), parts.begin() + 1);
  return emit(code(RecordType::page_data), parts);
}

Expected<void> Writer::write_pv_info(const PvInfo& info) {
  if ((info.guest_width != 4 && info.guest_width != 8) || (info.pt_levels != 3 && info.pt_levels != 4))
    return make_error(Errc::usage, "libxc writer: X86_PV_INFO width {} / levels {} invalid", info.guest_width, info.pt_levels);
  std::array<std::byte, kPvInfoSize> b{};
  b[0] = std::byte{info.guest_width};
  b[1] = std::byte{info.pt_levels};
  TERN_TRY(write_raw(code(RecordType::x86_pv_info), b));
  guest_width_ = info.guest_width;
  return {};
}

Expected<void> Writer::write_p2m_frames(std::uint32_t start_pfn, std::uint32_t end_pfn, std::span<const std::uint64_t> frames) {
  if (start_pfn > end_pfn) return make_error(Errc::usage, "libxc writer: X86_PV_P2M_FRAMES start above end");
  if (guest_width_ != 0) {
    std::uint64_t per = header_.page_size() / guest_width_;
    std::uint64_t n = end_pfn / per - start_pfn / per + 1;
    if (frames.size() != n)
      return make_error(Errc::usage, "libxc writer: X86_PV_P2M_FRAMES needs {} frames for pfns {:#x}-{:#x}, got {}", n,
                        start_pfn, end_pfn, frames.size());
  }
  scratch_.resize(kP2mFramesHeaderSize + 8 * frames.size());
  store_le<std::uint32_t>(scratch_.data(), start_pfn);
  store_le<std::uint32_t>(scratch_.data() + 4, end_pfn);
  for (std::size_t i = 0; i < frames.size(); ++i) store_le<std::uint64_t>(scratch_.data() + 8 + 8 * i, frames[i]);
  return write_raw(code(RecordType::x86_pv_p2m_frames), scratch_);
}

Expected<void> Writer::write_vcpu(RecordType type, std::uint32_t vcpu_id, Bytes context) {
  if (type != RecordType::x86_pv_vcpu_basic && type != RecordType::x86_pv_vcpu_extended &&
      type != RecordType::x86_pv_vcpu_xsave && type != RecordType::x86_pv_vcpu_msrs)
    return make_error(Errc::usage, "libxc writer: {} is not a vCPU record type", record_type_name(code(type)));
  std::array<std::byte, kVcpuHeaderSize> h{};
  store_le<std::uint32_t>(h.data(), vcpu_id);
  Bytes parts[] = {h, context};
  return emit(code(type), parts);
}

Expected<void> Writer::write_shared_info(Bytes page) {
  if (page.size() != header_.page_size())
    return make_error(Errc::usage, "libxc writer: SHARED_INFO must be one page, got {} bytes", page.size());
  return write_raw(code(RecordType::shared_info), page);
}

Expected<void> Writer::write_tsc_info(const TscInfo& t) {
  std::array<std::byte, kTscInfoSize> b{};
  store_le<std::uint32_t>(b.data(), t.mode);
  store_le<std::uint32_t>(b.data() + 4, t.khz);
  store_le<std::uint64_t>(b.data() + 8, t.nsec);
  store_le<std::uint32_t>(b.data() + 16, t.incarnation);
  return write_raw(code(RecordType::x86_tsc_info), b);
}

Expected<void> Writer::write_hvm_context(std::span<const Bytes> parts) {
  std::uint64_t n = 0;
  for (Bytes p : parts) n += p.size();
  if (n == 0) return make_error(Errc::usage, "libxc writer: HVM_CONTEXT must not be empty");
  return emit(code(RecordType::hvm_context), parts);
}

Expected<void> Writer::write_hvm_params(std::span<const HvmParam> params) {
  if (params.size() > kMaxHvmParams) return make_error(Errc::usage, "libxc writer: too many HVM params ({})", params.size());
  scratch_.assign(kHvmParamsHeaderSize + kHvmParamEntrySize * params.size(), std::byte{0});
  store_le<std::uint32_t>(scratch_.data(), static_cast<std::uint32_t>(params.size()));
  for (std::size_t i = 0; i < params.size(); ++i) {
    store_le<std::uint64_t>(scratch_.data() + 8 + 16 * i, params[i].index);
    store_le<std::uint64_t>(scratch_.data() + 16 + 16 * i, params[i].value);
  }
  return write_raw(code(RecordType::hvm_params), scratch_);
}

Expected<void> Writer::write_verify() { return write_raw(code(RecordType::verify), Bytes{}); }
Expected<void> Writer::write_checkpoint() { return write_raw(code(RecordType::checkpoint), Bytes{}); }
Expected<void> Writer::write_static_data_end() { return write_raw(code(RecordType::static_data_end), Bytes{}); }
Expected<void> Writer::write_end() { return write_raw(code(RecordType::end), Bytes{}); }

Expected<void> Writer::write_dirty_pfn_list(std::span<const std::uint64_t> pfns) {
  scratch_.resize(8 * pfns.size());
  for (std::size_t i = 0; i < pfns.size(); ++i) store_le<std::uint64_t>(scratch_.data() + 8 * i, pfns[i]);
  return write_raw(code(RecordType::checkpoint_dirty_pfn_list), scratch_);
}

Expected<void> Writer::write_cpuid_policy(std::span<const CpuidLeaf> leaves) {
  scratch_.resize(kCpuidLeafSize * leaves.size());
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    std::byte* p = scratch_.data() + kCpuidLeafSize * i;
    const CpuidLeaf& l = leaves[i];
    store_le(p, l.leaf), store_le(p + 4, l.subleaf), store_le(p + 8, l.a);
    store_le(p + 12, l.b), store_le(p + 16, l.c), store_le(p + 20, l.d);
  }
  return write_raw(code(RecordType::x86_cpuid_policy), scratch_);
}

Expected<void> Writer::write_msr_policy(std::span<const MsrEntry> entries) {
  scratch_.resize(kMsrEntrySize * entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::byte* p = scratch_.data() + kMsrEntrySize * i;
    store_le(p, entries[i].idx), store_le(p + 4, entries[i].flags), store_le(p + 8, entries[i].val);
  }
  return write_raw(code(RecordType::x86_msr_policy), scratch_);
}

Expected<void> Writer::write_raw(std::uint32_t type, std::span<const Bytes> body_parts) {
  return emit(type, body_parts);
}

}  // namespace tern::stream::libxc
