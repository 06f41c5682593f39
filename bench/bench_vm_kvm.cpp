// The KVM backend on this host (/dev/kvm): boot-to-exit of the built-in
// guest, pause latency (pause() until every vCPU is out of guest mode with
// its I/O completed), save_state() and load_state() of the vCPU and device
// state, for 1 and 4 vCPUs. Skipped (with the reason) without /dev/kvm.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "vm/kvm/kvm_domain.hpp"

namespace {

using namespace tern::vm;
using Clock = std::chrono::steady_clock;

bool kvm_usable(benchmark::State& state) {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    state.SkipWithError("no /dev/kvm: KVM backend not measured");
    return false;
  }
  ::close(fd);
  return true;
}

std::unique_ptr<kvm::KvmDomain> domain(benchmark::State& state, std::uint32_t vcpus,
                                       std::uint64_t ram_mib, const std::string& cmdline,
                                       bool boot = true) {
  DomainConfig c;
  c.vcpus = vcpus;
  c.memory_bytes = ram_mib << 20;
  c.cmdline = cmdline;
  c.console.push_back('-');  // discard (push_back: GCC 12 warns falsely on = "-")
  c.boot = boot;
  auto d = kvm::KvmDomain::create(c);
  if (!d) {
    state.SkipWithError(d.error().message().c_str());
    return nullptr;
  }
  return std::move(*d);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Create the VM, load the guest, run one 1 MiB pass, exit: the whole
// lifetime of a short-lived VM.
void BM_BootToExit(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  const auto vcpus = static_cast<std::uint32_t>(state.range(0));
  const auto ram = static_cast<std::uint64_t>(state.range(1));
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto d = domain(state, vcpus, ram, "passes=1 mib=1");
    if (!d) return;
    if (!d->start()) return state.SkipWithError("start failed");
    auto r = d->wait_exit(std::chrono::seconds(60));
    if (!r || !*r || !(*r)->clean()) return state.SkipWithError("the guest did not exit clean");
    d->shutdown();
    state.SetIterationTime(seconds(Clock::now() - t0));
  }
}
BENCHMARK(BM_BootToExit)
    ->ArgsProduct({{1, 4}, {64, 1024}})
    ->ArgNames({"vcpus", "ram_mib"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

// pause() on a guest busy in its ring-3 loop.
void BM_PauseLatency(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  auto d = domain(state, static_cast<std::uint32_t>(state.range(0)), 64, "passes=0 mib=8");
  if (!d || !d->start()) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let it run
    const auto t0 = Clock::now();
    if (!d->pause()) return state.SkipWithError("pause failed");
    state.SetIterationTime(seconds(Clock::now() - t0));
    if (!d->resume()) return state.SkipWithError("resume failed");
  }
  d->shutdown();
}
BENCHMARK(BM_PauseLatency)
    ->Arg(1)
    ->Arg(4)
    ->ArgName("vcpus")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(200);

void BM_SaveState(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  auto d = domain(state, static_cast<std::uint32_t>(state.range(0)), 64, "passes=0 mib=8");
  if (!d || !d->start()) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!d->pause()) return state.SkipWithError("pause failed");
  std::size_t msrs = 0;
  for (auto _ : state) {
    auto img = d->save_state();
    if (!img) return state.SkipWithError(img.error().message().c_str());
    msrs = img->vcpus[0].msrs->entries.size();
    benchmark::DoNotOptimize(img);
  }
  state.counters["msrs_per_vcpu"] = static_cast<double>(msrs);
  d->shutdown();
}
BENCHMARK(BM_SaveState)->Arg(1)->Arg(4)->ArgName("vcpus")->Unit(benchmark::kMicrosecond);

// load_state() into a restore target (boot=false), as a restore does.
void BM_LoadState(benchmark::State& state) {
  if (!kvm_usable(state)) return;
  const auto vcpus = static_cast<std::uint32_t>(state.range(0));
  auto src = domain(state, vcpus, 64, "passes=0 mib=8");
  if (!src || !src->start()) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!src->pause()) return state.SkipWithError("pause failed");
  auto img = src->save_state();
  if (!img) return state.SkipWithError(img.error().message().c_str());
  src->shutdown();
  auto dst = domain(state, vcpus, 64, "", false);
  if (!dst) return;
  for (auto _ : state) {
    auto r = dst->load_state(*img);
    if (!r) return state.SkipWithError(r.error().message().c_str());
  }
}
BENCHMARK(BM_LoadState)->Arg(1)->Arg(4)->ArgName("vcpus")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
