// Pieces of the live update that need no process: command lines, and
// replacing the pending reply when the update cannot happen.
#include <gtest/gtest.h>

#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/live_update.hpp"

namespace tern::xs {
namespace {

TEST(LiveUpdate, CommandLines) {
  EXPECT_EQ(split_cmdline("  -N  -E 10\t-T /x "),
            (std::vector<std::string>{"-N", "-E", "10", "-T", "/x"}));
  EXPECT_TRUE(split_cmdline("").empty());
  // What a daemon started by a live update passes on: not the options of
  // that update.
  std::vector<std::string> args{"-N",
                                "-U",
                                "--live-update-pipe",
                                "5,77,100",
                                "-E",
                                "3",
                                "--live-update-failed",
                                "why",
                                "--live-update",
                                "--live-update-pipe=6,1,1",
                                "-T",
                                "/t"};
  EXPECT_EQ(without_live_update_args(args),
            (std::vector<std::string>{"-N", "-E", "3", "-T", "/t"}));
}

TEST(LiveUpdate, ReplacePendingMessageKeepsTheIndex) {
  Daemon d;
  Connection& c = d.add_connection(nullptr);
  append_message(c.out, static_cast<std::uint32_t>(Type::read), 1, 0, std::string_view("abc", 3));
  c.reply_ends.push_back(c.out.size());
  std::uint64_t at = c.out.size();
  append_message(c.out, static_cast<std::uint32_t>(Type::control), 2, 0,
                 std::string_view("OK\0", 3));
  c.reply_ends.push_back(c.out.size());
  append_message(c.out, static_cast<std::uint32_t>(Type::watch_event), 0, 0,
                 std::string_view("/p\0t\0", 5));
  append_message(c.out, static_cast<std::uint32_t>(Type::read), 3, 0, std::string_view("x", 1));
  c.reply_ends.push_back(c.out.size());
  d.consumed_output(c, 4);  // part of the first message is out
  std::string msg;
  append_message(msg, static_cast<std::uint32_t>(Type::control), 2, 0,
                 std::string_view("live-update: no\0", 16));
  ASSERT_TRUE(replace_pending_message(c, at, msg));
  EXPECT_EQ(c.out.substr(at, msg.size()), msg);
  ASSERT_EQ(c.reply_ends.size(), 3u);
  EXPECT_EQ(c.reply_ends[1], at + msg.size());
  EXPECT_EQ(c.reply_ends[2], c.out.size());
  // The outstanding count and message tracking still work: drain it all.
  d.consumed_output(c, c.pending_out());
  EXPECT_TRUE(c.reply_ends.empty());
  EXPECT_EQ(c.out_msg_end, c.out_base + c.out_sent);
  // A message already partly sent cannot be replaced.
  Connection& e = d.add_connection(nullptr);
  append_message(e.out, static_cast<std::uint32_t>(Type::control), 9, 0,
                 std::string_view("OK\0", 3));
  d.consumed_output(e, 3);
  EXPECT_FALSE(replace_pending_message(e, 0, msg));
}

TEST(LiveUpdate, PartlyWrittenMessageIsTracked) {
  Daemon d;
  Connection& c = d.add_connection(nullptr);
  append_message(c.out, static_cast<std::uint32_t>(Type::read), 1, 0, std::string(100, 'a'));
  append_message(c.out, static_cast<std::uint32_t>(Type::read), 2, 0, std::string(50, 'b'));
  d.consumed_output(c, 20);
  EXPECT_EQ(save_output(c).resp_len, 116 - 20);
  d.consumed_output(c, 96);
  EXPECT_EQ(save_output(c).resp_len, 0);  // at a boundary
  d.consumed_output(c, 1);
  EXPECT_EQ(save_output(c).resp_len, 65);
  // A connection rebuilt from that output continues the same way.
  Connection r;
  ASSERT_TRUE(restore_output(r, save_output(c).data, save_output(c).resp_len));
  EXPECT_EQ(r.out_msg_end, 65u);
  EXPECT_EQ(r.reply_ends.size(), 1u);
  EXPECT_FALSE(restore_output(r, std::string_view("\x02\0\0\0", 4), 0));  // not a whole message
}

}  // namespace
}  // namespace tern::xs
