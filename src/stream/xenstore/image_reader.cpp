#include "stream/xenstore/image_reader.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace tern::stream::xenstore {

namespace {

constexpr const char* kWhat = "xenstore image";

std::string hex_ident(Bytes b) {
  std::string s;
  for (std::byte x : b) s += fmt::format("{:02x}", static_cast<unsigned>(x));
  return s;
}

}  // namespace

// One record's body being parsed: knows where it is, so every error can name
// the absolute offset of the offending field.
struct ImageReader::Body {
  Bytes data;                  // len octets as stored
  std::uint64_t base = 0;      // image offset of data[0]
  std::uint64_t rec_off = 0;   // image offset of the record header
  std::uint64_t index = 0;
  RecordType type = RecordType::end;
  std::uint32_t len = 0;
  ByteOrder order{false};
  bool padding_in_length = false;

  template <typename... Args>
  std::unexpected<Error> fail(std::uint64_t pos, fmt::format_string<Args...> f, Args&&... args) const {
    return make_error(Errc::invalid, "{}: offset {}: record #{} ({}, header at offset {}): {}", kWhat, base + pos,
                      index, record_type_name(type), rec_off, fmt::format(f, std::forward<Args>(args)...));
  }

  std::uint16_t u16(std::size_t pos) const { return order.load<std::uint16_t>(data.data() + pos); }
  std::uint32_t u32(std::size_t pos) const { return order.load<std::uint32_t>(data.data() + pos); }

  Expected<void> need_fixed(std::size_t n) const {
    if (data.size() < n)
      return fail(0, "body length {} is shorter than the {}-octet fixed part of the record", len, n);
    return {};
  }

  Expected<void> need_zero(std::size_t pos, std::size_t n, std::string_view what) const {
    for (std::size_t i = 0; i < n; ++i)
      if (data[pos + i] != std::byte{0})
        return fail(pos + i, "{} octet is 0x{:02x}, not zero", what, static_cast<unsigned>(data[pos + i]));
    return {};
  }

  // The body's declared content is `need` octets: len must be exactly that
  // (spec), or that rounded up to 8 with zero octets (Xen's C xenstored
  // counts the padding in len).
  Expected<void> fit(std::uint64_t need) {
    if (data.size() < need)
      return fail(0, "body length {} is shorter than the {} octets its fields declare", len, need);
    std::uint64_t extra = data.size() - need;
    if (extra == 0) return {};
    if (len % kRecordAlign == 0 && extra < kRecordAlign) {
      TERN_TRY(need_zero(static_cast<std::size_t>(need), static_cast<std::size_t>(extra),
                         "padding counted in len"));
      padding_in_length = true;
      return {};
    }
    return fail(need, "body length {} is longer than the {} octets its fields declare", len, need);
  }

  // A NUL-terminated string of `n` octets (terminator included) at pos.
  Expected<std::string_view> c_string(std::size_t pos, std::size_t n, std::string_view what) const {
    if (n == 0) return fail(pos, "{} length is 0 (it counts the NUL terminator)", what);
    const char* p = reinterpret_cast<const char*>(data.data() + pos);
    if (p[n - 1] != '\0') return fail(pos + n - 1, "{} is not NUL-terminated", what);
    if (const void* nul = std::memchr(p, 0, n - 1); nul != nullptr)
      return fail(pos + static_cast<std::size_t>(static_cast<const char*>(nul) - p),
                  "{} contains a NUL before its terminator", what);
    return std::string_view(p, n - 1);
  }

  // count quota values at `pos` followed by their NUL-terminated names.
  // Returns the end of the names.
  Expected<std::size_t> quotas(std::size_t pos, std::size_t count, std::vector<Quota>& out) const {
    std::size_t values_end = pos + count * kQuotaValueSize;
    if (data.size() < values_end)
      return fail(0, "body length {} is shorter than the {} octets of its {} quota values", len, values_end, count);
    std::size_t at = values_end;
    for (std::size_t i = 0; i < count; ++i) {
      if (at >= data.size()) return fail(at, "quota name #{} is missing (the body ends before it)", i);
      const char* p = reinterpret_cast<const char*>(data.data() + at);
      const void* nul = std::memchr(p, 0, data.size() - at);
      if (nul == nullptr) return fail(at, "quota name #{} is not NUL-terminated within the body", i);
      std::size_t n = static_cast<std::size_t>(static_cast<const char*>(nul) - p);
      if (n == 0) return fail(at, "quota name #{} is empty", i);
      out.push_back(Quota{std::string_view(p, n), u32(pos + i * kQuotaValueSize)});
      at += n + 1;
    }
    return at;
  }
};

