#include "xenstore/node_index.hpp"

#include <functional>

namespace tern::xs {

std::uint32_t NodeIndex::hash(std::uint32_t parent, std::string_view name) {
  std::uint64_t h = std::hash<std::string_view>{}(name);
  h ^= (parent + 1) * 0x9e3779b97f4a7c15ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return static_cast<std::uint32_t>(h);
}

void NodeIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  std::size_t cap = old.empty() ? 64 : old.size() * 2;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.id == kNone) continue;
    std::size_t i = s.hash & mask_;
    while (slots_[i].id != kNone) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void NodeIndex::insert(std::uint32_t h, std::uint32_t id) {
  // At most 80% full: probe runs stay short with the hash in the slot.
  if ((count_ + 1) * 5 > slots_.size() * 4) grow();
  std::size_t i = h & mask_;
  while (slots_[i].id != kNone) i = (i + 1) & mask_;
  slots_[i] = Slot{id, h};
  ++count_;
}

void NodeIndex::erase(std::uint32_t h, std::uint32_t id) {
  if (slots_.empty()) return;
  std::size_t i = h & mask_;
  while (slots_[i].id != id) {
    if (slots_[i].id == kNone) return;
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: pull later entries of the run into the hole
  // when their home slot allows, so lookups never need tombstones.
  for (std::size_t j = (i + 1) & mask_; slots_[j].id != kNone; j = (j + 1) & mask_) {
    std::size_t home = slots_[j].hash & mask_;
    bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --count_;
}

}  // namespace tern::xs
