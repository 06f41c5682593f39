#include "migrate/save.hpp"

namespace tern::migrate {

using Clock = std::chrono::steady_clock;

namespace {
Expected<SaveStats> write_image(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                const SaveOptions& opts) {
  SaveStats st;
  StreamSender sender(d, sink, opts.sender);
  TERN_TRY(sender.begin(config));
  TERN_TRY_ASSIGN(st.pages, sender.send_all());
  const auto t0 = Clock::now();
  TERN_TRY_ASSIGN(auto state, d.save_state());
  st.state = Clock::now() - t0;
  TERN_TRY(sender.finish(state));
  if (opts.before_resume) TERN_TRY(opts.before_resume());
  st.bytes = sender.bytes();
  return st;
}
}  // namespace

Expected<SaveStats> save_domain(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                const SaveOptions& opts) {
  const auto t0 = Clock::now();
  const bool was_running = d.state() == vm::RunState::running;
  if (was_running)
    TERN_TRY(d.pause());
  else if (d.state() != vm::RunState::paused)
    return make_error(Errc::usage, "save: the domain is {}, not running or paused",
                      vm::run_state_name(d.state()));
  const auto paused_at = Clock::now();
  auto st = write_image(d, config, sink, opts);
  if (!st) {
    if (was_running) (void)d.resume();  // the guest keeps running after a failed save
    return st;
  }
  if (opts.then == AfterSave::resume && was_running) TERN_TRY(d.resume());
  const auto end = Clock::now();
  st->paused = end - paused_at;
  st->total = end - t0;
  return st;
}

}  // namespace tern::migrate
