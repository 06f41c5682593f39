// CONTROL live-update, as Xen 4.17's xenstore-control drives it:
//   live-update -f BINARY      the new daemon binary (checked: exists, executable)
//   live-update -c CMDLINE     its options (default: this daemon's own)
//   live-update -s [-t SEC] [-F]
//   live-update -a             abort
// On the first -s the daemon forks a child that writes the current state to
// RUNDIR/state_dump.check and runs `BINARY --check-image` on it, while the
// daemon keeps serving and answers "BUSY" (xenstore-control repeats -s until
// the answer is something else or -t seconds pass). When the new binary has
// read that image and reported the same counts, the next -s is answered
// "OK" -- but that reply is not sent: at the end of the server round the
// daemon writes RUNDIR/state_dump with the reply still pending, clears
// close-on-exec on its sockets and execs `BINARY <options> -U` in the same
// process. The new process restores everything, removes the image and sends
// the reply. If the check fails, or the exec itself fails, the daemon keeps
// serving and the -s reply says why; nothing was sent or lost meanwhile.
//
// Open transactions are saved with the rest, so -s never waits for them; -F
// is accepted and changes nothing. -t bounds the whole update.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/daemon.hpp"

namespace tern::xs {

struct LiveUpdateSetup {
  std::string rundir;             // XENSTORED_RUNDIR: where state_dump is written
  std::vector<std::string> args;  // this daemon's options, reused when no -c is given
  int listen_fd = -1;             // the listening socket handed to the new process
  std::string self_binary;        // this daemon's binary: where a failed new process returns
  // How the image reaches the new process: as Xen's daemon does, written to
  // state_dump first and read from there (default); or through a pipe,
  // written by a child while the new process starts and restores (it also
  // writes state_dump), which overlaps the two when cores are free.
  bool overlap = false;
};

// File names inside the run directory (state_dump as Xen's daemon names it).
inline constexpr std::string_view kStateDumpName = "state_dump";
// The old daemon's command line, for a new process that must give up and
// hand the state back (tern-specific).
inline constexpr std::string_view kFallbackArgsName = "state_dump.fallback";

class LiveUpdate {
 public:
  LiveUpdate(Daemon& d, LiveUpdateSetup setup);
  ~LiveUpdate();
  LiveUpdate(const LiveUpdate&) = delete;
  LiveUpdate& operator=(const LiveUpdate&) = delete;

  // Registers CONTROL live-update with the daemon.
  void install();

 private:
  using Reply = Result<std::string>;
  Reply control(Connection& c, std::span<const std::string_view> args);
  Reply start(Connection& c, std::span<const std::string_view> args);
  Reply start_check();
  void poll_check();
  void reset();
  void exec_now(std::uint64_t conn, std::uint64_t reply_at);
  void exec_after_dump(Connection& c, std::uint64_t reply_at, const std::string& image);
  void fail_exec(Connection& c, std::uint64_t reply_at, const std::string& why);
  [[nodiscard]] std::vector<int> kept_fds() const;
  [[nodiscard]] std::string path(std::string_view name) const;
  // The new process's options: -c's, else this daemon's (without -U).
  [[nodiscard]] std::vector<std::string> new_args() const;

  Daemon& d_;
  LiveUpdateSetup setup_;
  std::string binary_;
  std::optional<std::string> cmdline_;
  enum class Stage { idle, checking, passed, failed } stage_ = Stage::idle;
  pid_t check_pid_ = -1;
  std::string check_error_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint32_t timeout_s_ = 60;
};

// A daemon's options without those of the live update that started it
// (-U, --live-update-pipe FD,PID,NODES, --live-update-failed REASON).
std::vector<std::string> without_live_update_args(const std::vector<std::string>& args);

// Splits a -c command line at whitespace (as Xen's daemon does).
std::vector<std::string> split_cmdline(std::string_view cmdline);

// Replaces the message starting at stream offset `at` of c's output (not yet
// sent) by `replacement`, keeping the outstanding-reply index right.
bool replace_pending_message(Connection& c, std::uint64_t at, std::string_view replacement);

}  // namespace tern::xs
