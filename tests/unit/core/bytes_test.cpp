#include "core/bytes.hpp"

#include <gtest/gtest.h>

#include <array>

#include "core/error.hpp"

namespace tern {
namespace {

TEST(Bytes, LittleAndBigEndianRoundTrip) {
  std::array<std::byte, 8> b{};
  store_le<std::uint32_t>(b.data(), 0x11223344);
  EXPECT_EQ(b[0], std::byte{0x44});
  EXPECT_EQ(load_le<std::uint32_t>(b.data()), 0x11223344u);
  store_be<std::uint64_t>(b.data(), 0x0102030405060708ull);
  EXPECT_EQ(b[0], std::byte{0x01});
  EXPECT_EQ(b[7], std::byte{0x08});
  EXPECT_EQ(load_be<std::uint64_t>(b.data()), 0x0102030405060708ull);
}

TEST(Bytes, AllZeroChecksEveryByte) {
  std::array<std::byte, 37> b{};
  EXPECT_TRUE(all_zero(b));
  for (std::size_t i = 0; i < b.size(); ++i) {
    b[i] = std::byte{1};
    EXPECT_FALSE(all_zero(b)) << i;
    b[i] = std::byte{0};
  }
}

Expected<int> half(int v) {
  if (v % 2 != 0) return make_error(Errc::invalid, "{} is odd", v);
  return v / 2;
}

Expected<int> quarter(int v) {
  TERN_TRY_ASSIGN(int h, half(v));
  return half(h);
}

TEST(Error, TryPropagatesFirstFailure) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::invalid);
  EXPECT_EQ(r.error().message(), "3 is odd");
  EXPECT_EQ(r.error().context("x").message(), "x: 3 is odd");
}

}  // namespace
}  // namespace tern
