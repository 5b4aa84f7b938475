#include "tests/support/small_models.h"

#include "core/model/task_routed_model.h"
#include "core/sched/builtin_workloads.h"

namespace emoe::test {

Status write_small_task_routed_model(const std::string& path, uint64_t seed,
                                     const std::string& name) {
  model::SyntheticModelSpec s;
  s.n_layer = 4;
  s.n_embd = 128;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 128;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_vocab = 1024;
  s.n_ctx = 512;
  s.seed = seed;
  s.name = name;
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  return model::write_task_routed_model(s, model::RoutingShape::Specialised, *prompts, path);
}

}  // namespace emoe::test
