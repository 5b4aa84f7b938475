#include "core/report/experiment_tables.h"

#include <ctime>
#include <functional>
#include <type_traits>

#include "core/report/plot_layout.h"

namespace emoe::report {

namespace {

using experiment::CapacityOutcome;
using experiment::PointResult;
using experiment::RequestOutcome;

template <typename Row>
struct ColumnDef {
  const char* name;
  const char* key;
  bool numeric;
  std::function<TableCell(const Row&)> cell;
};

template <typename Row>
Table build(std::string id, std::string title, const std::vector<ColumnDef<Row>>& defs,
            const std::vector<const Row*>& rows) {
  Table t;
  t.id = std::move(id);
  t.title = std::move(title);
  for (const auto& d : defs) t.columns.push_back({d.name, d.key, d.numeric});
  for (const Row* row : rows) {
    std::vector<TableCell> cells;
    cells.reserve(defs.size());
    for (const auto& d : defs) cells.push_back(d.cell(*row));
    t.rows.push_back(std::move(cells));
  }
  return t;
}

template <typename Row>
std::vector<const Row*> pointers(const std::vector<Row>& rows) {
  std::vector<const Row*> out;
  for (const Row& r : rows) out.push_back(&r);
  return out;
}

// Latencies of a point that completed nothing are undefined, not 0.
double latency(const PointResult& p, double v) { return p.run.completed > 0 ? v : NAN; }
double accuracy(const PointResult& p, double v) { return p.accuracy_measured ? v : NAN; }

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i > 0 ? ", " : "") + items[i];
  return s;
}

template <typename T>
std::string join_numbers(const std::vector<T>& items) {
  std::vector<std::string> s;
  for (const T& v : items) {
    if constexpr (std::is_integral_v<T>) {
      s.push_back(std::to_string(v));
    } else {
      s.push_back(format_shortest(v));
    }
  }
  return join(s);
}

