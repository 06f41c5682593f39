#include "stream/xenstore/image_writer.hpp"

#include <cstring>

namespace tern::stream::xenstore {

namespace {
constexpr std::size_t kFlushAt = 256 * 1024;   // buffer this much before writing to the sink
constexpr std::size_t kDirectAt = 16 * 1024;   // payloads this large skip the buffer
constexpr std::array<std::byte, kRecordAlign> kZeros{};
}  // namespace

ImageWriter::ImageWriter(ByteSink& sink, WriterOptions opts)
    : sink_(sink), opts_(opts), order_(opts.big_endian), rules_(opts.version) {
  buf_.reserve(kFlushAt + kDirectAt);
}

template <typename... Args>
std::unexpected<Error> ImageWriter::fail(Errc code, RecordType type, fmt::format_string<Args...> f,
                                         Args&&... args) const {
  return make_error(code, "xenstore image writer: record #{} ({}): {}", index_, record_type_name(type),
                    fmt::format(f, std::forward<Args>(args)...));
}

Expected<void> ImageWriter::write_header() {
  if (state_ != State::header) return make_error(Errc::usage, "xenstore image writer: header written twice");
  if (opts_.version != kVersion1 && opts_.version != kVersion2)
    return make_error(Errc::usage, "xenstore image writer: version {} is not 1 or 2", opts_.version);
  std::array<std::byte, kHeaderSize> h{};
  std::memcpy(h.data(), kIdent.data(), kIdent.size());
  store_be<std::uint32_t>(h.data() + 8, opts_.version);
  store_be<std::uint32_t>(h.data() + 12, opts_.big_endian ? kFlagBigEndian : 0);
  buf_.insert(buf_.end(), h.begin(), h.end());
  offset_ += kHeaderSize;
  state_ = State::records;
  return {};
}

Expected<void> ImageWriter::write(const RecordBody& body) {
  RecordType type = record_type_of(body);
  if (state_ == State::header) return fail(Errc::usage, type, "write_header() must come first");
  if (state_ == State::done) return fail(Errc::usage, type, "the image already ended with END");
  if (state_ == State::failed) return fail(Errc::usage, type, "an earlier write failed");
  if (type == RecordType::end) return fail(Errc::usage, type, "use finish() to write END");
  return emit(body);
}

Expected<void> ImageWriter::finish() {
  if (state_ != State::records)
    return make_error(Errc::usage, "xenstore image writer: finish() {}",
                      state_ == State::header ? "before write_header()" : "after the image ended or failed");
  TERN_TRY(emit(EndRecord{}));
  state_ = State::failed;
  TERN_TRY(flush());
  state_ = State::done;
  return {};
}

Expected<void> ImageWriter::flush(Bytes tail) {
  Bytes parts[2] = {buf_, tail};
  std::size_t n = tail.empty() ? 1 : 2;
  if (buf_.empty() && tail.empty()) return {};
  auto r = sink_.write_gather(std::span<const Bytes>(parts, n));
  buf_.clear();
  if (!r) state_ = State::failed;
  return r;
}

std::byte* ImageWriter::begin_record(RecordType type, std::uint64_t body_len, std::size_t fixed) {
  std::uint64_t stored_len = opts_.padding_in_length ? align_up(body_len, kRecordAlign) : body_len;
  std::size_t at = buf_.size();
  buf_.resize(at + kRecordHeaderSize + fixed);
  order_.store<std::uint32_t>(buf_.data() + at, static_cast<std::uint32_t>(type));
  order_.store<std::uint32_t>(buf_.data() + at + 4, static_cast<std::uint32_t>(stored_len));
  return buf_.data() + at + kRecordHeaderSize;
}

void ImageWriter::put_bytes(Bytes b) { buf_.insert(buf_.end(), b.begin(), b.end()); }

Expected<void> ImageWriter::end_record(std::uint64_t body_len) {
  std::size_t pad = static_cast<std::size_t>(align_up(body_len, kRecordAlign) - body_len);
  buf_.insert(buf_.end(), kZeros.begin(), kZeros.begin() + static_cast<std::ptrdiff_t>(pad));
  offset_ += kRecordHeaderSize + body_len + pad;
  ++index_;
  if (buf_.size() >= kFlushAt) return flush();
  return {};
}

namespace {
std::uint64_t tern_transaction_len(const TernTransactionData& t) {
  std::uint64_t n = kTernTransactionFixedSize + t.usage.size() * kTernUsageSize;
  for (const TernEvent& e : t.events)
    n += kTernEventFixedSize + (e.perms.size() + e.old_perms.size()) * kPermSize + e.path.size() + 1;
  for (const TernChildren& c : t.children) n += kTernChildrenFixedSize + c.path.size() + 1 + c.names.size();
  return n;
}

std::uint64_t quota_len(std::span<const Quota> qs) {
  std::uint64_t n = 0;
  for (const Quota& q : qs) n += kQuotaValueSize + q.name.size() + 1;
  return n;
}
}  // namespace

// Checks that need no image state, done before the rules record anything.
Expected<void> ImageWriter::precheck(RecordType type, const RecordBody& body) const {
  std::uint64_t len = 0;
  if (const auto* c = std::get_if<ConnectionData>(&body)) {
    len = kConnectionFixedSize + c->in_data.size() + c->out_data.size();
  } else if (const auto* n = std::get_if<NodeData>(&body)) {
    // tern writes the fields the spec says to ignore for committed nodes as zero.
    if (!n->pending() && (n->tx_id != 0 || n->access != 0))
      return fail(Errc::usage, type, "committed node {} has tx-id {} / access 0x{:x}; both must be 0", n->path,
                  n->tx_id, n->access);
  } else if (const auto* g = std::get_if<GlobalQuotaData>(&body)) {
    len = kGlobalQuotaFixedSize + quota_len(g->per_domain) + quota_len(g->global);
  } else if (const auto* d = std::get_if<DomainData>(&body)) {
    len = kDomainFixedSize + quota_len(d->quotas);
  } else if (const auto* t = std::get_if<TernTransactionData>(&body)) {
    len = tern_transaction_len(*t);
  }
  if (len > kMaxRecordBody)
    return fail(Errc::usage, type, "body of {} octets exceeds the record limit of {}", len, kMaxRecordBody);
  return {};
}

Expected<void> ImageWriter::emit(const RecordBody& body) {
  RecordType type = record_type_of(body);
  TERN_TRY(precheck(type, body));
  if (auto ok = rules_.check(body); !ok) return fail(Errc::usage, type, "{}", ok.error().message());
  const ByteOrder& o = order_;

  if (std::holds_alternative<EndRecord>(body)) {
    begin_record(type, 0, 0);
    return end_record(0);
  }
  if (const auto* g = std::get_if<GlobalData>(&body)) {
    std::byte* p = begin_record(type, kGlobalDataSize, kGlobalDataSize);
    o.store<std::uint32_t>(p, static_cast<std::uint32_t>(g->rw_socket_fd));
    o.store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(g->evtchn_fd));
    return end_record(kGlobalDataSize);
  }
  if (const auto* c = std::get_if<ConnectionData>(&body)) {
    std::uint64_t len = kConnectionFixedSize + c->in_data.size() + c->out_data.size();
    std::byte* p = begin_record(type, len, kConnectionFixedSize);
    o.store<std::uint32_t>(p, c->conn_id);
    o.store<std::uint16_t>(p + 4, c->conn_type());
    o.store<std::uint16_t>(p + 6, 0);
    if (const auto* r = std::get_if<RingSpec>(&c->spec)) {
      o.store<std::uint16_t>(p + 8, r->domid);
      o.store<std::uint16_t>(p + 10, r->tdomid);
      o.store<std::uint32_t>(p + 12, r->evtchn);
    } else {
      o.store<std::uint32_t>(p + 8, static_cast<std::uint32_t>(std::get<SocketSpec>(c->spec).socket_fd));
      o.store<std::uint32_t>(p + 12, 0);
    }
    o.store<std::uint16_t>(p + 16, static_cast<std::uint16_t>(c->in_data.size()));
    o.store<std::uint16_t>(p + 18, c->out_resp_len);
    o.store<std::uint32_t>(p + 20, static_cast<std::uint32_t>(c->out_data.size()));
    put_bytes(c->in_data);
    if (c->out_data.size() >= kDirectAt) {
      // Big pending output: hand it to the sink without copying.
      TERN_TRY(flush(c->out_data));
    } else {
      put_bytes(c->out_data);
    }
    return end_record(len);
  }
  if (const auto* w = std::get_if<WatchData>(&body)) {
    std::size_t fixed = w->depth ? kWatchExtendedFixedSize : kWatchFixedSize;
    std::uint64_t len = fixed + w->path.size() + 1 + w->token.size() + 1;
    std::byte* p = begin_record(type, len, fixed);
    o.store<std::uint32_t>(p, w->conn_id);
    o.store<std::uint16_t>(p + 4, static_cast<std::uint16_t>(w->path.size() + 1));
    o.store<std::uint16_t>(p + 6, static_cast<std::uint16_t>(w->token.size() + 1));
    if (w->depth) {
      o.store<std::uint16_t>(p + 8, *w->depth);
      o.store<std::uint16_t>(p + 10, 0);
    }
    put_bytes(as_bytes(w->path));
    buf_.push_back(std::byte{0});
    put_bytes(as_bytes(w->token));
    buf_.push_back(std::byte{0});
    return end_record(len);
  }
  if (const auto* t = std::get_if<TransactionData>(&body)) {
    std::byte* p = begin_record(type, kTransactionDataSize, kTransactionDataSize);
    o.store<std::uint32_t>(p, t->conn_id);
    o.store<std::uint32_t>(p + 4, t->tx_id);
    return end_record(kTransactionDataSize);
  }
  if (const auto* n = std::get_if<NodeData>(&body)) {
    std::size_t fixed = kNodeFixedSize + n->perms.size() * kPermSize;
    std::uint64_t len = fixed + n->path.size() + 1 + n->value.size();
    std::byte* p = begin_record(type, len, fixed);
    o.store<std::uint32_t>(p, n->conn_id);
    o.store<std::uint32_t>(p + 4, n->tx_id);
    o.store<std::uint16_t>(p + 8, static_cast<std::uint16_t>(n->path.size() + 1));
    o.store<std::uint16_t>(p + 10, static_cast<std::uint16_t>(n->value.size()));
    o.store<std::uint16_t>(p + 12, n->access);
    o.store<std::uint16_t>(p + 14, static_cast<std::uint16_t>(n->perms.size()));
    std::byte* q = p + kNodeFixedSize;
    for (const Perm& perm : n->perms) {
      q[0] = static_cast<std::byte>(perm.perm);
      q[1] = static_cast<std::byte>(perm.flags);
      o.store<std::uint16_t>(q + 2, perm.domid);
      q += kPermSize;
    }
    put_bytes(as_bytes(n->path));
    buf_.push_back(std::byte{0});
    put_bytes(n->value);
    return end_record(len);
  }
  // Quota records: fixed part, values, then NUL-terminated names.
  auto put_quotas = [&](std::byte* values, std::span<const Quota> qs) {
    for (const Quota& q : qs) {
      o.store<std::uint32_t>(values, q.value);
      values += kQuotaValueSize;
    }
  };
  auto put_names = [&](std::span<const Quota> qs) {
    for (const Quota& q : qs) {
      put_bytes(as_bytes(q.name));
      buf_.push_back(std::byte{0});
    }
  };
  if (const auto* g = std::get_if<GlobalQuotaData>(&body)) {
    std::uint64_t len = kGlobalQuotaFixedSize + quota_len(g->per_domain) + quota_len(g->global);
    std::size_t nvals = g->per_domain.size() + g->global.size();
    std::byte* p = begin_record(type, len, kGlobalQuotaFixedSize + nvals * kQuotaValueSize);
    o.store<std::uint16_t>(p, static_cast<std::uint16_t>(g->per_domain.size()));
    o.store<std::uint16_t>(p + 2, static_cast<std::uint16_t>(g->global.size()));
    put_quotas(p + kGlobalQuotaFixedSize, g->per_domain);
    put_quotas(p + kGlobalQuotaFixedSize + g->per_domain.size() * kQuotaValueSize, g->global);
    put_names(g->per_domain);
    put_names(g->global);
    return end_record(len);
  }
  if (const auto* c = std::get_if<TernConnectionData>(&body)) {
    std::byte* p = begin_record(type, kTernConnectionSize, kTernConnectionSize);
    o.store<std::uint16_t>(p, static_cast<std::uint16_t>(TernKind::connection));
    o.store<std::uint16_t>(p + 2, 0);
    o.store<std::uint32_t>(p + 4, c->conn_id);
    o.store<std::uint16_t>(p + 8, c->domid);
    o.store<std::uint16_t>(p + 10, c->flags);
    o.store<std::uint16_t>(p + 12, c->target);
    o.store<std::uint16_t>(p + 14, 0);
    o.store<std::uint32_t>(p + 16, c->next_tx_id);
    o.store<std::uint32_t>(p + 20, c->live_update_reply_at);
    return end_record(kTernConnectionSize);
  }
  if (const auto* d = std::get_if<TernDomainData>(&body)) {
    std::byte* p = begin_record(type, kTernDomainSize, kTernDomainSize);
    o.store<std::uint16_t>(p, static_cast<std::uint16_t>(TernKind::domain));
    o.store<std::uint16_t>(p + 2, 0);
    o.store<std::uint16_t>(p + 4, d->domid);
    o.store<std::uint16_t>(p + 6, d->flags);
    o.store<std::uint16_t>(p + 8, d->target);
    o.store<std::uint16_t>(p + 10, 0);
    o.store<std::uint32_t>(p + 12, d->evtchn);
    o.store<std::uint64_t>(p + 16, d->gfn);
    return end_record(kTernDomainSize);
  }
  if (const auto* r = std::get_if<TernRingData>(&body)) {
    std::byte* p = begin_record(type, kTernRingSize, kTernRingSize);
    o.store<std::uint16_t>(p, static_cast<std::uint16_t>(TernKind::ring));
    o.store<std::uint16_t>(p + 2, 0);
    o.store<std::uint32_t>(p + 4, r->conn_id);
    o.store<std::uint64_t>(p + 8, r->page_index);
    o.store<std::uint32_t>(p + 16, static_cast<std::uint32_t>(r->memory_fd));
    o.store<std::uint32_t>(p + 20, static_cast<std::uint32_t>(r->to_guest_fd));
    o.store<std::uint32_t>(p + 24, r->features);
    o.store<std::uint32_t>(p + 28, 0);
    return end_record(kTernRingSize);
  }
  if (const auto* t = std::get_if<TernTransactionData>(&body)) {
    std::uint64_t len = tern_transaction_len(*t);
    std::byte* p = begin_record(type, len, kTernTransactionFixedSize);
    o.store<std::uint16_t>(p, static_cast<std::uint16_t>(TernKind::transaction));
    o.store<std::uint16_t>(p + 2, 0);
    o.store<std::uint32_t>(p + 4, t->conn_id);
    o.store<std::uint32_t>(p + 8, t->tx_id);
    o.store<std::uint32_t>(p + 12, t->flags);
    o.store<std::uint32_t>(p + 16, static_cast<std::uint32_t>(t->usage.size()));
    o.store<std::uint32_t>(p + 20, static_cast<std::uint32_t>(t->events.size()));
    o.store<std::uint32_t>(p + 24, static_cast<std::uint32_t>(t->children.size()));
    for (const TernUsage& u : t->usage) {
      std::array<std::byte, kTernUsageSize> e{};
      o.store<std::uint16_t>(e.data(), u.domid);
      o.store<std::uint32_t>(e.data() + 4, static_cast<std::uint32_t>(u.nodes));
      o.store<std::uint64_t>(e.data() + 8, static_cast<std::uint64_t>(u.bytes));
      put_bytes(e);
    }
    for (const TernEvent& ev : t->events) {
      std::array<std::byte, kTernEventFixedSize> h{};
      h[0] = static_cast<std::byte>(ev.flags);
      o.store<std::uint16_t>(h.data() + 2, static_cast<std::uint16_t>(ev.path.size() + 1));
      o.store<std::uint16_t>(h.data() + 4, static_cast<std::uint16_t>(ev.perms.size()));
      o.store<std::uint16_t>(h.data() + 6, static_cast<std::uint16_t>(ev.old_perms.size()));
      put_bytes(h);
      for (auto list : {ev.perms, ev.old_perms})
        for (const Perm& perm : list) {
          std::array<std::byte, kPermSize> q{};
          q[0] = static_cast<std::byte>(perm.perm);
          q[1] = static_cast<std::byte>(perm.flags);
          o.store<std::uint16_t>(q.data() + 2, perm.domid);
          put_bytes(q);
        }
      put_bytes(as_bytes(ev.path));
      buf_.push_back(std::byte{0});
    }
    for (const TernChildren& c : t->children) {
      std::array<std::byte, kTernChildrenFixedSize> h{};
      o.store<std::uint16_t>(h.data(), static_cast<std::uint16_t>(c.path.size() + 1));
      o.store<std::uint32_t>(h.data() + 4, static_cast<std::uint32_t>(c.names.size()));
      put_bytes(h);
      put_bytes(as_bytes(c.path));
      buf_.push_back(std::byte{0});
      put_bytes(c.names);
    }
    return end_record(len);
  }
  const auto& d = std::get<DomainData>(body);
  std::uint64_t len = kDomainFixedSize + quota_len(d.quotas);
  std::byte* p = begin_record(type, len, kDomainFixedSize + d.quotas.size() * kQuotaValueSize);
  o.store<std::uint16_t>(p, d.domid);
  o.store<std::uint16_t>(p + 2, static_cast<std::uint16_t>(d.quotas.size()));
  o.store<std::uint32_t>(p + 4, d.features);
  put_quotas(p + kDomainFixedSize, d.quotas);
  put_names(d.quotas);
  return end_record(len);
}

Expected<void> write_image(ByteSink& sink, std::span<const RecordBody> records, WriterOptions opts) {
  ImageWriter w(sink, opts);
  TERN_TRY(w.write_header());
  for (const RecordBody& r : records) TERN_TRY(w.write(r));
  return w.finish();
}

}  // namespace tern::stream::xenstore
