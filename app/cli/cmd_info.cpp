// emoe info: what a GGUF file holds, and what this engine makes of it. Metadata and tensors
// print even when the architecture or a tensor type is unsupported.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "app/cli/cli_common.h"
#include "app/cli/cli_paging.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/experts/memory_plan.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"

namespace emoe::cli {
namespace {

std::string shape(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s;
}

// DeepSeek's leading dense layers hold no experts.
int64_t first_moe(const model::ModelConfig& c) {
  return std::min(c.n_layer_dense_lead, std::max<int64_t>(c.n_layer - 1, 0));
}
int64_t moe_layers(const model::ModelConfig& c) {
  return std::max<int64_t>(c.n_layer - c.n_layer_dense_lead, 0);
}

void print_semantics(const model::ModelConfig& c) {
  const bool sigmoid = c.gating == model::GatingFunc::Sigmoid;
  std::printf("semantics:   rope %s, top-k weights %s, q/k norm %s",
              c.rope_mode == kernels::RopeMode::Neox ? "neox" : "norm",
              c.expert_weights_norm ? "renormalised"
              : sigmoid             ? "as sigmoid gives them"
                                    : "as softmax gives them",
              c.qk_norm == model::QkNorm::PerHead ? "per head"
              : c.qk_norm == model::QkNorm::Whole ? "whole projection"
                                                  : "none");
  if (c.is_moe() && (sigmoid || c.n_expert_groups > 1 || c.expert_weights_scale != 0.0f)) {
    std::printf(", router %s", sigmoid ? "sigmoid" : "softmax");
    if (c.n_expert_groups > 1) {
      std::printf(" in %lld groups (best %lld used)", (long long)c.n_expert_groups,
                  (long long)c.n_group_used);
    }
    if (c.expert_weights_scale != 0.0f && c.expert_weights_scale != 1.0f) {
      std::printf(", weights x %g", c.expert_weights_scale);
    }
  }
  if (c.has_shared_expert()) {
    if (c.shexp_gated) {
      std::printf(", shared expert n_ff_shexp %lld (sigmoid-gated, dense)",
                  static_cast<long long>(c.n_ff_shexp));
    } else {
      std::printf(", %lld shared experts n_ff_shexp %lld (ungated, dense)",
                  static_cast<long long>(c.n_expert_shared), static_cast<long long>(c.n_ff_shexp));
    }
  }
  if (c.is_moe() && c.n_layer_dense_lead > 0) {
    std::printf(", %lld leading dense layers (n_ff %lld)", (long long)c.n_layer_dense_lead,
                (long long)c.n_ff);
  }
  if (c.mla) {
    std::printf(
        ", latent attention: kv_lora_rank %lld, q_lora_rank %lld, heads %lld nope + %lld rope, "
        "values %lld, K/V from %s, KV cache %lld elements per token and layer",
        (long long)c.n_lora_kv, (long long)c.n_lora_q, (long long)c.n_nope(), (long long)c.n_rot,
        (long long)c.n_embd_head_v,
        c.mla_split_kv ? "attn_k_b/attn_v_b" : "attn_kv_b (legacy, rearranged to F32)",
        (long long)c.kv_elems_per_token_layer());
  }
  if (c.yarn_ext_factor != 0.0f) {
    std::printf(", YaRN rope (factor %g, original context %lld)", 1.0 / c.rope_freq_scale,
                (long long)c.n_ctx_orig_yarn);
  }
  std::printf("\n");
}

void print_text(const gguf::GgufFile& f, const model::Model* m, const Status& load) {
  std::printf("file:        %s\n", f.path().c_str());
  std::printf("gguf:        v%u, %zu metadata keys, %zu tensors, alignment %llu, %s\n", f.version(),
              f.metadata().size(), f.tensors().size(),
              static_cast<unsigned long long>(f.alignment()), human_bytes(f.file_size()).c_str());
  std::printf("\nmetadata:\n");
  for (const auto& [k, v] : f.metadata()) {
    std::printf("  %-44s %s\n", k.c_str(), v.to_display_string().c_str());
  }
  if (m) {
    const model::ModelConfig& c = m->config();
    const model::ModelWeights& w = m->weights();
    const tokenizer::Vocab& voc = m->tokenizer().vocab();
    std::printf("\nmodel:       %s%s%s\n", c.arch.c_str(), c.name.empty() ? "" : ", ",
                c.name.c_str());
    std::printf(
        "hparams:     n_vocab %lld, n_ctx_train %lld, n_embd %lld, n_layer %lld, n_head %lld, "
        "n_head_kv %lld, n_embd_head %lld, n_rot %lld, n_ff %lld, n_ff_exp %lld, n_expert %lld, "
        "n_expert_used %lld, rope_freq_base %g, rms_eps %g\n",
        (long long)c.n_vocab, (long long)c.n_ctx_train, (long long)c.n_embd, (long long)c.n_layer,
        (long long)c.n_head, (long long)c.n_head_kv, (long long)c.n_embd_head, (long long)c.n_rot,
        (long long)c.n_ff, (long long)c.n_ff_exp, (long long)c.n_expert, (long long)c.n_expert_used,
        c.rope_freq_base, c.rms_eps);
    // The architecture's semantics, as the engine will run them (core/model/architecture.h).
    print_semantics(c);
    std::printf("tokenizer:   %s (pre %s), %d tokens, bos %d, eos %d, unk %d, add_bos %s\n",
                voc.model.c_str(), voc.pre.c_str(), voc.size(), voc.bos, voc.eos, voc.unk,
                voc.add_bos ? "yes" : "no");
    std::printf("weights:     dense %s, experts %s", human_bytes(w.dense_bytes).c_str(),
                human_bytes(w.expert_bytes).c_str());
    if (c.is_moe()) {
      std::printf(" (%lld x %lld experts, %s per expert)", (long long)moe_layers(c),
                  (long long)c.n_expert, human_bytes(w.bytes_per_expert(first_moe(c))).c_str());
      std::printf(", experts are %.1f%% of all weights",
                  100.0 * static_cast<double>(w.expert_bytes) /
                      static_cast<double>(w.expert_bytes + w.dense_bytes));
    }
    std::printf("\n");
  } else {
    std::printf("\nnot loadable by this engine: %s\n", load.message().c_str());
  }
  std::printf("\ntensors:\n  %-32s %-6s %-22s %12s\n", "name", "type", "shape", "bytes");
  for (const gguf::TensorInfo& t : f.tensors()) {
    std::printf("  %-32s %-6s %-22s %12llu\n", t.name.c_str(),
                std::string(kernels::type_name(t.type)).c_str(), shape(t.ne).c_str(),
                static_cast<unsigned long long>(t.n_bytes));
  }
}

void print_json(const gguf::GgufFile& f, const model::Model* m, const Status& load,
                const std::optional<experts::MemoryPlan>& plan) {
  JsonWriter j;
  j.begin_object().key("file").value(f.path()).key("gguf_version").value(int64_t{f.version()});
  j.key("file_bytes").value(f.file_size()).key("loadable").value(m != nullptr);
  if (!m) j.key("error").value(load.message());
  j.key("metadata").begin_object();
  for (const auto& [k, v] : f.metadata()) j.key(k).value(v.to_display_string(16));
  j.end_object();
  if (m) {
    const model::ModelConfig& c = m->config();
    const model::ModelWeights& w = m->weights();
    j.key("arch").value(c.arch).key("hparams").begin_object();
    model::write_hparams_json(j, c);
    j.end_object();
    j.key("tokenizer").begin_object().key("model").value(m->tokenizer().vocab().model);
    j.key("n_tokens").value(int64_t{m->tokenizer().vocab().size()}).end_object();
    j.key("dense_bytes").value(w.dense_bytes).key("expert_bytes").value(w.expert_bytes);
    j.key("bytes_per_expert").value(w.bytes_per_expert(first_moe(c)));
  }
  if (plan) {
    j.key("memory").begin_object();
    j.key("device_bytes").value(plan->device_bytes).key("dense_bytes").value(plan->dense_bytes);
    j.key("expert_bytes").value(plan->expert_bytes);
    j.key("all_expert_bytes").value(plan->all_expert_bytes);
    j.key("scratch_bytes").value(plan->scratch_bytes).key("kv_bytes").value(plan->kv_bytes);
    j.key("kv_bytes_per_token").value(plan->kv_bytes_per_token);
    j.key("max_context").value(plan->max_context).end_object();
  }
  j.key("tensors").begin_array();
  for (const gguf::TensorInfo& t : f.tensors()) {
    j.begin_object().key("name").value(t.name).key("type").value(kernels::type_name(t.type));
    j.key("ne").array(t.ne).key("bytes").value(t.n_bytes).key("offset").value(t.offset);
    j.end_object();
  }
  j.end_array().end_object();
  std::printf("%s\n", j.str().c_str());
}

}  // namespace

void declare_info(CommandSpec& spec) {
  spec.positional("MODEL", "GGUF file")
      .flag("json", "print one JSON object")
      .option("budget", 0, "SIZE",
              "expert budget for the memory breakdown: bytes (K/M/G), percent of all expert "
              "bytes, or experts per layer (4e)")
      .option("device-memory", 0, "SIZE",
              "whole device budget (default: dense + all experts + scratch + KV for the "
              "training context)")
      .option("kv-type", 0, "TYPE", "KV cache type for the breakdown: f32 or f16", "f32");
}

namespace {

// The memory breakdown for --budget / --device-memory.
Result<experts::MemoryPlan> memory_breakdown(const ParsedArgs& args, const model::Model& m) {
  experts::ExpertStore store(m.config(), m.weights());
  experts::MemoryPlanOptions o;
  if (args.has("budget")) {
    auto b = parse_budget(*args.get_string("budget"), store);
    if (!b.ok()) return args.error("--budget: " + b.status().message());
    o.expert_budget = std::max<uint64_t>(*b, 1);
  }
  if (args.has("device-memory")) {
    auto d = parse_budget(*args.get_string("device-memory"), store);
    if (!d.ok()) return args.error("--device-memory: " + d.status().message());
    o.device_bytes = *d;
  }
  auto kv = args.get_choice("kv-type", {"f32", "f16"});
  if (!kv.ok()) return kv.status();
  o.kv_type = *kv == "f16" ? kernels::TensorType::F16 : kernels::TensorType::F32;
  return experts::plan_memory(m.config(), m.weights(), store, o);
}

void print_plan(const experts::MemoryPlan& p) {
  std::printf("\nmemory (device budget %s):\n", human_bytes(p.device_bytes).c_str());
  std::printf("  dense weights   %12s\n", human_bytes(p.dense_bytes).c_str());
  std::printf("  expert tier     %12s  (all experts: %s)\n", human_bytes(p.expert_bytes).c_str(),
              human_bytes(p.all_expert_bytes).c_str());
  std::printf("  scratch         %12s\n", human_bytes(p.scratch_bytes).c_str());
  std::printf("  KV cache        %12s  (%s per token)\n", human_bytes(p.kv_bytes).c_str(),
              human_bytes(p.kv_bytes_per_token).c_str());
  std::printf("  maximum context %12lld tokens\n", static_cast<long long>(p.max_context));
}

}  // namespace

Status run_info(const ParsedArgs& args) {
  const std::string& path = args.positionals().at(0);
  auto model = model::Model::load(path);
  const model::Model* m = model.ok() ? model->get() : nullptr;
  // The model keeps its parsed file; only a file the engine cannot run is parsed on its own,
  // so its metadata and tensors still print.
  std::unique_ptr<gguf::GgufFile> raw;
  if (!m) {
    auto file = gguf::GgufFile::open(path);
    if (!file.ok()) return file.status();
    raw = std::move(file).value();
  }
  const gguf::GgufFile& f = m ? m->file() : *raw;
  const bool want_plan = args.has("budget") || args.has("device-memory");
  if (want_plan && !m) return model.status();
  std::optional<experts::MemoryPlan> plan;
  if (want_plan) {
    auto p = memory_breakdown(args, *m);
    if (!p.ok()) return p.status();
    plan = *p;
  }
  if (args.flag("json")) {
    print_json(f, m, model.status(), plan);
  } else {
    print_text(f, m, model.status());
    if (plan) print_plan(*plan);
  }
  return Status::ok();
}

}  // namespace emoe::cli
