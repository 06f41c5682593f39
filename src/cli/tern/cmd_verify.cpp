// tern verify [--format F] FILE|-   exit 0 valid, 1 invalid, 2 usage/I/O error
#include <cstdio>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/image_io.hpp"

namespace tern::cli {

namespace {

struct VerifyArgs {
  std::string format = "auto";
  bool quiet = false;
  std::string path;
};

int run_verify(const VerifyArgs& a) {
  auto img = open_image(a.path, a.format);
  if (!img) {
    fmt::print(stderr, "tern verify: {}\n", img.error().message());
    return exit_code_for(img.error());
  }
  auto ok = img->format->verify(*img->source);
  if (!ok) {
    int rc = exit_code_for(ok.error());
    fmt::print(stderr, "tern verify: {}: {}: {}\n", img->input.name(), rc == kExitInvalid ? "INVALID" : "error",
               ok.error().message());
    return rc;
  }
  if (!a.quiet) fmt::print("{}: {}\n", img->input.name(), *ok);
  return kExitOk;
}

}  // namespace

void add_verify(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "strictly validate an image (exit 0 valid, 1 invalid, 2 usage/I/O error)");
  cmd->add_option("--format", a->format, "image format: " + format_choices())->capture_default_str();
  cmd->add_flag("-q,--quiet", a->quiet, "print nothing when the image is valid");
  cmd->add_option("file", a->path, "image file, or - for stdin")->required();
  cmd->callback([a, &ctx] { ctx.exit_code = run_verify(*a); });
}

}  // namespace tern::cli
