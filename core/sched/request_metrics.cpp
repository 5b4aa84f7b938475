#include "core/sched/request_metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "core/common/json_writer.h"

namespace emoe::sched {

RequestMetrics compute_request_metrics(const RequestTiming& t) {
  RequestMetrics m;
  if (t.admit_ms >= 0) m.queue_ms = t.admit_ms - t.arrival_ms;
  m.completed = !t.rejected && t.finish_ms >= 0 && t.first_token_ms >= 0 && t.generated_tokens > 0;
  if (!m.completed) return m;
  m.ttft_ms = t.first_token_ms - t.arrival_ms;
  m.e2e_ms = t.finish_ms - t.arrival_ms;
  if (t.generated_tokens > 1) {
    m.tpot_ms = (t.finish_ms - t.first_token_ms) / static_cast<double>(t.generated_tokens - 1);
  }
  m.ttft_met = t.slo_ttft_ms <= 0 || m.ttft_ms <= t.slo_ttft_ms;
  m.e2e_met = t.slo_e2e_ms <= 0 || m.e2e_ms <= t.slo_e2e_ms;
  m.slo_met = m.ttft_met && m.e2e_met;
  return m;
}

double percentile(std::span<const double> values, double q) {
  if (values.empty()) return 0.0;
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest value with at least q of the values at or below it.
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[rank == 0 ? 0 : rank - 1];
}

RunMetrics summarize_run(std::span<const RequestTiming> timings,
                         std::span<const RequestMetrics> metrics) {
  assert(timings.size() == metrics.size());
  RunMetrics r;
  r.requests = static_cast<int64_t>(timings.size());
  std::vector<double> ttft, e2e;
  double tpot_sum = 0.0;
  double first_arrival = 0.0, last_finish = 0.0;
  bool any = false;
  for (size_t i = 0; i < timings.size() && i < metrics.size(); ++i) {
    const RequestTiming& t = timings[i];
    const RequestMetrics& m = metrics[i];
    if (t.rejected) ++r.rejected;
    if (m.slo_met) ++r.slo_met;
    first_arrival = any ? std::min(first_arrival, t.arrival_ms) : t.arrival_ms;
    any = true;
    if (!m.completed) continue;
    ++r.completed;
    r.prompt_tokens += t.prompt_tokens;
    r.generated_tokens += t.generated_tokens;
    last_finish = std::max(last_finish, t.finish_ms);
    ttft.push_back(m.ttft_ms);
    e2e.push_back(m.e2e_ms);
    tpot_sum += m.tpot_ms;
  }
  if (r.requests > 0) {
    r.slo_attainment = static_cast<double>(r.slo_met) / static_cast<double>(r.requests);
  }
  if (r.completed == 0) return r;
  r.span_ms = std::max(0.0, last_finish - first_arrival);
  if (r.span_ms > 0) {
    r.throughput_tokens_per_s = static_cast<double>(r.generated_tokens) * 1000.0 / r.span_ms;
    r.throughput_requests_per_s = static_cast<double>(r.completed) * 1000.0 / r.span_ms;
  }
  const auto n = static_cast<double>(r.completed);
  double s = 0.0;
  for (double v : ttft) s += v;
  r.mean_ttft_ms = s / n;
  s = 0.0;
  for (double v : e2e) s += v;
  r.mean_e2e_ms = s / n;
  r.mean_tpot_ms = tpot_sum / n;
  r.p50_ttft_ms = percentile(ttft, 0.5);
  r.p90_ttft_ms = percentile(ttft, 0.9);
  r.p99_ttft_ms = percentile(ttft, 0.99);
  r.p50_e2e_ms = percentile(e2e, 0.5);
  r.p90_e2e_ms = percentile(e2e, 0.9);
  r.p99_e2e_ms = percentile(e2e, 0.99);
  return r;
}

void write_run_metrics_json(JsonWriter& j, const RunMetrics& m) {
  j.key("requests").value(m.requests).key("completed").value(m.completed);
  j.key("rejected").value(m.rejected).key("slo_met").value(m.slo_met);
  j.key("slo_attainment").value(m.slo_attainment);
  j.key("throughput_tok_s").value(m.throughput_tokens_per_s);
  j.key("throughput_req_s").value(m.throughput_requests_per_s);
  j.key("prompt_tokens").value(m.prompt_tokens).key("generated_tokens").value(m.generated_tokens);
  j.key("span_ms").value(m.span_ms);
  j.key("ttft_mean_ms").value(m.mean_ttft_ms).key("ttft_p50_ms").value(m.p50_ttft_ms);
  j.key("ttft_p90_ms").value(m.p90_ttft_ms).key("ttft_p99_ms").value(m.p99_ttft_ms);
  j.key("e2e_mean_ms").value(m.mean_e2e_ms).key("e2e_p50_ms").value(m.p50_e2e_ms);
  j.key("e2e_p90_ms").value(m.p90_e2e_ms).key("e2e_p99_ms").value(m.p99_e2e_ms);
  j.key("tpot_mean_ms").value(m.mean_tpot_ms);
}

}  // namespace emoe::sched
