#include "stream/domctx/describe.hpp"

#include <algorithm>

#include "stream/domctx/parser.hpp"
#include "stream/domctx/standard.hpp"

namespace tern::stream::domctx {
namespace {

using json = nlohmann::json;

ParseRules standard_parse_rules() {
  ParseRules r;
  r.lookup = [](std::uint16_t tc) { return standard_rules(tc); };
  return r;
}

json header_json(const HeaderBody& h) {
  return {{"magic", h.magic}, {"version", h.version}, {"producer_major", h.producer_major},
          {"producer_minor", h.producer_minor}};
}

json record_json(std::uint64_t index, std::uint64_t offset, const Descriptor& d) {
  return {{"index", index},       {"offset", offset},   {"typecode", d.typecode},
          {"name", typecode_name(d.typecode)}, {"instance", d.instance},
          {"flags", d.flags},     {"ignore", (d.flags & kFlagIgnore) != 0}, {"length", d.length}};
}

// Best-effort fields of an IGNOREd record (never checked by the parser).
json ignored_fields(const ParsedRecord& r) {
  const TypeRules* rules = standard_rules(r.desc.typecode);
  if (!rules || r.desc.length > rules->size.max || r.desc.length < rules->size.min) return nullptr;
  std::vector<std::byte> body(r.raw.begin(), r.raw.end());
  if (rules->size.zero_extend) body.resize(rules->size.max);
  auto f = standard_fields(r.desc.typecode, body);
  return f ? *f : json(nullptr);
}

}  // namespace

Expected<VerifySummary> verify(Bytes blob) {
  TERN_TRY_ASSIGN(ParsedBlob p, parse_blob(blob, standard_parse_rules()));
  VerifySummary s;
  s.header = p.header;
  s.size = p.size;
  s.records = p.records.size();
  for (const ParsedRecord& r : p.records) {
    if (r.ignored()) ++s.ignored;
    ++s.per_type[typecode_name(r.desc.typecode)];
    if (r.rules && r.rules->scope == Scope::per_vcpu) s.vcpus = std::max<std::uint32_t>(s.vcpus, r.desc.instance + 1u);
  }
  return s;
}

Expected<json> describe(Bytes blob) {
  TERN_TRY_ASSIGN(ParsedBlob p, parse_blob(blob, standard_parse_rules()));
  json records = json::array();
  json h = record_json(0, 0, Descriptor{code(TypeCode::header), 0, 0, kHeaderBodySize});
  h["fields"] = header_json(p.header);
  records.push_back(std::move(h));
  for (const ParsedRecord& r : p.records) {
    json j = record_json(r.index, r.offset, r.desc);
    if (r.ignored()) {
      j["fields"] = ignored_fields(r);
    } else {
      TERN_TRY_ASSIGN(j["fields"], standard_fields(r.desc.typecode, r.body()));
    }
    records.push_back(std::move(j));
  }
  json e = record_json(p.records.size() + 1, p.end_offset, Descriptor{code(TypeCode::end), 0, 0, 0});
  e["fields"] = json::object();
  records.push_back(std::move(e));
  return json{{"format", "domctx"}, {"size", p.size}, {"header", header_json(p.header)}, {"records", records}};
}

json to_json(const VerifySummary& s) {
  return {{"format", "domctx"},
          {"valid", true},
          {"size", s.size},
          {"version", s.header.version},
          {"producer", fmt::format("{}.{}", s.header.producer_major, s.header.producer_minor)},
          {"records", s.records},
          {"ignored", s.ignored},
          {"vcpus", s.vcpus},
          {"per_type", s.per_type}};
}

bool looks_like_domctx(Bytes prefix) {
  if (prefix.size() < kDetectBytes) return false;
  Descriptor d = decode_descriptor(prefix.data());
  return d.typecode == code(TypeCode::header) && d.instance == 0 && d.flags == 0 && d.length == kHeaderBodySize &&
         load_le<std::uint32_t>(prefix.data() + kDescriptorSize) == kMagic;
}

}  // namespace tern::stream::domctx
