// The built-in demo model: a small Mixtral-style MoE the project generates itself, so the
// workbench works on first start without a download. Written once into a data directory and
// reused while it loads and still has the demo's shape.
#pragma once

#include <functional>
#include <string>

#include "core/common/status.h"
#include "core/model/model_builder.h"

namespace emoe::model {

inline constexpr const char* kDemoModelFileName = "demo.gguf";
inline constexpr const char* kDemoModelName = "eMoE demo";

// 6 layers, n_embd 256, 8 heads (4 KV heads), 8 experts top-2 of n_ff 512, vocab 4096,
// context 2048, Q8_0 weights, fixed seed, routing that depends on the task (five task types,
// OLMoE-like specialisation; core/model/task_routed_model.h): written in about 2 s.
SyntheticModelSpec demo_model_spec();

// Returns dir/demo.gguf, writing it (atomically; dir is created when missing) unless a file
// there already loads with the demo's name and shape. `progress` receives fractions in [0, 1]
// while writing; returning false cancels (Cancelled, an existing file is left as it was).
Result<std::string> ensure_demo_model(const std::string& dir,
                                      const std::function<bool(double fraction)>& progress = {});

}  // namespace emoe::model
