#include "cli/tern/control_server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "io/unix_socket.hpp"

namespace tern::cli {

namespace {
Expected<void> write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("control socket write", errno);
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}
}  // namespace

Expected<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path) {
  TERN_TRY_ASSIGN(auto fd, io::listen_unix(path));
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(fd), path));
}

ControlServer::~ControlServer() {
  clients_.clear();
  listen_.reset();
  ::unlink(path_.c_str());
}

Expected<void> ControlServer::poll(std::chrono::milliseconds timeout, const Handler& handle) {
  std::vector<pollfd> fds{{listen_.get(), POLLIN, 0}};
  std::vector<Client*> polled;
  for (auto& c : clients_)
    if (c->fd && !c->busy) {
      fds.push_back({c->fd.get(), POLLIN, 0});
      polled.push_back(c.get());
    }
  const int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (n < 0) return errno == EINTR ? Expected<void>{} : errno_error("poll", errno);
  ++depth_;
  for (std::size_t i = 0; i < polled.size(); ++i) {
    if ((fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    Client& c = *polled[i];
    char buf[4096];
    const ssize_t got = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (got <= 0) {
      c.fd.reset();
      continue;
    }
    c.buffer.append(buf, static_cast<std::size_t>(got));
    serve_lines(c, handle);
  }
  --depth_;
  if ((fds[0].revents & POLLIN) != 0 && clients_.size() < kMaxClients) {
    auto c = io::accept_connection(listen_.get());
    if (c) clients_.push_back(std::make_unique<Client>(Client{std::move(*c), {}, false}));
  }
  if (depth_ == 0)  // only the outermost call may drop clients (inner ones hold pointers)
    std::erase_if(clients_, [](const auto& c) { return !c->fd; });
  return {};
}

void ControlServer::serve_lines(Client& c, const Handler& handle) {
  std::size_t nl;
  while (c.fd && (nl = c.buffer.find('\n')) != std::string::npos) {
    const std::string line = c.buffer.substr(0, nl);
    c.buffer.erase(0, nl + 1);
    nlohmann::json answer;
    auto req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
      answer = {{"ok", false}, {"error", "a request is one JSON object with a string \"cmd\""}};
    } else {
      c.busy = true;
      const Emit emit = [&c](const nlohmann::json& ev) {
        if (c.fd && !write_all(c.fd.get(), ev.dump() + "\n")) c.fd.reset();
      };
      answer = handle(req, emit);
      c.busy = false;
    }
    if (c.fd && !write_all(c.fd.get(), answer.dump() + "\n")) c.fd.reset();
  }
  if (c.fd && c.buffer.size() > kMaxLine) {
    (void)write_all(c.fd.get(), R"({"ok":false,"error":"request line too long"})"
                                "\n");
    c.fd.reset();
  }
}

Expected<nlohmann::json> control_request(const std::string& path, const nlohmann::json& request,
                                         std::chrono::milliseconds timeout) {
  auto fd = io::connect_unix(path);
  if (!fd) return std::unexpected(fd.error().context("control socket"));
  TERN_TRY(write_all(fd->get(), request.dump() + "\n"));
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Errc::io, "control socket {}: no answer within {} ms", path,
                        timeout.count());
    pollfd p{fd->get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("poll", errno);
    if (n == 0) continue;
    char buf[4096];
    const ssize_t got = ::recv(fd->get(), buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_error("control socket read", errno);
    if (got == 0) return make_error(Errc::io, "control socket {}: closed without an answer", path);
    line.append(buf, static_cast<std::size_t>(got));
  }
  line.resize(line.find('\n'));
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::invalid, "control socket {}: answer is not a JSON object", path);
  return j;
}

}  // namespace tern::cli
