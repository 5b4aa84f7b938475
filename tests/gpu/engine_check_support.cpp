// Traced engine runs and their comparison for the engine checks (engine_check_support.h).
#include "tests/gpu/engine_check_support.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace emoe::gpucheck {

using kernels::TensorType;

namespace {

// Rounding-boundary flips (flip_origins): a (position, layer) output that differs by more than
// kNoise while its inputs agreed starts a cascade; a run may have this many, each moving the
// output where it starts by at most kFlipEffect.
constexpr double kNoise = 1e-5;
constexpr int kMaxFlips = 3;
constexpr double kFlipEffect = 1e-2;
constexpr int kSteps = 4;

// How two traces differ: routing sets per (token, layer), logits rows, layer outputs.
struct Diff {
  int64_t decisions = 0, mismatches = 0;
  std::string first_mismatch;
  double logits = INFINITY, hidden = INFINITY;
  std::string problem;  // the traces cannot be compared at all
};

Diff diff(const Trace& got, const Trace& want, int64_t n_vocab) {
  Diff d;
  if (got.logits.size() != want.logits.size()) {
    d.problem = std::to_string(got.logits.size()) + " logits, expected " +
                std::to_string(want.logits.size());
    return d;
  }
  if (got.routes.size() != want.routes.size()) {
    d.problem = std::to_string(got.routes.size()) + " routing events, expected " +
                std::to_string(want.routes.size());
    return d;
  }
  d.decisions = static_cast<int64_t>(want.routes.size());
  for (size_t i = 0; i < want.routes.size(); ++i) {
    const Trace::Route &a = got.routes[i], &b = want.routes[i];
    if (a.seq == b.seq && a.pos == b.pos && a.layer == b.layer && a.used == b.used) continue;
    if (d.mismatches++ == 0) {
      d.first_mismatch = "layer " + std::to_string(b.layer) + " seq " + std::to_string(b.seq) +
                         " pos " + std::to_string(b.pos);
    }
  }
  d.logits = max_row_error(got.logits, want.logits, n_vocab);
  if (got.hidden_.size() == want.hidden_.size() && !want.hidden_.empty()) {
    d.hidden = normalised_max_error(got.hidden_.data(), want.hidden_.data(),
                                    static_cast<int64_t>(want.hidden_.size()));
  }
  return d;
}

std::string describe(const Diff& d) {
  return "logits error " + fmt(d.logits) + ", layer outputs " + fmt(d.hidden) + ", " +
         std::to_string(d.decisions - d.mismatches) + "/" + std::to_string(d.decisions) +
         " routing decisions equal";
}

// Where a single-sequence run with rounded activations starts to part from the reference.
// When a sum that feeds an activation rounding lands within float noise of a rounding boundary,
// the two backends (summing in different orders) round it a whole Q8 step or F16 ulp apart, and
// the difference cascades through later layers and positions: FIXTURES_README.md section 5
// measures such cascades (0.01-0.13 in logits) for an independent implementation of
// tiny-mixtral-q. A cell (position p, layer l; the logits are one more layer) is an origin when
// it differs by more than kNoise while everything it reads agreed: layer l - 1 at positions up
// to p. A flip makes one origin of about one step's effect; a wrong kernel makes origins at
// every position of the first layer it touches.
struct Origins {
  int count = 0;
  double worst = 0;  // the largest error at an origin
  std::string where;
  std::string problem;  // a cell is missing
};

Origins flip_origins(const Trace& got, const Trace& want, int64_t n_vocab) {
  Origins o;
  int32_t n_layer = 0, n_pos = static_cast<int32_t>(want.logits.size() / n_vocab);
  for (const auto& [key, v] : want.cells) n_layer = std::max(n_layer, key[2] + 1);
  const int32_t seq = want.cells.empty() ? 0 : want.cells.begin()->first[0];
  std::vector<std::vector<double>> err(static_cast<size_t>(n_layer + 1),
                                       std::vector<double>(static_cast<size_t>(n_pos), 0.0));
  for (int32_t p = 0; p < n_pos; ++p) {
    for (int32_t l = 0; l < n_layer; ++l) {
      const auto a = got.cells.find({seq, p, l}), b = want.cells.find({seq, p, l});
      if (a == got.cells.end() || b == want.cells.end() || a->second.size() != b->second.size()) {
        o.problem =
            "layer " + std::to_string(l) + " output of position " + std::to_string(p) + " missing";
        return o;
      }
      err[l][p] = normalised_max_error(a->second.data(), b->second.data(),
                                       static_cast<int64_t>(b->second.size()));
    }
    err[n_layer][p] = normalised_max_error(got.logits.data() + p * n_vocab,
                                           want.logits.data() + p * n_vocab, n_vocab);
  }
  for (int32_t l = 0; l <= n_layer; ++l) {
    bool inputs_agree = true;  // layer l - 1 at positions 0..p
    for (int32_t p = 0; p < n_pos; ++p) {
      if (l > 0) inputs_agree = inputs_agree && err[l - 1][p] <= kNoise;
      if (err[l][p] <= kNoise || !inputs_agree) continue;
      if (o.count++ < 4) {
        o.where += std::string(o.where.empty() ? "" : ", ") +
                   (l == n_layer ? "logits" : "layer " + std::to_string(l)) + " position " +
                   std::to_string(p) + " (" + fmt(err[l][p]) + ")";
      }
      o.worst = std::max(o.worst, err[l][p]);
    }
  }
  return o;
}

}  // namespace