Expected<Header> ImageReader::read_header() {
  if (state_ != State::header) return make_error(Errc::usage, "{}: read_header called twice", kWhat);
  state_ = State::failed;
  TERN_TRY_ASSIGN(Bytes h, src_.read(kHeaderSize));
  std::size_t ident_seen = std::min(h.size(), kIdent.size());
  // (An empty input has no data pointer at all: memcmp must not see it.)
  if (ident_seen > 0 && std::memcmp(h.data(), kIdent.data(), ident_seen) != 0)
    return make_error(Errc::invalid, "{}: offset 0: ident is 0x{} (\"xenstore\" = 0x78656e73746f7265 expected)",
                      kWhat, hex_ident(h.first(ident_seen)));
  if (h.size() < kHeaderSize)
    return make_error(Errc::truncated, "{}: offset {}: input ends inside the {}-octet header", kWhat, h.size(),
                      kHeaderSize);
  std::uint32_t version = load_be<std::uint32_t>(h.data() + 8);
  std::uint32_t flags = load_be<std::uint32_t>(h.data() + 12);
  if (version == 0)
    return make_error(Errc::invalid, "{}: offset 8: version is 0 (versions start at 1)", kWhat);
  if (version > kVersion2)
    return make_error(Errc::unsupported, "{}: offset 8: version {} is not supported (tern reads 1 and 2)", kWhat,
                      version);
  if ((flags & kFlagsReserved) != 0)
    return make_error(Errc::invalid, "{}: offset 12: flags 0x{:08x} set reserved bits 1-31 (must be zero)", kWhat,
                      flags);
  header_ = Header{version, (flags & kFlagBigEndian) != 0};
  order_ = ByteOrder(header_.big_endian);
  rules_.emplace(version);
  state_ = State::records;
  return header_;
}

Expected<Record> ImageReader::next() {
  if (state_ == State::header) return make_error(Errc::usage, "{}: next() before read_header()", kWhat);
  if (state_ == State::done) return make_error(Errc::usage, "{}: next() after the END record", kWhat);
  if (state_ == State::failed) return make_error(Errc::usage, "{}: next() after an error", kWhat);
  state_ = State::failed;  // until this record is good

  Body b;
  b.rec_off = src_.offset();
  b.index = index_;
  b.order = order_;
  TERN_TRY_ASSIGN(Bytes hdr, src_.read(kRecordHeaderSize));
  if (hdr.empty())
    return make_error(Errc::truncated,
                      "{}: offset {}: input ends where record #{} was expected, before any END record "
                      "(an image ends with END)",
                      kWhat, b.rec_off, b.index);
  if (hdr.size() < kRecordHeaderSize)
    return make_error(Errc::truncated, "{}: offset {}: input ends inside the header of record #{} ({} of 8 octets)",
                      kWhat, b.rec_off + hdr.size(), b.index, hdr.size());
  std::uint32_t type = order_.load<std::uint32_t>(hdr.data());
  b.len = order_.load<std::uint32_t>(hdr.data() + 4);
  b.base = b.rec_off + kRecordHeaderSize;
  if (!is_known_record_type(type))
    return make_error(Errc::invalid,
                      "{}: offset {}: record #{}: unknown record type 0x{:08x} (0-8 are defined, and 0x{:08x} "
                      "for tern's extension records)",
                      kWhat, b.rec_off, b.index, type, static_cast<std::uint32_t>(RecordType::tern_data));
  b.type = static_cast<RecordType>(type);
  if (record_min_version(type) > header_.version)
    return make_error(Errc::invalid, "{}: offset {}: record #{} ({}): only valid in version {} and later; this image is version {}",
                      kWhat, b.rec_off, b.index, record_type_name(type), record_min_version(type), header_.version);
  if (b.len > kMaxRecordBody)
    return make_error(Errc::invalid, "{}: offset {}: record #{} ({}): len {} exceeds tern's limit of {} octets",
                      kWhat, b.rec_off + 4, b.index, record_type_name(type), b.len, kMaxRecordBody);
  // Body and padding in one read, so the body view survives (see ByteSource).
  std::size_t total = static_cast<std::size_t>(align_up(b.len, kRecordAlign));
  TERN_TRY_ASSIGN(Bytes raw, src_.read(total));
  if (raw.size() < b.len)
    return make_error(Errc::truncated, "{}: offset {}: record #{} ({}): input ends inside the body ({} of {} octets)",
                      kWhat, b.base + raw.size(), b.index, record_type_name(type), raw.size(), b.len);
  if (raw.size() < total)
    return make_error(Errc::truncated, "{}: offset {}: record #{} ({}): input ends inside the padding after the body",
                      kWhat, b.base + raw.size(), b.index, record_type_name(type));
  b.data = raw.first(b.len);
  for (std::size_t i = b.len; i < total; ++i)
    if (raw[i] != std::byte{0})
      return make_error(Errc::invalid, "{}: offset {}: record #{} ({}): padding octet is 0x{:02x}, not zero",
                        kWhat, b.base + i, b.index, record_type_name(type), static_cast<unsigned>(raw[i]));

  TERN_TRY_ASSIGN(RecordBody body, parse(b));
  if (auto ok = rules_->check(body); !ok)
    return make_error(ok.error().code(), "{}: offset {}: record #{} ({}): {}", kWhat, b.rec_off, b.index,
                      record_type_name(type), ok.error().message());

  Record r;
  r.index = b.index;
  r.offset = b.rec_off;
  r.type = b.type;
  r.length = b.len;
  r.padding_in_length = b.padding_in_length;
  r.body = body;
  ++index_;
  state_ = b.type == RecordType::end ? State::done : State::records;
  return r;
}

