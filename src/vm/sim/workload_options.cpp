#include "vm/sim/workload_options.hpp"

#include <limits>
#include <optional>

namespace tern::vm::sim {

namespace {

// Decimal or 0x-prefixed hexadecimal, whole word, no overflow (options.c).
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else
      return std::nullopt;
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / base) return std::nullopt;
    v = v * base + d;
  }
  return v;
}

// The guest quotes at most 47 characters of a bad word.
std::string quote(std::string_view w) { return std::string(w.substr(0, 47)); }

}  // namespace

Expected<WorkloadOptions> parse_workload_options(std::string_view cmdline) {
  WorkloadOptions o;
  bool ws_set = false, bbase_set = false, first = true;
  std::size_t p = 0;
  while (p < cmdline.size()) {
    while (p < cmdline.size() && (cmdline[p] == ' ' || cmdline[p] == '\t')) ++p;
    if (p >= cmdline.size()) break;
    std::size_t e = p;
    while (e < cmdline.size() && cmdline[e] != ' ' && cmdline[e] != '\t') ++e;
    const std::string_view w = cmdline.substr(p, e - p);
    p = e;
    const std::size_t eq = w.find('=');
    if (eq == std::string_view::npos) {
      if (first) {
        first = false;  // loaders put the kernel's path there
        continue;
      }
      return make_error(Errc::usage, "'{}' is not key=value", quote(w));
    }
    first = false;
    const std::string_view key = w.substr(0, eq), val = w.substr(eq + 1);
    auto bad_value = [&] { return make_error(Errc::usage, "bad value in '{}'", quote(w)); };
    if (key == "io") {
      if (val != "syscall" && val != "direct" && val != "gp") return bad_value();
      o.io = val;
      continue;
    }
    if (key == "fault") {
      if (val != "none" && val != "ud" && val != "pf") return bad_value();
      o.fault = val;
      continue;
    }
    if (key == "balloon") {
      const std::size_t comma = val.find(',');
      auto n = parse_u64(val.substr(0, comma));
      if (!n) return bad_value();
      o.balloon_pages = *n;
      if (comma != std::string_view::npos) {
        auto period = parse_u64(val.substr(comma + 1));
        if (!period || *period == 0) return bad_value();
        o.balloon_period = *period;
      }
      continue;
    }
    std::uint64_t* slot = nullptr;
    if (key == "passes")
      slot = &o.passes;
    else if (key == "mib")
      slot = &o.mib;
    else if (key == "base")
      slot = &o.base;
    else if (key == "ws")
      slot = &o.ws, ws_set = true;
    else if (key == "pause")
      slot = &o.pause_us;
    else if (key == "inject")
      slot = &o.inject;
    else if (key == "bbase")
      slot = &o.balloon_base, bbase_set = true;
    else
      return make_error(Errc::usage, "unknown option '{}'", quote(w));
    auto v = parse_u64(val);
    if (!v) return bad_value();
    *slot = *v;
  }

  if (o.mib == 0 || o.mib > kMaxMib)
    return make_error(Errc::usage, "mib={} out of range 1..{}", o.mib, kMaxMib);
  if (!ws_set) o.ws = o.mib;
  if (o.ws == 0 || o.ws > o.mib)
    return make_error(Errc::usage, "ws={} out of range 1..mib ({})", o.ws, o.mib);
  if ((o.base & 0xfff) != 0)
    return make_error(Errc::usage, "base={:#x} is not 4 KiB aligned", o.base);
  if (o.pause_us > kMaxPauseUs)
    return make_error(Errc::usage, "pause={} above {} us", o.pause_us, kMaxPauseUs);
  if (o.balloon_pages > kMaxBalloonPages)
    return make_error(Errc::usage, "balloon={} out of range 0..{}", o.balloon_pages,
                      kMaxBalloonPages);
  if (!bbase_set) o.balloon_base = o.base + o.mib * (1ULL << 20);
  if ((o.balloon_base & 0xfff) != 0)
    return make_error(Errc::usage, "bbase={:#x} is not 4 KiB aligned", o.balloon_base);
  return o;
}

std::string describe(const WorkloadOptions& o) {
  std::string s =
      fmt::format("passes={} mib={} ws={} base={:#x} pause={}us inject={} io={} fault={}", o.passes,
                  o.mib, o.ws, o.base, o.pause_us, o.inject, o.io, o.fault);
  if (o.balloon_pages != 0)
    s += fmt::format(" balloon={},{} bbase={:#x}", o.balloon_pages, o.balloon_period,
                     o.balloon_base);
  return s;
}

}  // namespace tern::vm::sim
