// Opening images for the tools: an input with its format (named or
// detected from the first bytes), an output written atomically (or a device
// such as /dev/null written directly), and the exit status for an error.
#pragma once

#include <memory>
#include <string>

#include "cli/tern/formats.hpp"
#include "cli/tern/peek_source.hpp"
#include "core/byte_sink.hpp"
#include "io/fd_sink.hpp"
#include "io/input.hpp"

namespace tern::cli {

struct OpenedImage {
  io::InputFile input;
  std::unique_ptr<PeekSource> peek;  // only for unmapped inputs (pipes, stdin)
  ByteSource* source = nullptr;
  const ImageFormat* format = nullptr;
};

// `format_name` is "auto" or a name from the format table.
[[nodiscard]] Expected<OpenedImage> open_image(const std::string& path, const std::string& format_name);

// Regular files (and new paths) go through io::OutputFile (atomic: a failed
// write leaves no file that looks complete); "-" is stdout; an existing
// non-regular file (character device, fifo) is written directly.
class OutputTarget {
 public:
  static Expected<OutputTarget> open(const std::string& path);
  ByteSink& sink();
  Expected<void> commit();

 private:
  std::unique_ptr<io::OutputFile> file_;
  UniqueFd fd_;
  std::unique_ptr<io::FdSink> direct_;
};

// 1 for input that breaks a rule (invalid, truncated, unsupported), 2 for
// usage and I/O errors.
[[nodiscard]] int exit_code_for(const Error& e);

}  // namespace tern::cli
