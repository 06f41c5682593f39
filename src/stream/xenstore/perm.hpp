// One node permission as the xenstore image stores it (NODE_DATA, and tern's
// TERN_DATA transaction events).
#pragma once

#include <cstdint>

namespace tern::stream::xenstore {

struct Perm {
  char perm = 'n';         // 'r', 'w', 'b' or 'n'
  std::uint8_t flags = 0;  // kPermFlagStale
  std::uint16_t domid = 0;
  friend bool operator==(const Perm&, const Perm&) = default;
};

}  // namespace tern::stream::xenstore