Expected<RecordBody> ImageReader::parse(Body& b) {
  switch (b.type) {
    case RecordType::end: {
      TERN_TRY(b.fit(0));
      return EndRecord{};
    }
    case RecordType::global_data: {
      TERN_TRY(b.need_fixed(kGlobalDataSize));
      TERN_TRY(b.fit(kGlobalDataSize));
      return GlobalData{static_cast<std::int32_t>(b.u32(0)), static_cast<std::int32_t>(b.u32(4))};
    }
    case RecordType::connection_data: {
      TERN_TRY(b.need_fixed(kConnectionFixedSize));
      ConnectionData c;
      c.conn_id = b.u32(0);
      std::uint16_t conn_type = b.u16(4);
      TERN_TRY(b.need_zero(6, 2, "pad after conn-type"));
      if (conn_type == kConnTypeSharedRing) {
        c.spec = RingSpec{b.u16(8), b.u16(10), b.u32(12)};
      } else if (conn_type == kConnTypeSocket) {
        c.spec = SocketSpec{static_cast<std::int32_t>(b.u32(8))};
        TERN_TRY(b.need_zero(12, 4, "pad after socket-fd"));
      } else {
        return b.fail(4, "conn-type 0x{:04x} is reserved (0 = shared ring, 1 = socket)", conn_type);
      }
      std::uint16_t in_len = b.u16(16);
      c.out_resp_len = b.u16(18);
      std::uint32_t out_len = b.u32(20);
      std::uint64_t need = kConnectionFixedSize + std::uint64_t{in_len} + out_len;
      TERN_TRY(b.fit(need));
      if (c.out_resp_len > out_len)
        return b.fail(18, "out-resp-len {} exceeds out-data-len {} (the partial response is part of the pending output)",
                      c.out_resp_len, out_len);
      c.in_data = b.data.subspan(kConnectionFixedSize, in_len);
      c.out_data = b.data.subspan(kConnectionFixedSize + in_len, out_len);
      return c;
    }
    case RecordType::watch_data:
    case RecordType::watch_data_extended: {
      bool ext = b.type == RecordType::watch_data_extended;
      std::size_t fixed = ext ? kWatchExtendedFixedSize : kWatchFixedSize;
      TERN_TRY(b.need_fixed(fixed));
      WatchData w;
      w.conn_id = b.u32(0);
      std::uint16_t wlen = b.u16(4), tlen = b.u16(6);
      if (ext) {
        w.depth = b.u16(8);
        TERN_TRY(b.need_zero(10, 2, "pad after depth"));
      }
      TERN_TRY(b.fit(fixed + std::uint64_t{wlen} + tlen));
      TERN_TRY_ASSIGN(w.path, b.c_string(fixed, wlen, "wpath"));
      TERN_TRY_ASSIGN(w.token, b.c_string(fixed + wlen, tlen, "token"));
      return w;
    }
    case RecordType::transaction_data: {
      TERN_TRY(b.need_fixed(kTransactionDataSize));
      TERN_TRY(b.fit(kTransactionDataSize));
      return TransactionData{b.u32(0), b.u32(4)};
    }
    case RecordType::node_data: {
      TERN_TRY(b.need_fixed(kNodeFixedSize));
      NodeData n;
      n.conn_id = b.u32(0);
      n.tx_id = b.u32(4);
      std::uint16_t plen = b.u16(8), vlen = b.u16(10);
      n.access = b.u16(12);
      std::uint16_t pcount = b.u16(14);
      std::size_t perms_end = kNodeFixedSize + std::size_t{pcount} * kPermSize;
      TERN_TRY(b.fit(perms_end + std::uint64_t{plen} + vlen));
      perms_.clear();
      for (std::size_t i = 0; i < pcount; ++i) {
        const std::byte* p = b.data.data() + kNodeFixedSize + i * kPermSize;
        perms_.push_back(Perm{static_cast<char>(p[0]), static_cast<std::uint8_t>(p[1]),
                              b.order.load<std::uint16_t>(p + 2)});
        if (!is_perm_char(perms_.back().perm))
          return b.fail(kNodeFixedSize + i * kPermSize, "permission #{} has perm 0x{:02x} (must be 'r', 'w', 'b' or 'n')",
                        i, static_cast<unsigned>(p[0]));
        if ((perms_.back().flags & ~kPermFlagsMask) != 0)
          return b.fail(kNodeFixedSize + i * kPermSize + 1,
                        "permission #{} has undefined flag bits 0x{:02x} (only 0x01 stale is defined)", i,
                        static_cast<unsigned>(p[1]));
      }
      n.perms = perms_;
      TERN_TRY_ASSIGN(n.path, b.c_string(perms_end, plen, "path"));
      n.value = b.data.subspan(perms_end + plen, vlen);
      return n;
    }
    case RecordType::global_quota_data: {
      TERN_TRY(b.need_fixed(kGlobalQuotaFixedSize));
      std::size_t ndom = b.u16(0), nglob = b.u16(2);
      quotas_.clear();
      TERN_TRY_ASSIGN(std::size_t end, b.quotas(kGlobalQuotaFixedSize, ndom + nglob, quotas_));
      TERN_TRY(b.fit(end));
      GlobalQuotaData q;
      q.per_domain = std::span<const Quota>(quotas_).first(ndom);
      q.global = std::span<const Quota>(quotas_).subspan(ndom);
      return q;
    }
    case RecordType::tern_data: return parse_tern(b);
    case RecordType::domain_data: {
      TERN_TRY(b.need_fixed(kDomainFixedSize));
      DomainData d;
      d.domid = b.u16(0);
      std::size_t nq = b.u16(2);
      d.features = b.u32(4);
      quotas_.clear();
      TERN_TRY_ASSIGN(std::size_t end, b.quotas(kDomainFixedSize, nq, quotas_));
      TERN_TRY(b.fit(end));
      d.quotas = quotas_;
      return d;
    }
  }
  return b.fail(0, "internal: unhandled record type");
}

