#include "stream/xenstore/describe.hpp"

#include <cstring>

#include "stream/xenstore/image_reader.hpp"

namespace tern::stream::xenstore {

namespace {

using nlohmann::json;

std::string escape(std::string_view s) { return escape_octets(as_bytes(s)); }

json quotas_json(std::span<const Quota> qs) {
  json a = json::array();
  for (const Quota& q : qs) a.push_back({{"name", escape(q.name)}, {"value", q.value}});
  return a;
}

std::string perm_text(const Perm& p) {
  // Xen's textual form (r0, w1, ...), with '!' marking a stale permission.
  return fmt::format("{}{}{}", p.perm, p.domid, (p.flags & kPermFlagStale) ? "!" : "");
}

json fields_json(const RecordBody& body) {
  struct V {
    json operator()(const EndRecord&) const { return json::object(); }
    json operator()(const GlobalData& g) const {
      return {{"rw_socket_fd", g.rw_socket_fd}, {"evtchn_fd", g.evtchn_fd}};
    }
    json operator()(const ConnectionData& c) const {
      json j = {{"conn_id", c.conn_id}};
      if (const auto* r = std::get_if<RingSpec>(&c.spec)) {
        j["conn_type"] = "shared ring";
        j["domid"] = r->domid;
        j["tdomid"] = r->tdomid;
        if (r->tdomid == kDomidInvalid) j["tdomid_invalid"] = true;
        j["evtchn"] = r->evtchn;
      } else {
        j["conn_type"] = "socket";
        j["socket_fd"] = std::get<SocketSpec>(c.spec).socket_fd;
      }
      j["in_data_len"] = c.in_data.size();
      j["out_resp_len"] = c.out_resp_len;
      j["out_data_len"] = c.out_data.size();
      j["in_data"] = escape_octets(c.in_data);
      j["out_data"] = escape_octets(c.out_data);
      return j;
    }
    json operator()(const WatchData& w) const {
      json j = {{"conn_id", w.conn_id}, {"wpath", escape(w.path)}, {"token", escape(w.token)}};
      if (w.depth) j["depth"] = *w.depth == kWatchDepthUnlimited ? json("unlimited") : json(*w.depth);
      return j;
    }
    json operator()(const TransactionData& t) const { return {{"conn_id", t.conn_id}, {"tx_id", t.tx_id}}; }
    json operator()(const NodeData& n) const {
      json j = {{"path", escape(n.path)}};
      if (n.pending()) {
        j["conn_id"] = n.conn_id;
        j["tx_id"] = n.tx_id;
        json acc = json::array();
        if (n.access & kAccessRead) acc.push_back("read");
        if (n.access & kAccessWritten) acc.push_back("written");
        j["access"] = acc;
        if (n.deleted()) j["deleted"] = true;
      } else {
        j["committed"] = true;
      }
      json perms = json::array();
      for (const Perm& p : n.perms) perms.push_back(perm_text(p));
      j["perms"] = perms;
      j["value"] = escape_octets(n.value);
      j["value_len"] = n.value.size();
      return j;
    }
    json operator()(const GlobalQuotaData& q) const {
      return {{"per_domain", quotas_json(q.per_domain)}, {"global", quotas_json(q.global)}};
    }
    json operator()(const DomainData& d) const {
      return {{"domid", d.domid}, {"features", d.features}, {"quotas", quotas_json(d.quotas)}};
    }
    json operator()(const TernConnectionData& c) const {
      json j = {{"kind", "connection"}, {"conn_id", c.conn_id}, {"domid", c.domid},
                {"privileged", (c.flags & kTernConnPrivileged) != 0}, {"next_tx_id", c.next_tx_id}};
      if (c.flags & kTernConnHasTarget) j["target"] = c.target;
      if (c.flags & kTernConnLiveUpdateReply) j["live_update_reply_at"] = c.live_update_reply_at;
      if (c.flags & kTernConnIgnored) j["ignored"] = true;
      return j;
    }
    json operator()(const TernDomainData& d) const {
      json j = {{"kind", "domain"}, {"domid", d.domid}, {"introduced", (d.flags & kTernDomIntroduced) != 0},
                {"evtchn", d.evtchn}, {"gfn", d.gfn}};
      if (d.flags & kTernDomHasTarget) j["target"] = d.target;
      return j;
    }
    json operator()(const TernRingData& r) const {
      return {{"kind", "ring"},           {"conn_id", r.conn_id},         {"page_index", r.page_index},
              {"memory_fd", r.memory_fd}, {"to_guest_fd", r.to_guest_fd}, {"features", r.features}};
    }
    json operator()(const TernTransactionData& t) const {
      json usage = json::array();
      for (const TernUsage& u : t.usage) usage.push_back({{"domid", u.domid}, {"nodes", u.nodes}, {"bytes", u.bytes}});
      json events = json::array();
      for (const TernEvent& e : t.events) {
        json perms = json::array();
        for (const Perm& p : e.perms) perms.push_back(perm_text(p));
        json ev = {{"path", escape(e.path)}, {"perms", perms}};
        if (e.flags & kTernEventExact) ev["exact"] = true;
        if (e.flags & kTernEventHasOldPerms) {
          json old = json::array();
          for (const Perm& p : e.old_perms) old.push_back(perm_text(p));
          ev["old_perms"] = old;
        }
        events.push_back(std::move(ev));
      }
      json children = json::array();
      for (const TernChildren& c : t.children) {
        json names = json::array();
        std::size_t start = 0;
        for (std::size_t k = 0; k < c.names.size(); ++k)
          if (c.names[k] == std::byte{0}) {
            names.push_back(escape_octets(c.names.subspan(start, k - start)));
            start = k + 1;
          }
        children.push_back({{"path", escape(c.path)}, {"names", names}});
      }
      return {{"kind", "transaction"}, {"conn_id", t.conn_id}, {"tx_id", t.tx_id},
              {"conflicted", (t.flags & kTernTxConflicted) != 0}, {"usage", usage}, {"events", events},
              {"children", children}};
    }
  };
  return std::visit(V{}, body);
}

// Reads the whole image, calling fn(header, record) for each record incl. END.
template <typename Fn>
Expected<Header> walk(Bytes image, Fn&& fn) {
  MemorySource src(image);
  ImageReader reader(src);
  TERN_TRY_ASSIGN(Header h, reader.read_header());
  for (;;) {
    TERN_TRY_ASSIGN(Record r, reader.next());
    fn(h, r);
    if (r.type == RecordType::end) break;
  }
  TERN_TRY(reader.finish());
  return h;
}

void tally(Summary& s, const Record& r) {
  ++s.records;
  ++s.per_type[record_type_slot(r.type)];
  if (r.padding_in_length) ++s.padding_in_length;
  if (const auto* n = std::get_if<NodeData>(&r.body); n != nullptr && n->pending()) ++s.pending_nodes;
}

}  // namespace

std::string escape_octets(Bytes b) {
  std::string out;
  out.reserve(b.size());
  for (std::byte x : b) {
    auto c = static_cast<unsigned char>(x);
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

Expected<nlohmann::json> describe(Bytes image) {
  json records = json::array();
  Summary s;
  TERN_TRY_ASSIGN(Header h, walk(image, [&](const Header&, const Record& r) {
    json j = {{"index", r.index},
              {"offset", r.offset},
              {"type", record_type_name(r.type)},
              {"length", r.length}};
    if (r.padding_in_length) j["padding_in_length"] = true;
    j["fields"] = fields_json(r.body);
    records.push_back(std::move(j));
    tally(s, r);
  }));
  s.version = h.version;
  s.big_endian = h.big_endian;
  s.bytes = image.size();
  json out = summary_json(s);
  out["record_list"] = std::move(records);
  return out;
}

Expected<Summary> verify(Bytes image) {
  Summary s;
  TERN_TRY_ASSIGN(Header h, walk(image, [&](const Header&, const Record& r) {
    tally(s, r);
  }));
  s.version = h.version;
  s.big_endian = h.big_endian;
  s.bytes = image.size();
  return s;
}

nlohmann::json summary_json(const Summary& s) {
  json counts = json::object();
  for (std::size_t t = 0; t < kRecordTypeSlots; ++t)
    if (s.per_type[t] != 0) counts[record_type_name(record_type_at_slot(t))] = s.per_type[t];
  json j = {{"format", "xenstore"},
            {"version", s.version},
            {"endianness", s.big_endian ? "big" : "little"},
            {"bytes", s.bytes},
            {"record_count", s.records},
            {"records", counts}};
  if (s.pending_nodes) j["pending_nodes"] = s.pending_nodes;
  if (s.padding_in_length) j["records_with_padding_in_length"] = s.padding_in_length;
  return j;
}

bool looks_like_xenstore_image(Bytes prefix) {
  if (prefix.size() < kIdent.size()) return false;
  if (std::memcmp(prefix.data(), kIdent.data(), kIdent.size()) != 0) return false;
  if (prefix.size() >= 12) {
    std::uint32_t v = load_be<std::uint32_t>(prefix.data() + 8);
    if (v != kVersion1 && v != kVersion2) return false;
  }
  if (prefix.size() >= 16 && (load_be<std::uint32_t>(prefix.data() + 12) & kFlagsReserved) != 0) return false;
  return true;
}

}  // namespace tern::stream::xenstore
