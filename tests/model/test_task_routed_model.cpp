// write_task_routed_model: models in the demo's shape (6 layers, n_embd 256, 8 experts top-2)
// whose measured per-task expert use differs by task. Prompts of each task run through the
// engine; the router's top-k choices give per-task, per-layer expert histograms, from which
// the test computes (float64, here) each task's normalised entropy and top-quarter share and
// the Jaccard similarity of different tasks' top-quarter expert sets. Specialised must give
// distinct, concentrated task profiles; Uniform must stay near uniform.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/engine/engine.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "core/model/task_routed_model.h"
#include "core/sched/workload.h"

using namespace emoe;

namespace {

std::string workloads_dir() {
  return (std::filesystem::path(EMOE_TEST_DATA_DIR) / ".." / ".." / "resources" / "workloads")
      .string();
}

model::SyntheticModelSpec demo_shape() {
  model::SyntheticModelSpec s;
  s.n_layer = 6;
  s.n_embd = 256;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.n_ff = 512;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_vocab = 4096;
  s.n_ctx = 2048;
  s.weight_type = kernels::TensorType::Q8_0;
  s.embd_type = kernels::TensorType::Q8_0;
  s.output_type = kernels::TensorType::Q8_0;
  s.seed = 20250306;
  s.name = "task-routed test";
  return s;
}

constexpr int kPromptsPerTask = 16;

// counts[task][layer][expert]: how often the router's top-k chose the expert.
using Histograms = std::vector<std::vector<std::vector<double>>>;

struct Counter : engine::ForwardObserver {
  explicit Counter(Histograms* h) : h(h) {}
  void on_routing(const engine::RoutingEvent& ev) override {
    for (int32_t e : ev.topk) {
      (*h)[static_cast<size_t>(task)][static_cast<size_t>(ev.layer)][static_cast<size_t>(e)] += 1;
    }
  }
  Histograms* h;
  int task = 0;
};

Result<Histograms> measure(const std::string& path, const sched::TaskPrompts& prompts) {
  auto m = model::Model::load(path);
  if (!m.ok()) return m.status();
  const model::ModelConfig& c = (*m)->config();
  Histograms h(sched::kTaskCount,
               std::vector<std::vector<double>>(static_cast<size_t>(c.n_layer),
                                                std::vector<double>(c.n_expert, 0.0)));
  engine::EngineOptions o;
  o.n_ctx = 512;
  o.n_threads = 2;
  auto e = engine::Engine::create(**m, o);
  if (!e.ok()) return e.status();
  Counter counter(&h);
  (*e)->add_observer(&counter);
  for (int k = 0; k < sched::kTaskCount; ++k) {
    counter.task = k;
    const auto& list = prompts[static_cast<size_t>(k)];
    // Every n-th prompt, spread over the file.
    const size_t step = std::max<size_t>(1, list.size() / kPromptsPerTask);
    for (size_t i = 0; i < list.size() && i / step < kPromptsPerTask; i += step) {
      const std::vector<int32_t> ids = (*m)->tokenizer().encode(list[i], true, false);
      auto seq = (*e)->new_sequence();
      if (!seq.ok()) return seq.status();
      engine::Batch b;
      for (size_t p = 0; p < ids.size(); ++p) {
        b.push_back(
            {ids[p], *seq, static_cast<int32_t>(p), p + 1 == ids.size(), engine::Phase::Prefill});
      }
      std::vector<float> logits;
      EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
      (*e)->free_sequence(*seq);
    }
  }
  return h;
}

struct Stats {
  double entropy = 0;      // mean over tasks and layers, normalised by log(n_expert)
  double top_quarter = 0;  // mean share of the n_expert/4 most used experts
  double jaccard = 0;      // mean over layers and task pairs of top-quarter set similarity
  std::vector<double> jaccard_per_layer;
};

Stats stats(const Histograms& h) {
  Stats s;
  const size_t n_layer = h[0].size(), n_expert = h[0][0].size();
  const size_t quarter = std::max<size_t>(1, n_expert / 4);
  int n = 0;
  std::vector<std::vector<std::vector<size_t>>> top(h.size());
  for (size_t k = 0; k < h.size(); ++k) {
    for (size_t l = 0; l < n_layer; ++l) {
      const std::vector<double>& c = h[k][l];
      const double total = std::accumulate(c.begin(), c.end(), 0.0);
      double ent = 0;
      for (double v : c) {
        if (v > 0) ent -= v / total * std::log(v / total);
      }
      std::vector<size_t> order(n_expert);
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c[a] > c[b]; });
      double q = 0;
      for (size_t i = 0; i < quarter; ++i) q += c[order[i]] / total;
      order.resize(quarter);
      std::sort(order.begin(), order.end());
      top[k].push_back(order);
      s.entropy += ent / std::log(static_cast<double>(n_expert));
      s.top_quarter += q;
      ++n;
    }
  }
  s.entropy /= n;
  s.top_quarter /= n;
  for (size_t l = 0; l < n_layer; ++l) {
    double sum = 0;
    int pairs = 0;
    for (size_t a = 0; a < h.size(); ++a) {
      for (size_t b = a + 1; b < h.size(); ++b) {
        std::vector<size_t> both, either;
        std::set_intersection(top[a][l].begin(), top[a][l].end(), top[b][l].begin(),
                              top[b][l].end(), std::back_inserter(both));
        std::set_union(top[a][l].begin(), top[a][l].end(), top[b][l].begin(), top[b][l].end(),
                       std::back_inserter(either));
        sum += static_cast<double>(both.size()) / static_cast<double>(either.size());
        ++pairs;
      }
    }
    s.jaccard_per_layer.push_back(sum / pairs);
    s.jaccard += sum / pairs;
  }
  s.jaccard /= static_cast<double>(n_layer);
  return s;
}

