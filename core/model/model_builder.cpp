#include "core/model/model_builder.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <numbers>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/gguf/gguf_value.h"
#include "core/gguf/gguf_writer.h"
#include "core/model/architecture.h"
#include "core/model/synthetic_deepseek.h"
#include "core/tokenizer/vocab.h"
#include "core/tokenizer/vocab_builder.h"
#include "kernels/cpu/quantize.h"

namespace emoe::model {
namespace {

using kernels::TensorType;

constexpr uint64_t kAlignment = 32;
constexpr int64_t kMaxLayers = 512;   // llama.cpp's LLAMA_MAX_LAYERS
constexpr int64_t kMaxExperts = 256;  // llama.cpp's LLAMA_MAX_EXPERTS
constexpr int64_t kMaxDim = 1 << 16;  // n_embd, and the head count
constexpr int64_t kMaxFf = 1 << 20;
constexpr int64_t kMaxCtx = 1 << 24;
constexpr int64_t kSlabElements = int64_t{1} << 22;  // generated between progress reports
// Generation ends at this fraction; writing the file takes the rest.
constexpr double kGenerateShare = 0.95;

using synth::TensorPlan;

// Validated specs name a supported architecture; llama stands in for anything else so the
// helpers below never see a null pointer.
const ArchTraits& traits_of(const SyntheticModelSpec& s) {
  const ArchTraits* a = find_architecture(s.arch);
  return a ? *a : *find_architecture("llama");
}

int64_t head_dim_of(const SyntheticModelSpec& s) {
  return s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
}

// {arch}.feed_forward_length as the real models of the architecture write it: the expert width
// times top-k where llama.cpp derives the expert width that way (Qwen1.5-MoE: 1408 x 4 = 5632,
// Qwen3-30B-A3B: 768 x 8 = 6144).
int64_t ff_key_value(const SyntheticModelSpec& s) {
  return traits_of(s).expert_width == ExpertWidth::ExpertKeyOrFfPerUsed
             ? s.n_ff * std::max<int64_t>(s.n_expert_used, 1)
             : s.n_ff;
}

int64_t shexp_width(const SyntheticModelSpec& s) {
  if (!traits_of(s).shared_expert) return 0;
  return s.n_ff_shexp > 0 ? s.n_ff_shexp : ff_key_value(s);
}

std::vector<TensorPlan> plan_tensors(const SyntheticModelSpec& s) {
  const ArchTraits& a = traits_of(s);
  const int64_t head_dim = head_dim_of(s);
  const int64_t n_q = head_dim * s.n_head;
  const int64_t n_embd_kv = head_dim * s.n_head_kv;
  const int64_t ff_sh = shexp_width(s);
  const double in_embd = 1.0 / std::sqrt(static_cast<double>(s.n_embd));
  const double in_ff = 1.0 / std::sqrt(static_cast<double>(s.n_ff));
  const TensorType w = s.weight_type, f32 = TensorType::F32;
  const bool bias = a.qkv_bias == Need::Required;
  std::vector<TensorPlan> t;
  t.push_back({"token_embd.weight", s.embd_type, {s.n_embd, s.n_vocab}, 0.0, 1.0});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    if (a.leading_dense) {  // deepseek, deepseek2
      synth::plan_deepseek_layer(s, l, t);
      continue;
    }
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", f32, {s.n_embd}, 1.0, 0.1});
    t.push_back({p + "attn_q.weight", w, {s.n_embd, n_q}, 0.0, in_embd});
    if (bias) t.push_back({p + "attn_q.bias", f32, {n_q}, 0.0, 0.5});
    t.push_back({p + "attn_k.weight", w, {s.n_embd, n_embd_kv}, 0.0, in_embd});
    if (bias) t.push_back({p + "attn_k.bias", f32, {n_embd_kv}, 0.0, 0.5});
    t.push_back({p + "attn_v.weight", w, {s.n_embd, n_embd_kv}, 0.0, in_embd});
    if (bias) t.push_back({p + "attn_v.bias", f32, {n_embd_kv}, 0.0, 0.5});
    t.push_back({p + "attn_output.weight", w, {n_q, s.n_embd}, 0.0, in_embd});
    if (a.qk_norm != QkNorm::None) {
      const bool whole = a.qk_norm == QkNorm::Whole;
      t.push_back({p + "attn_q_norm.weight", f32, {whole ? n_q : head_dim}, 1.0, 0.1});
      t.push_back({p + "attn_k_norm.weight", f32, {whole ? n_embd_kv : head_dim}, 1.0, 0.1});
    }
    t.push_back({p + "ffn_norm.weight", f32, {s.n_embd}, 1.0, 0.1});
    if (s.n_expert > 0) {
      t.push_back({p + "ffn_gate_inp.weight", f32, {s.n_embd, s.n_expert}, 0.0, 2.0 * in_embd});
      t.push_back({p + "ffn_gate_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0.0, in_embd});
      t.push_back({p + "ffn_up_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0.0, in_embd});
      t.push_back({p + "ffn_down_exps.weight", w, {s.n_ff, s.n_embd, s.n_expert}, 0.0, in_ff});
      if (ff_sh > 0) {
        const double in_sh = 1.0 / std::sqrt(static_cast<double>(ff_sh));
        t.push_back({p + "ffn_gate_inp_shexp.weight", f32, {s.n_embd}, 0.0, 2.0 * in_embd});
        t.push_back({p + "ffn_gate_shexp.weight", w, {s.n_embd, ff_sh}, 0.0, in_embd});
        t.push_back({p + "ffn_up_shexp.weight", w, {s.n_embd, ff_sh}, 0.0, in_embd});
        t.push_back({p + "ffn_down_shexp.weight", w, {ff_sh, s.n_embd}, 0.0, in_sh});
      }
    } else {
      t.push_back({p + "ffn_gate.weight", w, {s.n_embd, s.n_ff}, 0.0, in_embd});
      t.push_back({p + "ffn_up.weight", w, {s.n_embd, s.n_ff}, 0.0, in_embd});
      t.push_back({p + "ffn_down.weight", w, {s.n_ff, s.n_embd}, 0.0, in_ff});
    }
  }
  t.push_back({"output_norm.weight", f32, {s.n_embd}, 1.0, 0.1});
  t.push_back({"output.weight", s.output_type, {s.n_embd, s.n_vocab}, 0.0, 2.0 * in_embd});
  if (s.mix == QuantMix::Q4_K_M) {
    for (TensorPlan& p : t) {
      // llama-quantize leaves 1-D tensors and the routers unquantized.
      if (p.ne.size() < 2 || p.name.find("ffn_gate_inp") != std::string::npos) continue;
      p.type = q4_k_m_type(p.name, p.ne, s.n_layer, s.n_expert);
    }
  }
  return t;
}

uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

uint64_t tensor_bytes(const TensorPlan& t) {
  return *kernels::row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(t.n_elements() / t.ne[0]);
}

Status check_range(const char* field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return invalid_argument(std::string(field) + " = " + std::to_string(v) + " is out of range " +
                            std::to_string(lo) + ".." + std::to_string(hi));
  }
  return Status::ok();
}

// `type` (the spec field `field`) must be writable and its blocks must tile every row it is
// used for: each entry of `widths` is (what, ne[0]).
Status check_type(const char* field, TensorType type,
                  std::initializer_list<std::pair<const char*, int64_t>> widths) {
  const kernels::TypeTraits* tr = kernels::type_traits(type);
  if (!tr) {
    return invalid_argument(std::string(field) + ": unknown tensor type id " +
                            std::to_string(static_cast<uint32_t>(type)));
  }
  // Probe the quantizer on one block: the writer supports fewer types than the reader.
  std::vector<float> probe(static_cast<size_t>(tr->block_size), 0.5f);
  std::vector<uint8_t> out(static_cast<size_t>(tr->type_size));
  if (!kernels::quantize_row(type, probe.data(), out.data(), tr->block_size)) {
    return unsupported(std::string(field) + ": cannot write " + std::string(tr->name) +
                       " tensors; writable types: " + std::string(kernels::supported_type_list()));
  }
  for (const auto& [what, n] : widths) {
    if (n % tr->block_size != 0) {
      return invalid_argument(std::string(field) + " " + std::string(tr->name) + " needs " + what +
                              " (" + std::to_string(n) + ") to be a multiple of its block size " +
                              std::to_string(tr->block_size));
    }
  }
  return Status::ok();
}

uint64_t data_bytes(const std::vector<TensorPlan>& plan) {
  uint64_t total = 0;
  for (const TensorPlan& t : plan) total = align_up(total + tensor_bytes(t));
  return total;
}

// llama.cpp's llama_ftype for a model whose main weights are `t` (informational only).
uint32_t file_type_for(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return 0;  // ALL_F32
    case TensorType::F16:
      return 1;  // MOSTLY_F16
    case TensorType::Q4_0:
      return 2;  // MOSTLY_Q4_0
    case TensorType::Q4_1:
      return 3;  // MOSTLY_Q4_1
    case TensorType::Q8_0:
      return 7;  // MOSTLY_Q8_0
    case TensorType::Q5_0:
      return 8;  // MOSTLY_Q5_0
    case TensorType::Q5_1:
      return 9;  // MOSTLY_Q5_1
    case TensorType::BF16:
      return 32;  // MOSTLY_BF16
    default:
      return 0;
  }
}

bool is_quantized(TensorType t) {
  return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

// The counter-based normal stream described in model_builder.h.
uint64_t splitmix64_at(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// out[i] = float(mean + std * normal(first + i)) for i in [0, n).
void fill_normals(uint64_t seed, uint64_t first, int64_t n, double mean, double std, float* out) {
  constexpr double kInv53 = 1.0 / 9007199254740992.0;  // 2^-53
  uint64_t g = first;
  const uint64_t end = first + static_cast<uint64_t>(n);
  while (g < end) {
    const uint64_t pair = g >> 1;
    const double u1 = static_cast<double>((splitmix64_at(seed, 2 * pair) >> 11) + 1) * kInv53;
    const double u2 = static_cast<double>(splitmix64_at(seed, 2 * pair + 1) >> 11) * kInv53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * std::numbers::pi * u2;
    if ((g & 1) == 0) {
      out[g - first] = static_cast<float>(mean + std * (r * std::cos(theta)));
      if (g + 1 < end) out[g + 1 - first] = static_cast<float>(mean + std * (r * std::sin(theta)));
      g += 2;
    } else {
      out[g - first] = static_cast<float>(mean + std * (r * std::sin(theta)));
      g += 1;
    }
  }
}

int thread_count(const SyntheticModelSpec& s) {
  if (s.n_threads > 0) return s.n_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(hw, 1u, 16u));
}

void set_vocab(gguf::GgufWriter& w, const tokenizer::Vocab& v) {
  using gguf::Value;
  using gguf::ValueType;
  Value::Array tokens, scores, types;
  tokens.reserve(v.tokens.size());
  scores.reserve(v.tokens.size());
  types.reserve(v.tokens.size());
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    tokens.push_back(Value::string(v.tokens[i]));
    scores.push_back(Value::f32(v.scores[i]));
    types.push_back(Value::i32(static_cast<int32_t>(v.types[i])));
  }
  w.set("tokenizer.ggml.model", Value::string(v.model));
  w.set("tokenizer.ggml.pre", Value::string(v.pre));
  w.set("tokenizer.ggml.tokens", Value::array(ValueType::String, std::move(tokens)));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::Float32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::Int32, std::move(types)));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(static_cast<uint32_t>(v.bos)));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(static_cast<uint32_t>(v.eos)));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(static_cast<uint32_t>(v.unk)));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(v.add_bos));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(v.add_eos));
}

