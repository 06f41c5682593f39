#include "xenstore/live_update.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/log.hpp"
#include "io/fd_sink.hpp"
#include "xenstore/state_dump.hpp"

namespace tern::xs {

namespace {

std::string with_nul(std::string s) {
  if (s.size() >= kPayloadMax) s.resize(kPayloadMax - 1);
  s.push_back('\0');
  return s;
}

std::string read_small_file(const std::string& path, std::size_t max = 2048) {
  std::ifstream f(path, std::ios::binary);
  std::string s(max, '\0');
  f.read(s.data(), static_cast<std::streamsize>(max));
  s.resize(static_cast<std::size_t>(f.gcount()));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

// Why BINARY cannot be exec'd, or empty if it looks fine.
std::string check_binary(const std::string& bin) {
  if (bin.empty() || bin[0] != '/')
    return fmt::format("binary \"{}\" is not an absolute path", bin);
  struct stat st {};
  if (::stat(bin.c_str(), &st) != 0) return fmt::format("binary {}: {}", bin, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fmt::format("binary {} is not a regular file", bin);
  if (::access(bin.c_str(), X_OK) != 0)
    return fmt::format("binary {} is not executable: {}", bin, std::strerror(errno));
  return {};
}

// What the new binary must print after reading the check image: proof that it
// understood this daemon's image (a program that merely exits 0 does not).
std::string expected_check_line(const DumpStats& st) {
  return fmt::format("check-image: ok nodes={} connections={}", st.nodes, st.connections);
}

int open_for_write(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

void set_cloexec(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

}  // namespace

std::vector<std::string> without_live_update_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-U" || a == "--live-update" || a.starts_with("--live-update-failed=") ||
        a.starts_with("--live-update-pipe="))
      continue;
    if (a == "--live-update-failed" || a == "--live-update-pipe") {
      ++i;  // and its value
      continue;
    }
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> split_cmdline(std::string_view cmdline) {
  std::vector<std::string> out;
  std::istringstream in{std::string(cmdline)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool replace_pending_message(Connection& c, std::uint64_t at, std::string_view replacement) {
  if (at < c.out_base + c.out_sent) return false;  // already (partly) sent
  std::size_t pos = static_cast<std::size_t>(at - c.out_base);
  auto h = decode_header(
      std::span(reinterpret_cast<const std::uint8_t*>(c.out.data()) + pos, c.out.size() - pos));
  if (!h || c.out.size() - pos - kHeaderSize < h->len) return false;
  std::size_t old_len = kHeaderSize + h->len;
  c.out.replace(pos, old_len, replacement);
  auto delta = static_cast<std::int64_t>(replacement.size()) - static_cast<std::int64_t>(old_len);
  for (auto& end : c.reply_ends)
    if (end > at) end = static_cast<std::uint64_t>(static_cast<std::int64_t>(end) + delta);
  if (c.out_msg_end > at)
    c.out_msg_end = static_cast<std::uint64_t>(static_cast<std::int64_t>(c.out_msg_end) + delta);
  return true;
}

LiveUpdate::LiveUpdate(Daemon& d, LiveUpdateSetup setup) : d_(d), setup_(std::move(setup)) {}

LiveUpdate::~LiveUpdate() { reset(); }

void LiveUpdate::install() {
  d_.control_handlers["live-update"] = [this](Connection& c,
                                              std::span<const std::string_view> args) {
    return std::optional<Reply>(control(c, args));
  };
}

std::vector<std::string> LiveUpdate::new_args() const {
  return without_live_update_args(cmdline_ ? split_cmdline(*cmdline_) : setup_.args);
}

std::string LiveUpdate::path(std::string_view name) const {
  return fmt::format("{}/{}", setup_.rundir, name);
}

void LiveUpdate::reset() {
  if (check_pid_ > 0) {
    ::kill(check_pid_, SIGKILL);
    ::waitpid(check_pid_, nullptr, 0);
    check_pid_ = -1;
  }
  for (auto n : {".check", ".check.log", ".check.out"})
    ::unlink(path(fmt::format("{}{}", kStateDumpName, n)).c_str());
  stage_ = Stage::idle;
  check_error_.clear();
}

LiveUpdate::Reply LiveUpdate::control(Connection& c, std::span<const std::string_view> args) {
  if (args.empty()) return with_nul("live-update: an option is needed (-f, -c, -s or -a)");
  std::string_view opt = args[0];
  if (opt == "-a") {
    reset();
    binary_.clear();
    cmdline_.reset();
    return with_nul("OK");
  }
  if (opt == "-f") {
    if (args.size() != 2) return fail(Err::einval);
    if (stage_ != Stage::idle) return with_nul("BUSY");
    std::string bin(args[1]);
    if (auto why = check_binary(bin); !why.empty()) return with_nul(why);
    binary_ = bin;
    return with_nul("OK");
  }
  if (opt == "-c") {
    if (args.size() != 2) return fail(Err::einval);
    if (stage_ != Stage::idle) return with_nul("BUSY");
    cmdline_ = std::string(args[1]);
    return with_nul("OK");
  }
  if (opt == "-b")
    return with_nul(
        "live-update -b (binary upload) is for a xenstore stub domain; tern-xenstored is a daemon: "
        "use -f");
  if (opt == "-s") return start(c, args.subspan(1));
  return with_nul(fmt::format("live-update: unknown option {}", opt));
}

LiveUpdate::Reply LiveUpdate::start(Connection& c, std::span<const std::string_view> args) {
  std::uint32_t timeout = 60;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-F") continue;  // transactions are kept: nothing to force
    if (args[i] == "-t" && i + 1 < args.size()) {
      auto v = args[++i];
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), timeout);
      if (ec != std::errc() || p != v.data() + v.size()) return fail(Err::einval);
      continue;
    }
    return fail(Err::einval);
  }
  if (binary_.empty())
    return with_nul("live-update: no new binary; send live-update -f BINARY first");
  auto now = std::chrono::steady_clock::now();
  if (stage_ == Stage::idle) {
    if (auto why = check_binary(binary_); !why.empty()) return with_nul(why);
    timeout_s_ = timeout;
    deadline_ = now + std::chrono::seconds(timeout);
    auto r = start_check();
    if (!r || *r != with_nul("BUSY")) return r;
  }
  if (stage_ == Stage::checking) poll_check();
  if (stage_ == Stage::failed) {
    std::string why = check_error_;
    reset();
    return with_nul(why);
  }
  if (now > deadline_) {
    reset();
    return with_nul(
        fmt::format("live-update: timed out after {} s (checking {})", timeout_s_, binary_));
  }
  if (stage_ == Stage::checking) return with_nul("BUSY");
  // Checked: reply OK from the new process. Nothing more of this connection
  // is handled here; the exec runs once the server round ends.
  c.hold = true;
  std::uint64_t reply_at = c.out_base + c.out.size();
  std::uint64_t id = c.id;
  d_.deferred.push_back([this, id, reply_at] { exec_now(id, reply_at); });
  return with_nul("OK");
}

// Forks a child that dumps the state as it is now into state_dump.check and
// runs BINARY --check-image on it; the daemon carries on serving meanwhile.
LiveUpdate::Reply LiveUpdate::start_check() {
  std::string image = path(fmt::format("{}.check", kStateDumpName));
  std::string log = path(fmt::format("{}.check.log", kStateDumpName));
  std::string out = path(fmt::format("{}.check.out", kStateDumpName));
  pid_t pid = ::fork();
  if (pid < 0) return with_nul(fmt::format("live-update: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    // Child: the parent's state, frozen at the fork. Never returns. It runs
    // at the lowest priority: the daemon keeps serving meanwhile.
    (void)::setpriority(PRIO_PROCESS, 0, 19);
    int logfd = open_for_write(log);
    auto say = [&](const std::string& s) {
      if (logfd >= 0) (void)!::write(logfd, s.data(), s.size());
    };
    int fd = open_for_write(image);
    if (fd < 0) {
      say(fmt::format("cannot create {}: {}\n", image, std::strerror(errno)));
      ::_exit(3);
    }
    io::FdSink sink(fd);
    auto st = dump_state(d_, sink, DumpOptions{setup_.listen_fd, std::nullopt, 0});
    if (!st) {
      say(fmt::format("cannot write the image: {}\n", st.error().message()));
      ::_exit(3);
    }
    ::close(fd);
    // First line of the log: what the new binary must print on stdout.
    say(expected_check_line(*st) + "\n");
    int outfd = open_for_write(out);
    int null = ::open("/dev/null", O_RDWR);
    if (outfd < 0 || null < 0 || logfd < 0) ::_exit(3);
    ::dup2(null, 0);
    ::dup2(outfd, 1);
    ::dup2(logfd, 2);
    // The options the new process will get are checked too.
    std::vector<std::string> argv_s{binary_};
    for (auto& a : new_args()) argv_s.push_back(a);
    argv_s.push_back("--check-image");
    argv_s.push_back(image);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary_.c_str(), argv.data());
    say(fmt::format("exec {}: {}\n", binary_, std::strerror(errno)));
    ::_exit(127);
  }
  check_pid_ = pid;
  stage_ = Stage::checking;
  return with_nul("BUSY");
}

void LiveUpdate::poll_check() {
  int status = 0;
  pid_t r = ::waitpid(check_pid_, &status, WNOHANG);
  if (r == 0) return;  // still running
  check_pid_ = -1;
  std::string log = read_small_file(path(fmt::format("{}.check.log", kStateDumpName)));
  std::string out = read_small_file(path(fmt::format("{}.check.out", kStateDumpName)));
  // The log starts with the line the child expects, then whatever the new
  // binary wrote to stderr.
  std::string expected = log.substr(0, log.find('\n'));
  std::string errors = log.find('\n') == std::string::npos ? "" : log.substr(log.find('\n') + 1);
  std::string what = fmt::format("live-update: {} --check-image", binary_);
  if (r < 0) {
    check_error_ = fmt::format("{}: waitpid: {}", what, std::strerror(errno));
  } else if (WIFSIGNALED(status)) {
    check_error_ = fmt::format("{} was killed by signal {}{}{}", what, WTERMSIG(status),
                               errors.empty() ? "" : ": ", errors);
  } else if (WEXITSTATUS(status) != 0) {
    check_error_ = fmt::format("{} failed (exit {}){}{}", what, WEXITSTATUS(status),
                               errors.empty() ? "" : ": ", errors.empty() ? expected : errors);
  } else if (!expected.starts_with("check-image: ") || out.find(expected) == std::string::npos) {
    check_error_ =
        fmt::format("{} exited 0 but did not confirm the image (expected \"{}\", got \"{}\")", what,
                    expected, out);
  } else {
    stage_ = Stage::passed;
    for (auto n : {".check", ".check.log", ".check.out"})
      ::unlink(path(fmt::format("{}{}", kStateDumpName, n)).c_str());
    return;
  }
  stage_ = Stage::failed;
  log::warn("{}", check_error_);
}

namespace {

// Writes every part to two descriptors (the pipe the new process restores
// from, and RUNDIR/state_dump); keeps going on the other if one fails.
class TeeSink final : public ByteSink {
 public:
  TeeSink(int pipe_fd, int file_fd) : pipe_(pipe_fd), file_(file_fd), file_ok_(file_fd >= 0) {}
  Expected<void> write_gather(std::span<const Bytes> parts) override {
    if (pipe_ok_ && !pipe_.write_gather(parts)) pipe_ok_ = false;
    if (file_ok_ && !file_.write_gather(parts)) file_ok_ = false;
    if (!pipe_ok_ && !file_ok_)
      return make_error(Errc::io, "neither the new process nor {} takes the image", kStateDumpName);
    return {};
  }
  [[nodiscard]] std::uint64_t bytes_written() const override {
    return std::max(pipe_.bytes_written(), file_.bytes_written());
  }
  [[nodiscard]] bool file_ok() const { return file_ok_; }

 private:
  io::FdSink pipe_, file_;
  bool pipe_ok_ = true, file_ok_;
};

}  // namespace

// The state goes to the new process through a pipe, written by a child
// forked at this instant (its memory is the state, frozen), while this
// process execs the new binary at once: the new process starts up and
// restores while the image is being written, instead of after. The child
// also writes RUNDIR/state_dump (Xen's name), which a new process that must
// give up hands back to this binary.
void LiveUpdate::exec_now(std::uint64_t conn, std::uint64_t reply_at) {
  Connection* requester = d_.conns.find(conn);
  if (requester == nullptr || requester->closing) {
    log::info("live update: the requesting connection is gone; update abandoned");
    reset();
    return;
  }
  Connection& c = *requester;
  log::debug("live update: stopped serving at monotonic {} us",
             std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count());
  std::string image = path(kStateDumpName);
  // The command line the new process gets, and the one it returns to if it
  // cannot take the image (state_dump.fallback, NUL-separated).
  {
    std::string fb = setup_.self_binary;
    fb.push_back('\0');
    for (const auto& a : without_live_update_args(setup_.args)) {
      fb += a;
      fb.push_back('\0');
    }
    int ffd = open_for_write(path(kFallbackArgsName));
    if (ffd >= 0) {
      (void)!::write(ffd, fb.data(), fb.size());
      ::close(ffd);
    }
  }
  if (!setup_.overlap) return exec_after_dump(c, reply_at, image);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return fail_exec(c, reply_at, fmt::format("pipe: {}", std::strerror(errno)));
  (void)::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  // fewer round trips; the default works too
  auto t0 = std::chrono::steady_clock::now();
  pid_t writer = ::fork();
  if (writer < 0) {
    int err = errno;
    ::close(p[0]);
    ::close(p[1]);
    return fail_exec(c, reply_at, fmt::format("fork: {}", std::strerror(err)));
  }
  if (writer == 0) {
    ::close(p[0]);
    int fd = open_for_write(image);
    TeeSink sink(p[1], fd);
    auto st = dump_state(d_, sink, DumpOptions{setup_.listen_fd, conn, reply_at});
    if (st)
      log::info("live update: {} nodes, {} connections, {} bytes written in {} us", st->nodes,
                st->connections, st->bytes,
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count());
    else
      log::error("live update: writing the image: {}", st.error().message());
    ::_exit(!st ? 3 : sink.file_ok() ? 0 : 4);
  }
  ::close(p[1]);
  std::vector<std::string> argv_s{binary_};
  for (auto& a : new_args()) argv_s.push_back(a);
  argv_s.push_back("-U");
  argv_s.push_back("--live-update-pipe");
  argv_s.push_back(fmt::format("{},{},{}", p[0], writer, d_.store.node_count()));
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<int> fds = kept_fds();
  fds.push_back(p[0]);
  for (int f : fds) set_cloexec(f, false);
  log::debug("live update: exec {} at monotonic {} us", binary_,
             std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count());
  std::fflush(nullptr);
  ::execv(binary_.c_str(), argv.data());
  int err = errno;
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);
  ::close(p[0]);
  for (int f : fds) set_cloexec(f, true);
  ::unlink(image.c_str());
  ::unlink(path(kFallbackArgsName).c_str());
  fail_exec(c, reply_at, fmt::format("exec {}: {}", binary_, std::strerror(err)));
}

// Xen's way: the image is written to state_dump, then the new binary runs
// and reads it.
void LiveUpdate::exec_after_dump(Connection& c, std::uint64_t reply_at, const std::string& image) {
  auto t0 = std::chrono::steady_clock::now();
  int fd = open_for_write(image);
  if (fd < 0)
    return fail_exec(c, reply_at, fmt::format("cannot create {}: {}", image, std::strerror(errno)));
  io::FdSink sink(fd);
  auto st = dump_state(d_, sink, DumpOptions{setup_.listen_fd, c.id, reply_at});
  ::close(fd);
  if (!st) {
    ::unlink(image.c_str());
    return fail_exec(c, reply_at, fmt::format("cannot write {}: {}", image, st.error().message()));
  }
  log::info(
      "live update: {} nodes, {} connections, {} bytes written in {} us", st->nodes,
      st->connections, st->bytes,
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  std::vector<std::string> argv_s{binary_};
  for (auto& a : new_args()) argv_s.push_back(a);
  argv_s.push_back("-U");
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<int> fds = kept_fds();
  for (int f : fds) set_cloexec(f, false);
  std::fflush(nullptr);
  ::execv(binary_.c_str(), argv.data());
  int err = errno;
  for (int f : fds) set_cloexec(f, true);
  ::unlink(image.c_str());
  ::unlink(path(kFallbackArgsName).c_str());
  fail_exec(c, reply_at, fmt::format("exec {}: {}", binary_, std::strerror(err)));
}

// What the new process inherits: the listening socket and each live
// connection's descriptors (a socket; a ring's page and two eventfds).
std::vector<int> LiveUpdate::kept_fds() const {
  std::vector<int> fds;
  if (setup_.listen_fd >= 0) fds.push_back(setup_.listen_fd);
  for (const auto& [id, cp] : d_.conns)
    if (!cp->closing && cp->transport) cp->transport->kept_fds(fds);
  return fds;
}

void LiveUpdate::fail_exec(Connection& c, std::uint64_t reply_at, const std::string& why) {
  std::string text = fmt::format("live-update: {}; the running daemon continues", why);
  log::warn("{}", text);
  std::size_t pos = static_cast<std::size_t>(reply_at - c.out_base);
  auto h = decode_header(
      std::span(reinterpret_cast<const std::uint8_t*>(c.out.data()) + pos, c.out.size() - pos));
  std::string msg;
  append_message(msg, static_cast<std::uint32_t>(Type::control), h ? h->req_id : 0,
                 h ? h->tx_id : 0, with_nul(text));
  if (!replace_pending_message(c, reply_at, msg))
    log::warn("live update: could not replace the pending reply");
  c.hold = false;
  d_.mark_dirty(c);
  if (!c.in.empty() && !d_.input_paused(c) && !d_.process_input(c)) c.closing = true;
  reset();
}

}  // namespace tern::xs
