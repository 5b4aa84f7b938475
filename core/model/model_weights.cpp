#include "core/model/model_weights.h"

#include <algorithm>
#include <string>

#include "core/gguf/gguf_file.h"
#include "kernels/cpu/quantize.h"

namespace emoe::model {
namespace {

using kernels::TensorType;

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// Binds tensors by name and checks shapes and types, accumulating byte counts.
class Binder {
 public:
  explicit Binder(const gguf::GgufFile& f) : f_(f) {}

  Result<const gguf::TensorInfo*> find(const std::string& name, std::vector<int64_t> ne,
                                       bool required = true) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) {
      if (!required) return static_cast<const gguf::TensorInfo*>(nullptr);
      return not_found("tensor '" + name + "' is missing");
    }
    std::vector<int64_t> have = t->ne;
    while (have.size() > ne.size() && have.back() == 1) have.pop_back();
    if (have != ne) {
      return corrupt("tensor '" + name + "' has shape " + shape_str(t->ne) + ", expected " +
                     shape_str(ne));
    }
    const kernels::TypeTraits* tr = kernels::type_traits(t->type);
    if (!tr || !tr->compute) {
      return unsupported("tensor '" + name + "' has type " +
                         std::string(kernels::type_name(t->type)) +
                         ", which this engine cannot compute (supported: " +
                         std::string(kernels::supported_type_list()) + ")");
    }
    return t;
  }

  Status matrix(const std::string& name, int64_t cols, int64_t rows, kernels::MatrixView* out,
                bool expert = false) {
    auto t = find(name, {cols, rows});
    if (!t.ok()) return t.status();
    *out = view(**t);
    (expert ? expert_bytes : dense_bytes) += (*t)->n_bytes;
    return Status::ok();
  }

  // A 3-D tensor [n][rows][cols] viewed as one matrix of n * rows rows.
  Status stacked(const std::string& name, int64_t cols, int64_t rows, int64_t n,
                 kernels::MatrixView* out) {
    auto t = find(name, {cols, rows, n});
    if (!t.ok()) return t.status();
    *out = {(*t)->type, rows * n, cols, static_cast<size_t>(*kernels::row_bytes((*t)->type, cols)),
            (*t)->data};
    dense_bytes += (*t)->n_bytes;
    return Status::ok();
  }

  Status vector(const std::string& name, int64_t n, std::vector<float>* out, bool required = true) {
    auto t = find(name, {n}, required);
    if (!t.ok()) return t.status();
    if (!*t) return Status::ok();  // optional and absent: out stays empty
    out->resize(static_cast<size_t>(n));
    if (!kernels::dequantize_row((*t)->type, (*t)->data, out->data(), n)) {
      return unsupported("tensor '" + name + "': cannot dequantize its type");
    }
    dense_bytes += (*t)->n_bytes;
    return Status::ok();
  }

  Status experts(const std::string& name, int64_t cols, int64_t rows, int64_t n_expert,
                 ExpertTensor* out) {
    auto t = find(name, {cols, rows, n_expert});
    if (!t.ok()) return t.status();
    const gguf::TensorInfo& ti = **t;
    out->type = ti.type;
    out->rows = rows;
    out->cols = cols;
    out->n_expert = n_expert;
    out->row_stride = static_cast<size_t>(*kernels::row_bytes(ti.type, cols));
    out->expert_stride = out->row_stride * static_cast<size_t>(rows);
    out->data = ti.data;
    expert_bytes += ti.n_bytes;
    return Status::ok();
  }

  static kernels::MatrixView view(const gguf::TensorInfo& t) {
    return {t.type, t.dim(1), t.dim(0), static_cast<size_t>(*kernels::row_bytes(t.type, t.dim(0))),
            t.data};
  }

  uint64_t dense_bytes = 0;
  uint64_t expert_bytes = 0;

 private:
  const gguf::GgufFile& f_;
};

}  // namespace

