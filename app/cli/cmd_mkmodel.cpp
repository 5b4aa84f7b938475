// emoe mkmodel: a synthetic MoE GGUF (llama/Mixtral, qwen2moe, qwen3moe, olmoe, deepseek or
// deepseek2) with seeded weights and the project's own vocabulary, loadable by this engine and
// by llama.cpp.
#include <algorithm>
#include <cstdio>
#include <string>
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
      .option("dense-layers", 0, "N",
              "deepseek, deepseek2: leading dense-FFN layers (leading_dense_block_count)", "1")
      .option("dense-ff", 0, "N", "deepseek, deepseek2: dense FFN width; 0: 2 x ff", "0")
      .option("shared-experts", 0, "N", "deepseek, deepseek2: shared experts (expert_shared_count)",
              "1")
      .option("q-lora", 0, "N", "deepseek2: q_lora_rank; 0 uses attn_q directly (V2-Lite)", "0")
      .option("kv-lora", 0, "N", "deepseek2: kv_lora_rank, the cached latent; 0: 2 x head-dim", "0")
      .option("rope-dim", 0, "N", "deepseek2: rope part of each head; 0: head-dim / 2", "0")
      .option("v-head-dim", 0, "N", "deepseek2: value head size; 0: head-dim", "0")
      .flag("legacy-kv-b", "deepseek2: write attn_kv_b (files converted before the k_b/v_b split)")
      .option("gating", 0, "FUNC", "deepseek2: router gating, softmax or sigmoid", "softmax")
      .flag("probs-bias", "deepseek2: write exp_probs_b selection biases (V3-style)")
      .flag("norm-topk", "deepseek2: expert_weights_norm (renormalise the top-k weights)")
      .option("weights-scale", 0, "X", "deepseek2: expert_weights_scale", "1")
      .option("expert-groups", 0, "N", "deepseek2: expert_group_count (grouped top-k); 0: none",
              "0")
      .option("groups-used", 0, "N", "deepseek2: expert_group_used_count", "0")
      .option("yarn-factor", 0, "X", "deepseek2: YaRN rope scaling factor; 0: none", "0")
      .option("vocab", 0, "N", "vocabulary size (built by the project)", "4096")
      .option("ctx", 0, "N", "training context length written to the file", "2048")
      .option(
          "type", 0, "TYPE",
          "weight type: f32, f16, q8_0, q4_0, q2_k, q3_k, q4_k, q5_k, q6_k, or q4_k_m (llama.cpp's "
          "Q4_K_M mix: Q4_K, with Q6_K for output and for attn_v and ffn_down in half the "
          "layers)",
          "f32")
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
      "type", {"f32", "f16", "q8_0", "q4_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m"});
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
  const model::ArchTraits* arch_traits = model::find_architecture(spec.arch);
  if (arch_traits && arch_traits->leading_dense) {
    const IntField ds[] = {
        {"dense-layers", &spec.n_layer_dense_lead, 0, 1024},
        {"dense-ff", &spec.n_ff_dense, 0, 1 << 20},
        {"shared-experts", &spec.n_expert_shared, 1, 64},
        {"q-lora", &spec.q_lora_rank, 0, 1 << 14},
        {"kv-lora", &spec.kv_lora_rank, 0, 1 << 14},
        {"rope-dim", &spec.n_rot, 0, 1 << 12},
        {"v-head-dim", &spec.v_head_dim, 0, 1 << 12},
        {"expert-groups", &spec.n_expert_groups, 0, 256},
        {"groups-used", &spec.n_group_used, 0, 256},
    };
    for (const IntField& f : ds) {
      if (!arch_traits->mla && args.has(f.name) && std::string_view(f.name) != "dense-layers" &&
          std::string_view(f.name) != "dense-ff" && std::string_view(f.name) != "shared-experts") {
        return args.error(std::string("--") + f.name + " is a deepseek2 option");
      }
      auto v = args.get_int(f.name, f.min, f.max);
      if (!v.ok()) return v.status();
      *f.field = *v;
    }
    if (!arch_traits->mla) spec.n_rot = 0;
    spec.n_layer_dense_lead = std::min(spec.n_layer_dense_lead, spec.n_layer);
    if (arch_traits->mla) {
      auto gating = args.get_choice("gating", {"softmax", "sigmoid"});
      if (!gating.ok()) return gating.status();
      spec.gating_sigmoid = *gating == "sigmoid";
      spec.mla_legacy_kv_b = args.flag("legacy-kv-b");
      spec.exp_probs_b = args.flag("probs-bias");
      spec.expert_weights_norm = args.flag("norm-topk");
      auto scale = args.get_float("weights-scale", 0.0, 1e6);
      if (!scale.ok()) return scale.status();
      spec.expert_weights_scale = static_cast<float>(*scale);
      auto yarn = args.get_float("yarn-factor", 0.0, 1e6);
      if (!yarn.ok()) return yarn.status();
      spec.yarn_factor = static_cast<float>(*yarn);
      // DeepSeek-V2's mscale_all_dim 0.707, as its converter writes it (x 0.1).
      if (spec.yarn_factor > 0.0f) spec.yarn_log_multiplier = 0.0707f;
    }
  }
  // llama.cpp's olmoe has no grouped-query attention (attn_k_norm is n_embd wide).
  const model::ArchTraits* traits = model::find_architecture(spec.arch);
  if (traits && traits->qk_norm == model::QkNorm::Whole && !args.has("kv-heads")) {
    spec.n_head_kv = spec.n_head;
  }
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  spec.seed = *seed;
  if (*type == "q4_k_m") {
    spec.mix = model::QuantMix::Q4_K_M;
    spec.weight_type = kernels::TensorType::Q4_K;
  } else {
    spec.weight_type = *kernels::type_from_name(*type);
  }
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
