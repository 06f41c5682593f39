// Constants of the xenstore migration / live-update image
// (docs/designs/xenstore-migration.md in Xen; tern's notes: docs/FORMAT.md §5).
// The 16-byte header is always big-endian; everything after it uses the byte
// order named by the header's endianness flag.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::stream::xenstore {

// "xenstore" in ASCII.
inline constexpr std::array<char, 8> kIdent = {'x', 'e', 'n', 's', 't', 'o', 'r', 'e'};
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::size_t kRecordAlign = 8;

inline constexpr std::uint32_t kVersion1 = 1;
inline constexpr std::uint32_t kVersion2 = 2;
inline constexpr std::uint32_t kFlagBigEndian = 0x1;  // header flags bit 0
inline constexpr std::uint32_t kFlagsReserved = ~kFlagBigEndian;

enum class RecordType : std::uint32_t {
  end = 0,
  global_data = 1,
  connection_data = 2,
  watch_data = 3,
  transaction_data = 4,
  node_data = 5,
  global_quota_data = 6,
  domain_data = 7,
  watch_data_extended = 8,  // version 2 and up
  tern_data = 0x7465726e,   // tern's extension records (tern_records.hpp), version 2 and up
};
inline constexpr std::uint32_t kRecordTypeCount = 9;  // types 0-8 of the spec
// Per-type counters are indexed by slot: the spec's types 0-8, then TERN_DATA.
inline constexpr std::size_t kRecordTypeSlots = kRecordTypeCount + 1;
[[nodiscard]] constexpr bool is_known_record_type(std::uint32_t type) {
  return type < kRecordTypeCount || type == static_cast<std::uint32_t>(RecordType::tern_data);
}
[[nodiscard]] constexpr std::size_t record_type_slot(RecordType t) {
  return t == RecordType::tern_data ? kRecordTypeCount : static_cast<std::size_t>(t);
}
[[nodiscard]] constexpr RecordType record_type_at_slot(std::size_t slot) {
  return slot == kRecordTypeCount ? RecordType::tern_data : static_cast<RecordType>(slot);
}

// "NODE_DATA", or "unknown type 0x0000002a".
[[nodiscard]] std::string record_type_name(std::uint32_t type);
[[nodiscard]] inline std::string record_type_name(RecordType t) {
  return record_type_name(static_cast<std::uint32_t>(t));
}
// Lowest image version in which a record type is valid (0 for unknown types).
[[nodiscard]] std::uint32_t record_min_version(std::uint32_t type);

// Fixed-size parts of the record bodies, in bytes.
inline constexpr std::size_t kGlobalDataSize = 8;
inline constexpr std::size_t kConnectionFixedSize = 24;
inline constexpr std::size_t kWatchFixedSize = 8;
inline constexpr std::size_t kWatchExtendedFixedSize = 12;
inline constexpr std::size_t kTransactionDataSize = 8;
inline constexpr std::size_t kNodeFixedSize = 16;
inline constexpr std::size_t kPermSize = 4;
inline constexpr std::size_t kGlobalQuotaFixedSize = 4;
inline constexpr std::size_t kDomainFixedSize = 8;
inline constexpr std::size_t kQuotaValueSize = 4;

inline constexpr std::uint16_t kConnTypeSharedRing = 0;
inline constexpr std::uint16_t kConnTypeSocket = 1;

inline constexpr std::uint16_t kDomidInvalid = 0x7ff4;  // DOMID_INVALID, xen/include/public/xen.h
inline constexpr std::uint16_t kWatchDepthUnlimited = 0xffff;

inline constexpr std::uint16_t kAccessRead = 0x0001;
inline constexpr std::uint16_t kAccessWritten = 0x0002;
inline constexpr std::uint16_t kAccessMask = kAccessRead | kAccessWritten;

inline constexpr std::uint8_t kPermFlagStale = 0x01;
inline constexpr std::uint8_t kPermFlagsMask = kPermFlagStale;

// Upper bound on one record body that tern accepts. xenstore messages are at
// most 4 KiB and nodes are bounded by quota, so only a connection's pending
// output can be large; 64 MiB is far above anything a daemon keeps queued and
// keeps a hostile length from making a buffered source allocate 4 GiB.
inline constexpr std::uint32_t kMaxRecordBody = 64u << 20;

[[nodiscard]] constexpr bool is_perm_char(char c) {
  return c == 'r' || c == 'w' || c == 'b' || c == 'n';
}

}  // namespace tern::stream::xenstore
