#include "core/engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/model/model.h"

namespace emoe::engine {

Result<PerplexityResult> perplexity(Engine& engine, std::span<const int32_t> tokens, int64_t n_ctx,
                                    const std::function<bool(int64_t, int64_t)>& progress) {
  if (n_ctx < 4 || n_ctx > engine.options().n_ctx) {
    return invalid_argument("perplexity: chunk size must be in 4.." +
                            std::to_string(engine.options().n_ctx) + ", got " +
                            std::to_string(n_ctx));
  }
  const int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n_chunks == 0) {
    return invalid_argument("perplexity: the text has " + std::to_string(tokens.size()) +
                            " tokens; at least one chunk of " + std::to_string(n_ctx) +
                            " is needed");
  }
  const int32_t bos = engine.model().tokenizer().vocab().bos;
  const int64_t n_vocab = engine.model().config().n_vocab;
  const int64_t first = n_ctx / 2;
  auto seq = engine.new_sequence();
  if (!seq.ok()) return seq.status();

  PerplexityResult r;
  double nll = 0;
  Batch batch;
  std::vector<float> logits;
  for (int64_t c = 0; c < n_chunks; ++c) {
    batch.clear();
    for (int64_t i = 0; i < n_ctx; ++i) {
      int32_t tok = tokens[static_cast<size_t>(c * n_ctx + i)];
      if (i == 0 && bos >= 0) tok = bos;
      batch.push_back(
          {tok, *seq, static_cast<int32_t>(i), i >= first - 1 && i < n_ctx - 1, Phase::Prefill});
    }
    Status st = engine.decode(batch, &logits);
    engine.free_sequence(*seq);
    if (!st.is_ok()) return st;
    seq = engine.new_sequence();
    if (!seq.ok()) return seq.status();
    // Row j predicts the token at position first + j.
    for (int64_t j = 0; j < n_ctx - first; ++j) {
      const float* row = logits.data() + j * n_vocab;
      const int32_t target = tokens[static_cast<size_t>(c * n_ctx + first + j)];
      const float mx = *std::max_element(row, row + n_vocab);
      double sum = 0;
      for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(row[v] - mx));
      nll += std::log(sum) + mx - row[target];
      ++r.scored_tokens;
    }
    ++r.chunks;
    if (progress && !progress(c + 1, n_chunks)) {
      engine.free_sequence(*seq);
      return cancelled("perplexity: cancelled");
    }
  }
  engine.free_sequence(*seq);
  r.mean_nll = nll / static_cast<double>(r.scored_tokens);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace emoe::engine
