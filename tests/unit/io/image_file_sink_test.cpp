// ImageFileSink: whatever mix of aligned and unaligned parts it is given, in
// every mode (O_DIRECT or not, pipelined or not, one or several writes in
// flight), the file holds exactly the bytes written, appears under its name
// only on commit, and page-aligned parts at aligned offsets went direct where
// the file system allows O_DIRECT.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/image_file_sink.hpp"

namespace tern::io {
namespace {

std::filesystem::path temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "tern-imgsink-XXXXXX").string();
  return mkdtemp(t.data());
}

std::vector<std::byte> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c{std::istreambuf_iterator<char>(in), {}};
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

struct AlignedBuffer {
  explicit AlignedBuffer(std::size_t n)
      : p(static_cast<std::byte*>(std::aligned_alloc(4096, n))), size(n) {}
  ~AlignedBuffer() { std::free(p); }
  std::byte* p;
  std::size_t size;
};

// A save-like sequence: an unaligned header, then records whose small part
// ends the block so that page payloads start aligned, an unaligned tail,
// and an aligned part at an unaligned offset (must go buffered). `mem` plays
// guest memory: a pipelined sink reads it until drain(), so the caller owns
// it and keeps it alive (and unchanged) past the sink's last write.
std::uint64_t write_sequence(ByteSink& s, std::vector<std::byte>& expect,
                             const AlignedBuffer& mem) {
  const std::size_t pages = mem.size / 4096;
  std::mt19937 rng(42);
  for (std::size_t i = 0; i < mem.size; ++i) mem.p[i] = static_cast<std::byte>(rng());
  std::vector<std::byte> small(5000);
  for (auto& b : small) b = static_cast<std::byte>(rng());
  auto put = [&](std::span<const Bytes> parts) {
    EXPECT_TRUE(s.write_gather(parts));
    for (Bytes p : parts) expect.insert(expect.end(), p.begin(), p.end());
  };
  std::uint64_t aligned_bytes = 0;
  {
    const Bytes hdr(small.data(), 100);
    put(std::span<const Bytes>(&hdr, 1));
  }
  for (std::size_t done = 0; done < pages;) {
    const std::size_t n = std::min<std::size_t>(pages - done, 300);
    const std::size_t fill = 4096 - expect.size() % 4096;  // ends the block
    std::vector<Bytes> parts = {Bytes(small.data(), fill)};
    // Payload in pieces (as contiguous guest pages come), plus one page out of order.
    parts.emplace_back(mem.p + done * 4096, (n / 2) * 4096);
    parts.emplace_back(mem.p + (done + n / 2) * 4096, (n - n / 2) * 4096);
    parts.emplace_back(mem.p, 4096);
    aligned_bytes += (n + 1) * 4096;
    put(parts);
    done += n;
  }
  const Bytes tail(small.data() + 7, 77);
  put(std::span<const Bytes>(&tail, 1));
  const Bytes late(mem.p, 8192);  // aligned memory, unaligned file offset
  put(std::span<const Bytes>(&late, 1));
  return aligned_bytes;
}

struct Mode {
  bool direct;
  bool pipeline;
  unsigned depth;
};

class ImageFileSinkModes : public ::testing::TestWithParam<Mode> {};

TEST_P(ImageFileSinkModes, FileHoldsExactlyTheBytesWritten) {
  const Mode m = GetParam();
  const auto dir = temp_dir();
  const auto path = dir / "vm.img";
  ImageFileSink::Options o;
  o.direct = m.direct;
  o.pipeline = m.pipeline;
  o.depth = m.depth;
  o.buffer = 8192;                 // small, so the buffer is flushed mid-record too
  AlignedBuffer mem(3000 * 4096);  // ~12 MiB; outlives the sink
  auto s = ImageFileSink::create(path.string(), o);
  ASSERT_TRUE(s) << s.error().message();
  std::vector<std::byte> expect;
  const std::uint64_t aligned = write_sequence(**s, expect, mem);
  EXPECT_EQ((*s)->bytes_written(), expect.size());
  ASSERT_TRUE((*s)->drain());
  EXPECT_FALSE(std::filesystem::exists(path)) << "visible before commit";
  ASSERT_TRUE((*s)->commit());
  EXPECT_EQ(read_file(path), expect);
  EXPECT_EQ(std::filesystem::file_size(path), expect.size());  // not the size kept ahead
  if (!m.direct) {
    EXPECT_EQ((*s)->bytes_direct(), 0U);
  } else if ((*s)->direct_enabled()) {
    EXPECT_EQ((*s)->bytes_direct(), aligned);
  } else {
    std::cout << "note: this file system refused O_DIRECT; everything was buffered\n";
  }
  s->reset();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Modes, ImageFileSinkModes,
                         ::testing::Values(Mode{false, false, 1}, Mode{true, false, 1},
                                           Mode{true, false, 4}, Mode{true, true, 4},
                                           Mode{true, true, 16}));

TEST(ImageFileSink, UncommittedLeavesNothing) {
  const auto dir = temp_dir();
  const auto path = dir / "vm.img";
  {
    ImageFileSink::Options o;
    o.pipeline = true;
    AlignedBuffer mem(600 * 4096);  // outlives the sink
    auto s = ImageFileSink::create(path.string(), o);
    ASSERT_TRUE(s);
    std::vector<std::byte> expect;
    write_sequence(**s, expect, mem);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(ImageFileSink, CommitReplacesAnExistingFileAtOnce) {
  const auto dir = temp_dir();
  const auto path = dir / "vm.img";
  std::ofstream(path) << "old image";
  AlignedBuffer mem(100 * 4096);
  auto s = ImageFileSink::create(path.string());
  ASSERT_TRUE(s);
  std::vector<std::byte> expect;
  write_sequence(**s, expect, mem);
  EXPECT_EQ(std::filesystem::file_size(path), 9U);  // still the old one
  ASSERT_TRUE((*s)->commit());
  EXPECT_EQ(read_file(path), expect);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tern::io
