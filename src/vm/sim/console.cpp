#include "vm/sim/console.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tern::vm::sim {

Expected<std::unique_ptr<Console>> Console::open(const std::string& path, bool truncate) {
  if (path.empty()) return std::unique_ptr<Console>(new Console(UniqueFd(), STDOUT_FILENO));
  if (path == "-") return std::unique_ptr<Console>(new Console(UniqueFd(), -1));
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND | (truncate ? O_TRUNC : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd) return errno_error(fmt::format("console {}", path), errno);
  const int raw = fd.get();
  return std::unique_ptr<Console>(new Console(std::move(fd), raw));
}

void Console::write(std::string_view text) {
  std::lock_guard lk(mu_);
  kept_.append(text);
  if (kept_.size() > kKeep) kept_.erase(0, kept_.size() - kKeep);
  if (out_ < 0) return;
  while (!text.empty()) {
    const ssize_t n = ::write(out_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a console that cannot be written must not stop the guest
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string Console::text() const {
  std::lock_guard lk(mu_);
  return kept_;
}

}  // namespace tern::vm::sim
