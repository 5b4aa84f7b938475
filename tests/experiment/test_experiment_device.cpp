// The experiment's compute device (ExperimentConfig::device, docs/EXPERIMENTS.md): resolved once
// per run, every configuration of the session (points, capacity runs) computes there, and the
// result's configuration names the backend that ran. Without a GPU, "cuda" runs on the CPU,
// says so once through callbacks.notice, and gives exactly the results of a "cpu" run, compared
// field by field and token by token with an independent run. With a GPU, the same experiment
// runs there and is compared with the CPU run. One small point and a tiny capacity study keep
// this cheap on a 2-core machine. The full-model reference computes on the requested device
// (its logits checked against a CPU reference) and, where every expert does not fit there, on
// the CPU with a notice: a test device whose memory refuses them stands in for a small GPU.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/compute_device.h"
#include "core/engine/engine.h"
#include "core/engine/inference_session.h"
#include "core/experiment/experiment_runner.h"
#include "core/experiment/full_model_reference.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "kernels/gpu/gpu_device.h"
#include "tests/support/small_models.h"

using namespace emoe;
using namespace emoe::experiment;

namespace {

ExperimentConfig small_config(const std::string& device) {
  ExperimentConfig c;
  c.name = "device";
  c.device = device;
  c.workload.requests = 6;
  c.workload.seed = 5;
  c.workload.max_new_tokens_cap = 4;
  c.budgets = {"40%"};
  c.predictors = {"emoe-a"};
  c.intervals = {2};
  c.schedulers = {"emoe"};
  c.arrival_rates = {40.0};
  c.routing = {engine::RoutingMode::Fallback};
  c.serving.max_sequences = 2;
  c.serving.max_batch_tokens = 48;
  c.serving.clock = sched::ClockKind::Virtual;
  c.serving.cost.step_ms = 1.0;
  c.serving.cost.token_ms = 1.0;
  c.profile_requests = 3;
  c.accuracy = true;
  c.capacity.enabled = true;
  c.capacity.budgets = {"100%", "60%"};
  c.capacity.prompt_tokens = 8;
  c.capacity.batch = 1;
  c.capacity.generate_tokens = 2;
  c.capacity.max_batch_limit = 4;
  return c;
}

// Each request's generated tokens, from the serving loop's Token events.
using Outputs = std::map<std::pair<int32_t, int64_t>, std::vector<int32_t>>;

struct Observed {
  Outputs outputs;
  std::vector<std::string> notices;
};

ExperimentCallbacks observing(Observed* o) {
  ExperimentCallbacks cb;
  cb.request_event = [o](int32_t point, const sched::RequestEvent& e) {
    if (e.kind == sched::RequestEvent::Kind::Token) o->outputs[{point, e.id}].push_back(e.token);
  };
  cb.notice = [o](const std::string& n) { o->notices.push_back(n); };
  return cb;
}

bool has_gpu() { return !kernels::gpu::probe_runtime().devices.empty(); }

namespace gpu = kernels::gpu;

// A device that refuses any single allocation above `max_block` bytes as cudaMalloc does when
// memory runs out, and forwards everything else to `inner`. Without an inner device it has no
// free memory at all and every other call fails, so on a machine without a GPU it exercises
// only what happens when the weights do not fit (or, `broken`, when the GPU fails).
class SmallDevice final : public gpu::Device {
 public:
  SmallDevice(std::shared_ptr<gpu::Device> inner, uint64_t max_block, bool broken = false)
      : inner_(std::move(inner)), max_block_(max_block), broken_(broken) {
    info_.index = 0;
    info_.name = "test device without memory";
  }

