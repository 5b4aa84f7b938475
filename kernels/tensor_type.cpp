#include "kernels/tensor_type.h"

#include <array>

namespace emoe::kernels {
namespace {

constexpr int64_t QK_K = 256;

// Block layouts from ggml.c's type_traits; `compute` marks what this engine implements.
constexpr std::array<TypeTraits, 32> kTraits{{
    {TensorType::F32, "f32", 1, 4, true},
    {TensorType::F16, "f16", 1, 2, true},
    {TensorType::Q4_0, "q4_0", 32, 18, true},
    {TensorType::Q4_1, "q4_1", 32, 20, true},
    {TensorType::Q5_0, "q5_0", 32, 22, true},
    {TensorType::Q5_1, "q5_1", 32, 24, true},
    {TensorType::Q8_0, "q8_0", 32, 34, true},
    {TensorType::Q8_1, "q8_1", 32, 36, false},
    {TensorType::Q2_K, "q2_K", QK_K, 84, true},
    {TensorType::Q3_K, "q3_K", QK_K, 110, true},
    {TensorType::Q4_K, "q4_K", QK_K, 144, true},
    {TensorType::Q5_K, "q5_K", QK_K, 176, true},
    {TensorType::Q6_K, "q6_K", QK_K, 210, true},
    {TensorType::Q8_K, "q8_K", QK_K, 292, false},
    {TensorType::IQ2_XXS, "iq2_xxs", QK_K, 66, false},
    {TensorType::IQ2_XS, "iq2_xs", QK_K, 74, false},
    {TensorType::IQ3_XXS, "iq3_xxs", QK_K, 98, false},
    {TensorType::IQ1_S, "iq1_s", QK_K, 50, false},
    {TensorType::IQ4_NL, "iq4_nl", 32, 18, false},
    {TensorType::IQ3_S, "iq3_s", QK_K, 110, false},
    {TensorType::IQ2_S, "iq2_s", QK_K, 82, false},
    {TensorType::IQ4_XS, "iq4_xs", QK_K, 136, false},
    {TensorType::I8, "i8", 1, 1, false},
    {TensorType::I16, "i16", 1, 2, false},
    {TensorType::I32, "i32", 1, 4, false},
    {TensorType::I64, "i64", 1, 8, false},
    {TensorType::F64, "f64", 1, 8, false},
    {TensorType::IQ1_M, "iq1_m", QK_K, 56, false},
    {TensorType::BF16, "bf16", 1, 2, true},
    {TensorType::TQ1_0, "tq1_0", QK_K, 54, false},
    {TensorType::TQ2_0, "tq2_0", QK_K, 66, false},
    {TensorType::MXFP4, "mxfp4", 32, 17, false},
}};

}  // namespace

const TypeTraits* type_traits(uint32_t id) {
  for (const TypeTraits& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == id) return &t;
  }
  return nullptr;
}

std::string_view type_name(TensorType t) {
  const TypeTraits* tr = type_traits(t);
  return tr ? tr->name : std::string_view("unknown");
}

std::optional<TensorType> type_from_name(std::string_view name) {
  for (const TypeTraits& t : kTraits) {
    if (t.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
      same = lower(t.name[i]) == lower(name[i]);
    }
    if (same) return t.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(TensorType t, int64_t n) {
  const TypeTraits* tr = type_traits(t);
  if (!tr || n < 0 || n % tr->block_size != 0) return std::nullopt;
  const uint64_t blocks = static_cast<uint64_t>(n / tr->block_size);
  const uint64_t size = static_cast<uint64_t>(tr->type_size);
  if (blocks > UINT64_MAX / size) return std::nullopt;
  return blocks * size;
}

std::string_view supported_type_list() {
  return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K";
}

}  // namespace emoe::kernels
