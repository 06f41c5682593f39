// Writes the daemon's state as xenstore image records (version 2, plus tern's
// TERN_DATA records), piece by piece: the whole-daemon dump of a live update
// (state_dump.hpp) and the one-domain export (domain_transfer.hpp) both use it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.hpp"
#include "stream/xenstore/image_writer.hpp"
#include "xenstore/daemon.hpp"

namespace tern::xs {

namespace img = tern::stream::xenstore;

// Rewrites node paths, watch paths and domids as they are written (a domain
// exported under a new domid). Identity when the functions are empty.
struct ImageMapping {
  std::function<std::string(std::string_view)> path;
  std::function<std::uint32_t(std::uint32_t)> domid;
};

// How one connection is written.
struct ConnectionWriteOptions {
  std::uint32_t conn_id = 0;  // id in the image
  // Only whole requests and whole messages: the peer of an exported
  // connection cannot resend the rest of a request or take the rest of a
  // message that was half written to a socket of the source daemon.
  bool whole_messages_only = false;
  // Connections are written as sockets without a descriptor (-1), whatever
  // their transport: they leave this process (domain export), and the
  // descriptors do not go with them.
  bool detach_transports = false;
  // Stream offset (Connection::out_base-based) where the reply to the
  // live-update request starts in this connection's output, if it is here.
  std::optional<std::uint64_t> live_update_reply;
};

class StateWriter {
 public:
  explicit StateWriter(ByteSink& sink, ImageMapping map = {});

  Expected<void> header();
  // GLOBAL_DATA and GLOBAL_QUOTA_DATA (live update only).
  Expected<void> globals(int listen_fd, const Quotas& global);
  Expected<void> domain(const Domain& d, std::uint32_t domid_in_image);
  // CONNECTION_DATA, its TERN_DATA, watches, and its transactions
  // (TRANSACTION_DATA + TERN_DATA). Their pending nodes come later
  // (pending_nodes), after the committed nodes they may refer to.
  Expected<void> connection(const Connection& c, const ConnectionWriteOptions& o);
  Expected<void> node(std::string_view path, std::string_view value, const Perms& perms);
  Expected<void> special_node(std::string_view name, const Perms& perms);
  Expected<void> pending_nodes(const Connection& c, const ConnectionWriteOptions& o);
  Expected<void> finish();

  [[nodiscard]] std::uint64_t records() const { return w_.records_written(); }
  [[nodiscard]] std::uint64_t bytes() const { return w_.bytes_written(); }

 private:
  Expected<void> transaction(const Connection& c, std::uint32_t tx_id, const Transaction& t,
                             const ConnectionWriteOptions& o);
  [[nodiscard]] std::string path(std::string_view p) const {
    return map_.path ? map_.path(p) : std::string(p);
  }
  [[nodiscard]] std::uint32_t domid(std::uint32_t d) const {
    return map_.domid ? map_.domid(d) : d;
  }
  void image_perms(const Perms& p, std::vector<img::Perm>& out) const;

  img::ImageWriter w_;
  ImageMapping map_;
  std::vector<img::Perm> perms_;  // scratch
};

}  // namespace tern::xs
