#include "core/error.hpp"

#include <cstring>

namespace tern {

std::unexpected<Error> errno_error(std::string_view what, int err) {
  return std::unexpected(Error(Errc::io, fmt::format("{}: {}", what, std::strerror(err))));
}

}  // namespace tern
