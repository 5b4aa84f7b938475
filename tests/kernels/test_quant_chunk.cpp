// kernels/cuda/quant_chunk.h (the GPU's in-register dequantizer, also compiled for the host)
// against kernels::dequantize_row, bit for bit: every chunk of rows written by
// kernels::quantize_row and of random blocks (random quants, scale bits and, for the float
// types, any bit pattern), plus the half and bfloat16 conversions over all 65536 inputs.
#include <QtTest>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cuda/quant_chunk.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                             TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                             TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                             TensorType::Q6_K};

QByteArray tname(TensorType t) {
  return QByteArray(type_name(t).data(), static_cast<int>(type_name(t).size()));
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Byte offsets of the fp16 scale/min fields of one block, which random bytes must keep finite
// (NaN payloads through float arithmetic are not worth comparing).
std::vector<int> half_fields(TensorType t) {
  switch (t) {
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
      return {0};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
      return {0, 2};
    case TensorType::Q2_K:
      return {80, 82};
    case TensorType::Q3_K:
      return {108};
    case TensorType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// Every chunk of the row at `row` (n elements, any 2-byte alignment) decoded by quant_chunk.h,
// both through the run-time dispatch and the per-type template, equals dequantize_row.
void expect_chunks_match(TensorType t, const unsigned char* row, int64_t n, const char* what) {
  std::vector<float> ref(static_cast<size_t>(n));
  QVERIFY(dequantize_row(t, row, ref.data(), n));
  for (int64_t c = 0; c < n / qchunk::kChunk; ++c) {
    float out[qchunk::kChunk];
    std::memset(out, 0xCD, sizeof(out));
    QVERIFY(qchunk::decode_chunk(t, row, c, out));
    for (int j = 0; j < qchunk::kChunk; ++j) {
      const float want = ref[static_cast<size_t>(c * qchunk::kChunk + j)];
      if (bits_of(out[j]) != bits_of(want)) {
        QFAIL(qPrintable(QStringLiteral("%1 %2: chunk %3 element %4: decoded %5 (0x%6), "
                                        "dequantize_row %7 (0x%8)")
                             .arg(QString::fromLatin1(tname(t)), QString::fromLatin1(what))
                             .arg(c)
                             .arg(j)
                             .arg(static_cast<double>(out[j]), 0, 'g', 9)
                             .arg(bits_of(out[j]), 8, 16, QLatin1Char('0'))
                             .arg(static_cast<double>(want), 0, 'g', 9)
                             .arg(bits_of(want), 8, 16, QLatin1Char('0'))));
      }
    }
  }
}

// A finite fp16 of random sign, exponent (subnormals included) and mantissa.
uint16_t random_finite_half(std::mt19937& rng) {
  for (;;) {
    const auto h = static_cast<uint16_t>(rng() & 0xFFFF);
    if (((h >> 10) & 0x1F) != 0x1F) return h;
  }
}

}  // namespace

class TestQuantChunk : public QObject {
  Q_OBJECT

 private slots:
  void half_conversion_exhaustive() {
    for (uint32_t h = 0; h < 65536; ++h) {
      const uint32_t got = bits_of(qchunk::fp16_to_float(h));
      const uint32_t want = bits_of(fp16_to_fp32(static_cast<uint16_t>(h)));
      if (got != want) {
        QFAIL(qPrintable(QStringLiteral("fp16 0x%1: 0x%2, want 0x%3")
                             .arg(h, 4, 16, QLatin1Char('0'))
                             .arg(got, 8, 16, QLatin1Char('0'))
                             .arg(want, 8, 16, QLatin1Char('0'))));
      }
    }
  }

  void bf16_conversion_exhaustive() {
    for (uint32_t h = 0; h < 65536; ++h) {
      QCOMPARE(bits_of(qchunk::bf16_to_float(h)), bits_of(bf16_to_fp32(static_cast<uint16_t>(h))));
    }
  }

  // Block geometry agrees with tensor_type.cpp; other types are refused.
  void geometry() {
    for (TensorType t : kTypes) {
      const TypeTraits* tr = type_traits(t);
      QVERIFY(tr != nullptr);
      const qchunk::Geometry g = qchunk::geometry(t);
      QVERIFY2(qchunk::supported(t), tname(t).constData());
      QCOMPARE(g.block_elems % qchunk::kChunk, 0);
      QCOMPARE(static_cast<int64_t>(g.block_bytes) * tr->block_size,
               static_cast<int64_t>(g.block_elems) * tr->type_size);
      QCOMPARE(row_bytes(t, g.block_elems).value_or(0), static_cast<uint64_t>(g.block_bytes));
    }
    for (TensorType t : {TensorType::IQ4_NL, TensorType::Q8_1, TensorType::Q8_K,
                         TensorType::IQ2_XXS, TensorType::I32, TensorType::MXFP4}) {
      QVERIFY2(!qchunk::supported(t), tname(t).constData());
      unsigned char block[512] = {};
      float out[qchunk::kChunk];
      QVERIFY(!qchunk::decode_chunk(t, block, 0, out));
    }
  }

  void quantized_rows_data() {
    QTest::addColumn<int>("type");
    for (TensorType t : kTypes) QTest::newRow(tname(t).constData()) << static_cast<int>(t);
  }

  // Rows written by the reference quantizer: gaussian, heavy-tailed, all zero, constant, and
  // with one large outlier per block; read at an even and at a 16-byte aligned address.
  void quantized_rows() {
    QFETCH(int, type);
    const auto t = static_cast<TensorType>(type);
    const int64_t n = 1024;  // 4 super-blocks / 32 legacy blocks
    const uint64_t bytes = row_bytes(t, n).value();
    std::mt19937 rng(1234u + static_cast<unsigned>(type));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::cauchy_distribution<float> heavy(0.0f, 0.05f);
    for (int kind = 0; kind < 5; ++kind) {
      std::vector<float> src(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        float v = 0.0f;
        switch (kind) {
          case 0:
            v = normal(rng) * 0.02f;
            break;
          case 1:
            v = std::clamp(heavy(rng), -60.0f, 60.0f);
            break;
          case 2:
            v = 0.0f;
            break;
          case 3:
            v = -0.375f;
            break;
          default:
            v = (i % 37 == 5) ? 25.0f * normal(rng) : normal(rng);
            break;
        }
        src[static_cast<size_t>(i)] = v;
      }
      // Offset 2 from a 16-aligned base: rows are only 2-byte aligned in general.
      std::vector<unsigned char> buf(bytes + 32);
      for (size_t off : {size_t{0}, size_t{2}}) {
        unsigned char* row = buf.data() + 16 + off - (reinterpret_cast<uintptr_t>(buf.data()) % 16);
        QVERIFY(quantize_row(t, src.data(), row, n));
        const QByteArray what = "quantized kind " + QByteArray::number(kind) + " offset " +
                                QByteArray::number(static_cast<int>(off));
        expect_chunks_match(t, row, n, what.constData());
        if (QTest::currentTestFailed()) return;
      }
    }
  }

  void random_blocks_data() { quantized_rows_data(); }

  // Random bytes reach bit patterns no quantizer writes (Q3_K high-bit masks, Q2_K mins, 6-bit
  // scales past the quantizer's range); the fp16 scale fields are random finite halves,
  // subnormals included. Float types take any bit pattern, NaN and infinity included.
  void random_blocks() {
    QFETCH(int, type);
    const auto t = static_cast<TensorType>(type);
    const qchunk::Geometry g = qchunk::geometry(t);
    const int64_t n = 2048;
    const uint64_t bytes = row_bytes(t, n).value();
    std::mt19937 rng(99u + static_cast<unsigned>(type));
    std::vector<unsigned char> row(bytes);
    for (int trial = 0; trial < 40; ++trial) {
      for (auto& b : row) b = static_cast<unsigned char>(rng() & 0xFF);
      for (int64_t blk = 0; blk < n / g.block_elems; ++blk) {
        for (int off : half_fields(t)) {
          const uint16_t h = random_finite_half(rng);
          std::memcpy(row.data() + blk * g.block_bytes + off, &h, 2);
        }
      }
      const QByteArray what = "random trial " + QByteArray::number(trial);
      expect_chunks_match(t, row.data(), n, what.constData());
      if (QTest::currentTestFailed()) return;
    }
  }
};

QTEST_GUILESS_MAIN(TestQuantChunk)
#include "test_quant_chunk.moc"
