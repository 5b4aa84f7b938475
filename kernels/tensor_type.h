// Tensor element types with ggml's numeric ids and block layouts (GGUF stores these ids).
// Shared by the CPU and CUDA kernels and by the GGUF reader/writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace emoe::kernels {

// Values are ggml's `enum ggml_type`; gaps are ids ggml retired.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct TypeTraits {
  TensorType type;
  std::string_view name;  // as ggml prints it: "f32", "q4_0", "q4_K", ...
  int64_t block_size;     // elements per block along ne[0]
  int64_t type_size;      // bytes per block
  bool compute;           // this engine can dequantize and dot it
};

// nullptr for ids ggml never defined (or retired); the GGUF reader refuses those.
const TypeTraits* type_traits(uint32_t id);
inline const TypeTraits* type_traits(TensorType t) { return type_traits(static_cast<uint32_t>(t)); }
std::string_view type_name(TensorType t);
std::optional<TensorType> type_from_name(std::string_view name);  // "q8_0" -> Q8_0

// Bytes of one row of n elements; nullopt when n is not a multiple of the block size or the
// type is unknown.
std::optional<uint64_t> row_bytes(TensorType t, int64_t n);

// Comma-separated list of types this engine computes with, for error messages.
std::string_view supported_type_list();

}  // namespace emoe::kernels
