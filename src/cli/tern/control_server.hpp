// The VMM's control socket: a unix socket speaking JSON lines. Each request
// is one JSON object on one line ({"cmd": "status"}); each answer is one
// JSON object on one line ({"ok": true, ...} or {"ok": false, "error": "..."}).
// Poll-driven, so the VMM's one control thread serves requests between
// checks of the guest (the Domain interface wants one controlling thread).
// Several clients may be connected; a long request (a migration) can emit
// event lines before its answer, and can call poll() itself to serve the
// other clients meanwhile (e.g. a cancel): the busy client is skipped.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::cli {

class ControlServer {
 public:
  // Writes one event line to the client whose request is being handled.
  using Emit = std::function<void(const nlohmann::json& event)>;
  using Handler = std::function<nlohmann::json(const nlohmann::json& request, const Emit& emit)>;

  static Expected<std::unique_ptr<ControlServer>> listen(const std::string& path);
  ~ControlServer();  // closes and unlinks the socket

  // Waits up to `timeout` for activity and serves every complete request
  // line that has arrived. Returns early (without error) on EINTR.
  Expected<void> poll(std::chrono::milliseconds timeout, const Handler& handle);

 private:
  struct Client {
    UniqueFd fd;
    std::string buffer;
    bool busy = false;  // its request is being handled (possibly in an outer poll)
  };
  ControlServer(UniqueFd fd, std::string path) : listen_(std::move(fd)), path_(std::move(path)) {}
  void serve_lines(Client& c, const Handler& handle);
  static constexpr std::size_t kMaxLine = std::size_t{64} * 1024;
  static constexpr std::size_t kMaxClients = 16;
  UniqueFd listen_;
  std::vector<std::unique_ptr<Client>> clients_;
  unsigned depth_ = 0;  // nested poll() calls
  std::string path_;
};

// One request/response exchange with a control socket (for `tern save` and
// friends). Errors name the socket.
Expected<nlohmann::json> control_request(const std::string& path, const nlohmann::json& request,
                                         std::chrono::milliseconds timeout);

}  // namespace tern::cli
