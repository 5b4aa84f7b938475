// Next-token sampling with llama.cpp's semantics and a reproducible random stream.
//
// Order of the stages (as in llama.cpp's default chain): repetition penalty, top-k, top-p,
// temperature, seeded draw. A temperature <= 0 skips the random stages and picks the argmax of
// the penalised logits (ties go to the lowest token id).
//
// Reproducibility: the draw uses std::mt19937_64 (whose output the standard fixes bit for bit)
// and its own mapping to [0, 1), never std::uniform_real_distribution or
// std::discrete_distribution, whose outputs differ between standard libraries. Candidates are
// ordered by (logit desc, id asc), so ties never depend on sort stability.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/common/status.h"

namespace emoe::engine {

struct SamplerParams {
  float temperature = 0.0f;     // <= 0: greedy argmax
  int top_k = 0;                // keep the k highest logits; <= 0: off
  float top_p = 1.0f;           // nucleus mass in (0, 1]; 1: off
  int min_keep = 1;             // top-k and top-p never keep fewer candidates than this
  float repeat_penalty = 1.0f;  // > 0; 1: off
  int repeat_last_n = 64;       // history window for the penalty; 0: off, -1: whole history
  uint64_t seed = 0;

  // Says which field is unusable (for CLI and GUI input); the Sampler clamps instead.
  Status validate() const;
};

// One token left after filtering, with the probability it was drawn with.
struct TokenCandidate {
  int32_t id = 0;
  float logit = 0.0f;  // after the repetition penalty, before temperature
  double p = 0.0;      // probability after all filters and temperature; sums to 1
};

// Divides positive logits by `penalty` and multiplies the others by it, once per distinct token
// among the last `last_n` entries of `history` (-1: all of it). Ids outside the logits are
// ignored (history can hold tokens of another vocabulary after a model switch).
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history,
                              float penalty, int last_n);

// The same stream of doubles in [0, 1) on every platform: the top 53 bits of one draw.
double uniform01(std::mt19937_64& rng);

class Sampler {
 public:
  explicit Sampler(SamplerParams params);

  // Picks the next token from `logits` (one per vocabulary entry). `history` is the sequence
  // so far (prompt and generated tokens), used by the repetition penalty. Returns -1 only for
  // empty logits. NaN logits count as -inf; if every logit is -inf the lowest id is returned.
  // With temperature > 0 every call consumes exactly one random number, so the stream position
  // depends only on the number of calls.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  // Restarts the random stream; the parameters stay.
  void reset(uint64_t seed);

  const SamplerParams& params() const { return params_; }

  // The candidates the last sample() drew from (for the token inspector): ordered by
  // (logit desc, id asc) when top-k or top-p ran, else by id. Empty after a greedy call.
  std::span<const TokenCandidate> last_candidates() const { return candidates_; }

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;                 // penalised logits, [n_vocab]
  std::vector<TokenCandidate> candidates_;  // filtered set, sorted by (logit desc, id asc)
};

}  // namespace emoe::engine
