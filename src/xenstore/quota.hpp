// Per-domain limits (Xen's quota names and defaults). 0 disables a check.
// Only unprivileged domains are subject to them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::xs {

struct Quotas {
  std::uint64_t nodes = 1000;              // -E nodes owned per domain
  std::uint64_t watches = 128;             // -W
  std::uint64_t transactions = 10;         // -t open transactions per domain
  std::uint64_t outstanding = 20;          // -Q outstanding: unanswered requests
  std::uint64_t transaction_nodes = 1024;  // -Q transaction-nodes: nodes accessed per transaction
  std::uint64_t memory = 2621440;          // -Q memory: bytes of nodes+watches+txns per domain
  std::uint64_t node_size = 2048;          // -S value+children bytes of one node
  std::uint64_t path_max = 2048;           // -M path length below /local/domain/<id>/
  std::uint64_t permissions = 5;           // -A entries per node
  std::uint64_t memory_soft = 2097152;     // -q memory: warn above this

  // Names as GET_QUOTA / CONTROL quota use them (memory_soft is "quota-soft memory").
  static const std::vector<std::string_view>& names();
  [[nodiscard]] std::optional<std::uint64_t> get(std::string_view name) const;
  bool set(std::string_view name, std::uint64_t value);
  // "-Q name=value" / "-q name=value" option syntax.
  bool set_option(std::string_view assignment, bool soft);
  // The text CONTROL quota prints.
  [[nodiscard]] std::string report() const;
};

}  // namespace tern::xs