void set_hparams(gguf::GgufWriter& w, const SyntheticModelSpec& s) {
  using gguf::Value;
  const ArchTraits& a = traits_of(s);
  const int64_t head_dim = head_dim_of(s);
  const int64_t n_rot = s.n_rot > 0 ? s.n_rot : head_dim;
  std::string name = s.name;
  if (name.empty()) {
    name = "emoe-synthetic-" + (s.arch == "llama" ? std::string() : s.arch + "-") +
           std::to_string(s.n_layer) + "L-" + std::to_string(s.n_embd) + "d-" +
           (s.n_expert > 0 ? std::to_string(s.n_expert) + "x" + std::to_string(s.n_expert_used)
                           : std::string("dense")) +
           "-seed" + std::to_string(s.seed);
  }
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  const std::string p = s.arch + ".";
  w.set("general.architecture", Value::string(s.arch));
  w.set("general.name", Value::string(name));
  w.set("general.alignment", Value::u32(static_cast<uint32_t>(kAlignment)));
  w.set("general.file_type", Value::u32(s.mix != QuantMix::Uniform ? quant_mix_file_type(s.mix)
                                                                   : file_type_for(s.weight_type)));
  if (s.mix != QuantMix::Uniform || is_quantized(s.weight_type) || is_quantized(s.embd_type) ||
      is_quantized(s.output_type))
    w.set("general.quantization_version", Value::u32(2));
  w.set(p + "context_length", u32(s.n_ctx));
  w.set(p + "embedding_length", u32(s.n_embd));
  w.set(p + "block_count", u32(s.n_layer));
  w.set(p + "feed_forward_length", u32(ff_key_value(s)));
  w.set(p + "rope.dimension_count", u32(n_rot));
  w.set(p + "rope.freq_base", Value::f32(s.rope_freq_base));
  w.set(p + "attention.head_count", u32(s.n_head));
  w.set(p + "attention.head_count_kv", u32(s.n_head_kv));
  if (head_dim != s.n_embd / s.n_head) {
    w.set(p + "attention.key_length", u32(head_dim));
    w.set(p + "attention.value_length", u32(head_dim));
  }
  w.set(p + "attention.layer_norm_rms_epsilon", Value::f32(s.rms_eps));
  if (s.n_expert > 0) {
    w.set(p + "expert_count", u32(s.n_expert));
    w.set(p + "expert_used_count", u32(s.n_expert_used));
    if (a.expert_width == ExpertWidth::ExpertKeyOrFfPerUsed) {
      w.set(p + "expert_feed_forward_length", u32(s.n_ff));
    }
    if (a.shared_expert) w.set(p + "expert_shared_feed_forward_length", u32(shexp_width(s)));
  }
  if (a.leading_dense) synth::set_deepseek_hparams(w, s);
  w.set(p + "vocab_size", u32(s.n_vocab));
}

