#include "xenstore/quota.hpp"

#include <charconv>

#include <fmt/format.h>

namespace tern::xs {

namespace {
struct Entry {
  std::string_view name;
  std::uint64_t Quotas::*field;
  std::string_view help;
};
constexpr Entry kEntries[] = {
    {"nodes", &Quotas::nodes, "Nodes per domain"},
    {"watches", &Quotas::watches, "Watches per domain"},
    {"transactions", &Quotas::transactions, "Transactions per domain"},
    {"outstanding", &Quotas::outstanding, "Outstanding requests per domain"},
    {"transaction-nodes", &Quotas::transaction_nodes, "Max. number of accessed nodes per transaction"},
    {"memory", &Quotas::memory, "Total Xenstore memory per domain (error level)"},
    {"node-size", &Quotas::node_size, "Max. size of a node"},
    {"path-max", &Quotas::path_max, "Max. length of a node path"},
    {"permissions", &Quotas::permissions, "Max. number of permissions per node"},
};
}  // namespace

const std::vector<std::string_view>& Quotas::names() {
  static const std::vector<std::string_view> v = [] {
    std::vector<std::string_view> n;
    for (const auto& e : kEntries) n.push_back(e.name);
    return n;
  }();
  return v;
}

std::optional<std::uint64_t> Quotas::get(std::string_view name) const {
  for (const auto& e : kEntries)
    if (e.name == name) return this->*e.field;
  return std::nullopt;
}

bool Quotas::set(std::string_view name, std::uint64_t value) {
  for (const auto& e : kEntries)
    if (e.name == name) {
      this->*e.field = value;
      return true;
    }
  return false;
}

bool Quotas::set_option(std::string_view assignment, bool soft) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos) return false;
  auto name = assignment.substr(0, eq);
  auto num = assignment.substr(eq + 1);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || p != num.data() + num.size()) return false;
  if (soft) {
    if (name != "memory") return false;
    memory_soft = v;
    return true;
  }
  if (name != "transaction-nodes" && name != "memory" && name != "outstanding") return false;
  return set(name, v);
}

std::string Quotas::report() const {
  std::string s = "Quota settings:\n";
  for (const auto& e : kEntries) s += fmt::format("{:<17}: {:>8} {}\n", e.name, this->*e.field, e.help);
  return s;
}

}  // namespace tern::xs
