// CONTROL export-domain / import-domain, and clients taking over the parked
// connections an import brings (CONTROL tern-as-domain <domid>).
#include <fmt/format.h>

#include "io/fd_sink.hpp"
#include "io/input.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/domain_transfer.hpp"
#include "xenstore/path.hpp"

namespace tern::xs {

namespace {

using Reply = Result<std::string>;

Reply text(std::string s) {
  if (s.size() >= kPayloadMax) s.resize(kPayloadMax - 1);
  s.push_back('\0');
  return s;
}

std::string stats(const TransferStats& st) {
  return fmt::format("OK {} nodes, {} connections, {} watches, {} transactions", st.nodes,
                     st.connections, st.watches, st.transactions);
}

Reply export_cmd(Daemon& d, std::span<const std::string_view> args) {
  if (args.size() != 2) return text("usage: export-domain DOMID FILE");
  auto domid = parse_domid(args[0]);
  if (!domid) return text(fmt::format("export-domain: bad domid \"{}\"", args[0]));
  std::string file(args[1]);
  if (file.empty() || file[0] != '/')
    return text(fmt::format("export-domain: FILE must be absolute: {}", file));
  auto sink = io::AtomicFileSink::create(file);
  if (!sink) return text(fmt::format("export-domain: {}", sink.error().message()));
  auto st = export_domain(d, *domid, **sink);
  if (!st) return text(fmt::format("export-domain: {}", st.error().message()));
  if (auto ok = (*sink)->commit(); !ok)
    return text(fmt::format("export-domain: {}", ok.error().message()));
  return text(stats(*st));
}

Reply import_cmd(Daemon& d, std::span<const std::string_view> args) {
  if (args.empty() || args.size() > 2) return text("usage: import-domain FILE [NEWDOMID]");
  std::string file(args[0]);
  if (file.empty() || file[0] != '/')
    return text(fmt::format("import-domain: FILE must be absolute: {}", file));
  std::optional<std::uint32_t> to;
  if (args.size() == 2) {
    auto v = parse_domid(args[1]);
    if (!v) return text(fmt::format("import-domain: bad domid \"{}\"", args[1]));
    to = *v;
  }
  auto in = io::InputFile::open(file);
  if (!in) return text(fmt::format("import-domain: {}", in.error().message()));
  if (!in->is_mapped()) return text(fmt::format("import-domain: {} is not a regular file", file));
  auto st = import_domain(d, in->mapped(), to);
  if (!st) return text(st.error().message());
  return text(stats(*st));
}

// Runs after the round that answered tern-as-domain: the client's socket
// takes the parked connection's place.
void take_over(Daemon& d, std::uint64_t client, std::uint64_t parked) {
  Connection* cp = d.conns.find(client);
  if (cp == nullptr) return;
  Connection& c = *cp;
  c.hold = false;
  Connection* pp = d.conns.find(parked);
  if (pp != nullptr && !c.closing) {
    Connection& p = *pp;
    c.who = p.who;
    // Through the daemon, so its watch index follows the watches.
    std::vector<Watch> moved(p.watches.begin(), p.watches.end());
    d.clear_watches(p);
    d.clear_watches(c);
    for (Watch& w : moved) d.add_watch(c, std::move(w));
    c.txns = std::move(p.txns);
    c.next_txid = p.next_txid;
    append_output(c, std::string_view(p.out).substr(p.out_sent));
    c.in.insert(0, p.in);  // its requests came first
    // Keep the stream offsets of descriptors the client passed pointing at
    // the same bytes.
    if (c.in_base >= p.in.size()) {
      c.in_base -= p.in.size();
    } else {
      for (auto& [at, fd] : c.passed_fds) at += p.in.size() - c.in_base;
      c.in_base = 0;
    }
    d.remove_connection(parked);
  }
  d.mark_dirty(c);
  if (!c.in.empty() && !d.input_paused(c) && !d.process_input(c)) c.closing = true;
}

}  // namespace

void install_domain_transfer(Daemon& d) {
  d.control_handlers["export-domain"] = [&d](Connection&, std::span<const std::string_view> args) {
    return std::optional<Reply>(export_cmd(d, args));
  };
  d.control_handlers["import-domain"] = [&d](Connection&, std::span<const std::string_view> args) {
    return std::optional<Reply>(import_cmd(d, args));
  };
  d.control_handlers["tern-as-domain"] =
      [&d](Connection& c, std::span<const std::string_view> args) -> std::optional<Reply> {
    if (args.size() != 1) return std::nullopt;  // the built-in command answers
    auto domid = parse_domid(args[0]);
    if (!domid) return std::nullopt;
    Connection* parked = d.parked_connection(*domid);
    if (parked == nullptr) return std::nullopt;
    if (!c.watches.empty() || !c.txns.empty()) return fail(Err::ebusy);
    parked->claimed = true;  // an INTRODUCE with a ring in this round must not take it
    c.hold = true;           // its next requests belong to the connection it becomes
    d.deferred.emplace_back([&d, client = c.id, pid = parked->id] { take_over(d, client, pid); });
    return text("OK");
  };
}

}  // namespace tern::xs