// Generates and encodes one tensor, slab by slab. Returns false when progress cancelled.
bool generate_tensor(const TensorPlan& t, uint64_t seed, uint64_t first, int n_threads,
                     const std::function<bool(int64_t done)>& on_slab, std::vector<uint8_t>& out) {
  const int64_t ne0 = t.ne[0];
  const uint64_t row = *kernels::row_bytes(t.type, ne0);
  const int64_t n_rows = t.n_elements() / ne0;
  out.assign(static_cast<size_t>(row * static_cast<uint64_t>(n_rows)), 0);
  const int64_t slab_rows = std::max<int64_t>(1, kSlabElements / ne0);
  std::vector<std::vector<float>> buffers(static_cast<size_t>(n_threads));
  for (int64_t r0 = 0; r0 < n_rows; r0 += slab_rows) {
    const int64_t r1 = std::min(n_rows, r0 + slab_rows);
    const int64_t rows = r1 - r0;
    const int n_workers = static_cast<int>(std::min<int64_t>(n_threads, rows));
    auto work = [&](int wi) {
      const int64_t a = r0 + rows * wi / n_workers, b = r0 + rows * (wi + 1) / n_workers;
      std::vector<float>& buf = buffers[static_cast<size_t>(wi)];
      buf.resize(static_cast<size_t>((b - a) * ne0));
      fill_normals(seed, first + static_cast<uint64_t>(a * ne0), (b - a) * ne0, t.mean, t.std,
                   buf.data());
      for (int64_t r = a; r < b; ++r) {
        // The type was probed in validation, so this cannot fail.
        kernels::quantize_row(t.type, buf.data() + (r - a) * ne0,
                              out.data() + static_cast<uint64_t>(r) * row, ne0);
      }
    };
    std::vector<std::thread> pool;
    for (int wi = 1; wi < n_workers; ++wi) {
      try {
        pool.emplace_back(work, wi);
      } catch (const std::system_error&) {
        work(wi);  // no thread to be had: do its share here
      }
    }
    work(0);
    for (std::thread& th : pool) th.join();
    if (!on_slab(rows * ne0)) return false;
  }
  return true;
}

