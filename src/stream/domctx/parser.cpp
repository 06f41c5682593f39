#include "stream/domctx/parser.hpp"

#include <unordered_set>

#include "stream/domctx/standard.hpp"

namespace tern::stream::domctx {
namespace {

std::string name_for(std::uint16_t tc, const TypeRules* rules) {
  return rules ? rules->name : typecode_name(tc);
}

std::unexpected<Error> fail(Errc code, std::uint64_t offset, std::uint64_t index, const Descriptor* d,
                            const TypeRules* rules, std::string_view rule) {
  if (!d) return make_error(code, "domctx: offset {}: record #{}: {}", offset, index, rule);
  return make_error(code, "domctx: offset {}: record #{} ({} instance {}): {}", offset, index,
                    name_for(d->typecode, rules), d->instance, rule);
}

// Checks one state record against its type's rules (not for IGNOREd ones).
Expected<void> check_state(ParsedRecord& r, const ParseRules& pr, std::unordered_set<std::uint32_t>& seen) {
  const Descriptor& d = r.desc;
  const TypeRules* rules = pr.lookup(d.typecode);
  auto bad = [&](Errc c, std::string_view rule) { return fail(c, r.offset, r.index, &d, rules, rule); };
  if (!rules)
    return bad(Errc::invalid,
               fmt::format("unknown typecode {} (a record this loader cannot apply must carry the IGNORE flag)",
                           d.typecode));
  r.rules = rules;
  if (rules->scope == Scope::global && d.instance != 0)
    return bad(Errc::invalid, fmt::format("global record has instance {}, must be 0", d.instance));
  if (rules->scope == Scope::per_vcpu && pr.vcpu_count && d.instance >= *pr.vcpu_count)
    return bad(Errc::invalid,
               fmt::format("vCPU instance {} is not below the domain's vCPU count {}", d.instance, *pr.vcpu_count));
  const BodySize& s = rules->size;
  if (d.length > s.max)
    return bad(Errc::invalid, fmt::format("body length {} exceeds the maximum of {} for this type", d.length, s.max));
  if (d.length < s.min)
    return bad(Errc::invalid, fmt::format("body length {} is below the minimum of {} for this type", d.length, s.min));
  if (d.length < s.max) {
    if (s.zero_extend) {
      r.extended.assign(r.raw.begin(), r.raw.end());
      r.extended.resize(s.max);  // older, shorter layout: new fields read as zero
    }
  }
  if (rules->validate) {
    if (auto v = rules->validate(r.body()); !v) return bad(v.error().code(), v.error().message());
  }
  std::uint32_t key = (std::uint32_t{d.typecode} << 16) | d.instance;
  if (!seen.insert(key).second) return bad(Errc::invalid, "a record with this typecode and instance appeared earlier");
  return {};
}

}  // namespace

Error record_error(Errc code, const ParsedRecord& r, std::string_view rule) {
  return fail(code, r.offset, r.index, &r.desc, r.rules, rule).error();
}

Expected<ParsedBlob> parse_blob(Bytes blob, const ParseRules& pr) {
  ParsedBlob out;
  out.size = blob.size();
  std::unordered_set<std::uint32_t> seen;
  std::uint64_t pos = 0;
  std::uint64_t index = 0;
  bool saw_end = false;
  while (pos < blob.size()) {
    if (saw_end)
      return fail(Errc::invalid, pos, index, nullptr, nullptr,
                  fmt::format("{} bytes of data after the END record", blob.size() - pos));
    const std::uint64_t left = blob.size() - pos;
    if (left < kDescriptorSize)
      return fail(Errc::truncated, pos, index, nullptr, nullptr,
                  fmt::format("input ends inside a descriptor ({} of {} bytes)", left, kDescriptorSize));
    ParsedRecord r;
    r.desc = decode_descriptor(blob.data() + pos);
    r.offset = pos;
    r.index = index;
    const Descriptor& d = r.desc;
    auto bad = [&](Errc c, std::string_view rule) { return fail(c, pos, index, &d, nullptr, rule); };
    const std::uint64_t avail = left - kDescriptorSize;
    if (d.length > avail)
      return bad(Errc::truncated,
                 fmt::format("body length {} runs past the end of input ({} bytes left)", d.length, avail));
    const std::uint64_t pad = padding_for(d.length);
    if (pad > avail - d.length)
      return bad(Errc::truncated, fmt::format("input ends inside the {} bytes of padding", pad));
    const std::uint64_t next = pos + kDescriptorSize + d.length + pad;
    r.raw = blob.subspan(pos + kDescriptorSize, d.length);
    Bytes padding = blob.subspan(pos + kDescriptorSize + d.length, pad);
    for (std::size_t i = 0; i < padding.size(); ++i)
      if (padding[i] != std::byte{0})
        return bad(Errc::invalid,
                   fmt::format("padding byte at offset {} is {:#04x}, must be zero",
                               pos + kDescriptorSize + d.length + i, static_cast<unsigned>(padding[i])));
    if (d.flags & ~kKnownFlags)
      return bad(Errc::invalid, fmt::format("unknown flag bits {:#x}", d.flags & ~kKnownFlags));

    const bool is_header = d.typecode == code(TypeCode::header);
    const bool is_end = d.typecode == code(TypeCode::end);
    if (index == 0 && !is_header)
      return bad(Errc::invalid, fmt::format("the first record must be HEADER (typecode 1), found typecode {}",
                                            d.typecode));
    if (is_header || is_end) {
      if (index != 0 && is_header) return bad(Errc::invalid, "HEADER may appear only as the first record");
      if (d.flags & kFlagIgnore) return bad(Errc::invalid, "the IGNORE flag is invalid on HEADER and END");
      if (d.instance != 0) return bad(Errc::invalid, fmt::format("instance is {}, must be 0", d.instance));
      const std::uint64_t want = is_header ? kHeaderBodySize : 0;
      if (d.length != want)
        return bad(Errc::invalid, fmt::format("body length is {}, must be {}", d.length, want));
      if (is_header) {
        out.header = decode_header_body(r.raw.data());
        if (out.header.magic != kMagic)
          return bad(Errc::invalid, fmt::format("magic is {:#010x}, expected {:#010x} (\"SAVE\")", out.header.magic,
                                                kMagic));
        if (out.header.version != kVersion)
          return bad(Errc::unsupported,
                     fmt::format("format version {} is not supported (this build reads version {})",
                                 out.header.version, kVersion));
      } else {
        saw_end = true;
        out.end_offset = pos;
      }
    } else {
      if (!r.ignored() && pr.lookup) TERN_TRY(check_state(r, pr, seen));
      out.records.push_back(std::move(r));
    }
    pos = next;
    ++index;
  }
  if (blob.empty())
    return fail(Errc::truncated, 0, 0, nullptr, nullptr, "empty input: a HEADER record was expected");
  if (!saw_end)
    return fail(Errc::truncated, pos, index, nullptr, nullptr, "input ends without an END record");
  return out;
}

}  // namespace tern::stream::domctx
