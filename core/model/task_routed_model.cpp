#include "core/model/task_routed_model.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <span>
#include <system_error>
#include <vector>

#include "core/engine/engine.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "core/model/model.h"
#include "core/sched/task_classifier.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/quantize.h"

namespace emoe::model {
namespace {

constexpr int kTasks = sched::kTaskCount;

// Shape parameters, calibrated with tests/model/test_task_routed_model.cpp so that the demo
// shape (6 layers, n_embd 256, 8 experts top-2) measures close to the real models' statistics
// in task_routed_model.h (the test prints the measured values).
struct ShapeParams {
  double target_scale;  // target logit of a token's first expert (the second gets 0.9 of it)
  double noise;         // weight of the original random router
  // Desired share of a task's expert selections: its window (strongest first) of a per-layer
  // permutation, the rest spread evenly over the other experts.
  std::vector<double> window;
};

ShapeParams shape_params(RoutingShape s) {
  // OLMoE-like; measured on the demo shape: entropy ~0.92, top-quarter share ~0.48, task-pair
  // Jaccard of top-quarter sets ~0.08.
  if (s == RoutingShape::Specialised) return {10.0, 0.1, {0.40, 0.36, 0.10}};
  // Mixtral-like; measured: entropy ~0.98, top-quarter share ~0.33.
  return {8.0, 0.1, {0.14, 0.13, 0.125}};
}

// The background (every vocabulary token, target: no preference) weighs this much against
// one task's prompt tokens; it keeps the regression well-posed and unseen tokens neutral.
constexpr double kBackgroundWeight = 1.0;
constexpr double kRidge = 1e-3;
constexpr double kHiddenWeight = 2.0;  // per task, against 1 for its token shares
// Prompts per task whose hidden states calibrate the routers of layers 1 and up.
constexpr size_t kSamplePromptsPerTask = 12;
constexpr int64_t kSampleContext = 256;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A per-layer permutation of the experts (Fisher-Yates on splitmix64), so layers differ.
std::vector<int> layer_permutation(uint64_t seed, int64_t layer, int n_expert) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(layer + 1));
  std::vector<int> p(static_cast<size_t>(n_expert));
  std::iota(p.begin(), p.end(), 0);
  for (int i = n_expert - 1; i > 0; --i) {
    const auto j = static_cast<int>(splitmix64(state) % static_cast<uint64_t>(i + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

// Desired expert-selection distribution [task][expert] for one layer: task k's window starts
// at position round(k * n_expert / kTasks) of the layer's permutation, so neighbouring tasks
// share experts while their favourites differ.
std::vector<std::vector<double>> layer_desired(const ShapeParams& sp, uint64_t seed, int64_t layer,
                                               int n_expert) {
  const std::vector<int> perm = layer_permutation(seed, layer, n_expert);
  const int window = std::min<int>(static_cast<int>(sp.window.size()), n_expert - 1);
  double in_window = 0;
  for (int j = 0; j < window; ++j) in_window += sp.window[static_cast<size_t>(j)];
  const double rest = std::max(0.0, 1.0 - in_window) / (n_expert - window);
  std::vector<std::vector<double>> d(kTasks,
                                     std::vector<double>(static_cast<size_t>(n_expert), rest));
  for (int k = 0; k < kTasks; ++k) {
    const int start = static_cast<int>(std::lround(static_cast<double>(k) * n_expert / kTasks));
    for (int j = 0; j < window; ++j) {
      const int e = perm[static_cast<size_t>((start + j) % n_expert)];
      d[static_cast<size_t>(k)][static_cast<size_t>(e)] = sp.window[static_cast<size_t>(j)];
    }
  }
  return d;
}

// A target expert pair per token (greedy, most frequent tokens first): each token goes to the
// two experts with the largest remaining deficit of the tasks it occurs in, weighted by its
// share of each task's tokens, so that every task's selections approach its desired
// distribution. Returns [token index][2].
std::vector<std::array<int, 2>> assign_tokens(const std::vector<std::array<double, kTasks>>& c,
                                              const std::vector<size_t>& order,
                                              const std::vector<std::vector<double>>& desired,
                                              int n_expert) {
  std::vector<std::array<int, 2>> out(c.size());
  std::vector<std::vector<double>> used(kTasks, std::vector<double>(static_cast<size_t>(n_expert)));
  std::array<double, kTasks> total{};
  std::vector<double> score(static_cast<size_t>(n_expert));
  for (size_t t : order) {
    for (int e = 0; e < n_expert; ++e) {
      double s = 0;
      for (int k = 0; k < kTasks; ++k) {
        const double ck = c[t][static_cast<size_t>(k)];
        if (ck <= 0) continue;
        // Deficit after this token: desired share minus the share it would then have.
        const double n = total[static_cast<size_t>(k)] + 2 * ck;
        s += ck * (desired[static_cast<size_t>(k)][static_cast<size_t>(e)] -
                   used[static_cast<size_t>(k)][static_cast<size_t>(e)] / n);
      }
      score[static_cast<size_t>(e)] = s;
    }
    int e1 = 0, e2 = 1;
    if (score[1] > score[0]) std::swap(e1, e2);
    for (int e = 2; e < n_expert; ++e) {
      if (score[static_cast<size_t>(e)] > score[static_cast<size_t>(e1)]) {
        e2 = e1;
        e1 = e;
      } else if (score[static_cast<size_t>(e)] > score[static_cast<size_t>(e2)]) {
        e2 = e;
      }
    }
    out[t] = {e1, e2};
    for (int k = 0; k < kTasks; ++k) {
      const double ck = c[t][static_cast<size_t>(k)];
      used[static_cast<size_t>(k)][static_cast<size_t>(e1)] += ck;
      used[static_cast<size_t>(k)][static_cast<size_t>(e2)] += ck;
      total[static_cast<size_t>(k)] += 2 * ck;
    }
  }
  return out;
}

// Solves (A) x = b in place for symmetric positive definite A (n x n, row-major), for
// several right-hand sides b (n x m, row-major). Returns false if A is not positive definite.
bool cholesky_solve(std::vector<double>& a, std::vector<double>& b, int n, int m) {
  for (int j = 0; j < n; ++j) {
    double d = a[static_cast<size_t>(j) * n + j];
    for (int k = 0; k < j; ++k)
      d -= a[static_cast<size_t>(j) * n + k] * a[static_cast<size_t>(j) * n + k];
    if (!(d > 0)) return false;
    const double ljj = std::sqrt(d);
    a[static_cast<size_t>(j) * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = a[static_cast<size_t>(i) * n + j];
      for (int k = 0; k < j; ++k)
        s -= a[static_cast<size_t>(i) * n + k] * a[static_cast<size_t>(j) * n + k];
      a[static_cast<size_t>(i) * n + j] = s / ljj;
    }
  }
  for (int c = 0; c < m; ++c) {
    for (int i = 0; i < n; ++i) {  // L z = b
      double s = b[static_cast<size_t>(i) * m + c];
      for (int k = 0; k < i; ++k)
        s -= a[static_cast<size_t>(i) * n + k] * b[static_cast<size_t>(k) * m + c];
      b[static_cast<size_t>(i) * m + c] = s / a[static_cast<size_t>(i) * n + i];
    }
    for (int i = n - 1; i >= 0; --i) {  // L^T x = z
      double s = b[static_cast<size_t>(i) * m + c];
      for (int k = i + 1; k < n; ++k)
        s -= a[static_cast<size_t>(k) * n + i] * b[static_cast<size_t>(k) * m + c];
      b[static_cast<size_t>(i) * m + c] = s / a[static_cast<size_t>(i) * n + i];
    }
  }
  return true;
}

// Removes a file when it goes out of scope.
struct TempFile {
  std::string path;
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

Result<std::vector<float>> read_f32(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) return not_found("tensor " + name + " is missing");
  if (t->type != kernels::TensorType::F32 || t->n_elements != n) {
    return corrupt("tensor " + name + " is not F32 with " + std::to_string(n) + " elements");
  }
  std::vector<float> v(static_cast<size_t>(n));
  std::memcpy(v.data(), t->data, static_cast<size_t>(n) * sizeof(float));
  return v;
}

// The residual stream after every layer for sample prompts of each task, from a forward pass
// of the untuned model: deeper routers see these rather than bare token embeddings.
struct HiddenSample : engine::ForwardObserver {
  struct Position {
    int task = 0;
    int32_t token = 0;
  };
  std::vector<Position> positions;
  std::vector<std::vector<float>> hidden;  // [layer][position * n_embd + i]
  size_t first = 0;                        // index of the current batch's first position
  void on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch, const float* h,
                       int64_t n_embd) override {
    std::vector<float>& out = hidden[static_cast<size_t>(layer)];
    out.resize((first + batch.size()) * static_cast<size_t>(n_embd));
    std::copy(h, h + batch.size() * static_cast<size_t>(n_embd),
              out.begin() + static_cast<std::ptrdiff_t>(first * static_cast<size_t>(n_embd)));
  }
};

Status sample_hidden(const std::string& path, const sched::TaskPrompts& prompts,
                     HiddenSample& sample) {
  Result<std::unique_ptr<Model>> m = Model::load(path);
  if (!m.ok()) return m.status().with_context("loading the untuned model");
  sample.hidden.assign(static_cast<size_t>((*m)->config().n_layer), {});
  engine::EngineOptions o;
  o.n_ctx = kSampleContext;
  Result<std::unique_ptr<engine::Engine>> e = engine::Engine::create(**m, o);
  if (!e.ok()) return e.status();
  (*e)->add_observer(&sample);
  for (int k = 0; k < kTasks; ++k) {
    const std::vector<std::string>& list = prompts[static_cast<size_t>(k)];
    if (list.empty()) continue;
    const size_t step = std::max<size_t>(1, list.size() / kSamplePromptsPerTask);
    for (size_t i = step / 2; i < list.size(); i += step) {
      std::vector<int32_t> ids = (*m)->tokenizer().encode(list[i], true, false);
      if (ids.size() > static_cast<size_t>(kSampleContext)) ids.resize(kSampleContext);
      Result<int32_t> seq = (*e)->new_sequence();
      if (!seq.ok()) return seq.status();
      engine::Batch b;
      for (size_t p = 0; p < ids.size(); ++p) {
        b.push_back({ids[p], *seq, static_cast<int32_t>(p), false, engine::Phase::Prefill});
        sample.positions.push_back({k, ids[p]});
      }
      Status st = (*e)->decode(b, nullptr);
      (*e)->free_sequence(*seq);
      EMOE_RETURN_IF_ERROR(st);
      sample.first = sample.positions.size();
    }
  }
  return Status::ok();
}

Status build(const SyntheticModelSpec& spec, RoutingShape shape, const sched::TaskPrompts& prompts,
             const std::string& out_path, const std::function<bool(double)>& progress) {
  const auto cancelled_status = [&] {
    return cancelled("generation of '" + out_path + "' was cancelled; no file was written");
  };
  TempFile tmp{out_path + ".untuned.tmp"};
  EMOE_RETURN_IF_ERROR(write_synthetic_model(
      spec, tmp.path, [&](double f) { return !progress || progress(0.6 * f); }));
  Result<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::open(tmp.path);
  if (!file.ok()) return file.status().with_context("re-reading the generated model");
  const gguf::GgufFile& f = **file;
  Result<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::Tokenizer::from_gguf(f);
  if (!tok.ok()) return tok.status().with_context("the generated model's tokenizer");

  HiddenSample sample;
  EMOE_RETURN_IF_ERROR(sample_hidden(tmp.path, prompts, sample));
  if (progress && !progress(0.62)) return cancelled_status();
  const int64_t n_embd = spec.n_embd, n_vocab = spec.n_vocab;
  const int n_expert = static_cast<int>(spec.n_expert);
  const auto ne = static_cast<size_t>(n_embd);

  // RMS-normalised token embeddings [n_vocab][n_embd], as the router's norm would see them.
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return corrupt("the generated model has no token_embd.weight");
  const uint64_t row = *kernels::row_bytes(embd->type, n_embd);
  std::vector<double> xhat(static_cast<size_t>(n_vocab) * ne);
  std::vector<float> buf(ne);
  for (int64_t t = 0; t < n_vocab; ++t) {
    if (!kernels::dequantize_row(embd->type, embd->data + static_cast<uint64_t>(t) * row,
                                 buf.data(), n_embd)) {
      return unsupported("cannot dequantize token_embd.weight");
    }
    double ss = 0;
    for (float v : buf) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n_embd) + spec.rms_eps);
    for (size_t i = 0; i < ne; ++i) xhat[static_cast<size_t>(t) * ne + i] = buf[i] * inv;
  }

  // Per task: token shares of its prompts (each task weighs 1 in total).
  const sched::TaskClassifier classifier = sched::TaskClassifier::builtin();
  std::vector<std::map<int32_t, double>> share(kTasks);
  for (sched::TaskType task : sched::kAllTasks) {
    const auto k = static_cast<size_t>(sched::task_index(task));
    std::vector<std::string> texts = prompts[k];
    if (texts.empty()) {
      for (const sched::TaskKeyword& kw : classifier.keywords(task)) texts.push_back(kw.text);
    }
    double total = 0;
    for (const std::string& p : texts) {
      for (int32_t id : (*tok)->encode(p, false, false)) {
        if (id < 0 || id >= n_vocab) continue;
        share[k][id] += 1.0;
        total += 1.0;
      }
    }
    if (total <= 0) {
      return invalid_argument("task " + std::string(sched::task_name(task)) +
                              ": its prompts produce no tokens");
    }
    for (auto& [id, c] : share[k]) c /= total;
  }
  if (progress && !progress(0.65)) return cancelled_status();

  // Gram matrix of the features before the ffn_norm scale: G0 = sum_t w_t xhat_t xhat_t^T with
  // w_t = background + sum over tasks of share; and per-task mean features m_k.
  std::vector<double> w(static_cast<size_t>(n_vocab),
                        kBackgroundWeight / static_cast<double>(n_vocab));
  for (const auto& s : share) {
    for (const auto& [id, c] : s) w[static_cast<size_t>(id)] += c;
  }
  std::vector<double> g0(ne * ne, 0.0);
  for (int64_t t = 0; t < n_vocab; ++t) {
    const double* x = &xhat[static_cast<size_t>(t) * ne];
    const double wt = w[static_cast<size_t>(t)];
    for (size_t i = 0; i < ne; ++i) {
      const double a = wt * x[i];
      double* gi = &g0[i * ne];
      for (size_t j = 0; j <= i; ++j) gi[j] += a * x[j];
    }
  }
  for (size_t i = 0; i < ne; ++i) {
    for (size_t j = 0; j < i; ++j) g0[j * ne + i] = g0[i * ne + j];
  }
  // The prompt tokens: ids, per-task shares, most frequent first.
  std::map<int32_t, std::array<double, kTasks>> by_id;
  for (int k = 0; k < kTasks; ++k) {
    for (const auto& [id, c] : share[static_cast<size_t>(k)]) by_id[id][static_cast<size_t>(k)] = c;
  }
  std::vector<int32_t> ids;
  std::vector<std::array<double, kTasks>> shares;
  for (const auto& [id, c] : by_id) {
    ids.push_back(id);
    shares.push_back(c);
  }
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const auto weight_of = [&](size_t i) {
    double s = 0;
    for (double v : shares[i]) s += v;
    return s;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return weight_of(x) > weight_of(y); });
  if (progress && !progress(0.75)) return cancelled_status();

