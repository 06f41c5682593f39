// Typed views of libxc record bodies, and their parsers. A view points into
// the bytes it was parsed from (the reader's buffer or an mmap'd file): no
// copies. Parsers check the body's size and every reserved field; they
// return an error that states only the rule broken ("pfn[2] 0x1234 has
// reserved page type 0x6"); the reader prefixes offset, record index and type.
#pragma once

#include <cstdint>
#include <span>
#include <variant>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/libxc/format.hpp"

namespace tern::stream::libxc {

// Image header + domain header, as read or to be written.
struct StreamHeader {
  std::uint32_t version = kVersion3;
  std::uint16_t options = 0;  // bit 0 = big-endian; tern only reads/writes little-endian
  DomainType domain_type = DomainType::x86_hvm;
  std::uint16_t page_shift = kX86PageShift;
  std::uint32_t xen_major = 0;
  std::uint32_t xen_minor = 0;

  [[nodiscard]] std::uint32_t page_size() const { return 1u << page_shift; }
};

// Empty-body records: END, VERIFY, CHECKPOINT, STATIC_DATA_END.
struct Empty {};

// PAGE_DATA. `pfns` holds `count` raw u64 entries (type|reserved|pfn);
// `pages` holds the payload of the `data_pages` entries whose type carries
// data, in pfn-array order (empty when the reader skipped payloads).
struct PageData {
  std::uint32_t count = 0;
  std::uint32_t data_pages = 0;  // N: entries with a data-carrying type
  Bytes pfns;                    // count * 8 bytes, little-endian u64 entries
  Bytes pages;                   // data_pages * page_size bytes, or empty if skipped
  bool payload_skipped = false;
  // Reader in defer mode: the payload is still in the source, for
  // Reader::read_page_payload() to put where the caller wants it.
  bool payload_pending = false;

  [[nodiscard]] std::uint64_t entry(std::size_t i) const { return load_le<std::uint64_t>(pfns.data() + 8 * i); }
  [[nodiscard]] std::uint64_t pfn(std::size_t i) const { return pfn_entry_pfn(entry(i)); }
  [[nodiscard]] unsigned type(std::size_t i) const { return pfn_entry_type(entry(i)); }
};

struct PvInfo {
  std::uint8_t guest_width = 8;  // 4 or 8
  std::uint8_t pt_levels = 4;    // 3 or 4
};

// X86_PV_P2M_FRAMES: frame pfns of the p2m pages covering [start_pfn, end_pfn].
struct P2mFrames {
  std::uint32_t start_pfn = 0;
  std::uint32_t end_pfn = 0;
  Bytes frames;  // u64 entries
  [[nodiscard]] std::size_t frame_count() const { return frames.size() / 8; }
  [[nodiscard]] std::uint64_t frame(std::size_t i) const { return load_le<std::uint64_t>(frames.data() + 8 * i); }
};

// X86_PV_VCPU_{BASIC,EXTENDED,XSAVE,MSRS}. An empty context is the errata
// case (EXTENDED/XSAVE/MSRS only): accepted and to be ignored by consumers.
struct VcpuContext {
  std::uint32_t vcpu_id = 0;
  Bytes context;
};

struct TscInfo {
  std::uint32_t mode = 0;
  std::uint32_t khz = 0;
  std::uint64_t nsec = 0;
  std::uint32_t incarnation = 0;
};

struct HvmParam {
  std::uint64_t index = 0;
  std::uint64_t value = 0;
};

// HVM_PARAMS. count == 0 is the errata case (accepted, to be ignored).
struct HvmParams {
  std::uint32_t count = 0;
  Bytes entries;  // count * 16 bytes
  [[nodiscard]] HvmParam param(std::size_t i) const {
    return {load_le<std::uint64_t>(entries.data() + 16 * i), load_le<std::uint64_t>(entries.data() + 16 * i + 8)};
  }
};

struct CpuidLeaf {
  std::uint32_t leaf = 0, subleaf = 0, a = 0, b = 0, c = 0, d = 0;
};
struct CpuidPolicy {
  Bytes raw;  // n * 24 bytes
  [[nodiscard]] std::size_t size() const { return raw.size() / kCpuidLeafSize; }
  [[nodiscard]] CpuidLeaf leaf(std::size_t i) const;
};

struct MsrEntry {
  std::uint32_t idx = 0;
  std::uint32_t flags = 0;
  std::uint64_t val = 0;
};
struct MsrPolicy {
  Bytes raw;  // n * 16 bytes
  [[nodiscard]] std::size_t size() const { return raw.size() / kMsrEntrySize; }
  [[nodiscard]] MsrEntry entry(std::size_t i) const;
};

// CHECKPOINT_DIRTY_PFN_LIST.
struct PfnList {
  Bytes raw;  // n * 8 bytes
  [[nodiscard]] std::size_t size() const { return raw.size() / 8; }
  [[nodiscard]] std::uint64_t pfn(std::size_t i) const { return load_le<std::uint64_t>(raw.data() + 8 * i); }
};

// SHARED_INFO (one page), HVM_CONTEXT, TOOLSTACK, unknown optional records.
struct Opaque {
  Bytes data;
};

using RecordBody = std::variant<Empty, PageData, PvInfo, P2mFrames, VcpuContext, TscInfo, HvmParams,
                                CpuidPolicy, MsrPolicy, PfnList, Opaque>;

// What a body parser needs to know about the stream so far.
struct ParseContext {
  std::uint32_t page_size = kX86PageSize;
  std::uint8_t guest_width = 0;  // from X86_PV_INFO (0 = not seen)
};

// Parses and validates the body of a record of `type` (which must be a known
// type, or an optional one: those parse as Opaque). Error messages state the
// rule only; callers add offset/record context.
[[nodiscard]] Expected<RecordBody> parse_body(std::uint32_t type, Bytes body, const ParseContext& ctx);

// PAGE_DATA in two steps, for readers that skip payloads: validates the
// 8-byte header (count), then the pfn array, returning N (data pages).
[[nodiscard]] Expected<std::uint32_t> parse_page_data_count(Bytes header8);
[[nodiscard]] Expected<std::uint32_t> check_pfn_array(Bytes pfns);

// Image + domain header (40 bytes). Version must be 2 or 3; little-endian only.
// `base` is the stream offset of the image header (for error messages).
[[nodiscard]] Expected<StreamHeader> parse_headers(Bytes headers40, std::uint64_t base = 0);
void encode_headers(const StreamHeader& h, std::span<std::byte, kHeadersSize> out);

}  // namespace tern::stream::libxc
