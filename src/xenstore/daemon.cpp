#include "xenstore/daemon.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/log.hpp"
#include "xenstore/path.hpp"
#include "xenstore/ring_transport.hpp"

namespace tern::xs {

namespace {

std::string with_nul(std::string_view s) {
  std::string r(s);
  r.push_back('\0');
  return r;
}
const std::string kOk = std::string("OK\0", 3);

// Exactly one NUL-terminated string (READ, RM, MKDIR, ...).
Result<std::string_view> one_arg(const Args& a) {
  if (a.strings.size() != 1 || a.tail) return fail(Err::einval);
  return a.strings[0];
}

bool uses_transaction(Type t) {
  switch (t) {
    case Type::read:
    case Type::write:
    case Type::mkdir:
    case Type::rm:
    case Type::directory:
    case Type::directory_part:
    case Type::get_perms:
    case Type::set_perms:
    case Type::transaction_end:
      return true;
    default:
      return false;
  }
}

// Number of path components of `path` below `base` (base is a prefix of it).
std::uint32_t depth_below(std::string_view path, std::string_view base) {
  if (path.size() <= base.size()) return 0;
  std::string_view rest = path.substr(base.size());
  std::uint32_t n = 0;
  for (char ch : rest) n += ch == '/';
  return base == "/" ? n : n;
}

constexpr std::string_view kHelp =
    "check\t\n"
    "log\ton|off\n"
    "logfile\t<file>\n"
    "memreport\t[<file>]\n"
    "print\t<string>\n"
    "quota\t[set <name> <val>|<domid>]\n"
    "quota-soft\t[set <name> <val>]\n"
    "live-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>\n"
    "export-domain\t<domid> <file>  (tern: one domain's state as an image)\n"
    "import-domain\t<file> [<domid>]  (tern: add an exported domain, renumbered)\n"
    "tern-as-domain\t<domid>  (tern: this connection acts as domain <domid>)\n"
    "tern-fd-passing\t  (tern: this connection may pass descriptors, e.g. with INTRODUCE)\n"
    "help\t\n";

// Trace form of a payload: NUL as '|', other unprintables as \xNN, cut at 256 bytes.
std::string printable(std::string_view p) {
  std::string s;
  for (char ch : p.substr(0, 256)) {
    auto u = static_cast<unsigned char>(ch);
    if (u == 0)
      s.push_back('|');
    else if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\')
      s += fmt::format("\\x{:02x}", u);
    else
      s.push_back(ch);
  }
  if (p.size() > 256) s += "...";
  return s;
}

}  // namespace

Daemon::Daemon(Quotas q) : quota(q) {
  special_perms.emplace("@introduceDomain", Perms::owned_by(0));
  special_perms.emplace("@releaseDomain", Perms::owned_by(0));
  domain(0).introduced = true;
}

Connection& Daemon::add_connection(std::unique_ptr<Transport> t) {
  auto c = std::make_unique<Connection>();
  c->id = next_conn_id++;
  c->transport = std::move(t);
  return conns.add(std::move(c));
}

Connection* Daemon::parked_connection(std::uint32_t domid) {
  for (auto& [id, c] : conns)
    if (c->transport && !c->transport->has_peer() && !c->closing && !c->claimed &&
        !c->who.privileged && c->who.domid == domid)
      return c.get();
  return nullptr;
}

void Daemon::remove_connection(std::uint64_t id) {
  Connection* cp = conns.find(id);
  if (cp == nullptr) return;
  Connection& c = *cp;
  if (auto d = domains.find(c.who.domid); d != domains.end() && d->second.ring_conn == id)
    d->second.ring_conn = 0;
  if (c.transport) retired.push_back(std::move(c.transport));
  clear_watches(c);
  conns.erase(id);  // (an id left in `dirty` is skipped: ids are never reused)
}

Watch& Daemon::add_watch(Connection& c, Watch w) {
  w.seq = next_watch_seq++;
  Watch& added = c.watches.emplace_back(std::move(w));
  watch_index.add(c, added);
  return added;
}

void Daemon::remove_watch(Connection& c, std::list<Watch>::iterator it) {
  watch_index.remove(*it);
  c.watches.erase(it);
}

void Daemon::clear_watches(Connection& c) {
  for (Watch& w : c.watches) watch_index.remove(w);
  c.watches.clear();
}

void Daemon::fail_connection(Connection& c, ConnError why) {
  if (!c.closing) {
    c.closing = true;
    c.close_reason = why;
  }
  mark_dirty(c);
}

bool Daemon::keep_after_failure(Connection& c) {
  if (c.close_reason == ConnError::none || !c.transport ||
      !c.transport->report_error(c.close_reason))
    return false;
  log::info("connection {} ({} of domain {}): error {}, ignored until it reconnects", c.id,
            conn_type_name(c.transport->type()), c.who.domid,
            static_cast<unsigned>(c.close_reason));
  reset_connection(c);
  c.ignored = true;
  return true;
}

void Daemon::reset_connection(Connection& c) {
  c.in_base += c.in.size();
  c.in.clear();
  c.out_base += c.out.size();
  c.out.clear();
  c.out_sent = 0;
  c.reply_ends.clear();
  clear_watches(c);
  c.txns.clear();
  c.passed_fds.clear();
  c.request_fds.clear();
  c.closing = false;
  c.close_reason = ConnError::none;
  c.ignored = false;
}

Domain& Daemon::domain(std::uint32_t domid) {
  auto& d = domains[domid];
  d.domid = domid;
  return d;
}

const Quotas* Daemon::quota_for(const Connection& c) const {
  if (c.who.privileged) return nullptr;
  auto it = domains.find(c.who.domid);
  if (it != domains.end() && it->second.quota) return &*it->second.quota;
  return &quota;
}

std::size_t Daemon::watch_count(std::uint32_t domid) const {
  std::size_t n = 0;
  for (const auto& [id, c] : conns)
    if (c->who.domid == domid) n += c->watches.size();
  return n;
}

std::size_t Daemon::txn_count(std::uint32_t domid) const {
  std::size_t n = 0;
  for (const auto& [id, c] : conns)
    if (c->who.domid == domid) n += c->txns.size();
  return n;
}

bool Daemon::over_outstanding(const Connection& c) const {
  const Quotas* q = quota_for(c);
  return q != nullptr && q->outstanding != 0 && c.reply_ends.size() >= q->outstanding;
}

bool Daemon::process_input(Connection& c) {
  std::size_t pos = 0;
  bool ok = true;
  while (!c.closing && !c.ignored && !input_paused(c)) {
    auto view = std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(c.in.data()) + pos, c.in.size() - pos);
    auto hdr = decode_header(view);
    if (!hdr) break;
    if (hdr->len > kPayloadMax) {
      ok = false;
      break;
    }
    if (view.size() - kHeaderSize < hdr->len) break;
    const std::uint64_t start = c.in_base + pos;
    const std::uint64_t end = start + kHeaderSize + hdr->len;
    while (!c.passed_fds.empty() && c.passed_fds.front().first < end) {
      if (c.passed_fds.front().first >= start)
        c.request_fds.push_back(std::move(c.passed_fds.front().second));
      c.passed_fds.pop_front();
    }
    handle(c, *hdr, std::string_view(c.in).substr(pos + kHeaderSize, hdr->len));
    c.request_fds.clear();  // descriptors the request did not take are closed
    pos += kHeaderSize + hdr->len;
  }
  c.in.erase(0, pos);
  c.in_base += pos;
  return ok;
}