  // Copy the file, replacing each router.
  gguf::GgufWriter writer;
  for (const auto& [key, value] : f.metadata()) writer.set(key, value);
  writer.set(kTaskRoutingKey, gguf::Value::string(routing_shape_name(shape)));
  const ShapeParams sp = shape_params(shape);
  double trace = 0;
  for (size_t i = 0; i < ne; ++i) trace += g0[i * ne + i];
  for (const gguf::TensorInfo& t : f.tensors()) {
    const std::string& name = t.name;
    const std::string suffix = ".ffn_gate_inp.weight";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      EMOE_RETURN_IF_ERROR(
          writer.add_tensor(name, t.type, t.ne, {t.data, static_cast<size_t>(t.n_bytes)}));
      continue;
    }
    // "blk.<L>.ffn_gate_inp.weight"
    const std::string prefix = name.substr(0, name.size() - suffix.size());
    int64_t layer = -1;
    const char* digits = prefix.c_str() + 4;  // after "blk."
    std::from_chars(digits, prefix.c_str() + prefix.size(), layer);
    if (prefix.rfind("blk.", 0) != 0 || layer < 0 || layer >= spec.n_layer) {
      return corrupt("unexpected router tensor name " + name);
    }
    Result<std::vector<float>> norm = read_f32(f, prefix + ".ffn_norm.weight", n_embd);
    if (!norm.ok()) return norm.status();
    Result<std::vector<float>> orig = read_f32(f, name, n_embd * n_expert);
    if (!orig.ok()) return orig.status();
    // Features u = g * xhat: G = diag(g) G0 diag(g), B = diag(g) sum_k m_k y_k^T.
    std::vector<double> a(ne * ne);
    for (size_t i = 0; i < ne; ++i) {
      for (size_t j = 0; j < ne; ++j) a[i * ne + j] = (*norm)[i] * g0[i * ne + j] * (*norm)[j];
      a[i * ne + i] += kRidge * trace / static_cast<double>(ne);
    }
    const std::vector<std::array<int, 2>> pair =
        assign_tokens(shares, order, layer_desired(sp, spec.seed, layer, n_expert), n_expert);
    // B = sum over prompt tokens of w_t u_t y_t^T, y_t: the pair's target logits, centred.
    std::vector<double> b(ne * static_cast<size_t>(n_expert), 0.0);
    std::vector<double> y(static_cast<size_t>(n_expert));
    for (size_t i = 0; i < ids.size(); ++i) {
      std::fill(y.begin(), y.end(), -1.9 * sp.target_scale / n_expert);
      y[static_cast<size_t>(pair[i][0])] += sp.target_scale;
      y[static_cast<size_t>(pair[i][1])] += 0.9 * sp.target_scale;
      const double wt = weight_of(i);
      const double* x = &xhat[static_cast<size_t>(ids[i]) * ne];
      for (size_t d = 0; d < ne; ++d) {
        const double gx = wt * (*norm)[d] * x[d];
        for (int e = 0; e < n_expert; ++e) {
          b[d * static_cast<size_t>(n_expert) + static_cast<size_t>(e)] +=
              gx * y[static_cast<size_t>(e)];
        }
      }
    }
    if (layer >= 1) {
      // Sampled positions: the residual stream entering this layer, RMS-normalised and scaled
      // like the router's input; each task's positions weigh kHiddenWeight in total.
      const std::vector<float>& h = sample.hidden[static_cast<size_t>(layer - 1)];
      std::array<double, kTasks> count{};
      for (const auto& p : sample.positions) count[static_cast<size_t>(p.task)] += 1;
      std::vector<double> u(ne);
      for (size_t q = 0; q < sample.positions.size(); ++q) {
        const auto& pos = sample.positions[q];
        const double wq = kHiddenWeight / count[static_cast<size_t>(pos.task)];
        double ss = 0;
        for (size_t d = 0; d < ne; ++d) ss += static_cast<double>(h[q * ne + d]) * h[q * ne + d];
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(ne) + spec.rms_eps);
        for (size_t d = 0; d < ne; ++d) u[d] = (*norm)[d] * h[q * ne + d] * inv;
        for (size_t i = 0; i < ne; ++i) {
          const double ui = wq * u[i];
          for (size_t j = 0; j < ne; ++j) a[i * ne + j] += ui * u[j];
        }
        const auto it = std::lower_bound(ids.begin(), ids.end(), pos.token);
        std::fill(y.begin(), y.end(), 0.0);
        if (it != ids.end() && *it == pos.token) {
          const auto& pr = pair[static_cast<size_t>(it - ids.begin())];
          std::fill(y.begin(), y.end(), -1.9 * sp.target_scale / n_expert);
          y[static_cast<size_t>(pr[0])] += sp.target_scale;
          y[static_cast<size_t>(pr[1])] += 0.9 * sp.target_scale;
        }
        for (size_t d = 0; d < ne; ++d) {
          for (int e = 0; e < n_expert; ++e) {
            b[d * static_cast<size_t>(n_expert) + static_cast<size_t>(e)] +=
                wq * u[d] * y[static_cast<size_t>(e)];
          }
        }
      }
    }
    if (!cholesky_solve(a, b, static_cast<int>(ne), n_expert)) {
      return internal_error("the routing regression of layer " + std::to_string(layer) +
                            " is singular");
    }
    std::vector<float> router(static_cast<size_t>(n_embd * n_expert));
    for (int e = 0; e < n_expert; ++e) {
      for (size_t i = 0; i < ne; ++i) {
        const size_t at = static_cast<size_t>(e) * ne + i;  // row e: expert e's weights
        router[at] = static_cast<float>(
            b[i * static_cast<size_t>(n_expert) + static_cast<size_t>(e)] + sp.noise * (*orig)[at]);
      }
    }
    EMOE_RETURN_IF_ERROR(writer.add_tensor_f32(name, kernels::TensorType::F32, t.ne, router));
  }
  if (progress && !progress(0.9)) return cancelled_status();
  EMOE_RETURN_IF_ERROR(writer.write(out_path).with_context("writing the task-routed model"));
  if (progress) progress(1.0);
  return Status::ok();
}

}  // namespace

