#include <gtest/gtest.h>

#include <random>
#include <string>

#include "xenstore/path.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {
namespace {

TEST(Wire, HeaderRoundTripAndErrors) {
  std::string out;
  append_message(out, 11, 7, 3, std::string("/a\0v", 4));
  ASSERT_EQ(out.size(), kHeaderSize + 4);
  auto h = decode_header(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, 11u);
  EXPECT_EQ(h->req_id, 7u);
  EXPECT_EQ(h->tx_id, 3u);
  EXPECT_EQ(h->len, 4u);
  EXPECT_FALSE(decode_header(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), 15)));
  out.clear();
  append_error(out, 1, 0, Err::eagain);
  EXPECT_EQ(out.substr(kHeaderSize), std::string("EAGAIN\0", 7));
  EXPECT_EQ(err_name(Err::e2big), "E2BIG");
  EXPECT_EQ(type_name(22), "DIRECTORY_PART");
  EXPECT_EQ(type_name(1000), "UNKNOWN");
}

TEST(Wire, SplitArgs) {
  auto a = split_args(std::string_view("a\0bb\0c", 6));
  ASSERT_EQ(a.strings.size(), 2u);
  EXPECT_EQ(a.strings[1], "bb");
  ASSERT_TRUE(a.tail);
  EXPECT_EQ(*a.tail, "c");
  auto e = split_args(std::string_view("\0", 1));
  ASSERT_EQ(e.strings.size(), 1u);
  EXPECT_TRUE(e.strings[0].empty());
  EXPECT_FALSE(e.tail);
  EXPECT_TRUE(split_args("").strings.empty());
}

TEST(Path, Canonical) {
  EXPECT_EQ(canonical_path("/a/b", 0, false, 0).value(), "/a/b");
  EXPECT_EQ(canonical_path("x/y", 5, false, 0).value(), "/local/domain/5/x/y");
  EXPECT_EQ(canonical_path("/", 0, false, 0).value(), "/");
  EXPECT_FALSE(canonical_path("", 0, false, 0));
  EXPECT_FALSE(canonical_path("/a//b", 0, false, 0));
  EXPECT_FALSE(canonical_path("/a/", 0, false, 0));
  EXPECT_FALSE(canonical_path("/a b", 0, false, 0));
  EXPECT_FALSE(canonical_path("@releaseDomain", 0, false, 0));
  EXPECT_EQ(canonical_path("@releaseDomain", 0, true, 0).value(), "@releaseDomain");
  EXPECT_TRUE(canonical_path("/" + std::string(3071, 'a'), 0, false, 0));
  EXPECT_FALSE(canonical_path("/" + std::string(3072, 'a'), 0, false, 0));
  // path-max counts below the domain's home
  EXPECT_TRUE(canonical_path(std::string(10, 'a'), 5, false, 10));
  EXPECT_FALSE(canonical_path(std::string(11, 'a'), 5, false, 10));
}

TEST(Path, Relations) {
  EXPECT_TRUE(is_child("/a/b", "/a"));
  EXPECT_TRUE(is_child("/a", "/a"));
  EXPECT_TRUE(is_child("/a", "/"));
  EXPECT_FALSE(is_child("/ab", "/a"));
  EXPECT_EQ(parent_path("/a/b"), "/a");
  EXPECT_EQ(parent_path("/a"), "/");
  EXPECT_EQ(parent_path("/"), "");
  EXPECT_EQ(leaf_name("/a/b"), "b");
  EXPECT_EQ(child_path("/", "a"), "/a");
  EXPECT_EQ(parse_domid("65535").value(), 65535u);
  EXPECT_FALSE(parse_domid("65536"));
  EXPECT_FALSE(parse_domid("-1"));
  EXPECT_FALSE(parse_domid(""));
}

// The path check works on 16 bytes at a time: compare it, across chunk
// boundaries and with every kind of byte, with a plain statement of the rule.
bool oracle_canonical_absolute(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > kAbsPathMax) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '/' || c == '_' || c == '@';
    if (!ok) return false;
    if (c == '/' && i > 0 && p[i - 1] == '/') return false;
  }
  return p.size() == 1 || p.back() != '/';
}

TEST(Path, CharacterCheckMatchesTheRuleAtEveryPositionAndByte) {
  // Every byte value at positions around the 16-byte chunk edges.
  for (std::size_t len : {2, 15, 16, 17, 31, 32, 33, 48, 70})
    for (std::size_t at = 1; at < len; ++at)
      for (int b = 0; b < 256; ++b) {
        std::string p = "/" + std::string(len - 1, 'a');
        p[at] = static_cast<char>(b);
        ASSERT_EQ(is_canonical_absolute(p), oracle_canonical_absolute(p))
            << "len " << len << " byte " << b << " at " << at;
      }
  // Random paths of allowed characters, heavy in '/' so that "//" falls on
  // chunk edges too; a quarter of them get one byte of any value somewhere.
  const std::string allowed = "/////azAZ09-_@";
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    std::string p = "/";
    std::size_t len = rng() % 70;
    for (std::size_t k = 0; k < len; ++k) p.push_back(allowed[rng() % allowed.size()]);
    if (len > 0 && rng() % 4 == 0) p[1 + rng() % len] = static_cast<char>(rng() % 256);
    ASSERT_EQ(is_canonical_absolute(p), oracle_canonical_absolute(p)) << i;
  }
}

}  // namespace
}  // namespace tern::xs