void Daemon::queue(Connection& c, std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id,
                   std::string_view payload, bool is_reply) {
  if (c.closing || c.ignored) return;
  if (!is_reply && c.pending_out() > kDropOutput) {
    // A client that never reads its watch events would make us hold them forever.
    fail_connection(c, ConnError::communication);
    return;
  }
  append_message(c.out, type, req_id, tx_id, payload);
  if (is_reply) c.reply_ends.push_back(c.out_base + c.out.size());
  mark_dirty(c);
  if (trace_)
    fmt::print(trace_, "OUT {} {} req={} tx={} len={} \"{}\"\n", c.id, type_name(type), req_id,
               tx_id, payload.size(), printable(payload));
}

void Daemon::consumed_output(Connection& c, std::size_t written) {
  c.out_sent += written;
  std::uint64_t done = c.out_base + c.out_sent;
  while (!c.reply_ends.empty() && c.reply_ends.front() <= done) c.reply_ends.pop_front();
  // Step over the messages now fully written; out_msg_end >= out_base holds
  // (it was beyond the previous write position), so each header is in c.out.
  while (c.out_msg_end < done) {
    std::size_t at = static_cast<std::size_t>(c.out_msg_end - c.out_base);
    auto h = decode_header(
        std::span(reinterpret_cast<const std::uint8_t*>(c.out.data()) + at, c.out.size() - at));
    if (!h) break;  // cannot happen: only whole messages are queued
    c.out_msg_end += kHeaderSize + h->len;
  }
  if (c.out_sent == c.out.size()) {
    c.out_base += c.out.size();
    c.out.clear();
    c.out_sent = 0;
  } else if (c.out_sent > 65536) {
    c.out.erase(0, c.out_sent);
    c.out_base += c.out_sent;
    c.out_sent = 0;
  }
}

