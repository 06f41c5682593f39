// tern demo [--backend auto|kvm|sim] [--memory SIZE] [--vcpus N] [--cmdline STR]
//           [--max-downtime MS] [--json] [--keep DIR]
// The main job, end to end: boots the built-in guest, starts a second
// process (`tern receive`) on loopback TCP, live-migrates the guest to it
// while it dirties memory, and reports total time, downtime, rounds, bytes
// and the guest's own verification once it has finished on the destination.
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/vmm.hpp"
#include "io/endpoint.hpp"
#include "io/fd_sink.hpp"
#include "migrate/handshake.hpp"
#include "migrate/precopy.hpp"

extern char** environ;

namespace tern::cli {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

struct DemoArgs {
  std::string backend = "auto";
  std::string memory = "256M";
  std::uint32_t vcpus = 2;
  std::string cmdline = "passes=60 mib=64 ws=16 pause=20000";
  unsigned max_downtime_ms = 50;
  bool json = false;
  std::string keep;
};

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

Expected<int> free_loopback_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return errno_error("bind 127.0.0.1:0", errno);
  return ntohs(a.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Child {
  pid_t pid = -1;
  UniqueFd out;  // its stdout
};

Expected<Child> spawn_receiver(const std::vector<std::string>& args) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  UniqueFd rd(p[0]), wr(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), STDOUT_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return errno_error("spawn tern receive", rc);
  return Child{pid, std::move(rd)};
}

// Waits for the child (bounded); returns its exit status, or -1.
int wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
}

void draw(const migrate::Progress& p) {
  const double total = static_cast<double>(p.sent_pages + p.dirty_pages);
  const int width = 30;
  const int done =
      total > 0 ? static_cast<int>(width * static_cast<double>(p.sent_pages) / total) : 0;
  const char* phase = p.phase == migrate::Progress::Phase::round ? "pre-copy" : "stop-and-copy";
  fmt::print(stderr, "\r  [{:=<{}}{: <{}}] round {:>2} {:<13} {:>7} pages left, {:>6.0f} MB/s{}   ",
             "", done, "", width - done, p.round, phase, p.dirty_pages, p.bandwidth_bps / 1e6,
             p.not_converging ? ", guest outruns the link" : "");
}

