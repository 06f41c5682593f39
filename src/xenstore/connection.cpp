#include "xenstore/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace tern::xs {

long SocketTransport::read_some(char* buf, std::size_t len) {
  return ::recv(fd_.get(), buf, len, MSG_DONTWAIT);
}

long SocketTransport::write_some(const char* buf, std::size_t len) {
  return ::send(fd_.get(), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace tern::xs
