// The xenstore ring page (misc/xenstore-ring.txt): two 1024-byte circular
// byte queues, requests to the server and responses to the guest, each with a
// free-running consumer and producer offset, plus the server feature bitmap,
// the connection state and the connection error indicator. Used by both ends:
// the daemon's RingTransport and the guest side in ring_client.hpp.
//
// The page is shared with a peer that may be hostile: every index is read
// once, checked, and never trusted to stay put; data is copied out before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tern::xs::ring {

inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t kQueueSize = 1024;

// Byte offsets in the page.
inline constexpr std::size_t kReqData = 0;
inline constexpr std::size_t kRspData = 1024;
inline constexpr std::size_t kReqCons = 2048;
inline constexpr std::size_t kReqProd = 2052;
inline constexpr std::size_t kRspCons = 2056;
inline constexpr std::size_t kRspProd = 2060;
inline constexpr std::size_t kServerFeatures = 2064;
inline constexpr std::size_t kConnection = 2068;
inline constexpr std::size_t kError = 2072;

// Server feature bits.
inline constexpr std::uint32_t kFeatureReconnection = 1;  // the connection state field works
inline constexpr std::uint32_t kFeatureError = 2;         // the connection error indicator works

// Connection state values.
inline constexpr std::uint32_t kConnected = 0;
inline constexpr std::uint32_t kReconnecting = 1;

// A 32-bit field of the shared page, accessed atomically (the peer runs
// concurrently in another process). The compiler builtins, not
// std::atomic_ref, which the fuzzers' libc++ lacks.
class Field {
 public:
  Field(unsigned char* page, std::size_t offset)
      : p_(reinterpret_cast<std::uint32_t*>(page + offset)) {}
  [[nodiscard]] std::uint32_t load() const { return __atomic_load_n(p_, __ATOMIC_ACQUIRE); }
  void store(std::uint32_t v) { __atomic_store_n(p_, v, __ATOMIC_RELEASE); }

 private:
  std::uint32_t* p_;
};

// One direction of the page. The producer side calls put(), the consumer
// side get(); both return the number of bytes moved, or nullopt when the
// indexes are inconsistent (more than kQueueSize bytes apart).
class Queue {
 public:
  Queue(unsigned char* page, std::size_t data, std::size_t cons, std::size_t prod)
      : data_(page + data), cons_(page, cons), prod_(page, prod) {}

  std::optional<std::size_t> put(const char* src, std::size_t len);
  std::optional<std::size_t> get(char* dst, std::size_t len);
  // Bytes waiting to be consumed (nullopt if inconsistent).
  [[nodiscard]] std::optional<std::size_t> pending() const;
  // Both indexes to zero (ring reconnection).
  void reset() {
    cons_.store(0);
    prod_.store(0);
  }

 private:
  unsigned char* data_;
  Field cons_;
  Field prod_;
};

inline Queue requests(unsigned char* page) { return Queue(page, kReqData, kReqCons, kReqProd); }
inline Queue responses(unsigned char* page) { return Queue(page, kRspData, kRspCons, kRspProd); }

}  // namespace tern::xs::ring