void Daemon::queue_event(Connection& c, const Watch& w, std::string_view epath) {
  std::string p;
  bool relative = !w.given.empty() && w.given[0] != '/' && w.given[0] != '@';
  if (relative) {
    std::string home = domain_path(c.who.domid) + "/";
    if (epath.starts_with(home)) epath.remove_prefix(home.size());
  }
  p.reserve(epath.size() + w.token.size() + 2);
  p.append(epath);
  p.push_back('\0');
  p.append(w.token);
  p.push_back('\0');
  queue(c, static_cast<std::uint32_t>(Type::watch_event), 0, 0, p, false);
}

// Queues events for the matching watches in registration order (the order
// the connection added them, as a scan of its watches would find them).
void Daemon::deliver(std::vector<WatchRef>& matches,
                     const std::function<bool(const WatchRef&)>& wants,
                     const std::function<std::string_view(const WatchRef&)>& event_path) {
  watch_candidates += matches.size();
  if (matches.size() > 1)
    std::sort(matches.begin(), matches.end(),
              [](const WatchRef& a, const WatchRef& b) { return a.watch->seq < b.watch->seq; });
  for (const WatchRef& m : matches) {
    Connection& c = *m.conn;
    if (c.closing || c.ignored || !wants(m)) continue;
    queue_event(c, *m.watch, event_path(m));
  }
}

void Daemon::fire(const std::vector<Event>& events) {
  if (watch_index.size() == 0) return;
  std::vector<WatchRef> matches;
  for (const Event& e : events) {
    matches.clear();
    if (e.exact)
      watch_index.on_path(e.path, matches);
    else
      watch_index.on_path_or_ancestors(e.path, matches);
    if (matches.empty()) continue;
    deliver(
        matches,
        [&](const WatchRef& m) {
          const Watch& w = *m.watch;
          if (w.depth && depth_below(e.path, w.path) > *w.depth) return false;
          return (access_mask(e.perms, m.conn->who) & kPermRead) ||
                 (e.old_perms && (access_mask(*e.old_perms, m.conn->who) & kPermRead));
        },
        [&](const WatchRef&) { return std::string_view(e.path); });
  }
}

void Daemon::fire_special(std::string_view name, std::uint32_t domid) {
  const Perms& perms = special_perms.find(name)->second;
  std::string specific = fmt::format("{}/{}", name, domid);
  std::vector<WatchRef> matches;
  watch_index.on_path(name, matches);
  watch_index.on_path(specific, matches);
  deliver(
      matches,
      [&](const WatchRef& m) { return (access_mask(perms, m.conn->who) & kPermRead) != 0; },
      [&](const WatchRef& m) {
        // A depth-1 watch on the name hears which domain it was.
        return m.watch->path == name && m.watch->depth != 1u ? name : std::string_view(specific);
      });
}

void Daemon::handle(Connection& c, const Header& hdr, std::string_view payload) {
  if (trace_)
    fmt::print(trace_, "IN  {} {} req={} tx={} len={} \"{}\"\n", c.id, type_name(hdr.type),
               hdr.req_id, hdr.tx_id, hdr.len, printable(payload));
  auto r = dispatch(c, hdr, payload);
  if (r) {
    queue(c, hdr.type, hdr.req_id, hdr.tx_id, r->text(), true);
  } else {
    std::string p = with_nul(err_name(r.error()));
    queue(c, static_cast<std::uint32_t>(Type::error), hdr.req_id, hdr.tx_id, p, true);
  }
  // WATCH: the initial event follows the reply.
  if (r && hdr.type == static_cast<std::uint32_t>(Type::watch) && !c.watches.empty()) {
    const Watch& w = c.watches.back();
    queue_event(c, w, w.given);
  }
}

