// The deepseek / deepseek2 parts of the synthetic model builder (model_builder.h): their
// tensors, metadata keys and spec rules, with llama.cpp's names and shapes
// (load_arch_tensors / load_arch_hparams of src/models/deepseek*.cpp, convert_hf_to_gguf.py's
// DeepseekModel / DeepseekV2Model). Internal to the builder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/model/model_builder.h"

namespace emoe::gguf {
class GgufWriter;
}

namespace emoe::model::synth {

// One tensor of the file, in file order. Its weights are mean + std * N(0, 1).
struct TensorPlan {
  std::string name;
  kernels::TensorType type;
  std::vector<int64_t> ne;
  double mean;
  double std;
  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    return n;
  }
};

// Resolved DeepSeek shape (defaults applied).
struct DeepseekShape {
  int64_t n_shared, ff_dense, head_k, n_rot, nope, head_v, kv_lora;
};
DeepseekShape deepseek_shape(const SyntheticModelSpec& s);

// Appends layer `l`'s tensors (attention, norms, FFN) in llama.cpp's order.
void plan_deepseek_layer(const SyntheticModelSpec& s, int64_t l, std::vector<TensorPlan>& t);
// The architecture's keys beyond the common ones.
void set_deepseek_hparams(gguf::GgufWriter& w, const SyntheticModelSpec& s);
// InvalidArgument naming the field when the spec cannot make a valid file.
Status validate_deepseek_spec(const SyntheticModelSpec& s);
// Row widths a quantized weight type must tile: (what, ne[0]).
std::vector<std::pair<const char*, int64_t>> deepseek_row_widths(const SyntheticModelSpec& s);

}  // namespace emoe::model::synth
