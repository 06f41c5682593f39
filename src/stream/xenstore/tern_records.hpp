// tern's extension records of the xenstore image (record type TERN_DATA,
// 0x7465726e = "tern" in ASCII, version 2 images only). They carry what the
// spec's records cannot express and tern-xenstored needs so that a live update
// or a domain import loses nothing:
//   - TernConnectionData: which domain a socket connection acts as (CONTROL
//     tern-as-domain), its next transaction id, whether its last pending
//     message is the reply to the live-update request, and whether it is a
//     ring stopped after an error;
//   - TernDomainData: a domain introduced without a ring connection (gfn,
//     event channel) and its SET_TARGET target;
//   - TernRingData: where a shared-ring connection's page and notification
//     eventfds are (descriptors the daemon keeps across a live update's exec;
//     Xen finds the page by domain id instead, so the spec has no field for it);
//   - TernTransactionData: what a transaction needs to commit or conflict
//     exactly as it would have: whether a node it accessed has changed since
//     (it can then only fail with EAGAIN), its quota usage delta, the watch
//     events its commit fires, and the children lists of the nodes it sees
//     (NODE_DATA has no field for them).
// Byte layouts: docs/FORMAT.md §5 ("tern extension records").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/bytes.hpp"
#include "stream/xenstore/perm.hpp"

namespace tern::stream::xenstore {

inline constexpr std::uint32_t kTernRecordType = 0x7465726e;  // "tern"

enum class TernKind : std::uint16_t { connection = 1, domain = 2, transaction = 3, ring = 4 };

inline constexpr std::uint16_t kTernConnPrivileged = 0x0001;
inline constexpr std::uint16_t kTernConnHasTarget = 0x0002;
inline constexpr std::uint16_t kTernConnLiveUpdateReply =
    0x0004;  // out-data holds the live-update reply
// A ring stopped after an error (its page's error indicator is set): nothing
// is read from or queued for it until its guest asks to reconnect.
inline constexpr std::uint16_t kTernConnIgnored = 0x0008;
inline constexpr std::uint16_t kTernConnFlagsMask = 0x000f;

inline constexpr std::uint16_t kTernDomIntroduced = 0x0001;
inline constexpr std::uint16_t kTernDomHasTarget = 0x0002;
inline constexpr std::uint16_t kTernDomFlagsMask = 0x0003;

inline constexpr std::uint32_t kTernTxConflicted = 0x00000001;
inline constexpr std::uint32_t kTernTxFlagsMask = 0x00000001;

inline constexpr std::uint8_t kTernEventExact = 0x01;
inline constexpr std::uint8_t kTernEventHasOldPerms = 0x02;
inline constexpr std::uint8_t kTernEventFlagsMask = 0x03;

// Fixed sizes, including the 4-octet kind/pad prefix of every TERN_DATA body.
inline constexpr std::size_t kTernPrefixSize = 4;
inline constexpr std::size_t kTernConnectionSize = 24;
inline constexpr std::size_t kTernDomainSize = 24;
inline constexpr std::size_t kTernTransactionFixedSize = 28;
inline constexpr std::size_t kTernRingSize = 32;
inline constexpr std::size_t kTernChildrenFixedSize = 8;
inline constexpr std::size_t kTernUsageSize = 16;
inline constexpr std::size_t kTernEventFixedSize = 8;

// Follows the CONNECTION_DATA of conn_id.
struct TernConnectionData {
  std::uint32_t conn_id = 0;
  std::uint16_t domid = 0;
  std::uint16_t flags = kTernConnPrivileged;
  std::uint16_t target = 0;      // valid with kTernConnHasTarget
  std::uint32_t next_tx_id = 1;  // id the next TRANSACTION_START tries first
  // With kTernConnLiveUpdateReply: offset in the connection's out-data where
  // the reply to the live-update request starts (a new daemon that must give
  // up replaces that message by the reason, see docs/FORMAT.md §5).
  std::uint32_t live_update_reply_at = 0;
};

struct TernDomainData {
  std::uint16_t domid = 0;
  std::uint16_t flags = 0;
  std::uint16_t target = 0;  // valid with kTernDomHasTarget
  std::uint32_t evtchn = 0;
  std::uint64_t gfn = 0;
};

// Follows the TERN_DATA connection record of a shared-ring connection, whose
// CONNECTION_DATA evtchn field holds the eventfd the guest signals (the
// daemon's "local port"). Descriptors are numbers in the process that
// restores the image.
struct TernRingData {
  std::uint32_t conn_id = 0;
  std::uint64_t page_index = 0;   // the ring page is page_index * 4096 octets into memory_fd
  std::int32_t memory_fd = -1;    // memfd holding the page
  std::int32_t to_guest_fd = -1;  // eventfd the daemon signals
  std::uint32_t features = 0;     // server features the page advertises
};

struct TernUsage {
  std::uint16_t domid = 0;
  std::int32_t nodes = 0;
  std::int64_t bytes = 0;
};

struct TernEvent {
  std::uint8_t flags = 0;           // kTernEventExact, kTernEventHasOldPerms
  std::span<const Perm> perms;      // of the node as changed (before removal for RM)
  std::span<const Perm> old_perms;  // SET_PERMS: the list replaced (kTernEventHasOldPerms)
  std::string_view path;            // absolute, without the NUL
};

// The children of a node as the transaction sees it: names, each followed by
// a NUL, in DIRECTORY order.
struct TernChildren {
  std::string_view path;  // absolute, without the NUL
  Bytes names;
};

// Follows the TRANSACTION_DATA of (conn_id, tx_id).
struct TernTransactionData {
  std::uint32_t conn_id = 0;
  std::uint32_t tx_id = 0;
  std::uint32_t flags = 0;  // kTernTxConflicted
  std::span<const TernUsage> usage;
  std::span<const TernEvent> events;
  std::span<const TernChildren> children;
};

}  // namespace tern::stream::xenstore
