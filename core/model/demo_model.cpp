#include "core/model/demo_model.h"

#include <filesystem>
#include <system_error>

#include "core/model/model.h"
#include "core/model/task_routed_model.h"
#include "core/sched/builtin_workloads.h"

namespace emoe::model {
namespace {

// True when `path` loads and is the model demo_model_spec() describes (an older or foreign
// file with the same name is replaced).
bool is_current_demo(const std::string& path, const SyntheticModelSpec& spec) {
  auto m = Model::load(path);
  if (!m.ok()) return false;
  const gguf::Value* routing = (*m)->file().find(kTaskRoutingKey);
  const std::string* shape = routing ? routing->as_string() : nullptr;
  if (!shape || *shape != routing_shape_name(RoutingShape::Specialised)) {
    return false;  // a plain demo written by an older build
  }
  const ModelConfig& c = (*m)->config();
  return c.name == spec.name && c.n_layer == spec.n_layer && c.n_embd == spec.n_embd &&
         c.n_head == spec.n_head && c.n_head_kv == spec.n_head_kv && c.n_ff_exp == spec.n_ff &&
         c.n_expert == spec.n_expert && c.n_expert_used == spec.n_expert_used &&
         c.n_vocab == spec.n_vocab && c.n_ctx_train == spec.n_ctx;
}

}  // namespace

SyntheticModelSpec demo_model_spec() {
  SyntheticModelSpec s;
  s.n_layer = 6;
  s.n_embd = 256;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.n_ff = 512;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_vocab = 4096;
  s.n_ctx = 2048;
  s.weight_type = kernels::TensorType::Q8_0;
  s.embd_type = kernels::TensorType::Q8_0;
  s.output_type = kernels::TensorType::Q8_0;
  s.seed = 20250306;  // the eMoE paper's arXiv month, for lack of a better constant
  s.name = kDemoModelName;
  return s;
}

Result<std::string> ensure_demo_model(const std::string& dir,
                                      const std::function<bool(double fraction)>& progress) {
  if (dir.empty()) return invalid_argument("demo model: no directory given");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return io_error("demo model: cannot create directory '" + dir + "': " + ec.message());
  }
  const std::string path = (std::filesystem::path(dir) / kDemoModelFileName).string();
  const SyntheticModelSpec spec = demo_model_spec();
  if (std::filesystem::exists(path, ec) && is_current_demo(path, spec)) {
    if (progress) progress(1.0);
    return path;
  }
  // Task-dependent routing (OLMoE-like specialisation), so heatmaps differ between tasks and the
  // predictors have structure to learn.
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status().with_context("demo model");
  Status st = write_task_routed_model(spec, RoutingShape::Specialised, *prompts, path, progress);
  if (!st.is_ok()) return st.with_context("writing the demo model to '" + path + "'");
  return path;
}

}  // namespace emoe::model
