#include "xenstore/image_convert.hpp"

#include <limits>

namespace tern::xs {

void to_image_perms(const Perms& perms, std::vector<img::Perm>& out) {
  static constexpr char kLetter[] = {'n', 'r', 'w', 'b'};
  for (std::size_t i = 0; i < perms.size(); ++i) {
    Perm p = perms.at(i);
    out.push_back(img::Perm{kLetter[p.mode & 3], 0, static_cast<std::uint16_t>(p.domid)});
  }
}

Perms from_image_perms(std::span<const img::Perm> perms) {
  std::vector<Perm> list;
  list.reserve(perms.size());
  for (std::size_t i = 0; i < perms.size(); ++i) {
    const img::Perm& p = perms[i];
    if (i > 0 && (p.flags & img::kPermFlagStale)) continue;
    // An unknown letter grants nothing (the reader already checked the image).
    const std::uint8_t mode = perm_mode(static_cast<char>(p.perm)).value_or(kPermNone);
    list.push_back(Perm{mode, p.domid});
  }
  return Perms(std::move(list));
}

Expected<std::vector<img::Quota>> to_image_quotas(const Quotas& q) {
  std::vector<img::Quota> out;
  auto add = [&](std::string_view name, std::uint64_t v) -> Expected<void> {
    if (v > std::numeric_limits<std::uint32_t>::max())
      return make_error(Errc::unsupported,
                        "quota {} = {} does not fit the image's 32-bit quota value", name, v);
    out.push_back(img::Quota{name, static_cast<std::uint32_t>(v)});
    return {};
  };
  for (std::string_view name : Quotas::names()) TERN_TRY(add(name, *q.get(name)));
  TERN_TRY(add(kMemorySoftQuotaName, q.memory_soft));
  return out;
}

void apply_image_quotas(std::span<const img::Quota> quotas, Quotas& q) {
  for (const img::Quota& e : quotas) {
    if (e.name == kMemorySoftQuotaName)
      q.memory_soft = e.value;
    else
      (void)q.set(e.name, e.value);
  }
}

}  // namespace tern::xs