Daemon::Reply Daemon::dispatch(Connection& c, const Header& hdr, std::string_view payload) {
  if (hdr.type >= kTypeCount || hdr.type == 20 ||
      hdr.type == static_cast<std::uint32_t>(Type::error) ||
      hdr.type == static_cast<std::uint32_t>(Type::watch_event))
    return fail(Err::enosys);
  const Type type = static_cast<Type>(hdr.type);
  const Args a = split_args(payload);
  const Quotas* q = quota_for(c);

  Transaction* txn = nullptr;
  if (uses_transaction(type) && hdr.tx_id != 0) {
    auto it = c.txns.find(hdr.tx_id);
    if (it == c.txns.end()) return fail(Err::enoent);
    txn = it->second.get();
  }
  if (type == Type::transaction_end && txn == nullptr) return fail(Err::enoent);
  Tree& tree = txn ? static_cast<Tree&>(*txn) : store;
  // Changes outside a transaction are collected only for watches to hear.
  std::vector<Event> events;
  OpCtx ctx{c.who, q, txn ? &txn->events() : watch_index.size() ? &events : nullptr};
  std::string relative;  // a relative path made absolute (absolute ones are used in place)
  auto canon = [&](std::string_view p) {
    return canonical_path_view(p, c.who.domid, false, q ? q->path_max : 0, relative);
  };
  auto done = [&](Result<> r) -> Reply {
    if (!r) return std::unexpected(r.error());
    fire(events);
    return kOk;
  };
  auto privileged = [&]() { return c.who.privileged; };

  switch (type) {
    case Type::read: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto p = canon(*arg);
      if (!p) return std::unexpected(p.error());
      auto v = tree.read_view(ctx, *p);
      if (!v) return std::unexpected(v.error());
      return ReplyText::borrow(*v);
    }
    case Type::write: {
      if (a.strings.empty()) return fail(Err::einval);
      auto p = canon(a.strings[0]);
      if (!p) return std::unexpected(p.error());
      return done(tree.write(ctx, *p, payload.substr(a.strings[0].size() + 1)));
    }
    case Type::mkdir:
    case Type::rm: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto p = canon(*arg);
      if (!p) return std::unexpected(p.error());
      return done(type == Type::mkdir ? tree.mkdir(ctx, *p) : tree.rm(ctx, *p));
    }
    case Type::directory: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto p = canon(*arg);
      if (!p) return std::unexpected(p.error());
      auto r = tree.directory(ctx, *p);
      if (r && r->size() > kPayloadMax) return fail(Err::e2big);
      return r;
    }
    case Type::directory_part: {
      if (a.strings.size() != 2 || a.tail) return fail(Err::einval);
      auto p = canon(a.strings[0]);
      if (!p) return std::unexpected(p.error());
      auto off = parse_u64(a.strings[1]);
      if (!off) return std::unexpected(off.error());
      return tree.directory_part(ctx, *p, *off, kPayloadMax);
    }
    case Type::get_perms: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      if (arg->starts_with('@')) return do_special_perms(c, *arg, nullptr);
      auto p = canon(*arg);
      if (!p) return std::unexpected(p.error());
      return tree.get_perms(ctx, *p);
    }
    case Type::set_perms: {
      if (a.strings.size() < 2) return fail(Err::einval);
      if (a.strings[0].starts_with('@')) return do_special_perms(c, a.strings[0], &a);
      auto p = canon(a.strings[0]);
      if (!p) return std::unexpected(p.error());
      auto perms = Perms::parse({a.strings.begin() + 1, a.strings.end()});
      if (!perms) return std::unexpected(perms.error());
      return done(tree.set_perms(ctx, *p, *perms));
    }
    case Type::watch:
      return do_watch(c, a);
    case Type::unwatch:
      return do_unwatch(c, a);
    case Type::transaction_start: {
      if (hdr.tx_id != 0) return fail(Err::ebusy);
      if (q && q->transactions != 0 && txn_count(c.who.domid) >= q->transactions)
        return fail(Err::enospc);
      std::uint32_t id = c.next_txid;
      while (id == 0 || c.txns.contains(id)) ++id;
      c.next_txid = id + 1;
      c.txns.emplace(id, std::make_unique<Transaction>(store, q ? q->transaction_nodes : 0));
      return with_nul(std::to_string(id));
    }
    case Type::transaction_end:
      return do_transaction_end(c, hdr, a);
    case Type::introduce:
      return do_introduce(c, a);
    case Type::release:
      return do_release(c, a);
    case Type::resume: {
      if (!privileged()) return fail(Err::eacces);
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto d = parse_domid(*arg);
      if (!d) return std::unexpected(d.error());
      auto it = domains.find(*d);
      if (it == domains.end() || !it->second.introduced) return fail(Err::enoent);
      return kOk;
    }
    case Type::set_target: {
      if (!privileged()) return fail(Err::eacces);
      if (a.strings.size() != 2) return fail(Err::einval);
      auto d = parse_domid(a.strings[0]);
      auto t = parse_domid(a.strings[1]);
      if (!d || !t) return fail(Err::einval);
      auto it = domains.find(*d);
      if (it == domains.end()) return fail(Err::enoent);
      it->second.target = *t;
      for (auto& [id, cp] : conns)
        if (cp->who.domid == *d && !cp->who.privileged) cp->who.target = *t;
      return kOk;
    }
    case Type::get_domain_path: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto d = parse_domid(*arg);
      if (!d) return std::unexpected(d.error());
      return with_nul(domain_path(*d));
    }
    case Type::is_domain_introduced: {
      auto arg = one_arg(a);
      if (!arg) return std::unexpected(arg.error());
      auto d = parse_domid(*arg);
      if (!d) return std::unexpected(d.error());
      auto it = domains.find(*d);
      return with_nul(it != domains.end() && it->second.introduced ? "T" : "F");
    }
    case Type::reset_watches:
      clear_watches(c);
      c.txns.clear();
      return kOk;
    case Type::control:
      return do_control(c, a);
    case Type::get_feature:
      return do_feature(c, a, false);
    case Type::set_feature:
      return do_feature(c, a, true);
    case Type::get_quota:
      return do_quota(c, a, false);
    case Type::set_quota:
      return do_quota(c, a, true);
    default:
      return fail(Err::enosys);
  }
}

