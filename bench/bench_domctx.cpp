// Domain-context save and load of a 64-vCPU VM with realistic record sizes:
// per vCPU a 4 KiB XSAVE area, ~100 MSRs, ~80 CPUID entries and every other
// KVM vCPU structure; plus the VM-wide records. Reports time and blob size.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>

#include "stream/domctx/loader.hpp"
#include "stream/domctx/save.hpp"
#include "stream/domctx/state_image.hpp"

namespace {

using namespace tern::stream::domctx;

template <typename T>
T pod(std::mt19937_64& rng) {
  T v;
  auto* b = reinterpret_cast<unsigned char*>(&v);
  for (std::size_t i = 0; i < sizeof v; ++i) b[i] = static_cast<unsigned char>(rng());
  return v;
}

StateImage realistic(std::uint32_t vcpus) {
  std::mt19937_64 rng(64);
  StateImage img;
  for (std::uint32_t i = 0; i < vcpus; ++i) {
    VcpuState v;
    v.regs = pod<kvm_regs>(rng);
    v.sregs = pod<kvm_sregs>(rng);
    v.sregs2 = pod<kvm_sregs2>(rng);
    v.sregs2->flags = 0;
    v.xsave = XsaveArea{std::vector<std::byte>(4096)};
    for (auto& b : v.xsave->bytes) b = static_cast<std::byte>(rng());
    v.xcrs = kvm_xcrs{};
    v.xcrs->nr_xcrs = 1;
    v.xcrs->xcrs[0].value = 7;
    v.debugregs = pod<kvm_debugregs>(rng);
    v.lapic = pod<kvm_lapic_state>(rng);
    v.events = pod<kvm_vcpu_events>(rng);
    v.mp_state = kvm_mp_state{0};
    v.msrs = MsrList{};
    for (std::uint32_t m = 0; m < 100; ++m) v.msrs->entries.push_back({0xc0000000u + m, rng()});
    v.cpuid = CpuidList{};
    for (std::uint32_t c = 0; c < 80; ++c) {
      auto r = [&] { return static_cast<std::uint32_t>(rng()); };
      v.cpuid->entries.push_back({c, 0, 0, r(), r(), r(), r()});
    }
    v.tsc_khz = TscKhz{2'400'000};
    img.vcpus.push_back(std::move(v));
  }
  img.vm.pic_master = pod<kvm_pic_state>(rng);
  img.vm.pic_slave = pod<kvm_pic_state>(rng);
  img.vm.ioapic = pod<kvm_ioapic_state>(rng);
  img.vm.pit = pod<kvm_pit_state2>(rng);
  img.vm.clock = pod<kvm_clock_data>(rng);
  return img;
}

void BM_DomctxSave64(benchmark::State& state) {
  StateImage img = realistic(64);
  Registry reg;
  if (!register_state_image(reg, img)) std::abort();
  std::size_t size = 0;
  for (auto _ : state) {
    auto blob = save_blob(reg, img.shape());
    if (!blob) std::abort();
    size = blob->size();
    benchmark::DoNotOptimize(blob->data());
  }
  state.counters["blob_bytes"] = static_cast<double>(size);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// The same save into a buffer kept from the previous save (no regrowth).
void BM_DomctxSaveReuse64(benchmark::State& state) {
  StateImage img = realistic(64);
  Registry reg;
  if (!register_state_image(reg, img)) std::abort();
  std::vector<std::byte> blob;
  for (auto _ : state) {
    if (!save_into(reg, img.shape(), blob)) std::abort();
    benchmark::DoNotOptimize(blob.data());
  }
  state.counters["blob_bytes"] = static_cast<double>(blob.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * blob.size()));
}

void BM_DomctxDryRun64(benchmark::State& state) {
  StateImage img = realistic(64);
  Registry reg;
  if (!register_state_image(reg, img)) std::abort();
  for (auto _ : state) {
    auto n = save_size(reg, img.shape());
    if (!n) std::abort();
    benchmark::DoNotOptimize(*n);
  }
}

void BM_DomctxLoad64(benchmark::State& state) {
  StateImage img = realistic(64);
  Registry reg;
  if (!register_state_image(reg, img)) std::abort();
  auto blob = save_blob(reg, img.shape());
  if (!blob) std::abort();
  StateImage out;
  out.vcpus.resize(64);
  Registry in;
  if (!register_state_image(in, out)) std::abort();
  for (auto _ : state) {
    auto st = load(in, out.shape(), *blob);
    if (!st) std::abort();
    benchmark::DoNotOptimize(st->applied);
  }
  state.counters["blob_bytes"] = static_cast<double>(blob->size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * blob->size()));
}

}  // namespace

BENCHMARK(BM_DomctxSave64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DomctxSaveReuse64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DomctxDryRun64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DomctxLoad64)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
