#include "io/endpoint.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>

#include "io/unix_socket.hpp"

namespace tern::io {

Expected<Endpoint> parse_endpoint(const std::string& text) {
  Endpoint e;
  if (text.starts_with("unix:")) {
    e.kind = Endpoint::Kind::unix_path;
    e.path = text.substr(5);
    if (e.path.empty())
      return make_error(Errc::usage, "endpoint '{}': empty unix socket path", text);
    return e;
  }
  if (text.starts_with("fd:")) {
    e.kind = Endpoint::Kind::fd;
    const std::string n = text.substr(3);
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), e.fd);
    if (ec != std::errc() || p != n.data() + n.size() || e.fd < 0)
      return make_error(Errc::usage, "endpoint '{}': fd:N needs a file descriptor number", text);
    return e;
  }
  if (text.starts_with("tcp://")) {
    e.kind = Endpoint::Kind::tcp;
    std::string hp = text.substr(6);
    std::size_t colon;
    if (hp.starts_with("[")) {
      const std::size_t close = hp.find(']');
      if (close == std::string::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
        return make_error(Errc::usage, "endpoint '{}': expected tcp://[IPV6]:PORT", text);
      e.host = hp.substr(1, close - 1);
      colon = close + 1;
    } else {
      colon = hp.rfind(':');
      if (colon == std::string::npos)
        return make_error(Errc::usage, "endpoint '{}': expected tcp://HOST:PORT", text);
      e.host = hp.substr(0, colon);
    }
    e.port = hp.substr(colon + 1);
    if (e.host.empty() || e.port.empty())
      return make_error(Errc::usage, "endpoint '{}': expected tcp://HOST:PORT", text);
    return e;
  }
  return make_error(Errc::usage, "endpoint '{}': expected unix:PATH, tcp://HOST:PORT or fd:N",
                    text);
}

namespace {

Expected<addrinfo*> resolve(const Endpoint& e, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &res);
  if (rc != 0) return make_error(Errc::io, "resolve {}:{}: {}", e.host, e.port, ::gai_strerror(rc));
  return res;
}

void tune(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Expected<UniqueFd> connect_endpoint(const Endpoint& e) {
  switch (e.kind) {
    case Endpoint::Kind::unix_path:
      return connect_unix(e.path);
    case Endpoint::Kind::fd:
      return UniqueFd(e.fd);
    case Endpoint::Kind::tcp:
      break;
  }
  TERN_TRY_ASSIGN(addrinfo * res, resolve(e, false));
  int err = 0;
  for (addrinfo* a = res; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) {
      err = errno;
      continue;
    }
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
      ::freeaddrinfo(res);
      tune(fd.get());
      return fd;
    }
    err = errno;
  }
  ::freeaddrinfo(res);
  return errno_error(fmt::format("connect to tcp://{}:{}", e.host, e.port), err);
}

Expected<UniqueFd> listen_endpoint(const Endpoint& e) {
  switch (e.kind) {
    case Endpoint::Kind::unix_path:
      return listen_unix(e.path);
    case Endpoint::Kind::fd:
      return make_error(Errc::usage, "cannot listen on an fd: endpoint");
    case Endpoint::Kind::tcp:
      break;
  }
  TERN_TRY_ASSIGN(addrinfo * res, resolve(e, true));
  int err = 0;
  for (addrinfo* a = res; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd.get(), 4) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    err = errno;
  }
  ::freeaddrinfo(res);
  return errno_error(fmt::format("listen on tcp://{}:{}", e.host, e.port), err);
}

std::string describe(const Endpoint& e) {
  switch (e.kind) {
    case Endpoint::Kind::unix_path:
      return "unix:" + e.path;
    case Endpoint::Kind::fd:
      return fmt::format("fd:{}", e.fd);
    case Endpoint::Kind::tcp:
      return fmt::format("tcp://{}:{}", e.host, e.port);
  }
  return "?";
}

}  // namespace tern::io
