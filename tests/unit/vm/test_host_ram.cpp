// HostRam: guest RAM made ahead of its domain (tern receive --memory). It
// must be faulted in by populate(), be taken by a KVM GuestMemory of exactly
// its size (and only then), and be unmapped exactly once.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <vector>

#include "vm/host_ram.hpp"
#include "vm/kvm/guest_memory.hpp"

namespace tern::vm {
namespace {

std::size_t resident_pages(std::byte* base, std::uint64_t bytes) {
  std::vector<unsigned char> v(bytes / kPageSize);
  EXPECT_EQ(::mincore(base, bytes, v.data()), 0);
  std::size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

TEST(HostRam, RefusesSizesThatAreNotPages) {
  EXPECT_FALSE(HostRam::create(0));
  auto r = HostRam::create(4097);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::usage);
}

TEST(HostRam, PopulateFaultsEveryPageIn) {
  constexpr std::uint64_t kBytes = (4ULL << 20) + 3 * kPageSize;  // not a huge-page multiple
  auto r = HostRam::create(kBytes);
  ASSERT_TRUE(r) << r.error().message();
  HostRam& ram = **r;
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ram.base()) % (2 << 20), 0u);
  EXPECT_EQ(resident_pages(ram.base(), kBytes), 0u);
  auto ok = ram.populate();
  if (!ok && ok.error().code() == Errc::unsupported) GTEST_SKIP() << ok.error().message();
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ram.populated_bytes(), kBytes);
  EXPECT_EQ(resident_pages(ram.base(), kBytes), kBytes / kPageSize);
}

TEST(HostRam, GuestMemoryTakesItOnlyWhenTheSizeIsExact) {
  auto r = HostRam::create(8ULL << 20);
  ASSERT_TRUE(r);
  std::byte* base = (*r)->base();
  auto other = kvm::GuestMemory::create(16ULL << 20, r->get());
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_FALSE((*other)->uses_prepared_ram());
  EXPECT_EQ((*r)->base(), base);  // still the HostRam's

  auto same = kvm::GuestMemory::create(8ULL << 20, r->get());
  ASSERT_TRUE(same) << same.error().message();
  EXPECT_TRUE((*same)->uses_prepared_ram());
  EXPECT_EQ((*same)->page(0), base);
  EXPECT_EQ((*r)->base(), nullptr);  // taken: the GuestMemory unmaps it
  EXPECT_EQ((*r)->take(), nullptr);
  (*same)->page(5)[0] = std::byte{42};  // the memory is usable through the domain
  EXPECT_EQ(base[5 * kPageSize], std::byte{42});
}

}  // namespace
}  // namespace tern::vm
