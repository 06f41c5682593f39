// Rebuilds an open transaction from its image records (TRANSACTION_DATA, the
// pending NODE_DATA and tern's TERN_DATA transaction record) over a store
// whose committed nodes are already restored.
//
// The remembered generations are what makes a later TRANSACTION_END commit or
// fail exactly as it would have: a transaction nothing has disturbed
// remembers the restored nodes' generations (commit succeeds unless something
// changes them after the restore); one that was already doomed (flag
// "conflicted") remembers a generation no node has, so it fails with EAGAIN.
// Images without tern's record (another daemon's), and domain imports, are
// judged by content: a node read by the transaction that differs from the
// committed one dooms it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stream/xenstore/records.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {

struct SavedTransaction {
  struct PendingNode {
    std::string path;
    std::optional<Node> node;  // nullopt: deleted in (or absent for) the transaction
    bool written = false;
  };
  std::uint32_t tx_id = 0;
  bool has_tern_record = false;
  bool conflicted = false;
  // Judge what it read by content even with tern's record: the nodes come
  // from another daemon (a domain import), whose generations mean nothing here.
  bool compare_reads = false;
  std::map<std::uint32_t, Usage> delta;
  std::vector<Event> events;
  PathMap<std::string> children;  // path -> NUL-terminated names (TERN_DATA)
  std::vector<PendingNode> nodes;

  // Takes the contents of a TERN_DATA transaction record; `map_path` and
  // `map_domid` rename (domain import under a new domid).
  template <typename MapPath, typename MapDomid>
  void take(const stream::xenstore::TernTransactionData& t, MapPath&& map_path,
            MapDomid&& map_domid);
};

std::unique_ptr<Transaction> build_transaction(Store& store, std::uint64_t node_limit,
                                               SavedTransaction s);

}  // namespace tern::xs

#include "xenstore/image_convert.hpp"

namespace tern::xs {

template <typename MapPath, typename MapDomid>
void SavedTransaction::take(const stream::xenstore::TernTransactionData& t, MapPath&& map_path,
                            MapDomid&& map_domid) {
  has_tern_record = true;
  conflicted = (t.flags & stream::xenstore::kTernTxConflicted) != 0;
  for (const auto& u : t.usage) {
    Usage& d = delta[map_domid(u.domid)];
    d.nodes += u.nodes;
    d.bytes += u.bytes;
  }
  auto perms = [&](std::span<const stream::xenstore::Perm> p) {
    std::vector<Perm> list = from_image_perms(p).list();
    for (Perm& e : list) e.domid = map_domid(e.domid);
    return Perms(std::move(list));
  };
  for (const auto& e : t.events) {
    Event ev{map_path(e.path), (e.flags & stream::xenstore::kTernEventExact) != 0, perms(e.perms),
             std::nullopt};
    if (e.flags & stream::xenstore::kTernEventHasOldPerms) ev.old_perms = perms(e.old_perms);
    events.push_back(std::move(ev));
  }
  for (const auto& c : t.children)
    children.insert_or_assign(
        map_path(c.path),
        std::string(reinterpret_cast<const char*>(c.names.data()), c.names.size()));
}

}  // namespace tern::xs
