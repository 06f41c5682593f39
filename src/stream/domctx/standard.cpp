#include "stream/domctx/standard.hpp"

#include <array>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stream/domctx/records_kvm.hpp"
#include "stream/domctx/records_xen.hpp"

namespace tern::stream::domctx {
namespace {

struct Entry {
  TypeRules rules;
  Expected<nlohmann::json> (*fields)(Bytes);
};

template <TypeCode C>
Expected<nlohmann::json> fields_of(Bytes body) {
  TERN_TRY_ASSIGN(auto v, Codec<C>::decode(body));
  return Codec<C>::fields(v);
}

template <TypeCode C>
void add(std::array<std::optional<Entry>, kMaxTypecode + 1>& table) {
  const TypeCodeInfo* info = find_typecode(code(C));
  TypeRules rules{std::string(info->name), info->scope, Codec<C>::size,
                  [](Bytes b) -> Expected<void> {
                    TERN_TRY(Codec<C>::decode(b));
                    return {};
                  }};
  table[code(C)] = Entry{std::move(rules), &fields_of<C>};
}

const std::array<std::optional<Entry>, kMaxTypecode + 1>& catalogue() {
  static const auto table = [] {
    std::array<std::optional<Entry>, kMaxTypecode + 1> t;
    add<TypeCode::vcpu_regs>(t);
    add<TypeCode::vcpu_sregs>(t);
    add<TypeCode::vcpu_sregs2>(t);
    add<TypeCode::vcpu_xsave>(t);
    add<TypeCode::vcpu_xcrs>(t);
    add<TypeCode::vcpu_debugregs>(t);
    add<TypeCode::vcpu_lapic>(t);
    add<TypeCode::vcpu_events>(t);
    add<TypeCode::vcpu_mp_state>(t);
    add<TypeCode::vcpu_msrs>(t);
    add<TypeCode::vcpu_cpuid>(t);
    add<TypeCode::vcpu_tsc_khz>(t);
    add<TypeCode::pic_master>(t);
    add<TypeCode::pic_slave>(t);
    add<TypeCode::ioapic>(t);
    add<TypeCode::pit>(t);
    add<TypeCode::kvm_clock>(t);
    add<TypeCode::shared_info>(t);
    add<TypeCode::tsc_info>(t);
    return t;
  }();
  return table;
}

}  // namespace

const TypeRules* standard_rules(std::uint16_t typecode) {
  if (typecode > kMaxTypecode || !catalogue()[typecode]) return nullptr;
  return &catalogue()[typecode]->rules;
}

Expected<nlohmann::json> standard_fields(std::uint16_t typecode, Bytes body) {
  if (typecode > kMaxTypecode || !catalogue()[typecode])
    return make_error(Errc::unsupported, "typecode {} is not a standard state record type", typecode);
  return catalogue()[typecode]->fields(body);
}

std::string typecode_name(std::uint16_t typecode) {
  if (const TypeCodeInfo* t = find_typecode(typecode)) return std::string(t->name);
  return fmt::format("typecode-{}", typecode);
}

}  // namespace tern::stream::domctx
