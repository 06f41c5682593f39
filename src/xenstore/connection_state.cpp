#include "xenstore/connection_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/ring_transport.hpp"
#include "xenstore/socket_transport.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

long IdleTransport::read_some(char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

long IdleTransport::write_some(const char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

Expected<ConnSpec> save_transport(const Connection& c) {
  if (!c.transport) return make_error(Errc::internal, "connection {} has no transport", c.id);
  if (is_parked(c)) return img::SocketSpec{-1};
  if (c.transport->type() == ConnType::socket) return img::SocketSpec{c.transport->fd()};
  const auto* ring = dynamic_cast<const RingTransport*>(c.transport.get());
  if (ring == nullptr || c.who.domid > 0xffff || (c.who.target && *c.who.target > 0xffff))
    return make_error(Errc::internal, "connection {} (domain {}): a {} connection tern cannot save",
                      c.id, c.who.domid, conn_type_name(c.transport->type()));
  // Xen's evtchn is the daemon's local port: here the eventfd it waits on.
  return img::RingSpec{
      static_cast<std::uint16_t>(c.who.domid),
      c.who.target ? static_cast<std::uint16_t>(*c.who.target) : img::kDomidInvalid,
      static_cast<std::uint32_t>(ring->fds().to_daemon.get())};
}

std::optional<img::TernRingData> save_ring(const Connection& c, std::uint32_t conn_id) {
  const auto* ring = dynamic_cast<const RingTransport*>(c.transport.get());
  if (ring == nullptr) return std::nullopt;
  return img::TernRingData{conn_id, ring->page_index(), ring->fds().memory.get(),
                           ring->fds().to_guest.get(), ring->features()};
}

Expected<std::unique_ptr<Transport>> restore_transport(std::uint32_t conn_id, const ConnSpec& spec,
                                                       FdCheck check) {
  if (const auto* s = std::get_if<img::SocketSpec>(&spec)) {
    if (s->socket_fd == -1) return std::make_unique<DetachedTransport>();
    if (s->socket_fd < 0)
      return make_error(Errc::invalid, "connection {}: socket-fd {} is not a descriptor", conn_id,
                        s->socket_fd);
    if (check == FdCheck::open_sockets) {
      struct stat st {};
      if (::fstat(s->socket_fd, &st) != 0)
        return make_error(Errc::invalid,
                          "connection {}: socket-fd {} is not open in this process ({})", conn_id,
                          s->socket_fd, std::strerror(errno));
      if (!S_ISSOCK(st.st_mode))
        return make_error(Errc::invalid, "connection {}: descriptor {} is not a socket", conn_id,
                          s->socket_fd);
    }
    return std::make_unique<InheritedSocket>(s->socket_fd);
  }
  // Its ring record follows (restore_ring).
  return std::make_unique<InheritedRing>();
}

Expected<std::unique_ptr<Transport>> restore_ring(const img::RingSpec& spec,
                                                  const img::TernRingData& r, FdCheck check) {
  if (spec.evtchn > 0x7fffffffu)
    return make_error(Errc::invalid, "connection {}: evtchn {} is not a descriptor", r.conn_id,
                      spec.evtchn);
  RingFdNumbers fds{r.memory_fd, static_cast<int>(spec.evtchn), r.to_guest_fd};
  if (check == FdCheck::open_sockets)
    if (auto ok = RingTransport::check(fds.memory, fds.to_daemon, fds.to_guest, r.page_index); !ok)
      return make_error(
          Errc::invalid, "connection {} (domain {}): inherited ring descriptors {}, {}, {}: {}",
          r.conn_id, spec.domid, fds.memory, fds.to_daemon, fds.to_guest, ok.error().message());
  return std::make_unique<InheritedRing>(fds, r.page_index, r.features);
}

void adopt_transports(Daemon& d) {
  for (auto& [id, c] : d.conns) {
    if (auto* ring = dynamic_cast<InheritedRing*>(c->transport.get())) {
      const RingFdNumbers& n = ring->fds();
      for (int fd : {n.memory, n.to_daemon, n.to_guest}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      auto t = RingTransport::attach(
          RingFds{UniqueFd(n.memory), UniqueFd(n.to_daemon), UniqueFd(n.to_guest)},
          ring->page_index(), ring->features());
      if (t) {
        c->transport = std::move(*t);
      } else {
        // Checked at restore, so only mmap can fail here. The domain keeps
        // its state, parked: its next INTRODUCE gives it a ring again.
        log::error("connection {} (domain {}): cannot map its ring: {}", id, c->who.domid,
                   t.error().message());
        c->transport = std::make_unique<DetachedTransport>();
      }
      continue;
    }
    auto* inherited = dynamic_cast<InheritedSocket*>(c->transport.get());
    if (inherited == nullptr) continue;
    int fd = inherited->fd();
    // The exec cleared close-on-exec so the socket survived; set it again.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->transport = std::make_unique<SocketTransport>(UniqueFd(fd));
  }
}

SavedOutput save_output(const Connection& c) {
  std::string_view data = std::string_view(c.out).substr(c.out_sent);
  std::uint64_t at = c.out_base + c.out_sent;
  std::uint64_t partial = c.out_msg_end > at ? c.out_msg_end - at : 0;
  return SavedOutput{data, static_cast<std::uint16_t>(partial)};
}

namespace {
// Calls f(type, end) for each whole message of `data` from `pos`; returns
// the offset where the whole messages end.
template <typename F>
std::size_t walk_messages(std::string_view data, std::size_t pos, F&& f) {
  while (data.size() - pos >= kHeaderSize) {
    auto h = decode_header(
        std::span(reinterpret_cast<const std::uint8_t*>(data.data()) + pos, data.size() - pos));
    if (!h || data.size() - pos - kHeaderSize < h->len) break;
    pos += kHeaderSize + h->len;
    f(h->type, pos);
  }
  return pos;
}
}  // namespace

Expected<void> restore_output(Connection& c, std::string_view data, std::uint16_t resp_len) {
  c.out.assign(data);
  c.out_sent = 0;
  c.out_base = 0;
  c.out_msg_end = resp_len;
  c.reply_ends.clear();
  if (resp_len > 0) c.reply_ends.push_back(resp_len);
  std::size_t end = walk_messages(data, resp_len, [&](std::uint32_t type, std::size_t at) {
    if (type != static_cast<std::uint32_t>(Type::watch_event)) c.reply_ends.push_back(at);
  });
  if (end != data.size())
    return make_error(
        Errc::invalid,
        "connection {}: pending output holds {} octets at offset {} that are not a whole message",
        c.id, data.size() - end, end);
  return {};
}

void append_output(Connection& c, std::string_view whole_messages) {
  std::uint64_t base = c.out_base + c.out.size();
  walk_messages(whole_messages, 0, [&](std::uint32_t type, std::size_t at) {
    if (type != static_cast<std::uint32_t>(Type::watch_event)) c.reply_ends.push_back(base + at);
  });
  c.out.append(whole_messages);
}

std::string_view whole_requests(std::string_view in) {
  return in.substr(0, walk_messages(in, 0, [](std::uint32_t, std::size_t) {}));
}

}  // namespace tern::xs
