// The `emoe bench` measurement at one thread count: prefill throughput on a prompt of
// prompt_tokens; decode throughput over decode_tokens steps from an empty context (as
// llama-bench's tg test); the weight bytes each decode token reads; and the achieved bandwidth
// next to this machine's streaming-read bandwidth measured in the same run.
#pragma once

#include <cstdint>

#include "core/common/status.h"
#include "core/engine/moe_layer.h"

namespace emoe::model {
class Model;
}

namespace emoe::metrics {

struct EngineBenchOptions {
  int n_threads = 1;
  int64_t prompt_tokens = 512;
  int64_t decode_tokens = 64;
  int repetitions = 3;  // best-of for each measurement (noisy shared machines)
  uint64_t bandwidth_bytes = uint64_t{1} << 30;  // buffer for the streaming-read measurement
  uint64_t seed = 1;
  engine::ExpertAccess experts;  // routing mode and device tier (stats are reset per phase)
};

struct EngineBenchResult {
  int n_threads = 0;
  int64_t prompt_tokens = 0;
  int64_t decode_tokens = 0;
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  double decode_bytes_per_token = 0;  // weight bytes read per decode token (mean)
  double decode_gb_s = 0;             // decode_bytes_per_token * decode_tok_s / 1e9
  double memory_gb_s = 0;             // streaming read bandwidth at this thread count
  double bandwidth_fraction = 0;      // decode_gb_s / memory_gb_s
  // Paging during the best decode run (zero without a device tier).
  double hit_rate = 1;                // router top-k experts found resident
  double loaded_bytes_per_token = 0;  // expert bytes copied into the tier
  double stall_ms_per_token = 0;      // time decode waited for loads
  uint64_t peak_device_bytes = 0;     // expert tier high-water mark
};

Result<EngineBenchResult> run_engine_bench(const model::Model& model,
                                           const EngineBenchOptions& options);

}  // namespace emoe::metrics
