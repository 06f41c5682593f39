#include "stream/xenstore/image_rules.hpp"

#include <limits>

namespace tern::stream::xenstore {

namespace {

constexpr std::uint64_t tx_key(std::uint32_t conn, std::uint32_t tx) {
  return (static_cast<std::uint64_t>(conn) << 32) | tx;
}

constexpr std::size_t kU16Max = std::numeric_limits<std::uint16_t>::max();

// Special nodes Xen's daemons keep in the node tree (their permissions decide
// who may watch them); the only paths not starting with '/' tern accepts.
bool is_special_path(std::string_view p) {
  return p == "@releaseDomain" || p == "@introduceDomain";
}

}  // namespace

Expected<void> check_c_string(std::string_view what, std::string_view s, bool allow_empty) {
  if (!allow_empty && s.empty()) return make_error(Errc::invalid, "{} is empty", what);
  if (auto nul = s.find('\0'); nul != std::string_view::npos)
    return make_error(Errc::invalid, "{} contains a NUL octet at position {} (it is a NUL-terminated string)",
                      what, nul);
  // The length field counts the terminator and is 16 bits wide.
  if (s.size() + 1 > kU16Max)
    return make_error(Errc::invalid, "{} is {} octets long; with its NUL it does not fit the 16-bit length field",
                      what, s.size());
  return {};
}

Expected<void> check_quota_list(std::string_view what, std::span<const Quota> quotas) {
  if (quotas.size() > kU16Max)
    return make_error(Errc::invalid, "{}: {} quota values do not fit the 16-bit count", what, quotas.size());
  for (std::size_t i = 0; i < quotas.size(); ++i) {
    if (quotas[i].name.empty())
      return make_error(Errc::invalid, "{}: quota #{} has an empty name", what, i);
    if (quotas[i].name.find('\0') != std::string_view::npos)
      return make_error(Errc::invalid, "{}: quota #{} name contains a NUL octet", what, i);
  }
  return {};
}

ImageRules::ImageRules(std::uint32_t version) : version_(version) {}

Expected<void> ImageRules::check(const RecordBody& body) {
  RecordType type = record_type_of(body);
  if (record_min_version(static_cast<std::uint32_t>(type)) > version_)
    return make_error(Errc::invalid, "{} is only valid in version {} and later; this image is version {}",
                      record_type_name(type), record_min_version(static_cast<std::uint32_t>(type)),
                      version_);
  if (const auto* g = std::get_if<GlobalData>(&body)) {
    (void)g;
    if (seen_global_) return make_error(Errc::invalid, "a second GLOBAL_DATA record (at most one is allowed)");
    seen_global_ = true;
    return {};
  }
  if (const auto* c = std::get_if<ConnectionData>(&body)) return check_connection(*c);
  if (const auto* w = std::get_if<WatchData>(&body)) return check_watch(*w);
  if (const auto* t = std::get_if<TransactionData>(&body)) return check_transaction(*t);
  if (const auto* n = std::get_if<NodeData>(&body)) return check_node(*n);
  if (const auto* q = std::get_if<GlobalQuotaData>(&body)) return check_global_quota(*q);
  if (const auto* d = std::get_if<DomainData>(&body)) return check_domain(*d);
  if (const auto* tc = std::get_if<TernConnectionData>(&body)) return check_tern_connection(*tc);
  if (const auto* td = std::get_if<TernDomainData>(&body)) return check_tern_domain(*td);
  if (const auto* tt = std::get_if<TernTransactionData>(&body)) return check_tern_transaction(*tt);
  if (const auto* tr = std::get_if<TernRingData>(&body)) return check_tern_ring(*tr);
  return {};  // END
}

Expected<void> ImageRules::check_known_connection(std::uint32_t conn_id) const {
  if (conn_id == 0) return make_error(Errc::invalid, "conn-id is 0 (connection ids are non-zero)");
  if (!connections_.contains(conn_id))
    return make_error(Errc::invalid,
                      "conn-id {} has no earlier CONNECTION_DATA record (records must follow those they depend on)",
                      conn_id);
  return {};
}

Expected<void> ImageRules::check_connection(const ConnectionData& c) {
  if (c.conn_id == 0) return make_error(Errc::invalid, "conn-id is 0 (connection ids are non-zero)");
  if (c.in_data.size() > kU16Max)
    return make_error(Errc::invalid, "{} octets of pending input do not fit the 16-bit in-data-len",
                      c.in_data.size());
  if (c.out_data.size() > std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::invalid, "{} octets of pending output do not fit the 32-bit out-data-len",
                      c.out_data.size());
  if (c.out_resp_len > c.out_data.size())
    return make_error(Errc::invalid,
                      "out-resp-len {} exceeds out-data-len {} (the partial response is part of the pending output)",
                      c.out_resp_len, c.out_data.size());
  if (!connections_.insert(c.conn_id).second)
    return make_error(Errc::invalid, "conn-id {} is used by an earlier CONNECTION_DATA record", c.conn_id);
  if (const auto* r = std::get_if<RingSpec>(&c.spec)) ring_domids_.emplace(c.conn_id, r->domid);
  return {};
}

Expected<void> ImageRules::check_watch(const WatchData& w) const {
  TERN_TRY(check_known_connection(w.conn_id));
  TERN_TRY(check_c_string("wpath", w.path, false));
  TERN_TRY(check_c_string("token", w.token, true));
  return {};
}

Expected<void> ImageRules::check_transaction(const TransactionData& t) {
  TERN_TRY(check_known_connection(t.conn_id));
  if (t.tx_id == 0) return make_error(Errc::invalid, "tx-id is 0 (0 means \"no transaction\" on the wire)");
  if (!transactions_.insert(tx_key(t.conn_id, t.tx_id)).second)
    return make_error(Errc::invalid, "transaction {} of conn-id {} appears twice", t.tx_id, t.conn_id);
  return {};
}

Expected<void> ImageRules::check_node(const NodeData& n) const {
  TERN_TRY(check_c_string("path", n.path, false));
  if (n.path.front() != '/' && !is_special_path(n.path))
    return make_error(Errc::invalid, "path \"{}\" is not absolute (must start with '/')", n.path);
  if (n.value.size() > kU16Max)
    return make_error(Errc::invalid, "node {}: value of {} octets does not fit the 16-bit value-len", n.path,
                      n.value.size());
  if (n.perms.size() > kU16Max)
    return make_error(Errc::invalid, "node {}: {} permissions do not fit the 16-bit perm-count", n.path,
                      n.perms.size());
  for (std::size_t i = 0; i < n.perms.size(); ++i) {
    const Perm& p = n.perms[i];
    if (!is_perm_char(p.perm))
      return make_error(Errc::invalid, "node {}: permission #{} has perm 0x{:02x} (must be 'r', 'w', 'b' or 'n')",
                        n.path, i, static_cast<unsigned char>(p.perm));
    if ((p.flags & ~kPermFlagsMask) != 0)
      return make_error(Errc::invalid, "node {}: permission #{} has undefined flag bits 0x{:02x} (only 0x01 stale is defined)",
                        n.path, i, p.flags);
  }
  if (!n.pending()) {
    // tx-id and access are to be ignored for committed nodes.
    if (n.perms.empty())
      return make_error(Errc::invalid, "committed node {} has no permissions (perm1 names the owner)", n.path);
    return {};
  }
  if (!transactions_.contains(tx_key(n.conn_id, n.tx_id)))
    return make_error(Errc::invalid,
                      "node {} belongs to transaction {} of conn-id {}, which has no earlier TRANSACTION_DATA record",
                      n.path, n.tx_id, n.conn_id);
  if ((n.access & ~kAccessMask) != 0)
    return make_error(Errc::invalid, "node {}: access 0x{:04x} has undefined bits (only 0x1 read, 0x2 written)",
                      n.path, n.access);
  if (n.perms.empty()) {  // deleted in the transaction
    if (!n.value.empty())
      return make_error(Errc::invalid, "node {} is deleted in its transaction (no permissions) but has a {}-octet value",
                        n.path, n.value.size());
    if (n.access != 0)
      return make_error(Errc::invalid, "node {} is deleted in its transaction (no permissions) but access is 0x{:04x}, not 0",
                        n.path, n.access);
  }
  return {};
}

Expected<void> ImageRules::check_global_quota(const GlobalQuotaData& q) {
  if (seen_global_quota_)
    return make_error(Errc::invalid, "a second GLOBAL_QUOTA_DATA record (at most one is allowed)");
  TERN_TRY(check_quota_list("per-domain quotas", q.per_domain));
  TERN_TRY(check_quota_list("global quotas", q.global));
  seen_global_quota_ = true;
  return {};
}

Expected<void> ImageRules::check_domain(const DomainData& d) {
  if (version_ < kVersion2 && d.features != 0)
    return make_error(Errc::invalid,
                      "domain {}: features is 0x{:08x} but the field is only valid in version 2 (must be 0 in version {})",
                      d.domid, d.features, version_);
  TERN_TRY(check_quota_list("domain quotas", d.quotas));
  if (domains_[d.domid])
    return make_error(Errc::invalid, "a second DOMAIN_DATA record for domain {} (at most one per domain)", d.domid);
  domains_[d.domid] = true;
  return {};
}

// ---- tern's extension records ----------------------------------------------

namespace {

Expected<void> check_perm_list(std::string_view what, std::span<const Perm> perms) {
  if (perms.size() > kU16Max)
    return make_error(Errc::invalid, "{}: {} permissions do not fit the 16-bit count", what, perms.size());
  for (std::size_t i = 0; i < perms.size(); ++i) {
    if (!is_perm_char(perms[i].perm))
      return make_error(Errc::invalid, "{}: permission #{} has perm 0x{:02x} (must be 'r', 'w', 'b' or 'n')", what, i,
                        static_cast<unsigned char>(perms[i].perm));
    if ((perms[i].flags & ~kPermFlagsMask) != 0)
      return make_error(Errc::invalid, "{}: permission #{} has undefined flag bits 0x{:02x}", what, i, perms[i].flags);
  }
  return {};
}

}  // namespace

Expected<void> ImageRules::check_tern_connection(const TernConnectionData& c) {
  TERN_TRY(check_known_connection(c.conn_id));
  if ((c.flags & ~kTernConnFlagsMask) != 0)
    return make_error(Errc::invalid, "TERN_DATA connection {}: flags 0x{:04x} set undefined bits", c.conn_id, c.flags);
  if (!(c.flags & kTernConnHasTarget) && c.target != 0)
    return make_error(Errc::invalid, "TERN_DATA connection {}: target {} without the target flag", c.conn_id, c.target);
  if (!(c.flags & kTernConnLiveUpdateReply) && c.live_update_reply_at != 0)
    return make_error(Errc::invalid, "TERN_DATA connection {}: live-update reply offset without flag 0x4", c.conn_id);
  if ((c.flags & kTernConnIgnored) && !ring_domids_.contains(c.conn_id))
    return make_error(Errc::invalid,
                      "TERN_DATA connection {}: flag 0x8 (ignored after an error) on a socket connection (only a "
                      "ring is kept after an error)",
                      c.conn_id);
  if (auto ring = ring_domids_.find(c.conn_id); ring != ring_domids_.end() && ring->second != c.domid)
    return make_error(Errc::invalid, "TERN_DATA connection {}: acts as domain {}, but its shared ring is domain {}'s",
                      c.conn_id, c.domid, ring->second);
  if (!tern_connections_.insert(c.conn_id).second)
    return make_error(Errc::invalid, "a second TERN_DATA connection record for conn-id {}", c.conn_id);
  return {};
}

Expected<void> ImageRules::check_tern_domain(const TernDomainData& d) {
  if ((d.flags & ~kTernDomFlagsMask) != 0)
    return make_error(Errc::invalid, "TERN_DATA domain {}: flags 0x{:04x} set undefined bits", d.domid, d.flags);
  if (!(d.flags & kTernDomHasTarget) && d.target != 0)
    return make_error(Errc::invalid, "TERN_DATA domain {}: target {} without the target flag", d.domid, d.target);
  if (tern_domains_[d.domid])
    return make_error(Errc::invalid, "a second TERN_DATA domain record for domain {}", d.domid);
  tern_domains_[d.domid] = true;
  return {};
}

Expected<void> ImageRules::check_tern_ring(const TernRingData& r) {
  TERN_TRY(check_known_connection(r.conn_id));
  if (!ring_domids_.contains(r.conn_id))
    return make_error(Errc::invalid, "TERN_DATA ring for conn-id {}, a socket connection (conn-type 1)", r.conn_id);
  if (!tern_connections_.contains(r.conn_id))
    return make_error(Errc::invalid,
                      "TERN_DATA ring for conn-id {} before its TERN_DATA connection record (which says who the "
                      "connection acts as)",
                      r.conn_id);
  if (r.memory_fd < 0 || r.to_guest_fd < 0)
    return make_error(Errc::invalid, "TERN_DATA ring {}: descriptors {} and {} must both be non-negative", r.conn_id,
                      r.memory_fd, r.to_guest_fd);
  if (r.memory_fd == r.to_guest_fd)
    return make_error(Errc::invalid, "TERN_DATA ring {}: memory-fd and to-guest-fd are both {}", r.conn_id,
                      r.memory_fd);
  if (!tern_rings_.insert(r.conn_id).second)
    return make_error(Errc::invalid, "a second TERN_DATA ring record for conn-id {}", r.conn_id);
  return {};
}

Expected<void> ImageRules::check_tern_transaction(const TernTransactionData& t) {
  TERN_TRY(check_known_connection(t.conn_id));
  std::uint64_t key = tx_key(t.conn_id, t.tx_id);
  if (!transactions_.contains(key))
    return make_error(Errc::invalid,
                      "TERN_DATA transaction {} of conn-id {} has no earlier TRANSACTION_DATA record", t.tx_id,
                      t.conn_id);
  if ((t.flags & ~kTernTxFlagsMask) != 0)
    return make_error(Errc::invalid, "TERN_DATA transaction {}: flags 0x{:08x} set undefined bits", t.tx_id, t.flags);
  if (t.usage.size() > std::numeric_limits<std::uint32_t>::max() ||
      t.events.size() > std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::invalid, "TERN_DATA transaction {}: too many usage entries or events", t.tx_id);
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    const TernEvent& e = t.events[i];
    std::string what = fmt::format("TERN_DATA transaction {} event #{}", t.tx_id, i);
    if ((e.flags & ~kTernEventFlagsMask) != 0)
      return make_error(Errc::invalid, "{}: flags 0x{:02x} set undefined bits", what, e.flags);
    TERN_TRY(check_c_string(what + " path", e.path, false));
    if (e.path.front() != '/')
      return make_error(Errc::invalid, "{}: path \"{}\" is not absolute", what, e.path);
    if (e.perms.empty()) return make_error(Errc::invalid, "{}: no permissions (a node always has an owner)", what);
    TERN_TRY(check_perm_list(what, e.perms));
    TERN_TRY(check_perm_list(what + " old permissions", e.old_perms));
    bool has_old = (e.flags & kTernEventHasOldPerms) != 0;
    if (has_old != !e.old_perms.empty())
      return make_error(Errc::invalid, "{}: old-permissions flag {} but {} old permissions", what,
                        has_old ? "set" : "clear", e.old_perms.size());
  }
  if (t.children.size() > std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::invalid, "TERN_DATA transaction {}: too many children lists", t.tx_id);
  for (std::size_t i = 0; i < t.children.size(); ++i) {
    const TernChildren& c = t.children[i];
    std::string what = fmt::format("TERN_DATA transaction {} children list #{}", t.tx_id, i);
    TERN_TRY(check_c_string(what + " path", c.path, false));
    if (c.path.front() != '/')
      return make_error(Errc::invalid, "{}: path \"{}\" is not absolute", what, c.path);
    if (c.names.size() > std::numeric_limits<std::uint32_t>::max())
      return make_error(Errc::invalid, "{}: {} octets of names do not fit the 32-bit length", what, c.names.size());
    if (!c.names.empty() && c.names.back() != std::byte{0})
      return make_error(Errc::invalid, "{}: the names of {} do not end with a NUL", what, c.path);
    std::size_t start = 0;
    for (std::size_t k = 0; k < c.names.size(); ++k) {
      if (c.names[k] != std::byte{0}) continue;
      if (k == start) return make_error(Errc::invalid, "{}: empty child name at octet {}", what, k);
      start = k + 1;
    }
  }
  if (!tern_transactions_.insert(key).second)
    return make_error(Errc::invalid, "a second TERN_DATA record for transaction {} of conn-id {}", t.tx_id, t.conn_id);
  return {};
}

}  // namespace tern::stream::xenstore