std::string utc_time(int64_t unix_us) {
  if (unix_us <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

Table property_table(std::string id, std::string title,
                     const std::vector<std::pair<std::string, TableCell>>& props) {
  Table t;
  t.id = std::move(id);
  t.title = std::move(title);
  t.columns = {{"Property", "property", false}, {"Value", "value", false}};
  for (const auto& [name, cell] : props) t.rows.push_back({text_cell(name), cell});
  return t;
}

}  // namespace

Table summary_table(const experiment::ExperimentResult& result) {
  const std::vector<ColumnDef<PointResult>> defs = {
      {"#", "index", true, [](const PointResult& p) { return int_cell(p.point.index); }},
      {"Point", "label", false, [](const PointResult& p) { return text_cell(p.point.label()); }},
      {"SLO attainment (%)", "slo_attainment", true,
       [](const PointResult& p) { return percent_cell(p.run.slo_attainment); }},
      {"Mean E2E (ms)", "mean_e2e_ms", true,
       [](const PointResult& p) { return number_cell(latency(p, p.run.mean_e2e_ms), 1); }},
      {"p90 E2E (ms)", "p90_e2e_ms", true,
       [](const PointResult& p) { return number_cell(latency(p, p.run.p90_e2e_ms), 1); }},
      {"p99 E2E (ms)", "p99_e2e_ms", true,
       [](const PointResult& p) { return number_cell(latency(p, p.run.p99_e2e_ms), 1); }},
      {"Mean TTFT (ms)", "mean_ttft_ms", true,
       [](const PointResult& p) { return number_cell(latency(p, p.run.mean_ttft_ms), 1); }},
      {"Throughput (tok/s)", "throughput_tokens_per_s", true,
       [](const PointResult& p) { return number_cell(p.run.throughput_tokens_per_s, 1); }},
      {"Accuracy (%)", "accuracy", true,
       [](const PointResult& p) { return percent_cell(accuracy(p, p.accuracy)); }},
      {"Hit rate (%)", "hit_rate", true,
       [](const PointResult& p) { return percent_cell(p.hit_rate); }},
      {"Peak memory (MB)", "peak_total_bytes", true,
       [](const PointResult& p) { return megabytes_cell(p.peak_total_bytes); }},
      {"Loads", "loads", true, [](const PointResult& p) { return uint_cell(p.loads); }},
      {"Moved (MB)", "bytes_moved", true,
       [](const PointResult& p) { return megabytes_cell(p.bytes_moved); }},
  };
  return build("summary", "Summary", defs, pointers(result.points));
}

Table points_table(const experiment::ExperimentResult& result) {
  using P = const PointResult&;
  const std::vector<ColumnDef<PointResult>> defs = {
      {"#", "index", true, [](P p) { return int_cell(p.point.index); }},
      {"Point", "label", false, [](P p) { return text_cell(p.point.label()); }},
      {"Budget", "budget", false, [](P p) { return text_cell(p.point.budget); }},
      {"Predictor", "predictor", false, [](P p) { return text_cell(p.point.predictor); }},
      {"p", "interval", true, [](P p) { return int_cell(p.point.interval); }},
      {"Scheduler", "scheduler", false, [](P p) { return text_cell(p.point.scheduler); }},
      {"Rate (req/s)", "arrival_rate", true,
       [](P p) { return number_cell(p.point.arrival_rate, 2); }},
      {"Routing", "routing", false,
       [](P p) { return text_cell(std::string(engine::routing_mode_name(p.point.routing))); }},
      {"Seed", "seed", true, [](P p) { return uint_cell(p.point.seed); }},
      {"Requests", "requests", true, [](P p) { return int_cell(p.run.requests); }},
      {"Completed", "completed", true, [](P p) { return int_cell(p.run.completed); }},
      {"Rejected", "rejected", true, [](P p) { return int_cell(p.run.rejected); }},
      {"SLO met", "slo_met", true, [](P p) { return int_cell(p.run.slo_met); }},
      {"SLO attainment (%)", "slo_attainment", true,
       [](P p) { return percent_cell(p.run.slo_attainment); }},
      {"Prompt tokens", "prompt_tokens", true, [](P p) { return int_cell(p.run.prompt_tokens); }},
      {"Generated tokens", "generated_tokens", true,
       [](P p) { return int_cell(p.run.generated_tokens); }},
      {"Span (ms)", "span_ms", true, [](P p) { return number_cell(p.run.span_ms, 1); }},
      {"Throughput (tok/s)", "throughput_tokens_per_s", true,
       [](P p) { return number_cell(p.run.throughput_tokens_per_s, 2); }},
      {"Throughput (req/s)", "throughput_requests_per_s", true,
       [](P p) { return number_cell(p.run.throughput_requests_per_s, 3); }},
      {"Mean TTFT (ms)", "mean_ttft_ms", true,
       [](P p) { return number_cell(latency(p, p.run.mean_ttft_ms), 2); }},
      {"p50 TTFT (ms)", "p50_ttft_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p50_ttft_ms), 2); }},
      {"p90 TTFT (ms)", "p90_ttft_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p90_ttft_ms), 2); }},
      {"p99 TTFT (ms)", "p99_ttft_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p99_ttft_ms), 2); }},
      {"Mean TPOT (ms)", "mean_tpot_ms", true,
       [](P p) { return number_cell(latency(p, p.run.mean_tpot_ms), 3); }},
      {"Mean E2E (ms)", "mean_e2e_ms", true,
       [](P p) { return number_cell(latency(p, p.run.mean_e2e_ms), 2); }},
      {"p50 E2E (ms)", "p50_e2e_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p50_e2e_ms), 2); }},
      {"p90 E2E (ms)", "p90_e2e_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p90_e2e_ms), 2); }},
      {"p99 E2E (ms)", "p99_e2e_ms", true,
       [](P p) { return number_cell(latency(p, p.run.p99_e2e_ms), 2); }},
      {"Hits", "hits", true, [](P p) { return uint_cell(p.hits); }},
      {"Misses", "misses", true, [](P p) { return uint_cell(p.misses); }},
      {"Substitutions", "substitutions", true, [](P p) { return uint_cell(p.substitutions); }},
      {"Decisions", "decisions", true, [](P p) { return uint_cell(p.decisions); }},
      {"Hit rate (%)", "hit_rate", true, [](P p) { return percent_cell(p.hit_rate, 2); }},
      {"Loads", "loads", true, [](P p) { return uint_cell(p.loads); }},
      {"Moved (MB)", "bytes_moved", true, [](P p) { return megabytes_cell(p.bytes_moved); }},
      {"Evictions", "evictions", true, [](P p) { return uint_cell(p.evictions); }},
      {"Stall (ms)", "stall_ms", true, [](P p) { return number_cell(p.stall_ms, 2); }},
      {"Dense (MB)", "dense_bytes", true, [](P p) { return megabytes_cell(p.dense_bytes); }},
      {"Expert budget (MB)", "expert_budget_bytes", true,
       [](P p) { return megabytes_cell(p.expert_budget_bytes); }},
      {"All experts (MB)", "all_expert_bytes", true,
       [](P p) { return megabytes_cell(p.all_expert_bytes); }},
      {"Peak experts (MB)", "peak_expert_bytes", true,
       [](P p) { return megabytes_cell(p.peak_expert_bytes); }},
      {"Peak total (MB)", "peak_total_bytes", true,
       [](P p) { return megabytes_cell(p.peak_total_bytes); }},
      {"Expert fraction (%)", "expert_fraction", true,
       [](P p) { return percent_cell(p.expert_fraction); }},
      {"Accuracy measured", "accuracy_measured", false,
       [](P p) { return bool_cell(p.accuracy_measured); }},
      {"Accuracy (%)", "accuracy", true,
       [](P p) { return percent_cell(accuracy(p, p.accuracy), 2); }},
      {"Exact match (%)", "exact_match_rate", true,
       [](P p) { return percent_cell(accuracy(p, p.exact_match_rate)); }},
      {"Predictor calls", "predictor_invocations", true,
       [](P p) { return int_cell(p.predictor_invocations); }},
      {"Predict (ms)", "predict_ms", true, [](P p) { return number_cell(p.predict_ms, 2); }},
      {"Steps", "steps", true, [](P p) { return int_cell(p.steps); }},
      {"Wall (s)", "wall_seconds", true, [](P p) { return number_cell(p.wall_seconds, 2); }},
      {"c (ms/token)", "per_token_ms", true, [](P p) { return number_cell(p.per_token_ms, 4); }},
      {"dE (ms/expert)", "expert_load_ms", true,
       [](P p) { return number_cell(p.expert_load_ms, 4); }},
      {"Run id", "run_id", true, [](P p) { return int_cell(p.run_id); }},
  };
  return build("points", "Points", defs, pointers(result.points));
}

Table capacity_table(const experiment::ExperimentResult& result) {
  using C = const CapacityOutcome&;
  const std::vector<ColumnDef<CapacityOutcome>> defs = {
      {"Budget", "budget", false, [](C c) { return text_cell(c.budget); }},
      {"Expert fraction (%)", "expert_fraction", true,
       [](C c) { return percent_cell(c.expert_fraction); }},
      {"Device (MB)", "device_bytes", true, [](C c) { return megabytes_cell(c.device_bytes); }},
      {"Dense (MB)", "dense_bytes", true, [](C c) { return megabytes_cell(c.dense_bytes); }},
      {"Experts (MB)", "expert_bytes", true, [](C c) { return megabytes_cell(c.expert_bytes); }},
      {"Scratch (MB)", "scratch_bytes", true, [](C c) { return megabytes_cell(c.scratch_bytes); }},
      {"KV (MB)", "kv_bytes", true, [](C c) { return megabytes_cell(c.kv_bytes); }},
      {"KV bytes/token", "kv_bytes_per_token", true,
       [](C c) { return uint_cell(c.kv_bytes_per_token); }},
      {"Max context (tokens)", "max_context_tokens", true,
       [](C c) { return int_cell(c.max_context_tokens); }},
      {"Max batch", "max_batch", true, [](C c) { return int_cell(c.max_batch); }},
      {"Max prompt (tokens)", "max_prompt", true, [](C c) { return int_cell(c.max_prompt); }},
      {"Batch run ok", "batch_run_ok", false, [](C c) { return bool_cell(c.batch_run_ok); }},
      {"Batch run error", "batch_run_error", false,
       [](C c) { return text_cell(c.batch_run_error); }},
      {"Batch run peak (MB)", "batch_run_peak_bytes", true,
       [](C c) { return megabytes_cell(c.batch_run_peak_bytes); }},
      {"Batch run (tok/s)", "batch_run_tokens_per_s", true,
       [](C c) { return number_cell(c.batch_run_tokens_per_s, 1); }},
      {"Prompt run ok", "prompt_run_ok", false, [](C c) { return bool_cell(c.prompt_run_ok); }},
      {"Prompt run error", "prompt_run_error", false,
       [](C c) { return text_cell(c.prompt_run_error); }},
      {"Prompt run peak (MB)", "prompt_run_peak_bytes", true,
       [](C c) { return megabytes_cell(c.prompt_run_peak_bytes); }},
  };
  return build("capacity", "Capacity study", defs, pointers(result.capacity));
}

Table requests_table(const experiment::ExperimentResult& result) {
  struct Row {
    const PointResult* point;
    const RequestOutcome* r;
  };
  std::vector<Row> rows;
  for (const PointResult& p : result.points) {
    for (const RequestOutcome& r : p.requests) rows.push_back({&p, &r});
  }
  // Absolute times of events that never happened are negative; show them as missing.
  const auto when = [](double ms) { return number_cell(ms >= 0 ? ms : NAN, 2); };
  using R = const Row&;
  const std::vector<ColumnDef<Row>> defs = {
      {"Point", "point", true, [](R x) { return int_cell(x.point->point.index); }},
      {"Request", "request", true, [](R x) { return int_cell(x.r->id); }},
      {"Task", "task", false, [](R x) { return text_cell(x.r->task); }},
      {"State", "state", false, [](R x) { return text_cell(x.r->state); }},
      {"Stop", "stop_reason", false, [](R x) { return text_cell(x.r->stop_reason); }},
      {"Arrival (ms)", "arrival_ms", true, [&](R x) { return when(x.r->timing.arrival_ms); }},
      {"Admit (ms)", "admit_ms", true, [&](R x) { return when(x.r->timing.admit_ms); }},
      {"Prefill done (ms)", "prefill_done_ms", true,
       [&](R x) { return when(x.r->prefill_done_ms); }},
      {"First token (ms)", "first_token_ms", true,
       [&](R x) { return when(x.r->timing.first_token_ms); }},
      {"Finish (ms)", "finish_ms", true, [&](R x) { return when(x.r->timing.finish_ms); }},
      {"Prompt tokens", "prompt_tokens", true,
       [](R x) { return int_cell(x.r->timing.prompt_tokens); }},
      {"Generated", "generated_tokens", true,
       [](R x) { return int_cell(x.r->timing.generated_tokens); }},
      {"Queue (ms)", "queue_ms", true, [](R x) { return number_cell(x.r->metrics.queue_ms, 2); }},
      {"TTFT (ms)", "ttft_ms", true, [](R x) { return number_cell(x.r->metrics.ttft_ms, 2); }},
      {"TPOT (ms)", "tpot_ms", true, [](R x) { return number_cell(x.r->metrics.tpot_ms, 3); }},
      {"E2E (ms)", "e2e_ms", true, [](R x) { return number_cell(x.r->metrics.e2e_ms, 2); }},
      {"SLO TTFT (ms)", "slo_ttft_ms", true,
       [](R x) { return number_cell(x.r->timing.slo_ttft_ms, 1); }},
      {"SLO E2E (ms)", "slo_e2e_ms", true,
       [](R x) { return number_cell(x.r->timing.slo_e2e_ms, 1); }},
      {"SLO met", "slo_met", false, [](R x) { return bool_cell(x.r->metrics.slo_met); }},
      {"Scored", "scored_tokens", true, [](R x) { return int_cell(x.r->scored_tokens); }},
      {"Agreeing", "agreeing_tokens", true, [](R x) { return int_cell(x.r->agreeing_tokens); }},
      {"Matches full model", "matches_reference", false,
       [](R x) { return bool_cell(x.r->matches_reference); }},
  };
  std::vector<const Row*> ptrs;
  for (const Row& r : rows) ptrs.push_back(&r);
  return build("requests", "Requests", defs, ptrs);
}

Table model_table(const experiment::ExperimentResult& result) {
  const experiment::ModelInfo& m = result.model;
  return property_table("model", "Model",
                        {{"Name", text_cell(m.name)},
                         {"Path", text_cell(m.path)},
                         {"Architecture", text_cell(m.arch)},
                         {"Layers", int_cell(m.n_layer)},
                         {"Experts", int_cell(m.n_expert)},
                         {"Experts used per token", int_cell(m.n_expert_used)},
                         {"Embedding size", int_cell(m.n_embd)},
                         {"Vocabulary", int_cell(m.n_vocab)},
                         {"File size (MB)", megabytes_cell(m.file_bytes)}});
}

Table machine_table(const experiment::ExperimentResult& result) {
  const experiment::MachineInfo& m = result.machine;
  return property_table("machine", "Machine",
                        {{"CPU", text_cell(m.cpu)},
                         {"Cores", int_cell(m.cores)},
                         {"Memory (MB)", megabytes_cell(m.memory_bytes)},
                         {"Operating system", text_cell(m.os)}});
}

Table experiment_overview_table(const experiment::ExperimentResult& result) {
  const experiment::ExperimentConfig& c = result.config;
  std::vector<std::string> routing;
  for (engine::RoutingMode r : c.routing) routing.emplace_back(engine::routing_mode_name(r));
  const std::string workload = c.workload.file.empty()
                                   ? "generated, " + std::to_string(c.workload.requests) +
                                         " requests, seed " + std::to_string(c.workload.seed)
                                   : c.workload.file;
  return property_table("experiment", "Experiment",
                        {{"Name", text_cell(c.name)},
                         {"Configuration file", text_cell(c.source.empty() ? "-" : c.source)},
                         {"Model", text_cell(c.model)},
                         {"Started", text_cell(utc_time(result.started_at_us))},
                         {"Wall time (s)", number_cell(result.wall_seconds, 1)},
                         {"Points", int_cell(static_cast<int64_t>(result.points.size()))},
                         {"Cancelled", bool_cell(result.cancelled)},
                         {"Workload", text_cell(workload)},
                         {"Budgets", text_cell(join(c.budgets))},
                         {"Predictors", text_cell(join(c.predictors))},
                         {"Intervals p", text_cell(join_numbers(c.intervals))},
                         {"Schedulers", text_cell(join(c.schedulers))},
                         {"Arrival rates (req/s)", text_cell(join_numbers(c.arrival_rates))},
                         {"Routing", text_cell(join(routing))},
                         {"Seeds", text_cell(join_numbers(c.seeds))},
                         {"Clock", text_cell(sched::clock_kind_name(c.serving.clock))},
                         {"Experiment id", int_cell(result.experiment_id)}});
}

}  // namespace emoe::report
