// Progress of a migration (or save) for people and programs: on a terminal a
// one-line bar redrawn in place (round, pages left, rate, ETA); with --json
// one JSON object per line per event. The engine reports events; how they
// look is decided here, so the engine never formats output.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace tern::migrate {

struct ProgressEvent {
  std::string phase;  // "round", "stop-and-copy", "state", "done", "aborted"
  std::uint32_t round = 0;
  std::uint64_t round_pages = 0;  // pages this round must send
  std::uint64_t round_pages_sent = 0;
  std::uint64_t bytes_total = 0;  // sent so far, all rounds
  double rate_bytes_per_s = 0;    // current send rate
  std::chrono::milliseconds elapsed{};
  std::string message;  // the policy's reason, an error, ...
};

enum class ProgressMode { none, bar, json };

// bar when `out` is a terminal, else none (json only when asked).
[[nodiscard]] ProgressMode default_progress_mode(std::FILE* out, bool json);

// "round 3  [#######.....]  62%  41,210 pages left  1.9 GB/s  ETA 0.1 s"
[[nodiscard]] std::string render_bar(const ProgressEvent& e, std::size_t width = 30);
[[nodiscard]] nlohmann::json to_json(const ProgressEvent& e);

class Progress {
 public:
  Progress(ProgressMode mode, std::FILE* out) : mode_(mode), out_(out) {}
  // Redraws at most every 100 ms for bar mode unless the phase changed;
  // every call is printed in json mode except intra-round updates, which are
  // limited the same way.
  void update(const ProgressEvent& e);
  // Ends the bar line (bar mode).
  void finish();

 private:
  ProgressMode mode_;
  std::FILE* out_;
  std::string last_phase_;
  std::uint32_t last_round_ = ~0u;
  std::chrono::steady_clock::time_point last_draw_{};
  bool bar_open_ = false;
};

}  // namespace tern::migrate
