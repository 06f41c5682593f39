#include "stream/xenstore/image_format.hpp"

#include <fmt/format.h>

#include "stream/xenstore/records.hpp"

namespace tern::stream::xenstore {

std::string record_type_name(std::uint32_t type) {
  switch (type) {
    case 0: return "END";
    case 1: return "GLOBAL_DATA";
    case 2: return "CONNECTION_DATA";
    case 3: return "WATCH_DATA";
    case 4: return "TRANSACTION_DATA";
    case 5: return "NODE_DATA";
    case 6: return "GLOBAL_QUOTA_DATA";
    case 7: return "DOMAIN_DATA";
    case 8: return "WATCH_DATA_EXTENDED";
    case static_cast<std::uint32_t>(RecordType::tern_data): return "TERN_DATA";
    default: return fmt::format("unknown type 0x{:08x}", type);
  }
}

std::uint32_t record_min_version(std::uint32_t type) {
  if (type < static_cast<std::uint32_t>(RecordType::watch_data_extended)) return kVersion1;
  if (type == static_cast<std::uint32_t>(RecordType::watch_data_extended)) return kVersion2;
  if (type == static_cast<std::uint32_t>(RecordType::tern_data)) return kVersion2;
  return 0;
}

RecordType record_type_of(const RecordBody& body) {
  struct V {
    RecordType operator()(const EndRecord&) const { return RecordType::end; }
    RecordType operator()(const GlobalData&) const { return RecordType::global_data; }
    RecordType operator()(const ConnectionData&) const { return RecordType::connection_data; }
    RecordType operator()(const WatchData& w) const {
      return w.depth ? RecordType::watch_data_extended : RecordType::watch_data;
    }
    RecordType operator()(const TransactionData&) const { return RecordType::transaction_data; }
    RecordType operator()(const NodeData&) const { return RecordType::node_data; }
    RecordType operator()(const GlobalQuotaData&) const { return RecordType::global_quota_data; }
    RecordType operator()(const DomainData&) const { return RecordType::domain_data; }
    RecordType operator()(const TernConnectionData&) const { return RecordType::tern_data; }
    RecordType operator()(const TernDomainData&) const { return RecordType::tern_data; }
    RecordType operator()(const TernTransactionData&) const { return RecordType::tern_data; }
    RecordType operator()(const TernRingData&) const { return RecordType::tern_data; }
  };
  return std::visit(V{}, body);
}

}  // namespace tern::stream::xenstore
