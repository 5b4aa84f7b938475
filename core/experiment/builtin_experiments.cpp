#include "core/experiment/builtin_experiments.h"

namespace emoe::experiment {

const std::vector<std::string>& builtin_experiment_names() {
  static const std::vector<std::string> names = {"demo", "p_sweep"};
  return names;
}

Result<ExperimentConfig> builtin_experiment(std::string_view name) {
  const std::string_view text = builtin_experiment_text(name);
  if (text.empty()) {
    std::string list;
    for (const std::string& n : builtin_experiment_names()) list += (list.empty() ? "" : ", ") + n;
    return not_found("no built-in experiment '" + std::string(name) + "' (built in: " + list + ")");
  }
  auto c = parse_experiment_config(text, "builtin:" + std::string(name));
  if (c.ok()) c->source = "builtin:" + std::string(name);
  return c;
}

}  // namespace emoe::experiment
