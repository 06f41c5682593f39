#include "vm/kvm/console.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tern::vm::kvm {

Expected<Console> Console::open(const std::string& spec) {
  Console c;
  if (spec == "-") {
    c.discard_ = true;
  } else if (!spec.empty()) {
    c.fd_.reset(::open(spec.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!c.fd_) return errno_error(fmt::format("opening the console file {}", spec), errno);
  }
  return c;
}

void Console::put(char c) {
  std::lock_guard lk(mu_);
  if (discard_) return;
  line_.push_back(c);
  if (c == '\n' || line_.size() >= 4096) flush_locked();
}

void Console::flush() {
  std::lock_guard lk(mu_);
  flush_locked();
}

void Console::flush_locked() {
  const int fd = fd_ ? fd_.get() : STDOUT_FILENO;
  std::size_t done = 0;
  while (done < line_.size()) {
    const ssize_t n = ::write(fd, line_.data() + done, line_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // console output is best effort: a full disk must not stop the guest
    done += static_cast<std::size_t>(n);
  }
  line_.clear();
}

}  // namespace tern::vm::kvm
