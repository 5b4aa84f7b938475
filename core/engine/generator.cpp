#include "core/engine/generator.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "core/model/model.h"

namespace emoe::engine {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool is_cancelled(const GenerateOptions& o) {
  return o.cancel && o.cancel->load(std::memory_order_relaxed);
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Length:
      return "length";
    case StopReason::EndOfSequence:
      return "eos";
    case StopReason::Cancelled:
      return "cancelled";
    case StopReason::ContextFull:
      return "context_full";
  }
  return "unknown";
}

Result<GenerateResult> generate(Engine& engine, int32_t seq, std::span<const int32_t> prompt,
                                const GenerateOptions& options, const TokenCallback& on_token) {
  if (prompt.empty()) return invalid_argument("generate: the prompt has no tokens");
  if (engine.sequence_length(seq) != 0) {
    return invalid_argument("generate: sequence " + std::to_string(seq) + " is not empty");
  }
  const int64_t n_ctx = engine.options().n_ctx;
  if (static_cast<int64_t>(prompt.size()) > n_ctx) {
    return out_of_memory("generate: the prompt has " + std::to_string(prompt.size()) +
                         " tokens but the context holds " + std::to_string(n_ctx));
  }
  const tokenizer::Vocab& vocab = engine.model().tokenizer().vocab();
  GenerateResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampling);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;
  Batch batch;

  const auto t_prefill = std::chrono::steady_clock::now();
  const int64_t chunk = std::max<int64_t>(1, options.prefill_chunk);
  for (int64_t i = 0; i < r.prompt_tokens; i += chunk) {
    if (is_cancelled(options)) {
      r.stop = StopReason::Cancelled;
      r.prefill_seconds = seconds_since(t_prefill);
      return r;
    }
    const int64_t end = std::min(r.prompt_tokens, i + chunk);
    batch.clear();
    for (int64_t j = i; j < end; ++j) {
      batch.push_back({prompt[static_cast<size_t>(j)], seq, static_cast<int32_t>(j),
                       j == r.prompt_tokens - 1, Phase::Prefill});
    }
    EMOE_RETURN_IF_ERROR(engine.decode(batch, &logits));
  }
  r.prefill_seconds = seconds_since(t_prefill);

  const auto t_decode = std::chrono::steady_clock::now();
  for (int32_t step = 0; step < options.max_new_tokens; ++step) {
    if (step > 0) {
      if (is_cancelled(options)) {
        r.stop = StopReason::Cancelled;
        break;
      }
      const int32_t pos = engine.sequence_length(seq);
      if (pos >= n_ctx) {
        r.stop = StopReason::ContextFull;
        break;
      }
      batch.assign(1, {r.generated.back(), seq, pos, true, Phase::Decode});
      EMOE_RETURN_IF_ERROR(engine.decode(batch, &logits));
      ++r.decode_steps;
    }
    const int32_t token = sampler.sample(logits, history);
    r.generated.push_back(token);
    history.push_back(token);
    if (on_token && !on_token(token)) {
      r.stop = StopReason::Cancelled;
      break;
    }
    if (options.stop_at_eos && (token == vocab.eos || (vocab.eot >= 0 && token == vocab.eot))) {
      r.stop = StopReason::EndOfSequence;
      break;
    }
  }
  r.decode_seconds = seconds_since(t_decode);
  return r;
}

}  // namespace emoe::engine
