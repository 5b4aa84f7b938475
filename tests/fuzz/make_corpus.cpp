// Writes the GGUF fuzzer's seed corpus with GgufWriter: small valid files that reach every part
// of the reader. Seeds are named *.seed because .gitignore skips *.gguf outside tests/data.
// Usage: fuzz_gguf_make_corpus OUT_DIR [VOCAB_GGUF]   (OUT_DIR is normally tests/fuzz/corpus;
// VOCAB_GGUF, e.g. tests/data/vocab/ggml-vocab-llama-spm.gguf, adds a seed with real tokens).
#include <cstdio>
#include <string>
#include <vector>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"

// The seeds hold raw tensor bytes only (add_tensor, never add_tensor_f32); this stub satisfies
// the writer's link dependency on the quantizers so the tool builds without emoe_kernels.
namespace emoe::kernels {
bool quantize_row(TensorType, const float*, void*, int64_t) { return false; }
}  // namespace emoe::kernels

using emoe::gguf::GgufFile;
using emoe::gguf::GgufWriter;
using emoe::gguf::Value;
using emoe::gguf::ValueType;
using emoe::kernels::TensorType;

namespace {

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(i * 37 + 11);
  return d;
}

bool add(GgufWriter& w, const std::string& name, TensorType t, std::vector<int64_t> ne,
         size_t bytes) {
  emoe::Status s = w.add_tensor(name, t, std::move(ne), pattern(bytes));
  if (!s.is_ok()) std::fprintf(stderr, "%s\n", s.message().c_str());
  return s.is_ok();
}

bool save(const GgufWriter& w, const std::string& dir, const char* name) {
  emoe::Status s = w.write(dir + "/" + name);
  if (!s.is_ok()) std::fprintf(stderr, "%s\n", s.message().c_str());
  return s.is_ok();
}

Value strings(std::vector<std::string> v) {
  Value::Array a;
  for (std::string& s : v) a.push_back(Value::string(std::move(s)));
  return Value::array(ValueType::String, std::move(a));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [VOCAB_GGUF]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;

  {  // A tiny llama-style MoE model: hparams, a tokenizer and quantized tensors.
    GgufWriter w;
    w.set("general.architecture", Value::string("llama"));
    w.set("llama.block_count", Value::u32(1));
    w.set("llama.embedding_length", Value::u32(32));
    w.set("llama.expert_count", Value::u32(2));
    w.set("llama.rope.freq_base", Value::f32(10000.0f));
    w.set("tokenizer.ggml.model", Value::string("llama"));
    w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81hi", "a"}));
    Value::Array scores, types;
    for (int i = 0; i < 5; ++i) {
      scores.push_back(Value::f32(-static_cast<float>(i)));
      types.push_back(Value::i32(i < 3 ? 3 : 1));
    }
    w.set("tokenizer.ggml.scores", Value::array(ValueType::Float32, scores));
    w.set("tokenizer.ggml.token_type", Value::array(ValueType::Int32, types));
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
    ok &= add(w, "token_embd.weight", TensorType::Q4_0, {32, 5}, 5 * 18);
    ok &= add(w, "blk.0.attn_norm.weight", TensorType::F32, {32}, 128);
    ok &= add(w, "blk.0.ffn_up_exps.weight", TensorType::Q8_0, {32, 4, 2}, 8 * 34);
    ok &= add(w, "output.weight", TensorType::F16, {32, 5}, 320);
    ok &= save(w, dir, "tiny-llama.seed");
  }
  {  // Every value type, nested and empty arrays, a custom alignment, odd tensor types.
    GgufWriter w;
    w.set("general.alignment", Value::u32(16));
    w.set("v.u8", Value::u8(200));
    w.set("v.i8", Value::i8(-100));
    w.set("v.u16", Value::u16(60000));
    w.set("v.i16", Value::i16(-30000));
    w.set("v.u32", Value::u32(4000000000u));
    w.set("v.i32", Value::i32(-2000000000));
    w.set("v.u64", Value::u64(~0ull));
    w.set("v.i64", Value::i64(-1));
    w.set("v.f32", Value::f32(0.5f));
    w.set("v.f64", Value::f64(-0.25));
    w.set("v.bool", Value::boolean(false));
    w.set("v.str", Value::string("\xC3\xA9t\xC3\xA9"));
    w.set("v.empty", Value::array(ValueType::UInt16, {}));
    w.set("v.nested",
          Value::array(ValueType::Array,
                       {Value::array(ValueType::Bool, {Value::boolean(true)}),
                        Value::array(ValueType::Float64, {Value::f64(1.0), Value::f64(2.0)})}));
    ok &= add(w, "q4_k", TensorType::Q4_K, {256}, 144);
    ok &= add(w, "i16", TensorType::I16, {3, 1, 1, 2}, 12);
    ok &= add(w, "empty", TensorType::F32, {0}, 0);
    ok &= add(w, "bf16", TensorType::BF16, {4}, 8);
    ok &= save(w, dir, "all-types.seed");
  }
  {  // Arrays nested to the reader's limit.
    GgufWriter w;
    Value v = Value::array(ValueType::Int8, {Value::i8(1)});
    for (int i = 1; i < 16; ++i) v = Value::array(ValueType::Array, {v});
    w.set("deep", v);
    ok &= save(w, dir, "deep.seed");
  }
  {  // Header only.
    GgufWriter w;
    ok &= save(w, dir, "empty.seed");
  }
  if (argc > 2) {  // Real tokens and scores: the first 400 entries of a vocabulary file.
    auto r = GgufFile::open(argv[2]);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().message().c_str());
      return 1;
    }
    GgufWriter w;
    for (const auto& [k, v] : (*r)->metadata()) {
      if (v.type() == ValueType::Array && v.as_array()->size() > 400) {
        Value::Array head(v.as_array()->begin(), v.as_array()->begin() + 400);
        w.set(k, Value::array(v.elem_type(), std::move(head)));
      } else {
        w.set(k, v);
      }
    }
    ok &= save(w, dir, "vocab-head.seed");
  }
  return ok ? 0 : 1;
}