  const gpu::DeviceInfo& info() const override { return inner_ ? inner_->info() : info_; }
  gpu::GpuStatus malloc_device(uint64_t bytes, void** out) override {
    if (!inner_ || bytes > max_block_) {
      return gpu::GpuStatus::error("cudaMalloc: out of memory (a test device that refuses " +
                                   std::to_string(bytes) + " bytes)");
    }
    return inner_->malloc_device(bytes, out);
  }
  void free_device(void* p) override {
    if (inner_) inner_->free_device(p);
  }
  gpu::GpuStatus malloc_pinned(uint64_t bytes, void** out) override {
    return inner_ ? inner_->malloc_pinned(bytes, out) : none();
  }
  void free_pinned(void* p) override {
    if (inner_) inner_->free_pinned(p);
  }
  uint64_t allocated_bytes() const override { return inner_ ? inner_->allocated_bytes() : 0; }
  gpu::GpuStatus mem_info(uint64_t* free_bytes, uint64_t* total_bytes) override {
    if (broken_) return gpu::GpuStatus::error("cudaMemGetInfo: unspecified launch failure");
    if (inner_) return inner_->mem_info(free_bytes, total_bytes);
    *free_bytes = *total_bytes = 0;
    return {};
  }
  gpu::GpuStatus copy_async(void* dst, const void* src, uint64_t bytes, gpu::StreamId s) override {
    return inner_ ? inner_->copy_async(dst, src, bytes, s) : none();
  }
  gpu::GpuStatus memset_async(void* dst, int value, uint64_t bytes, gpu::StreamId s) override {
    return inner_ ? inner_->memset_async(dst, value, bytes, s) : none();
  }
  gpu::GpuStatus upload(void* dst, const void* src, uint64_t bytes) override {
    return inner_ ? inner_->upload(dst, src, bytes) : none();
  }
  gpu::GpuStatus download(void* dst, const void* src, uint64_t bytes) override {
    return inner_ ? inner_->download(dst, src, bytes) : none();
  }
  gpu::GpuStatus create_event(gpu::Event* out) override {
    return inner_ ? inner_->create_event(out) : none();
  }
  void destroy_event(gpu::Event e) override {
    if (inner_) inner_->destroy_event(e);
  }
  gpu::GpuStatus record(gpu::Event e, gpu::StreamId s) override {
    return inner_ ? inner_->record(e, s) : none();
  }
  gpu::GpuStatus wait(gpu::StreamId s, gpu::Event e) override {
    return inner_ ? inner_->wait(s, e) : none();
  }
  gpu::GpuStatus sync_event(gpu::Event e) override {
    return inner_ ? inner_->sync_event(e) : none();
  }
  gpu::GpuStatus sync_stream(gpu::StreamId s) override {
    return inner_ ? inner_->sync_stream(s) : none();
  }
  gpu::GpuStatus elapsed_ms(gpu::Event a, gpu::Event b, float* ms) override {
    return inner_ ? inner_->elapsed_ms(a, b, ms) : none();
  }
  gpu::GpuStatus matmul(const kernels::MatrixView& w, const float* x, int64_t n, int64_t xs,
                        float* y, int64_t ys) override {
    return inner_ ? inner_->matmul(w, x, n, xs, y, ys) : none();
  }
  gpu::GpuStatus matmul_heads(const kernels::MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                              const float* x, int64_t n, int64_t xts, int64_t xhs, float* y,
                              int64_t yts, int64_t yhs) override {
    return inner_ ? inner_->matmul_heads(w, rows_per_head, n_heads, x, n, xts, xhs, y, yts, yhs)
                  : none();
  }
  gpu::GpuStatus dequantize(const kernels::MatrixView& w, float* dst) override {
    return inner_ ? inner_->dequantize(w, dst) : none();
  }
  gpu::GpuStatus rms_norm(const float* x, int64_t xs, const float* w, float eps, int64_t rows,
                          int64_t width, float* y, int64_t ys) override {
    return inner_ ? inner_->rms_norm(x, xs, w, eps, rows, width, y, ys) : none();
  }
  gpu::GpuStatus rope(float* x, int64_t n, int64_t ts, int64_t n_heads, int64_t hs, int64_t n_dims,
                      const int32_t* pos, float base, float scale, kernels::RopeMode mode,
                      const kernels::RopeYarn& yarn) override {
    return inner_ ? inner_->rope(x, n, ts, n_heads, hs, n_dims, pos, base, scale, mode, yarn)
                  : none();
  }
  gpu::GpuStatus add(const float* a, const float* b, int64_t n, float* out) override {
    return inner_ ? inner_->add(a, b, n, out) : none();
  }
  gpu::GpuStatus add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                          int64_t stride) override {
    return inner_ ? inner_->add_bias(x, bias, rows, width, stride) : none();
  }
  gpu::GpuStatus silu_mul(const float* g, const float* u, int64_t n, float* out) override {
    return inner_ ? inner_->silu_mul(g, u, n, out) : none();
  }
  gpu::GpuStatus gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                             float* dst) override {
    return inner_ ? inner_->gather_rows(src, width, idx, n, dst) : none();
  }
  gpu::GpuStatus scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                     const float* scale, int64_t n, float* dst) override {
    return inner_ ? inner_->scatter_scaled_rows(src, width, idx, scale, n, dst) : none();
  }
  gpu::GpuStatus sum_slots(const float* rows, int64_t n, int64_t k, int64_t width,
                           float* out) override {
    return inner_ ? inner_->sum_slots(rows, n, k, width, out) : none();
  }
  gpu::GpuStatus add_gated(float* out, const float* src, const float* logit, int64_t n,
                           int64_t width) override {
    return inner_ ? inner_->add_gated(out, src, logit, n, width) : none();
  }
  gpu::GpuStatus store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride,
                            void* cache, kernels::TensorType cache_type,
                            const int64_t* dst_offset) override {
    return inner_ ? inner_->store_rows(src, n, width, src_stride, cache, cache_type, dst_offset)
                  : none();
  }
  gpu::GpuStatus attention(const gpu::AttentionArgs& args) override {
    return inner_ ? inner_->attention(args) : none();
  }

 private:
  static gpu::GpuStatus none() { return gpu::GpuStatus::error("test device: no GPU behind it"); }
  std::shared_ptr<gpu::Device> inner_;
  uint64_t max_block_;
  bool broken_;  // mem_info fails as a GPU in a bad state does
  gpu::DeviceInfo info_;
};

