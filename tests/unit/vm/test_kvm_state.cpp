// KVM backend: pause mid-run, save the state, load it into a fresh domain
// (created with boot=false) together with the memory copied page by page,
// and the guest finishes there with its own verification clean.
#include <cstring>

#include "kvm_test_support.hpp"

namespace tern::vm::kvm::testing {
namespace {

using stream::domctx::StateImage;

class KvmState : public KvmTest {
 public:
  // Copies every populated frame of `from` into `to` (which has none yet).
  static void copy_memory(Domain& from, Domain& to) {
    const MemoryMap map = from.memory_map();
    map.for_each([&](const Extent& e) {
      ASSERT_TRUE(to.populate(e.first_pfn, e.count));
      for (std::uint64_t pfn = e.first_pfn; pfn < e.end(); ++pfn)
        std::memcpy(to.page(pfn), from.page(pfn), kPageSize);
    });
    EXPECT_TRUE(to.memory_map().same_pages(map));
  }

  void save_and_restore(std::uint32_t vcpus) {
    const std::string cmd = "passes=12 mib=8";
    auto src = make(cmd, vcpus, "src.log");
    ASSERT_NE(src, nullptr);
    ASSERT_TRUE(src->start());
    ASSERT_TRUE(wait_console("src.log", "pass 3:")) << read_file(console_path("src.log"));
    ASSERT_TRUE(src->pause());
    EXPECT_EQ(src->state(), RunState::paused);
    auto img = src->save_state();
    ASSERT_TRUE(img.has_value()) << img.error().message();
    ASSERT_EQ(img->vcpus.size(), vcpus);
    for (const auto& v : img->vcpus) {
      EXPECT_TRUE(v.regs && (v.sregs || v.sregs2) && v.xsave && v.lapic && v.msrs && v.cpuid &&
                  v.tsc_khz);
      EXPECT_FALSE(v.msrs->entries.empty());
    }
    EXPECT_TRUE(img->vm.pic_master && img->vm.ioapic && img->vm.pit && img->vm.clock);

    auto dst = make(cmd, vcpus, "dst.log", 64, /*boot=*/false);
    ASSERT_NE(dst, nullptr);
    ASSERT_TRUE(dst->start());
    EXPECT_EQ(dst->state(), RunState::created);
    EXPECT_EQ(dst->memory_map().populated_pages(), 0U);
    copy_memory(*src, *dst);
    src->shutdown();  // the source never runs again
    auto loaded = dst->load_state(*img);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    EXPECT_TRUE(dst->skipped_msrs().empty());

    // What the fresh domain now holds reads back as what was saved.
    auto again = dst->save_state();
    ASSERT_TRUE(again.has_value()) << again.error().message();
    for (std::size_t i = 0; i < vcpus; ++i) {
      EXPECT_EQ(std::memcmp(&*again->vcpus[i].regs, &*img->vcpus[i].regs, sizeof(kvm_regs)), 0)
          << "vCPU " << i;
      EXPECT_EQ(again->vcpus[i].cpuid, img->vcpus[i].cpuid);
      EXPECT_EQ(again->vcpus[i].msrs->entries.size(), img->vcpus[i].msrs->entries.size());
    }

    ASSERT_TRUE(dst->resume());
    auto r = dst->wait_exit(kGuestTimeout);
    ASSERT_TRUE(r.has_value()) << r.error().message() << "\n" << read_file(console_path("dst.log"));
    ASSERT_TRUE(r->has_value()) << "restored guest did not finish:\n"
                                << read_file(console_path("dst.log"));
    const std::string log = read_file(console_path("dst.log"));
    EXPECT_EQ((*r)->value, 0U) << log;
    EXPECT_NE(log.find("pass 12: wrote 8 MiB, verified 8 MiB, 0 errors\n"), std::string::npos)
        << log;
    EXPECT_NE(log.find("tern-guest: done, passes=12 errors=0\n"), std::string::npos) << log;
    EXPECT_EQ(log.find("tern-guest: start"), std::string::npos)
        << "the restored guest booted again:\n"
        << log;
  }
};

TEST_F(KvmState, InjectedBitFlipGivesNonZeroExit) {
  auto d = make("passes=2 mib=8 inject=1", 1, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  auto r = d->wait_exit(kGuestTimeout);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_NE((*r)->value, 0U);
  EXPECT_FALSE((*r)->clean());
  EXPECT_NE(read_file(console_path("console.log")).find("tern-guest: mismatch at"),
            std::string::npos);
}

TEST_F(KvmState, SaveMidRunRestoreIntoFreshDomainOneVcpu) { save_and_restore(1); }
TEST_F(KvmState, SaveMidRunRestoreIntoFreshDomainTwoVcpus) { save_and_restore(2); }

TEST_F(KvmState, RepeatedPauseResumeKeepsTheGuestIntact) {
  auto d = make("passes=10 mib=8", 2, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  int pauses = 0;
  for (; pauses < 50 && d->state() == RunState::running; ++pauses) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    auto p = d->pause();
    if (!p) break;  // the guest may exit between the state check and the pause
    EXPECT_EQ(d->state(), RunState::paused);
    ASSERT_TRUE(d->resume());
  }
  auto r = d->wait_exit(kGuestTimeout);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ((*r)->value, 0U) << read_file(console_path("console.log"));
  EXPECT_GT(pauses, 3);
}

TEST_F(KvmState, LoadIntoTheSameDomainRollsItBack) {
  // A checkpoint: save state and memory, let the guest run on, then put
  // both back into the same (paused) domain; it continues from the checkpoint.
  auto d = make("passes=10 mib=8", 2, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  ASSERT_TRUE(wait_console("console.log", "pass 2:"));
  ASSERT_TRUE(d->pause());
  auto img = d->save_state();
  ASSERT_TRUE(img.has_value());
  const MemoryMap map = d->memory_map();
  std::vector<std::byte> mem(map.end_pfn() * kPageSize);
  std::memcpy(mem.data(), d->page(0), mem.size());
  ASSERT_TRUE(d->resume());
  ASSERT_TRUE(wait_console("console.log", "pass 5:"));
  ASSERT_TRUE(d->pause());
  std::memcpy(d->page(0), mem.data(), mem.size());
  auto r = d->load_state(*img);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_TRUE(d->resume());
  auto e = d->wait_exit(kGuestTimeout);
  ASSERT_TRUE(e.has_value() && e->has_value());
  const std::string log = read_file(console_path("console.log"));
  EXPECT_EQ((*e)->value, 0U) << log;
  // Passes 3..5 ran twice: once before the rollback, once after.
  std::size_t n = 0;
  for (std::size_t at = 0; (at = log.find("pass 4: wrote", at)) != std::string::npos; ++at) ++n;
  EXPECT_EQ(n, 2U) << log;
}

TEST_F(KvmState, WaitExitAfterShutdownReturnsInsteadOfHanging) {
  auto d = make("passes=0 mib=8", 1, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  d->shutdown();
  auto r = d->wait_exit(std::nullopt);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("shut down before the guest exited"), std::string::npos);
}

TEST_F(KvmState, CheckStateRefusesWhatThisHostCannotRunAndChangesNothing) {
  auto src = make("passes=0 mib=8", 1, "src.log");
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->start());
  ASSERT_TRUE(wait_console("src.log", "pass 1:"));
  ASSERT_TRUE(src->pause());
  auto img = src->save_state();
  ASSERT_TRUE(img.has_value()) << img.error().message();

  auto dst = make("", 2, "dst.log", 64, false);
  ASSERT_NE(dst, nullptr);
  auto r = dst->load_state(*img);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("1 vCPUs, this domain has 2"), std::string::npos)
      << r.error().message();

  // A feature bit KVM does not offer: the highest clear bit of CPUID 7.0 EBX.
  StateImage bad = *img;
  auto& entries = bad.vcpus[0].cpuid->entries;
  auto leaf7 = std::find_if(entries.begin(), entries.end(),
                            [](const auto& e) { return e.function == 7 && e.index == 0; });
  ASSERT_NE(leaf7, entries.end());
  unsigned bit = 31;
  while (bit > 0 && (leaf7->ebx >> bit & 1U) != 0) --bit;
  ASSERT_EQ(leaf7->ebx >> bit & 1U, 0U);
  leaf7->ebx |= 1U << bit;
  r = src->check_state(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find(fmt::format("CPUID 0x7.0 EBX bit {}", bit)), std::string::npos)
      << r.error().message();

  bad = *img;
  bad.vcpus[0].xsave->bytes.resize(src->state_caps().xsave_size + 4096);
  r = src->load_state(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("XSAVE area"), std::string::npos) << r.error().message();

  // Nothing was changed by the refusals: the guest continues from its state.
  auto same = src->save_state();
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(std::memcmp(&*same->vcpus[0].regs, &*img->vcpus[0].regs, sizeof(kvm_regs)), 0);
  src->shutdown();
}

}  // namespace
}  // namespace tern::vm::kvm::testing
