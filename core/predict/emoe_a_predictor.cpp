#include "core/predict/emoe_a_predictor.h"

#include <cmath>
#include <random>

namespace emoe::predict {

namespace {
// 2^28 floats (1 GiB): far above what the shapes of real MoE models need with a local span.
constexpr size_t kMaxParameters = size_t{1} << 28;
}  // namespace

EmoeAPredictor::EmoeAPredictor(PredictorOptions options) : Predictor(std::move(options)) {
  reset();
}

size_t EmoeAPredictor::parameter_count(const PredictorOptions& o) {
  const HistoryShape& s = o.shape;
  size_t total = 0;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const int32_t span = o.layer_span < 0 ? s.n_layer - 1 : o.layer_span;
    const size_t layers =
        static_cast<size_t>(std::min(s.n_layer - 1, l + span) - std::max(0, l - span) + 1);
    const size_t features =
        static_cast<size_t>(o.window + 1) * layers * static_cast<size_t>(s.n_expert) +
        static_cast<size_t>(o.max_tasks);
    total += (features + 1) * static_cast<size_t>(s.n_expert);
  }
  return total;
}

Status EmoeAPredictor::check_size(const PredictorOptions& o) {
  const size_t n = parameter_count(o);
  if (n > kMaxParameters) {
    return invalid_argument("emoe-a: " + std::to_string(o.shape.n_layer) + " layers x " +
                            std::to_string(o.shape.n_expert) + " experts with window " +
                            std::to_string(o.window) + " and layer span " +
                            std::to_string(o.layer_span) + " needs " + std::to_string(n) +
                            " parameters (limit " + std::to_string(kMaxParameters) +
                            "); use a smaller layer span or window");
  }
  return Status::ok();
}

int32_t EmoeAPredictor::span_lo(int32_t layer) const {
  return options_.layer_span < 0 ? 0 : std::max(0, layer - options_.layer_span);
}

int32_t EmoeAPredictor::span_hi(int32_t layer) const {
  const int32_t last = shape().n_layer - 1;
  return options_.layer_span < 0 ? last : std::min(last, layer + options_.layer_span);
}

void EmoeAPredictor::reset() {
  const HistoryShape& s = shape();
  heads_.clear();
  heads_.reserve(static_cast<size_t>(s.n_layer));
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const int32_t layers = span_hi(l) - span_lo(l) + 1;
    heads_.emplace_back((options_.window + 1) * layers * s.n_expert + options_.max_tasks, 1,
                        s.n_expert);
  }
  tasks_.clear();
  recent_.clear();
  last_of_task_.clear();
  head_seen_.assign(static_cast<size_t>(s.n_layer), 0);
  steps_ = 0;
  probs_.assign(static_cast<size_t>(s.n_expert), 0.0f);
  target_buf_.assign(static_cast<size_t>(s.n_expert), 0.0f);
}

int32_t EmoeAPredictor::task_slot(const std::string& task, bool assign) {
  auto it = tasks_.find(task);
  if (it != tasks_.end()) return it->second;
  if (!assign || static_cast<int32_t>(tasks_.size()) >= options_.max_tasks) return -1;
  const int32_t slot = static_cast<int32_t>(tasks_.size());
  tasks_.emplace(task, slot);
  return slot;
}

void EmoeAPredictor::features(int32_t layer, const Inputs& in,
                              std::vector<SparseFeature>& out) const {
  const HistoryShape& s = shape();
  const int32_t lo = span_lo(layer), hi = span_hi(layer), layers = hi - lo + 1;
  const int32_t n_blocks = options_.window + 1;
  out.clear();
  const float v = 1.0f / std::sqrt(static_cast<float>(n_blocks) * static_cast<float>(layers) *
                                   static_cast<float>(s.k));
  for (int32_t b = 0; b < n_blocks && b < static_cast<int32_t>(in.blocks.size()); ++b) {
    const ExpertSequence* seq = in.blocks[static_cast<size_t>(b)];
    if (seq == nullptr) continue;
    for (int32_t l = lo; l <= hi; ++l) {
      const int32_t base = (b * layers + l - lo) * s.n_expert;
      for (const int32_t e : (*seq)[static_cast<size_t>(l)]) out.push_back({base + e, v});
    }
  }
  if (in.task_slot >= 0) out.push_back({n_blocks * layers * s.n_expert + in.task_slot, 1.0f});
}

