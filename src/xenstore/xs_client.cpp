#include "xenstore/xs_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "io/unix_socket.hpp"

namespace tern::xs {

namespace {

// Milliseconds left until `deadline`, at least 0.
int left_ms(std::chrono::steady_clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  return d.count() > 0 ? static_cast<int>(d.count()) : 0;
}

}  // namespace

std::string nul_joined(std::initializer_list<std::string_view> args) {
  std::string s;
  for (auto a : args) {
    s.append(a);
    s.push_back('\0');
  }
  return s;
}

std::string payload_text(std::string_view payload) {
  if (!payload.empty() && payload.back() == '\0') payload.remove_suffix(1);
  std::string s(payload);
  for (char& ch : s)
    if (ch == '\0') ch = ' ';
  return s;
}

Expected<bool> XsClient::take_message(std::string& in, Message& out) {
  auto hdr = decode_header(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
  if (!hdr) return false;
  if (hdr->len > kPayloadMax)
    return make_error(Errc::invalid, "daemon sent a {} message with a {}-byte payload (limit {})",
                      type_name(hdr->type), hdr->len, kPayloadMax);
  if (in.size() - kHeaderSize < hdr->len) return false;
  out = Message{*hdr, in.substr(kHeaderSize, hdr->len)};
  in.erase(0, kHeaderSize + hdr->len);
  return true;
}

Expected<Message> XsClient::call(Type type, std::string_view payload, std::uint32_t tx_id) {
  const std::uint32_t req = next_req_++;
  std::string bytes;
  append_message(bytes, static_cast<std::uint32_t>(type), req, tx_id, payload);
  TERN_TRY(send_bytes(bytes, timeout_ms_));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  Message m;
  while (true) {
    TERN_TRY_ASSIGN(bool got, receive(left_ms(deadline), m));
    if (!got)
      return make_error(Errc::io, "{} request {}: no reply within {} ms (timed out)",
                        type_name(static_cast<std::uint32_t>(type)), req, timeout_ms_);
    if (m.hdr.type == static_cast<std::uint32_t>(Type::watch_event)) {
      events_.push_back(std::move(m));
      continue;
    }
    if (m.hdr.req_id != req)
      return make_error(Errc::invalid, "{} request {}: reply carries request id {}",
                        type_name(static_cast<std::uint32_t>(type)), req, m.hdr.req_id);
    return m;
  }
}

Expected<bool> XsClient::next_event(int timeout_ms, Message& out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (events_.empty()) {
    Message m;
    TERN_TRY_ASSIGN(bool got, receive(left_ms(deadline), m));
    if (!got) return false;
    if (m.hdr.type != static_cast<std::uint32_t>(Type::watch_event))
      return make_error(Errc::invalid, "unexpected {} (request {}) while waiting for a watch event",
                        type_name(m.hdr.type), m.hdr.req_id);
    events_.push_back(std::move(m));
  }
  out = std::move(events_.front());
  events_.pop_front();
  return true;
}

// ---- unix socket -----------------------------------------------------------

Expected<SocketClient> SocketClient::connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return make_error(Errc::usage, "socket path {} is too long", path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error("connect " + path, errno);
  return SocketClient(std::move(fd));
}

Expected<> SocketClient::send_bytes(std::string_view bytes, int /*timeout_ms*/) {
  while (!bytes.empty()) {
    long n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("send to xenstored", errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Expected<bool> SocketClient::receive(int timeout_ms, Message& out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    TERN_TRY_ASSIGN(bool got, take_message(in_, out));
    if (got) return true;
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, left_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("poll xenstored socket", errno);
    if (r == 0) return false;
    char buf[8192];
    long n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("recv from xenstored", errno);
    if (n == 0) return make_error(Errc::io, "xenstored closed the connection");
    in_.append(buf, static_cast<std::size_t>(n));
  }
}

Expected<Message> SocketClient::introduce(std::uint32_t domid, std::uint64_t page,
                                          std::uint32_t evtchn, int memory_fd, int to_daemon_fd,
                                          int to_guest_fd) {
  // The daemon refuses descriptors on a connection that has not asked for
  // them (the kernel fails the sendmsg with EPERM); the reply says the
  // permission is in place.
  if (!fd_passing_) {
    TERN_TRY_ASSIGN(Message ok, call(Type::control, nul_joined({"tern-fd-passing"})));
    if (ok.hdr.type == static_cast<std::uint32_t>(Type::error))
      return make_error(Errc::invalid, "INTRODUCE {}: CONTROL tern-fd-passing refused: {}", domid,
                        payload_text(ok.payload));
    fd_passing_ = true;
  }
  const std::uint32_t req = next_req_++;
  std::string bytes;
  append_message(bytes, static_cast<std::uint32_t>(Type::introduce), req, 0,
                 nul_joined({std::to_string(domid), std::to_string(page), std::to_string(evtchn)}));
  // The descriptors travel with the request's bytes (one sendmsg), so the
  // daemon hands them to this INTRODUCE and no other request.
  const int fds[3] = {memory_fd, to_daemon_fd, to_guest_fd};
  const long n = io::send_with_fds(fd_.get(), bytes, fds);
  if (n < 0 && errno == EPERM)
    return make_error(Errc::io,
                      "sendmsg INTRODUCE {}: the daemon refuses descriptors on this connection "
                      "(EPERM; it takes them after CONTROL tern-fd-passing)",
                      domid);
  if (n < 0) return errno_error("sendmsg INTRODUCE", errno);
  if (static_cast<std::size_t>(n) < bytes.size())
    TERN_TRY(send_bytes(std::string_view(bytes).substr(static_cast<std::size_t>(n)), timeout_ms_));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  Message m;
  while (true) {
    TERN_TRY_ASSIGN(bool got, receive(left_ms(deadline), m));
    if (!got)
      return make_error(Errc::io, "INTRODUCE {}: no reply within {} ms (timed out)", domid,
                        timeout_ms_);
    if (m.hdr.type == static_cast<std::uint32_t>(Type::watch_event)) {
      events_.push_back(std::move(m));
      continue;
    }
    return m;
  }
}

}  // namespace tern::xs
