#include "xenstore/path.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tern::xs {

std::string domain_path(std::uint32_t domid) { return "/local/domain/" + std::to_string(domid); }

namespace {
#if defined(__SSE2__)
// Only allowed characters and no empty component ("//"), 16 bytes at a time.
// Every request's path goes through here; bytewise it was the daemon's
// costliest function in instructions (~245 per request of xs_load's 25-byte
// paths, 11 % of its user-space work).

// Bit i of the result is set where byte i is allowed (valid) or a '/' (slash).
struct ChunkMasks {
  unsigned valid;
  unsigned slash;
};
ChunkMasks classify(__m128i c) {
  // x in [lo, hi], bytes taken unsigned: x - lo (wrapping) <= hi - lo.
  auto in_range = [](__m128i x, char lo, char hi) {
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(static_cast<char>(hi - lo))), d);
  };
  // Setting bit 5 maps 'A'-'Z' onto 'a'-'z' and nothing else into that range.
  __m128i letter = in_range(_mm_or_si128(c, _mm_set1_epi8(0x20)), 'a', 'z');
  __m128i digit = in_range(c, '0', '9');
  __m128i slash = _mm_cmpeq_epi8(c, _mm_set1_epi8('/'));
  __m128i other = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8('-')), _mm_cmpeq_epi8(c, _mm_set1_epi8('_'))),
      _mm_cmpeq_epi8(c, _mm_set1_epi8('@')));
  __m128i valid = _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(slash, other));
  return {static_cast<unsigned>(_mm_movemask_epi8(valid)),
          static_cast<unsigned>(_mm_movemask_epi8(slash))};
}

// Whether the bytes of `chunk` selected by `used` break the rule.
// `slash_before`: the byte before the chunk was a '/'; updated for the next.
bool chunk_bad(__m128i chunk, unsigned used, bool& slash_before) {
  ChunkMasks m = classify(chunk);
  unsigned slash = m.slash & used;
  bool bad =
      (m.valid & used) != used || (slash & (slash >> 1)) != 0 || (slash_before && (slash & 1u));
  slash_before = (slash >> 15) != 0;
  return bad;
}

bool valid_chars_no_empty_component(std::string_view p) {
  bool slash_before = false;
  if (p.size() < 16) {
    // Copied into a zeroed chunk so nothing past the string is read; the
    // padding is masked off.
    alignas(16) char buf[16] = {};
    std::memcpy(buf, p.data(), p.size());
    return !chunk_bad(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)), (1u << p.size()) - 1,
                      slash_before);
  }
  auto load = [&](std::size_t at) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.data() + at));
  };
  std::size_t at = 0;
  for (; at + 16 <= p.size(); at += 16)
    if (chunk_bad(load(at), 0xffffu, slash_before)) return false;
  // The rest: the last 16 bytes, overlapping bytes already checked (they
  // pass again) and so also covering the junction with them.
  slash_before = false;
  return at == p.size() || !chunk_bad(load(p.size() - 16), 0xffffu, slash_before);
}
#else
constexpr bool valid_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '/' || c == '_' || c == '@';
}
constexpr auto kValidChar = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = valid_char(static_cast<unsigned char>(c));
  return t;
}();

// Only allowed characters and no empty component ("//"), one byte at a time.
bool valid_chars_no_empty_component(std::string_view p) {
  char prev = '\0';
  for (char c : p) {
    if (!kValidChar[static_cast<unsigned char>(c)] || (c == '/' && prev == '/')) return false;
    prev = c;
  }
  return true;
}
#endif

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
