#include "xenstore/ring_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "xenstore/ring.hpp"

namespace tern::xs {

namespace {
int left_ms(std::chrono::steady_clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  return d.count() > 0 ? static_cast<int>(d.count()) : 0;
}
}  // namespace

Expected<std::unique_ptr<RingGuest>> RingGuest::create(std::uint32_t start_offset) {
  UniqueFd mem(::memfd_create("tern-xenstore-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem) return errno_error("memfd_create", errno);
  if (::ftruncate(mem.get(), ring::kPageSize) != 0)
    return errno_error("ftruncate ring page", errno);
  // The daemon maps the page: it must not be shrunk under it.
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK) != 0)
    return errno_error("seal ring page", errno);
  UniqueFd to_daemon(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd to_guest(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!to_daemon || !to_guest) return errno_error("eventfd", errno);
  void* p = ::mmap(nullptr, ring::kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, mem.get(), 0);
  if (p == MAP_FAILED) return errno_error("mmap ring page", errno);
  auto* page = static_cast<unsigned char*>(p);
  for (std::size_t off : {ring::kReqCons, ring::kReqProd, ring::kRspCons, ring::kRspProd})
    ring::Field(page, off).store(start_offset);
  return std::unique_ptr<RingGuest>(
      new RingGuest(std::move(mem), std::move(to_daemon), std::move(to_guest), page));
}

RingGuest::~RingGuest() { ::munmap(page_, ring::kPageSize); }

std::uint32_t RingGuest::server_features() const {
  return ring::Field(page_, ring::kServerFeatures).load();
}
std::uint32_t RingGuest::connection_state() const {
  return ring::Field(page_, ring::kConnection).load();
}
std::uint32_t RingGuest::error_indicator() const { return ring::Field(page_, ring::kError).load(); }

std::optional<std::size_t> RingGuest::push(std::string_view bytes) {
  return ring::requests(page_).put(bytes.data(), bytes.size());
}

void RingGuest::kick() {
  std::uint64_t one = 1;
  (void)!::write(to_daemon_.get(), &one, sizeof one);
}

bool RingGuest::wait_signal(int timeout_ms) {
  pollfd p{to_guest_.get(), POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  std::uint64_t count = 0;
  (void)!::read(to_guest_.get(), &count, sizeof count);
  return true;
}

bool RingGuest::pull() {
  char buf[ring::kQueueSize];
  auto n = ring::responses(page_).get(buf, sizeof buf);
  if (!n) return false;
  if (*n > 0) {
    in_.append(buf, *n);
    kick();  // room for more responses
  }
  return true;
}

Expected<> RingGuest::send_bytes(std::string_view bytes, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto n = push(bytes);
    if (!n) return make_error(Errc::invalid, "request ring offsets are inconsistent");
    bytes.remove_prefix(*n);
    if (*n > 0) kick();
    if (bytes.empty()) return {};
    // Keep taking responses so the daemon is never stuck on a full response
    // queue while we wait for room in the request queue.
    if (!pull()) return make_error(Errc::invalid, "response ring offsets are inconsistent");
    if (!wait_signal(left_ms(deadline)))
      return make_error(Errc::io, "no room in the request ring within {} ms (timed out)",
                        timeout_ms);
  }
}

Expected<bool> RingGuest::receive(int timeout_ms, Message& out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    TERN_TRY_ASSIGN(bool got, take_message(in_, out));
    if (got) return true;
    std::size_t before = in_.size();
    if (!pull()) return make_error(Errc::invalid, "response ring offsets are inconsistent");
    if (in_.size() > before) continue;
    if (!wait_signal(left_ms(deadline))) return false;
  }
}

Expected<> RingGuest::reconnect(int timeout_ms) {
  if (!(server_features() & ring::kFeatureReconnection))
    return make_error(Errc::unsupported, "the daemon does not advertise ring reconnection");
  ring::Field(page_, ring::kConnection).store(ring::kReconnecting);
  kick();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (connection_state() != ring::kConnected) {
    if (!wait_signal(left_ms(deadline)) && connection_state() != ring::kConnected)
      return make_error(Errc::io, "ring reconnection not completed within {} ms (timed out)",
                        timeout_ms);
  }
  in_.clear();
  events_.clear();
  return {};
}

}  // namespace tern::xs
