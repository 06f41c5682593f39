#include "migrate/prefault.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "vm/host_ram.hpp"

namespace tern::migrate {

Prefaulter::Prefaulter(vm::Domain& d, std::uint64_t end_pfn, std::uint64_t lead_window)
    : d_(d),
      end_(end_pfn),
      window_(lead_window),
      // (round 0 starts at the lowest frame: look ahead from there at once)
      ahead_end_(std::min(lead_window, end_pfn)),
      thread_([this] { run(); }) {}

void Prefaulter::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t Prefaulter::position() const {
  std::lock_guard lock(mu_);
  return pos_;
}

std::uint64_t Prefaulter::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

void Prefaulter::lead(std::span<const Run> data, std::uint64_t settled) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;  // (nobody would take the runs off the queue)
    // What lies below this record's data the receiver has written already
    // (or left zero): a thread that fell behind skips to it.
    if (!data.empty()) floor_ = std::max(floor_, data.front().first);
    runs_.insert(runs_.end(), data.begin(), data.end());
    // Look ahead past dense data only: past a record of scattered data the
    // window would touch the zero frames between, and giving each back is a
    // madvise() call of the receiver's.
    if (!data.empty() && data.size() <= kDenseRuns)
      ahead_end_ = std::max(ahead_end_, std::min(data.back().end + window_, end_));
    settled_ = std::max(settled_, settled);
  }
  cv_.notify_one();
}

Prefaulter::Run Prefaulter::next_step() const {
  if (window_ == 0) return {pos_, pos_ + std::min(kStepPages, end_ - pos_)};
  if (!runs_.empty()) {
    const std::uint64_t pfn = std::max(pos_, runs_.front().first);
    return {pfn, pfn + std::min(kStepPages, runs_.front().end - pfn)};
  }
  const std::uint64_t pfn = std::max(pos_, settled_);
  return {pfn, pfn + std::min(kStepPages, ahead_end_ - std::min(pfn, ahead_end_))};
}

std::byte* Prefaulter::contiguous(std::uint64_t pfn, std::uint64_t n) const {
  std::byte* first = d_.page(pfn);
  if (first == nullptr || d_.page(pfn + n - 1) != first + (n - 1) * vm::kPageSize) return nullptr;
  return first;
}

void Prefaulter::run() {
  std::unique_lock lock(mu_);
  run_locked(lock);
  finished_ = true;
  runs_.clear();
}

void Prefaulter::run_locked(std::unique_lock<std::mutex>& lock) {
  while (!stop_) {
    pos_ = std::max(pos_, floor_);
    while (!runs_.empty() && runs_.front().end <= pos_) runs_.pop_front();
    const Run step = next_step();
    if (step.end <= step.first) {
      if (window_ == 0 || pos_ >= end_) return;
      cv_.wait(lock);  // until lead() or stop()
      continue;
    }
    pos_ = step.first;  // (frames below: touched, or passed over)
    lock.unlock();
    const std::uint64_t n = step.end - step.first;
    int e = 0;
    std::byte* host = contiguous(step.first, n);
    if (host != nullptr) e = vm::populate_writable(host, n * vm::kPageSize);
    lock.lock();
    if (host != nullptr && e == 0) bytes_ += n * vm::kPageSize;
    // EINVAL: the kernel does not know the advice (before 5.14), the copies
    // fault everything in; other errors (e.g. ENOMEM) leave the step to them.
    if (e == EINVAL) return;
    pos_ = step.end;
  }
}

void Prefaulter::release(std::uint64_t first, std::uint64_t end) {
  // Zero frames follow the data before them, and the thread looks at most
  // window_ frames past announced data: only [first, first + window_) can
  // have been touched (so a hole of a TiB costs nothing to walk).
  end = std::min({end, first + window_, position()});
  if (first >= end) return;
  auto drop = [this](std::byte* host, std::uint64_t n) {
    if (::madvise(host, n * vm::kPageSize, MADV_DONTNEED) == 0) released_ += n * vm::kPageSize;
  };
  if (std::byte* host = contiguous(first, end - first); host != nullptr) {
    drop(host, end - first);  // (the usual case: one call)
    return;
  }
  for (std::uint64_t pfn = first; pfn < end;) {  // across a slot edge: piece by piece
    const std::uint64_t n = std::min(kStepPages - pfn % kStepPages, end - pfn);
    if (std::byte* host = contiguous(pfn, n); host != nullptr) drop(host, n);
    pfn += n;
  }
}

}  // namespace tern::migrate
