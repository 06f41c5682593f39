#include <gtest/gtest.h>

#include "xenstore/perms.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {
namespace {

Caller dom(std::uint32_t id, std::optional<std::uint32_t> target = std::nullopt) {
  return Caller{id, false, target};
}

TEST(Perms, ParseAndFormat) {
  auto p = Perms::parse({"b5", "r0", "w7", "n65535"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->owner(), 5u);
  EXPECT_EQ(p->to_wire(), std::string("b5\0r0\0w7\0n65535\0", 16));
  EXPECT_FALSE(Perms::parse({}));
  EXPECT_FALSE(Perms::parse({"x1"}));
  EXPECT_FALSE(Perms::parse({"r"}));
  EXPECT_FALSE(Perms::parse({"r65536"}));
  EXPECT_FALSE(Perms::parse({"r1x"}));
}

TEST(Perms, AccessRules) {
  Perms p({Perm{kPermRead, 5}, Perm{kPermWrite, 6}, Perm{kPermNone, 7}});
  EXPECT_EQ(access_mask(p, Caller{}), kPermRead | kPermWrite | kPermOwner);  // privileged
  EXPECT_EQ(access_mask(p, dom(5)), kPermRead | kPermWrite | kPermOwner);    // owner
  EXPECT_EQ(access_mask(p, dom(6)), kPermWrite);                             // listed
  EXPECT_EQ(access_mask(p, dom(7)), kPermNone);
  EXPECT_EQ(access_mask(p, dom(8)), kPermRead);                              // default
  EXPECT_EQ(access_mask(p, dom(9, 5)), kPermRead | kPermWrite | kPermOwner); // targets owner
}

TEST(Quotas, NamesOptionsAndReport) {
  Quotas q;
  EXPECT_EQ(q.get("nodes"), 1000u);
  EXPECT_TRUE(q.set("watches", 7));
  EXPECT_EQ(q.watches, 7u);
  EXPECT_FALSE(q.set("bogus", 1));
  EXPECT_TRUE(q.set_option("transaction-nodes=9", false));
  EXPECT_EQ(q.transaction_nodes, 9u);
  EXPECT_FALSE(q.set_option("nodes=9", false));  // -Q takes only the -Q names
  EXPECT_FALSE(q.set_option("memory=x", false));
  EXPECT_TRUE(q.set_option("memory=100", true));
  EXPECT_EQ(q.memory_soft, 100u);
  EXPECT_NE(q.report().find("watches          :        7"), std::string::npos);
}

TEST(Quotas, StoreEnforcesForUnprivileged) {
  Store s;
  Quotas q;
  q.nodes = 2;
  q.node_size = 10;
  OpCtx root{Caller{}, nullptr, nullptr};
  ASSERT_TRUE(s.mkdir(root, "/h"));
  ASSERT_TRUE(s.set_perms(root, "/h", Perms({Perm{kPermWrite, 0}})));
  OpCtx guest{dom(5), &q, nullptr};
  EXPECT_TRUE(s.write(guest, "/h/a", "1"));
  EXPECT_EQ(s.write(guest, "/h/b", std::string(11, 'x')).error(), Err::enospc);
  EXPECT_TRUE(s.write(guest, "/h/b", "2"));
  EXPECT_EQ(s.write(guest, "/h/c", "3").error(), Err::enospc);
  EXPECT_EQ(s.usage(5).nodes, 2);
  EXPECT_EQ(s.get_perms(root, "/h/a").value(), std::string("w5\0", 3));
  EXPECT_EQ(s.set_perms(guest, "/h/a", Perms({Perm{kPermNone, 6}})).error(), Err::eperm);
  EXPECT_EQ(s.read(guest, "/tool").error(), Err::eacces);
  q.permissions = 1;
  EXPECT_EQ(s.set_perms(guest, "/h/a", Perms({Perm{kPermNone, 5}, Perm{kPermRead, 6}})).error(),
            Err::enospc);
  EXPECT_TRUE(s.rm(guest, "/h/a"));
  EXPECT_EQ(s.usage(5).nodes, 1);
  EXPECT_FALSE(s.check().has_value());
}

}  // namespace
}  // namespace tern::xs