void print(const char* what, const Stats& s) {
  QString per_layer;
  for (double j : s.jaccard_per_layer) per_layer += QString(" %1").arg(j, 0, 'f', 2);
  qInfo("%-12s entropy %.3f, top-quarter share %.3f, task-pair Jaccard %.3f (per layer:%s)", what,
        s.entropy, s.top_quarter, s.jaccard, qPrintable(per_layer));
}

}  // namespace

class TestTaskRoutedModel : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    auto p = sched::load_task_prompts(workloads_dir());
    QVERIFY2(p.ok(), p.status().message().c_str());
    prompts_ = std::move(p).value();
  }

  void specialised_and_uniform_shapes() {
    const model::SyntheticModelSpec spec = demo_shape();
    const std::string plain = dir_.filePath("plain.gguf").toStdString();
    const std::string spec_path = dir_.filePath("specialised.gguf").toStdString();
    const std::string unif_path = dir_.filePath("uniform.gguf").toStdString();
    QVERIFY(model::write_synthetic_model(spec, plain).is_ok());
    double last = -1;
    bool monotonic = true;
    Status st = model::write_task_routed_model(spec, model::RoutingShape::Specialised,
                                               workloads_dir(), spec_path, [&](double f) {
                                                 monotonic = monotonic && f >= last;
                                                 last = f;
                                                 return true;
                                               });
    QVERIFY2(st.is_ok(), st.message().c_str());
    QVERIFY(monotonic);
    QCOMPARE(last, 1.0);
    st = model::write_task_routed_model(spec, model::RoutingShape::Uniform, prompts_, unif_path);
    QVERIFY2(st.is_ok(), st.message().c_str());
    // No temporary file is left beside the outputs.
    QCOMPARE(QDir(dir_.path()).entryList(QDir::Files).size(), 3);

    // Only the routers differ from the plain model; the shape is recorded.
    auto a = gguf::GgufFile::open(plain);
    auto b = gguf::GgufFile::open(spec_path);
    QVERIFY(a.ok() && b.ok());
    QCOMPARE((*b)->tensors().size(), (*a)->tensors().size());
    for (const gguf::TensorInfo& t : (*a)->tensors()) {
      const gguf::TensorInfo* u = (*b)->find_tensor(t.name);
      QVERIFY(u && u->type == t.type && u->ne == t.ne && u->n_bytes == t.n_bytes);
      const bool same = std::equal(t.data, t.data + t.n_bytes, u->data);
      QCOMPARE(same, t.name.find("ffn_gate_inp") == std::string::npos);
    }
    auto shape = (*b)->get_string(model::kTaskRoutingKey);
    QVERIFY(shape.ok());
    QCOMPARE(QString::fromStdString(*shape), QStringLiteral("specialised"));

    auto hp = measure(plain, prompts_);
    auto hs = measure(spec_path, prompts_);
    auto hu = measure(unif_path, prompts_);
    QVERIFY2(hp.ok(), hp.status().message().c_str());
    QVERIFY2(hs.ok(), hs.status().message().c_str());
    QVERIFY2(hu.ok(), hu.status().message().c_str());
    const Stats sp = stats(*hp), ss = stats(*hs), su = stats(*hu);
    print("random", sp);
    print("specialised", ss);
    print("uniform", su);
    qInfo(
        "reference: OLMoE entropy %.3f top-quarter %.3f Jaccard %.2f; Mixtral entropy %.3f "
        "top-quarter %.3f",
        model::kOlmoeEntropyMean, model::kOlmoeTopQuarterShareMean,
        model::kOlmoeTopQuarterJaccardMean, model::kMixtralEntropyMean,
        model::kMixtralTopQuarterShareMean);
    // Specialised: tasks concentrate on different experts, in every layer.
    QVERIFY(ss.jaccard < 0.45);
    for (double j : ss.jaccard_per_layer) QVERIFY(j < 0.6);
    QVERIFY(ss.entropy < 0.95 && ss.entropy > 0.7);
    QVERIFY(ss.top_quarter > 0.45);
    // Uniform: close to uniform use, clearly flatter than Specialised.
    QVERIFY(su.entropy > 0.95);
    QVERIFY(su.entropy > ss.entropy + 0.04);
    QVERIFY(su.top_quarter < 0.36);
  }

  void rejects_bad_input() {
    model::SyntheticModelSpec dense = demo_shape();
    dense.n_expert = 0;
    const std::string out = dir_.filePath("bad.gguf").toStdString();
    QCOMPARE(model::write_task_routed_model(dense, model::RoutingShape::Specialised, prompts_, out)
                 .code(),
             StatusCode::InvalidArgument);
    QCOMPARE(model::write_task_routed_model(demo_shape(), model::RoutingShape::Uniform,
                                            std::string("/nonexistent/workloads"), out)
                 .code(),
             StatusCode::IoError);
    Status st = model::write_task_routed_model(demo_shape(), model::RoutingShape::Uniform, prompts_,
                                               out, [](double f) { return f < 0.7; });
    QCOMPARE(st.code(), StatusCode::Cancelled);
    QVERIFY(!std::filesystem::exists(out));
    QCOMPARE(QDir(dir_.path()).entryList(QDir::Files).size(), 3);
  }

  // Tasks without prompts fall back to their classifier keywords.
  void keyword_fallback() {
    model::SyntheticModelSpec s = demo_shape();
    s.n_layer = 2;
    s.n_embd = 64;
    s.n_head = 4;
    s.n_head_kv = 2;
    s.n_ff = 64;
    s.n_vocab = 1000;
    const std::string out = dir_.filePath("small.gguf").toStdString();
    Status st = model::write_task_routed_model(s, model::RoutingShape::Specialised,
                                               sched::TaskPrompts{}, out);
    QVERIFY2(st.is_ok(), st.message().c_str());
    QVERIFY(model::Model::load(out).ok());
    QVERIFY(std::filesystem::remove(out));
  }

 private:
  QTemporaryDir dir_;
  sched::TaskPrompts prompts_;
};

QTEST_GUILESS_MAIN(TestTaskRoutedModel)
#include "test_task_routed_model.moc"
