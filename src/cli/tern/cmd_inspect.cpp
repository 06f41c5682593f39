// tern inspect [--format F] [--json] FILE|-
#include <cstdio>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/image_io.hpp"

namespace tern::cli {

namespace {

struct InspectArgs {
  std::string format = "auto";
  bool json = false;
  std::string path;
};

int run_inspect(const InspectArgs& a) {
  auto img = open_image(a.path, a.format);
  if (!img) {
    // --json callers get a document even when the image is unrecognised.
    if (a.json) fmt::print("{}\n", nlohmann::json{{"error", img.error().message()}}.dump(2));
    fmt::print(stderr, "tern inspect: {}\n", img.error().message());
    return exit_code_for(img.error());
  }
  nlohmann::json doc;
  InspectOptions opts{.list_records = a.json};
  auto ok = img->format->inspect(*img->source, opts, doc);
  if (!ok) doc["error"] = ok.error().message();
  if (a.json) {
    fmt::print("{}\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("{}", img->format->render_text(doc));
  }
  if (!ok) {
    fmt::print(stderr, "tern inspect: {}: {}\n", img->input.name(), ok.error().message());
    return exit_code_for(ok.error());
  }
  return kExitOk;
}

}  // namespace

void add_inspect(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "describe an image: headers, records by type, pages, checkpoints");
  cmd->add_option("--format", a->format, "image format: " + format_choices())->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON: every record (offset, type, length, fields) plus the summary");
  cmd->add_option("file", a->path, "image file, or - for stdin")->required();
  cmd->callback([a, &ctx] { ctx.exit_code = run_inspect(*a); });
}

}  // namespace tern::cli
