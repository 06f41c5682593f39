// The VMM's control socket: a unix socket speaking JSON lines. Each request
// is one JSON object on one line ({"cmd": "status"}); each answer is one
// JSON object on one line ({"ok": true, ...} or {"ok": false, "error": "..."}).
// Poll-driven, so the VMM's one control thread serves requests between
// checks of the guest (the Domain interface wants one controlling thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::cli {

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  static Expected<std::unique_ptr<ControlServer>> listen(const std::string& path);
  ~ControlServer();  // closes and unlinks the socket

  // Waits up to `timeout` for activity and serves every complete request
  // line that has arrived. Returns early (without error) on EINTR.
  Expected<void> poll(std::chrono::milliseconds timeout, const Handler& handle);

 private:
  ControlServer(UniqueFd fd, std::string path) : listen_(std::move(fd)), path_(std::move(path)) {}
  void serve_lines(const Handler& handle);
  static constexpr std::size_t kMaxLine = 64 * 1024;
  UniqueFd listen_;
  UniqueFd client_;  // one client at a time; others wait in the backlog
  std::string path_;
  std::string buffer_;
};

// One request/response exchange with a control socket (for `tern save` and
// friends). Errors name the socket.
Expected<nlohmann::json> control_request(const std::string& path, const nlohmann::json& request,
                                         std::chrono::milliseconds timeout);

}  // namespace tern::cli