Daemon::Reply Daemon::do_special_perms(Connection& c, std::string_view path, const Args* set) {
  auto it = special_perms.find(path);
  if (it == special_perms.end()) return fail(Err::enoent);
  if (set == nullptr) {
    if (!(access_mask(it->second, c.who) & kPermRead)) return fail(Err::eacces);
    return it->second.to_wire();
  }
  if (!(access_mask(it->second, c.who) & kPermOwner)) return fail(Err::eacces);
  auto perms = Perms::parse({set->strings.begin() + 1, set->strings.end()});
  if (!perms) return std::unexpected(perms.error());
  if (!c.who.privileged && perms->owner() != it->second.owner()) return fail(Err::eperm);
  it->second = *perms;
  return kOk;
}

Daemon::Reply Daemon::do_watch(Connection& c, const Args& a) {
  if (a.strings.size() < 2) return fail(Err::einval);
  const Quotas* q = quota_for(c);
  auto p = canonical_path(a.strings[0], c.who.domid, true, q ? q->path_max : 0);
  if (!p) return std::unexpected(p.error());
  Watch w{std::string(a.strings[0]), std::move(*p), std::string(a.strings[1]), std::nullopt};
  if (a.strings.size() >= 3 && !a.strings[2].empty()) {
    auto d = parse_u64(a.strings[2]);
    if (!d || *d > 0xffffffffu) return fail(Err::einval);
    w.depth = static_cast<std::uint32_t>(*d);
  }
  for (const Watch& o : c.watches)
    if (o.path == w.path && o.token == w.token) return fail(Err::eexist);
  if (q && q->watches != 0 && watch_count(c.who.domid) >= q->watches) return fail(Err::e2big);
  add_watch(c, std::move(w));
  return kOk;
}

Daemon::Reply Daemon::do_unwatch(Connection& c, const Args& a) {
  if (a.strings.size() < 2) return fail(Err::einval);
  auto p = canonical_path(a.strings[0], c.who.domid, true, 0);
  if (!p) return std::unexpected(p.error());
  for (auto it = c.watches.begin(); it != c.watches.end(); ++it)
    if (it->path == *p && it->token == a.strings[1]) {
      remove_watch(c, it);
      return kOk;
    }
  return fail(Err::enoent);
}