RunSpec on(std::shared_ptr<gpu::Device> device, engine::ExpertAccess experts) {
  RunSpec s;
  s.device = std::move(device);
  s.experts = experts;
  return s;
}

Result<std::unique_ptr<Trace>> run_prompt(const model::Model& m, const RunSpec& spec,
                                          const std::vector<int32_t>& prompt,
                                          const std::vector<int32_t>* feed) {
  engine::EngineOptions o;
  o.n_ctx = 64;
  o.experts = spec.experts;
  o.device = spec.device;
  o.kv_type = spec.kv_type;
  auto e = engine::Engine::create(m, o);
  if (!e.ok()) return e.status();
  auto trace = std::make_unique<Trace>();
  (*e)->add_observer(trace.get());
  auto seq = (*e)->new_sequence();
  if (!seq.ok()) return seq.status();
  engine::Batch b;
  for (size_t i = 0; i < prompt.size(); ++i) {
    b.push_back({prompt[i], *seq, static_cast<int32_t>(i), true, engine::Phase::Prefill});
  }
  std::vector<float> logits;
  EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
  trace->logits = logits;
  const int64_t n_vocab = m.config().n_vocab;
  for (int step = 0; step < kSteps; ++step) {
    const float* last = logits.data() + logits.size() - n_vocab;
    const auto greedy = static_cast<int32_t>(std::max_element(last, last + n_vocab) - last);
    const int32_t next = feed ? (*feed)[static_cast<size_t>(step)] : greedy;
    trace->fed.push_back(next);
    b.assign(1,
             {next, *seq, static_cast<int32_t>(prompt.size()) + step, true, engine::Phase::Decode});
    EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
    trace->logits.insert(trace->logits.end(), logits.begin(), logits.end());
  }
  (*e)->remove_observer(trace.get());
  return trace;
}

double max_row_error(const std::vector<float>& got, const std::vector<float>& want,
                     int64_t n_vocab) {
  double worst = 0;
  for (size_t at = 0; at + static_cast<size_t>(n_vocab) <= want.size(); at += n_vocab) {
    worst = std::max(worst, normalised_max_error(got.data() + at, want.data() + at, n_vocab));
  }
  return worst;
}