void EmoeAPredictor::learn(const Inputs& in, const PromptRecord& record, float lr) {
  const HistoryShape& s = shape();
  const uint8_t on = 1;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    if (!record.layer_used(s.phase, l)) continue;  // no tokens: no target for this head
    if (options_.target == PredictionTarget::Frequency) {
      record.frequency(s.phase, l, target_buf_);
    } else {
      std::fill(target_buf_.begin(), target_buf_.end(), 0.0f);
      const std::vector<int32_t> set = record.expert_set(s.phase, l, s.k);
      for (const int32_t e : set) {
        target_buf_[static_cast<size_t>(e)] = 1.0f / static_cast<float>(set.size());
      }
    }
    features(l, in, x_);
    SoftmaxModel& m = heads_[static_cast<size_t>(l)];
    m.forward(x_, probs_);
    m.sgd_step(x_, probs_, target_buf_, std::span<const uint8_t>(&on, 1), lr);
    head_seen_[static_cast<size_t>(l)] = 1;
  }
  ++steps_;
}

Status EmoeAPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  reset();
  const size_t n = history.size();
  const size_t window = static_cast<size_t>(options_.window);
  std::vector<ExpertSequence> seqs(n);
  for (size_t i = 0; i < n; ++i) seqs[i] = expert_sequence(history.at(i), shape());
  // Task slots in first-seen order, so the model does not depend on the sample shuffle.
  std::vector<int32_t> slots(n);
  for (size_t i = 0; i < n; ++i) slots[i] = task_slot(history.at(i).task, true);
  // same[i]: the last prompt before i with i's task (n when there is none).
  std::vector<size_t> same(n, n);
  std::map<std::string, size_t> last_index;
  for (size_t i = 0; i < n; ++i) {
    auto [it, fresh] = last_index.try_emplace(history.at(i).task, i);
    if (!fresh) {
      same[i] = it->second;
      it->second = i;
    }
  }

  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(options_.seed);
  Inputs in;
  in.blocks.resize(window + 1);
  for (int32_t epoch = 0; epoch < options_.epochs; ++epoch) {
    // Fisher-Yates by hand: std::shuffle's use of the engine differs between libraries.
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    for (const size_t i : order) {
      for (size_t w = 0; w < window; ++w) in.blocks[w] = i > w ? &seqs[i - 1 - w] : nullptr;
      in.blocks[window] = same[i] < n ? &seqs[same[i]] : nullptr;
      in.task_slot = slots[i];
      learn(in, history.at(i), decayed_rate(options_.learning_rate, steps_, options_.decay_steps));
    }
  }
  for (const auto& [task, i] : last_index) {
    if (static_cast<int32_t>(last_of_task_.size()) < options_.max_tasks) {
      last_of_task_[task] = seqs[i];
    }
  }
  for (size_t i = n > window ? n - window : 0; i < n; ++i) recent_.push_back(std::move(seqs[i]));
  return Status::ok();
}

Status EmoeAPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  const size_t window = static_cast<size_t>(options_.window);
  Inputs in;
  in.blocks.assign(window + 1, nullptr);
  size_t w = 0;
  for (auto it = recent_.rbegin(); it != recent_.rend() && w < window; ++it) in.blocks[w++] = &*it;
  auto same = last_of_task_.find(record.task);
  in.blocks[window] = same == last_of_task_.end() ? nullptr : &same->second;
  in.task_slot = task_slot(record.task, true);
  const float lr =
      options_.online_rate * decayed_rate(options_.learning_rate, steps_, options_.decay_steps);
  if (lr > 0) learn(in, record, lr);
  ExpertSequence seq = expert_sequence(record, shape());
  // Bounded like the task slots: a stream of one-off task names must not grow this forever.
  if (same != last_of_task_.end()) {
    same->second = seq;
  } else if (static_cast<int32_t>(last_of_task_.size()) < options_.max_tasks) {
    last_of_task_.emplace(record.task, seq);
  }
  recent_.push_back(std::move(seq));
  if (recent_.size() > window) recent_.pop_front();
  return Status::ok();
}

ExpertPrediction EmoeAPredictor::predict(const RoutingHistory& history, const std::string& task) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || steps_ == 0) return p;
  const size_t window = static_cast<size_t>(options_.window);
  std::vector<ExpertSequence> seqs(window + 1);
  Inputs in;
  in.blocks.assign(window + 1, nullptr);
  for (size_t w = 0; w < window && w < history.size(); ++w) {
    seqs[w] = expert_sequence(history.at(history.size() - 1 - w), shape());
    in.blocks[w] = &seqs[w];
  }
  // The last earlier prompt of the asked task, searched newest first.
  for (size_t i = history.size(); i > 0; --i) {
    if (history.at(i - 1).task == task) {
      seqs[window] = expert_sequence(history.at(i - 1), shape());
      in.blocks[window] = &seqs[window];
      break;
    }
  }
  in.task_slot = task_slot(task, false);
  for (int32_t l = 0; l < shape().n_layer; ++l) {
    if (!head_seen_[static_cast<size_t>(l)]) continue;  // never routed: stays unknown
    features(l, in, x_);
    heads_[static_cast<size_t>(l)].forward(x_, p.row(l));
  }
  return p;
}

}  // namespace emoe::predict
