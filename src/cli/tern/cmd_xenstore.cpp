// tern xenstore export DOMID FILE / tern xenstore import FILE [--domid N]:
// move one domain's xenstore state between xenstore daemons. The running
// tern-xenstored does the work (CONTROL export-domain / import-domain over
// its socket); this command only asks it.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "xenstore/wire.hpp"

namespace tern::cli {

namespace {

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

}  // namespace

void add_xenstore(CLI::App& app, Context& ctx) {
  auto* xs = app.add_subcommand(
      "xenstore", "one domain's xenstore state, out of and into a running tern-xenstored");
  xs->require_subcommand(1);
  static std::string socket, file;
  static std::uint32_t domid = 0;
  static std::optional<std::uint32_t> new_domid;
  const char* socket_help =
      "the daemon's socket (default: $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket)";

  auto* ex = xs->add_subcommand(
      "export", "write a domain's nodes, watches, transactions, connections and quotas");
  ex->add_option("DOMID", domid, "the domain")->required();
  ex->add_option("FILE", file, "image to write (xenstore image, see docs/FORMAT-xenstore.md)")
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
