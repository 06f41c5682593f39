// Helpers for the sim backend tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "vm/sim/sim_domain.hpp"

namespace tern::vm::testing {

inline DomainConfig sim_config(const std::string& cmdline, std::uint32_t vcpus = 1,
                               std::uint64_t memory = 32ULL << 20) {
  DomainConfig c;
  c.memory_bytes = memory;
  c.vcpus = vcpus;
  c.cmdline = cmdline;
  c.console = "-";
  return c;
}

inline std::unique_ptr<sim::SimDomain> make_sim(const DomainConfig& c) {
  auto d = sim::SimDomain::create(c);
  EXPECT_TRUE(d) << d.error().message();
  return d ? std::move(*d) : nullptr;
}

// Waits (at most 60 s) for the guest to end; returns its exit value or -1.
inline long run_to_exit(Domain& d) {
  auto r = d.wait_exit(std::chrono::milliseconds(60000));
  if (!r) {
    ADD_FAILURE() << r.error().message();
    return -1;
  }
  if (!*r) {
    ADD_FAILURE() << "guest did not exit within 60 s";
    return -1;
  }
  return static_cast<long>((*r)->value);
}

// What a restore does, without a stream: same map, same bytes.
inline void copy_memory(Domain& from, Domain& to) {
  const MemoryMap m = from.memory_map();
  m.for_each([&](const Extent& e) {
    ASSERT_TRUE(to.populate(e.first_pfn, e.count));
    for (std::uint64_t p = e.first_pfn; p < e.end(); ++p)
      std::memcpy(to.page(p), from.page(p), kPageSize);
  });
}

// Host-side comparison: same populated frames and same contents.
inline bool same_memory(Domain& a, Domain& b, std::string* why = nullptr) {
  const MemoryMap ma = a.memory_map(), mb = b.memory_map();
  if (!ma.same_pages(mb)) {
    if (why) *why = "memory maps differ";
    return false;
  }
  bool same = true;
  ma.for_each([&](const Extent& e) {
    for (std::uint64_t p = e.first_pfn; p < e.end() && same; ++p)
      if (std::memcmp(a.page(p), b.page(p), kPageSize) != 0) {
        same = false;
        if (why) *why = fmt::format("page {:#x} differs", p);
      }
  });
  return same;
}

// The console after the first occurrence of `marker` (inclusive).
inline std::string console_from(const std::string& text, const std::string& marker) {
  auto pos = text.find(marker);
  return pos == std::string::npos ? std::string() : text.substr(pos);
}

}  // namespace tern::vm::testing