// The reference engine's logits at every position of `tokens`, one teacher-forced pass.
std::vector<float> teacher_forced_logits(FullModelReference& ref,
                                         const std::vector<int32_t>& tokens) {
  engine::Engine& e = ref.engine();
  auto seq = e.new_sequence();
  if (!seq.ok()) return {};
  engine::Batch batch;
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch.push_back({tokens[i], *seq, static_cast<int32_t>(i), true, engine::Phase::Prefill});
  }
  std::vector<float> logits;
  Status st = e.decode(batch, &logits);
  e.free_sequence(*seq);
  if (!st.is_ok()) qWarning("teacher-forced pass: %s", st.message().c_str());
  return st.is_ok() ? logits : std::vector<float>{};
}

// max |a - b| / max |b|: the error of `a` relative to the scale of the reference `b`.
double normalised_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || b.empty()) return std::numeric_limits<double>::infinity();
  double err = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

}  // namespace

class TestExperimentDevice : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<engine::InferenceSession> session_;

  // Every measured value two runs of the same experiment on the same backend must share.
  static void compare_exactly(const ExperimentResult& a, const ExperimentResult& b) {
    QCOMPARE(a.points.size(), b.points.size());
    for (size_t i = 0; i < a.points.size(); ++i) {
      const PointResult& x = a.points[i];
      const PointResult& y = b.points[i];
      QCOMPARE(x.point.label(), y.point.label());
      QCOMPARE(x.requests.size(), y.requests.size());
      for (size_t j = 0; j < x.requests.size(); ++j) {
        const RequestOutcome& p = x.requests[j];
        const RequestOutcome& q = y.requests[j];
        QCOMPARE(p.state, q.state);
        QCOMPARE(p.timing.admit_ms, q.timing.admit_ms);
        QCOMPARE(p.timing.first_token_ms, q.timing.first_token_ms);
        QCOMPARE(p.timing.finish_ms, q.timing.finish_ms);
        QCOMPARE(p.timing.generated_tokens, q.timing.generated_tokens);
        QCOMPARE(p.scored_tokens, q.scored_tokens);
        QCOMPARE(p.agreeing_tokens, q.agreeing_tokens);
        QCOMPARE(p.matches_reference, q.matches_reference);
      }
      QCOMPARE(x.hits, y.hits);
      QCOMPARE(x.substitutions, y.substitutions);
      QCOMPARE(x.loads, y.loads);
      QCOMPARE(x.bytes_moved, y.bytes_moved);
      QCOMPARE(x.peak_total_bytes, y.peak_total_bytes);
      QCOMPARE(x.steps, y.steps);
      QCOMPARE(x.accuracy, y.accuracy);
      QCOMPARE(x.predictor_invocations, y.predictor_invocations);
    }
    QCOMPARE(a.capacity.size(), b.capacity.size());
    for (size_t i = 0; i < a.capacity.size(); ++i) {
      QCOMPARE(a.capacity[i].max_batch, b.capacity[i].max_batch);
      QCOMPARE(a.capacity[i].max_prompt, b.capacity[i].max_prompt);
      QCOMPARE(a.capacity[i].batch_run_ok, b.capacity[i].batch_run_ok);
      QCOMPARE(a.capacity[i].prompt_run_ok, b.capacity[i].prompt_run_ok);
      QCOMPARE(a.capacity[i].batch_run_peak_bytes, b.capacity[i].batch_run_peak_bytes);
    }
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const std::string path = dir_.filePath("small.gguf").toStdString();
    Status st = test::write_small_task_routed_model(path, 7, "device test model");
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto s = engine::InferenceSession::open(path);
    QVERIFY2(s.ok(), s.status().message().c_str());
    session_ = std::move(s).value();
  }

  void cuda_without_a_gpu_runs_on_the_cpu() {
    if (has_gpu()) QSKIP("a GPU is present: the CPU fallback needs a machine without one");
    Observed cpu_seen, cuda_seen;
    auto cpu = run_experiment(*session_, small_config("cpu"), {}, observing(&cpu_seen));
    QVERIFY2(cpu.ok(), cpu.status().message().c_str());
    auto cuda = run_experiment(*session_, small_config("cuda"), {}, observing(&cuda_seen));
    QVERIFY2(cuda.ok(), cuda.status().message().c_str());

    QVERIFY(cpu_seen.notices.empty());
    QCOMPARE(cuda_seen.notices.size(), size_t{1});  // once per run, not per point
    const QString notice = QString::fromStdString(cuda_seen.notices[0]);
    QVERIFY2(notice.startsWith("CUDA is not available (") && notice.endsWith("running on the CPU"),
             qPrintable(notice));
    // The backend that ran, not the one asked for.
    QCOMPARE(cpu->config.device, std::string("cpu"));
    QCOMPARE(cuda->config.device, std::string("cpu"));
    QCOMPARE(std::string(session_->engine()->backend_name()), std::string("cpu"));
    QVERIFY(session_->report().settings.device == nullptr);
    QVERIFY(session_->cache() == nullptr || session_->cache()->device() == nullptr);

    QVERIFY(!cpu->points.empty());
    QCOMPARE(cpu->capacity.size(), size_t{2});
    compare_exactly(*cpu, *cuda);
    QVERIFY(!cpu_seen.outputs.empty());
    QVERIFY(cpu_seen.outputs == cuda_seen.outputs);
  }

  void a_resolved_device_is_used_as_given() {
    // The caller that stores the configuration first resolves it and shows the notice itself.
    auto device = engine::select_compute_device("cuda");
    QVERIFY2(device.ok(), device.status().message().c_str());
    ExperimentConfig c = small_config("cuda");
    c.capacity.enabled = false;
    c.accuracy = false;
    c.profile_requests = 1;
    Observed seen;
    auto r = run_experiment(*session_, c, {}, observing(&seen), &*device);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(seen.notices.empty());
    QCOMPARE(r->config.device, backend_device_name(*device));
    QCOMPARE(std::string(session_->engine()->backend_name()), backend_device_name(*device));
    QVERIFY(session_->report().settings.device == device->gpu);
  }

  void a_bad_device_is_an_error_before_anything_runs() {
    ExperimentConfig c = small_config("tpu");
    Observed seen;
    auto r = run_experiment(*session_, c, {}, observing(&seen));
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
    QVERIFY2(r.status().message().find("device 'tpu'") != std::string::npos,
             r.status().message().c_str());
    QVERIFY(seen.outputs.empty());
  }

  void cuda_runs_on_the_gpu() {
    if (!has_gpu()) QSKIP("no GPU is present on this machine");
    Observed cpu_seen, gpu_seen;
    auto cpu = run_experiment(*session_, small_config("cpu"), {}, observing(&cpu_seen));
    QVERIFY2(cpu.ok(), cpu.status().message().c_str());
    auto gpu = run_experiment(*session_, small_config("cuda"), {}, observing(&gpu_seen));
    QVERIFY2(gpu.ok(), gpu.status().message().c_str());
    QVERIFY(gpu_seen.notices.empty());
    QCOMPARE(gpu->config.device, std::string("cuda:0"));
    QCOMPARE(std::string(session_->engine()->backend_name()), std::string("cuda:0"));
    const auto& dev = session_->report().settings.device;
    QVERIFY(dev != nullptr);
    QCOMPARE(dev->info().index, 0);
    if (session_->cache() != nullptr) QVERIFY(session_->cache()->device() == dev.get());

    // Same requests served to the end on both backends.
    QCOMPARE(gpu->points.size(), cpu->points.size());
    for (size_t i = 0; i < cpu->points.size(); ++i) {
      QCOMPARE(gpu->points[i].requests.size(), cpu->points[i].requests.size());
      for (size_t j = 0; j < cpu->points[i].requests.size(); ++j) {
        QCOMPARE(gpu->points[i].requests[j].state, cpu->points[i].requests[j].state);
      }
      // Scored against the full model (an independent engine): float rounding may flip a rare
      // near-tie, nothing more.
      QVERIFY2(gpu->points[i].accuracy >= 0.9,
               qPrintable(QString("GPU point accuracy %1").arg(gpu->points[i].accuracy)));
    }
    // Greedy tokens, position by position, against the CPU run.
    int64_t same = 0, total = 0;
    for (const auto& [key, tokens] : cpu_seen.outputs) {
      const std::vector<int32_t>& g = gpu_seen.outputs[key];
      for (size_t t = 0; t < tokens.size(); ++t, ++total) same += t < g.size() && g[t] == tokens[t];
    }
    QVERIFY(total > 0);
    QVERIFY2(same >= total * 9 / 10,
             qPrintable(QString("%1 of %2 tokens equal").arg(same).arg(total)));
    // The capacity runs confirm on the GPU what they confirm on the CPU.
    QCOMPARE(gpu->capacity.size(), cpu->capacity.size());
    for (size_t i = 0; i < cpu->capacity.size(); ++i) {
      const CapacityOutcome& g = gpu->capacity[i];
      const CapacityOutcome& c = cpu->capacity[i];
      QVERIFY2(g.batch_run_ok == c.batch_run_ok, g.batch_run_error.c_str());
      QVERIFY2(g.prompt_run_ok == c.prompt_run_ok, g.prompt_run_error.c_str());
    }
  }
  void the_reference_computes_on_the_requested_device() {
    const model::Model& m = session_->model();
    std::vector<int32_t> tokens =
        m.tokenizer().encode("Summarize the report in one line", true, false);
    QVERIFY(tokens.size() > 2);
    std::string notice = "stale";
    auto cpu = FullModelReference::create(m, 1, 64, nullptr, &notice);
    QVERIFY2(cpu.ok(), cpu.status().message().c_str());
    QCOMPARE(std::string((*cpu)->backend_name()), std::string("cpu"));
    QVERIFY(notice.empty());
    if (!has_gpu()) QSKIP("no GPU is present on this machine: only the CPU reference was checked");

    auto device = engine::select_compute_device("cuda");
    QVERIFY2(device.ok(), device.status().message().c_str());
    QVERIFY(device->gpu != nullptr);
    auto gpu = FullModelReference::create(m, 1, 64, device->gpu, &notice);
    QVERIFY2(gpu.ok(), gpu.status().message().c_str());
    QCOMPARE(std::string((*gpu)->backend_name()), backend_device_name(*device));
    QVERIFY2(notice.empty(), notice.c_str());
    // Every position's logits against the CPU engine's (F32 weights: rounding only).
    const std::vector<float> want = teacher_forced_logits(**cpu, tokens);
    const std::vector<float> got = teacher_forced_logits(**gpu, tokens);
    QVERIFY(!want.empty());
    const double err = normalised_error(got, want);
    QVERIFY2(err <= 1e-4, qPrintable(QString("GPU reference logits error %1").arg(err)));
    // The GPU's greedy continuation, teacher-forced through the CPU reference.
    auto out = (*gpu)->greedy(tokens, 8);
    QVERIFY2(out.ok(), out.status().message().c_str());
    QVERIFY(!(*out)->generated.empty());
    auto agree = (*cpu)->agreement(tokens, (*out)->generated);
    QVERIFY2(agree.ok(), agree.status().message().c_str());
    QCOMPARE(agree->scored, static_cast<int64_t>((*out)->generated.size()));
    QVERIFY2(agree->agreeing * 10 >= agree->scored * 9,
             qPrintable(QString("%1 of %2").arg(agree->agreeing).arg(agree->scored)));
  }

  void a_reference_that_does_not_fit_computes_on_the_cpu() {
    // Runs without a GPU too: the test device has no memory, so the weights never fit.
    const model::Model& m = session_->model();
    const std::vector<int32_t> tokens = m.tokenizer().encode("Compare the two offers", true, false);
    auto small = std::make_shared<SmallDevice>(nullptr, 0);
    std::string notice;
    auto ref = FullModelReference::create(m, 1, 64, small, &notice);
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    QCOMPARE(std::string((*ref)->backend_name()), std::string("cpu"));
    QVERIFY2(
        notice.rfind("the full-model reference (every expert) does not fit on cuda:0 (", 0) == 0 &&
            notice.find("bytes free") != std::string::npos &&
            notice.ends_with("); computing it on the CPU"),
        notice.c_str());
    // Exactly the CPU reference: same backend, same arithmetic.
    auto plain = FullModelReference::create(m, 1, 64);
    QVERIFY2(plain.ok(), plain.status().message().c_str());
    auto a = (*ref)->greedy(tokens, 6);
    auto b = (*plain)->greedy(tokens, 6);
    QVERIFY(a.ok() && b.ok());
    QVERIFY(!(*b)->generated.empty());
    QVERIFY((*a)->generated == (*b)->generated);
    QVERIFY(teacher_forced_logits(**ref, tokens) == teacher_forced_logits(**plain, tokens));
    // Without a notice to fill, the fallback happens all the same.
    QVERIFY(FullModelReference::create(m, 1, 64, small).ok());

    // A GPU that fails (not one that is full) is an error, not a reason to move.
    auto broken = std::make_shared<SmallDevice>(nullptr, 0, true);
    auto failed = FullModelReference::create(m, 1, 64, broken, &notice);
    QVERIFY(!failed.ok());
    QCOMPARE(failed.status().code(), StatusCode::DeviceError);
    QVERIFY2(failed.status().message().find("cudaMemGetInfo") != std::string::npos,
             failed.status().message().c_str());
    QVERIFY(notice.empty());
  }

  void an_experiment_whose_reference_does_not_fit_runs() {
    if (!has_gpu()) QSKIP("no GPU is present on this machine");
    auto real = engine::select_compute_device("cuda");
    QVERIFY2(real.ok() && real->gpu, real.ok() ? "no device" : real.status().message().c_str());
    // The reference uploads every expert in one allocation; the point's tier holds 40% of them.
    // Refusing any block above 70% keeps the session on the GPU and the reference off it.
    const uint64_t all_experts = session_->store()->total_bytes();
    engine::ComputeDevice small;
    small.gpu = std::make_shared<SmallDevice>(real->gpu, all_experts * 7 / 10);
    small.name = real->name + " (refusing " + std::to_string(all_experts * 7 / 10) + " bytes)";
    ExperimentConfig c = small_config("cuda");
    c.capacity.enabled = false;  // its 100% budget would not fit either
    Observed cpu_seen, gpu_seen;
    auto cpu = run_experiment(
        *session_,
        [&] {
          ExperimentConfig x = c;
          x.device = "cpu";
          return x;
        }(),
        {}, observing(&cpu_seen));
    QVERIFY2(cpu.ok(), cpu.status().message().c_str());
    auto gpu = run_experiment(*session_, c, {}, observing(&gpu_seen), &small);
    QVERIFY2(gpu.ok(), gpu.status().message().c_str());
    QCOMPARE(gpu_seen.notices.size(), size_t{1});
    QVERIFY2(gpu_seen.notices[0].find("does not fit on cuda:0") != std::string::npos,
             gpu_seen.notices[0].c_str());
    QCOMPARE(gpu->config.device, std::string("cuda:0"));
    QCOMPARE(std::string(session_->engine()->backend_name()), std::string("cuda:0"));
    QVERIFY(session_->cache() != nullptr && session_->cache()->device() == small.gpu.get());
    QCOMPARE(gpu->points.size(), cpu->points.size());
    for (size_t i = 0; i < cpu->points.size(); ++i) {
      QCOMPARE(gpu->points[i].requests.size(), cpu->points[i].requests.size());
      for (size_t j = 0; j < cpu->points[i].requests.size(); ++j) {
        QCOMPARE(gpu->points[i].requests[j].state, cpu->points[i].requests[j].state);
      }
      // The GPU's outputs scored by the CPU reference.
      QVERIFY(gpu->points[i].accuracy_measured);
      QVERIFY2(gpu->points[i].accuracy >= 0.9,
               qPrintable(QString("accuracy %1").arg(gpu->points[i].accuracy)));
    }
    int64_t same = 0, total = 0;
    for (const auto& [key, tokens] : cpu_seen.outputs) {
      const std::vector<int32_t>& g = gpu_seen.outputs[key];
      for (size_t t = 0; t < tokens.size(); ++t, ++total) same += t < g.size() && g[t] == tokens[t];
    }
    QVERIFY(total > 0);
    QVERIFY2(same >= total * 9 / 10,
             qPrintable(QString("%1 of %2 tokens equal").arg(same).arg(total)));
  }
};

QTEST_GUILESS_MAIN(TestExperimentDevice)
#include "test_experiment_device.moc"
