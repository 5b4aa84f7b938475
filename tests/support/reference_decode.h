// The float64 reference's own view of GGUF tensors (reference_forward.h): decoders for F32,
// F16, BF16, Q8_0 and Q4_0 written from the file format, not taken from kernels/, and the
// activation rounding ggml's CPU backend applies before a non-F32 weight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe::test {

// IEEE binary16 to double, written here rather than taken from kernels/ so the reference stays
// independent of the code under test.
double ref_half_to_double(uint16_t h);
// Nearest binary16 value (round half to even, overflow to infinity), as a double.
double ref_round_to_half(double x);

namespace ref {

enum class Rounding { None, Half, BFloat, Q8_0 };

// A dequantized matrix and how ggml rounds the activation that meets it.
struct Mat {
  int64_t rows = 0, cols = 0;
  Rounding act = Rounding::None;
  std::vector<double> w;  // [rows][cols]
  const double* row(int64_t r) const { return w.data() + r * cols; }
};

// Dequantizes a 2-D tensor (or one 2-D slice of a 3-D one) of shape ne = [cols, rows(, n)];
// a missing tensor is NotFound, a wrong shape or an undecodable type an error naming it.
Result<Mat> load_mat(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols,
                     int64_t n_slices = 1, int64_t slice = 0);
Result<std::vector<double>> load_vec(const gguf::GgufFile& f, const std::string& name, int64_t n);

// Rounds x in place the way ggml rounds an activation before a matrix whose rows `act`
// describes: to F16, BF16, or Q8_0 blocks (ggml's x86 quantize_row_q8_0).
void round_activation(Rounding act, std::vector<double>& x);

}  // namespace ref
}  // namespace emoe::test
