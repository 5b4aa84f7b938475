// Offline sensitivity profiling (DESIGN.md section 5, PAPER.md sections 2.4 and 5 item 12): per
// task, routing is made random in a growing prefix of MoE layers from the input side and the
// model's next-token top-1 agreement with the same model using every expert is measured under
// teacher forcing over the task's prompts (plus the reference's greedy continuation of each).
// MoE layer i is insensitive (s = 0) while the accuracy with MoE layers 0..i random stays at or
// above the threshold; from the first prefix that falls below it, every later layer is
// sensitive (s = 1), even if a longer prefix happens to score higher again.
//
// Random routing runs through what the engine already has: a Pinned device tier in fallback
// mode in which each randomised layer holds exactly k random experts (re-drawn before every
// token, or once per prompt) and every other layer holds all of them. Fallback then computes
// each token of a randomised layer with those k experts, gate weights renormalised over them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::engine {
class Engine;
}

namespace emoe::predict {

enum class RandomGranularity {
  Token,   // a new random set per token and layer (one token per forward step)
  Prompt,  // one random set per prompt and layer (prompt steps batched; much cheaper)
};

struct SensitivityOptions {
  double threshold = 0.85;           // accuracy at or above it keeps a layer insensitive
  int32_t continuation_tokens = 16;  // reference greedy tokens appended to each prompt
  RandomGranularity granularity = RandomGranularity::Token;
  uint64_t seed = 1;
  bool stop_at_failure = false;  // stop the sweep at the first prefix below the threshold
  // After each prefix length: (done, total); returning false cancels.
  std::function<bool(int32_t, int32_t)> progress;
};

struct SensitivityProfile {
  std::string task;
  double threshold = 0;
  std::vector<int32_t> moe_layers;  // block index of each MoE layer, input side first
  // [x - 1]: top-1 agreement with moe_layers[0..x-1] random, x = 1.. measured prefixes (all of
  // them unless stop_at_failure cut the sweep short).
  std::vector<double> accuracy;
  int32_t insensitive_layers = 0;  // the leading MoE layers with s = 0
  std::vector<float> sensitivity;  // [n_layer] s per block: 0 or 1 (dense blocks 0)
  int64_t positions = 0;           // scored positions per prefix length
  int32_t prompts = 0;
};

// The number of leading prefixes whose accuracy is at or above the threshold.
int32_t insensitive_prefix(std::span<const double> accuracy, double threshold);
// s per block from a sweep: 0 for the first insensitive_prefix() MoE layers and dense blocks,
// 1 for the other MoE layers (measured or not).
std::vector<float> sensitivity_from_accuracy(std::span<const double> accuracy, double threshold,
                                             std::span<const int32_t> moe_layers, int32_t n_layer);

// Runs the sweep on `engine` (it must be idle; its expert access is switched per prefix and
// restored afterwards). Prompts are token ids; prompt + continuation must fit the engine's
// context. Deterministic for a given seed.
Result<SensitivityProfile> profile_sensitivity(engine::Engine& engine, const std::string& task,
                                               std::span<const std::vector<int32_t>> prompts,
                                               const SensitivityOptions& options = {});

}  // namespace emoe::predict
