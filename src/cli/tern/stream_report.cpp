#include "cli/tern/stream_report.hpp"

#include <map>
#include <optional>

#include <fmt/format.h>

#include "stream/libxc/reader.hpp"
#include "stream/libxc/summary.hpp"
#include "stream/libxl/stream_reader.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::cli {

namespace libxc = stream::libxc;
namespace libxl = stream::libxl;
namespace xl = stream::xl;
using nlohmann::json;

bool detect_xl(Bytes head) { return xl::has_magic(head); }

bool detect_libxl(Bytes head) {
  return head.size() >= 8 && load_be<std::uint64_t>(head.data()) == libxl::kIdent;
}

bool detect_libxc(Bytes head) {
  return head.size() >= 12 && load_be<std::uint64_t>(head.data()) == libxc::kImageMarker &&
         load_be<std::uint32_t>(head.data() + 8) == libxc::kImageId;
}

namespace {

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

json libxc_header_json(const libxc::StreamHeader& h, std::uint64_t offset) {
  return {{"offset", offset},
          {"version", h.version},
          {"options", h.options},
          {"domain_type", std::string(libxc::domain_type_name(h.domain_type))},
          {"page_shift", h.page_shift},
          {"xen_version", fmt::format("{}.{}", h.xen_major, h.xen_minor)}};
}

// Decoded fields of small records; bulk bodies get counts only.
json libxc_fields(const libxc::Record& r) {
  json f = json::object();
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, libxc::PageData>) {
          f["count"] = b.count;
          f["data_pages"] = b.data_pages;
          if (b.count > 0) {
            std::uint64_t lo = UINT64_MAX, hi = 0;
            for (std::size_t i = 0; i < b.count; ++i) {
              lo = std::min(lo, b.pfn(i));
              hi = std::max(hi, b.pfn(i));
            }
            f["pfn_min"] = hex(lo);
            f["pfn_max"] = hex(hi);
          }
        } else if constexpr (std::is_same_v<T, libxc::PvInfo>) {
          f["guest_width"] = b.guest_width;
          f["pt_levels"] = b.pt_levels;
        } else if constexpr (std::is_same_v<T, libxc::P2mFrames>) {
          f["start_pfn"] = hex(b.start_pfn);
          f["end_pfn"] = hex(b.end_pfn);
          f["frames"] = b.frame_count();
        } else if constexpr (std::is_same_v<T, libxc::VcpuContext>) {
          f["vcpu_id"] = b.vcpu_id;
          f["context_bytes"] = b.context.size();
        } else if constexpr (std::is_same_v<T, libxc::TscInfo>) {
          f["mode"] = b.mode;
          f["khz"] = b.khz;
          f["nsec"] = b.nsec;
          f["incarnation"] = b.incarnation;
        } else if constexpr (std::is_same_v<T, libxc::HvmParams>) {
          f["count"] = b.count;
          json params = json::array();
          for (std::size_t i = 0; i < b.count && i < 64; ++i)
            params.push_back({{"index", b.param(i).index}, {"value", hex(b.param(i).value)}});
          f["params"] = std::move(params);
        } else if constexpr (std::is_same_v<T, libxc::CpuidPolicy>) {
          f["leaves"] = b.size();
        } else if constexpr (std::is_same_v<T, libxc::MsrPolicy>) {
          f["msrs"] = b.size();
        } else if constexpr (std::is_same_v<T, libxc::PfnList>) {
          f["pfns"] = b.size();
        }
      },
      r.typed);
  return f;
}

json libxc_event_json(const libxc::Event& e) {
  const libxc::Record& r = e.record;
  if (!e.is_record())
    return {{"layer", "libxc"}, {"offset", r.offset}, {"type", r.type},
            {"type_name", libxc::record_type_name(r.type)}, {"length", 0}, {"inferred", true},
            {"note", "v2 stream: STATIC_DATA_END inferred before the record at this offset"}};
  json j = {{"layer", "libxc"}, {"index", r.index},  {"offset", r.offset},
            {"type", r.type},   {"type_name", libxc::record_type_name(r.type)}, {"length", r.length}};
  json f = libxc_fields(r);
  if (!f.empty()) j["fields"] = std::move(f);
  return j;
}

