// Helpers for the engine tests: sim domains, images in memory.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#include "../vm/sim_test_util.hpp"
#include "io/input.hpp"
#include "migrate/receiver.hpp"
#include "migrate/save.hpp"
#include "vm/backends.hpp"

namespace tern::migrate::testing {

using vm::testing::make_sim;
using vm::testing::run_to_exit;
using vm::testing::same_memory;
using vm::testing::sim_config;

struct Image {
  std::vector<std::byte> bytes;
  SaveStats stats;
};

inline Image save_to_memory(vm::Domain& d, const vm::DomainConfig& c,
                            AfterSave then = AfterSave::stop) {
  VectorSink sink;
  SaveOptions o;
  o.then = then;
  auto st = save_domain(d, ImageConfig::from(c, vm::Backend::sim), sink, o);
  EXPECT_TRUE(st) << st.error().message();
  return Image{sink.take(), st ? *st : SaveStats{}};
}

// Counts the domains it creates (sim, console discarded).
struct CountingFactory {
  std::shared_ptr<std::atomic<int>> created = std::make_shared<std::atomic<int>>(0);
  DomainFactory get() const {
    auto n = created;
    return [n](const ImageConfig& c) {
      ++*n;
      return vm::create_sim_domain(c.domain_config("-"));
    };
  }
};

inline Expected<ReceiveResult> receive_bytes(std::span<const std::byte> image,
                                             const DomainFactory& f) {
  MemorySource src(image);
  ReceiverOptions o;
  o.factory = f;
  return receive_stream(src, o);
}

// The same through a pipe and io::FdSource, as `tern receive` reads a
// connection: page payloads go straight from the fd into guest memory
// (FdSource::read_into), split wherever the writer's odd-sized writes fall.
inline Expected<ReceiveResult> receive_through_pipe(std::span<const std::byte> image,
                                                    const DomainFactory& f) {
  int p[2];
  if (::pipe(p) != 0) return errno_error("pipe", errno);
  std::thread writer([&] {
    for (std::size_t off = 0; off < image.size();) {
      const std::size_t n = std::min<std::size_t>(12345, image.size() - off);
      const ssize_t w = ::write(p[1], image.data() + off, n);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
    ::close(p[1]);
  });
  io::FdSource src(p[0], 64 << 10);
  src.set_read_ahead(100);
  ReceiverOptions o;
  o.factory = f;
  auto r = receive_stream(src, o);
  ::close(p[0]);  // a writer blocked on a refused stream gets EPIPE
  writer.join();
  return r;
}

// Pauses the guest once vCPU 0 is in pass >= `pass` (before the final
// verification), so a save lands mid-run whatever the machine's speed.
inline void pause_mid_pass(vm::Domain& d, std::uint64_t pass) {
  for (int tries = 0; tries < 100000; ++tries) {
    ASSERT_TRUE(d.pause());
    auto st = d.save_state();
    ASSERT_TRUE(st) << st.error().message();
    const kvm_regs& r = *st->vcpus[0].regs;
    const auto phase = static_cast<vm::sim::Phase>(r.rip);
    if (r.rax >= pass && phase >= vm::sim::Phase::verify && phase <= vm::sim::Phase::pause) return;
    ASSERT_TRUE(d.resume());
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  FAIL() << "the guest never reached pass " << pass;
}

// A sim guest started and running again once it reached pass `pass`: a
// migration source with data written and its working set in motion. Null
// (with the failure recorded) when a step fails.
inline std::unique_ptr<vm::sim::SimDomain> running_mid_pass(const vm::DomainConfig& cfg,
                                                            std::uint64_t pass) {
  auto d = make_sim(cfg);
  if (!d) return nullptr;
  if (auto ok = d->start(); !ok) {
    ADD_FAILURE() << "start: " << ok.error().message();
    return nullptr;
  }
  pause_mid_pass(*d, pass);
  if (::testing::Test::HasFatalFailure()) return nullptr;
  if (auto ok = d->resume(); !ok) {
    ADD_FAILURE() << "resume: " << ok.error().message();
    return nullptr;
  }
  return d;
}

inline vm::sim::SimDomain& as_sim(vm::Domain& d) { return dynamic_cast<vm::sim::SimDomain&>(d); }

}  // namespace tern::migrate::testing
