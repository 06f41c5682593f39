// The rules of the xenstore image that span fields or records: which record
// types a version allows, which ids must be unique, and which records must
// come before others (a watch needs its connection, a pending node its
// transaction). The reader and the writer both enforce them through this
// class, so tern never writes an image it would refuse to read.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/error.hpp"
#include "stream/xenstore/records.hpp"

namespace tern::stream::xenstore {

class ImageRules {
 public:
  explicit ImageRules(std::uint32_t version);

  // Checks one record against the rules and, when it passes, remembers what
  // later records may refer to. The error message states the rule broken;
  // callers prefix where (offset, record index and type).
  Expected<void> check(const RecordBody& body);

  [[nodiscard]] std::uint32_t version() const { return version_; }

 private:
  Expected<void> check_connection(const ConnectionData& c);
  Expected<void> check_watch(const WatchData& w) const;
  Expected<void> check_transaction(const TransactionData& t);
  Expected<void> check_node(const NodeData& n) const;
  Expected<void> check_global_quota(const GlobalQuotaData& q);
  Expected<void> check_domain(const DomainData& d);
  Expected<void> check_known_connection(std::uint32_t conn_id) const;
  Expected<void> check_tern_connection(const TernConnectionData& c);
  Expected<void> check_tern_domain(const TernDomainData& d);
  Expected<void> check_tern_transaction(const TernTransactionData& t);
  Expected<void> check_tern_ring(const TernRingData& r);

  std::uint32_t version_;
  bool seen_global_ = false;
  bool seen_global_quota_ = false;
  std::unordered_set<std::uint32_t> connections_;
  std::unordered_set<std::uint64_t> transactions_;  // conn_id << 32 | tx_id
  std::vector<bool> domains_ = std::vector<bool>(65536, false);
  // Which connections, domains and transactions already have their TERN_DATA record.
  std::unordered_set<std::uint32_t> tern_connections_;
  std::vector<bool> tern_domains_ = std::vector<bool>(65536, false);
  std::unordered_set<std::uint64_t> tern_transactions_;
  std::unordered_map<std::uint32_t, std::uint16_t> ring_domids_;  // shared-ring CONNECTION_DATA
  std::unordered_set<std::uint32_t> tern_rings_;
};

// Field-level checks shared by rules and writer.
Expected<void> check_c_string(std::string_view what, std::string_view s, bool allow_empty);
Expected<void> check_quota_list(std::string_view what, std::span<const Quota> quotas);

}  // namespace tern::stream::xenstore
