// Xenstore path rules (xenstore.txt): absolute /-separated names of
// [A-Za-z0-9-/_@], no doubled or trailing slash, bounded length; relative
// names live under /local/domain/<domid>; "@name" are special watch paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "xenstore/wire.hpp"

namespace tern::xs {

std::string domain_path(std::uint32_t domid);

// Makes `in` absolute (relative names are taken under domid's home) and
// validates it. `max_rel_len` bounds the length after the domain prefix
// "/local/domain/<id>/" (the path-max quota); 0 disables that check.
// Special "@..." names are accepted only when allow_special is set.
Result<std::string> canonical_path(std::string_view in, std::uint32_t domid, bool allow_special,
                                   std::size_t max_rel_len);
// The same without copying: an absolute or special path comes back as a view
// of `in`; a relative one is built in `buf` (the view points into it).
Result<std::string_view> canonical_path_view(std::string_view in, std::uint32_t domid,
                                             bool allow_special, std::size_t max_rel_len,
                                             std::string& buf);

// True if `p` is already a canonical absolute path (what canonical_path
// would return unchanged), checked without allocating.
bool is_canonical_absolute(std::string_view p);

// True if `child` equals `parent` or lies below it on a '/' boundary.
bool is_child(std::string_view child, std::string_view parent);

// "/a/b" -> "/a"; "/a" -> "/"; "/" -> "".
std::string_view parent_path(std::string_view path);
// "/a/b" -> "b"; "/" -> "".
std::string_view leaf_name(std::string_view path);
// Joins a parent path and a leaf name.
std::string child_path(std::string_view parent, std::string_view leaf);

// Parses a decimal domid (0..65535, the whole string). Like Xen, used for
// INTRODUCE and friends.
Result<std::uint32_t> parse_domid(std::string_view s);
Result<std::uint64_t> parse_u64(std::string_view s);

}  // namespace tern::xs
