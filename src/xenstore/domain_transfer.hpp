// One domain's xenstore state moved between daemons (the non-cooperative
// migration design): its nodes (the /local/domain/<id> subtree and every
// node it owns elsewhere), its connections with their watches, open
// transactions and undelivered output, its quotas and features, as a
// xenstore image (DOMAIN_DATA, CONNECTION_DATA, WATCH_DATA, TRANSACTION_DATA,
// NODE_DATA and tern's TERN_DATA; no GLOBAL_DATA).
//
// Import is all or nothing: the whole image is read and checked against the
// daemon (the domain must be new there, every node's parent must exist,
// nothing may be overwritten) before anything changes. Under a new domid,
// paths below /local/domain/<old> move to /local/domain/<new> and
// permissions, watches and transactions follow; values are not rewritten.
//
// Connections arrive "parked" (no peer): watch events and replies queue up
// until a client takes the connection over with CONTROL tern-as-domain
// <domid>, as the domain's ring would carry them across a real migration.
#pragma once

#include <cstdint>
#include <optional>

#include "core/byte_sink.hpp"
#include "core/bytes.hpp"
#include "core/error.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

struct TransferStats {
  std::uint64_t nodes = 0;
  std::uint64_t connections = 0;
  std::uint64_t watches = 0;
  std::uint64_t transactions = 0;
};

Expected<TransferStats> export_domain(const Daemon& d, std::uint32_t domid, ByteSink& sink);

Expected<TransferStats> import_domain(Daemon& d, Bytes image,
                                      std::optional<std::uint32_t> new_domid);

// Registers CONTROL export-domain DOMID FILE, import-domain FILE [NEWDOMID],
// and the take-over of parked connections by tern-as-domain.
void install_domain_transfer(Daemon& d);

}  // namespace tern::xs
