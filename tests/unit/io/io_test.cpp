#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/fd_sink.hpp"
#include "io/input.hpp"

namespace tern::io {
namespace {

std::filesystem::path temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "tern-io-XXXXXX").string();
  return mkdtemp(t.data());
}

TEST(AtomicFileSink, UncommittedLeavesNothing) {
  auto dir = temp_dir();
  auto path = (dir / "out.img").string();
  {
    auto s = AtomicFileSink::create(path);
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->write(as_bytes("partial")));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST(AtomicFileSink, CommitPublishesWholeFile) {
  auto dir = temp_dir();
  auto path = (dir / "out.img").string();
  auto s = AtomicFileSink::create(path);
  ASSERT_TRUE(s);
  Bytes parts[] = {as_bytes("ab"), as_bytes(""), as_bytes("cde")};
  ASSERT_TRUE((*s)->write_gather(parts));
  ASSERT_TRUE((*s)->commit());
  auto in = InputFile::open(path);
  ASSERT_TRUE(in);
  EXPECT_TRUE(in->is_mapped());
  EXPECT_EQ(as_chars(in->mapped()), "abcde");
  std::filesystem::remove_all(dir);
}

TEST(FdSource, ReadsPipeInExactChunks) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string data(10000, 'x');
  data[9999] = 'y';
  ASSERT_EQ(write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(p[1]);
  FdSource src(p[0], 64);
  auto a = src.read(100);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->size(), 100u);
  auto s = src.skip(9000);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 9000u);
  auto b = src.read(5000);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 900u);
  EXPECT_EQ(static_cast<char>(b->back()), 'y');
  EXPECT_EQ(src.offset(), 10000u);
  close(p[0]);
}

TEST(FdSource, ReadIntoTakesTheBufferThenReadsStraightIntoTheParts) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string data(20000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
  ASSERT_EQ(write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(p[1]);
  FdSource src(p[0], 4096);
  src.set_read_ahead(1000);
  auto head = src.read(10);  // leaves up to 990 bytes buffered
  ASSERT_TRUE(head);
  std::vector<std::byte> a(3000), b(0), c(16990 - 1000), d(5000);
  std::vector<MutableBytes> parts{a, b, c, d};
  auto n = src.read_into(parts);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 19990u);  // the input ends inside the last part
  EXPECT_EQ(src.offset(), 20000u);
  EXPECT_EQ(0, std::memcmp(a.data(), data.data() + 10, a.size()));
  EXPECT_EQ(0, std::memcmp(c.data(), data.data() + 3010, c.size()));
  EXPECT_EQ(0, std::memcmp(d.data(), data.data() + 3010 + c.size(), 20000 - 3010 - c.size()));
  auto more = src.read(1);
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());
  close(p[0]);
}

TEST(MemorySource, ReadIntoCopiesInOrder) {
  std::vector<std::byte> data(5000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i);
  MemorySource src(data);
  std::vector<std::byte> a(4096), b(4096);
  std::vector<MutableBytes> parts{a, b};
  auto n = src.read_into(parts);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 5000u);
  EXPECT_EQ(0, std::memcmp(a.data(), data.data(), 4096));
  EXPECT_EQ(0, std::memcmp(b.data(), data.data() + 4096, 904));
}

}  // namespace
}  // namespace tern::io
