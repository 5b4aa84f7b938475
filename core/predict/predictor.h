// The expert predictor interface (DESIGN.md section 5): from the routing history and the next
// prompt's task, a per-layer frequency over all experts for that prompt. eMoE-A, eMoE-L and
// the baselines implement it; the planner and the periodic invoker only see this interface.
// Predictors are not thread-safe: one owner (the engine thread or an experiment) calls them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/predict/expert_prediction.h"
#include "core/predict/routing_history.h"

namespace emoe::predict {

// What the learned predictors (emoe-a, emoe-l) fit each layer's softmax to.
enum class PredictionTarget {
  Frequency = 0,  // the prompt's normalised histogram: f as Eq. 2 uses it
  Set = 1,        // uniform over the prompt's top-k set: aims at the set metrics
};

struct PredictorOptions {
  HistoryShape shape;
  uint64_t seed = 42;  // everything random (shuffles, the random baseline) derives from it

  // frequency: weight of the newest prompt in the per-task exponential moving average.
  double ema_alpha = 0.3;

  // emoe-a / emoe-l (softmax regression trained with SGD).
  PredictionTarget target = PredictionTarget::Frequency;
  int32_t window = 1;          // emoe-a: previous prompts W whose expert sets are features
  int32_t layer_span = 1;      // emoe-a: layer l's head sees layers l +- span (-1: all)
  int32_t epochs = 8;          // passes over the history in train()
  float learning_rate = 0.5f;  // initial SGD step; decays as 1 / (1 + step / decay_steps)
  int32_t decay_steps = 2000;  // SGD steps after which the step has halved
  float online_rate = 0.5f;    // observe() steps use this fraction of the decayed rate
  int32_t max_tasks = 32;      // task one-hot slots; later tasks share "unknown"

  // activation-matrix (MoE-Infinity style).
  int32_t neighbours = 1;       // most similar stored matrices averaged (1 = the best match)
  int32_t max_matrices = 4096;  // request matrices kept, oldest dropped

  Status validate() const;
};

class Predictor {
 public:
  explicit Predictor(PredictorOptions options) : options_(std::move(options)) {}
  virtual ~Predictor() = default;
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  virtual std::string name() const = 0;

  // Offline: forgets what was learned and learns from the whole history (oldest first).
  virtual Status train(const RoutingHistory& history) = 0;
  // Online: one finished prompt, in arrival order, after train() or from scratch.
  virtual Status observe(const PromptRecord& record) = 0;
  // The next prompt's per-layer frequency [n_layer][n_expert]. `history` holds the prompts
  // before it (newest last); `task` is the next prompt's task. Rows are all zero where the
  // predictor knows nothing (e.g. before any training); a history of another shape (a
  // programmer error) gets an all-zero prediction.
  virtual ExpertPrediction predict(const RoutingHistory& history, const std::string& task) = 0;

  // Only the oracle uses this: the true record of the prompt about to be predicted. Every
  // other predictor ignores it, so evaluation loops may call it for all predictors.
  virtual void reveal_future(const PromptRecord& /*record*/) {}

  const PredictorOptions& options() const { return options_; }
  const HistoryShape& shape() const { return options_.shape; }

 protected:
  Status check_history(const RoutingHistory& history) const;
  Status check_record(const PromptRecord& record) const;
  ExpertPrediction unknown() const {
    return ExpertPrediction::unknown(options_.shape.n_layer, options_.shape.n_expert);
  }

  PredictorOptions options_;
};

// Names: "emoe-a", "emoe-l", "frequency", "markov", "popularity", "activation-matrix",
// "random", "oracle".
const std::vector<std::string>& predictor_names();
Result<std::unique_ptr<Predictor>> make_predictor(std::string_view name,
                                                  const PredictorOptions& options);

}  // namespace emoe::predict
