// tern convert --to v3 IN OUT: upgrades a v2 libxc stream (bare, or inside a
// libxl stream or xl image) to v3. OUT appears only when complete.
#include <cstdio>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/image_io.hpp"
#include "stream/libxc/convert.hpp"
#include "stream/libxl/convert.hpp"
#include "stream/xl/convert.hpp"

namespace tern::cli {

namespace {

struct ConvertArgs {
  std::string to;
  std::string format = "auto";
  std::string in, out;
};

Expected<void> convert(const ConvertArgs& a) {
  TERN_TRY_ASSIGN(OpenedImage img, open_image(a.in, a.format));
  std::string_view f = img.format->name;
  if (f != "xl" && f != "libxl" && f != "libxc")
    return make_error(Errc::usage, "{}: {} images have no libxc stream to convert", a.in, f);
  TERN_TRY_ASSIGN(OutputTarget out, OutputTarget::open(a.out));
  ByteSource& src = *img.source;
  Expected<void> done = f == "xl"      ? stream::xl::convert_to_v3(src, out.sink())
                        : f == "libxl" ? stream::libxl::convert_to_v3(src, out.sink())
                                       : stream::libxc::convert_to_v3(src, out.sink());
  if (!done) return std::unexpected(done.error().context(a.in));
  return out.commit();
}

}  // namespace

void add_convert(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand("convert", "upgrade a v2 libxc stream (bare or inside libxl/xl) to v3");
  cmd->add_option("--to", a->to, "target version")->required()->check(CLI::IsMember({"v3"}));
  cmd->add_option("--format", a->format, "input format: auto|xl|libxl|libxc")->capture_default_str();
  cmd->add_option("in", a->in, "input image, or - for stdin")->required();
  cmd->add_option("out", a->out, "output file (written atomically), or - for stdout")->required();
  cmd->callback([a, &ctx] {
    auto ok = convert(*a);
    if (!ok) {
      fmt::print(stderr, "tern convert: {}\n", ok.error().message());
      ctx.exit_code = exit_code_for(ok.error());
    }
  });
}

}  // namespace tern::cli
