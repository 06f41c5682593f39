#include "xenstore/perms.hpp"

#include "xenstore/path.hpp"

namespace tern::xs {

Perms::Perms(std::vector<Perm> list) {
  packed_.reserve(list.size() * 3);
  for (const Perm& p : list) {
    packed_.push_back(static_cast<char>(p.mode));
    packed_.push_back(static_cast<char>(p.domid & 0xff));
    packed_.push_back(static_cast<char>((p.domid >> 8) & 0xff));
  }
}

Perms Perms::owned_by(std::uint32_t domid, std::uint8_t others) {
  return Perms({Perm{others, domid}});
}

Perm PermsView::at(std::size_t i) const {
  auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(packed_[i * 3 + k]); };
  return Perm{b(0), static_cast<std::uint32_t>(b(1) | (b(2) << 8))};
}

void Perms::set_owner(std::uint32_t domid) {
  if (packed_.empty()) packed_.assign(3, '\0');
  packed_[1] = static_cast<char>(domid & 0xff);
  packed_[2] = static_cast<char>((domid >> 8) & 0xff);
}

std::vector<Perm> Perms::list() const {
  std::vector<Perm> v;
  for (std::size_t i = 0; i < size(); ++i) v.push_back(at(i));
  return v;
}

std::string PermsView::to_wire() const {
  std::string s;
  for (std::size_t i = 0; i < size(); ++i) {
    Perm p = at(i);
    static constexpr char kLetter[] = {'n', 'r', 'w', 'b'};
    s.push_back(kLetter[p.mode & 3]);
    s.append(std::to_string(p.domid));
    s.push_back('\0');
  }
  return s;
}

Result<Perms> Perms::parse(const std::vector<std::string_view>& entries) {
  if (entries.empty()) return fail(Err::einval);
  std::vector<Perm> list;
  for (std::string_view e : entries) {
    if (e.size() < 2) return fail(Err::einval);
    const auto mode = perm_mode(e[0]);
    if (!mode) return fail(Err::einval);
    auto id = parse_domid(e.substr(1));
    if (!id) return fail(Err::einval);
    list.push_back(Perm{*mode, *id});
  }
  return Perms(std::move(list));
}

std::uint8_t access_mask(PermsView perms, const Caller& who) {
  constexpr std::uint8_t kAll = kPermRead | kPermWrite | kPermOwner;
  if (who.privileged || perms.size() == 0) return kAll;
  auto is_me = [&](std::uint32_t id) {
    return id == who.domid || (who.target && id == *who.target);
  };
  if (is_me(perms.owner())) return kAll;
  for (std::size_t i = 1; i < perms.size(); ++i) {
    Perm p = perms.at(i);
    if (is_me(p.domid)) return p.mode & (kPermRead | kPermWrite);
  }
  return perms.at(0).mode & (kPermRead | kPermWrite);
}

}  // namespace tern::xs
