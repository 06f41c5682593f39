// tern synth: writes a deterministic synthetic stream (libxc's generator,
// wrapped in libxl / an xl image as asked) for demos, tests and benchmarks.
#include <cstdio>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/image_io.hpp"
#include "stream/xl/synthetic.hpp"

namespace tern::cli {

namespace {

struct SynthArgs {
  std::string type = "hvm";
  int version = 3;
  std::string format = "libxc";
  std::uint64_t pages = 256;
  std::string size;
  std::uint32_t batch = 1024;
  std::uint32_t checkpoints = 0;
  bool errata = false;
  bool xen_order = false;
  bool xenstore_data = false;
  std::string out;
};

// "1G", "512M", "64K", "4096" -> bytes.
Expected<std::uint64_t> parse_size(const std::string& s) {
  if (s.empty()) return make_error(Errc::usage, "empty size");
  std::size_t pos = 0;
  std::uint64_t v = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return make_error(Errc::usage, "size \"{}\" is too large", s);
    v = v * 10 + static_cast<std::uint64_t>(s[pos++] - '0');
  }
  std::string unit = s.substr(pos);
  unsigned shift = 0;
  if (unit == "" || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else if (unit == "T" || unit == "TiB") shift = 40;
  else return make_error(Errc::usage, "size \"{}\": unit must be K, M, G or T", s);
  if (pos == 0 || v > (UINT64_MAX >> shift)) return make_error(Errc::usage, "bad size \"{}\"", s);
  return v << shift;
}

Expected<void> synth(const SynthArgs& a) {
  stream::libxl::SyntheticOptions o;
  o.libxc.domain_type = a.type == "pv" ? stream::libxc::DomainType::x86_pv : stream::libxc::DomainType::x86_hvm;
  o.libxc.version = static_cast<std::uint32_t>(a.version);
  o.libxc.pages = a.pages;
  if (!a.size.empty()) {
    TERN_TRY_ASSIGN(std::uint64_t bytes, parse_size(a.size));
    o.libxc.pages = bytes / stream::libxc::kX86PageSize;
  }
  if (o.libxc.pages == 0) return make_error(Errc::usage, "the stream needs at least one page");
  o.libxc.batch = a.batch;
  o.libxc.checkpoints = a.checkpoints;
  o.libxc.errata = a.errata;
  o.libxc.xen_order = a.xen_order;
  o.xenstore_data = a.xenstore_data;
  TERN_TRY_ASSIGN(OutputTarget out, OutputTarget::open(a.out));
  Expected<void> done = a.format == "xl"      ? stream::xl::write_synthetic(out.sink(), o)
                        : a.format == "libxl" ? stream::libxl::write_synthetic(out.sink(), o)
                                              : stream::libxc::write_synthetic(out.sink(), o.libxc);
  TERN_TRY(done);
  return out.commit();
}

}  // namespace

void add_synth(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<SynthArgs>();
  auto* cmd = app.add_subcommand("synth", "write a synthetic stream (demo, tests, benchmarks)");
  cmd->add_option("--type", a->type, "guest type")->check(CLI::IsMember({"hvm", "pv"}))->capture_default_str();
  cmd->add_option("--version", a->version, "libxc stream version")->check(CLI::IsMember({2, 3}))->capture_default_str();
  cmd->add_option("--format", a->format, "container")->check(CLI::IsMember({"libxc", "libxl", "xl"}))->capture_default_str();
  auto* pages = cmd->add_option("--pages", a->pages, "guest pages")->capture_default_str();
  cmd->add_option("--size", a->size, "guest memory size (e.g. 1G, 512M) instead of --pages")->excludes(pages);
  cmd->add_option("--batch", a->batch, "pages per PAGE_DATA record")->check(CLI::Range(1u, 65536u))->capture_default_str();
  cmd->add_option("--checkpoints", a->checkpoints, "checkpoints after the first round")->capture_default_str();
  cmd->add_flag("--errata", a->errata, "add the zero-content records Xen's errata allow");
  cmd->add_flag("--xen-order", a->xen_order, "HVM: HVM_CONTEXT before HVM_PARAMS, as Xen's saver writes");
  cmd->add_flag("--xenstore-data", a->xenstore_data, "libxl/xl HVM: add an EMULATOR_XENSTORE_DATA record");
  cmd->add_option("out", a->out, "output file (written atomically), device, or - for stdout")->required();
  cmd->callback([a, &ctx] {
    auto ok = synth(*a);
    if (!ok) {
      fmt::print(stderr, "tern synth: {}\n", ok.error().message());
      ctx.exit_code = exit_code_for(ok.error()) == kExitInvalid ? kExitUsage : exit_code_for(ok.error());
    }
  });
}

}  // namespace tern::cli
