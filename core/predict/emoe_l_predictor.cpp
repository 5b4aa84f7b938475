#include "core/predict/emoe_l_predictor.h"

#include <cmath>
#include <random>

namespace emoe::predict {

EmoeLPredictor::EmoeLPredictor(PredictorOptions options) : Predictor(std::move(options)) {
  reset();
}

void EmoeLPredictor::reset() {
  const HistoryShape& s = shape();
  models_.assign(static_cast<size_t>(s.n_layer),
                 SoftmaxModel(3 * s.n_expert + options_.max_tasks, 1, s.n_expert));
  head_seen_.assign(static_cast<size_t>(s.n_layer), 0);
  tasks_.clear();
  last_.clear();
  has_last_ = false;
  last_of_task_.clear();
  steps_ = 0;
  probs_.assign(static_cast<size_t>(s.n_expert), 0.0f);
  target_buf_.assign(static_cast<size_t>(s.n_expert), 0.0f);
}

size_t EmoeLPredictor::parameter_count() const {
  size_t n = 0;
  for (const SoftmaxModel& m : models_) n += m.parameter_count();
  return n;
}

int32_t EmoeLPredictor::task_slot(const std::string& task, bool assign) {
  auto it = tasks_.find(task);
  if (it != tasks_.end()) return it->second;
  if (!assign || static_cast<int32_t>(tasks_.size()) >= options_.max_tasks) return -1;
  const int32_t slot = static_cast<int32_t>(tasks_.size());
  tasks_.emplace(task, slot);
  return slot;
}

void EmoeLPredictor::features(const std::vector<int32_t>* below, const std::vector<int32_t>* prev,
                              const std::vector<int32_t>* same_task, int32_t task_slot,
                              std::vector<SparseFeature>& out) const {
  const int32_t n_expert = shape().n_expert;
  const float v = 1.0f / std::sqrt(static_cast<float>(shape().k));
  out.clear();
  if (below != nullptr) {
    for (const int32_t e : *below) out.push_back({e, v});
  }
  if (prev != nullptr) {
    for (const int32_t e : *prev) out.push_back({n_expert + e, v});
  }
  if (same_task != nullptr) {
    for (const int32_t e : *same_task) out.push_back({2 * n_expert + e, v});
  }
  if (task_slot >= 0) out.push_back({3 * n_expert + task_slot, 1.0f});
}

void EmoeLPredictor::learn(const ExpertSequence* prev, const ExpertSequence* same_task,
                           const ExpertSequence& seq, const PromptRecord& record, int32_t slot,
                           float lr) {
  const HistoryShape& s = shape();
  std::vector<SparseFeature> x;
  const std::vector<int32_t>* below = nullptr;
  const uint8_t on = 1;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const std::vector<int32_t>& set = seq[static_cast<size_t>(l)];
    if (set.empty()) continue;  // a dense block, or no tokens: nothing to learn here
    features(below, prev ? &(*prev)[static_cast<size_t>(l)] : nullptr,
             same_task ? &(*same_task)[static_cast<size_t>(l)] : nullptr, slot, x);
    std::fill(target_buf_.begin(), target_buf_.end(), 0.0f);
    if (options_.target == PredictionTarget::Frequency) {
      record.frequency(s.phase, l, target_buf_);
    } else {
      for (const int32_t e : set) {
        target_buf_[static_cast<size_t>(e)] = 1.0f / static_cast<float>(set.size());
      }
    }
    SoftmaxModel& m = models_[static_cast<size_t>(l)];
    m.forward(x, probs_);
    m.sgd_step(x, probs_, target_buf_, std::span<const uint8_t>(&on, 1), lr);
    head_seen_[static_cast<size_t>(l)] = 1;
    below = &set;
  }
  ++steps_;
}

Status EmoeLPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  reset();
  const size_t n = history.size();
  std::vector<ExpertSequence> seqs(n);
  for (size_t i = 0; i < n; ++i) seqs[i] = expert_sequence(history.at(i), shape());
  std::vector<int32_t> slots(n);
  for (size_t i = 0; i < n; ++i) slots[i] = task_slot(history.at(i).task, true);
  std::vector<size_t> same(n, n);  // the last prompt before i with i's task, n if none
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
  for (int32_t epoch = 0; epoch < options_.epochs; ++epoch) {
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    for (const size_t i : order) {
      learn(i > 0 ? &seqs[i - 1] : nullptr, same[i] < n ? &seqs[same[i]] : nullptr, seqs[i],
            history.at(i), slots[i],
            decayed_rate(options_.learning_rate, steps_, options_.decay_steps));
    }
  }
  for (const auto& [task, i] : last_index) {
    if (static_cast<int32_t>(last_of_task_.size()) < options_.max_tasks) {
      last_of_task_[task] = seqs[i];
    }
  }
  if (n > 0) {
    last_ = std::move(seqs[n - 1]);
    has_last_ = true;
  }
  return Status::ok();
}

Status EmoeLPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  ExpertSequence seq = expert_sequence(record, shape());
  const float lr =
      options_.online_rate * decayed_rate(options_.learning_rate, steps_, options_.decay_steps);
  auto same = last_of_task_.find(record.task);
  if (lr > 0) {
    learn(has_last_ ? &last_ : nullptr, same == last_of_task_.end() ? nullptr : &same->second, seq,
          record, task_slot(record.task, true), lr);
  }
  if (same != last_of_task_.end()) {
    same->second = seq;
  } else if (static_cast<int32_t>(last_of_task_.size()) < options_.max_tasks) {
    last_of_task_.emplace(record.task, seq);
  }
  last_ = std::move(seq);
  has_last_ = true;
  return Status::ok();
}

ExpertPrediction EmoeLPredictor::predict(const RoutingHistory& history, const std::string& task) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || steps_ == 0) return p;
  const HistoryShape& s = shape();
  ExpertSequence prev;
  if (!history.empty()) prev = expert_sequence(history.back(), s);
  ExpertSequence same;
  for (size_t i = history.size(); i > 0; --i) {
    if (history.at(i - 1).task == task) {
      same = expert_sequence(history.at(i - 1), s);
      break;
    }
  }
  const int32_t slot = task_slot(task, false);
  std::vector<SparseFeature> x;
  std::vector<int32_t> below;
  bool has_below = false;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    if (!head_seen_[static_cast<size_t>(l)]) continue;  // never routed: stays unknown
    features(has_below ? &below : nullptr, prev.empty() ? nullptr : &prev[static_cast<size_t>(l)],
             same.empty() ? nullptr : &same[static_cast<size_t>(l)], slot, x);
    models_[static_cast<size_t>(l)].forward(x, p.row(l));
    // The next layer is conditioned on this layer's predicted set, as in training.
    below = p.top(l, s.k);
    has_below = true;
  }
  return p;
}

}  // namespace emoe::predict