Daemon::Reply Daemon::do_transaction_end(Connection& c, const Header& hdr, const Args& a) {
  auto arg = one_arg(a);
  if (!arg || (*arg != "T" && *arg != "F")) return fail(Err::einval);
  auto it = c.txns.find(hdr.tx_id);
  std::unique_ptr<Transaction> t = std::move(it->second);
  c.txns.erase(it);
  if (*arg == "F") return kOk;
  auto events = t->commit();
  if (!events) return std::unexpected(events.error());
  fire(*events);
  return kOk;
}

Daemon::Reply Daemon::do_introduce(Connection& c, const Args& a) {
  if (!c.who.privileged) return fail(Err::eacces);
  if (a.strings.size() < 3) return fail(Err::einval);
  auto d = parse_domid(a.strings[0]);
  if (!d) return std::unexpected(d.error());
  std::int64_t gfn = 0;
  auto g = a.strings[1];
  auto [gp, gec] = std::from_chars(g.data(), g.data() + g.size(), gfn);
  auto e = parse_u64(a.strings[2]);
  if (gec != std::errc() || gp != g.data() + g.size() || !e || *e > 0xffffffffu)
    return fail(Err::einval);
  // A tern ring comes as three descriptors with the request; without them the
  // domain is only recorded (a socket connection can act as it).
  const bool with_ring = !c.request_fds.empty();
  if (with_ring && (c.request_fds.size() != 3 || gfn < 0)) return fail(Err::einval);
  Domain& dom = domain(*d);
  const bool was = dom.introduced;
  if (with_ring)
    if (auto r =
            attach_ring(c, dom, static_cast<std::uint64_t>(gfn), static_cast<std::uint32_t>(*e));
        !r)
      return std::unexpected(r.error());
  dom.introduced = true;
  dom.gfn = static_cast<std::uint64_t>(gfn);
  dom.evtchn = static_cast<std::uint32_t>(*e);
  if (!was) fire_special("@introduceDomain", *d);
  return kOk;
}

// Maps the ring handed over with INTRODUCE and gives the domain a connection
// through it. A domain that already has one (re-INTRODUCE, as after a guest's
// kexec or a toolstack restart) keeps its watches and transactions and moves
// to the new page and notification descriptors, as Xen rebinds the event
// channel. So does a domain imported from another daemon: the ring takes its
// parked connection over, with the replies and events queued for it.
Result<> Daemon::attach_ring(Connection& via, Domain& dom, std::uint64_t page,
                             std::uint32_t evtchn) {
  RingFds fds{std::move(via.request_fds[0]), std::move(via.request_fds[1]),
              std::move(via.request_fds[2])};
  auto t = RingTransport::attach(std::move(fds), page, dom.features);
  if (!t) {
    log::warn("INTRODUCE {} {} {}: {}", dom.domid, page, evtchn, t.error().message());
    return fail(Err::einval);
  }
  Connection* rcp = dom.ring_conn != 0 ? conns.find(dom.ring_conn) : nullptr;
  if (rcp == nullptr) rcp = parked_connection(dom.domid);
  if (rcp != nullptr) {
    Connection& rc = *rcp;
    if (rc.transport) retired.push_back(std::move(rc.transport));
    rc.transport = std::move(*t);
    rc.poll_mask = 0;
    dom.ring_conn = rc.id;
    attached.push_back(rc.id);
    return {};
  }
  Connection& rc = add_connection(std::move(*t));
  rc.who = Caller{dom.domid, dom.domid == 0, dom.target};
  dom.ring_conn = rc.id;
  attached.push_back(rc.id);
  return {};
}

Daemon::Reply Daemon::do_release(Connection& c, const Args& a) {
  if (!c.who.privileged) return fail(Err::eacces);
  auto arg = one_arg(a);
  if (!arg) return std::unexpected(arg.error());
  auto d = parse_domid(*arg);
  if (!d) return std::unexpected(d.error());
  if (*d == 0) return fail(Err::einval);
  auto it = domains.find(*d);
  if (it == domains.end() || !it->second.introduced) return fail(Err::enoent);
  domains.erase(it);
  // The domain's connections go with it: its ring and any socket acting as it,
  // with their watches and transactions.
  std::vector<std::uint64_t> gone;
  for (const auto& [id, cp] : conns)
    if (cp->who.domid == *d && cp.get() != &c) gone.push_back(id);
  for (std::uint64_t id : gone) remove_connection(id);
  fire_special("@releaseDomain", *d);
  return kOk;
}

