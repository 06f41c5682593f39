#include "stream/domctx/loader.hpp"

#include <algorithm>

#include "stream/domctx/parser.hpp"

namespace tern::stream::domctx {

Expected<LoadStats> load(const Registry& reg, const DomainShape& dom, Bytes blob, const LoadOptions& opt) {
  if (dom.vcpu_count > kMaxVcpus)
    return make_error(Errc::usage, "domctx: {} vCPUs exceed the format's limit of {}", dom.vcpu_count, kMaxVcpus);
  for (std::uint16_t tc : opt.only)
    if (!reg.find(tc))
      return make_error(Errc::usage, "domctx: cannot load only typecode {}: no such type is registered", tc);
  ParseRules rules;
  rules.lookup = [&reg](std::uint16_t tc) -> const TypeRules* {
    const RecordType* t = reg.find(tc);
    return t ? &t->rules : nullptr;
  };
  rules.vcpu_count = dom.vcpu_count;
  TERN_TRY_ASSIGN(ParsedBlob parsed, parse_blob(blob, rules));

  LoadStats st;
  st.header = parsed.header;
  st.records = parsed.records.size();
  for (const ParsedRecord& r : parsed.records) {
    if (r.ignored()) {
      ++st.ignored;
      continue;
    }
    if (!opt.only.empty() && std::find(opt.only.begin(), opt.only.end(), r.desc.typecode) == opt.only.end()) {
      ++st.skipped;
      continue;
    }
    const RecordType* t = reg.find(r.desc.typecode);
    if (auto res = t->load(r.body(), r.desc.instance); !res)
      return std::unexpected(
          record_error(res.error().code(), r, fmt::format("load handler failed: {}", res.error().message())));
    ++st.applied;
  }
  return st;
}

Expected<std::uint64_t> ignore_all_except(MutableBytes blob, std::span<const std::uint16_t> keep) {
  TERN_TRY_ASSIGN(ParsedBlob parsed, parse_blob(blob, ParseRules{}));
  std::uint64_t kept = 0;
  for (const ParsedRecord& r : parsed.records) {
    const bool k = std::find(keep.begin(), keep.end(), r.desc.typecode) != keep.end();
    std::uint32_t flags = k ? (r.desc.flags & ~kFlagIgnore) : (r.desc.flags | kFlagIgnore);
    store_le<std::uint32_t>(blob.data() + r.offset + kDescFlagsOff, flags);
    kept += k;
  }
  return kept;
}

}  // namespace tern::stream::domctx