uint64_t ModelWeights::bytes_per_expert(int64_t layer) const {
  if (layer < 0 || layer >= static_cast<int64_t>(layers.size())) return 0;
  const LayerWeights& l = layers[static_cast<size_t>(layer)];
  return l.gate_exps.expert_stride + l.up_exps.expert_stride + l.down_exps.expert_stride;
}

namespace {

// Biases, Q/K norms: the attention tensors some architectures add to llama's.
Status bind_attention_extras(Binder& b, const ArchTraits& t, const ModelConfig& c,
                             const std::string& p, LayerWeights& l) {
  const int64_t n_q = c.n_head * c.n_embd_head;
  const int64_t n_kv = c.n_embd_kv();
  if (t.qkv_bias != Need::Unused) {
    const bool req = t.qkv_bias == Need::Required;
    EMOE_RETURN_IF_ERROR(b.vector(p + "attn_q.bias", n_q, &l.bq, req));
    EMOE_RETURN_IF_ERROR(b.vector(p + "attn_k.bias", n_kv, &l.bk, req));
    EMOE_RETURN_IF_ERROR(b.vector(p + "attn_v.bias", n_kv, &l.bv, req));
  }
  switch (c.qk_norm) {
    case QkNorm::None:
      break;
    case QkNorm::PerHead:
      EMOE_RETURN_IF_ERROR(b.vector(p + "attn_q_norm.weight", c.n_embd_head, &l.attn_q_norm));
      EMOE_RETURN_IF_ERROR(b.vector(p + "attn_k_norm.weight", c.n_embd_head, &l.attn_k_norm));
      break;
    case QkNorm::Whole:
      EMOE_RETURN_IF_ERROR(b.vector(p + "attn_q_norm.weight", n_q, &l.attn_q_norm));
      EMOE_RETURN_IF_ERROR(b.vector(p + "attn_k_norm.weight", n_kv, &l.attn_k_norm));
      break;
  }
  return Status::ok();
}

// Legacy deepseek2 files keep keys and values in one attn_kv_b [n_head * (nope + v)][kv_lora]:
// split and transpose its key rows into the per-head [kv_lora][nope] layout attn_k_b has, in
// F32, so attention always runs on the latent (mla_attention.h).
Status bind_legacy_kv_b(Binder& b, const ModelConfig& c, const std::string& p, LayerWeights& l) {
  const int64_t nope = c.n_nope(), hv = c.n_embd_head_v, r = c.n_lora_kv;
  kernels::MatrixView kv_b;
  const uint64_t dense_before = b.dense_bytes;
  EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_kv_b.weight", r, c.n_head * (nope + hv), &kv_b));
  // The engine only ever reads the F32 copies below; the file's tensor is read once, here.
  // So the copies, not the tensor, are what the layer keeps resident.
  b.dense_bytes = dense_before + static_cast<uint64_t>(c.n_head * (nope + hv) * r) * 4;
  l.mla_kb.assign(static_cast<size_t>(c.n_head * r * nope), 0.0f);
  l.mla_vb.assign(static_cast<size_t>(c.n_head * hv * r), 0.0f);
  std::vector<float> row(static_cast<size_t>(r));
  for (int64_t h = 0; h < c.n_head; ++h) {
    for (int64_t j = 0; j < nope + hv; ++j) {
      const int64_t src = h * (nope + hv) + j;
      if (!kernels::dequantize_row(
              kv_b.type,
              static_cast<const uint8_t*>(kv_b.data) + static_cast<size_t>(src) * kv_b.row_stride,
              row.data(), r)) {
        return unsupported("tensor '" + p + "attn_kv_b.weight': cannot dequantize its type");
      }
      if (j < nope) {
        for (int64_t i = 0; i < r; ++i)
          l.mla_kb[static_cast<size_t>((h * r + i) * nope + j)] = row[i];
      } else {
        std::copy(row.begin(), row.end(),
                  l.mla_vb.begin() + static_cast<ptrdiff_t>((h * hv + j - nope) * r));
      }
    }
  }
  const auto f32 = kernels::TensorType::F32;
  l.wk_b = {f32, c.n_head * r, nope, static_cast<size_t>(nope) * 4,
            reinterpret_cast<const uint8_t*>(l.mla_kb.data())};
  l.wv_b = {f32, c.n_head * hv, r, static_cast<size_t>(r) * 4,
            reinterpret_cast<const uint8_t*>(l.mla_vb.data())};
  return Status::ok();
}

// deepseek2's attention tensors (llama.cpp's load_arch_tensors for it).
Status bind_mla(Binder& b, const ModelConfig& c, const std::string& p, LayerWeights& l) {
  const int64_t n_q = c.n_head * c.n_embd_head;
  if (c.n_lora_q > 0) {
    EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_q_a.weight", c.n_embd, c.n_lora_q, &l.wq_a));
    EMOE_RETURN_IF_ERROR(b.vector(p + "attn_q_a_norm.weight", c.n_lora_q, &l.attn_q_a_norm));
    EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_q_b.weight", c.n_lora_q, n_q, &l.wq_b));
  } else {
    EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", c.n_embd, n_q, &l.wq));
  }
  EMOE_RETURN_IF_ERROR(
      b.matrix(p + "attn_kv_a_mqa.weight", c.n_embd, c.n_lora_kv + c.n_rot, &l.wkv_a_mqa));
  EMOE_RETURN_IF_ERROR(b.vector(p + "attn_kv_a_norm.weight", c.n_lora_kv, &l.attn_kv_a_norm));
  if (c.mla_split_kv) {
    EMOE_RETURN_IF_ERROR(
        b.stacked(p + "attn_k_b.weight", c.n_nope(), c.n_lora_kv, c.n_head, &l.wk_b));
    EMOE_RETURN_IF_ERROR(
        b.stacked(p + "attn_v_b.weight", c.n_lora_kv, c.n_embd_head_v, c.n_head, &l.wv_b));
  } else {
    EMOE_RETURN_IF_ERROR(bind_legacy_kv_b(b, c, p, l));
  }
  return b.matrix(p + "attn_output.weight", c.n_head * c.n_embd_head_v, c.n_embd, &l.wo);
}

Status bind_shared_expert(Binder& b, const ModelConfig& c, const std::string& p, LayerWeights& l) {
  const int64_t ff = c.n_ff_shexp;
  if (c.shexp_gated) {
    EMOE_RETURN_IF_ERROR(b.vector(p + "ffn_gate_inp_shexp.weight", c.n_embd, &l.shexp_gate_inp));
  }
  EMOE_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_shexp.weight", c.n_embd, ff, &l.ffn_gate_shexp));
  EMOE_RETURN_IF_ERROR(b.matrix(p + "ffn_up_shexp.weight", c.n_embd, ff, &l.ffn_up_shexp));
  return b.matrix(p + "ffn_down_shexp.weight", ff, c.n_embd, &l.ffn_down_shexp);
}

Status bind_dense_ffn(Binder& b, const ModelConfig& c, const std::string& p, LayerWeights& l) {
  EMOE_RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff, &l.ffn_gate));
  EMOE_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", c.n_embd, c.n_ff, &l.ffn_up));
  return b.matrix(p + "ffn_down.weight", c.n_ff, c.n_embd, &l.ffn_down);
}

}  // namespace

