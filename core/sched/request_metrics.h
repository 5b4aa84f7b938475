// Latency metrics of served requests (DESIGN.md section 6): per request the time to first
// token, time per output token, end-to-end latency and whether its SLOs were met; per run the
// SLO attainment and the throughput. All times are milliseconds on the serving loop's clock
// (virtual or wall), measured from the request's arrival.
#pragma once

#include <cstdint>
#include <span>

namespace emoe {
class JsonWriter;
}

namespace emoe::sched {

// What the serving loop recorded for one request. Times are absolute on the loop's clock.
struct RequestTiming {
  double arrival_ms = 0.0;
  double admit_ms = -1.0;        // when the scheduler admitted it; < 0: never
  double first_token_ms = -1.0;  // end of the step that produced its first token; < 0: none
  double finish_ms = -1.0;       // end of the step that produced its last token; < 0: not done
  double slo_ttft_ms = 0.0;      // bounds; 0: none
  double slo_e2e_ms = 0.0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  bool rejected = false;  // refused at arrival (could never fit the engine)
};

struct RequestMetrics {
  bool completed = false;  // finished with at least one token
  double queue_ms = 0.0;   // arrival -> admission
  double ttft_ms = 0.0;    // arrival -> first token
  // (finish - first token) / (generated - 1): the mean gap between output tokens; 0 with one
  // token.
  double tpot_ms = 0.0;
  double e2e_ms = 0.0;    // arrival -> last token
  bool ttft_met = false;  // true when there is no TTFT SLO and the request completed
  bool e2e_met = false;
  bool slo_met = false;  // completed and both bounds held (latency <= bound)
};

// A request that never completed (rejected, or the run stopped first) meets no SLO.
RequestMetrics compute_request_metrics(const RequestTiming& t);

struct RunMetrics {
  int64_t requests = 0;
  int64_t completed = 0;
  int64_t rejected = 0;
  int64_t slo_met = 0;
  double slo_attainment = 0.0;             // slo_met / requests (0 without requests)
  int64_t prompt_tokens = 0;               // of completed requests
  int64_t generated_tokens = 0;            // of completed requests
  double span_ms = 0.0;                    // first arrival -> last finish
  double throughput_tokens_per_s = 0.0;    // generated_tokens / span
  double throughput_requests_per_s = 0.0;  // completed / span
  // Over completed requests.
  double mean_ttft_ms = 0.0, p50_ttft_ms = 0.0, p90_ttft_ms = 0.0, p99_ttft_ms = 0.0;
  double mean_tpot_ms = 0.0;
  double mean_e2e_ms = 0.0, p50_e2e_ms = 0.0, p90_e2e_ms = 0.0, p99_e2e_ms = 0.0;
};

// timings and metrics are parallel arrays (one entry per request).
RunMetrics summarize_run(std::span<const RequestTiming> timings,
                         std::span<const RequestMetrics> metrics);

// The run's metrics as flat JSON members ("slo_attainment", "ttft_p90_ms", ...) of an open
// object: the runs rows of `emoe serve` and of experiment points use the same keys.
void write_run_metrics_json(JsonWriter& j, const RunMetrics& m);

// Nearest-rank percentile (q in [0, 1]) of unsorted values; 0 for none.
double percentile(std::span<const double> values, double q);

}  // namespace emoe::sched
