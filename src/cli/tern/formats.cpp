#include "cli/tern/formats.hpp"

#include "cli/tern/state_formats.hpp"
#include "cli/tern/stream_report.hpp"

namespace tern::cli {

namespace {

// Order matters for detection only when signatures overlap (they do not).
const ImageFormat kFormats[] = {
    {"xl", "xl save image (xl header + config + libxl stream)", detect_xl, inspect_xl, render_stream_text,
     verify_xl},
    {"libxl", "libxl migration stream v2 (with its embedded libxc stream)", detect_libxl, inspect_libxl,
     render_stream_text, verify_libxl},
    {"libxc", "libxc migration stream v2/v3", detect_libxc, inspect_libxc, render_stream_text, verify_libxc},
    {"domctx", "domain-context blob (seed 000: typed per-instance domain state)", detect_domctx, inspect_domctx,
     render_domctx_text, verify_domctx},
    {"xenstore", "xenstore migration / live-update image v1/v2", detect_xenstore, inspect_xenstore,
     render_xenstore_text, verify_xenstore},
};

}  // namespace

std::span<const ImageFormat> image_formats() { return kFormats; }

const ImageFormat* find_format(std::string_view name) {
  for (const auto& f : kFormats)
    if (f.name == name) return &f;
  return nullptr;
}

const ImageFormat* detect_format(Bytes head) {
  for (const auto& f : kFormats)
    if (f.detect(head)) return &f;
  return nullptr;
}

std::string format_choices() {
  std::string s = "auto";
  for (const auto& f : kFormats) {
    s += '|';
    s += f.name;
  }
  return s;
}

}  // namespace tern::cli
