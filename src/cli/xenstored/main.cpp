// tern-xenstored: drop-in for Xen's xenstored on a unix socket (same options,
// environment and wire protocol). See src/xenstore/ for the implementation.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/log.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/server.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

std::string socket_path() {
  if (const char* p = std::getenv("XENSTORED_PATH"); p && *p) return p;
  if (const char* d = std::getenv("XENSTORED_RUNDIR"); d && *d) return std::string(d) + "/socket";
  return "/var/run/xenstored/socket";
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
  app.add_flag("-D,--no-domain-init", no_domain_init, "accepted for compatibility (no hypervisor here)");
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
  app.add_flag("-U,--live-update", live_update, "restore state from a live update");
  CLI11_PARSE(app, argc, argv);

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
  if (live_update) {
    fmt::print(stderr, "tern-xenstored: live update restore not implemented yet\n");
    return 2;
  }
  if (verbose) tern::log::set_level(tern::log::Level::debug);

  tern::xs::Daemon daemon(quota);
  tern::xs::Server server(daemon);
  std::string path = socket_path();
  if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0)
    ::mkdir(path.substr(0, slash).c_str(), 0755);
  if (auto r = server.listen_at(path); !r) {
    fmt::print(stderr, "tern-xenstored: {}\n", r.error().message());
    return 1;
  }
  std::FILE* trace = nullptr;
  if (!trace_file.empty()) {
    trace = std::fopen(trace_file.c_str(), "a");
    if (trace == nullptr) {
      fmt::print(stderr, "tern-xenstored: cannot open trace file {}\n", trace_file);
      return 1;
    }
    std::setvbuf(trace, nullptr, _IOLBF, 0);
    daemon.set_trace(trace);
  }
  if (!no_fork && daemonize() != 0) {
    fmt::print(stderr, "tern-xenstored: fork failed\n");
    return 1;
  }
  if (output_pid) {
    fmt::print("{}\n", ::getpid());
    std::fflush(stdout);
  }
  if (!pid_file.empty()) {
    if (std::FILE* f = std::fopen(pid_file.c_str(), "w")) {
      fmt::print(f, "{}\n", ::getpid());
      std::fclose(f);
    }
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto r = server.run(g_stop);
  ::unlink(path.c_str());
  if (!pid_file.empty()) ::unlink(pid_file.c_str());
  if (!r) {
    fmt::print(stderr, "tern-xenstored: {}\n", r.error().message());
    return 1;
  }
  return 0;
}
