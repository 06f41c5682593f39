#include "xenstore/ring.hpp"

#include <algorithm>
#include <cstring>

namespace tern::xs::ring {

std::optional<std::size_t> Queue::put(const char* src, std::size_t len) {
  const std::uint32_t cons = cons_.load();
  const std::uint32_t prod = prod_.load();
  const std::uint32_t used = prod - cons;  // modulo 2^32, as the offsets run freely
  if (used > kQueueSize) return std::nullopt;
  std::size_t n = std::min<std::size_t>(len, kQueueSize - used);
  if (n == 0) return std::size_t{0};  // full, or nothing to put (src may be null)
  std::size_t at = prod % kQueueSize;
  std::size_t first = std::min(n, kQueueSize - at);
  std::memcpy(data_ + at, src, first);
  std::memcpy(data_, src + first, n - first);
  prod_.store(prod + static_cast<std::uint32_t>(n));  // release: data before index
  return n;
}

std::optional<std::size_t> Queue::get(char* dst, std::size_t len) {
  const std::uint32_t prod = prod_.load();  // acquire: index before data
  const std::uint32_t cons = cons_.load();
  const std::uint32_t avail = prod - cons;
  if (avail > kQueueSize) return std::nullopt;
  std::size_t n = std::min<std::size_t>(len, avail);
  if (n == 0) return std::size_t{0};
  std::size_t at = cons % kQueueSize;
  std::size_t first = std::min(n, kQueueSize - at);
  std::memcpy(dst, data_ + at, first);
  std::memcpy(dst + first, data_, n - first);
  cons_.store(cons + static_cast<std::uint32_t>(n));
  return n;
}

std::optional<std::size_t> Queue::pending() const {
  const std::uint32_t avail = prod_.load() - cons_.load();
  if (avail > kQueueSize) return std::nullopt;
  return avail;
}

}  // namespace tern::xs::ring
