#include "core/predict/routing_history.h"

#include "core/predict/expert_prediction.h"

namespace emoe::predict {

namespace {
// Bounds that keep a corrupt trace from asking for absurd allocations; far above real models
// (the largest known MoE models have ~100 layers and a few hundred experts per layer).
constexpr int32_t kMaxLayers = 4096;
constexpr int32_t kMaxExperts = 65536;
}  // namespace

const char* phase_name(HistogramPhase phase) {
  switch (phase) {
    case HistogramPhase::All:
      return "all";
    case HistogramPhase::Prefill:
      return "prefill";
    case HistogramPhase::Decode:
      return "decode";
  }
  return "?";
}

Status HistoryShape::validate() const {
  if (n_layer <= 0 || n_layer > kMaxLayers) {
    return invalid_argument("routing history: n_layer " + std::to_string(n_layer) +
                            " is outside 1.." + std::to_string(kMaxLayers));
  }
  if (n_expert <= 0 || n_expert > kMaxExperts) {
    return invalid_argument("routing history: n_expert " + std::to_string(n_expert) +
                            " is outside 1.." + std::to_string(kMaxExperts));
  }
  if (k <= 0 || k > n_expert) {
    return invalid_argument("routing history: k (experts per token) " + std::to_string(k) +
                            " is outside 1..n_expert=" + std::to_string(n_expert));
  }
  if (cells() > (size_t{1} << 24)) {
    return invalid_argument("routing history: " + std::to_string(n_layer) + " layers x " +
                            std::to_string(n_expert) + " experts is too large");
  }
  return Status::ok();
}

Result<PromptRecord> PromptRecord::from_counts(int64_t request_id, std::string task,
                                               int32_t n_layer, int32_t n_expert,
                                               std::vector<uint32_t> prefill,
                                               std::vector<uint32_t> decode, int64_t prefill_tokens,
                                               int64_t decode_tokens) {
  const std::string where = "routing record of request " + std::to_string(request_id);
  if (n_layer <= 0 || n_layer > kMaxLayers || n_expert <= 0 || n_expert > kMaxExperts) {
    return invalid_argument(where + ": shape " + std::to_string(n_layer) + " layers x " +
                            std::to_string(n_expert) + " experts is out of range");
  }
  const size_t cells = static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert);
  // An empty phase histogram means "no tokens in that phase" (e.g. a prefill-only trace).
  if (prefill.empty()) prefill.assign(cells, 0);
  if (decode.empty()) decode.assign(cells, 0);
  if (prefill.size() != cells || decode.size() != cells) {
    return invalid_argument(where + ": expected " + std::to_string(cells) + " counts (" +
                            std::to_string(n_layer) + " layers x " + std::to_string(n_expert) +
                            " experts) per phase, got " + std::to_string(prefill.size()) +
                            " prefill and " + std::to_string(decode.size()) + " decode");
  }
  if (prefill_tokens < 0 || decode_tokens < 0) {
    return invalid_argument(where + ": negative token count");
  }
  PromptRecord r;
  r.request_id = request_id;
  r.task = std::move(task);
  r.n_layer = n_layer;
  r.n_expert = n_expert;
  r.prefill = std::move(prefill);
  r.decode = std::move(decode);
  r.prefill_tokens = prefill_tokens;
  r.decode_tokens = decode_tokens;
  return r;
}

PromptRecord PromptRecord::empty(int64_t request_id, std::string task, int32_t n_layer,
                                 int32_t n_expert) {
  PromptRecord r;
  r.request_id = request_id;
  r.task = std::move(task);
  r.n_layer = n_layer;
  r.n_expert = n_expert;
  const size_t cells =
      static_cast<size_t>(std::max(n_layer, 0)) * static_cast<size_t>(std::max(n_expert, 0));
  r.prefill.assign(cells, 0);
  r.decode.assign(cells, 0);
  return r;
}

Status PromptRecord::check(const HistoryShape& shape) const {
  const size_t cells = shape.cells();
  if (n_layer != shape.n_layer || n_expert != shape.n_expert || prefill.size() != cells ||
      decode.size() != cells) {
    return invalid_argument("routing record of request " + std::to_string(request_id) +
                            " has shape " + std::to_string(n_layer) + " layers x " +
                            std::to_string(n_expert) + " experts, the history expects " +
                            std::to_string(shape.n_layer) + " x " + std::to_string(shape.n_expert));
  }
  return Status::ok();
}

uint32_t PromptRecord::count(HistogramPhase phase, int32_t layer, int32_t expert) const {
  const size_t i =
      static_cast<size_t>(layer) * static_cast<size_t>(n_expert) + static_cast<size_t>(expert);
  switch (phase) {
    case HistogramPhase::Prefill:
      return prefill[i];
    case HistogramPhase::Decode:
      return decode[i];
    case HistogramPhase::All:
      break;
  }
  return prefill[i] + decode[i];
}

std::vector<uint32_t> PromptRecord::histogram(HistogramPhase phase, int32_t layer) const {
  std::vector<uint32_t> h(static_cast<size_t>(n_expert));
  for (int32_t e = 0; e < n_expert; ++e) h[static_cast<size_t>(e)] = count(phase, layer, e);
  return h;
}

std::vector<int32_t> PromptRecord::expert_set(HistogramPhase phase, int32_t layer,
                                              int32_t k) const {
  const std::vector<uint32_t> h = histogram(phase, layer);
  return top_experts(std::span<const uint32_t>(h), k);
}

void PromptRecord::frequency(HistogramPhase phase, int32_t layer, std::span<float> out) const {
  const std::vector<uint32_t> h = histogram(phase, layer);
  normalize_into(std::span<const uint32_t>(h), out);
}

bool PromptRecord::layer_used(HistogramPhase phase, int32_t layer) const {
  for (int32_t e = 0; e < n_expert; ++e) {
    if (count(phase, layer, e) > 0) return true;
  }
  return false;
}

ExpertSequence expert_sequence(const PromptRecord& record, const HistoryShape& shape) {
  ExpertSequence seq(static_cast<size_t>(shape.n_layer));
  for (int32_t l = 0; l < shape.n_layer; ++l) {
    seq[static_cast<size_t>(l)] = record.expert_set(shape.phase, l, shape.k);
  }
  return seq;
}

Result<RoutingHistory> RoutingHistory::create(HistoryShape shape, size_t capacity) {
  EMOE_RETURN_IF_ERROR(shape.validate());
  if (capacity == 0) return invalid_argument("routing history: capacity must be at least 1");
  return RoutingHistory(shape, capacity);
}

Status RoutingHistory::add(PromptRecord record) {
  EMOE_RETURN_IF_ERROR(record.check(shape_));
  if (records_.size() == capacity_) records_.pop_front();
  records_.push_back(std::move(record));
  ++total_added_;
  return Status::ok();
}

}  // namespace emoe::predict
