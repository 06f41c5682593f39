#include "cli/tern/state_formats.hpp"

#include <vector>

#include <fmt/format.h>

#include "stream/domctx/describe.hpp"
#include "stream/xenstore/describe.hpp"

namespace tern::cli {

namespace {

using nlohmann::json;

// Larger inputs are refused rather than read into memory: no real domain
// context or xenstore image comes near this.
constexpr std::uint64_t kMaxStateImage = 1ULL << 30;

Expected<std::vector<std::byte>> read_whole(ByteSource& src, std::string_view what) {
  std::vector<std::byte> out;
  constexpr std::size_t kChunk = 1 << 20;
  for (;;) {
    TERN_TRY_ASSIGN(Bytes b, src.read(kChunk));
    out.insert(out.end(), b.begin(), b.end());
    if (out.size() > kMaxStateImage)
      return make_error(Errc::unsupported,
                        "{} larger than {} bytes: refusing to load it into memory", what,
                        kMaxStateImage);
    if (b.size() < kChunk) return out;
  }
}

std::string field_text(const json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  constexpr std::size_t kMax = 96;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

}  // namespace

bool detect_domctx(Bytes head) { return stream::domctx::looks_like_domctx(head); }
bool detect_xenstore(Bytes head) {
  return head.size() >= 12 && stream::xenstore::looks_like_xenstore_image(head);
}

Expected<void> inspect_domctx(ByteSource& src, const InspectOptions&, json& doc) {
  TERN_TRY_ASSIGN(auto blob, read_whole(src, "domain-context blob"));
  doc = json{{"format", "domctx"}, {"size", blob.size()}};
  TERN_TRY_ASSIGN(doc, stream::domctx::describe(blob));
  TERN_TRY_ASSIGN(auto summary, stream::domctx::verify(blob));
  doc["summary"] = stream::domctx::to_json(summary);
  return {};
}

Expected<std::string> verify_domctx(ByteSource& src) {
  TERN_TRY_ASSIGN(auto blob, read_whole(src, "domain-context blob"));
  TERN_TRY_ASSIGN(auto s, stream::domctx::verify(blob));
  return fmt::format(
      "domain context v{} from producer {}.{}: {} bytes, {} state records ({} ignored), {} vCPUs",
      s.header.version, s.header.producer_major, s.header.producer_minor, s.size, s.records,
      s.ignored, s.vcpus);
}

std::string render_domctx_text(const json& doc) {
  std::string out;
  if (doc.contains("header")) {
    const auto& h = doc["header"];
    out += fmt::format("domain context: {} bytes, version {}, producer {}.{}\n",
                       doc.value("size", 0ULL), h.value("version", 0U),
                       h.value("producer_major", 0U), h.value("producer_minor", 0U));
  }
  if (doc.contains("summary")) {
    const auto& s = doc["summary"];
    out += fmt::format("  {} state records ({} ignored), {} vCPUs\n", s.value("records", 0ULL),
                       s.value("ignored", 0ULL), s.value("vcpus", 0U));
  }
  if (doc.contains("records")) {
    out += fmt::format("  {:>8}  {:<18} {:>8} {:>8}  {}\n", "offset", "type", "instance", "length",
                       "fields");
    for (const auto& r : doc["records"]) {
      std::string fields;
      if (r.contains("fields") && r["fields"].is_object()) {
        for (const auto& [k, v] : r["fields"].items()) {
          if (!fields.empty()) fields += ' ';
          fields += fmt::format("{}={}", k, field_text(v));
          if (fields.size() > 160) {
            fields += " ...";
            break;
          }
        }
      }
      out +=
          fmt::format("  {:>8}  {:<18} {:>8} {:>8}  {}{}\n", r.value("offset", 0ULL),
                      r.value("name", std::string("?")), r.value("instance", 0U),
                      r.value("length", 0ULL), r.value("ignore", false) ? "[IGNORE] " : "", fields);
    }
  }
  if (doc.contains("error")) out += fmt::format("error: {}\n", doc["error"].get<std::string>());
  return out;
}

Expected<void> inspect_xenstore(ByteSource& src, const InspectOptions& opts, json& doc) {
  TERN_TRY_ASSIGN(auto image, read_whole(src, "xenstore image"));
  doc = json{{"format", "xenstore"}, {"bytes", image.size()}};
  TERN_TRY_ASSIGN(json d, stream::xenstore::describe(image));
  if (!opts.list_records) {
    // The text view lists connections, watches and transactions, not every node.
    json kept = json::array();
    for (auto& r : d["record_list"])
      if (r.value("type", std::string()) != "NODE_DATA") kept.push_back(std::move(r));
    d["record_list"] = std::move(kept);
  }
  doc = std::move(d);
  return {};
}

Expected<std::string> verify_xenstore(ByteSource& src) {
  TERN_TRY_ASSIGN(auto image, read_whole(src, "xenstore image"));
  TERN_TRY_ASSIGN(auto s, stream::xenstore::verify(image));
  using stream::xenstore::RecordType;
  return fmt::format(
      "xenstore image v{} ({}-endian): {} bytes, {} records: {} nodes ({} transaction-pending), {} "
      "connections, {} "
      "watches, {} transactions, {} domains",
      s.version, s.big_endian ? "big" : "little", s.bytes, s.records,
      s.count(RecordType::node_data), s.pending_nodes, s.count(RecordType::connection_data),
      s.count(RecordType::watch_data) + s.count(RecordType::watch_data_extended),
      s.count(RecordType::transaction_data), s.count(RecordType::domain_data));
}

std::string render_xenstore_text(const json& doc) {
  std::string out;
  if (doc.contains("version")) {
    out += fmt::format("xenstore image: version {}, {}-endian, {} bytes, {} records\n",
                       doc.value("version", 0U), doc.value("endianness", std::string("?")),
                       doc.value("bytes", 0ULL), doc.value("record_count", 0ULL));
    for (const auto& [type, n] : doc["records"].items())
      out += fmt::format("  {:<22} {}\n", type, n.dump());
    if (doc.contains("pending_nodes"))
      out += fmt::format("  (of the nodes, {} belong to open transactions)\n",
                         doc["pending_nodes"].dump());
  }
  if (doc.contains("record_list")) {
    for (const auto& r : doc["record_list"]) {
      const std::string type = r.value("type", std::string("?"));
      if (type == "END") continue;
      std::string fields;
      if (r.contains("fields") && r["fields"].is_object())
        for (const auto& [k, v] : r["fields"].items()) {
          if (!fields.empty()) fields += ' ';
          fields += fmt::format("{}={}", k, field_text(v));
        }
      out += fmt::format("  @{:<8} {:<22} {}\n", r.value("offset", 0ULL), type, fields);
    }
  }
  if (doc.contains("error")) out += fmt::format("error: {}\n", doc["error"].get<std::string>());
  return out;
}

}  // namespace tern::cli
