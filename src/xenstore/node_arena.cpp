#include "xenstore/node_arena.hpp"

#include <sys/mman.h>

#include <cstring>
#include <new>
#include <utility>

namespace tern::xs {

namespace {
std::uint16_t u16_at(const unsigned char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void put_u16(unsigned char* p, std::size_t v) {
  auto x = static_cast<std::uint16_t>(v);
  std::memcpy(p, &x, 2);
}
// An empty string_view may have a null data(), which memcpy must not get.
void put(unsigned char* dst, std::string_view s) {
  if (!s.empty()) std::memcpy(dst, s.data(), s.size());
}
}  // namespace

NodeArena::NodeArena(NodeArena&& o) noexcept
    : chunks_(std::move(o.chunks_)),
      used_(std::exchange(o.used_, kChunk)),
      live_(std::exchange(o.live_, 0)),
      garbage_(std::exchange(o.garbage_, 0)) {
  o.chunks_.clear();
}

NodeArena& NodeArena::operator=(NodeArena&& o) noexcept {
  if (this != &o) {
    for (unsigned char* c : chunks_) ::munmap(c, kChunk);
    chunks_ = std::move(o.chunks_);
    o.chunks_.clear();
    used_ = std::exchange(o.used_, kChunk);
    live_ = std::exchange(o.live_, 0);
    garbage_ = std::exchange(o.garbage_, 0);
  }
  return *this;
}

NodeArena::~NodeArena() {
  for (unsigned char* c : chunks_) ::munmap(c, kChunk);
}

std::uint32_t NodeArena::allocate(std::size_t bytes) {
  if (used_ + bytes > kChunk) {
    garbage_ += kChunk - used_;  // the tail of a chunk no record fits in
    void* p = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    chunks_.push_back(static_cast<unsigned char*>(p));
    used_ = 0;
  }
  auto off = static_cast<std::uint32_t>((chunks_.size() - 1) * kUnitsPerChunk + used_ / 8);
  used_ += bytes;
  live_ += bytes;
  return off;
}

void NodeArena::write(std::uint32_t off, std::string_view name, std::string_view value,
                      std::string_view perms) {
  unsigned char* p = at(off);
  put_u16(p, name.size());
  put_u16(p + 2, value.size());
  put_u16(p + 4, perms.size() / 3);
  put(p + kHeader, name);
  put(p + kHeader + name.size(), value);
  put(p + kHeader + name.size() + value.size(), perms);
}

std::uint32_t NodeArena::add(std::string_view name, std::string_view value,
                             std::string_view perms) {
  std::uint32_t off = allocate(record_size(name.size(), value.size(), perms.size()));
  write(off, name, value, perms);
  return off;
}

std::uint32_t NodeArena::set_value(std::uint32_t off, std::string_view value) {
  return rewrite(off, value, perms(off).packed(), true);
}

std::uint32_t NodeArena::set_perms(std::uint32_t off, std::string_view perms) {
  return rewrite(off, this->value(off), perms, false);
}

// One of value/perms is new (from outside), the other is the record's own.
std::uint32_t NodeArena::rewrite(std::uint32_t off, std::string_view value, std::string_view perms,
                                 bool value_changes) {
  unsigned char* p = at(off);
  const std::size_t n = u16_at(p);
  const std::size_t old_size = size_of(off);
  const std::size_t new_size = record_size(n, value.size(), perms.size());
  if (new_size <= old_size) {
    unsigned char* v = p + kHeader + n;
    if (value_changes) {
      if (!perms.empty())
        std::memmove(v + value.size(), perms.data(), perms.size());  // kept perms first
      put(v, value);
    } else {
      put(v + value.size(), perms);
    }
    put_u16(p + 2, value.size());
    put_u16(p + 4, perms.size() / 3);
    live_ -= old_size - new_size;
    garbage_ += old_size - new_size;
    return off;
  }
  // A new record; the old one (which the kept part points into) stays intact
  // until it is released: chunks never move.
  std::uint32_t fresh = allocate(new_size);
  write(fresh, name(off), value, perms);
  release(off);
  return fresh;
}

void NodeArena::release(std::uint32_t off) {
  std::size_t n = size_of(off);
  live_ -= n;
  garbage_ += n;
}

std::string_view NodeArena::name(std::uint32_t off) const {
  const unsigned char* p = at(off);
  return {reinterpret_cast<const char*>(p + kHeader), u16_at(p)};
}

std::string_view NodeArena::value(std::uint32_t off) const {
  const unsigned char* p = at(off);
  return {reinterpret_cast<const char*>(p + kHeader + u16_at(p)), u16_at(p + 2)};
}

PermsView NodeArena::perms(std::uint32_t off) const {
  const unsigned char* p = at(off);
  return PermsView(
      std::string_view(reinterpret_cast<const char*>(p + kHeader + u16_at(p) + u16_at(p + 2)),
                       std::size_t{u16_at(p + 4)} * 3));
}

std::size_t NodeArena::size_of(std::uint32_t off) const {
  const unsigned char* p = at(off);
  return record_size(u16_at(p), u16_at(p + 2), std::size_t{u16_at(p + 4)} * 3);
}

std::uint32_t NodeArena::copy_from(const NodeArena& other, std::uint32_t off) {
  std::size_t n = other.size_of(off);
  std::uint32_t fresh = allocate(n);
  std::memcpy(at(fresh), other.at(off), n);
  return fresh;
}

}  // namespace tern::xs