json libxl_record_json(const libxl::Record& r) {
  json j = {{"layer", "libxl"}, {"index", r.raw.index}, {"offset", r.raw.offset},
            {"type", r.raw.type}, {"type_name", libxl::type_name(r.raw.type)}, {"length", r.raw.length}};
  json f = json::object();
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, libxl::XenstoreData>) {
          f["emulator"] = std::string(libxl::emulator_name(b.emu.emulator_id));
          f["index"] = b.emu.index;
          json kv = json::object();
          for (const auto& [k, v] : b.entries) kv[k] = v;
          f["entries"] = std::move(kv);
        } else if constexpr (std::is_same_v<T, libxl::EmulatorContext>) {
          f["emulator"] = std::string(libxl::emulator_name(b.emu.emulator_id));
          f["index"] = b.emu.index;
          f["context_bytes"] = b.blob.size();
        } else if constexpr (std::is_same_v<T, libxl::CheckpointState>) {
          f["control"] = std::string(libxl::checkpoint_control_name(b.control));
        }
      },
      r.decoded);
  if (r.skipped_optional) f["skipped"] = "optional record unknown to tern";
  if (!f.empty()) j["fields"] = std::move(f);
  return j;
}

json stat_json(std::uint64_t count, std::uint64_t bytes) { return {{"count", count}, {"bytes", bytes}}; }

json libxc_summary_json(const libxc::Summary& s) {
  json j;
  json types = json::object();
  for (std::uint32_t t = 0; t < libxc::kRecordTypeCount; ++t)
    if (s.by_type[t].count) types[libxc::record_type_name(t)] = stat_json(s.by_type[t].count, s.by_type[t].bytes);
  for (const auto& [t, st] : s.optional_unknown) types[libxc::record_type_name(t)] = stat_json(st.count, st.bytes);
  j["records_by_type"] = std::move(types);
  json pages = json::object();
  for (unsigned t = 0; t < libxc::kPageTypeCount; ++t)
    if (s.pages_by_type[t]) pages[std::string(libxc::page_type_name(t))] = s.pages_by_type[t];
  j["pages_by_type"] = std::move(pages);
  j["pfn_entries"] = s.pfn_entries;
  j["data_pages"] = s.data_pages;
  if (s.pfn_entries) j["pfn_range"] = {hex(s.pfn_min), hex(s.pfn_max)};
  j["records"] = s.records;
  j["checkpoints"] = s.checkpoints;
  j["static_data_end"] = {{"inferred", s.static_data_end_inferred}, {"record_index", s.static_data_end_index}};
  j["ended"] = s.ended;
  j["start_offset"] = s.start_offset;
  j["end_offset"] = s.end_offset;
  return j;
}

// One walk over any of the three layouts.
class Walker {
 public:
  Walker(ByteSource& src, const InspectOptions& opts, json& doc) : src_(src), opts_(opts), doc_(doc) {
    if (opts_.list_records) doc_["records"] = json::array();
  }

  Expected<void> xl() {
    doc_["format"] = "xl";
    TERN_TRY_ASSIGN(xl::Header h, xl::read_header(src_));
    json j = {{"mandatory_flags", h.mandatory_flags},
              {"json_config", h.json()},
              {"stream_v2", h.stream_v2()},
              {"optional_flags", h.optional_flags},
              {"optional_data_len", h.optional_data_len},
              {"config_bytes", h.config.size()},
              {"extra_optional_bytes", h.extra_optional_bytes},
              {"payload_offset", h.payload_offset}};
    if (h.json()) j["config"] = json::parse(h.config, nullptr, false);
    else if (h.has_config) j["config_text"] = h.config;
    doc_["xl_header"] = std::move(j);
    return h.stream_v2() ? libxl() : libxc();
  }

