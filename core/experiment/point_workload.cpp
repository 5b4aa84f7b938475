#include "core/experiment/point_workload.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/sched/builtin_workloads.h"

namespace emoe::experiment {
namespace {

// Mixed into the workload seed for the warm-up draw (any odd constant; splitmix64's).
constexpr uint64_t kWarmUpSeedMix = 0x9E3779B97F4A7C15ull;

int32_t scaled_max_new_tokens(const WorkloadSpec& w, int32_t max_new_tokens) {
  if (w.max_new_tokens_scale == 1.0) return max_new_tokens;
  const double scaled = std::round(static_cast<double>(max_new_tokens) * w.max_new_tokens_scale);
  return static_cast<int32_t>(
      std::clamp(scaled, 1.0, static_cast<double>(sched::kMaxNewTokensLimit)));
}

void apply_caps(const WorkloadSpec& w, std::vector<sched::Request>& requests) {
  for (sched::Request& r : requests) {
    r.max_new_tokens = scaled_max_new_tokens(w, r.max_new_tokens);
    if (w.max_new_tokens_cap > 0)
      r.max_new_tokens = std::min(r.max_new_tokens, w.max_new_tokens_cap);
    r.slo_ttft_ms *= w.slo_scale;
    r.slo_e2e_ms *= w.slo_scale;
  }
}

}  // namespace

Result<WorkloadSource> load_workload_source(const ExperimentConfig& config) {
  WorkloadSource s;
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status().with_context("the built-in task prompts");
  s.prompts = std::move(prompts).value();
  if (config.workload.file.empty()) return s;
  std::filesystem::path p(config.workload.file);
  if (p.is_relative() && !config.source.empty()) {
    p = std::filesystem::path(config.source).parent_path() / p;
  }
  s.file_path = p.string();
  auto w = sched::load_workload_jsonl(s.file_path);
  if (!w.ok()) return w.status().with_context("workload '" + s.file_path + "'");
  if (w->empty()) return invalid_argument("workload '" + s.file_path + "' has no requests");
  s.file = std::move(w).value();
  return s;
}

Result<std::vector<sched::Request>> workload_at_rate(const ExperimentConfig& config,
                                                     const WorkloadSource& source, double rate) {
  if (!std::isfinite(rate) || rate < 0) {
    return invalid_argument("arrival rate " + std::to_string(rate) + " must be >= 0");
  }
  std::vector<sched::Request> out;
  if (source.file) {
    out = *source.file;
    const double last = out.back().arrival_ms;  // the file's times never decrease
    // All at t = 0 has no rate to scale; the times stay as they are.
    if (rate > 0 && last > 0) {
      const double file_rate = static_cast<double>(out.size()) * 1000.0 / last;
      const double factor = file_rate / rate;
      for (sched::Request& r : out) r.arrival_ms *= factor;
    }
  } else {
    if (!(rate > 0)) {
      return invalid_argument(
          "a generated workload needs an arrival rate > 0 (rate 0 means a file's own times)");
    }
    sched::WorkloadOptions wo;
    wo.seed = config.workload.seed;
    wo.n_requests = config.workload.requests;
    wo.rate_per_s = rate;
    wo.task_weights = config.workload.task_weights;
    auto w = sched::generate_workload(source.prompts, wo);
    if (!w.ok()) return w.status().with_context("generating the workload");
    out = std::move(w).value();
  }
  apply_caps(config.workload, out);
  return out;
}

Result<std::vector<sched::Request>> warm_up_workload(const ExperimentConfig& config,
                                                     const WorkloadSource& source) {
  if (config.profile_requests <= 0) return std::vector<sched::Request>{};
  sched::WorkloadOptions wo;
  wo.seed = config.workload.seed ^ kWarmUpSeedMix;
  wo.n_requests = config.profile_requests;
  wo.task_weights = config.workload.task_weights;
  auto w = sched::generate_workload(source.prompts, wo);
  if (!w.ok()) return w.status().with_context("drawing the warm-up prompts");
  apply_caps(config.workload, *w);
  return w;
}

}  // namespace emoe::experiment
