#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "io/endpoint.hpp"

using namespace tern;
using namespace std::chrono_literals;

TEST(Endpoint, ParsesEveryKind) {
  auto t = io::parse_endpoint("tcp://127.0.0.1:4000");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 4000);
  auto v6 = io::parse_endpoint("tcp://[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "tcp://[::1]:0");
  auto u = io::parse_endpoint("unix:/tmp/x.sock");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/tmp/x.sock");
  auto f = io::parse_endpoint("fd:1");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fd, 1);
}

TEST(Endpoint, RefusesMalformedWithAReason) {
  for (const char* bad : {"", "tcp://host", "tcp://:80", "tcp://h:99999", "tcp://h:12x",
                          "tcp://[::1:5", "unix:", "fd:-1", "fd:999999", "udp://h:1", "fd:"}) {
    auto e = io::parse_endpoint(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message().find("endpoint"), std::string::npos) << e.error().message();
  }
  EXPECT_FALSE(io::parse_endpoint("fd:1000"));  // not open
}

TEST(Endpoint, TcpPortZeroReportsTheBoundPortAndConnects) {
  auto l = io::Listener::open(*io::parse_endpoint("tcp://127.0.0.1:0"));
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_NE(l->bound().port, 0);
  std::thread t([ep = l->bound()] {
    auto c = io::connect_endpoint(ep, 2000ms);
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_EQ(::write(c->get(), "hi", 2), 2);
  });
  auto s = l->accept_one(2000ms);
  ASSERT_TRUE(s) << s.error().message();
  char buf[2];
  EXPECT_EQ(::read(s->get(), buf, 2), 2);
  t.join();
}

TEST(Endpoint, UnixReplacesAStaleSocketButNotALiveOne) {
  const std::string path = testing::TempDir() + "/tern-endpoint-test.sock";
  auto ep = *io::parse_endpoint("unix:" + path);
  {
    auto l = io::Listener::open(ep);
    ASSERT_TRUE(l) << l.error().message();
    auto second = io::Listener::open(ep);  // the first still listens
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message().find("another process"), std::string::npos);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "listener removes its socket file";
  // A connector started before the listener retries until it appears.
  std::thread t([ep] {
    auto c = io::connect_endpoint(ep, 3000ms);
    EXPECT_TRUE(c) << c.error().message();
  });
  std::this_thread::sleep_for(100ms);
  auto l = io::Listener::open(ep);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->accept_one(3000ms));
  t.join();
}

TEST(Endpoint, AcceptTimesOutWithTheAddress) {
  auto l = io::Listener::open(*io::parse_endpoint("tcp://127.0.0.1:0"));
  ASSERT_TRUE(l);
  auto s = l->accept_one(50ms);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("127.0.0.1"), std::string::npos) << s.error().message();
}

TEST(Endpoint, FdIsDuplicated) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto c = io::connect_endpoint(*io::parse_endpoint("fd:" + std::to_string(sv[0])), 10ms);
  ASSERT_TRUE(c);
  EXPECT_NE(c->get(), sv[0]);
  ::close(sv[0]);
  ::close(sv[1]);
  EXPECT_FALSE(io::Listener::open(*io::parse_endpoint("fd:1")));
}
