#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

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

}  // namespace
}  // namespace tern::io
