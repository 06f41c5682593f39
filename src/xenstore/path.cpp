#include "xenstore/path.hpp"

#include <array>
#include <charconv>

namespace tern::xs {

std::string domain_path(std::uint32_t domid) { return "/local/domain/" + std::to_string(domid); }

namespace {
constexpr bool valid_char_slow(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '/' || c == '_' || c == '@';
}
// Every request's path goes through here: one table load per byte.
constexpr auto kValidChar = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = valid_char_slow(static_cast<unsigned char>(c));
  return t;
}();
bool valid_char(char c) { return kValidChar[static_cast<unsigned char>(c)]; }

// Only allowed characters and no empty component ("//"), in one pass.
bool valid_chars_no_empty_component(std::string_view p) {
  char prev = '\0';
  for (char c : p) {
    if (!valid_char(c) || (c == '/' && prev == '/')) return false;
    prev = c;
  }
  return true;
}

// Length of a "/local/domain/<digits>/" prefix, or 0.
std::size_t domain_prefix_len(std::string_view p) {
  constexpr std::string_view kPre = "/local/domain/";
  if (!p.starts_with(kPre)) return 0;
  std::size_t i = kPre.size();
  std::size_t digits = 0;
  while (i < p.size() && p[i] >= '0' && p[i] <= '9' && digits < 6) ++i, ++digits;
  if (digits == 0 || i >= p.size() || p[i] != '/') return 0;
  return i + 1;
}
}  // namespace

Result<std::string_view> canonical_path_view(std::string_view in, std::uint32_t domid,
                                             bool allow_special, std::size_t max_rel_len,
                                             std::string& buf) {
  if (in.empty()) return fail(Err::einval);
  std::string_view out = in;
  if (in.front() == '@') {
    if (!allow_special) return fail(Err::einval);
  } else if (in.front() != '/') {
    buf = domain_path(domid);
    buf.push_back('/');
    buf.append(in);
    out = buf;
  }
  if (out.size() > kAbsPathMax) return fail(Err::einval);
  if (!valid_chars_no_empty_component(out)) return fail(Err::einval);
  if (out.size() > 1 && out.back() == '/') return fail(Err::einval);
  if (max_rel_len != 0 && out.front() == '/' && out.size() - domain_prefix_len(out) > max_rel_len)
    return fail(Err::einval);
  return out;
}

Result<std::string> canonical_path(std::string_view in, std::uint32_t domid, bool allow_special,
                                   std::size_t max_rel_len) {
  std::string buf;
  auto v = canonical_path_view(in, domid, allow_special, max_rel_len, buf);
  if (!v) return std::unexpected(v.error());
  return std::string(*v);
}

bool is_canonical_absolute(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.size() > kAbsPathMax) return false;
  if (!valid_chars_no_empty_component(p)) return false;
  return p.size() == 1 || p.back() != '/';
}

bool is_child(std::string_view child, std::string_view parent) {
  if (parent == "/") return child.starts_with('/');
  if (!child.starts_with(parent)) return false;
  return child.size() == parent.size() || child[parent.size()] == '/';
}

std::string_view parent_path(std::string_view path) {
  if (path.size() <= 1) return {};
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return {};
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

std::string_view leaf_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string child_path(std::string_view parent, std::string_view leaf) {
  std::string s(parent);
  if (s != "/") s.push_back('/');
  s.append(leaf);
  return s;
}

Result<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return fail(Err::einval);
  return v;
}

Result<std::uint32_t> parse_domid(std::string_view s) {
  auto v = parse_u64(s);
  if (!v || *v > 0xffff) return fail(Err::einval);
  return static_cast<std::uint32_t>(*v);
}

}  // namespace tern::xs
