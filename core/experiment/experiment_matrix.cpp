#include "core/experiment/experiment_matrix.h"

#include <charconv>
#include <tuple>

namespace emoe::experiment {

namespace {

std::string short_number(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

auto key_of(const ExperimentPoint& p) {
  return std::tie(p.budget, p.predictor, p.interval, p.scheduler, p.arrival_rate, p.routing,
                  p.seed);
}

}  // namespace

std::string ExperimentPoint::label() const {
  std::string s = "budget=" + budget + " predictor=" + predictor;
  if (interval > 0) s += " p=" + std::to_string(interval);
  s += " sched=" + scheduler;
  s += " rate=" + (arrival_rate > 0 ? short_number(arrival_rate) : std::string("file"));
  s += " routing=" + std::string(engine::routing_mode_name(routing));
  s += " seed=" + std::to_string(seed);
  return s;
}

std::vector<ExperimentPoint> expand_matrix(const ExperimentConfig& config) {
  std::vector<ExperimentPoint> out;
  for (const std::string& budget : config.budgets) {
    for (const std::string& predictor : config.predictors) {
      for (int32_t interval : config.intervals) {
        for (const std::string& scheduler : config.schedulers) {
          for (double rate : config.arrival_rates) {
            for (engine::RoutingMode routing : config.routing) {
              for (uint64_t seed : config.seeds) {
                ExperimentPoint p;
                p.budget = budget;
                p.predictor = predictor;
                p.interval = interval;
                p.scheduler = scheduler;
                p.arrival_rate = rate;
                p.routing = routing;
                p.seed = seed;
                // Every expert resident: budget, predictor and p cannot matter.
                if (routing == engine::RoutingMode::All) {
                  p.budget = "100%";
                  p.predictor = "none";
                }
                if (p.predictor == "none") p.interval = 0;
                bool seen = false;
                for (const ExperimentPoint& q : out) seen = seen || key_of(q) == key_of(p);
                if (seen) continue;
                p.index = static_cast<int32_t>(out.size());
                out.push_back(std::move(p));
              }
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace emoe::experiment
