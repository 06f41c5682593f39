// The store's path index: node id by (parent id, leaf name), open addressing
// with linear probing. A slot holds the id and the key's hash, so probing
// compares hashes without touching node records and growing never needs the
// keys; the caller confirms a hash match against the record itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tern::xs {

class NodeIndex {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  static std::uint32_t hash(std::uint32_t parent, std::string_view name);

  // The id whose key hashes to `h` and for which `same(id)` holds, or kNone.
  template <typename Same>
  [[nodiscard]] std::uint32_t find(std::uint32_t h, Same&& same) const {
    if (slots_.empty()) return kNone;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kNone) return kNone;
      if (s.hash == h && same(s.id)) return s.id;
    }
  }
  // Adds an id under `h` (its key must not be present yet).
  void insert(std::uint32_t h, std::uint32_t id);
  // Removes the id stored under `h`.
  void erase(std::uint32_t h, std::uint32_t id);

  [[nodiscard]] std::size_t size() const { return count_; }
  [[nodiscard]] std::size_t bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint32_t id = kNone;
    std::uint32_t hash = 0;
  };
  void grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t count_ = 0;
};

}  // namespace tern::xs
