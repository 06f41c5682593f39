// Minimal leveled logging to stderr. Quiet by default; -v raises the level.
#pragma once

#include <cstdio>

#include <fmt/format.h>

namespace tern::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

Level level();
void set_level(Level l);

template <typename... Args>
void write(Level l, fmt::format_string<Args...> f, Args&&... args) {
  if (static_cast<int>(l) > static_cast<int>(level())) return;
  static constexpr const char* kTag[] = {"error", "warning", "info", "debug"};
  fmt::print(stderr, "tern: {}: {}\n", kTag[static_cast<int>(l)],
             fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) { write(Level::error, f, std::forward<Args>(a)...); }
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) { write(Level::warn, f, std::forward<Args>(a)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { write(Level::info, f, std::forward<Args>(a)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { write(Level::debug, f, std::forward<Args>(a)...); }

}  // namespace tern::log
