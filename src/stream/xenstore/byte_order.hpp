// Loads and stores in the byte order an image's header chose at run time.
#pragma once

#include <cstdint>

#include "core/bytes.hpp"

namespace tern::stream::xenstore {

class ByteOrder {
 public:
  explicit ByteOrder(bool big_endian) : big_(big_endian) {}

  template <typename T>
  [[nodiscard]] T load(const std::byte* p) const {
    return big_ ? load_be<T>(p) : load_le<T>(p);
  }
  template <typename T>
  void store(std::byte* p, T v) const {
    if (big_)
      store_be<T>(p, v);
    else
      store_le<T>(p, v);
  }
  [[nodiscard]] bool big_endian() const { return big_; }

 private:
  bool big_;
};

}  // namespace tern::stream::xenstore