  Expected<void> libxl() {
    if (!doc_.contains("format")) doc_["format"] = "libxl";
    libxl::StreamReader r(src_, libxc::ReaderOptions{.skip_page_payloads = true});
    std::uint64_t off = src_.offset();
    TERN_TRY_ASSIGN(libxl::Header h, r.read_header());
    doc_["libxl_header"] = {{"offset", off}, {"version", h.version}, {"options", h.options},
                            {"legacy", h.legacy()}, {"endianness", "little"}};
    while (!r.done()) {
      auto ev = r.next();
      if (!ev) {
        finish_libxl(r);
        return std::unexpected(ev.error());
      }
      switch (ev->kind) {
        case libxl::StreamEvent::Kind::libxl_record: {
          auto& st = libxl_stats_[ev->libxl.raw.type];
          ++st.first;
          st.second += stream::kRecordHeaderSize + ev->libxl.raw.length + stream::record_padding(ev->libxl.raw.length);
          if (opts_.list_records) doc_["records"].push_back(libxl_record_json(ev->libxl));
          break;
        }
        case libxl::StreamEvent::Kind::libxc_header:
          collector_.emplace();
          collector_->on_header(ev->libxc_header, ev->libxc_offset);
          doc_["libxc_header"] = libxc_header_json(ev->libxc_header, ev->libxc_offset);
          break;
        case libxl::StreamEvent::Kind::libxc_event:
          on_libxc_event(ev->libxc);
          break;
      }
    }
    finish_libxl(r);
    return r.expect_end_of_input();
  }

  Expected<void> libxc() {
    if (!doc_.contains("format")) doc_["format"] = "libxc";
    libxc::Reader r(src_, libxc::ReaderOptions{.skip_page_payloads = true});
    std::uint64_t off = src_.offset();
    TERN_TRY_ASSIGN(libxc::StreamHeader h, r.read_header());
    collector_.emplace();
    collector_->on_header(h, off);
    doc_["libxc_header"] = libxc_header_json(h, off);
    while (!r.ended()) {
      auto ev = r.next();
      if (!ev) {
        finish_libxc();
        return std::unexpected(ev.error());
      }
      on_libxc_event(*ev);
    }
    finish_libxc();
    return r.expect_end_of_input();
  }

 private:
  void on_libxc_event(const libxc::Event& e) {
    collector_->on_event(e, src_.offset());
    if (opts_.list_records) doc_["records"].push_back(libxc_event_json(e));
  }
  void finish_libxc() {
    if (collector_) doc_["libxc_summary"] = libxc_summary_json(collector_->summary());
    doc_["end_offset"] = src_.offset();
  }
  void finish_libxl(const libxl::StreamReader& r) {
    json types = json::object();
    for (const auto& [t, st] : libxl_stats_) types[libxl::type_name(t)] = stat_json(st.first, st.second);
    doc_["libxl_summary"] = {{"records_by_type", std::move(types)}, {"checkpoints", r.libxl().checkpoints()}};
    finish_libxc();
  }

  ByteSource& src_;
  const InspectOptions& opts_;
  json& doc_;
  std::optional<libxc::SummaryCollector> collector_;
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> libxl_stats_;
};

std::string one_line(const json& doc) {
  std::string s = fmt::format("valid {} image", doc.value("format", "?"));
  if (doc.contains("libxl_header")) s += ", libxl v2";
  if (doc.contains("libxc_header")) {
    const auto& h = doc["libxc_header"];
    s += fmt::format(", libxc v{} {}", h["version"].get<int>(), h["domain_type"].get<std::string>());
  }
  if (doc.contains("libxc_summary")) {
    const auto& x = doc["libxc_summary"];
    s += fmt::format(", {} records, {} pages ({} with data), {} checkpoints", x["records"].get<std::uint64_t>(),
                     x["pfn_entries"].get<std::uint64_t>(), x["data_pages"].get<std::uint64_t>(),
                     x["checkpoints"].get<std::uint64_t>());
    if (x["static_data_end"]["inferred"].get<bool>()) s += ", STATIC_DATA_END inferred";
  }
  s += fmt::format(", {} bytes", doc.value("end_offset", std::uint64_t{0}));
  return s;
}

Expected<std::string> verify_with(ByteSource& src, Expected<void> (Walker::*walk)()) {
  json doc;
  InspectOptions opts;
  Walker w(src, opts, doc);
  TERN_TRY((w.*walk)());
  return one_line(doc);
}

}  // namespace