void compare(CheckResult& r, const std::string& what, const Trace& got, const Trace& want,
             int64_t n_vocab, double tol, bool flips) {
  const Diff d = diff(got, want, n_vocab);
  if (!r.expect(d.problem.empty(), what + ": " + d.problem)) return;
  r.expect(d.mismatches == 0,
           what + ": " + std::to_string(d.mismatches) + " of " + std::to_string(d.decisions) +
               " routing decisions use other experts (first: " + d.first_mismatch + ")");
  r.expect(std::isfinite(d.hidden), what + ": layer outputs missing or not finite");
  r.note(what + ": " + describe(d));
  if (d.logits <= tol) return;
  if (!flips) {
    r.expect(false, what + ": logits differ by a normalised " + fmt(d.logits) + " (tolerance " +
                        fmt(tol) + ")");
    return;
  }
  const Origins o = flip_origins(got, want, n_vocab);
  if (!r.expect(o.problem.empty(), what + ": " + o.problem)) return;
  const std::string found =
      std::to_string(o.count) + " places where outputs part with agreeing " + "inputs: " + o.where;
  r.expect(o.count <= kMaxFlips && o.worst <= kFlipEffect,
           what + ": logits differ by a normalised " + fmt(d.logits) + " (tolerance " + fmt(tol) +
               "), from " + found + " (rounding-boundary flips allow at most " +
               std::to_string(kMaxFlips) + ", each under " + fmt(kFlipEffect) + ")");
  r.note(what + ": past the tolerance after rounding-boundary flips: " + found);
}

bool all_f32(const model::Model& m) {
  const model::ModelWeights& w = m.weights();
  bool f32 = w.output.type == TensorType::F32;
  for (const model::LayerWeights& l : w.layers) {
    for (const kernels::MatrixView* v :
         {&l.wq, &l.wk, &l.wv, &l.wo, &l.wq_a, &l.wq_b, &l.wkv_a_mqa, &l.wk_b, &l.wv_b, &l.router,
          &l.ffn_gate_shexp, &l.ffn_up_shexp, &l.ffn_down_shexp, &l.ffn_gate, &l.ffn_up,
          &l.ffn_down}) {
      f32 = f32 && (!v->data || v->type == TensorType::F32);
    }
    for (const model::ExpertTensor* t : {&l.gate_exps, &l.up_exps, &l.down_exps}) {
      f32 = f32 && (!t->data || t->type == TensorType::F32);
    }
  }
  return f32;
}

model::SyntheticModelSpec arch_spec(const std::string& arch, TensorType type) {
  model::SyntheticModelSpec s;
  s.arch = arch.starts_with("deepseek2") ? "deepseek2" : arch;
  s.n_layer = 3;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = arch == "olmoe" ? 4 : 2;
  s.n_ff = 64;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_vocab = 400;
  s.n_ctx = 256;
  s.weight_type = type;
  s.seed = 31;
  s.n_threads = 2;
  if (arch.starts_with("deepseek")) {
    s.n_layer_dense_lead = 1;
    s.n_head_kv = 4;
  }
  if (arch == "deepseek2") {
    s.head_dim = 64;
    s.n_rot = 32;
    s.mla_legacy_kv_b = true;
  }
  if (arch == "deepseek2_qlora") {
    s.head_dim = 64;
    s.n_rot = 32;
    s.q_lora_rank = 32;
    s.n_expert_shared = 2;
    s.gating_sigmoid = s.exp_probs_b = s.expert_weights_norm = true;
    s.expert_weights_scale = 2.5f;
    s.n_expert_groups = 4;
    s.n_group_used = 2;
    s.yarn_factor = 4.0f;
    s.yarn_log_multiplier = 0.0707f;
    s.yarn_orig_ctx = 64;
  }
  return s;
}

Result<std::unique_ptr<model::Model>> build(const CheckContext& ctx,
                                            const model::SyntheticModelSpec& spec,
                                            const std::string& name) {
  const std::string path = (std::filesystem::path(ctx.scratch_dir) / (name + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    EMOE_RETURN_IF_ERROR(model::write_synthetic_model(spec, path));
  }
  return model::Model::load(path);
}

}  // namespace emoe::gpucheck
