// ExpertStore: per-layer layouts and sizes checked by hand from the shapes and types (F32 with
// odd sizes that need alignment padding, Q8_0), host() views pointing at the right expert (its
// F32 values equal the builder's documented PRNG at that expert's element indices), and
// copy_to() + at() giving matrices byte-equal to the host ones with zeroed padding.
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/model/synthetic_model_expect.h"

using emoe::experts::ExpertLayout;
using emoe::experts::ExpertMatrices;
using emoe::experts::ExpertStore;
using emoe::kernels::MatrixView;
using emoe::kernels::TensorType;
using emoe::model::Model;
using emoe::model::SyntheticModelSpec;

namespace {

// F32, n_embd 72, n_ff 37: gate/up are 37 x 72 floats = 10656 bytes (not a multiple of 64).
SyntheticModelSpec odd_f32() {
  SyntheticModelSpec s;
  s.n_layer = 2;
  s.n_embd = 72;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 37;
  s.n_expert = 4;
  s.n_expert_used = 2;
  s.n_vocab = 300;
  s.n_ctx = 64;
  s.seed = 11;
  s.name = "experts-f32";
  s.n_threads = 2;
  return s;
}

SyntheticModelSpec small_q8() {
  SyntheticModelSpec s = odd_f32();
  s.n_embd = 64;
  s.n_ff = 96;
  s.weight_type = TensorType::Q8_0;
  s.name = "experts-q8";
  return s;
}

std::unique_ptr<Model> build(const QTemporaryDir& dir, const SyntheticModelSpec& spec) {
  const std::string path = dir.filePath(QString::fromStdString(spec.name + ".gguf")).toStdString();
  emoe::Status st = emoe::model::write_synthetic_model(spec, path);
  if (!st.is_ok()) qFatal("write_synthetic_model: %s", st.message().c_str());
  auto m = Model::load(path);
  if (!m.ok()) qFatal("Model::load: %s", m.status().message().c_str());
  return std::move(m).value();
}

size_t matrix_bytes(const MatrixView& m) { return static_cast<size_t>(m.rows) * m.row_stride; }

void check_layout(const ExpertLayout& x, size_t gate, size_t up_off, size_t down_off,
                  size_t total) {
  QCOMPARE(x.gate_offset, size_t{0});
  QCOMPARE(x.gate_bytes, gate);
  QCOMPARE(x.up_offset, up_off);
  QCOMPARE(x.up_bytes, gate);
  QCOMPARE(x.down_offset, down_off);
  QCOMPARE(x.down_bytes, gate);
  QCOMPARE(x.total, total);
}

void check_copy(const ExpertStore& store, int32_t layer, int32_t expert) {
  const ExpertLayout& x = store.layout(layer);
  std::vector<uint8_t> buf(x.total + 64, 0xAB);
  store.copy_to(layer, expert, buf.data());
  QCOMPARE(buf[x.total], uint8_t{0xAB});  // nothing written past total
  const ExpertMatrices h = store.host(layer, expert);
  const ExpertMatrices c = store.at(layer, buf.data());
  const MatrixView* hv[3] = {&h.gate, &h.up, &h.down};
  const MatrixView* cv[3] = {&c.gate, &c.up, &c.down};
  const size_t offs[3] = {x.gate_offset, x.up_offset, x.down_offset};
  for (int i = 0; i < 3; ++i) {
    QCOMPARE(cv[i]->type, hv[i]->type);
    QCOMPARE(cv[i]->rows, hv[i]->rows);
    QCOMPARE(cv[i]->cols, hv[i]->cols);
    QCOMPARE(cv[i]->row_stride, hv[i]->row_stride);
    QCOMPARE(static_cast<const uint8_t*>(cv[i]->data), buf.data() + offs[i]);
    QVERIFY(std::memcmp(cv[i]->data, hv[i]->data, matrix_bytes(*hv[i])) == 0);
  }
  for (size_t b = x.gate_bytes; b < x.up_offset; ++b) QCOMPARE(buf[b], uint8_t{0});
  for (size_t b = x.up_offset + x.up_bytes; b < x.down_offset; ++b) QCOMPARE(buf[b], uint8_t{0});
}

// Index, in the builder's weight stream, of the first weight of tensor `name`.
uint64_t stream_base(const SyntheticModelSpec& s, const std::string& name) {
  uint64_t n = 0;
  for (const auto& t : emoe::test::expected_tensors(s)) {
    if (t.name == name) return n;
    n += static_cast<uint64_t>(t.n());
  }
  qFatal("no tensor %s", name.c_str());
}

}  // namespace

class TestExpertStore : public QObject {
  Q_OBJECT