int run_demo(const DemoArgs& a) {
  const bool tty = ::isatty(STDERR_FILENO) != 0 && !a.json;
  auto say = [&](const std::string& s) {
    if (!a.json) fmt::print(stderr, "{}\n", s);
  };
  std::string dir = a.keep;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tern-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      fmt::print(stderr, "tern demo: mkdtemp: {}\n", std::strerror(errno));
      return kExitUsage;
    }
    dir = tmpl;
  } else {
    std::filesystem::create_directories(dir);
  }
  struct Cleanup {
    std::string d;
    bool keep;
    ~Cleanup() {
      if (!keep) std::filesystem::remove_all(d);
    }
  } cleanup{dir, !a.keep.empty()};

  vm::DomainConfig cfg;
  auto mem = parse_size(a.memory);
  if (!mem) {
    fmt::print(stderr, "tern demo: --memory: {}\n", mem.error().message());
    return kExitUsage;
  }
  cfg.memory_bytes = *mem;
  cfg.vcpus = a.vcpus;
  cfg.cmdline = a.cmdline;
  cfg.console = dir + "/source.console";
  vm::Backend backend = vm::Backend::sim;
  auto d = create_domain_for(a.backend, cfg, &backend);
  if (!d) {
    fmt::print(stderr, "tern demo: {}\n", d.error().message());
    return kExitVmmError;
  }
  say(fmt::format("tern demo: {} backend{}, {} MiB, {} vCPUs, guest \"{}\"",
                  vm::backend_name(backend),
                  backend == vm::Backend::sim ? " (the in-process simulator)" : " (/dev/kvm)",
                  cfg.memory_bytes >> 20, cfg.vcpus, cfg.cmdline));

  auto port = free_loopback_port();
  if (!port) {
    fmt::print(stderr, "tern demo: {}\n", port.error().message());
    return kExitVmmError;
  }
  const std::string url = fmt::format("tcp://127.0.0.1:{}", *port);
  auto child = spawn_receiver({"tern", "receive", "--listen", url, "--backend",
                               std::string(vm::backend_name(backend)), "--console",
                               dir + "/destination.console", "--json"});
  if (!child) {
    fmt::print(stderr, "tern demo: {}\n", child.error().message());
    return kExitVmmError;
  }
  say(fmt::format("tern demo: destination: `tern receive --listen {}` (pid {})", url, child->pid));

  if (auto s = (*d)->start(); !s) {
    fmt::print(stderr, "tern demo: starting the guest: {}\n", s.error().message());
    wait_child(child->pid, 0s);
    return kExitVmmError;
  }
  // Let the guest get going (its first passes) before migrating it.
  for (int i = 0; i < 500 && read_file(cfg.console).find("pass 2:") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);

  auto ep = io::parse_endpoint(url);
  // The receiver may still be starting: connect retries for up to 5 s.
  Expected<UniqueFd> conn = io::connect_endpoint(*ep, 5000ms);
  if (!conn) {
    fmt::print(stderr, "tern demo: cannot reach the destination: {}\n", conn.error().message());
    wait_child(child->pid, 0s);
    return kExitVmmError;
  }
  say(fmt::format("tern demo: migrating over {} while the guest writes its pattern", url));
  io::FdSink sink(conn->get());
  migrate::MigrateOptions o;
  o.max_downtime = std::chrono::milliseconds(a.max_downtime_ms);
  o.auto_converge = true;
  const int fd = conn->get();
  o.commit = [fd] { return migrate::source_commit(fd, 60s); };
  migrate::ReceiverProgress dst_progress(fd);
  o.catch_up = [&dst_progress](std::uint64_t sent) { return dst_progress.wait_for(sent, 5s); };
  o.progress = [&](const migrate::Progress& p) {
    if (tty) draw(p);
  };
  const auto cfg_img = migrate::ImageConfig::from(cfg, backend);
  auto st = migrate::migrate_domain(**d, cfg_img, sink, o);
  if (tty) fmt::print(stderr, "\n");
  conn->reset();
  if (!st) {
    fmt::print(stderr, "tern demo: migration failed, the guest keeps running here: {}\n",
               st.error().message());
    (*d)->shutdown();
    wait_child(child->pid, 5s);
    return kExitGuestErrors;
  }
  (*d)->shutdown();  // the guest now lives in the destination process
  say("tern demo: migrated; waiting for the guest to finish on the destination");
  const int dest_rc = wait_child(child->pid, 600s);
  std::string dest_json;
  {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(child->out.get(), buf, sizeof buf)) > 0)
      dest_json.append(buf, static_cast<std::size_t>(n));
  }
  const std::string console = read_file(dir + "/destination.console");
  long long guest_errors = -1, passes = -1;
  if (auto at = console.rfind("tern-guest: done, passes="); at != std::string::npos)
    if (std::sscanf(console.c_str() + at, "tern-guest: done, passes=%lld errors=%lld", &passes,
                    &guest_errors) != 2)
      guest_errors = passes = -1;
  json rounds = json::array();
  for (const auto& r : st->rounds) rounds.push_back(r.data_pages + r.zero_pages + r.xtab_pages);
  json summary = {{"backend", std::string(vm::backend_name(backend))},
                  {"total_ms", ms(st->total)},
                  {"downtime_ms", ms(st->downtime)},
                  {"rounds", st->rounds.size()},
                  {"bytes", st->bytes},
                  {"pages_per_round", rounds},
                  {"stop_reason", st->stop_reason},
                  {"max_throttle", st->max_throttle},
                  {"guest_errors", guest_errors},
                  {"guest_passes", passes},
                  {"destination_exit", dest_rc}};
  auto dj = json::parse(dest_json.substr(0, dest_json.find('\n')), nullptr, false);
  if (!dj.is_discarded() && dj.contains("times_ms")) summary["destination"] = dj;
  if (a.json) {
    fmt::print("{}\n", summary.dump());
  } else {
    fmt::print(
        "total {:.1f} ms, downtime {:.2f} ms, {} rounds (pages: {}), {} bytes, stopped on {}\n",
        ms(st->total), ms(st->downtime), st->rounds.size(), rounds.dump(), st->bytes,
        st->stop_reason);
    fmt::print("guest on the destination: {}\n",
               guest_errors < 0 ? fmt::format("did not finish (exit {})", dest_rc)
                                : fmt::format("{} passes, {} errors (its own verification)", passes,
                                              guest_errors));
  }
  return guest_errors == 0 && dest_rc == 0 ? kExitOk : kExitGuestErrors;
}

}  // namespace

void add_demo(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo",
      "boot the built-in guest, live-migrate it to a second tern process over loopback, report");
  cmd->add_option("--backend", a->backend, "auto, kvm or sim")
      ->check(CLI::IsMember({"auto", "kvm", "sim"}))
      ->capture_default_str();
  cmd->add_option("--memory", a->memory, "guest RAM")->capture_default_str();
  cmd->add_option("--vcpus", a->vcpus, "vCPUs")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--cmdline", a->cmdline, "guest command line")->capture_default_str();
  cmd->add_option("--max-downtime", a->max_downtime_ms, "target downtime in ms")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print the summary as one JSON object");
  cmd->add_option("--keep", a->keep, "keep the consoles in this directory");
  cmd->callback([a, &ctx] { ctx.exit_code = run_demo(*a); });
}

}  // namespace tern::cli
