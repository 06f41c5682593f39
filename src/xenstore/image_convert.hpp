// Conversions between the daemon's state and the xenstore image's records
// (permissions, quotas, node identity), shared by the live-update dump and
// restore and by domain export/import.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "stream/xenstore/records.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {

namespace img = tern::stream::xenstore;

// An image field's octets as text (paths, values, tokens).
inline std::string_view image_text(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// An error that names the record's place in the image: "WHAT: offset O: record #I (TYPE): ...".
template <typename... Args>
std::unexpected<Error> record_error(std::string_view what, const img::Record& r,
                                    fmt::format_string<Args...> f, Args&&... args) {
  return make_error(Errc::invalid, "{}: offset {}: record #{} ({}): {}", what, r.offset, r.index,
                    img::record_type_name(r.type), fmt::format(f, std::forward<Args>(args)...));
}

// Appends the image form of `perms` ('r'/'w'/'b'/'n' + domid) to `out`.
void to_image_perms(const Perms& perms, std::vector<img::Perm>& out);

// The daemon's form of an image permission list. Entries flagged stale
// (Xen marks permissions of domains that no longer exist) grant nothing, as
// the spec says, so they are dropped, except the owner entry, which stays.
Perms from_image_perms(std::span<const img::Perm> perms);

// Quota name used in images for Quotas::memory_soft (tern-specific name;
// other daemons ignore names they do not know).
inline constexpr std::string_view kMemorySoftQuotaName = "memory-soft";

// All of `q` as image quota entries (names point to static strings). Fails
// if a value does not fit the image's 32-bit field.
Expected<std::vector<img::Quota>> to_image_quotas(const Quotas& q);

// Applies the named image quotas to `q`; names tern does not know are
// ignored, as the spec asks.
void apply_image_quotas(std::span<const img::Quota> quotas, Quotas& q);

// Two nodes hold the same content (value, children, permissions).
inline bool same_content(const Node& a, const Node& b) {
  return a.value == b.value && a.children == b.children && a.perms == b.perms;
}

// Calls f(leaf) for each name in a node's NUL-separated children list.
template <typename F>
void for_each_child_name(std::string_view children, F&& f) {
  std::size_t pos = 0;
  while (pos < children.size()) {
    auto nul = children.find('\0', pos);
    if (nul == std::string_view::npos) break;
    f(children.substr(pos, nul - pos));
    pos = nul + 1;
  }
}

}  // namespace tern::xs
