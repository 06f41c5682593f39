#include <gtest/gtest.h>

#include "stream/domctx/loader.hpp"
#include "stream/domctx/registry.hpp"
#include "stream/domctx/save.hpp"
#include "stream/domctx/state_image.hpp"

namespace tern::stream::domctx {
namespace {

RecordType simple(std::uint16_t tc, std::string name = "T") {
  return RecordType{tc, TypeRules{std::move(name), Scope::global, BodySize::exactly(8), {}},
                    [](RecordWriter&) -> Expected<void> { return {}; },
                    [](Bytes, std::uint16_t) -> Expected<void> { return {}; }};
}

TEST(DomctxRegistry, AcceptsTheWholeStateRange) {
  Registry reg;
  EXPECT_TRUE(reg.add(simple(kFirstStateTypecode)));
  EXPECT_TRUE(reg.add(simple(kMaxTypecode)));
  ASSERT_NE(reg.find(kMaxTypecode), nullptr);
  EXPECT_EQ(reg.find(5), nullptr);
  EXPECT_EQ(reg.find(60000), nullptr);
  EXPECT_EQ(reg.types().size(), 2u);
}

TEST(DomctxRegistry, DuplicateCodeIsAnError) {
  Registry reg;
  ASSERT_TRUE(reg.add(simple(7, "first")));
  auto r = reg.add(simple(7, "second"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::usage);
  EXPECT_NE(r.error().message().find("already registered as 'first'"), std::string::npos) << r.error().message();
}

TEST(DomctxRegistry, OutOfRangeCodesAreErrors) {
  Registry reg;
  for (std::uint16_t tc : {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t(kMaxTypecode + 1), std::uint16_t{65535}}) {
    auto r = reg.add(simple(tc));
    ASSERT_FALSE(r) << tc;
    EXPECT_NE(r.error().message().find("out of range"), std::string::npos) << r.error().message();
  }
}

TEST(DomctxRegistry, MalformedTypesAreErrors) {
  Registry reg;
  RecordType no_name = simple(3, "");
  EXPECT_FALSE(reg.add(no_name));
  RecordType bad_size = simple(4);
  bad_size.rules.size = {16, 8, false};
  EXPECT_FALSE(reg.add(bad_size));
  RecordType no_load = simple(5);
  no_load.load = nullptr;
  auto r = reg.add(no_load);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("lacks a load handler"), std::string::npos);
  EXPECT_TRUE(reg.types().empty());
}

TEST(DomctxRegistry, StandardTypesRegisterOnceAndOnlyStandardCodes) {
  Registry reg;
  StateImage img;
  ASSERT_TRUE(register_state_image(reg, img));
  EXPECT_EQ(reg.types().size(), kTypeCodes.size() - 2);  // all but HEADER and END
  EXPECT_FALSE(register_state_image(reg, img));          // every code is now taken
  Registry other;
  auto noop_save = [](RecordWriter&) -> Expected<void> { return {}; };
  auto noop_load = [](Bytes, std::uint16_t) -> Expected<void> { return {}; };
  EXPECT_FALSE(other.add_standard(TypeCode::header, noop_save, noop_load));
  EXPECT_FALSE(other.add_standard(static_cast<TypeCode>(40), noop_save, noop_load));
  ASSERT_TRUE(other.add_standard(TypeCode::vcpu_regs, noop_save, noop_load));
  EXPECT_EQ(other.find(code(TypeCode::vcpu_regs))->rules.name, "VCPU_REGS");
  EXPECT_EQ(other.find(code(TypeCode::vcpu_regs))->rules.scope, Scope::per_vcpu);
}

TEST(DomctxRegistry, LoadOnlyAnUnregisteredCodeIsAUsageError) {
  Registry reg;
  ASSERT_TRUE(reg.add(simple(9)));
  auto blob = save_blob(reg, {1});
  ASSERT_TRUE(blob);
  LoadOptions opt;
  opt.only = {10};
  auto r = load(reg, {1}, *blob, opt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::usage);
}

TEST(DomctxRegistry, TooManyVcpusIsAnError) {
  Registry reg;
  EXPECT_FALSE(save_blob(reg, {kMaxVcpus + 1}));
  EXPECT_TRUE(save_blob(reg, {kMaxVcpus}));
}

}  // namespace
}  // namespace tern::stream::domctx