 private slots:
  void f32_layout_with_padding() {
    QTemporaryDir dir;
    const SyntheticModelSpec spec = odd_f32();
    auto m = build(dir, spec);
    ExpertStore store(m->config(), m->weights());
    QCOMPARE(store.n_layer(), 2);
    QCOMPARE(store.n_expert(), 4);
    QCOMPARE(store.n_expert_used(), 2);
    // gate/up: 37 rows x 72 cols x 4 B = 10656; down: 72 rows x 37 cols x 4 B = 10656.
    // up at align64(10656) = 10688; down at align64(10688 + 10656 = 21344) = 21376;
    // total 21376 + 10656 = 32032.
    for (int32_t l = 0; l < 2; ++l) check_layout(store.layout(l), 10656, 10688, 21376, 32032);
    QCOMPARE(store.max_expert_bytes(), uint64_t{32032});
    QCOMPARE(store.total_bytes(), uint64_t{32032} * 4 * 2);

    const ExpertMatrices h = store.host(1, 2);
    QCOMPARE(h.gate.rows, int64_t{37});
    QCOMPARE(h.gate.cols, int64_t{72});
    QCOMPARE(h.gate.row_stride, size_t{288});
    QCOMPARE(h.down.rows, int64_t{72});
    QCOMPARE(h.down.cols, int64_t{37});
    QCOMPARE(h.down.row_stride, size_t{148});
    QCOMPARE(static_cast<const uint8_t*>(h.gate.data),
             m->weights().layers[1].gate_exps.data + 2 * 10656);

    // Values: expert e's element (r, c) is weight number base + e*rows*cols + r*cols + c.
    const double a = 1.0 / std::sqrt(72.0), f = 1.0 / std::sqrt(37.0);
    const uint64_t gb = stream_base(spec, "blk.1.ffn_gate_exps.weight");
    const uint64_t db = stream_base(spec, "blk.1.ffn_down_exps.weight");
    const float* g = static_cast<const float*>(h.gate.data);
    const float* d = static_cast<const float*>(h.down.data);
    for (int64_t r : {0, 5, 36}) {
      for (int64_t c : {0, 1, 71}) {
        const uint64_t n = gb + 2 * 37 * 72 + static_cast<uint64_t>(r * 72 + c);
        QCOMPARE(g[r * 72 + c], emoe::test::weight_at(spec.seed, n, 0, a));
      }
    }
    for (int64_t r : {0, 71}) {
      for (int64_t c : {0, 36}) {
        const uint64_t n = db + 2 * 72 * 37 + static_cast<uint64_t>(r * 37 + c);
        QCOMPARE(d[r * 37 + c], emoe::test::weight_at(spec.seed, n, 0, f));
      }
    }
    for (int32_t l = 0; l < 2; ++l) {
      for (int32_t e = 0; e < 4; ++e) check_copy(store, l, e);
    }
  }

  void q8_0_layout() {
    QTemporaryDir dir;
    auto m = build(dir, small_q8());
    ExpertStore store(m->config(), m->weights());
    // Q8_0: 34-byte blocks of 32. gate/up: 96 rows x (64/32 = 2 blocks = 68 B) = 6528;
    // down: 64 rows x (96/32 = 3 blocks = 102 B) = 6528; 6528 = 102 x 64, so no padding.
    for (int32_t l = 0; l < 2; ++l) check_layout(store.layout(l), 6528, 6528, 13056, 19584);
    QCOMPARE(store.host(0, 3).gate.type, TensorType::Q8_0);
    QCOMPARE(store.host(0, 3).gate.row_stride, size_t{68});
    QCOMPARE(store.host(0, 3).down.row_stride, size_t{102});
    QCOMPARE(store.total_bytes(), uint64_t{19584} * 8);
    for (int32_t l = 0; l < 2; ++l) {
      for (int32_t e = 0; e < 4; ++e) check_copy(store, l, e);
    }
    // Out of range: empty views, and copy_to writes nothing.
    QVERIFY(store.host(2, 0).gate.data == nullptr);
    QVERIFY(store.host(0, 4).gate.data == nullptr);
    QVERIFY(store.host(-1, 0).gate.data == nullptr);
  }

  void dense_model_has_no_experts() {
    QTemporaryDir dir;
    SyntheticModelSpec spec = odd_f32();
    spec.n_expert = 0;
    spec.name = "experts-dense";
    auto m = build(dir, spec);
    ExpertStore store(m->config(), m->weights());
    QCOMPARE(store.n_layer(), 2);
    QCOMPARE(store.n_expert(), 0);
    QCOMPARE(store.total_bytes(), uint64_t{0});
    QCOMPARE(store.max_expert_bytes(), uint64_t{0});
    QCOMPARE(store.layout(0).total, size_t{0});
    QVERIFY(store.host(0, 0).gate.data == nullptr);
    uint8_t sentinel = 7;
    store.copy_to(0, 0, &sentinel);
    QCOMPARE(sentinel, uint8_t{7});
  }
};

QTEST_GUILESS_MAIN(TestExpertStore)
#include "test_expert_store.moc"
