#include "stream/domctx/registry.hpp"

#include "stream/domctx/standard.hpp"

namespace tern::stream::domctx {

Expected<void> RecordWriter::begin() {
  if (begun_ > 0)
    return make_error(Errc::internal, "domctx save handler for typecode {} instance {} began a second record",
                      typecode_, instance_);
  ++begun_;
  return blob_.begin(typecode_, instance_, 0);
}

Expected<void> Registry::add(RecordType t) {
  const std::uint16_t tc = t.typecode;
  if (tc < kFirstStateTypecode || tc > kMaxTypecode)
    return make_error(Errc::usage, "domctx registry: typecode {} ('{}') is out of range {}..{}", tc, t.rules.name,
                      kFirstStateTypecode, kMaxTypecode);
  if (types_[tc])
    return make_error(Errc::usage, "domctx registry: typecode {} ('{}') is already registered as '{}'", tc,
                      t.rules.name, types_[tc]->rules.name);
  if (t.rules.name.empty()) return make_error(Errc::usage, "domctx registry: typecode {} has no name", tc);
  if (t.rules.size.min > t.rules.size.max)
    return make_error(Errc::usage, "domctx registry: typecode {} ('{}'): minimum body size {} exceeds maximum {}",
                      tc, t.rules.name, t.rules.size.min, t.rules.size.max);
  if (!t.save || !t.load)
    return make_error(Errc::usage, "domctx registry: typecode {} ('{}') lacks a {} handler", tc, t.rules.name,
                      t.save ? "load" : "save");
  types_[tc] = std::move(t);
  return {};
}

Expected<void> Registry::add_standard(TypeCode c, SaveHandler save, LoadHandler load) {
  const TypeRules* rules = standard_rules(code(c));
  if (!rules || code(c) < kFirstStateTypecode)
    return make_error(Errc::usage, "domctx registry: typecode {} is not a standard state record type", code(c));
  return add(RecordType{code(c), *rules, std::move(save), std::move(load)});
}

const RecordType* Registry::find(std::uint16_t typecode) const {
  if (typecode > kMaxTypecode || !types_[typecode]) return nullptr;
  return &*types_[typecode];
}

std::vector<const RecordType*> Registry::types() const {
  std::vector<const RecordType*> out;
  for (const auto& t : types_)
    if (t) out.push_back(&*t);
  return out;
}

}  // namespace tern::stream::domctx
