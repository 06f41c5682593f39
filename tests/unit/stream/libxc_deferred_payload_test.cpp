// Defer mode (ReaderOptions::defer_page_payloads): a migration destination
// reads PAGE_DATA payloads straight to where each page belongs. The pages
// must land byte for byte where the caller said, through a pipe (FdSource's
// readv path: tested with the receiver in tests/unit/migrate) as well as
// from memory, and misuse or a cut stream must fail
// with an error naming the record.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "libxc_test_util.hpp"

namespace tern::stream::libxc {
namespace {
using namespace testing;

// Reads a whole stream in defer mode; each data page goes to its own buffer
// in `pages`, except every `drop`-th one, which is read and dropped.
std::string read_deferred(ByteSource& src, std::map<std::uint64_t, std::vector<std::byte>>& pages,
                          std::size_t drop) {
  ReaderOptions ro;
  ro.defer_page_payloads = true;
  Reader r(src, ro);
  if (auto h = r.read_header(); !h) return h.error().message();
  std::size_t n = 0;
  std::vector<std::byte*> dest;
  while (!r.ended()) {
    auto e = r.next();
    if (!e) return e.error().message();
    const auto* pd = std::get_if<PageData>(&e->record.typed);
    if (pd == nullptr) continue;
    EXPECT_TRUE(pd->payload_pending);
    EXPECT_TRUE(pd->pages.empty());
    dest.clear();
    for (std::size_t i = 0; i < pd->count; ++i) {
      if (!page_type_has_data(pd->type(i))) continue;
      auto& page = pages[pd->pfn(i)];
      page.assign(kX86PageSize, std::byte{0});
      dest.push_back(++n % drop == 0 ? nullptr : page.data());
    }
    if (auto ok = r.read_page_payload(dest); !ok) return ok.error().message();
  }
  if (auto ok = r.expect_end_of_input(); !ok) return ok.error().message();
  return "";
}

void expect_pages(const std::map<std::uint64_t, std::vector<std::byte>>& pages, std::size_t drop) {
  std::vector<std::byte> want(kX86PageSize);
  const std::vector<std::byte> zero(kX86PageSize);
  std::size_t n = 0;
  for (const auto& [pfn, page] : pages) {
    synthetic_page(pfn, want);
    // (Pages were numbered in stream order, which is ascending pfn order here.)
    const bool dropped = ++n % drop == 0;
    ASSERT_EQ(0, std::memcmp(page.data(), (dropped ? zero : want).data(), kX86PageSize))
        << "pfn " << pfn;
  }
  EXPECT_GT(n, 100u);
}

TEST(DeferredPayload, PagesLandWhereTheCallerSaysFromMemory) {
  auto data = synth(opts(DomainType::x86_hvm, 3, 600, 100));
  MemorySource src(data);
  std::map<std::uint64_t, std::vector<std::byte>> pages;
  ASSERT_EQ(read_deferred(src, pages, 7), "");
  expect_pages(pages, 7);
}

TEST(DeferredPayload, NextBeforeThePayloadAndWrongCountsAreRefused) {
  auto data = synth(opts(DomainType::x86_hvm, 3, 64, 16));
  MemorySource src(data);
  ReaderOptions ro;
  ro.defer_page_payloads = true;
  Reader r(src, ro);
  ASSERT_TRUE(r.read_header());
  std::vector<std::byte*> none;
  auto early = r.read_page_payload(none);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code(), Errc::usage);
  for (;;) {
    auto e = r.next();
    ASSERT_TRUE(e) << e.error().message();
    const auto* pd = std::get_if<PageData>(&e->record.typed);
    if (pd == nullptr || pd->data_pages == 0) continue;
    auto again = r.next();
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), Errc::usage);
    EXPECT_NE(again.error().message().find("PAGE_DATA"), std::string::npos)
        << again.error().message();
    std::vector<std::byte*> too_few(pd->data_pages - 1, nullptr);
    auto wrong = r.read_page_payload(too_few);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code(), Errc::usage);
    break;
  }
}

TEST(DeferredPayload, AStreamCutInsideAPayloadNamesTheRecord) {
  auto data = synth(opts(DomainType::x86_hvm, 3, 64, 16));
  // Find the first PAGE_DATA with data and cut the stream inside its payload.
  std::uint64_t cut = 0;
  {
    MemorySource src(data);
    ReaderOptions ro;
    ro.defer_page_payloads = true;
    Reader r(src, ro);
    ASSERT_TRUE(r.read_header());
    for (;;) {
      auto e = r.next();
      ASSERT_TRUE(e) << e.error().message();
      const auto* pd = std::get_if<PageData>(&e->record.typed);
      if (pd == nullptr || pd->data_pages < 2) continue;
      cut = r.offset() + kX86PageSize + 100;  // one page and a bit of the next
      break;
    }
  }
  std::vector<std::byte> cut_data(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(cut));
  MemorySource src(cut_data);
  std::map<std::uint64_t, std::vector<std::byte>> pages;
  const std::string err = read_deferred(src, pages, 1000);
  EXPECT_NE(err.find("PAGE_DATA"), std::string::npos) << err;
  EXPECT_NE(err.find("input ends inside the body"), std::string::npos) << err;
}

}  // namespace
}  // namespace tern::stream::libxc
