#include "ui/telemetry_buffer.h"

#include <algorithm>
#include <utility>

namespace emoe::ui {
namespace {

// Rings are vectors trimmed lazily: once one holds twice its capacity, the oldest entries
// beyond capacity are erased in one move (O(1) amortised per push); drain() trims exactly.
template <typename T>
size_t trim(std::vector<T>& v, size_t capacity) {
  if (v.size() <= capacity) return 0;
  const size_t n = v.size() - capacity;
  v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
  return n;
}

template <typename T>
size_t push_ring(std::vector<T>& v, T value, size_t capacity) {
  v.push_back(std::move(value));
  return v.size() >= 2 * std::max<size_t>(capacity, 1) ? trim(v, capacity) : 0;
}

}  // namespace

TelemetryBuffer::TelemetryBuffer(TelemetryCapacity capacity) : capacity_(capacity) {}

void TelemetryBuffer::push_token(TokenTelemetry token) {
  std::lock_guard lock(mu_);
  pending_.dropped_tokens +=
      static_cast<int64_t>(push_ring(pending_.tokens, std::move(token), capacity_.tokens));
}

void TelemetryBuffer::add_counts(int64_t request_id, const std::string& task, int32_t n_layer,
                                 int32_t n_expert, const LayerTrace& layer) {
  if (n_layer <= 0 || n_expert <= 0 || layer.layer < 0 || layer.layer >= n_layer) return;
  const size_t cells = static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert);
  std::lock_guard lock(mu_);
  // Deltas of one request are merged; the newest entry is almost always the one.
  auto it = std::find_if(
      pending_.counts.rbegin(), pending_.counts.rend(),
      [&](const CountDelta& d) { return d.request_id == request_id && d.used.size() == cells; });
  CountDelta* d = nullptr;
  if (it != pending_.counts.rend()) {
    d = &*it;
  } else {
    CountDelta fresh;
    fresh.request_id = request_id;
    fresh.task = task;
    fresh.used.assign(cells, 0);
    fresh.router.assign(cells, 0);
    pending_.counts.push_back(std::move(fresh));
    d = &pending_.counts.back();
  }
  const size_t row = static_cast<size_t>(layer.layer) * static_cast<size_t>(n_expert);
  for (int32_t e : layer.used_experts) {
    if (e >= 0 && e < n_expert) ++d->used[row + static_cast<size_t>(e)];
  }
  for (int32_t e : layer.router_experts) {
    if (e >= 0 && e < n_expert) ++d->router[row + static_cast<size_t>(e)];
  }
}

void TelemetryBuffer::push_memory(const MemoryPoint& point) {
  std::lock_guard lock(mu_);
  push_ring(pending_.memory, point, capacity_.memory);
}

void TelemetryBuffer::push_event(const ExpertEventPoint& event) {
  std::lock_guard lock(mu_);
  push_ring(pending_.events, event, capacity_.events);
}

void TelemetryBuffer::push_step(const StepStats& step) {
  std::lock_guard lock(mu_);
  push_ring(pending_.steps, step, capacity_.steps);
}

void TelemetryBuffer::push_finished(RequestStats stats) {
  std::lock_guard lock(mu_);
  pending_.finished.push_back(std::move(stats));
}

void TelemetryBuffer::push_prediction(PredictionStats stats) {
  std::lock_guard lock(mu_);
  pending_.predictions.push_back(std::move(stats));
}

void TelemetryBuffer::set_residency(std::vector<uint8_t> resident) {
  std::lock_guard lock(mu_);
  pending_.residency = std::move(resident);
}

TelemetryBatch TelemetryBuffer::drain() {
  TelemetryBatch out;
  {
    std::lock_guard lock(mu_);
    std::swap(out, pending_);
  }
  // Trimming the swapped-out batch happens outside the lock, so the producer never waits on it.
  out.dropped_tokens += static_cast<int64_t>(trim(out.tokens, capacity_.tokens));
  trim(out.memory, capacity_.memory);
  trim(out.events, capacity_.events);
  trim(out.steps, capacity_.steps);
  return out;
}

void TelemetryBuffer::reset() {
  std::lock_guard lock(mu_);
  pending_ = TelemetryBatch{};
}

}  // namespace emoe::ui
