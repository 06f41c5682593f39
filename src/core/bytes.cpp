#include "core/bytes.hpp"

namespace tern {

bool all_zero(Bytes b) {
  const std::byte* p = b.data();
  std::size_t n = b.size();
  // Word-at-a-time: this runs over whole guest pages (zero-page detection).
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if (w != 0) return false;
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    if (*p != std::byte{0}) return false;
    ++p;
    --n;
  }
  return true;
}

}  // namespace tern