Result<ModelWeights> ModelWeights::bind(const gguf::GgufFile& f, const ModelConfig& c) {
  const ArchTraits* traits = find_architecture(c.arch);
  if (!traits) {
    return unsupported("architecture '" + c.arch +
                       "' is not supported (supported: " + supported_architectures() + ")");
  }
  ModelWeights w;
  Binder b(f);
  const int64_t n_q = c.n_head * c.n_embd_head;
  const int64_t n_kv = c.n_embd_kv();

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return not_found("tensor 'token_embd.weight' is missing");
  const int64_t n_vocab = embd->dim(1);
  if (c.n_vocab != 0 && c.n_vocab != n_vocab) {
    return corrupt("token_embd.weight has " + std::to_string(n_vocab) +
                   " rows but the tokenizer has " + std::to_string(c.n_vocab) + " tokens");
  }
  EMOE_RETURN_IF_ERROR(b.matrix("token_embd.weight", c.n_embd, n_vocab, &w.token_embd));

  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = w.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    EMOE_RETURN_IF_ERROR(b.vector(p + "attn_norm.weight", c.n_embd, &l.attn_norm));
    if (c.mla) {
      EMOE_RETURN_IF_ERROR(bind_mla(b, c, p, l).with_context(c.arch + " latent attention"));
    } else {
      EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", c.n_embd, n_q, &l.wq));
      EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", c.n_embd, n_kv, &l.wk));
      EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", c.n_embd, n_kv, &l.wv));
      EMOE_RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", n_q, c.n_embd, &l.wo));
      EMOE_RETURN_IF_ERROR(bind_attention_extras(b, *traits, c, p, l).with_context(c.arch));
    }
    EMOE_RETURN_IF_ERROR(b.vector(p + "ffn_norm.weight", c.n_embd, &l.ffn_norm));
    if (c.layer_is_moe(il)) {
      if (f.find_tensor(p + "ffn_gate.0.weight")) {
        return unsupported("tensor '" + p +
                           "ffn_gate.0.weight': per-expert tensors (pre-2024 GGUF) are not "
                           "supported; re-convert the model with a current llama.cpp");
      }
      EMOE_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_inp.weight", c.n_embd, c.n_expert, &l.router));
      if (l.router.type != TensorType::F32) {
        return unsupported("tensor '" + p + "ffn_gate_inp.weight' must be F32 (router)");
      }
      if (traits->router == RouterRule::FromFile) {
        EMOE_RETURN_IF_ERROR(b.vector(p + "exp_probs_b.bias", c.n_expert, &l.exp_probs_b, false));
      }
      EMOE_RETURN_IF_ERROR(
          b.experts(p + "ffn_gate_exps.weight", c.n_embd, c.n_ff_exp, c.n_expert, &l.gate_exps));
      EMOE_RETURN_IF_ERROR(
          b.experts(p + "ffn_up_exps.weight", c.n_embd, c.n_ff_exp, c.n_expert, &l.up_exps));
      EMOE_RETURN_IF_ERROR(
          b.experts(p + "ffn_down_exps.weight", c.n_ff_exp, c.n_embd, c.n_expert, &l.down_exps));
      if (c.has_shared_expert()) {
        EMOE_RETURN_IF_ERROR(
            bind_shared_expert(b, c, p, l).with_context(c.arch + " shared expert"));
      }
    } else {
      // A dense model's FFN, or one of a MoE model's leading dense layers (deepseek*).
      const Status st = bind_dense_ffn(b, c, p, l);
      if (!st.is_ok()) return c.is_moe() ? st.with_context(c.arch + " dense FFN") : st;
    }
  }
  EMOE_RETURN_IF_ERROR(b.vector("output_norm.weight", c.n_embd, &w.output_norm));
  if (f.find_tensor("output.weight")) {
    EMOE_RETURN_IF_ERROR(b.matrix("output.weight", c.n_embd, n_vocab, &w.output));
  } else if (traits->output_optional) {
    w.output = w.token_embd;  // tied embeddings, as llama.cpp falls back to
  } else {
    return not_found("tensor 'output.weight' is missing (" + c.arch +
                     " models have their own output matrix)");
  }
  w.dense_bytes = b.dense_bytes;
  w.expert_bytes = b.expert_bytes;
  return w;
}

}  // namespace emoe::model
