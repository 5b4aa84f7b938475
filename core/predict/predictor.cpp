#include "core/predict/predictor.h"

#include <cmath>

#include "core/predict/activation_matrix_predictor.h"
#include "core/predict/baseline_predictors.h"
#include "core/predict/emoe_a_predictor.h"
#include "core/predict/emoe_l_predictor.h"
#include "core/predict/markov_predictor.h"

namespace emoe::predict {

Status PredictorOptions::validate() const {
  EMOE_RETURN_IF_ERROR(shape.validate().with_context("predictor options"));
  if (!(ema_alpha > 0.0 && ema_alpha <= 1.0)) {
    return invalid_argument("predictor options: ema_alpha " + std::to_string(ema_alpha) +
                            " is outside (0, 1]");
  }
  if (window < 1 || window > 64) {
    return invalid_argument("predictor options: window " + std::to_string(window) +
                            " is outside 1..64 prompts");
  }
  if (layer_span < -1 || layer_span > 4096) {
    return invalid_argument("predictor options: layer_span " + std::to_string(layer_span) +
                            " is outside -1 (all layers)..4096");
  }
  if (epochs < 0 || epochs > 1000) {
    return invalid_argument("predictor options: epochs " + std::to_string(epochs) +
                            " is outside 0..1000");
  }
  if (!(learning_rate > 0 && std::isfinite(learning_rate)) || learning_rate > 100) {
    return invalid_argument("predictor options: learning_rate must be in (0, 100]");
  }
  if (decay_steps < 1) return invalid_argument("predictor options: decay_steps must be >= 1");
  if (!(online_rate >= 0 && online_rate <= 10)) {
    return invalid_argument("predictor options: online_rate must be in [0, 10]");
  }
  if (max_tasks < 0 || max_tasks > 4096) {
    return invalid_argument("predictor options: max_tasks " + std::to_string(max_tasks) +
                            " is outside 0..4096");
  }
  if (neighbours < 1 || neighbours > 1024) {
    return invalid_argument("predictor options: neighbours " + std::to_string(neighbours) +
                            " is outside 1..1024");
  }
  if (max_matrices < 2) return invalid_argument("predictor options: max_matrices must be >= 2");
  return Status::ok();
}

Status Predictor::check_history(const RoutingHistory& history) const {
  if (!(history.shape() == options_.shape)) {
    const HistoryShape& h = history.shape();
    const HistoryShape& p = options_.shape;
    return invalid_argument(name() + ": history shape " + std::to_string(h.n_layer) + " layers x " +
                            std::to_string(h.n_expert) + " experts, k=" + std::to_string(h.k) +
                            ", phase " + phase_name(h.phase) + " does not match the predictor's " +
                            std::to_string(p.n_layer) + " x " + std::to_string(p.n_expert) +
                            ", k=" + std::to_string(p.k) + ", phase " + phase_name(p.phase));
  }
  return Status::ok();
}

Status Predictor::check_record(const PromptRecord& record) const {
  return record.check(options_.shape).with_context(name());
}

const std::vector<std::string>& predictor_names() {
  static const std::vector<std::string> names = {"emoe-a", "emoe-l",     "frequency",
                                                 "markov", "popularity", "activation-matrix",
                                                 "random", "oracle"};
  return names;
}

Result<std::unique_ptr<Predictor>> make_predictor(std::string_view name,
                                                  const PredictorOptions& options) {
  EMOE_RETURN_IF_ERROR(options.validate());
  std::unique_ptr<Predictor> p;
  if (name == "emoe-a") {
    EMOE_RETURN_IF_ERROR(EmoeAPredictor::check_size(options));
    p = std::make_unique<EmoeAPredictor>(options);
  } else if (name == "emoe-l") {
    p = std::make_unique<EmoeLPredictor>(options);
  } else if (name == "frequency") {
    p = std::make_unique<FrequencyPredictor>(options);
  } else if (name == "markov") {
    p = std::make_unique<MarkovPredictor>(options);
  } else if (name == "popularity") {
    p = std::make_unique<PopularityPredictor>(options);
  } else if (name == "activation-matrix") {
    p = std::make_unique<ActivationMatrixPredictor>(options);
  } else if (name == "random") {
    p = std::make_unique<RandomPredictor>(options);
  } else if (name == "oracle") {
    p = std::make_unique<OraclePredictor>(options);
  } else {
    std::string known;
    for (const std::string& n : predictor_names()) known += (known.empty() ? "" : ", ") + n;
    return invalid_argument("unknown predictor \"" + std::string(name) + "\" (known: " + known +
                            ")");
  }
  return p;
}

}  // namespace emoe::predict