// TERN_DATA: a 2-octet kind, 2 octets of zero pad, then the kind's fields
// (layouts in tern_records.hpp and docs/FORMAT.md §5).
Expected<RecordBody> ImageReader::parse_tern(Body& b) {
  TERN_TRY(b.need_fixed(kTernPrefixSize));
  std::uint16_t kind = b.u16(0);
  TERN_TRY(b.need_zero(2, 2, "pad after kind"));
  auto perm_at = [&](std::size_t pos, std::size_t i) -> Expected<Perm> {
    const std::byte* p = b.data.data() + pos;
    Perm perm{static_cast<char>(p[0]), static_cast<std::uint8_t>(p[1]), b.order.load<std::uint16_t>(p + 2)};
    if (!is_perm_char(perm.perm))
      return b.fail(pos, "permission #{} has perm 0x{:02x} (must be 'r', 'w', 'b' or 'n')", i,
                    static_cast<unsigned>(p[0]));
    if ((perm.flags & ~kPermFlagsMask) != 0)
      return b.fail(pos + 1, "permission #{} has undefined flag bits 0x{:02x} (only 0x01 stale is defined)", i,
                    static_cast<unsigned>(p[1]));
    return perm;
  };
  switch (static_cast<TernKind>(kind)) {
    case TernKind::connection: {
      TERN_TRY(b.need_fixed(kTernConnectionSize));
      TERN_TRY(b.fit(kTernConnectionSize));
      TernConnectionData c{b.u32(4), b.u16(8), b.u16(10), b.u16(12), b.u32(16), b.u32(20)};
      if ((c.flags & ~kTernConnFlagsMask) != 0)
        return b.fail(10, "connection flags 0x{:04x} set undefined bits (0x1 privileged, 0x2 target, 0x4 "
                      "live-update reply, 0x8 ignored)", c.flags);
      if (!(c.flags & kTernConnHasTarget) && c.target != 0)
        return b.fail(12, "target is {} but the target flag (0x2) is clear (must be 0)", c.target);
      TERN_TRY(b.need_zero(14, 2, "pad after target"));
      if (!(c.flags & kTernConnLiveUpdateReply) && c.live_update_reply_at != 0)
        return b.fail(20, "live-update reply offset is {} but flag 0x4 is clear (must be 0)", c.live_update_reply_at);
      return c;
    }
    case TernKind::domain: {
      TERN_TRY(b.need_fixed(kTernDomainSize));
      TERN_TRY(b.fit(kTernDomainSize));
      TernDomainData d{b.u16(4), b.u16(6), b.u16(8), b.u32(12), b.order.load<std::uint64_t>(b.data.data() + 16)};
      if ((d.flags & ~kTernDomFlagsMask) != 0)
        return b.fail(6, "domain flags 0x{:04x} set undefined bits (0x1 introduced, 0x2 target)", d.flags);
      if (!(d.flags & kTernDomHasTarget) && d.target != 0)
        return b.fail(8, "target is {} but the target flag (0x2) is clear (must be 0)", d.target);
      TERN_TRY(b.need_zero(10, 2, "pad after target"));
      return d;
    }
    case TernKind::ring: {
      TERN_TRY(b.need_fixed(kTernRingSize));
      TERN_TRY(b.fit(kTernRingSize));
      TernRingData r{b.u32(4), b.order.load<std::uint64_t>(b.data.data() + 8), static_cast<std::int32_t>(b.u32(16)),
                     static_cast<std::int32_t>(b.u32(20)), b.u32(24)};
      if (r.memory_fd < 0) return b.fail(16, "ring memory-fd {} is not a descriptor", r.memory_fd);
      if (r.to_guest_fd < 0) return b.fail(20, "ring to-guest-fd {} is not a descriptor", r.to_guest_fd);
      TERN_TRY(b.need_zero(28, 4, "pad after features"));
      return r;
    }
    case TernKind::transaction: {
      TERN_TRY(b.need_fixed(kTernTransactionFixedSize));
      TernTransactionData t;
      t.conn_id = b.u32(4);
      t.tx_id = b.u32(8);
      t.flags = b.u32(12);
      std::uint64_t nusage = b.u32(16), nevents = b.u32(20), nchildren = b.u32(24);
      if ((t.flags & ~kTernTxFlagsMask) != 0)
        return b.fail(12, "transaction flags 0x{:08x} set undefined bits (0x1 conflicted)", t.flags);
      std::uint64_t pos = kTernTransactionFixedSize;
      if (nusage * kTernUsageSize > b.data.size() - pos)
        return b.fail(16, "{} usage entries of {} octets do not fit the {}-octet body", nusage, kTernUsageSize, b.len);
      tern_usage_.clear();
      for (std::uint64_t i = 0; i < nusage; ++i, pos += kTernUsageSize) {
        auto at = static_cast<std::size_t>(pos);
        TERN_TRY(b.need_zero(at + 2, 2, "pad after usage domid"));
        tern_usage_.push_back(TernUsage{b.u16(at), static_cast<std::int32_t>(b.u32(at + 4)),
                                        static_cast<std::int64_t>(b.order.load<std::uint64_t>(b.data.data() + at + 8))});
      }
      // Events: first their bounds (so the permission scratch is filled once
      // and never reallocated under the spans), then their contents.
      struct Ev { std::size_t at; std::uint8_t flags; std::size_t plen, np, nold; };
      std::vector<Ev> evs;
      std::size_t total_perms = 0;
      for (std::uint64_t i = 0; i < nevents; ++i) {
        if (b.data.size() - pos < kTernEventFixedSize)
          return b.fail(pos, "event #{} of {} does not fit in the body (the body ends {} octets further)", i, nevents,
                        b.data.size() - pos);
        auto at = static_cast<std::size_t>(pos);
        Ev e{at, static_cast<std::uint8_t>(b.data[at]), b.u16(at + 2), b.u16(at + 4), b.u16(at + 6)};
        if ((e.flags & ~kTernEventFlagsMask) != 0)
          return b.fail(at, "event #{} flags 0x{:02x} set undefined bits (0x1 exact, 0x2 old permissions)", i, e.flags);
        TERN_TRY(b.need_zero(at + 1, 1, "pad after event flags"));
        if (e.np == 0) return b.fail(at + 4, "event #{} has no permissions (a changed node always has an owner)", i);
        if (!(e.flags & kTernEventHasOldPerms) && e.nold != 0)
          return b.fail(at + 6, "event #{} has {} old permissions but flag 0x2 is clear", i, e.nold);
        if ((e.flags & kTernEventHasOldPerms) && e.nold == 0)
          return b.fail(at + 6, "event #{} has flag 0x2 (old permissions) but none", i);
        std::uint64_t size = kTernEventFixedSize + (e.np + e.nold) * kPermSize + e.plen;
        if (size > b.data.size() - pos)
          return b.fail(at, "event #{} of {} octets does not fit in the body (the body ends {} octets further)", i,
                        size, b.data.size() - pos);
        total_perms += e.np + e.nold;
        evs.push_back(e);
        pos += size;
      }
      tern_children_.clear();
      for (std::uint64_t i = 0; i < nchildren; ++i) {
        if (b.data.size() - pos < kTernChildrenFixedSize)
          return b.fail(pos, "children list #{} of {} does not fit in the body", i, nchildren);
        auto at = static_cast<std::size_t>(pos);
        std::size_t plen = b.u16(at);
        TERN_TRY(b.need_zero(at + 2, 2, "pad after children path-len"));
        std::uint64_t nlen = b.u32(at + 4);
        if (kTernChildrenFixedSize + plen + nlen > b.data.size() - pos)
          return b.fail(at, "children list #{} ({} + {} octets) does not fit in the body", i, plen, nlen);
        TernChildren ch;
        TERN_TRY_ASSIGN(ch.path, b.c_string(at + kTernChildrenFixedSize, plen, "children path"));
        ch.names = b.data.subspan(at + kTernChildrenFixedSize + plen, static_cast<std::size_t>(nlen));
        if (!ch.names.empty() && ch.names.back() != std::byte{0})
          return b.fail(at + kTernChildrenFixedSize + plen + nlen - 1, "children list of {} does not end with a NUL",
                        ch.path);
        tern_children_.push_back(ch);
        pos += kTernChildrenFixedSize + plen + nlen;
      }
      TERN_TRY(b.fit(pos));
      perms_.clear();
      perms_.reserve(total_perms);
      tern_events_.clear();
      for (std::size_t i = 0; i < evs.size(); ++i) {
        const Ev& e = evs[i];
        std::size_t at = e.at + kTernEventFixedSize;
        std::size_t first = perms_.size();
        for (std::size_t k = 0; k < e.np + e.nold; ++k, at += kPermSize) {
          TERN_TRY_ASSIGN(Perm p, perm_at(at, k));
          perms_.push_back(p);
        }
        TernEvent ev;
        ev.flags = e.flags;
        ev.perms = std::span<const Perm>(perms_).subspan(first, e.np);
        ev.old_perms = std::span<const Perm>(perms_).subspan(first + e.np, e.nold);
        TERN_TRY_ASSIGN(ev.path, b.c_string(at, e.plen, "event path"));
        tern_events_.push_back(ev);
      }
      t.usage = tern_usage_;
      t.events = tern_events_;
      t.children = tern_children_;
      return t;
    }
  }
  return b.fail(0, "TERN_DATA kind {} is not defined (1 connection, 2 domain, 3 transaction, 4 ring)", kind);
}

Expected<void> ImageReader::finish() {
  if (state_ != State::done)
    return make_error(Errc::usage, "{}: finish() before the END record was read", kWhat);
  std::uint64_t at = src_.offset();
  TERN_TRY_ASSIGN(std::uint64_t extra, src_.skip(std::numeric_limits<std::uint64_t>::max()));
  if (extra != 0)
    return make_error(Errc::invalid, "{}: offset {}: {} octets of data after the END record (record #{}); END is the final record",
                      kWhat, at, extra, index_ - 1);
  return {};
}

Expected<Header> read_image(ByteSource& src, const std::function<Expected<void>(const Record&)>& on_record) {
  ImageReader reader(src);
  TERN_TRY_ASSIGN(Header h, reader.read_header());
  for (;;) {
    TERN_TRY_ASSIGN(Record r, reader.next());
    if (r.type == RecordType::end) break;
    TERN_TRY(on_record(r));
  }
  TERN_TRY(reader.finish());
  return h;
}

}  // namespace tern::stream::xenstore
