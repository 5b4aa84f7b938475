// emoe workload: writes a seeded mixed workload (core/sched/workload.h) drawn from the built-in
// task prompts as JSON Lines, for `emoe serve --workload` and `emoe run --workload`. The same
// options and seed always write the same bytes.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/sched/builtin_workloads.h"
#include "core/sched/workload.h"

namespace emoe::cli {

namespace {

// "summarization=0.2,qa=0.3": tasks not named weigh 0. Weights must be finite and > 0.
Result<std::array<double, sched::kTaskCount>> parse_mix(const ParsedArgs& args,
                                                        const std::string& text) {
  std::array<double, sched::kTaskCount> w = {0, 0, 0, 0, 0};
  std::array<bool, sched::kTaskCount> seen = {false, false, false, false, false};
  std::stringstream in(text);
  std::string item;
  int n = 0;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return args.error("--mix expects TASK=WEIGHT,..., got '" + item + "'");
    }
    const std::string name = item.substr(0, eq), weight = item.substr(eq + 1);
    const auto task = sched::parse_task(name);
    if (!task) {
      return args.error("--mix: unknown task '" + name +
                        "' (summarization, classification, qa, comparison, conversation)");
    }
    const size_t t = static_cast<size_t>(sched::task_index(*task));
    if (seen[t]) return args.error("--mix: task '" + name + "' given twice");
    seen[t] = true;
    char* end = nullptr;
    const double v = std::strtod(weight.c_str(), &end);
    if (weight.empty() || *end != '\0' || !std::isfinite(v) || v <= 0) {
      return args.error("--mix: the weight of '" + name + "' must be a number > 0, got '" + weight +
                        "'");
    }
    w[t] = v;
    ++n;
  }
  if (n == 0) return args.error("--mix expects TASK=WEIGHT,..., got '" + text + "'");
  return w;
}

}  // namespace

void declare_workload(CommandSpec& spec) {
  spec.required_option("out", 'o', "FILE", "the workload file to write (JSON Lines)")
      .option("requests", 'n', "N", "requests to draw", "100")
      .option("rate", 0, "R", "mean arrivals per second (Poisson)", "2")
      .option("mix", 0, "TASK=W,...",
              "relative task weights, e.g. summarization=0.2,qa=0.3 (tasks not named: 0); "
              "default: uniform")
      .option("seed", 0, "S", "random seed", "1")
      .option("max-new-tokens", 0, "N",
              "cap on each request's max_new_tokens (default: the per-task limits)");
}

Status run_workload(const ParsedArgs& args) {
  auto out = args.get_string("out");
  if (!out.ok()) return out.status();
  sched::WorkloadOptions wo;
  auto n = args.get_int("requests", 1, int64_t{1} << 26);
  if (!n.ok()) return n.status();
  wo.n_requests = *n;
  auto rate = args.get_float("rate");
  if (!rate.ok()) return rate.status();
  if (!(*rate > 0)) {
    return args.error("--rate must be > 0 requests per second, got " + *args.get_string("rate"));
  }
  wo.rate_per_s = *rate;
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  wo.seed = *seed;
  if (args.has("mix")) {
    auto w = parse_mix(args, *args.get_string("mix"));
    if (!w.ok()) return w.status();
    wo.task_weights = *w;
  }
  if (args.has("max-new-tokens")) {
    auto cap = args.get_int("max-new-tokens", 1, sched::kMaxNewTokensLimit);
    if (!cap.ok()) return cap.status();
    for (auto& l : wo.limits) l.max_new_tokens = std::min<int32_t>(l.max_new_tokens, *cap);
  }
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  auto requests = sched::generate_workload(*prompts, wo);
  if (!requests.ok()) return args.error(requests.status().message());

  const std::string text = sched::workload_to_jsonl(*requests);
  std::ofstream f(*out, std::ios::binary | std::ios::trunc);
  if (!f) return args.error("cannot write '" + *out + "'");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) return args.error("writing '" + *out + "' failed");

  std::array<int64_t, sched::kTaskCount> per_task = {0, 0, 0, 0, 0};
  for (const sched::Request& r : *requests) {
    if (r.task) ++per_task[static_cast<size_t>(sched::task_index(*r.task))];
  }
  std::fprintf(stderr, "wrote %zu requests to %s (last arrival %.1f ms):", requests->size(),
               out->c_str(), requests->empty() ? 0.0 : requests->back().arrival_ms);
  for (const sched::TaskType t : sched::kAllTasks) {
    std::fprintf(stderr, " %s %lld", std::string(sched::task_name(t)).c_str(),
                 static_cast<long long>(per_task[static_cast<size_t>(sched::task_index(t))]));
  }
  std::fprintf(stderr, "\n");
  return Status::ok();
}

}  // namespace emoe::cli
