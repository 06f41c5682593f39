// tern-xenstored: drop-in for Xen's xenstored on a unix socket (same options,
// environment and wire protocol). See src/xenstore/ for the implementation.
#include <fcntl.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): sigaction is POSIX
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/log.hpp"
#include "io/input.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/domain_transfer.hpp"
#include "xenstore/live_update.hpp"
#include "xenstore/server.hpp"
#include "xenstore/state_restore.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

std::string socket_path() {
  if (const char* p = std::getenv("XENSTORED_PATH"); p && *p) return p;
  if (const char* d = std::getenv("XENSTORED_RUNDIR"); d && *d) return std::string(d) + "/socket";
  return "/var/run/xenstored/socket";
}

std::string run_dir() {
  if (const char* d = std::getenv("XENSTORED_RUNDIR"); d && *d) return d;
  return "/var/run/xenstored";
}

std::string self_binary() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// --check-image FILE: what a live update runs first with the new binary.
// Reads the image as a restore would (without touching descriptors) and
// prints the counts the old daemon expects. (The restore builds every
// children list from the paths it inserts, so the store is consistent by
// construction; CONTROL check can verify it later.)
int check_image(const std::string& file) {
  auto in = tern::io::InputFile::open(file);
  if (!in) {
    fmt::print(stderr, "tern-xenstored: --check-image: {}\n", in.error().message());
    return 1;
  }
  tern::xs::Daemon d;
  auto res =
      tern::xs::restore_state(in->source(), d, {tern::xs::FdCheck::none, in->mapped().size()});
  if (!res) {
    fmt::print(stderr, "tern-xenstored: --check-image {}: {}\n", file, res.error().message());
    return 1;
  }
  fmt::print("check-image: ok nodes={} connections={}\n", res->nodes, res->connections);
  return 0;
}

// A new binary that cannot take the state hands it back to the binary that
// wrote it (its command line is in RUNDIR/state_dump.fallback), which
// restores it and answers the live-update request with the reason. Returns
// only if that is impossible.
void hand_back(const std::string& rundir, const std::string& why, int image_pipe) {
  // The child writing the image must finish state_dump first; it stops
  // writing the pipe once nobody reads it.
  if (image_pipe >= 0) ::close(image_pipe);
  while (::waitpid(-1, nullptr, 0) > 0) {
  }
  std::FILE* f =
      std::fopen((rundir + "/" + std::string(tern::xs::kFallbackArgsName)).c_str(), "rb");
  if (f == nullptr) return;
  std::string all;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) all.append(buf, n);
  std::fclose(f);
  std::vector<std::string> args;
  for (std::size_t pos = 0; pos < all.size();) {
    auto nul = all.find('\0', pos);
    if (nul == std::string::npos) break;
    args.push_back(all.substr(pos, nul - pos));
    pos = nul + 1;
  }
  if (args.empty() || args[0].empty()) return;
  args.emplace_back("-U");
  args.emplace_back("--live-update-failed");
  args.push_back(why);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  fmt::print(stderr, "tern-xenstored: handing the state back to {}\n", args[0]);
  std::fflush(nullptr);
  ::execv(args[0].c_str(), argv.data());
  fmt::print(stderr, "tern-xenstored: exec {}: {}\n", args[0], std::strerror(errno));
}

