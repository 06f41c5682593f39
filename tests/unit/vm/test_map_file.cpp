// Domain::map_file (lazy restore) and Domain::next_data_run (save's zero
// hint) on both backends: a file-backed frame reads the file's bytes, writes
// to it (the VMM's, and on KVM the guest's) stay private, depopulating it
// brings zeros back, and the zero hint never calls a frame with data zero.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "kvm_test_support.hpp"
#include "sim_test_util.hpp"

namespace tern::vm {
namespace {

// A temporary file of `pages` pages, page p filled with byte (p + 1).
class PatternFile {
 public:
  explicit PatternFile(std::uint64_t pages) {
    path_ = std::filesystem::temp_directory_path() /
            ("tern-map-file-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::vector<char> bytes(pages * kPageSize);
    for (std::uint64_t p = 0; p < pages; ++p)
      std::memset(bytes.data() + p * kPageSize, static_cast<int>(p + 1), kPageSize);
    std::ofstream(path_, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd_, 0);
  }
  ~PatternFile() {
    ::close(fd_);
    std::filesystem::remove(path_);
  }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::vector<char> contents() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
  int fd_ = -1;
};

bool page_is(Domain& d, std::uint64_t pfn, unsigned char v) {
  const auto* p = reinterpret_cast<const unsigned char*>(d.page(pfn));
  for (std::uint64_t i = 0; i < kPageSize; ++i)
    if (p[i] != v) return false;
  return true;
}

// The checks both backends must pass; `d` has nothing populated yet.
void check_map_file(Domain& d) {
  PatternFile f(8);
  const auto before = f.contents();
  ASSERT_TRUE(d.populate(0x100, 16));
  // Refused: frames not populated, an unaligned offset.
  EXPECT_FALSE(d.map_file(0x10f, 4, f.fd(), 0));
  EXPECT_FALSE(d.map_file(0x100, 1, f.fd(), 100));
  // Frames 0x104..0x107 <- file pages 2..5.
  ASSERT_TRUE(d.map_file(0x104, 4, f.fd(), 2 * kPageSize));
  for (std::uint64_t k = 0; k < 4; ++k) EXPECT_TRUE(page_is(d, 0x104 + k, 3 + k)) << k;
  EXPECT_TRUE(page_is(d, 0x103, 0));
  EXPECT_TRUE(page_is(d, 0x108, 0));
  // The VMM writes one: private copy, the file stays as it was.
  std::memset(d.page(0x105), 0xab, kPageSize);
  EXPECT_TRUE(page_is(d, 0x105, 0xab));
  EXPECT_TRUE(page_is(d, 0x106, 5));
  EXPECT_EQ(f.contents(), before);
  // Depopulated and populated again: zero, not the file's bytes.
  ASSERT_TRUE(d.depopulate(0x105, 2));
  ASSERT_TRUE(d.populate(0x105, 2));
  EXPECT_TRUE(page_is(d, 0x105, 0));
  EXPECT_TRUE(page_is(d, 0x106, 0));
  EXPECT_TRUE(page_is(d, 0x104, 3));
  EXPECT_TRUE(page_is(d, 0x107, 6));
  EXPECT_EQ(f.contents(), before);
}

// next_data_run may only call frames zero that read as zero.
void check_zero_hint_is_safe(Domain& d) {
  const MemoryMap m = d.memory_map();
  m.for_each([&](const Extent& e) {
    FrameRun run{0, 0};
    for (std::uint64_t p = e.first_pfn; p < e.end(); ++p) {
      if (p >= run.end || p < run.first) run = d.next_data_run(p);
      if (p < run.first) {
        ASSERT_TRUE(page_is(d, p, 0)) << "frame " << p << " called zero";
      }
    }
  });
}

TEST(MapFile, SimBackend) {
  auto c = testing::sim_config("passes=1 mib=1");
  c.boot = false;
  auto d = testing::make_sim(c);
  ASSERT_NE(d, nullptr);
  check_map_file(*d);
  EXPECT_EQ(d->file_backed_pages(), 2U);  // 0x104 and 0x107 are still backed
  check_zero_hint_is_safe(*d);
}

class KvmMapFile : public kvm::testing::KvmTest {};

TEST_F(KvmMapFile, BackingFollowsMapAndDepopulate) {
  auto d = make("", 1, "c.log", 64, /*boot=*/false);
  ASSERT_NE(d, nullptr);
  check_map_file(*d);
  EXPECT_EQ(d->file_backed_pages(), 2U);
  check_zero_hint_is_safe(*d);
}

TEST_F(KvmMapFile, ZeroHintSkipsUntouchedFramesOnly) {
  auto d = make("", 1, "c.log", 64, /*boot=*/false);
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->populate(0, 1024));
  // Nothing written yet: the whole slot is one hole.
  FrameRun r = d->next_data_run(0);
  EXPECT_GE(r.first, 1024U);
  // Frames 600 and 601, in the second 2 MiB of RAM: with transparent huge
  // pages the kernel may fault in the whole 2 MiB page around them (frames
  // 512-1023), never the first.
  std::memset(d->page(600), 1, kPageSize);
  std::memset(d->page(601), 1, kPageSize);
  r = d->next_data_run(0);
  EXPECT_GE(r.first, 512U);
  EXPECT_LE(r.first, 600U);
  EXPECT_GE(r.end, 602U);
  EXPECT_LE(r.end, 1024U);
  // A file-backed frame holds data whatever the page tables say.
  PatternFile f(1);
  ASSERT_TRUE(d->map_file(5, 1, f.fd(), 0));
  r = d->next_data_run(0);
  EXPECT_EQ(r.first, 5U);
  check_zero_hint_is_safe(*d);
}

// The guest itself (not just the VMM) reads a file-backed frame's bytes,
// and its writes stay private: a guest paused mid-run is dumped to a file
// (memory) and a state image, and a fresh domain whose every frame is mapped
// from that file finishes the run clean, leaving the file as it was.
TEST_F(KvmMapFile, GuestRunsFromFileBackedMemoryAndNeverWritesTheFile) {
  auto src = make("passes=4 mib=4 io=gp", 1, "src.log", 64);
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->start());
  ASSERT_TRUE(wait_console("src.log", "pass 2:")) << read_file(console_path("src.log"));
  ASSERT_TRUE(src->pause());
  const std::uint64_t pages = src->memory_map().end_pfn();
  ASSERT_EQ(src->memory_map().populated_pages(), pages);
  const std::string image = console_path("memory.bin");
  {
    std::ofstream out(image, std::ios::binary);
    for (std::uint64_t p = 0; p < pages; ++p)
      out.write(reinterpret_cast<const char*>(src->page(p)), kPageSize);
  }
  const auto before = read_file(image);
  auto state = src->save_state();
  ASSERT_TRUE(state) << state.error().message();
  src->shutdown();

  auto dst = make("passes=4 mib=4 io=gp", 1, "dst.log", 64, /*boot=*/false);
  ASSERT_NE(dst, nullptr);
  ASSERT_TRUE(dst->populate(0, pages));
  const int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(dst->map_file(0, pages, fd, 0));
  ::close(fd);  // the mapping keeps the file
  ASSERT_TRUE(dst->start());
  ASSERT_TRUE(dst->load_state(*state));
  ASSERT_TRUE(dst->resume());
  auto r = dst->wait_exit(kvm::testing::kGuestTimeout);
  ASSERT_TRUE(r && *r) << read_file(console_path("dst.log"));
  const std::string log = read_file(console_path("dst.log"));
  EXPECT_EQ((*r)->value, 0U) << log;
  EXPECT_NE(log.find("tern-guest: done, passes=4 errors=0"), std::string::npos) << log;
  EXPECT_EQ(dst->file_backed_pages(), pages);
  EXPECT_EQ(read_file(image), before) << "the guest's writes reached the file";
}

}  // namespace
}  // namespace tern::vm
