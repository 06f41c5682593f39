#include "migrate/progress.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace tern::migrate {

ProgressMode default_progress_mode(std::FILE* out, bool json) {
  if (json) return ProgressMode::json;
  return ::isatty(::fileno(out)) ? ProgressMode::bar : ProgressMode::none;
}

std::string render_bar(const ProgressEvent& e, std::size_t width) {
  const double frac = e.round_pages == 0 ? 1.0
                                         : std::min(1.0, static_cast<double>(e.round_pages_sent) /
                                                             static_cast<double>(e.round_pages));
  const auto filled = static_cast<std::size_t>(frac * static_cast<double>(width));
  const std::uint64_t left = e.round_pages - std::min(e.round_pages, e.round_pages_sent);
  std::string eta = "-";
  if (e.rate_bytes_per_s > 0)
    eta = fmt::format("{:.1f} s", static_cast<double>(left) * 4096.0 / e.rate_bytes_per_s);
  std::string line = fmt::format("{} {:>3}  [{}{}] {:3.0f}%  {} pages left  {:.2f} GB/s  ETA {}",
                                 e.phase == "round" ? "round" : e.phase,
                                 e.phase == "round" ? fmt::format("{}", e.round) : "",
                                 std::string(filled, '#'), std::string(width - filled, '.'),
                                 frac * 100, left, e.rate_bytes_per_s / 1e9, eta);
  return line;
}

nlohmann::json to_json(const ProgressEvent& e) {
  nlohmann::json j = {{"event", "progress"},
                      {"phase", e.phase},
                      {"round", e.round},
                      {"round_pages", e.round_pages},
                      {"round_pages_sent", e.round_pages_sent},
                      {"bytes_total", e.bytes_total},
                      {"rate_bytes_per_s", static_cast<std::uint64_t>(e.rate_bytes_per_s)},
                      {"elapsed_ms", e.elapsed.count()}};
  if (!e.message.empty()) j["message"] = e.message;
  return j;
}

void Progress::update(const ProgressEvent& e) {
  if (mode_ == ProgressMode::none) return;
  const auto now = std::chrono::steady_clock::now();
  const bool changed = e.phase != last_phase_ || e.round != last_round_;
  if (!changed && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  last_phase_ = e.phase;
  last_round_ = e.round;
  if (mode_ == ProgressMode::json) {
    fmt::print(out_, "{}\n", to_json(e).dump());
  } else {
    fmt::print(out_, "\r\033[K{}", render_bar(e));
    if (!e.message.empty() && changed) fmt::print(out_, "\n  {}\n", e.message);
    bar_open_ = true;
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (mode_ == ProgressMode::bar && bar_open_) {
    fmt::print(out_, "\n");
    std::fflush(out_);
  }
  bar_open_ = false;
}

}  // namespace tern::migrate
