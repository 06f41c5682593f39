// Typed records of the xenstore image. The same structs are written by
// ImageWriter and produced by ImageReader. Strings and data are views: on
// read they point into the source (or the reader's scratch space) and stay
// valid until the next call to ImageReader::next(); on write they only need to
// live for the duration of the write call.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "core/bytes.hpp"
#include "stream/xenstore/image_format.hpp"
#include "stream/xenstore/perm.hpp"
#include "stream/xenstore/tern_records.hpp"

namespace tern::stream::xenstore {

struct Header {
  std::uint32_t version = kVersion2;
  bool big_endian = false;  // byte order of every record after the header
};

struct EndRecord {};

// Live update only: the fds the daemon keeps across exec (-1 = unused).
struct GlobalData {
  std::int32_t rw_socket_fd = -1;
  std::int32_t evtchn_fd = -1;
};

struct RingSpec {
  std::uint16_t domid = 0;
  std::uint16_t tdomid = kDomidInvalid;  // SET_TARGET target, or DOMID_INVALID
  std::uint32_t evtchn = 0;              // xenstored's local port to domid
};

struct SocketSpec {
  std::int32_t socket_fd = -1;
};

struct ConnectionData {
  std::uint32_t conn_id = 0;  // non-zero, unique in the image
  std::variant<RingSpec, SocketSpec> spec;
  Bytes in_data;                   // read from the connection, not yet processed
  Bytes out_data;                  // not yet written, starting with the partial response
  std::uint16_t out_resp_len = 0;  // leading bytes of out_data that are a partial response

  [[nodiscard]] std::uint16_t conn_type() const {
    return std::holds_alternative<RingSpec>(spec) ? kConnTypeSharedRing : kConnTypeSocket;
  }
};

// WATCH_DATA, or WATCH_DATA_EXTENDED (version 2) when `depth` is set.
struct WatchData {
  std::uint32_t conn_id = 0;
  std::string_view path;   // without the NUL terminator
  std::string_view token;  // without the NUL terminator
  std::optional<std::uint16_t> depth;  // kWatchDepthUnlimited = no limit
};

struct TransactionData {
  std::uint32_t conn_id = 0;
  std::uint32_t tx_id = 0;
};

// A committed node (conn_id == 0) or a node touched by a pending transaction.
// A pending node with no permissions is a node deleted in that transaction.
struct NodeData {
  std::uint32_t conn_id = 0;
  std::uint32_t tx_id = 0;     // only meaningful when conn_id != 0
  std::uint16_t access = 0;    // kAccessRead | kAccessWritten, pending nodes only
  std::span<const Perm> perms;  // perms[0] names the owner
  std::string_view path;        // without the NUL terminator
  Bytes value;                  // may be empty or contain NULs

  [[nodiscard]] bool pending() const { return conn_id != 0; }
  [[nodiscard]] bool deleted() const { return pending() && perms.empty(); }
};

struct Quota {
  std::string_view name;
  std::uint32_t value = 0;  // 0 = unlimited
};

struct GlobalQuotaData {
  std::span<const Quota> per_domain;  // defaults applied to each domain
  std::span<const Quota> global;      // global-only settings
};

struct DomainData {
  std::uint16_t domid = 0;
  std::uint32_t features = 0;  // ring-page feature word; version 2 only (zero in version 1)
  std::span<const Quota> quotas;
};

using RecordBody = std::variant<EndRecord, GlobalData, ConnectionData, WatchData, TransactionData,
                                NodeData, GlobalQuotaData, DomainData, TernConnectionData, TernDomainData,
                                TernTransactionData, TernRingData>;

// The record type a body is written as.
[[nodiscard]] RecordType record_type_of(const RecordBody& body);

// One record as read, with where it was.
struct Record {
  std::uint64_t index = 0;   // 0-based, counting records after the header
  std::uint64_t offset = 0;  // image offset of the record header
  RecordType type = RecordType::end;
  std::uint32_t length = 0;  // the len field as stored
  // True when len counted the trailing padding (as Xen's C xenstored writes it)
  // rather than only the body (as the spec says).
  bool padding_in_length = false;
  RecordBody body;
};

}  // namespace tern::stream::xenstore
