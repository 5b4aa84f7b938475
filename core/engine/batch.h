// One forward step's input: tokens from one or more sequences, each at its own position.
#pragma once

#include <cstdint>
#include <vector>

namespace emoe::engine {

enum class Phase { Prefill = 0, Decode = 1 };

struct BatchToken {
  int32_t token = 0;
  int32_t seq = 0;      // sequence id from Engine::new_sequence()
  int32_t pos = 0;      // position in its sequence; must be the sequence's next free position
  bool logits = false;  // return this token's output logits
  Phase phase = Phase::Prefill;
};

using Batch = std::vector<BatchToken>;

}  // namespace emoe::engine
