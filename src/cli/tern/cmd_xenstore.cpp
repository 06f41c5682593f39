// tern xenstore: tools that talk to a running tern-xenstored.
//  - ring-client: acts as a guest domain talking to the daemon through a shared
//    ring (and as its toolstack on the daemon's socket), driven by one command a
//    line on stdin; prints one line per command. For tests and for trying the
//    ring transport by hand; see docs/USAGE.md.
//  - export DOMID FILE / import FILE [--domid N]: move one domain's xenstore
//    state between xenstore daemons. The running daemon does the work (CONTROL
//    export-domain / import-domain over its socket); this command only asks it.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/ring_client.hpp"
#include "xenstore/wire.hpp"

namespace tern::cli {

namespace {

using xs::Type;

struct RingClientArgs {
  std::string socket;
  std::uint32_t domid = 0;
  std::uint64_t page = 0;
  std::uint32_t evtchn = 1;
  std::uint32_t start_offset = 0;
  int timeout_ms = 5000;
};

std::string default_socket() {
  if (const char* p = std::getenv("XENSTORED_PATH"); p && *p) return p;
  if (const char* d = std::getenv("XENSTORED_RUNDIR"); d && *d) return std::string(d) + "/socket";
  return "/var/run/xenstored/socket";
}

// Sends one CONTROL request and returns the reply's text.
Expected<std::string> control(const std::string& socket_path,
                              const std::vector<std::string>& args) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path)
    return make_error(Errc::usage, "socket path {} is too long", socket_path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error("connect " + socket_path, errno);
  std::string payload;
  for (const auto& a : args) {
    payload += a;
    payload.push_back('\0');
  }
  if (payload.size() > xs::kPayloadMax)
    return make_error(Errc::usage, "request longer than {} bytes", xs::kPayloadMax);
  std::string msg;
  xs::append_message(msg, static_cast<std::uint32_t>(xs::Type::control), 1, 0, payload);
  for (std::size_t off = 0; off < msg.size();) {
    long n = ::write(fd.get(), msg.data() + off, msg.size() - off);
    if (n <= 0) return errno_error("write " + socket_path, errno);
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  for (;;) {
    if (in.size() >= xs::kHeaderSize) {
      auto h =
          xs::decode_header(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
      if (h && in.size() >= xs::kHeaderSize + h->len) {
        std::string body = in.substr(xs::kHeaderSize, h->len);
        while (!body.empty() && body.back() == '\0') body.pop_back();
        if (h->type == static_cast<std::uint32_t>(xs::Type::error))
          return make_error(Errc::io, "the daemon answered {}", body);
        return body;
      }
    }
    char buf[4096];
    long n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return make_error(Errc::io, "{}: connection closed before the reply", socket_path);
    in.append(buf, static_cast<std::size_t>(n));
  }
}

int run(Context& ctx, const std::string& socket, const std::vector<std::string>& args) {
  auto r = control(socket.empty() ? default_socket() : socket, args);
  if (!r) {
    fmt::print(stderr, "tern xenstore: {}\n", r.error().message());
    return ctx.exit_code = kExitUsage;
  }
  bool ok = r->starts_with("OK");
  fmt::print(ok ? stdout : stderr, "{}\n", *r);
  return ctx.exit_code = ok ? kExitOk : kExitInvalid;
}

// One side of the conversation (the guest's ring or the toolstack's socket)
// with its current transaction.
struct Channel {
  xs::XsClient* client;
  std::uint32_t tx = 0;
};

std::string reply_line(const Expected<xs::Message>& m) {
  if (!m) return "FAIL " + m.error().message();
  if (m->hdr.type == static_cast<std::uint32_t>(Type::error))
    return "ERR " + xs::payload_text(m->payload);
  // One line per command: multi-line replies (CONTROL) keep their lines apart with " | ".
  std::string text = xs::payload_text(m->payload);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  for (std::size_t at; (at = text.find('\n')) != std::string::npos;) text.replace(at, 1, " | ");
  return text;
}

struct Spec {
  std::string_view word;
  Type type;
  std::size_t min_args;
  std::size_t max_args;
};
// Commands that are one request with their words as arguments.
constexpr Spec kSimple[] = {
    {"read", Type::read, 1, 1},
    {"mkdir", Type::mkdir, 1, 1},
    {"rm", Type::rm, 1, 1},
    {"dir", Type::directory, 1, 1},
    {"getperms", Type::get_perms, 1, 1},
    {"setperms", Type::set_perms, 2, 64},
    {"watch", Type::watch, 2, 3},
    {"unwatch", Type::unwatch, 2, 2},
    {"domain-path", Type::get_domain_path, 1, 1},
    {"introduced", Type::is_domain_introduced, 1, 1},
    {"resume", Type::resume, 1, 1},
    {"release", Type::release, 1, 1},
    {"control", Type::control, 1, 8},
    {"quota", Type::get_quota, 0, 2},
};

std::string args_payload(const std::vector<std::string>& w, std::size_t from) {
  std::string p;
  for (std::size_t i = from; i < w.size(); ++i) {
    p += w[i];
    p.push_back('\0');
  }
  return p;
}

std::string run_request(Channel& ch, const std::vector<std::string>& w, const RingClientArgs& a) {
  const std::string& cmd = w[0];
  const std::size_t nargs = w.size() - 1;
  for (const Spec& s : kSimple)
    if (cmd == s.word) {
      if (nargs < s.min_args || nargs > s.max_args)
        return fmt::format("FAIL usage: {} takes {}..{} arguments", cmd, s.min_args, s.max_args);
      return reply_line(ch.client->call(s.type, args_payload(w, 1), ch.tx));
    }
  if (cmd == "write" || cmd == "writen") {
    if (nargs != 2)
      return fmt::format("FAIL usage: {} PATH {}", cmd, cmd == "write" ? "VALUE" : "BYTES");
    std::string value = w[2];
    if (cmd == "writen") {
      // A value of N bytes cycling through the alphabet: long requests cross
      // the 1024-byte ring edge several times.
      value.clear();
      for (int i = 0, n = std::atoi(w[2].c_str()); i < n; ++i)
        value.push_back(static_cast<char>('a' + i % 26));
    }
    std::string p = w[1];
    p.push_back('\0');
    p += value;
    return reply_line(ch.client->call(Type::write, p, ch.tx));
  }
  if (cmd == "readlen") {  // the length of a value (for long ones)
    if (nargs != 1) return "FAIL usage: readlen PATH";
    auto m = ch.client->call(Type::read, args_payload(w, 1), ch.tx);
    if (!m || m->hdr.type == static_cast<std::uint32_t>(Type::error)) return reply_line(m);
    bool pattern = true;
    for (std::size_t i = 0; i < m->payload.size(); ++i)
      pattern &= m->payload[i] == static_cast<char>('a' + i % 26);
    return fmt::format("{} bytes{}", m->payload.size(),
                       pattern ? " (pattern intact)" : " (pattern broken)");
  }
  if (cmd == "start") {
    auto m = ch.client->call(Type::transaction_start, std::string_view("\0", 1));
    if (m && m->hdr.type == static_cast<std::uint32_t>(Type::transaction_start))
      ch.tx = static_cast<std::uint32_t>(std::strtoul(m->payload.c_str(), nullptr, 10));
    return reply_line(m);
  }
  if (cmd == "commit" || cmd == "abort") {
    auto m = ch.client->call(
        Type::transaction_end,
        cmd == "commit" ? std::string_view("T\0", 2) : std::string_view("F\0", 2), ch.tx);
    ch.tx = 0;
    return reply_line(m);
  }
  if (cmd == "event") {
    int ms = nargs >= 1 ? std::atoi(w[1].c_str()) : a.timeout_ms;
    xs::Message m;
    auto got = ch.client->next_event(ms, m);
    if (!got) return "FAIL " + got.error().message();
    if (!*got) return "NO EVENT";
    return "EVENT " + xs::payload_text(m.payload);
  }
  return fmt::format("FAIL unknown command '{}'", cmd);
}

int run_ring_client(const RingClientArgs& a) {
  auto sock = xs::SocketClient::connect(a.socket);
  if (!sock) {
    fmt::print(stderr, "tern xenstore ring-client: {}\n", sock.error().message());
    return kExitUsage;
  }
  sock->set_timeout(a.timeout_ms);
  auto guest = xs::RingGuest::create(a.start_offset);
  if (!guest) {
    fmt::print(stderr, "tern xenstore ring-client: {}\n", guest.error().message());
    return kExitUsage;
  }
  (*guest)->set_timeout(a.timeout_ms);
  Channel ring{guest->get()}, dom0{&*sock};
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string word; in >> word;) w.push_back(word);
    if (w.empty() || w[0].starts_with('#')) continue;
    std::string out;
    if (w[0] == "introduce") {
      auto m = sock->introduce(a.domid, a.page, a.evtchn, (*guest)->memory_fd(),
                               (*guest)->to_daemon_fd(), (*guest)->to_guest_fd());
      out = reply_line(m);
    } else if (w[0] == "ring-state") {
      out = fmt::format("features {} connection {} error {}", (*guest)->server_features(),
                        (*guest)->connection_state(), (*guest)->error_indicator());
    } else if (w[0] == "reconnect") {
      auto r = (*guest)->reconnect(a.timeout_ms);
      out = r ? "OK" : "FAIL " + r.error().message();
    } else if (w[0] == "dom0") {
      if (w.size() < 2) {
        out = "FAIL usage: dom0 COMMAND...";
      } else {
        w.erase(w.begin());
        out = run_request(dom0, w, a);
      }
    } else {
      out = run_request(ring, w, a);
    }
    fmt::print("{}\n", out);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace

void add_xenstore(CLI::App& app, Context& ctx) {
  auto* xs = app.add_subcommand("xenstore", "xenstore tools (talking to a running tern-xenstored)");
  xs->require_subcommand(1);
  auto a = std::make_shared<RingClientArgs>();
  auto* rc = xs->add_subcommand("ring-client",
                                "act as a guest domain on a shared ring (and its toolstack on the "
                                "socket); commands on stdin");
  rc->add_option("--socket", a->socket,
                 "daemon socket (default: $XENSTORED_PATH, $XENSTORED_RUNDIR/socket)");
  rc->add_option("--domid", a->domid, "the guest's domain id")->required();
  rc->add_option("--page", a->page,
                 "INTRODUCE's page argument (page index in the ring memory file)")
      ->capture_default_str();
  rc->add_option("--evtchn", a->evtchn, "INTRODUCE's event channel argument")
      ->capture_default_str();
  rc->add_option("--start-offset", a->start_offset,
                 "initial ring offsets (guests must not assume 0)")
      ->capture_default_str();
  rc->add_option("--timeout-ms", a->timeout_ms, "how long to wait for a reply or an event")
      ->capture_default_str();
  rc->callback([a, &ctx] {
    if (a->socket.empty()) a->socket = default_socket();
    ctx.exit_code = run_ring_client(*a);
  });

  static std::string socket, file;
  static std::uint32_t domid = 0;
  static std::optional<std::uint32_t> new_domid;
  const char* socket_help =
      "the daemon's socket (default: $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket)";

  auto* ex = xs->add_subcommand(
      "export", "write a domain's nodes, watches, transactions, connections and quotas");
  ex->add_option("DOMID", domid, "the domain")->required();
  ex->add_option("FILE", file, "image to write (xenstore image, see docs/FORMAT.md §5)")
      ->required();
  ex->add_option("--socket", socket, socket_help);
  ex->callback([&ctx] {
    run(ctx, socket,
        {"export-domain", std::to_string(domid), std::filesystem::absolute(file).string()});
  });

  auto* im = xs->add_subcommand("import",
                                "add an exported domain to the daemon (before it is introduced)");
  im->add_option("FILE", file, "image written by tern xenstore export")->required();
  im->add_option("--domid", new_domid, "import under this domid (paths and permissions follow)");
  im->add_option("--socket", socket, socket_help);
  im->callback([&ctx] {
    std::vector<std::string> args{"import-domain", std::filesystem::absolute(file).string()};
    if (new_domid) args.push_back(std::to_string(*new_domid));
    run(ctx, socket, args);
  });
}

}  // namespace tern::cli
