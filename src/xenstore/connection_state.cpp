#include "xenstore/connection_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "xenstore/daemon.hpp"
#include "xenstore/socket_transport.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

long DetachedTransport::read_some(char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

long DetachedTransport::write_some(const char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

long InheritedSocket::read_some(char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

long InheritedSocket::write_some(const char*, std::size_t) {
  errno = EAGAIN;
  return -1;
}

Expected<ConnSpec> save_transport(const Connection& c) {
  if (!c.transport) return make_error(Errc::internal, "connection {} has no transport", c.id);
  if (is_parked(c)) return img::SocketSpec{-1};
  if (c.transport->type() == ConnType::socket) return img::SocketSpec{c.transport->fd()};
  // A ring connection (memfd page and eventfds from INTRODUCE) would need its
  // descriptors kept across the exec and a RingTransport rebuilt around them;
  // not done yet, so an image cannot hold one.
  return make_error(Errc::unsupported,
                    "connection {} (domain {}): {} connections cannot be saved in an image yet",
                    c.id, c.who.domid, conn_type_name(c.transport->type()));
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
  const auto& r = std::get<img::RingSpec>(spec);
  return make_error(Errc::unsupported,
                    "connection {}: shared-ring connection of domain {} (this tern-xenstored has "
                    "no ring transport)",
                    conn_id, r.domid);
}

void adopt_sockets(Daemon& d) {
  for (auto& [id, c] : d.conns) {
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
