// Reads one llama.cpp reference fixture (tests/data/<model>/ref/, FIXTURES_README.md section 4):
// index.json and routing.json through QJsonDocument and the headerless little-endian float32
// .bin files. Every size is checked against the shapes index.json declares, so a truncated or
// mismatched fixture is reported instead of silently compared.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::test {

struct TopEntry {
  int32_t id = 0;
  float logit = 0.0f;
};

// Routing of one layer at every recorded position of one prompt (routing.json).
struct LayerRoutingRef {
  int32_t layer = 0;
  std::vector<std::vector<int32_t>> topk;         // [n_pos][k], descending probability
  std::vector<std::vector<float>> weights;        // [n_pos][k], probs[topk] (raw)
  std::vector<std::vector<float>> weights_norm;   // [n_pos][k], what multiplies the experts
  std::vector<std::vector<float>> router_logits;  // [n_pos][n_expert]
  std::vector<std::vector<float>> probs;          // [n_pos][n_expert]
  std::vector<float> margin;                      // [n_pos], in router-logit units, >= 0
};

struct GreedyRef {
  std::vector<int32_t> token_ids;                 // [16]
  std::vector<float> top1_top2_gap;               // [16], gap of the row that chose token j
  std::vector<std::vector<TopEntry>> step_top10;  // [16][10]; row 0 = last prompt row
  std::vector<double> step_logsumexp;             // [16]
  std::string text;
};

struct PromptRef {
  int index = 0;
  std::string name;
  std::string text;  // UTF-8, decoded from text_hex (exact bytes)
  int64_t n_tokens = 0;
  std::vector<int32_t> token_ids;            // with BOS
  std::vector<int32_t> argmax;               // [n_tokens]
  std::vector<double> logsumexp;             // [n_tokens]
  std::vector<std::vector<TopEntry>> top10;  // [n_tokens][10], descending
  GreedyRef greedy;
  double min_routing_margin = 0.0;

  std::vector<int64_t> last3_positions;  // ascending prompt positions of logits_last3
  std::vector<float> logits_last3;       // [R][n_vocab]
  std::vector<float> logits_sub;         // [n_tokens][n_sub]
  std::vector<float> hidden;             // [n_layer][n_tokens][n_embd]

  std::vector<int64_t> routing_positions;  // 0..n-1 (batched), n..n+14 (decode)
  std::vector<LayerRoutingRef> routing;    // [n_layer]

  // Full-vocab reference row at prompt position `pos`, or nullptr when not stored.
  const float* full_row(int64_t pos, int64_t n_vocab) const;
  // top1 - top2 logit of the reference row at prompt position `pos`.
  float top_gap(int64_t pos) const { return top10[pos][0].logit - top10[pos][1].logit; }
};

// llama.cpp run with one setting changed, measured against this reference (section 5).
struct VariantRef {
  std::string description;
  double max_abs_prompt = 0.0;
  double max_abs_gen = 0.0;
  double max_abs_probs = 0.0;
  double max_abs_lout = 0.0;
  int64_t argmax_mismatch = 0;
  int64_t topk_set_mismatch = 0;
  bool greedy_equal = false;
};

// llama.cpp's default F16 KV cache (variants_vs_this_reference.kv16.reference).
struct Kv16Ref {
  std::vector<std::vector<int32_t>> greedy;                          // [prompt][16]
  std::vector<std::vector<int32_t>> argmax;                          // [prompt][n_tokens]
  std::vector<std::vector<std::vector<std::vector<int32_t>>>> topk;  // [prompt][layer][pos][k]
};

struct Fixture {
  std::string ref_dir;
  std::string model_path;  // absolute path of model.gguf next to ref/
  std::string model_name;
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
  int64_t n_expert = 0, n_expert_used = 0, n_vocab = 0;
  double rms_eps = 0.0, rope_freq_base = 0.0;
  bool topk_weights_renormalized = true;
  double min_greedy_gap = 0.0;
  double min_routing_margin = 0.0;
  std::vector<int32_t> sub_vocab_ids;  // [n_sub]
  std::vector<PromptRef> prompts;
  std::map<std::string, VariantRef> variants;  // "t2", "nocb", "seq", "kv16"
  std::optional<Kv16Ref> kv16;

  int64_t n_sub() const { return static_cast<int64_t>(sub_vocab_ids.size()); }
  // Loads <ref_dir>/index.json, routing.json and every prompt's .bin files.
  static Result<Fixture> load(const std::string& ref_dir);
};

// The fixture directory for a model folder name ("tiny-mixtral-f32"): EMOE_TEST_DATA_DIR/name/ref.
std::string fixture_ref_dir(const std::string& model_folder);

}  // namespace emoe::test
