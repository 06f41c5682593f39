// The KVM backend boots the built-in guest (guest/) to a clean exit, with
// one and two vCPUs, and reports a failing guest's exit value.
#include "kvm_test_support.hpp"

namespace tern::vm::kvm::testing {
namespace {

class KvmBoot : public KvmTest {};

void boot_clean(KvmBoot& t, std::uint32_t vcpus) {
  auto d = t.make("passes=2 mib=8", vcpus, "console.log");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->start());
  auto r = d->wait_exit(kGuestTimeout);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_TRUE(r->has_value()) << "the guest did not exit within the timeout; console:\n"
                              << KvmTest::read_file(t.console_path("console.log"));
  const std::string log = KvmTest::read_file(t.console_path("console.log"));
  EXPECT_EQ((*r)->value, 0U) << log;
  EXPECT_NE(log.find("pass 1: wrote 8 MiB, verified 0 MiB, 0 errors\n"), std::string::npos) << log;
  EXPECT_NE(log.find("pass 2: wrote 8 MiB, verified 8 MiB, 0 errors\n"), std::string::npos) << log;
  EXPECT_NE(log.find("tern-guest: done, passes=2 errors=0\n"), std::string::npos) << log;
  EXPECT_EQ(d->state(), RunState::exited);
}

TEST_F(KvmBoot, OneVcpuRunsTheGuestToACleanExit) { boot_clean(*this, 1); }
TEST_F(KvmBoot, TwoVcpusRunTheGuestToACleanExit) { boot_clean(*this, 2); }

}  // namespace
}  // namespace tern::vm::kvm::testing