Daemon::Reply Daemon::do_feature(Connection& c, const Args& a, bool set) {
  if (!c.who.privileged) return fail(Err::eacces);
  if (!set) {
    if (a.strings.empty()) return with_nul(std::to_string(kSupportedFeatures));
    auto d = parse_domid(a.strings[0]);
    if (!d) return std::unexpected(d.error());
    auto it = domains.find(*d);
    if (it == domains.end()) return fail(Err::enoent);
    return with_nul(std::to_string(it->second.features));
  }
  if (a.strings.size() != 2) return fail(Err::einval);
  auto d = parse_domid(a.strings[0]);
  auto v = parse_u64(a.strings[1]);
  if (!d || !v) return fail(Err::einval);
  if (*v & ~static_cast<std::uint64_t>(kSupportedFeatures)) return fail(Err::einval);
  Domain& dom = domain(*d);
  if (dom.introduced) return fail(Err::ebusy);
  dom.features = static_cast<std::uint32_t>(*v);
  return kOk;
}

Daemon::Reply Daemon::do_quota(Connection& c, const Args& a, bool set) {
  if (!c.who.privileged) return fail(Err::eacces);
  const auto& s = a.strings;
  if (!set) {
    if (s.empty()) {
      std::string all;
      for (auto n : Quotas::names()) all += (all.empty() ? "" : " ") + std::string(n);
      return with_nul(all);
    }
    const Quotas* from = &quota;
    std::string_view name = s[0];
    if (s.size() == 2) {
      auto d = parse_domid(s[0]);
      if (!d) return std::unexpected(d.error());
      auto it = domains.find(*d);
      if (it == domains.end()) return fail(Err::enoent);
      if (it->second.quota) from = &*it->second.quota;
      name = s[1];
    } else if (s.size() != 1) {
      return fail(Err::einval);
    }
    auto v = from->get(name);
    if (!v) return fail(Err::einval);
    return with_nul(std::to_string(*v));
  }
  Quotas* to = &quota;
  std::size_t i = 0;
  if (s.size() == 3) {
    auto d = parse_domid(s[0]);
    if (!d) return std::unexpected(d.error());
    auto it = domains.find(*d);
    if (it == domains.end()) return fail(Err::enoent);
    if (!it->second.quota) it->second.quota = quota;
    to = &*it->second.quota;
    i = 1;
  } else if (s.size() != 2) {
    return fail(Err::einval);
  }
  auto v = parse_u64(s[i + 1]);
  if (!v || !to->get(s[i])) return fail(Err::einval);
  to->set(s[i], *v);
  return kOk;
}

std::string Daemon::usage_report(std::uint32_t domid) const {
  std::size_t outstanding = 0;
  std::int64_t mem = store.usage(domid).bytes;
  for (const auto& [id, c] : conns)
    if (c->who.domid == domid) {
      outstanding += c->reply_ends.size();
      for (const Watch& w : c->watches) mem += static_cast<std::int64_t>(w.bytes());
    }
  return fmt::format(
      "Domain {}:\nnodes           : {:>8}\nwatches         : {:>8}\ntransactions    : {:>8}\n"
      "outstanding     : {:>8}\nmemory          : {:>8}\n",
      domid, store.usage(domid).nodes, watch_count(domid), txn_count(domid), outstanding, mem);
}

std::string Daemon::memory_report() const {
  std::size_t in = 0, out = 0, watches = 0, txns = 0, overlay = 0;
  for (const auto& [id, c] : conns) {
    in += c->in.capacity();
    out += c->out.capacity();
    watches += c->watches.size();
    txns += c->txns.size();
    for (const auto& [tid, t] : c->txns) overlay += t->overlay().size();
  }
  std::int64_t node_bytes = 0;
  for (const auto& [d, u] : store.usage_by_domain()) node_bytes += u.bytes;
  auto fp = store.footprint();
  return fmt::format(
      "nodes: {} ({} bytes of paths, values, children, permissions)\n"
      "store: {} bytes of node records, {} bytes of arena ({} live, {} garbage), {} bytes of "
      "index\n"
      "connections: {} (input buffers {} bytes, output buffers {} bytes)\n"
      "watches: {}\ntransactions: {} ({} pending nodes)\ndomains: {}\n",
      store.node_count(), node_bytes, fp.records, fp.arena_mapped, fp.arena_live, fp.arena_garbage,
      fp.index, conns.size(), in, out, watches, txns, overlay, domains.size());
}

