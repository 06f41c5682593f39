// Constants and byte layouts of the libxc migration stream ("libxenctrl
// Domain Image Format", versions 2 and 3). Everything here is a fact of the
// format; docs/FORMAT.md §3 describes the layout in prose.
//
//   image header (24 bytes, big-endian)
//   domain header (16 bytes, stream byte order = little-endian)
//   records: u32 type | u32 body_length | body | zero pad to 8 (record_framing)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::stream::libxc {

inline constexpr std::uint64_t kImageMarker = 0xFFFFFFFFFFFFFFFFull;
inline constexpr std::uint32_t kImageId = 0x58454E46;  // "XENF"
inline constexpr std::uint32_t kVersion2 = 2;
inline constexpr std::uint32_t kVersion3 = 3;  // what tern writes
inline constexpr std::uint16_t kOptionBigEndian = 0x0001;   // options bit 0
inline constexpr std::uint16_t kOptionReservedMask = 0xFFFE;  // bits 1-15

inline constexpr std::size_t kImageHeaderSize = 24;
inline constexpr std::size_t kDomainHeaderSize = 16;
inline constexpr std::size_t kHeadersSize = kImageHeaderSize + kDomainHeaderSize;

inline constexpr std::uint32_t kX86PageShift = 12;
inline constexpr std::uint32_t kX86PageSize = 1u << kX86PageShift;

enum class DomainType : std::uint32_t {
  x86_pv = 1,
  x86_hvm = 2,
};

// Record type codes (spec section 4). Bit 31 marks optional records.
enum class RecordType : std::uint32_t {
  end = 0x00,
  page_data = 0x01,
  x86_pv_info = 0x02,
  x86_pv_p2m_frames = 0x03,
  x86_pv_vcpu_basic = 0x04,
  x86_pv_vcpu_extended = 0x05,
  x86_pv_vcpu_xsave = 0x06,
  shared_info = 0x07,
  x86_tsc_info = 0x08,
  hvm_context = 0x09,
  hvm_params = 0x0A,
  toolstack = 0x0B,  // deprecated; accepted when reading, never written by tern
  x86_pv_vcpu_msrs = 0x0C,
  verify = 0x0D,
  checkpoint = 0x0E,
  checkpoint_dirty_pfn_list = 0x0F,
  static_data_end = 0x10,
  x86_cpuid_policy = 0x11,
  x86_msr_policy = 0x12,
};
inline constexpr std::uint32_t kRecordTypeCount = 0x13;  // known types are [0, 0x13)
inline constexpr std::uint32_t kOptionalRecordBit = 0x80000000u;

[[nodiscard]] constexpr std::uint32_t code(RecordType t) { return static_cast<std::uint32_t>(t); }
[[nodiscard]] constexpr bool is_known_type(std::uint32_t t) { return t < kRecordTypeCount; }
[[nodiscard]] constexpr bool is_optional_type(std::uint32_t t) { return (t & kOptionalRecordBit) != 0; }

// "PAGE_DATA", "X86_PV_INFO", ..., "UNKNOWN_OPTIONAL(0x80000005)", "UNKNOWN(0x13)".
[[nodiscard]] std::string record_type_name(std::uint32_t type);
[[nodiscard]] std::string_view domain_type_name(DomainType t);  // "x86 PV", "x86 HVM"

// PAGE_DATA pfn entries: bits 63-60 page type, 59-52 reserved (zero), 51-0 pfn.
inline constexpr unsigned kPfnTypeShift = 60;
inline constexpr std::uint64_t kPfnMask = (1ull << 52) - 1;
inline constexpr std::uint64_t kPfnReservedMask = 0xFFull << 52;

// XEN_DOMCTL_PFINFO_* page types (the high nibble of a pfn entry).
enum class PageType : std::uint8_t {
  notab = 0x0,
  l1tab = 0x1,
  l2tab = 0x2,
  l3tab = 0x3,
  l4tab = 0x4,
  // 0x5-0x8 reserved: a stream using them is rejected
  l1tab_pin = 0x9,
  l2tab_pin = 0xA,
  l3tab_pin = 0xB,
  l4tab_pin = 0xC,
  broken = 0xD,
  xalloc = 0xE,
  xtab = 0xF,
};
inline constexpr unsigned kPageTypeCount = 16;

[[nodiscard]] constexpr bool page_type_is_reserved(unsigned t) { return t >= 5 && t <= 8; }
// Types whose pages carry page_size bytes of payload (not BROKEN/XALLOC/XTAB).
[[nodiscard]] constexpr bool page_type_has_data(unsigned t) { return t <= 4 || (t >= 9 && t <= 12); }
[[nodiscard]] std::string_view page_type_name(unsigned t);  // "NOTAB", ..., "RESERVED(0x6)"

[[nodiscard]] constexpr std::uint64_t make_pfn_entry(std::uint64_t pfn, PageType t) {
  return (static_cast<std::uint64_t>(t) << kPfnTypeShift) | (pfn & kPfnMask);
}
[[nodiscard]] constexpr unsigned pfn_entry_type(std::uint64_t e) { return static_cast<unsigned>(e >> kPfnTypeShift); }
[[nodiscard]] constexpr std::uint64_t pfn_entry_pfn(std::uint64_t e) { return e & kPfnMask; }

// Sizes of fixed parts of record bodies.
inline constexpr std::size_t kPageDataHeaderSize = 8;     // u32 count, u32 reserved
inline constexpr std::size_t kPvInfoSize = 8;             // u8 width, u8 levels, 6 reserved
inline constexpr std::size_t kP2mFramesHeaderSize = 8;    // u32 start_pfn, u32 end_pfn
inline constexpr std::size_t kVcpuHeaderSize = 8;         // u32 vcpu_id, u32 reserved
inline constexpr std::size_t kTscInfoSize = 24;           // u32 mode, u32 khz, u64 nsec, u32 incarnation, u32 reserved
inline constexpr std::size_t kHvmParamsHeaderSize = 8;    // u32 count, u32 reserved
inline constexpr std::size_t kHvmParamEntrySize = 16;     // u64 index, u64 value
inline constexpr std::size_t kCpuidLeafSize = 24;         // xen_cpuid_leaf_t: leaf, subleaf, a, b, c, d (u32 each)
inline constexpr std::size_t kMsrEntrySize = 16;          // xen_msr_entry_t: u32 idx, u32 flags, u64 val

// Limits tern applies to record bodies so hostile input cannot make a
// buffered reader allocate without bound (documented in docs/FORMAT.md §3).
inline constexpr std::uint32_t kMaxPageDataCount = 1u << 16;           // pages per PAGE_DATA
inline constexpr std::uint32_t kMaxBlobBody = 16u << 20;               // HVM_CONTEXT, vCPU blobs, TOOLSTACK
inline constexpr std::uint32_t kMaxP2mFramesBody = (64u << 20) + 8;    // covers 2^32 pfns
inline constexpr std::uint32_t kMaxHvmParams = 4096;
inline constexpr std::uint32_t kMaxPolicyBody = 1u << 20;              // CPUID / MSR policies
inline constexpr std::uint32_t kMaxPfnListBody = 64u << 20;            // CHECKPOINT_DIRTY_PFN_LIST
inline constexpr std::uint32_t kMaxOptionalBody = 64u << 20;           // unknown optional records

// Upper bound for the body of a record of `type` (page_size from the
// domain header). Exact-size checks happen when the body is parsed.
[[nodiscard]] std::uint32_t max_body_length(std::uint32_t type, std::uint32_t page_size);

}  // namespace tern::stream::libxc
