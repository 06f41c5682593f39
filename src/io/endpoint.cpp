#include "io/endpoint.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

namespace tern::io {

namespace {

constexpr std::string_view kUsage = "expected tcp://HOST:PORT, unix:PATH or fd:N";

Expected<std::uint64_t> parse_number(std::string_view s, std::uint64_t max, std::string_view what,
                                     std::string_view text) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max)
    return make_error(Errc::usage, "endpoint '{}': bad {} '{}' ({})", text, what, s, kUsage);
  return v;
}

Expected<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(a.sun_path))
    return make_error(Errc::usage, "unix socket path '{}' must be 1..{} bytes", path,
                      sizeof(a.sun_path) - 1);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

Expected<void> resolve(const Endpoint& ep, bool passive, AddrInfo& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  const std::string port = std::to_string(ep.port);
  const int rc =
      ::getaddrinfo(ep.host.empty() ? nullptr : ep.host.c_str(), port.c_str(), &hints, &out.list);
  if (rc != 0) return make_error(Errc::io, "cannot resolve '{}': {}", ep.host, ::gai_strerror(rc));
  return {};
}

void set_nodelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

std::string Endpoint::to_string() const {
  switch (kind) {
    case Kind::tcp:
      return host.find(':') != std::string::npos ? fmt::format("tcp://[{}]:{}", host, port)
                                                 : fmt::format("tcp://{}:{}", host, port);
    case Kind::unix_socket:
      return "unix:" + path;
    case Kind::fd:
      return fmt::format("fd:{}", fd);
  }
  return "?";
}

Expected<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  if (text.starts_with("tcp://")) {
    std::string_view rest = text.substr(6);
    std::string_view host, port;
    if (rest.starts_with('[')) {
      const auto close = rest.find(']');
      if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
        return make_error(Errc::usage, "endpoint '{}': unterminated [IPv6] host ({})", text,
                          kUsage);
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      const auto colon = rest.rfind(':');
      if (colon == std::string_view::npos)
        return make_error(Errc::usage, "endpoint '{}': missing :PORT ({})", text, kUsage);
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (host.empty())
      return make_error(Errc::usage, "endpoint '{}': empty host ({})", text, kUsage);
    TERN_TRY_ASSIGN(auto p, parse_number(port, 65535, "port", text));
    ep.kind = Endpoint::Kind::tcp;
    ep.host = std::string(host);
    ep.port = static_cast<std::uint16_t>(p);
    return ep;
  }
  if (text.starts_with("unix:")) {
    ep.kind = Endpoint::Kind::unix_socket;
    ep.path = std::string(text.substr(5));
    if (auto a = unix_address(ep.path); !a)
      return std::unexpected(a.error().context(fmt::format("endpoint '{}'", text)));
    return ep;
  }
  if (text.starts_with("fd:")) {
    TERN_TRY_ASSIGN(auto n, parse_number(text.substr(3), 1 << 20, "fd number", text));
    ep.kind = Endpoint::Kind::fd;
    ep.fd = static_cast<int>(n);
    if (::fcntl(ep.fd, F_GETFD) < 0)
      return make_error(Errc::usage, "endpoint '{}': fd {} is not open", text, n);
    return ep;
  }
  return make_error(Errc::usage, "endpoint '{}': unknown kind ({})", text, kUsage);
}

Listener::~Listener() {
  if (unlink_on_close_ && fd_) ::unlink(bound_.path.c_str());
}

Expected<Listener> Listener::open(const Endpoint& ep) {
  Listener l;
  l.bound_ = ep;
  switch (ep.kind) {
    case Endpoint::Kind::fd:
      return make_error(Errc::usage, "cannot listen on {}: fd endpoints are for --to",
                        ep.to_string());
    case Endpoint::Kind::unix_socket: {
      TERN_TRY_ASSIGN(auto addr, unix_address(ep.path));
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) return errno_error("socket(AF_UNIX)", errno);
      struct stat st {};
      if (::stat(ep.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        // Replace a stale socket, never one a live process still serves.
        UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
          return make_error(Errc::io, "{}: another process is listening there", ep.path);
        ::unlink(ep.path.c_str());
      }
      if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return errno_error(fmt::format("bind {}", ep.path), errno);
      if (::listen(fd.get(), 1) != 0) return errno_error(fmt::format("listen {}", ep.path), errno);
      l.fd_ = std::move(fd);
      l.unlink_on_close_ = true;
      return l;
    }
    case Endpoint::Kind::tcp: {
      AddrInfo ai;
      TERN_TRY(resolve(ep, true, ai));
      int last_errno = 0;
      for (addrinfo* a = ai.list; a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) {
          last_errno = errno;
          continue;
        }
        int one = 1;
        (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 1) != 0) {
          last_errno = errno;
          continue;
        }
        sockaddr_storage got{};
        socklen_t len = sizeof got;
        if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&got), &len) == 0) {
          char host[NI_MAXHOST], serv[NI_MAXSERV];
          if (::getnameinfo(reinterpret_cast<sockaddr*>(&got), len, host, sizeof host, serv,
                            sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            l.bound_.host = host;
            l.bound_.port = static_cast<std::uint16_t>(std::atoi(serv));
          }
        }
        l.fd_ = std::move(fd);
        return l;
      }
      return errno_error(fmt::format("listen on {}", ep.to_string()), last_errno);
    }
  }
  return make_error(Errc::internal, "unknown endpoint kind");
}

Expected<UniqueFd> Listener::accept_one(std::optional<std::chrono::milliseconds> timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  const int ms = timeout ? static_cast<int>(timeout->count()) : -1;
  for (;;) {
    const int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno_error("poll on the listening socket", errno);
    if (rc == 0)
      return make_error(Errc::io, "no sender connected to {} within {} ms", bound_.to_string(), ms);
    break;
  }
  UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!c) return errno_error(fmt::format("accept on {}", bound_.to_string()), errno);
  if (bound_.kind == Endpoint::Kind::tcp) set_nodelay(c.get());
  return c;
}

Expected<UniqueFd> connect_endpoint(const Endpoint& ep, std::chrono::milliseconds timeout) {
  if (ep.kind == Endpoint::Kind::fd) {
    UniqueFd d(::fcntl(ep.fd, F_DUPFD_CLOEXEC, 0));
    if (!d) return errno_error(fmt::format("dup fd {}", ep.fd), errno);
    return d;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int err = 0;
    if (ep.kind == Endpoint::Kind::unix_socket) {
      TERN_TRY_ASSIGN(auto addr, unix_address(ep.path));
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) return errno_error("socket(AF_UNIX)", errno);
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
      err = errno;
    } else {
      AddrInfo ai;
      TERN_TRY(resolve(ep, false, ai));
      for (addrinfo* a = ai.list; a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) {
          err = errno;
          continue;
        }
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
          set_nodelay(fd.get());
          return fd;
        }
        err = errno;
      }
    }
    const bool retry = err == ECONNREFUSED || err == ENOENT || err == EAGAIN;
    if (!retry || std::chrono::steady_clock::now() >= deadline)
      return errno_error(fmt::format("connect to {}", ep.to_string()), err);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace tern::io
