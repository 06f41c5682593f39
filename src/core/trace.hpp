// Phase timestamps of one process, to see where a short operation (a
// restore to running, most of all) spends its milliseconds.
//
// Spans are recorded into a fixed, lock-free table (a few hundred entries;
// later ones are counted and dropped), so recording costs tens of
// nanoseconds and is always on. `tern restore --json` reports them as its
// "trace" field; with TERN_TRACE set in the environment a command prints
// them as a timeline on stderr.
//
// Times are steady_clock (CLOCK_MONOTONIC) offsets from the trace origin:
// TERN_TRACE_T0_NS, if the environment gives it (CLOCK_MONOTONIC in
// nanoseconds, taken by whoever started the process just before it did: the
// "exec" span then covers the kernel's exec and the dynamic loader), else
// the moment the program's static initialisation started.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::trace {

using Clock = std::chrono::steady_clock;

struct Span {
  std::string_view name;  // a string literal: the table keeps the pointer
  std::uint32_t thread;   // small per-process thread number, in order of first record
  Clock::time_point begin, end;
};

// CPU time (user + system) the calling thread has used so far, in ms: a
// sender's or receiver's CPU cost next to its wall time says whether it was
// busy or waiting.
double thread_cpu_ms();

// Records a finished span (begin == end: an instant).
void record(std::string_view name, Clock::time_point begin, Clock::time_point end);
inline void instant(std::string_view name) {
  const auto now = Clock::now();
  record(name, now, now);
}

// Records [construction, destruction) as `name`, unless done() ended it first.
class Scope {
 public:
  explicit Scope(std::string_view name) : name_(name), begin_(Clock::now()) {}
  ~Scope() { done(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  void done() {
    if (!ended_) record(name_, begin_, Clock::now());
    ended_ = true;
  }

 private:
  std::string_view name_;
  Clock::time_point begin_;
  bool ended_ = false;
};

// The trace origin (see above), and when static initialisation started.
Clock::time_point origin();
Clock::time_point process_start();
// Whether the origin came from TERN_TRACE_T0_NS.
bool origin_from_environment();

// Everything recorded so far, ordered by begin time, and how many spans the
// full table dropped.
std::vector<Span> spans();
std::uint64_t dropped();
// Forgets every span (tests; a process tracing one operation after another).
// Call only while nothing records.
void clear();

// Milliseconds from the origin.
double ms_since_origin(Clock::time_point t);

// True when TERN_TRACE is set (non-empty, not "0").
bool enabled_by_environment();
// A timeline, one span per line ("  12.345 +  0.210 ms  [t1] name").
std::string format_timeline();

}  // namespace tern::trace
