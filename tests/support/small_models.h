// Small models the tests build with the project's own writer.
#pragma once

#include <cstdint>
#include <string>

#include "core/common/status.h"

namespace emoe::test {

// A task-routed MoE (core/model/task_routed_model.h; OLMoE-like specialised routing) small
// enough to serve whole experiments in a second: 4 layers, n_embd 128, 8 experts top-2,
// vocabulary 1024, context 512, F32.
Status write_small_task_routed_model(const std::string& path, uint64_t seed,
                                     const std::string& name);

}  // namespace emoe::test