Expected<void> inspect_xl(ByteSource& src, const InspectOptions& o, json& doc) { return Walker(src, o, doc).xl(); }
Expected<void> inspect_libxl(ByteSource& src, const InspectOptions& o, json& doc) {
  return Walker(src, o, doc).libxl();
}
Expected<void> inspect_libxc(ByteSource& src, const InspectOptions& o, json& doc) {
  return Walker(src, o, doc).libxc();
}
Expected<std::string> verify_xl(ByteSource& src) { return verify_with(src, &Walker::xl); }
Expected<std::string> verify_libxl(ByteSource& src) { return verify_with(src, &Walker::libxl); }
Expected<std::string> verify_libxc(ByteSource& src) { return verify_with(src, &Walker::libxc); }

std::string render_stream_text(const json& doc) {
  std::string out;
  auto line = [&](std::string s) {
    out += s;
    out += '\n';
  };
  line(fmt::format("format: {}", doc.value("format", "?")));
  if (doc.contains("xl_header")) {
    const auto& h = doc["xl_header"];
    line(fmt::format("xl header: mandatory flags {:#x} ({}{}), optional flags {:#x}, config {} bytes{}, "
                     "stream at offset {}",
                     h["mandatory_flags"].get<std::uint32_t>(), h["json_config"].get<bool>() ? "JSON " : "",
                     h["stream_v2"].get<bool>() ? "STREAMv2" : "legacy libxc stream",
                     h["optional_flags"].get<std::uint32_t>(), h["config_bytes"].get<std::uint64_t>(),
                     h["json_config"].get<bool>() ? " (JSON)" : "", h["payload_offset"].get<std::uint64_t>()));
  }
  if (doc.contains("libxl_header")) {
    const auto& h = doc["libxl_header"];
    line(fmt::format("libxl header: version {}, options {:#x} (little-endian{})", h["version"].get<int>(),
                     h["options"].get<std::uint32_t>(), h["legacy"].get<bool>() ? ", legacy-converted" : ""));
  }
  if (doc.contains("libxc_header")) {
    const auto& h = doc["libxc_header"];
    line(fmt::format("libxc stream at offset {}: version {}, {}, page shift {}, from Xen {}",
                     h["offset"].get<std::uint64_t>(), h["version"].get<int>(), h["domain_type"].get<std::string>(),
                     h["page_shift"].get<int>(), h["xen_version"].get<std::string>()));
  }
  auto table = [&](const char* title, const json& types) {
    line(fmt::format("{}:", title));
    line(fmt::format("  {:<28} {:>10} {:>16}", "type", "count", "bytes"));
    for (const auto& [name, st] : types.items())
      line(fmt::format("  {:<28} {:>10} {:>16}", name, st["count"].get<std::uint64_t>(),
                       st["bytes"].get<std::uint64_t>()));
  };
  if (doc.contains("libxl_summary")) {
    table("libxl records", doc["libxl_summary"]["records_by_type"]);
    line(fmt::format("libxl checkpoints: {}", doc["libxl_summary"]["checkpoints"].get<std::uint64_t>()));
  }
  if (doc.contains("libxc_summary")) {
    const auto& s = doc["libxc_summary"];
    table("libxc records", s["records_by_type"]);
    std::string pages;
    for (const auto& [name, n] : s["pages_by_type"].items())
      pages += fmt::format("{}{} {}", pages.empty() ? "" : ", ", name, n.get<std::uint64_t>());
    line(fmt::format("pages by type: {}", pages.empty() ? "none" : pages));
    if (s.contains("pfn_range"))
      line(fmt::format("pfn range: {}-{} ({} entries, {} with data)", s["pfn_range"][0].get<std::string>(),
                       s["pfn_range"][1].get<std::string>(), s["pfn_entries"].get<std::uint64_t>(),
                       s["data_pages"].get<std::uint64_t>()));
    line(fmt::format("checkpoints: {}", s["checkpoints"].get<std::uint64_t>()));
    const auto& sde = s["static_data_end"];
    line(fmt::format("STATIC_DATA_END: {} record #{}",
                     sde["inferred"].get<bool>() ? "inferred (v2) before" : "at",
                     sde["record_index"].get<std::uint64_t>()));
    line(fmt::format("libxc END: {}", s["ended"].get<bool>() ? "yes" : "not reached"));
  }
  if (doc.contains("end_offset")) line(fmt::format("bytes read: {}", doc["end_offset"].get<std::uint64_t>()));
  return out;
}

}  // namespace tern::cli