// The rules an architecture adds to the generic ones (architecture.h), so a generated file
// loads in llama.cpp as well as here.
Status validate_arch_rules(const SyntheticModelSpec& s, const ArchTraits& a) {
  if (a.leading_dense) {
    EMOE_RETURN_IF_ERROR(synth::validate_deepseek_spec(s));
  } else if (s.n_layer_dense_lead || s.n_ff_dense || s.n_expert_shared || s.q_lora_rank ||
             s.kv_lora_rank || s.v_head_dim || s.mla_legacy_kv_b || s.gating_sigmoid ||
             s.exp_probs_b || s.expert_weights_norm || s.n_expert_groups || s.yarn_factor != 0.0f) {
    return invalid_argument("arch " + s.arch + " has no leading dense layers, DeepSeek shared " +
                            "experts, latent attention or DeepSeek router keys");
  }
  if (a.moe_only && s.n_expert == 0) {
    return invalid_argument("arch " + s.arch + " is a mixture-of-experts architecture: n_expert " +
                            "must be at least 1");
  }
  const int64_t plain_head = s.n_embd / s.n_head;
  if (s.head_dim != 0) {
    EMOE_RETURN_IF_ERROR(check_range("head_dim", s.head_dim, 2, kMaxDim));
    if (s.head_dim % 2 != 0) {
      return invalid_argument("head_dim = " + std::to_string(s.head_dim) +
                              " must be even (RoPE rotates pairs)");
    }
    if (!a.free_head_dim && s.head_dim != plain_head) {
      return invalid_argument("arch " + s.arch + " needs head_dim = n_embd / n_head (" +
                              std::to_string(plain_head) + "): llama.cpp shapes its attn_q " +
                              "[n_embd, n_embd]");
    }
  }
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : plain_head;
  if (a.full_rotary && s.n_rot != 0 && s.n_rot != head_dim) {
    return invalid_argument("arch " + s.arch + " rotates whole heads: n_rot must be 0 or the " +
                            "head size " + std::to_string(head_dim));
  }
  if (s.n_ff_shexp != 0) {
    if (!a.shared_expert) {
      return invalid_argument("n_ff_shexp: arch " + s.arch + " has no shared expert");
    }
    EMOE_RETURN_IF_ERROR(check_range("n_ff_shexp", s.n_ff_shexp, 1, kMaxFf));
  }
  // llama.cpp's olmoe creates attn_k_norm [n_embd] and multiplies it into K, which is only
  // n_head_kv * head size wide: grouped-query attention would not load there.
  if (a.qk_norm == QkNorm::Whole && s.n_head_kv != s.n_head) {
    return invalid_argument("arch " + s.arch + " needs n_head_kv = n_head (" +
                            std::to_string(s.n_head) + "): llama.cpp sizes attn_k_norm n_embd");
  }
  return Status::ok();
}

}  // namespace

