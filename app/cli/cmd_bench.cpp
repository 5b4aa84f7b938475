// emoe bench: prefill/decode throughput and decode's share of the memory bandwidth, for each
// requested thread count, in one run so the ratios are measured side by side.
#include <cstdio>
#include <sstream>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/metrics/engine_bench.h"

namespace emoe::cli {
namespace {

Result<std::vector<int>> parse_thread_list(const ParsedArgs& args) {
  auto s = args.get_string("threads");
  if (!s.ok()) return s.status();
  std::vector<int> out;
  std::stringstream ss(*s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 512) {
      return args.error("--threads expects a comma-separated list of integers in 1..512, got '" +
                        *s + "'");
    }
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) return args.error("--threads is empty");
  return out;
}

}  // namespace

void declare_bench(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .option("threads", 't', "LIST", "thread counts to measure, comma-separated", "1,2")
      .option("prompt-tokens", 0, "N", "prompt length for the prefill measurement", "512")
      .option("decode-tokens", 0, "N", "decode steps per measurement", "64")
      .option("repetitions", 'r', "N", "best of N for every figure", "3")
      .option("bandwidth-mib", 0, "N", "buffer for the memory-bandwidth measurement", "1024")
      .flag("json", "print one JSON object");
}

Status run_bench(const ParsedArgs& args) {
  auto threads = parse_thread_list(args);
  if (!threads.ok()) return threads.status();
  metrics::EngineBenchOptions o;
  auto pt = args.get_int("prompt-tokens", 1, 1 << 16);
  if (!pt.ok()) return pt.status();
  auto dt = args.get_int("decode-tokens", 1, 1 << 16);
  if (!dt.ok()) return dt.status();
  auto reps = args.get_int("repetitions", 1, 100);
  if (!reps.ok()) return reps.status();
  auto bw = args.get_int("bandwidth-mib", 16, 1 << 20);
  if (!bw.ok()) return bw.status();
  o.bandwidth_bytes = static_cast<uint64_t>(*bw) << 20;
  o.prompt_tokens = *pt;
  o.decode_tokens = *dt;
  o.repetitions = static_cast<int>(*reps);
  auto model = load_model(args);
  if (!model.ok()) return model.status();

  std::vector<metrics::EngineBenchResult> results;
  for (int t : *threads) {
    o.n_threads = t;
    std::fprintf(stderr, "bench: %d thread(s)...\n", t);
    auto r = metrics::run_engine_bench(**model, o);
    if (!r.ok()) return r.status();
    results.push_back(*r);
  }
  const model::ModelWeights& w = (*model)->weights();
  if (args.flag("json")) {
    JsonWriter j;
    j.begin_object().key("model").value((*model)->file().path());
    j.key("weight_bytes").value(w.dense_bytes + w.expert_bytes);
    j.key("expert_bytes").value(w.expert_bytes).key("runs").begin_array();
    for (const auto& r : results) {
      j.begin_object().key("threads").value(int64_t{r.n_threads});
      j.key("prompt_tokens").value(r.prompt_tokens).key("prefill_tok_s").value(r.prefill_tok_s);
      j.key("decode_tokens").value(r.decode_tokens).key("decode_tok_s").value(r.decode_tok_s);
      j.key("decode_bytes_per_token").value(r.decode_bytes_per_token);
      j.key("decode_gb_s").value(r.decode_gb_s).key("memory_gb_s").value(r.memory_gb_s);
      j.key("bandwidth_fraction").value(r.bandwidth_fraction).end_object();
    }
    j.end_array().end_object();
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  std::printf("%-8s %14s %13s %16s %11s %11s %9s\n", "threads", "prefill tok/s", "decode tok/s",
              "bytes/token", "decode GB/s", "memory GB/s", "fraction");
  for (const auto& r : results) {
    std::printf("%-8d %14.1f %13.2f %16s %11.2f %11.2f %8.0f%%\n", r.n_threads, r.prefill_tok_s,
                r.decode_tok_s,
                human_bytes(static_cast<uint64_t>(r.decode_bytes_per_token)).c_str(), r.decode_gb_s,
                r.memory_gb_s, 100.0 * r.bandwidth_fraction);
  }
  return Status::ok();
}

}  // namespace emoe::cli
