// Shared by the KVM backend tests: a fixture that skips (visibly) when
// /dev/kvm cannot be opened, and helpers to run the built-in guest.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "vm/domain.hpp"
#include "vm/kvm/kvm_domain.hpp"

namespace tern::vm::kvm::testing {

class KvmTest : public ::testing::Test {
 public:
  void SetUp() override {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
      GTEST_SKIP() << "KVM backend not tested: /dev/kvm cannot be opened (" << std::strerror(errno)
                   << ")";
    ::close(fd);
    dir_ = std::filesystem::temp_directory_path() /
           ("tern-kvm-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure() && std::getenv("TERN_KEEP_TEST_DIRS") == nullptr)
      std::filesystem::remove_all(dir_);
  }

  [[nodiscard]] std::string console_path(const std::string& name) const {
    return (dir_ / name).string();
  }

  // A KVM domain running the built-in guest with `cmdline`, its console in a file.
  std::unique_ptr<KvmDomain> make(const std::string& cmdline, std::uint32_t vcpus,
                                  const std::string& console, std::uint64_t mib = 64,
                                  bool boot = true) {
    DomainConfig c;
    c.memory_bytes = mib << 20;
    c.vcpus = vcpus;
    c.cmdline = cmdline;
    c.console = console_path(console);
    c.boot = boot;
    auto d = KvmDomain::create(c);
    EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message());
    return d ? std::move(*d) : nullptr;
  }

  // Waits until the console file contains `text` (false after `timeout`).
  bool wait_console(const std::string& console, const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (read_file(console_path(console)).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::filesystem::path dir_;
};

inline constexpr auto kGuestTimeout = std::chrono::seconds(120);

}  // namespace tern::vm::kvm::testing
