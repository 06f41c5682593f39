// Where the store keeps each node's variable-size part (name, value,
// permissions) in one compact record: a bump allocator over 1 MiB chunks
// mapped straight from the kernel (so freed chunks really leave the RSS).
// Records are 8-byte aligned and addressed by a 32-bit offset in 8-byte units
// (up to 32 GiB). Freed and shrunk space is only counted; the owner compacts
// (copies the live records into fresh chunks) once garbage outweighs them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "xenstore/perms.hpp"

namespace tern::xs {

class NodeArena {
 public:
  NodeArena() = default;
  NodeArena(NodeArena&& o) noexcept;
  NodeArena& operator=(NodeArena&& o) noexcept;
  NodeArena(const NodeArena&) = delete;
  NodeArena& operator=(const NodeArena&) = delete;
  ~NodeArena();

  // Record layout: u16 name length, u16 value length, u16 permission count,
  // then the name, the value and the packed permissions.
  static constexpr std::size_t kHeader = 6;
  static constexpr std::size_t kMaxField = 0xffff;
  static std::size_t record_size(std::size_t name, std::size_t value, std::size_t perm_bytes) {
    return (kHeader + name + value + perm_bytes + 7) & ~std::size_t{7};
  }

  // Stores a record; returns its offset.
  std::uint32_t add(std::string_view name, std::string_view value, std::string_view perms);
  // Replace a record's value or its permissions, in place when the record
  // does not grow; return the (possibly new) offset. The new bytes must not
  // point into this arena.
  std::uint32_t set_value(std::uint32_t off, std::string_view value);
  std::uint32_t set_perms(std::uint32_t off, std::string_view perms);
  void release(std::uint32_t off);

  [[nodiscard]] std::string_view name(std::uint32_t off) const;
  [[nodiscard]] std::string_view value(std::uint32_t off) const;
  [[nodiscard]] PermsView perms(std::uint32_t off) const;
  [[nodiscard]] std::size_t size_of(std::uint32_t off) const;

  [[nodiscard]] std::size_t live_bytes() const { return live_; }
  [[nodiscard]] std::size_t garbage_bytes() const { return garbage_; }
  [[nodiscard]] std::size_t mapped_bytes() const { return chunks_.size() * kChunk; }
  // True when compacting would pay: garbage above the live bytes (and 1 MiB).
  [[nodiscard]] bool wants_compaction() const { return garbage_ > live_ && garbage_ > kChunk; }
  // Copies a record from `other` (used by compaction); returns its offset here.
  std::uint32_t copy_from(const NodeArena& other, std::uint32_t off);

 private:
  static constexpr std::size_t kChunk = 1 << 20;
  static constexpr std::uint32_t kUnitsPerChunk = kChunk / 8;
  [[nodiscard]] unsigned char* at(std::uint32_t off) const {
    return chunks_[off / kUnitsPerChunk] + (off % kUnitsPerChunk) * 8;
  }
  std::uint32_t allocate(std::size_t bytes);
  std::uint32_t rewrite(std::uint32_t off, std::string_view value, std::string_view perms,
                        bool value_changes);
  void write(std::uint32_t off, std::string_view name, std::string_view value,
             std::string_view perms);

  std::vector<unsigned char*> chunks_;
  std::size_t used_ = kChunk;  // bytes used in the last chunk (full: none yet)
  std::size_t live_ = 0;
  std::size_t garbage_ = 0;
};

}  // namespace tern::xs
