#include "xenstore/store.hpp"

#include <gtest/gtest.h>

namespace tern::xs {
namespace {

OpCtx dom0(std::vector<Event>* ev = nullptr) { return OpCtx{Caller{}, nullptr, ev}; }

TEST(Store, StartsWithRootAndTool) {
  Store s;
  EXPECT_EQ(s.directory(dom0(), "/").value(), std::string("tool\0", 5));
  EXPECT_EQ(s.get_perms(dom0(), "/tool/xenstored").value(), std::string("n0\0", 3));
  EXPECT_FALSE(s.check().has_value());
}

TEST(Store, WriteCreatesParentsWithInheritedPerms) {
  Store s;
  std::vector<Event> ev;
  ASSERT_TRUE(s.set_perms(dom0(), "/tool", Perms({Perm{kPermRead, 0}, Perm{kPermWrite, 3}})));
  ASSERT_TRUE(s.write(dom0(&ev), "/tool/a/b/c", "v"));
  EXPECT_EQ(s.read(dom0(), "/tool/a/b/c").value(), "v");
  EXPECT_EQ(s.read(dom0(), "/tool/a").value(), "");
  EXPECT_EQ(s.get_perms(dom0(), "/tool/a/b").value(), std::string("r0\0w3\0", 6));
  ASSERT_EQ(ev.size(), 1u);  // one event, for the node written
  EXPECT_EQ(ev[0].path, "/tool/a/b/c");
  EXPECT_FALSE(s.check().has_value());
}

TEST(Store, MkdirKeepsExistingValue) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/k", "keep"));
  ASSERT_TRUE(s.mkdir(dom0(), "/k"));
  EXPECT_EQ(s.read(dom0(), "/k").value(), "keep");
}

TEST(Store, RmRemovesSubtreeAndReportsDescendantsExactly) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/a/b/c", "1"));
  ASSERT_TRUE(s.write(dom0(), "/a/d", "2"));
  std::vector<Event> ev;
  ASSERT_TRUE(s.rm(dom0(&ev), "/a"));
  EXPECT_EQ(s.read(dom0(), "/a/b/c").error(), Err::enoent);
  EXPECT_EQ(s.directory(dom0(), "/").value(), std::string("tool\0", 5));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev.back().path, "/a");
  EXPECT_FALSE(ev.back().exact);
  EXPECT_TRUE(ev.front().exact);
  EXPECT_TRUE(s.rm(dom0(), "/a"));                        // missing, parent exists: fine
  EXPECT_EQ(s.rm(dom0(), "/a/b").error(), Err::enoent);   // parent missing too
  EXPECT_EQ(s.rm(dom0(), "/").error(), Err::einval);
  EXPECT_FALSE(s.check().has_value());
}

TEST(Store, DirectoryPartPagesAndMarksTheEnd) {
  Store s;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s.write(dom0(), "/d/child" + std::to_string(i), ""));
  std::string all;
  std::uint64_t off = 0;
  for (int round = 0; round < 20; ++round) {
    auto r = s.directory_part(dom0(), "/d", off, 40);
    ASSERT_TRUE(r);
    std::string body = r->substr(r->find('\0') + 1);
    bool last = body.size() >= 1 && (body.size() == 1 || body.ends_with(std::string("\0\0", 2)));
    if (last) body.pop_back();
    all += body;
    off += body.size();
    if (last) break;
  }
  EXPECT_EQ(all, s.directory(dom0(), "/d").value());
}

TEST(Transaction, IsolatedUntilCommit) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/x", "old"));
  Transaction t(s, 0);
  ASSERT_TRUE(t.write(dom0(&t.events()), "/x", "new"));
  ASSERT_TRUE(t.write(dom0(&t.events()), "/y/z", "1"));
  EXPECT_EQ(s.read(dom0(), "/x").value(), "old");
  EXPECT_EQ(t.read(dom0(), "/x").value(), "new");
  auto ev = t.commit();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->size(), 2u);
  EXPECT_EQ(s.read(dom0(), "/x").value(), "new");
  EXPECT_EQ(s.read(dom0(), "/y/z").value(), "1");
  EXPECT_FALSE(s.check().has_value());
}

TEST(Transaction, ReadsSeeTheirFirstSnapshot) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/x", "a"));
  Transaction t(s, 0);
  EXPECT_EQ(t.read(dom0(), "/x").value(), "a");
  ASSERT_TRUE(s.write(dom0(), "/x", "b"));
  EXPECT_EQ(t.read(dom0(), "/x").value(), "a");
  EXPECT_EQ(t.commit().error(), Err::eagain);
}

TEST(Transaction, UnrelatedChangesDoNotConflict) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/p/x", "a"));
  ASSERT_TRUE(s.write(dom0(), "/p/y", "a"));
  Transaction t(s, 0);
  ASSERT_TRUE(t.write(dom0(), "/p/x", "t"));
  ASSERT_TRUE(s.write(dom0(), "/p/y", "other"));
  EXPECT_TRUE(t.commit());
  EXPECT_EQ(s.read(dom0(), "/p/x").value(), "t");
}

TEST(Transaction, CreationConflictsWithConcurrentCreation) {
  Store s;
  Transaction t(s, 0);
  ASSERT_TRUE(t.write(dom0(), "/n", "t"));
  ASSERT_TRUE(s.write(dom0(), "/n", "s"));
  EXPECT_EQ(t.commit().error(), Err::eagain);
  EXPECT_EQ(s.read(dom0(), "/n").value(), "s");
}

TEST(Transaction, NodeLimit) {
  Store s;
  Transaction t(s, 3);
  EXPECT_TRUE(t.write(dom0(), "/a", "1"));   // touches /a and /
  EXPECT_TRUE(t.read(dom0(), "/tool"));
  EXPECT_EQ(t.read(dom0(), "/tool/xenstored").error(), Err::enospc);
}

}  // namespace
}  // namespace tern::xs
