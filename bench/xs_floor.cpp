// xs_floor: the least a daemon can do per request on xs_load's workload, as a
// yardstick for xenstored_bench.sh. It is not a xenstored: it answers WRITE
// with "OK" and READ with the value that connection last wrote, and nothing
// else (any other type is an ENOSYS error). What it keeps is the shape of the
// I/O a real daemon cannot avoid: one edge-triggered epoll set, one recv()
// per request and one send() per reply on a unix stream socket. The CPU it
// uses per request is therefore what the kernel's socket work costs on this
// machine, and a daemon's CPU above it is its own.
//
//   xs_floor SOCKET     (runs until killed)
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xenstore/wire.hpp"

namespace {

using tern::xs::Type;

struct Client {
  std::string in;     // received bytes not yet answered
  std::string value;  // what its last WRITE stored
  std::string out;    // replies to send
};

void put_reply(std::string& out, const tern::xs::Header& req, Type type, std::string_view payload) {
  tern::xs::append_message(out, static_cast<std::uint32_t>(type), req.req_id, req.tx_id, payload);
}

// Answers every complete request in c.in. False: a payload over the limit.
bool answer(Client& c) {
  std::size_t at = 0;
  for (;;) {
    auto bytes =
        std::span(reinterpret_cast<const std::uint8_t*>(c.in.data()) + at, c.in.size() - at);
    auto h = tern::xs::decode_header(bytes);
    if (!h) break;
    if (h->len > tern::xs::kPayloadMax) return false;
    if (bytes.size() - tern::xs::kHeaderSize < h->len) break;
    std::string_view payload(c.in.data() + at + tern::xs::kHeaderSize, h->len);
    if (h->type == static_cast<std::uint32_t>(Type::write)) {
      auto nul = payload.find('\0');
      c.value.assign(nul == std::string_view::npos ? std::string_view() : payload.substr(nul + 1));
      put_reply(c.out, *h, Type::write, std::string_view("OK\0", 3));
    } else if (h->type == static_cast<std::uint32_t>(Type::read)) {
      put_reply(c.out, *h, Type::read, c.value);
    } else {
      put_reply(c.out, *h, Type::error, std::string_view("ENOSYS\0", 7));
    }
    at += tern::xs::kHeaderSize + h->len;
  }
  c.in.erase(0, at);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: xs_floor SOCKET\n");
    return 2;
  }
  sockaddr_un addr{};
  if (std::strlen(argv[1]) >= sizeof addr.sun_path) {
    std::fprintf(stderr, "xs_floor: socket path too long\n");
    return 2;
  }
  int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, argv[1]);
  ::unlink(argv[1]);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 1024) != 0) {
    std::perror("xs_floor: listen");
    return 1;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
    std::perror("xs_floor: epoll");
    return 1;
  }
  std::unordered_map<int, Client> clients;
  std::vector<epoll_event> events(256);
  std::vector<char> buf(65536);
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::perror("xs_floor: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLET;
          ev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          clients[c];
        }
        continue;
      }
      Client& c = clients[fd];
      bool drop = false;
      // Edge-triggered: read until a short read says the socket is drained.
      for (;;) {
        long got = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (got > 0) c.in.append(buf.data(), static_cast<std::size_t>(got));
        if (got < 0 && errno == EINTR) continue;
        if (got == 0 || (got < 0 && errno != EAGAIN)) drop = true;
        if (got <= 0 || static_cast<std::size_t>(got) < buf.size()) break;
      }
      if (!drop) drop = !answer(c);
      // Replies are a few dozen bytes and a client has one request in
      // flight: the socket always has room, so one send() writes them (what
      // it could not would go out with the next reply).
      if (!drop && !c.out.empty()) {
        long sent = ::send(fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0 && errno != EAGAIN) drop = true;
        if (sent > 0) c.out.erase(0, static_cast<std::size_t>(sent));
      }
      if (drop) {
        ::close(fd);
        clients.erase(fd);
      }
    }
  }
}
