#include "stream/domctx/save.hpp"

namespace tern::stream::domctx {
namespace {

Expected<void> save_one(const RecordType& t, BlobWriter& w, std::uint16_t instance) {
  RecordWriter rw(w, t.typecode, instance);
  if (auto r = t.save(rw); !r)
    return std::unexpected(r.error().context(fmt::format("domctx: saving {} instance {}", t.rules.name, instance)));
  if (w.record_open())
    return make_error(Errc::internal, "domctx: save handler for {} instance {} returned with its record open",
                      t.rules.name, instance);
  return w.status();
}

}  // namespace

Expected<void> save(const Registry& reg, const DomainShape& dom, BlobWriter& w, ProducerVersion v) {
  if (dom.vcpu_count > kMaxVcpus)
    return make_error(Errc::usage, "domctx: {} vCPUs exceed the format's limit of {}", dom.vcpu_count, kMaxVcpus);
  TERN_TRY(w.write_header(v.major, v.minor));
  for (const RecordType* t : reg.types()) {
    if (t->rules.scope == Scope::global) {
      TERN_TRY(save_one(*t, w, 0));
    } else {
      for (std::uint32_t vcpu = 0; vcpu < dom.vcpu_count; ++vcpu)
        TERN_TRY(save_one(*t, w, static_cast<std::uint16_t>(vcpu)));
    }
  }
  return w.write_end();
}

Expected<std::vector<std::byte>> save_blob(const Registry& reg, const DomainShape& dom, ProducerVersion v) {
  std::vector<std::byte> out;
  BlobWriter w(out);
  TERN_TRY(save(reg, dom, w, v));
  return out;
}

Expected<void> save_into(const Registry& reg, const DomainShape& dom, std::vector<std::byte>& out,
                         ProducerVersion v) {
  out.clear();
  BlobWriter w(out);
  return save(reg, dom, w, v);
}

Expected<std::uint64_t> save_size(const Registry& reg, const DomainShape& dom, ProducerVersion v) {
  BlobWriter w = BlobWriter::dry_run();
  TERN_TRY(save(reg, dom, w, v));
  return w.size();
}

}  // namespace tern::stream::domctx
