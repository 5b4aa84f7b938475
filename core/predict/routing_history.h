// The routing history predictors learn from: per finished prompt (request) and MoE layer, how
// many of its tokens chose each expert, kept separately for prefill and decode because a
// prompt's expert sequence is decided before it runs and the prefill is what is known first
// (PAPER.md section 5, item 1). Records come from the engine (RoutingHistoryRecorder) or from
// counts of an imported trace (PromptRecord::from_counts).
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::predict {

// Which tokens define a prompt's expert sequence and frequency.
enum class HistogramPhase { All = 0, Prefill = 1, Decode = 2 };

const char* phase_name(HistogramPhase phase);

// The dimensions every record, prediction and predictor of one model share.
struct HistoryShape {
  int32_t n_layer = 0;   // blocks of the model (block index space; dense blocks stay empty)
  int32_t n_expert = 0;  // experts per MoE layer
  int32_t k = 0;         // experts per token (n_expert_used): the size of an expert set
  HistogramPhase phase = HistogramPhase::All;

  Status validate() const;
  size_t cells() const { return static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert); }
  bool operator==(const HistoryShape&) const = default;
};

struct PromptRecord {
  int64_t request_id = 0;
  std::string task;
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  std::vector<uint32_t> prefill;  // [n_layer][n_expert] prefill tokens that used each expert
  std::vector<uint32_t> decode;   // [n_layer][n_expert] decode tokens that used each expert
  int64_t prefill_tokens = 0;     // tokens of the prompt (input), W in Eq. 2
  int64_t decode_tokens = 0;      // generated tokens

  // Validates sizes (imported traces are not trusted); token totals may be 0 when unknown.
  static Result<PromptRecord> from_counts(int64_t request_id, std::string task, int32_t n_layer,
                                          int32_t n_expert, std::vector<uint32_t> prefill,
                                          std::vector<uint32_t> decode, int64_t prefill_tokens = 0,
                                          int64_t decode_tokens = 0);
  static PromptRecord empty(int64_t request_id, std::string task, int32_t n_layer,
                            int32_t n_expert);

  // Matches the shape's layer and expert counts and holds both histograms in full.
  Status check(const HistoryShape& shape) const;

  uint32_t count(HistogramPhase phase, int32_t layer, int32_t expert) const;
  // [n_expert] counts of one layer for the phase.
  std::vector<uint32_t> histogram(HistogramPhase phase, int32_t layer) const;
  // Top-k experts of a layer by the histogram (ties: lower id); shorter when fewer were used.
  std::vector<int32_t> expert_set(HistogramPhase phase, int32_t layer, int32_t k) const;
  // The histogram of a layer scaled to sum 1 (zeros when the layer saw no tokens).
  void frequency(HistogramPhase phase, int32_t layer, std::span<float> out) const;
  bool layer_used(HistogramPhase phase, int32_t layer) const;
};

// A prompt's expert sequence: for each layer the expert set, [n_layer][<= k].
using ExpertSequence = std::vector<std::vector<int32_t>>;
ExpertSequence expert_sequence(const PromptRecord& record, const HistoryShape& shape);

// The most recent prompts in arrival order, bounded so that a long session does not grow
// without limit; the oldest record is dropped when full.
class RoutingHistory {
 public:
  static Result<RoutingHistory> create(HistoryShape shape, size_t capacity);

  const HistoryShape& shape() const { return shape_; }
  size_t capacity() const { return capacity_; }
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  // 0 is the oldest record kept.
  const PromptRecord& at(size_t i) const { return records_[i]; }
  const PromptRecord& back() const { return records_.back(); }
  // Records ever added, including the ones dropped for capacity.
  int64_t total_added() const { return total_added_; }

  Status add(PromptRecord record);
  void clear() { records_.clear(); }

 private:
  RoutingHistory(HistoryShape shape, size_t capacity) : shape_(shape), capacity_(capacity) {}
  HistoryShape shape_;
  size_t capacity_ = 0;
  std::deque<PromptRecord> records_;
  int64_t total_added_ = 0;
};

}  // namespace emoe::predict
