// emoe mkmodel: a synthetic MoE GGUF (llama/Mixtral, qwen2moe, qwen3moe or olmoe) with seeded
// weights and the project's own vocabulary, loadable by this engine and by llama.cpp.
#include <cstdio>
#include <string_view>
#include <vector>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/model/architecture.h"
#include "core/model/demo_model.h"
#include "core/model/model_builder.h"
#include "core/model/task_routed_model.h"
#include "core/sched/builtin_workloads.h"

namespace emoe::cli {

void declare_mkmodel(CommandSpec& spec) {
  spec.required_option("out", 'o', "FILE", "output GGUF file")
      .option("arch", 0, "ARCH",
              "architecture: " + model::supported_architectures() +
                  " (llama.cpp's tensors, keys and semantics for each)",
              "llama")
      .option("layers", 0, "N", "transformer blocks", "4")
      .option("embd", 0, "N", "embedding width", "128")
      .option("heads", 0, "N", "attention heads", "4")
      .option("kv-heads", 0, "N",
              "key/value heads (grouped-query attention); olmoe defaults to --heads", "2")
      .option("head-dim", 0, "N",
              "head size when not embd / heads (llama, qwen3moe: attention.key_length)", "0")
      .option("experts", 0, "N", "experts per layer; 0 makes a dense model", "8")
      .option("top-k", 0, "K", "experts used per token", "2")
      .option("ff", 0, "N", "feed-forward width of one expert", "256")
      .option("shared-ff", 0, "N",
              "qwen2moe: shared expert width; 0: ff x top-k, as llama.cpp falls back to", "0")
      .option("vocab", 0, "N", "vocabulary size (built by the project)", "4096")
      .option("ctx", 0, "N", "training context length written to the file", "2048")
      .option("type", 0, "TYPE",
              "weight type: f32, f16, q8_0, q4_0, q2_k, q3_k, q4_k, q5_k or q6_k", "f32")
      .option("seed", 's', "S", "weight seed", "1")
      .flag("demo",
            "the built-in demo model (its shape, Q8_0, task-dependent routing); shape options "
            "are ignored")
      .option("routing", 0, "SHAPE",
              "task-dependent routing over the five task types: specialised (like OLMoE), "
              "uniform (like Mixtral) or none",
              "none");
}

Status run_mkmodel(const ParsedArgs& args) {
  std::vector<std::string_view> arch_names;
  for (const model::ArchTraits* a : model::architectures()) arch_names.push_back(a->name);
  auto arch = args.get_choice("arch", arch_names);
  if (!arch.ok()) return arch.status();
  auto type = args.get_choice(
      "type", {"f32", "f16", "q8_0", "q4_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"});
  if (!type.ok()) return type.status();
  model::SyntheticModelSpec spec;
  spec.arch = *arch;
  struct IntField {
    const char* name;
    int64_t* field;
    int64_t min, max;
  };
  const IntField fields[] = {
      {"layers", &spec.n_layer, 1, 1024},
      {"embd", &spec.n_embd, 32, 1 << 16},
      {"heads", &spec.n_head, 1, 1024},
      {"kv-heads", &spec.n_head_kv, 1, 1024},
      {"experts", &spec.n_expert, 0, 1024},
      {"top-k", &spec.n_expert_used, 0, 1024},
      {"ff", &spec.n_ff, 1, 1 << 20},
      {"vocab", &spec.n_vocab, 300, 1 << 20},
      {"ctx", &spec.n_ctx, 16, 1 << 22},
      {"head-dim", &spec.head_dim, 0, 1 << 16},
      {"shared-ff", &spec.n_ff_shexp, 0, 1 << 20},
  };
  for (const IntField& f : fields) {
    auto v = args.get_int(f.name, f.min, f.max);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  if (spec.n_expert == 0) spec.n_expert_used = 0;
  // llama.cpp's olmoe has no grouped-query attention (attn_k_norm is n_embd wide).
  const model::ArchTraits* traits = model::find_architecture(spec.arch);
  if (traits && traits->qk_norm == model::QkNorm::Whole && !args.has("kv-heads")) {
    spec.n_head_kv = spec.n_head;
  }
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  spec.seed = *seed;
  spec.weight_type = *kernels::type_from_name(*type);
  spec.embd_type = spec.weight_type;
  spec.output_type = spec.weight_type;
  auto out = args.get_string("out");
  if (!out.ok()) return out.status();
  auto routing = args.get_choice("routing", {"none", "specialised", "uniform"});
  if (!routing.ok()) return routing.status();
  if (args.flag("demo")) {
    if (args.has("arch") && *arch != "llama") {
      return args.error("--demo builds the llama demo model; drop --arch or --demo");
    }
    spec = model::demo_model_spec();
    if (*routing == "none") *routing = "specialised";
  }

  int last = -1;
  auto progress = [&last](double fraction) {
    const int pct = static_cast<int>(fraction * 100.0);
    if (pct != last) {
      last = pct;
      std::fprintf(stderr, "\rmkmodel: %3d%%", pct);
    }
    return !interrupt_flag().load();
  };
  Status st;
  if (*routing == "none") {
    st = model::write_synthetic_model(spec, *out, progress);
  } else {
    auto prompts = sched::builtin_task_prompts();
    if (!prompts.ok()) return prompts.status();
    const model::RoutingShape shape =
        *routing == "specialised" ? model::RoutingShape::Specialised : model::RoutingShape::Uniform;
    st = model::write_task_routed_model(spec, shape, *prompts, *out, progress);
  }
  std::fprintf(stderr, "\n");
  if (!st.is_ok()) return st;
  std::printf("wrote %s\n", out->c_str());
  return Status::ok();
}

}  // namespace emoe::cli
