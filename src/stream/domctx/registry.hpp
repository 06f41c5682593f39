// The registry of record types a saver/loader knows: for each typecode its
// name, scope (global or per vCPU), the body sizes a loader accepts, an
// optional body validator, and the save and load handlers. Registration
// mistakes (a code used twice, a code out of range, a missing handler) are
// returned as errors at start-up, never asserted.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/typecodes.hpp"
#include "stream/domctx/writer.hpp"

namespace tern::stream::domctx {

// Body sizes a loader accepts: min..max bytes. With zero_extend, a body
// shorter than max (written by an older producer whose layout has since
// grown) is handed to the load handler zero-extended to max bytes.
struct BodySize {
  std::uint64_t min = 0;
  std::uint64_t max = 0;
  bool zero_extend = false;

  [[nodiscard]] static constexpr BodySize exactly(std::uint64_t n) { return {n, n, false}; }
  [[nodiscard]] static constexpr BodySize between(std::uint64_t lo, std::uint64_t hi) { return {lo, hi, false}; }
  // Accepts oldest..current and zero-extends to current.
  [[nodiscard]] static constexpr BodySize extendable(std::uint64_t oldest, std::uint64_t current) {
    return {oldest, current, true};
  }
};

// What a verifier needs to know about a type, with no domain at hand.
struct TypeRules {
  std::string name;
  Scope scope = Scope::global;
  BodySize size;
  // Checks internal consistency of a (size-checked, zero-extended) body,
  // e.g. that an entry count matches the length. Optional.
  std::function<Expected<void>(Bytes body)> validate;
};

// A save handler writes at most one record for its (typecode, instance):
// w.begin() -> w.append()/reserve()+commit() ... -> w.end(), or nothing at
// all when it has no state to save.
class RecordWriter {
 public:
  RecordWriter(BlobWriter& blob, std::uint16_t typecode, std::uint16_t instance)
      : blob_(blob), typecode_(typecode), instance_(instance) {}

  Expected<void> begin();
  void append(Bytes b) { blob_.append(b); }
  template <typename T>
    requires std::is_integral_v<T>
  void append_le(T v) {
    blob_.append_le(v);
  }
  MutableBytes reserve(std::size_t n) { return blob_.reserve(n); }
  void commit(std::size_t used) { blob_.commit(used); }
  Expected<void> end() { return blob_.end(); }

  [[nodiscard]] std::uint16_t typecode() const { return typecode_; }
  [[nodiscard]] std::uint16_t instance() const { return instance_; }
  [[nodiscard]] unsigned records_begun() const { return begun_; }

 private:
  BlobWriter& blob_;
  std::uint16_t typecode_;
  std::uint16_t instance_;
  unsigned begun_ = 0;
};

using SaveHandler = std::function<Expected<void>(RecordWriter& w)>;
// Called with the body (size-checked, validated, zero-extended) and the
// record's instance (the vCPU id for per-vCPU types, 0 for global ones).
using LoadHandler = std::function<Expected<void>(Bytes body, std::uint16_t instance)>;

struct RecordType {
  std::uint16_t typecode = 0;
  TypeRules rules;
  SaveHandler save;
  LoadHandler load;
};

class Registry {
 public:
  // Errors: typecode outside kFirstStateTypecode..kMaxTypecode, registered
  // twice, empty name, min > max, or missing save/load handler.
  Expected<void> add(RecordType t);

  // Registers one of the standard types of typecodes.hpp with its standard
  // rules (records_kvm.hpp, records_xen.hpp).
  Expected<void> add_standard(TypeCode code, SaveHandler save, LoadHandler load);

  [[nodiscard]] const RecordType* find(std::uint16_t typecode) const;
  // Registered types in ascending typecode order (the order save writes).
  [[nodiscard]] std::vector<const RecordType*> types() const;

 private:
  std::array<std::optional<RecordType>, kMaxTypecode + 1> types_;
};

}  // namespace tern::stream::domctx