Status validate_synthetic_spec(const SyntheticModelSpec& s) {
  const ArchTraits* arch = find_architecture(s.arch);
  if (!arch) {
    return invalid_argument("arch '" + s.arch +
                            "' is not supported (supported: " + supported_architectures() + ")");
  }
  EMOE_RETURN_IF_ERROR(check_range("n_layer", s.n_layer, 1, kMaxLayers));
  EMOE_RETURN_IF_ERROR(check_range("n_embd", s.n_embd, 1, kMaxDim));
  EMOE_RETURN_IF_ERROR(check_range("n_head", s.n_head, 1, s.n_embd));
  if (s.n_embd % s.n_head != 0) {
    return invalid_argument("n_head (" + std::to_string(s.n_head) + ") must divide n_embd (" +
                            std::to_string(s.n_embd) + ")");
  }
  EMOE_RETURN_IF_ERROR(check_range("n_head_kv", s.n_head_kv, 1, s.n_head));
  if (s.n_head % s.n_head_kv != 0) {
    return invalid_argument("n_head_kv (" + std::to_string(s.n_head_kv) + ") must divide n_head (" +
                            std::to_string(s.n_head) + ")");
  }
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  if (s.n_rot == 0 && head_dim % 2 != 0) {
    if (s.head_dim != 0) {
      return invalid_argument("head_dim = " + std::to_string(head_dim) +
                              " must be even (RoPE rotates pairs)");
    }
    return invalid_argument("head dimension n_embd / n_head = " + std::to_string(head_dim) +
                            " is odd; RoPE rotates pairs, so set an even n_rot");
  }
  if (s.n_rot != 0) {
    EMOE_RETURN_IF_ERROR(check_range("n_rot", s.n_rot, 2, head_dim));
    if (s.n_rot % 2 != 0) {
      return invalid_argument("n_rot = " + std::to_string(s.n_rot) +
                              " must be even (RoPE rotates pairs)");
    }
  }
  EMOE_RETURN_IF_ERROR(check_range("n_ff", s.n_ff, 1, kMaxFf));
  EMOE_RETURN_IF_ERROR(check_range("n_expert", s.n_expert, 0, kMaxExperts));
  if (s.n_expert > 0) {
    EMOE_RETURN_IF_ERROR(check_range("n_expert_used", s.n_expert_used, 1, s.n_expert));
  }
  EMOE_RETURN_IF_ERROR(check_range("n_vocab", s.n_vocab, tokenizer::kMinBuiltVocabSize,
                                   tokenizer::kMaxBuiltVocabSize));
  EMOE_RETURN_IF_ERROR(check_range("n_ctx", s.n_ctx, 1, kMaxCtx));
  if (!std::isfinite(s.rope_freq_base) || s.rope_freq_base <= 0.0f) {
    return invalid_argument("rope_freq_base = " + std::to_string(s.rope_freq_base) +
                            " must be a positive finite number");
  }
  if (!std::isfinite(s.rms_eps) || s.rms_eps <= 0.0f || s.rms_eps >= 1.0f) {
    return invalid_argument("rms_eps = " + std::to_string(s.rms_eps) + " must be in (0, 1)");
  }
  EMOE_RETURN_IF_ERROR(check_range("n_threads", s.n_threads, 0, 256));
  EMOE_RETURN_IF_ERROR(validate_arch_rules(s, *arch));
  // A mix falls back to a type that fits each row, as llama-quantize does.
  if (s.mix == QuantMix::Uniform)
    EMOE_RETURN_IF_ERROR(
        check_type("weight_type", s.weight_type,
                   {{"n_embd", s.n_embd},
                    {"n_ff", s.n_ff},
                    {"n_head * head_dim", s.n_head * head_dim},
                    {"the shared expert width", std::max<int64_t>(shexp_width(s), 0)}}));
  if (s.mix == QuantMix::Uniform && traits_of(s).leading_dense) {
    for (const auto& [what, n] : synth::deepseek_row_widths(s)) {
      EMOE_RETURN_IF_ERROR(check_type("weight_type", s.weight_type, {{what, n}}));
    }
  }
  if (s.mix == QuantMix::Uniform) {
    EMOE_RETURN_IF_ERROR(check_type("embd_type", s.embd_type, {{"n_embd", s.n_embd}}));
    EMOE_RETURN_IF_ERROR(check_type("output_type", s.output_type, {{"n_embd", s.n_embd}}));
  }
  // Every bound above keeps this product far from overflow (< 2^63).
  const uint64_t bytes = data_bytes(plan_tensors(s));
  if (bytes > kMaxSyntheticModelBytes) {
    return invalid_argument("the model's tensors would take " + std::to_string(bytes >> 20) +
                            " MiB; the generator holds the file in memory and allows at most " +
                            std::to_string(kMaxSyntheticModelBytes >> 20) + " MiB");
  }
  return Status::ok();
}