const char* routing_shape_name(RoutingShape shape) {
  return shape == RoutingShape::Specialised ? "specialised" : "uniform";
}

Status write_task_routed_model(const SyntheticModelSpec& spec, RoutingShape shape,
                               const sched::TaskPrompts& prompts, const std::string& out_path,
                               const std::function<bool(double fraction)>& progress) {
  EMOE_RETURN_IF_ERROR(validate_synthetic_spec(spec).with_context("invalid model spec"));
  if (spec.n_expert < 2) {
    return invalid_argument("task-dependent routing needs an MoE model (n_expert >= 2), not " +
                            std::to_string(spec.n_expert));
  }
  try {
    return build(spec, shape, prompts, out_path, progress);
  } catch (const std::bad_alloc&) {
    return out_of_memory("not enough memory to generate '" + out_path + "'");
  }
}

Status write_task_routed_model(const SyntheticModelSpec& spec, RoutingShape shape,
                               const std::string& workloads_dir, const std::string& out_path,
                               const std::function<bool(double fraction)>& progress) {
  Result<sched::TaskPrompts> prompts = sched::load_task_prompts(workloads_dir);
  if (!prompts.ok()) return prompts.status().with_context("task-routed model");
  return write_task_routed_model(spec, shape, *prompts, out_path, progress);
}

}  // namespace emoe::model
