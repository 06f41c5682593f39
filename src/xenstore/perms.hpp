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

// The access a permission letter grants ('n', 'r', 'w', 'b'); nullopt for any other letter.
[[nodiscard]] constexpr std::optional<std::uint8_t> perm_mode(char letter) {
  switch (letter) {
    case 'n':
      return kPermNone;
    case 'r':
      return kPermRead;
    case 'w':
      return kPermWrite;
    case 'b':
      return static_cast<std::uint8_t>(kPermRead | kPermWrite);
    default:
      return std::nullopt;
  }
}

struct Perm {
  std::uint8_t mode = kPermNone;  // kPermRead | kPermWrite
  std::uint32_t domid = 0;
  bool operator==(const Perm&) const = default;
};

// Packed permission list read in place (3 bytes an entry: mode, domid low,
// domid high), as the store keeps it inside a node's record.
class PermsView {
 public:
  PermsView() = default;
  explicit PermsView(std::string_view packed) : packed_(packed) {}
  [[nodiscard]] std::size_t size() const { return packed_.size() / 3; }
  [[nodiscard]] Perm at(std::size_t i) const;
  [[nodiscard]] std::uint32_t owner() const { return size() ? at(0).domid : 0; }
  [[nodiscard]] std::string_view packed() const { return packed_; }
  // "b0\0r5\0" as GET_PERMS replies.
  [[nodiscard]] std::string to_wire() const;
  bool operator==(const PermsView& o) const { return packed_ == o.packed_; }

 private:
  std::string_view packed_;
};

// Packed permission list; never empty for an existing node.
class Perms {
 public:
  Perms() = default;
  explicit Perms(std::vector<Perm> list);
  explicit Perms(PermsView v) : packed_(v.packed()) {}
  static Perms owned_by(std::uint32_t domid, std::uint8_t others = kPermNone);

  [[nodiscard]] PermsView view() const { return PermsView(packed_); }
  operator PermsView() const { return view(); }  // NOLINT: a Perms is usable wherever a view is
  [[nodiscard]] std::size_t size() const { return view().size(); }
  [[nodiscard]] Perm at(std::size_t i) const { return view().at(i); }
  [[nodiscard]] std::uint32_t owner() const { return view().owner(); }
  void set_owner(std::uint32_t domid);
  [[nodiscard]] std::vector<Perm> list() const;
  [[nodiscard]] const std::string& packed() const { return packed_; }
  bool operator==(const Perms&) const = default;

  // "b0\0r5\0" as GET_PERMS replies.
  [[nodiscard]] std::string to_wire() const { return view().to_wire(); }
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
std::uint8_t access_mask(PermsView perms, const Caller& who);

}  // namespace tern::xs
