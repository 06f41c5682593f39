#include "core/trace.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>

#include <sys/resource.h>

#include <fmt/format.h>

namespace tern::trace {

namespace {

constexpr std::size_t kCapacity = 512;

struct Slot {
  std::atomic<bool> ready{false};
  Span span{};
};

std::array<Slot, kCapacity> g_slots;
std::atomic<std::size_t> g_next{0};
std::atomic<std::uint32_t> g_threads{0};

Clock::time_point from_env_t0(bool& found) {
  found = false;
  const char* s = std::getenv("TERN_TRACE_T0_NS");
  if (s == nullptr || *s == '\0') return {};
  char* end = nullptr;
  errno = 0;
  const unsigned long long ns = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return {};
  // steady_clock is CLOCK_MONOTONIC in libstdc++; check that against the
  // kernel's clock so a mismatch cannot produce nonsense offsets.
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto mono = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  const auto skew = Clock::now().time_since_epoch() - mono;
  if (skew > std::chrono::milliseconds(1) || skew < -std::chrono::milliseconds(1)) return {};
  found = true;
  return Clock::time_point(std::chrono::nanoseconds(ns));
}

struct Origin {
  Origin() : start(Clock::now()) {
    bool found = false;
    const auto t0 = from_env_t0(found);
    from_env = found && t0 <= start;
    origin = from_env ? t0 : start;
  }
  Clock::time_point start;
  Clock::time_point origin;
  bool from_env = false;
};

// Constructed as early in static initialisation as the toolchain allows.
Origin g_origin __attribute__((init_priority(101)));

std::uint32_t this_thread_number() {
  thread_local const std::uint32_t n = g_threads.fetch_add(1, std::memory_order_relaxed);
  return n;
}

}  // namespace

void record(std::string_view name, Clock::time_point begin, Clock::time_point end) {
  const std::size_t i = g_next.fetch_add(1, std::memory_order_relaxed);
  if (i >= kCapacity) return;
  g_slots[i].span = Span{name, this_thread_number(), begin, end};
  g_slots[i].ready.store(true, std::memory_order_release);
}

Clock::time_point origin() { return g_origin.origin; }
Clock::time_point process_start() { return g_origin.start; }
bool origin_from_environment() { return g_origin.from_env; }

std::vector<Span> spans() {
  std::vector<Span> out;
  const std::size_t n = std::min(g_next.load(std::memory_order_acquire), kCapacity);
  if (g_origin.from_env) out.push_back(Span{"exec", 0, g_origin.origin, g_origin.start});
  for (std::size_t i = 0; i < n; ++i)
    if (g_slots[i].ready.load(std::memory_order_acquire)) out.push_back(g_slots[i].span);
  std::stable_sort(out.begin(), out.end(),
                   [](const Span& a, const Span& b) { return a.begin < b.begin; });
  return out;
}

std::uint64_t dropped() {
  const std::size_t n = g_next.load(std::memory_order_relaxed);
  return n > kCapacity ? n - kCapacity : 0;
}

void clear() {
  const std::size_t n = std::min(g_next.load(std::memory_order_acquire), kCapacity);
  for (std::size_t i = 0; i < n; ++i) g_slots[i].ready.store(false, std::memory_order_relaxed);
  g_next.store(0, std::memory_order_release);
}

double ms_since_origin(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - g_origin.origin).count();
}

bool enabled_by_environment() {
  const char* s = std::getenv("TERN_TRACE");
  return s != nullptr && *s != '\0' && std::string_view(s) != "0";
}

std::string format_timeline() {
  std::string out;
  for (const Span& s : spans())
    out += fmt::format("{:9.3f} +{:8.3f} ms  [t{}] {}\n", ms_since_origin(s.begin),
                       std::chrono::duration<double, std::milli>(s.end - s.begin).count(), s.thread,
                       s.name);
  if (const auto d = dropped()) out += fmt::format("({} more spans dropped: table full)\n", d);
  return out;
}

double thread_cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

}  // namespace tern::trace
