#include "core/experiment/experiment_result.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/common/csv.h"
#include "core/common/json_writer.h"
#include "core/model/model.h"

namespace emoe::experiment {

namespace {

void write_point_fields(JsonWriter& j, const ExperimentPoint& p) {
  j.key("index").value(p.index).key("label").value(p.label());
  j.key("budget").value(p.budget).key("predictor").value(p.predictor);
  j.key("interval").value(p.interval).key("scheduler").value(p.scheduler);
  j.key("arrival_rate").value(p.arrival_rate);
  j.key("routing").value(engine::routing_mode_name(p.routing)).key("seed").value(p.seed);
}

void write_request(JsonWriter& j, const RequestOutcome& q) {
  const sched::RequestTiming& t = q.timing;
  const sched::RequestMetrics& m = q.metrics;
  j.begin_object().key("id").value(q.id).key("task").value(q.task).key("state").value(q.state);
  j.key("stop").value(q.stop_reason);
  j.key("arrival_ms").value(t.arrival_ms).key("admit_ms").value(t.admit_ms);
  j.key("prefill_done_ms").value(q.prefill_done_ms);
  j.key("first_token_ms").value(t.first_token_ms).key("finish_ms").value(t.finish_ms);
  j.key("slo_ttft_ms").value(t.slo_ttft_ms).key("slo_e2e_ms").value(t.slo_e2e_ms);
  j.key("prompt_tokens").value(t.prompt_tokens).key("generated_tokens").value(t.generated_tokens);
  j.key("queue_ms").value(m.queue_ms).key("ttft_ms").value(m.ttft_ms);
  j.key("tpot_ms").value(m.tpot_ms).key("e2e_ms").value(m.e2e_ms);
  j.key("slo_met").value(m.slo_met);
  j.key("scored_tokens").value(q.scored_tokens).key("agreeing_tokens").value(q.agreeing_tokens);
  j.key("matches_reference").value(q.matches_reference).end_object();
}

}  // namespace

void write_capacity_json(JsonWriter& j, const CapacityOutcome& c) {
  j.begin_object().key("budget").value(c.budget).key("expert_fraction").value(c.expert_fraction);
  j.key("device_bytes").value(c.device_bytes).key("dense_bytes").value(c.dense_bytes);
  j.key("expert_bytes").value(c.expert_bytes).key("scratch_bytes").value(c.scratch_bytes);
  j.key("kv_bytes").value(c.kv_bytes).key("kv_bytes_per_token").value(c.kv_bytes_per_token);
  j.key("max_context_tokens").value(c.max_context_tokens);
  j.key("max_batch").value(c.max_batch).key("max_prompt").value(c.max_prompt);
  j.key("batch_run_ok").value(c.batch_run_ok).key("batch_run_error").value(c.batch_run_error);
  j.key("batch_run_peak_bytes").value(c.batch_run_peak_bytes);
  j.key("batch_run_tokens_per_s").value(c.batch_run_tokens_per_s);
  j.key("prompt_run_ok").value(c.prompt_run_ok).key("prompt_run_error").value(c.prompt_run_error);
  j.key("prompt_run_peak_bytes").value(c.prompt_run_peak_bytes).end_object();
}

void write_point_json(JsonWriter& j, const PointResult& r, bool with_requests) {
  j.begin_object();
  write_point_fields(j, r.point);
  j.key("run_id").value(r.run_id);
  sched::write_run_metrics_json(j, r.run);
  j.key("hits").value(r.hits).key("misses").value(r.misses);
  j.key("substitutions").value(r.substitutions).key("decisions").value(r.decisions);
  j.key("hit_rate").value(r.hit_rate);
  j.key("loads").value(r.loads).key("bytes_moved").value(r.bytes_moved);
  j.key("evictions").value(r.evictions).key("stall_ms").value(r.stall_ms);
  j.key("dense_bytes").value(r.dense_bytes).key("expert_budget_bytes").value(r.expert_budget_bytes);
  j.key("all_expert_bytes").value(r.all_expert_bytes);
  j.key("peak_expert_bytes").value(r.peak_expert_bytes);
  j.key("peak_total_bytes").value(r.peak_total_bytes);
  j.key("expert_fraction").value(r.expert_fraction);
  j.key("accuracy_measured").value(r.accuracy_measured).key("accuracy").value(r.accuracy);
  j.key("exact_match_rate").value(r.exact_match_rate);
  j.key("predictor_invocations").value(r.predictor_invocations);
  j.key("predict_ms").value(r.predict_ms).key("steps").value(r.steps);
  j.key("wall_seconds").value(r.wall_seconds).key("per_token_ms").value(r.per_token_ms);
  j.key("expert_load_ms").value(r.expert_load_ms);
  if (with_requests) {
    j.key("memory").begin_array();
    for (const MemoryPoint& m : r.memory) {
      j.begin_array().value(m.time_ms).value(m.dense_bytes).value(m.expert_bytes);
      j.value(m.expert_budget).value(m.kv_bytes).value(m.scratch_bytes).end_array();
    }
    j.end_array();
    j.key("per_request").begin_array();
    for (const RequestOutcome& q : r.requests) write_request(j, q);
    j.end_array();
  }
  j.end_object();
}

std::string experiment_result_to_json(const ExperimentResult& result, bool with_requests) {
  JsonWriter j;
  j.begin_object();
  j.key("experiment").begin_object().key("name").value(result.config.name);
  j.key("id").value(result.experiment_id).key("started_at_us").value(result.started_at_us);
  j.key("wall_seconds").value(result.wall_seconds).key("cancelled").value(result.cancelled);
  j.key("points").value(static_cast<int64_t>(result.points.size())).end_object();
  j.key("config").raw(experiment_config_to_json(result.config));
  const ModelInfo& m = result.model;
  j.key("model").begin_object().key("path").value(m.path).key("arch").value(m.arch);
  j.key("name").value(m.name).key("n_layer").value(m.n_layer).key("n_expert").value(m.n_expert);
  j.key("n_expert_used").value(m.n_expert_used).key("n_embd").value(m.n_embd);
  j.key("n_vocab").value(m.n_vocab).key("file_bytes").value(m.file_bytes).end_object();
  const MachineInfo& h = result.machine;
  j.key("machine").begin_object().key("cpu").value(h.cpu).key("cores").value(h.cores);
  j.key("memory_bytes").value(h.memory_bytes).key("os").value(h.os).end_object();
  j.key("points").begin_array();
  for (const PointResult& r : result.points) write_point_json(j, r, with_requests);
  j.end_array();
  j.key("capacity").begin_array();
  for (const CapacityOutcome& c : result.capacity) write_capacity_json(j, c);
  j.end_array();
  j.end_object();
  return j.str();
}

std::string experiment_requests_csv(const ExperimentResult& result) {
  std::string out =
      "point,label,request,task,state,stop,arrival_ms,admit_ms,prefill_done_ms,first_token_ms,"
      "finish_ms,slo_ttft_ms,slo_e2e_ms,prompt_tokens,generated_tokens,queue_ms,ttft_ms,tpot_ms,"
      "e2e_ms,slo_met,scored_tokens,agreeing_tokens,matches_reference\n";
  auto num = [](double v) {
    JsonWriter j;
    j.value(v);
    return j.str() == "null" ? std::string() : j.str();
  };
  for (const PointResult& r : result.points) {
    const std::string prefix =
        std::to_string(r.point.index) + "," + csv_field(r.point.label()) + ",";
    for (const RequestOutcome& q : r.requests) {
      const sched::RequestTiming& t = q.timing;
      const sched::RequestMetrics& m = q.metrics;
      out += prefix + std::to_string(q.id) + "," + csv_field(q.task) + "," + csv_field(q.state) +
             "," + csv_field(q.stop_reason) + "," + num(t.arrival_ms) + "," + num(t.admit_ms) +
             "," + num(q.prefill_done_ms) + "," + num(t.first_token_ms) + "," + num(t.finish_ms) +
             "," + num(t.slo_ttft_ms) + "," + num(t.slo_e2e_ms) + "," +
             std::to_string(t.prompt_tokens) + "," + std::to_string(t.generated_tokens) + "," +
             num(m.queue_ms) + "," + num(m.ttft_ms) + "," + num(m.tpot_ms) + "," + num(m.e2e_ms) +
             "," + (m.slo_met ? "1" : "0") + "," + std::to_string(q.scored_tokens) + "," +
             std::to_string(q.agreeing_tokens) + "," + (q.matches_reference ? "1" : "0") + "\n";
    }
  }
  return out;
}

ModelInfo describe_experiment_model(const model::Model& m) {
  ModelInfo info;
  std::error_code ec;
  const auto canonical =
      std::filesystem::weakly_canonical(std::filesystem::absolute(m.file().path(), ec), ec);
  info.path = ec ? m.file().path() : canonical.string();
  info.file_bytes = m.file().file_size();
  const model::ModelConfig& c = m.config();
  info.arch = c.arch;
  info.name = c.name;
  info.n_layer = c.n_layer;
  info.n_expert = c.n_expert;
  info.n_expert_used = c.n_expert_used;
  info.n_embd = c.n_embd;
  info.n_vocab = c.n_vocab;
  return info;
}

MachineInfo describe_machine() {
  MachineInfo m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) m.cpu = line.substr(line.find_first_not_of(' ', colon + 1));
      break;
    }
  }
  m.cores = static_cast<int32_t>(std::thread::hardware_concurrency());
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) {
    m.memory_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  }
  utsname u{};
  if (uname(&u) == 0) m.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return m;
}

}  // namespace emoe::experiment
