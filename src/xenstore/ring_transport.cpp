#include "xenstore/ring_transport.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "xenstore/ring.hpp"

namespace tern::xs {

namespace {

bool is_eventfd(int fd) {
  char target[64] = {};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  long n = ::readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 && std::string_view(target, static_cast<std::size_t>(n)) == "anon_inode:[eventfd]";
}

Expected<> make_nonblocking(int fd, const char* what) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return errno_error(what, errno);
  return {};
}

}  // namespace

Expected<> RingTransport::check(int memory, int to_daemon, int to_guest, std::uint64_t page_index) {
  struct stat st {};
  if (memory < 0 || ::fstat(memory, &st) != 0 || !S_ISREG(st.st_mode))
    return make_error(Errc::invalid, "ring memory descriptor is not a memory file (memfd)");
  if (page_index >= static_cast<std::uint64_t>(st.st_size) / ring::kPageSize)
    return make_error(Errc::invalid, "ring page {} lies beyond the memory file's {} bytes",
                      page_index, st.st_size);
  int seals = ::fcntl(memory, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK))
    return make_error(Errc::invalid,
                      "ring memory file is not sealed against shrinking (F_SEAL_SHRINK): the guest "
                      "could truncate it under the daemon's mapping");
  if (to_daemon < 0 || to_guest < 0 || !is_eventfd(to_daemon) || !is_eventfd(to_guest))
    return make_error(Errc::invalid, "ring notification descriptors must be two eventfds");
  return {};
}

Expected<std::unique_ptr<RingTransport>> RingTransport::attach(RingFds fds,
                                                               std::uint64_t page_index,
                                                               std::uint32_t features) {
  TERN_TRY(check(fds.memory.get(), fds.to_daemon.get(), fds.to_guest.get(), page_index));
  TERN_TRY(make_nonblocking(fds.to_daemon.get(), "ring notification eventfd"));
  TERN_TRY(make_nonblocking(fds.to_guest.get(), "ring notification eventfd"));
  void* p = ::mmap(nullptr, ring::kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fds.memory.get(),
                   static_cast<off_t>(page_index * ring::kPageSize));
  if (p == MAP_FAILED) return errno_error(fmt::format("mmap ring page {}", page_index), errno);
  auto* page = static_cast<unsigned char*>(p);
  // Advertised before the daemon reads or writes any data (xenstore-ring.txt).
  ring::Field(page, ring::kServerFeatures).store(features);
  return std::unique_ptr<RingTransport>(
      new RingTransport(std::move(fds), page_index, page, features));
}

RingTransport::~RingTransport() { ::munmap(page_, ring::kPageSize); }

void RingTransport::notify() {
  std::uint64_t one = 1;
  // Fails only if the counter is saturated: the guest has a wakeup pending anyway.
  (void)!::write(fds_.to_guest.get(), &one, sizeof one);
}

long RingTransport::read_some(char* buf, std::size_t len) {
  auto n = ring::requests(page_).get(buf, len);
  if (!n) {
    errno = EPROTO;
    return -1;
  }
  if (*n == 0) {
    errno = EAGAIN;
    return -1;
  }
  notify();  // the guest may be waiting for room
  return static_cast<long>(*n);
}

long RingTransport::write_some(const char* buf, std::size_t len) {
  auto n = ring::responses(page_).put(buf, len);
  if (!n) {
    errno = EPROTO;
    return -1;
  }
  if (*n == 0) {
    errno = EAGAIN;
    return -1;
  }
  notify();
  return static_cast<long>(*n);
}

std::uint32_t RingTransport::poll_events(bool /*want_input*/, bool /*want_output*/) const {
  // The guest's one eventfd says both "new requests" and "room for responses";
  // a reconnect request comes the same way, so always listen.
  return EPOLLIN;
}

bool RingTransport::on_wakeup() {
  std::uint64_t count = 0;
  // Cleared before the ring is looked at: a kick after this wakes us again.
  (void)!::read(fds_.to_daemon.get(), &count, sizeof count);
  return (features_ & ring::kFeatureReconnection) &&
         ring::Field(page_, ring::kConnection).load() == ring::kReconnecting;
}

void RingTransport::finish_reset() {
  ring::requests(page_).reset();
  ring::responses(page_).reset();
  ring::Field(page_, ring::kError).store(static_cast<std::uint32_t>(ConnError::none));
  ring::Field(page_, ring::kConnection).store(ring::kConnected);
  notify();
}

bool RingTransport::report_error(ConnError why) {
  if (features_ & ring::kFeatureError) {
    ring::Field(page_, ring::kError).store(static_cast<std::uint32_t>(why));
    notify();
  }
  return true;
}

void RingTransport::kept_fds(std::vector<int>& out) const {
  out.push_back(fds_.memory.get());
  out.push_back(fds_.to_daemon.get());
  out.push_back(fds_.to_guest.get());
}

}  // namespace tern::xs