int daemonize() {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid > 0) ::_exit(0);
  ::setsid();
  pid = ::fork();  // not a session leader: never reacquires a terminal
  if (pid < 0) return -1;
  if (pid > 0) ::_exit(0);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::close(null);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  CLI::App app{"tern-xenstored: a xenstore daemon (Xen's wire protocol on a unix socket)"};
  tern::xs::Quotas quota;
  bool no_fork = false, verbose = false, output_pid = false, live_update = false;
  bool no_domain_init = false, no_recovery = false, keep_orphans = false;
  std::string pid_file, trace_file, internal_db;
  std::vector<std::string> hard, soft, timeouts;
  app.add_flag("-N,--no-fork", no_fork, "do not fork into the background");
  app.add_option("-F,--pid-file", pid_file, "write the daemon's pid to this file");
  app.add_option("-T,--trace-file", trace_file, "log every request and reply to this file");
  app.add_flag("-V,--verbose", verbose, "verbose logging to stderr");
  app.add_flag("-P,--output-pid", output_pid, "print the daemon's pid on stdout");
  app.add_flag("-D,--no-domain-init", no_domain_init,
               "accepted for compatibility (no hypervisor here)");
  app.add_flag("-R,--no-recovery", no_recovery, "accepted for compatibility");
  app.add_flag("-K,--keep-orphans", keep_orphans, "accepted for compatibility (nodes are kept)");
  app.add_option("-I,--internal-db", internal_db, "accepted for compatibility (always in memory)");
  app.add_option("-E,--entry-nb", quota.nodes, "nodes per domain");
  app.add_option("-S,--entry-size", quota.node_size, "size of a node per domain");
  app.add_option("-W,--watch-nb", quota.watches, "watches per domain");
  app.add_option("-t,--transaction", quota.transactions, "transactions per domain");
  app.add_option("-A,--perm-nb", quota.permissions, "permissions per node");
  app.add_option("-M,--path-max", quota.path_max, "node path length below a domain's home");
  app.add_option("-Q,--quota", hard, "WHAT=N: transaction-nodes, memory, outstanding");
  app.add_option("-q,--quota-soft", soft, "memory=N: warning level");
  app.add_option("-w,--timeout", timeouts, "WHAT=SECONDS (accepted; watch events never time out)");
  app.add_flag("-U,--live-update", live_update,
               "restore state from a live update (RUNDIR/state_dump)");
  long busy_poll_us = tern::xs::kDefaultBusyPoll.count();
  app.add_option("--busy-poll-us", busy_poll_us,
                 fmt::format("after handling requests, keep polling without sleeping for this many "
                             "microseconds before blocking (0: never; at most {})",
                             tern::xs::kMaxBusyPoll.count()))
      ->check(CLI::Range(0L, static_cast<long>(tern::xs::kMaxBusyPoll.count())))
      ->capture_default_str();
  std::string check_file, lu_failed, lu_pipe;
  app.add_option(
      "--check-image", check_file,
      "read a live-update image as -U would, print its counts, and exit (0 if it can be restored)");
  app.add_option(
      "--live-update-failed", lu_failed,
      "with -U: the new binary could not restore; answer the live-update request with this reason");
  std::string lu_transfer = "file";
  app.add_option(
         "--live-update-transfer", lu_transfer,
         "how a live update hands the state over: file (state_dump written, then read by the new "
         "binary, as Xen's daemon; default) or pipe (written while the new binary starts and "
         "restores)")
      ->check(CLI::IsMember({"pipe", "file"}));
  app.add_option(
      "--live-update-pipe", lu_pipe,
      "with -U: FD,PID,NODES: read the image from pipe FD, written by child PID (internal)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A new binary of a live update that does not accept its command line
    // gives the state back to the daemon that asked for the update.
    bool lu = false, failed_once = false;
    for (int i = 1; i < argc; ++i) {
      std::string_view a = argv[i];
      lu = lu || a == "-U" || a == "--live-update";
      failed_once = failed_once || a == "--live-update-failed";
    }
    int image_pipe = -1;
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string_view(argv[i]) == "--live-update-pipe") image_pipe = std::atoi(argv[i + 1]);
    if (lu && !failed_once && e.get_exit_code() != 0)
      hand_back(run_dir(), fmt::format("the new daemon refused its command line: {}", e.what()),
                image_pipe);
    return app.exit(e);
  }
  if (!check_file.empty()) return check_image(check_file);
  const std::vector<std::string> my_args(argv + 1, argv + argc);
  const std::string rundir = run_dir();

  for (const auto& q : hard)
    if (!quota.set_option(q, false)) {
      fmt::print(stderr, "tern-xenstored: bad --quota {}\n", q);
      return 2;
    }
  for (const auto& q : soft)
    if (!quota.set_option(q, true)) {
      fmt::print(stderr, "tern-xenstored: bad --quota-soft {}\n", q);
      return 2;
    }
  if (verbose) tern::log::set_level(tern::log::Level::debug);

  tern::xs::Daemon daemon(quota);
  tern::xs::Server server(daemon);
  server.set_busy_poll(std::chrono::microseconds(busy_poll_us));
  std::string path = socket_path();
  bool listening = false;
  if (live_update) {
    // The new process of a live update: same pid, the old process's sockets.
    auto t0 = std::chrono::steady_clock::now();
    tern::log::debug(
        "live update: new process started at monotonic {} us, restoring at {} us",
        std::chrono::duration_cast<std::chrono::microseconds>(started.time_since_epoch()).count(),
        std::chrono::duration_cast<std::chrono::microseconds>(t0.time_since_epoch()).count());
    std::string image = rundir + "/" + std::string(tern::xs::kStateDumpName);
    int image_pipe = -1;
    pid_t writer = -1;
    std::uint64_t nodes_hint = 0;
    if (!lu_pipe.empty() &&
        std::sscanf(lu_pipe.c_str(), "%d,%d,%lu", &image_pipe, &writer, &nodes_hint) != 3) {
      fmt::print(stderr, "tern-xenstored: bad --live-update-pipe {}\n", lu_pipe);
      image_pipe = -1;
    }
    auto restored = [&]() -> tern::Expected<tern::xs::RestoreResult> {
      if (image_pipe >= 0) {
        tern::io::FdSource src(image_pipe, 1 << 20);
        return tern::xs::restore_state(src, daemon,
                                       {tern::xs::FdCheck::open_sockets, nodes_hint * 96});
      }
      TERN_TRY_ASSIGN(auto in, tern::io::InputFile::open(image));
      return tern::xs::restore_state(in.source(), daemon,
                                     {tern::xs::FdCheck::open_sockets, in.mapped().size()});
    }();
    if (!restored) {
      std::string why = fmt::format("cannot restore the state: {}", restored.error().message());
      fmt::print(stderr, "tern-xenstored: {}\n", why);
      if (lu_failed.empty()) hand_back(rundir, why, image_pipe);
      return 1;
    }
    if (image_pipe >= 0) ::close(image_pipe);
    if (writer > 0) {
      // The image writer may still be finishing state_dump: reap it from the
      // server loop once it exits, without making clients wait for it.
      auto reap = std::make_shared<std::function<void()>>();
      *reap = [&daemon, writer, reap]() {
        if (::waitpid(writer, nullptr, WNOHANG) == 0) daemon.deferred.push_back(*reap);
      };
      daemon.deferred.push_back(*reap);
    }
    for (const auto& q : hard) (void)daemon.quota.set_option(q, false);
    for (const auto& q : soft) (void)daemon.quota.set_option(q, true);
    // Quota options given to the new binary win over the image's.
    for (const char* opt : {"-E", "-S", "-W", "-t", "-A", "-M"})
      if (app.count(opt) > 0) {
        static const std::map<std::string, std::string> name = {
            {"-E", "nodes"},        {"-S", "node-size"},   {"-W", "watches"},
            {"-t", "transactions"}, {"-A", "permissions"}, {"-M", "path-max"}};
        daemon.quota.set(name.at(opt), *quota.get(name.at(opt)));
      }
    tern::xs::adopt_transports(daemon);
    if (restored->listen_fd >= 0) {
      int fd = restored->listen_fd;
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      server.adopt_listener(tern::UniqueFd(fd));
      listening = true;
    }
    if (!lu_failed.empty() && restored->live_update_conn) {
      // Back in the binary that wrote the image: the update did not happen.
      auto& c = daemon.conns.at(*restored->live_update_conn);
      std::string text = fmt::format("live-update: {}; the previous daemon continues", lu_failed);
      if (text.size() >= tern::xs::kPayloadMax) text.resize(tern::xs::kPayloadMax - 1);
      text.push_back('\0');
      std::size_t at = restored->live_update_reply_at;
      auto h = tern::xs::decode_header(
          std::span(reinterpret_cast<const std::uint8_t*>(c.out.data()) + at, c.out.size() - at));
      std::string msg;
      tern::xs::append_message(msg, static_cast<std::uint32_t>(tern::xs::Type::control),
                               h ? h->req_id : 0, h ? h->tx_id : 0, text);
      tern::xs::replace_pending_message(c, at, msg);
    }
    ::unlink(image.c_str());
    ::unlink((rundir + "/" + std::string(tern::xs::kFallbackArgsName)).c_str());
    tern::log::info(
        "live update: restored {} nodes, {} connections, {} watches, {} transactions in {} us",
        restored->nodes, restored->connections, restored->watches, restored->transactions,
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  if (!listening) {
    if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0)
      ::mkdir(path.substr(0, slash).c_str(), 0755);
    if (auto r = server.listen_at(path); !r) {
      fmt::print(stderr, "tern-xenstored: {}\n", r.error().message());
      return 1;
    }
  }
  std::FILE* trace = nullptr;
  if (!trace_file.empty()) {
    trace = std::fopen(trace_file.c_str(), "ae");
    if (trace == nullptr) {
      fmt::print(stderr, "tern-xenstored: cannot open trace file {}\n", trace_file);
      return 1;
    }
    std::setvbuf(trace, nullptr, _IOLBF, 0);
    daemon.set_trace(trace);
  }
  // A live update continues in the same process: no second fork.
  if (!no_fork && !live_update && daemonize() != 0) {
    fmt::print(stderr, "tern-xenstored: fork failed\n");
    return 1;
  }
  if (output_pid && !live_update) {
    fmt::print("{}\n", ::getpid());
    std::fflush(stdout);
  }
  if (!pid_file.empty()) {
    if (std::FILE* f = std::fopen(pid_file.c_str(), "w")) {
      fmt::print(f, "{}\n", ::getpid());
      std::fclose(f);
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  tern::xs::LiveUpdate lu(
      daemon, {rundir, my_args, server.listen_fd(), self_binary(), lu_transfer == "pipe"});
  lu.install();
  tern::xs::install_domain_transfer(daemon);

  if (live_update)
    tern::log::debug("live update: serving at monotonic {} us",
                     std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count());
  auto r = server.run(g_stop);
  ::unlink(path.c_str());
  if (!pid_file.empty()) ::unlink(pid_file.c_str());
  if (!r) {
    fmt::print(stderr, "tern-xenstored: {}\n", r.error().message());
    return 1;
  }
  return 0;
}
