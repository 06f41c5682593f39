// Node permissions: a list of (mode, domid) entries. The first entry names the
// owner and gives everyone else's default access; later entries grant a domain
// specific access. Stored packed (3 bytes an entry) so a node's usual one to
// five entries fit in std::string's inline buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/wire.hpp"

namespace tern::xs {

enum : std::uint8_t { kPermNone = 0, kPermRead = 1, kPermWrite = 2, kPermOwner = 4 };

struct Perm {
  std::uint8_t mode = kPermNone;  // kPermRead | kPermWrite
  std::uint32_t domid = 0;
  bool operator==(const Perm&) const = default;
};

// Packed permission list; never empty for an existing node.
class Perms {
 public:
  Perms() = default;
  explicit Perms(std::vector<Perm> list);
  static Perms owned_by(std::uint32_t domid, std::uint8_t others = kPermNone);

  [[nodiscard]] std::size_t size() const { return packed_.size() / 3; }
  [[nodiscard]] Perm at(std::size_t i) const;
  [[nodiscard]] std::uint32_t owner() const { return size() ? at(0).domid : 0; }
  void set_owner(std::uint32_t domid);
  [[nodiscard]] std::vector<Perm> list() const;
  [[nodiscard]] const std::string& packed() const { return packed_; }
  bool operator==(const Perms&) const = default;

  // "b0\0r5\0" as GET_PERMS replies.
  [[nodiscard]] std::string to_wire() const;
  // Parses the SET_PERMS arguments ("w1", "r2", "b3", "n4").
  static Result<Perms> parse(const std::vector<std::string_view>& entries);

 private:
  std::string packed_;
};

// Who is asking: a domain, whether it is privileged (dom0 / control), and the
// domain it targets (SET_TARGET), if any.
struct Caller {
  std::uint32_t domid = 0;
  bool privileged = true;
  std::optional<std::uint32_t> target;
};

// The access mask (kPermRead|kPermWrite|kPermOwner) `who` has on a node.
std::uint8_t access_mask(const Perms& perms, const Caller& who);

}  // namespace tern::xs
