// GEMV (one token) and blocked GEMM (many tokens) over every weight type, padded strides and
// 1-4 threads, against a naive float64 product of the dequantized operands.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

using Bytes = std::vector<unsigned char>;

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                             TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                             TensorType::Q5_1, TensorType::Q8_0};

struct Shape {
  int64_t rows, cols, tokens;
};

struct Problem {
  TensorType type;
  Shape s;
  size_t row_stride;           // bytes, padded past the row
  int64_t x_stride, y_stride;  // floats, padded
  Bytes w;
  std::vector<float> x;
  MatrixView view() const { return {type, s.rows, s.cols, row_stride, w.data()}; }
};

Problem make_problem(TensorType t, Shape s, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Problem p{t, s, 0, s.cols + 3, s.rows + 5, {}, {}};
  const size_t rb = *row_bytes(t, s.cols);
  p.row_stride = rb + 34;
  p.w.assign(p.row_stride * static_cast<size_t>(s.rows), 0xEE);
  std::vector<float> row(static_cast<size_t>(s.cols));
  for (int64_t r = 0; r < s.rows; ++r) {
    for (float& v : row) v = nd(rng) * 0.1f;
    quantize_row(t, row.data(), p.w.data() + static_cast<size_t>(r) * p.row_stride, s.cols);
  }
  p.x.assign(static_cast<size_t>(p.x_stride * s.tokens), NAN);  // padding must not be read
  for (int64_t tk = 0; tk < s.tokens; ++tk) {
    for (int64_t c = 0; c < s.cols; ++c) p.x[static_cast<size_t>(tk * p.x_stride + c)] = nd(rng);
  }
  return p;
}

// Naive float64 y[t][r] from dequantized weights and dequantized converted activations, with
// ggml's m_w * s_x term for Q4_1/Q5_1; also returns sum |terms| per output for the tolerance.
void reference(const Problem& p, std::vector<double>& y, std::vector<double>& mag) {
  const TensorType vt = vec_dot_type(p.type);
  const int64_t n = p.s.cols;
  const bool with_min = p.type == TensorType::Q4_1 || p.type == TensorType::Q5_1;
  y.assign(static_cast<size_t>(p.s.rows * p.s.tokens), 0.0);
  mag = y;
  std::vector<float> wf(static_cast<size_t>(n)), xf(static_cast<size_t>(n));
  Bytes xq(*row_bytes(vt, n));
  for (int64_t t = 0; t < p.s.tokens; ++t) {
    quantize_activation_row(p.type, p.x.data() + t * p.x_stride, xq.data(), n);
    dequantize_row(vt, xq.data(), xf.data(), n);
    for (int64_t r = 0; r < p.s.rows; ++r) {
      const unsigned char* wr = p.w.data() + static_cast<size_t>(r) * p.row_stride;
      dequantize_row(p.type, wr, wf.data(), n);
      double acc = 0, m = 0;
      for (int64_t c = 0; c < n; ++c) {
        acc += double{wf[c]} * double{xf[c]};
        m += std::fabs(double{wf[c]} * double{xf[c]});
      }
      if (with_min) {
        const size_t wbs = p.type == TensorType::Q4_1 ? 20 : 24;
        for (int64_t b = 0; b < n / 32; ++b) {
          uint16_t mh, dh, sh;
          std::memcpy(&mh, wr + b * wbs + 2, 2);
          std::memcpy(&dh, xq.data() + b * 36, 2);
          std::memcpy(&sh, xq.data() + b * 36 + 2, 2);
          int sum = 0;
          for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(xq[b * 36 + 4 + j]);
          const double mw = fp16_to_fp32(mh);
          acc += mw * (fp16_to_fp32(sh) - double{fp16_to_fp32(dh)} * sum);
          m += std::fabs(mw * fp16_to_fp32(sh));
        }
      }
      y[static_cast<size_t>(t * p.s.rows + r)] = acc;
      mag[static_cast<size_t>(t * p.s.rows + r)] = m;
    }
  }
}

std::vector<float> run(const Problem& p, ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(p.y_stride * p.s.tokens), -12345.0f);
  matmul(p.view(), p.x.data(), p.s.tokens, p.x_stride, y.data(), p.y_stride, pool);
  return y;
}

}  // namespace