Daemon::Reply Daemon::do_control(Connection& c, const Args& a) {
  if (!c.who.privileged) return fail(Err::eacces);
  if (a.strings.empty()) return fail(Err::einval);
  std::string_view cmd = a.strings[0];
  std::vector<std::string_view> args(a.strings.begin() + 1, a.strings.end());
  auto text = [](std::string s) {
    if (s.size() >= kPayloadMax) s.resize(kPayloadMax - 1);
    return with_nul(s);
  };
  if (cmd == "check") {
    auto bad = store.check();
    return bad ? text("check failed: " + *bad) : kOk;
  }
  if (cmd == "help") return text(std::string(kHelp));
  if (cmd == "log") {
    if (args.size() != 1 || (args[0] != "on" && args[0] != "off")) return fail(Err::einval);
    logging = args[0] == "on";
    return kOk;
  }
  if (cmd == "logfile") {
    if (args.size() != 1) return fail(Err::einval);
    if (!control_may_write_files) return fail(Err::eacces);
    std::FILE* f = std::fopen(std::string(args[0]).c_str(), "a");
    if (f == nullptr) return fail(Err::eio);
    if (trace_ != nullptr && trace_ != stderr) std::fclose(trace_);
    std::setvbuf(f, nullptr, _IOLBF, 0);
    trace_ = f;
    return kOk;
  }
  if (cmd == "memreport") {
    std::string rep = memory_report();
    if (args.empty()) return text(rep);
    if (!control_may_write_files) return fail(Err::eacces);
    std::FILE* f = std::fopen(std::string(args[0]).c_str(), "w");
    if (f == nullptr) return fail(Err::eio);
    std::fputs(rep.c_str(), f);
    std::fclose(f);
    return kOk;
  }
  if (cmd == "print") {
    if (args.size() != 1) return fail(Err::einval);
    fmt::print(stderr, "tern-xenstored: {}\n", args[0]);
    return kOk;
  }
  if (cmd == "quota") {
    if (args.empty()) return text(quota.report());
    if (args.size() == 3 && args[0] == "set") {
      auto v = parse_u64(args[2]);
      if (!v || !quota.set(args[1], *v)) return fail(Err::einval);
      return kOk;
    }
    if (args.size() == 1) {
      auto d = parse_domid(args[0]);
      if (!d) return fail(Err::einval);
      if (!domains.contains(*d)) return fail(Err::enoent);
      return text(usage_report(*d));
    }
    return fail(Err::einval);
  }
  if (cmd == "quota-soft") {
    if (args.empty())
      return text(fmt::format("Quota settings:\n{:<17}: {:>8} {}\n", "memory", quota.memory_soft,
                              "Total Xenstore memory per domain (warning level)"));
    if (args.size() == 3 && args[0] == "set" && args[1] == "memory") {
      auto v = parse_u64(args[2]);
      if (!v) return fail(Err::einval);
      quota.memory_soft = *v;
      return kOk;
    }
    return fail(Err::einval);
  }
  if (auto it = control_handlers.find(cmd); it != control_handlers.end())
    if (auto r = it->second(c, args)) return *r;
  if (cmd == "live-update") return text("live update is not available in this tern-xenstored");
  if (cmd == "tern-fd-passing") {
    // Descriptors sent before this reply are refused by the kernel (EPERM
    // for the sender), so a client waits for it before passing any.
    if (!args.empty()) return fail(Err::einval);
    if (!c.transport || !c.transport->allow_passed_fds()) return fail(Err::einval);
    return kOk;
  }
  if (cmd == "tern-as-domain") {
    if (args.size() != 1) return fail(Err::einval);
    auto d = parse_domid(args[0]);
    if (!d) return std::unexpected(d.error());
    if (!c.watches.empty() || !c.txns.empty()) return fail(Err::ebusy);
    if (!c.transport || c.transport->type() != ConnType::socket) return fail(Err::einval);
    Domain& dom = domain(*d);
    c.who = Caller{*d, *d == 0, dom.target};
    return kOk;
  }
  return fail(Err::einval);
}

}  // namespace tern::xs
