// The simple baselines eMoE-A/L are measured against: per-task frequency (EMA), global
// popularity, random sets (the paper's "Random" baseline, after THOR) and the oracle, which
// is handed the true future and bounds what any predictor could reach.
#pragma once

#include <map>
#include <optional>
#include <random>

#include "core/predict/predictor.h"

namespace emoe::predict {

// Token-weighted expert popularity per layer over the history (or only the prompts of one
// task): the cold-start profile when nothing better is known. Rows of layers that saw no
// tokens stay zero.
ExpertPrediction popularity_profile(const RoutingHistory& history,
                                    const std::optional<std::string>& task = std::nullopt);

// Per task, an exponential moving average of the prompts' frequencies, per layer:
//   ema <- (1 - alpha) * ema + alpha * f(prompt), started at the task's first prompt.
// Unknown tasks get the same average over all tasks.
class FrequencyPredictor : public Predictor {
 public:
  explicit FrequencyPredictor(PredictorOptions options) : Predictor(std::move(options)) {}
  std::string name() const override { return "frequency"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

 private:
  struct Ema {
    std::vector<float> values;   // [n_layer][n_expert], each known row sums to 1
    std::vector<uint8_t> known;  // [n_layer]
  };
  void update(Ema& ema, const PromptRecord& record);
  std::map<std::string, Ema> per_task_;
  Ema global_;
};

// Static global popularity: accumulated token counts per layer, no recency, no task.
class PopularityPredictor : public Predictor {
 public:
  explicit PopularityPredictor(PredictorOptions options) : Predictor(std::move(options)) {}
  std::string name() const override { return "popularity"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

 private:
  std::vector<double> counts_;  // [n_layer][n_expert] tokens
};

// k distinct experts per layer, uniformly at random, each with probability 1/k. The sequence
// of predictions depends only on the seed (train() restarts it).
class RandomPredictor : public Predictor {
 public:
  explicit RandomPredictor(PredictorOptions options)
      : Predictor(std::move(options)), rng_(options_.seed) {}
  std::string name() const override { return "random"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

 private:
  std::mt19937_64 rng_;
};

// Predicts the frequency of the record passed to reveal_future(): a perfect predictor, for
// upper bounds. It keeps that record until the next reveal, so with periodic invocation it
// shows what reusing one perfect prediction for p prompts costs.
class OraclePredictor : public Predictor {
 public:
  explicit OraclePredictor(PredictorOptions options) : Predictor(std::move(options)) {}
  std::string name() const override { return "oracle"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;
  void reveal_future(const PromptRecord& record) override;

 private:
  std::optional<PromptRecord> future_;
};

}  // namespace emoe::predict