class TestMatmul : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    for (int n = 1; n <= 4; ++n) pools_.push_back(std::make_unique<ThreadPool>(n));
  }

  void gemvAndGemmVsFloat64() {
    std::mt19937 rng(77);
    const Shape shapes[] = {{1, 32, 1},   {7, 64, 1},     {64, 128, 1},   {1500, 96, 1},
                            {33, 96, 3},  {130, 256, 17}, {300, 512, 40}, {1000, 64, 5},
                            {5, 2048, 2}, {2, 32, 70}};
    int checked = 0;
    for (TensorType t : kTypes) {
      for (Shape s : shapes) {
        if (t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16) s.cols += 13;
        const Problem p = make_problem(t, s, rng);
        std::vector<double> want, mag;
        reference(p, want, mag);
        const std::vector<float> y1 = run(p, nullptr);
        for (int64_t tk = 0; tk < s.tokens; ++tk) {
          for (int64_t r = 0; r < p.y_stride; ++r) {
            const float got = y1[static_cast<size_t>(tk * p.y_stride + r)];
            if (r >= s.rows) {
              QCOMPARE(got, -12345.0f);  // y padding untouched
              continue;
            }
            const size_t i = static_cast<size_t>(tk * s.rows + r);
            const double tol = 2.0 * (s.cols + 8) * std::ldexp(1.0, -24) * mag[i] + 1e-30;
            if (!(std::fabs(got - want[i]) <= tol)) {
              QFAIL(qPrintable(QString("%1 %2x%3x%4 t=%5 r=%6: got %7 want %8")
                                   .arg(QString::fromLatin1(type_name(t).data(),
                                                            static_cast<int>(type_name(t).size())))
                                   .arg(s.rows)
                                   .arg(s.cols)
                                   .arg(s.tokens)
                                   .arg(tk)
                                   .arg(r)
                                   .arg(double{got}, 0, 'g', 9)
                                   .arg(want[i], 0, 'g', 9)));
            }
            ++checked;
          }
        }
        // Threads only split the work: every thread count gives identical bits.
        for (auto& pool : pools_) {
          const std::vector<float> yt = run(p, pool.get());
          QVERIFY2(std::memcmp(yt.data(), y1.data(), y1.size() * sizeof(float)) == 0,
                   qPrintable(QString("threads=%1 rows=%2 tokens=%3")
                                  .arg(pool->size())
                                  .arg(s.rows)
                                  .arg(s.tokens)));
        }
      }
    }
    QVERIFY(checked > 10000);
  }

  void matchesVecDotExactly() {
    // matmul is vec_dot over rows x tokens in the matrix's quant_order: same arithmetic, same
    // converted activations. Q4_0 with 40 rows is repacked by llama.cpp (Blockwise), with 41
    // rows it is not (Lanes8).
    std::mt19937 rng(5);
    struct Case {
      TensorType t;
      int64_t rows;
      QuantOrder order;
    };
    for (const Case c : {Case{TensorType::Q4_0, 40, QuantOrder::Blockwise},
                         Case{TensorType::Q4_0, 41, QuantOrder::Lanes8},
                         Case{TensorType::Q8_0, 40, QuantOrder::Lanes8},
                         Case{TensorType::F16, 40, QuantOrder::Lanes8},
                         Case{TensorType::Q5_1, 40, QuantOrder::Lanes8}}) {
      const Problem p = make_problem(c.t, {c.rows, 256, 6}, rng);
      QVERIFY(quant_order(p.view()) == c.order);
      const VecDotFn dot = vec_dot_fn(active_isa(), c.t, c.order);
      for (size_t pool = 0; pool < 2; ++pool) {
        const std::vector<float> y = run(p, pools_[pool].get());
        Bytes xq(*row_bytes(vec_dot_type(c.t), 256));
        for (int64_t tk = 0; tk < 6; ++tk) {
          quantize_activation_row(c.t, p.x.data() + tk * p.x_stride, xq.data(), 256);
          for (int64_t r = 0; r < c.rows; ++r) {
            const float got = y[static_cast<size_t>(tk * p.y_stride + r)];
            const float want = dot(256, p.w.data() + r * p.row_stride, xq.data());
            QVERIFY(std::memcmp(&got, &want, 4) == 0);
          }
        }
      }
    }
  }

  void getRow() {
    std::mt19937 rng(6);
    for (TensorType t : kTypes) {
      const Problem p = make_problem(t, {9, 64, 1}, rng);
      std::vector<float> got(64), want(64);
      for (int64_t r : {0, 4, 8}) {
        get_row(p.view(), r, got.data());
        dequantize_row(t, p.w.data() + r * p.row_stride, want.data(), 64);
        QVERIFY(std::memcmp(got.data(), want.data(), 64 * sizeof(float)) == 0);
      }
    }
    // An F32 row is returned as stored.
    const float row[3] = {1.5f, -2.0f, 3.25f};
    MatrixView v{TensorType::F32, 1, 3, sizeof(row), row};
    float out[3];
    get_row(v, 0, out);
    QCOMPARE(out[2], 3.25f);
  }

 private:
  std::vector<std::unique_ptr<ThreadPool>> pools_;
};

QTEST_GUILESS_MAIN(TestMatmul)
#include "test_matmul.moc"