Result<uint64_t> estimate_synthetic_model_size(const SyntheticModelSpec& s) {
  EMOE_RETURN_IF_ERROR(validate_synthetic_spec(s).with_context("invalid model spec"));
  const std::vector<TensorPlan> plan = plan_tensors(s);
  uint64_t header = 4096;  // magic, counts and the hyperparameter keys, generously
  for (const TensorPlan& t : plan) header += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
  // Per token: string length (8) + about 7 bytes of text + score (4) + type (4).
  header += static_cast<uint64_t>(s.n_vocab) * 23;
  return align_up(header) + data_bytes(plan);
}

namespace {

Status write_model(const SyntheticModelSpec& spec, const std::string& path,
                   const std::function<bool(double fraction)>& progress) {
  const auto cancelled_status = [&] {
    return cancelled("generation of '" + path + "' was cancelled; no file was written");
  };
  if (progress && !progress(0.0)) return cancelled_status();

  Result<tokenizer::Vocab> vocab = tokenizer::build_spm_vocab(static_cast<int32_t>(spec.n_vocab));
  if (!vocab.ok()) return vocab.status().with_context("building the vocabulary");
  gguf::GgufWriter writer;
  set_hparams(writer, spec);
  set_vocab(writer, *vocab);

  const std::vector<TensorPlan> plan = plan_tensors(spec);
  int64_t total = 0;
  for (const TensorPlan& t : plan) total += t.n_elements();
  const int n_threads = thread_count(spec);
  int64_t done = 0;
  uint64_t first = 0;  // index of the tensor's first normal in the stream
  std::vector<uint8_t> bytes;
  const auto on_slab = [&](int64_t n) {
    done += n;
    return !progress ||
           progress(kGenerateShare * static_cast<double>(done) / static_cast<double>(total));
  };
  for (const TensorPlan& t : plan) {
    if (!generate_tensor(t, spec.seed, first, n_threads, on_slab, bytes)) return cancelled_status();
    EMOE_RETURN_IF_ERROR(writer.add_tensor(t.name, t.type, t.ne, bytes));
    first += static_cast<uint64_t>(t.n_elements());
  }
  bytes = {};
  EMOE_RETURN_IF_ERROR(writer.write(path).with_context("writing the synthetic model"));
  if (progress) progress(1.0);  // the file is complete; a late cancel changes nothing
  return Status::ok();
}

}  // namespace

Status write_synthetic_model(const SyntheticModelSpec& spec, const std::string& path,
                             const std::function<bool(double fraction)>& progress) {
  EMOE_RETURN_IF_ERROR(validate_synthetic_spec(spec).with_context("invalid model spec"));
  try {
    return write_model(spec, path, progress);
  } catch (const std::bad_alloc&) {
    // The whole file is assembled in memory before it is written.
    const Result<uint64_t> size = estimate_synthetic_model_size(spec);
    return out_of_memory("not enough memory to generate '" + path + "' (about " +
                         std::to_string((size.ok() ? *size : 0) >> 20) + " MiB)");
  }
}

}  // namespace emoe::model
