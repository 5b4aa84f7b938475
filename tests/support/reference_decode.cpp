#include "tests/support/reference_decode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/gguf/gguf_file.h"

namespace emoe::test {

using ref::Mat;
using ref::Rounding;

// ggml type ids (the GGUF on-disk numbers), spelled out here so the decoders below depend on
// the file format only.
namespace {
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30;

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

}  // namespace

double ref_half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);  // zero or subnormal
  } else if (exp == 31) {
    v = mant == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(static_cast<double>(1024 + mant), exp - 25);
  }
  return sign ? -v : v;
}

double ref_round_to_half(double x) {
  if (std::isnan(x) || std::isinf(x) || x == 0.0) return x;
  const double ax = std::fabs(x);
  int e = 0;
  std::frexp(ax, &e);  // ax = m * 2^e, m in [0.5, 1): the leading bit is 2^(e-1)
  // Spacing of binary16 values around ax: 2^(e-1-10) for normals, 2^-24 for subnormals.
  const int quantum_exp = std::max(e - 11, -24);
  const double r = std::ldexp(std::nearbyint(std::ldexp(ax, -quantum_exp)), quantum_exp);
  const double out = r > 65504.0 ? INFINITY : r;
  return x < 0 ? -out : out;
}

namespace {

double bf16_to_double(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

double round_to_bf16(double x) {
  float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  bits = (bits + (0x7fffu + ((bits >> 16) & 1u))) & 0xffff0000u;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Bytes of one row of `cols` values, or 0 for a type this reference does not decode.
uint64_t ref_row_bytes(uint32_t type, int64_t cols) {
  switch (type) {
    case kF32:
      return static_cast<uint64_t>(cols) * 4;
    case kF16:
    case kBF16:
      return static_cast<uint64_t>(cols) * 2;
    case kQ8_0:
      return cols % 32 ? 0 : static_cast<uint64_t>(cols / 32) * 34;
    case kQ4_0:
      return cols % 32 ? 0 : static_cast<uint64_t>(cols / 32) * 18;
    default:
      return 0;
  }
}

// Decodes one row. Q8_0 block: fp16 d, 32 x int8 q; x = d*q. Q4_0 block: fp16 d, 16 bytes;
// byte j holds element j in its low nibble and element j+16 in its high nibble; x = d*(q-8).
void decode_row(uint32_t type, const uint8_t* src, int64_t cols, double* dst) {
  switch (type) {
    case kF32:
      for (int64_t i = 0; i < cols; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        dst[i] = f;
      }
      break;
    case kF16:
      for (int64_t i = 0; i < cols; ++i) dst[i] = ref_half_to_double(load_u16(src + 2 * i));
      break;
    case kBF16:
      for (int64_t i = 0; i < cols; ++i) dst[i] = bf16_to_double(load_u16(src + 2 * i));
      break;
    case kQ8_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = src + b * 34;
        const double d = ref_half_to_double(load_u16(blk));
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = d * static_cast<int8_t>(blk[2 + j]);
      }
      break;
    case kQ4_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = src + b * 18;
        const double d = ref_half_to_double(load_u16(blk));
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = d * ((blk[2 + j] & 0x0f) - 8);
          dst[b * 32 + j + 16] = d * ((blk[2 + j] >> 4) - 8);
        }
      }
      break;
    default:
      break;
  }
}

Rounding rounding_for(uint32_t type) {
  switch (type) {
    case kF16:
      return Rounding::Half;
    case kBF16:
      return Rounding::BFloat;
    case kQ8_0:
    case kQ4_0:
      return Rounding::Q8_0;
    default:
      return Rounding::None;
  }
}

// ggml's x86 quantize_row_q8_0 in float32: d = amax/127 stored as fp16, q = round-half-even
// (x * 127/amax). Returns the value the integer dot product effectively sees, fp16(d) * q.
void round_q8_0(std::vector<double>& x) {
  const size_t n = x.size();
  for (size_t b = 0; b + 32 <= n; b += 32) {
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<float>(x[b + j])));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const double dh = ref_round_to_half(d);
    for (size_t j = 0; j < 32; ++j) {
      const float q = std::nearbyint(static_cast<float>(x[b + j]) * id);
      x[b + j] = dh * q;
    }
  }
}

}  // namespace

namespace ref {
namespace {

const gguf::TensorInfo* find(const gguf::GgufFile& f, const std::string& name) {
  return f.find_tensor(name);
}

// Dequantizes a 2-D tensor (or one 2-D slice of a 3-D one) of shape ne=[cols, rows(, n)].
}  // namespace

Result<Mat> load_mat(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols,
                     int64_t n_slices, int64_t slice) {
  const gguf::TensorInfo* t = find(f, name);
  if (!t) return not_found("reference: tensor " + name + " is missing");
  if (t->dim(0) != cols || t->dim(1) != rows || t->dim(2) != n_slices || t->dim(3) != 1) {
    return invalid_argument("reference: tensor " + name + " has ne [" + std::to_string(t->dim(0)) +
                            ", " + std::to_string(t->dim(1)) + ", " + std::to_string(t->dim(2)) +
                            "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) +
                            ", " + std::to_string(n_slices) + "]");
  }
  const auto type = static_cast<uint32_t>(t->type);
  const uint64_t rb = ref_row_bytes(type, cols);
  if (rb == 0) {
    return unsupported("reference: tensor " + name + " has type id " + std::to_string(type) +
                       ", which this reference does not decode");
  }
  if (t->n_bytes != rb * static_cast<uint64_t>(rows * n_slices) || t->data == nullptr) {
    return invalid_argument("reference: tensor " + name + " byte size " +
                            std::to_string(t->n_bytes) + " does not match its shape");
  }
  Mat m;
  m.rows = rows;
  m.cols = cols;
  m.act = rounding_for(type);
  m.w.resize(static_cast<size_t>(rows * cols));
  const uint8_t* base = t->data + static_cast<uint64_t>(slice * rows) * rb;
  for (int64_t r = 0; r < rows; ++r) decode_row(type, base + r * rb, cols, m.w.data() + r * cols);
  return m;
}

Result<std::vector<double>> load_vec(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  auto m = load_mat(f, name, 1, n);
  if (!m.ok()) return m.status();
  return std::move(m.value().w);
}

void round_activation(Rounding act, std::vector<double>& x) {
  switch (act) {
    case Rounding::Half:
      for (double& v : x) v = ref_round_to_half(v);
      break;
    case Rounding::BFloat:
      for (double& v : x) v = round_to_bf16(v);
      break;
    case Rounding::Q8_0:
      round_q8_0(x);
      break;
    case Rounding::None:
      break;
  }
}

}  // namespace ref
}  // namespace emoe::test
