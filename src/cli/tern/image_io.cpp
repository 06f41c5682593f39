#include "cli/tern/image_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "cli/tern/commands.hpp"

namespace tern::cli {

Expected<OpenedImage> open_image(const std::string& path, const std::string& format_name) {
  const ImageFormat* named = nullptr;
  if (format_name != "auto") {
    named = find_format(format_name);
    if (!named) return make_error(Errc::usage, "unknown format \"{}\" (choose {})", format_name, format_choices());
  }
  OpenedImage img;
  TERN_TRY_ASSIGN(img.input, io::InputFile::open(path));
  Bytes head;
  if (img.input.is_mapped()) {
    img.source = &img.input.source();
    Bytes all = img.input.mapped();
    head = all.first(std::min(all.size(), kDetectBytes));
  } else {
    TERN_TRY_ASSIGN(img.peek, PeekSource::create(img.input.source(), kDetectBytes));
    img.source = img.peek.get();
    head = img.peek->head();
  }
  img.format = named ? named : detect_format(head);
  if (!img.format) {
    if (head.empty()) return make_error(Errc::truncated, "{}: input is empty", path);
    return make_error(Errc::invalid, "{}: offset 0: the first {} bytes match no known format ({})", path,
                      head.size(), format_choices());
  }
  return img;
}

Expected<OutputTarget> OutputTarget::open(const std::string& path) {
  OutputTarget t;
  struct stat st{};
  if (path != "-" && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    t.fd_.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!t.fd_) return errno_error("open " + path, errno);
    t.direct_ = std::make_unique<io::FdSink>(t.fd_.get());
    return t;
  }
  TERN_TRY_ASSIGN(auto f, io::OutputFile::open(path));
  t.file_ = std::make_unique<io::OutputFile>(std::move(f));
  return t;
}

ByteSink& OutputTarget::sink() { return direct_ ? static_cast<ByteSink&>(*direct_) : file_->sink(); }

Expected<void> OutputTarget::commit() { return direct_ ? Expected<void>{} : file_->commit(); }

int exit_code_for(const Error& e) {
  switch (e.code()) {
    case Errc::invalid:
    case Errc::truncated:
    case Errc::unsupported: return kExitInvalid;
    default: return kExitUsage;
  }
}

}  // namespace tern::cli
