// GGUF v3 writer for the project's own models and tests. Metadata in insertion order, tensors
// in insertion order, data aligned to general.alignment (default 32).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace emoe::gguf {

class GgufWriter {
 public:
  // Replaces an existing key of the same name.
  void set(const std::string& key, Value value);

  // `data` holds exactly row_bytes(type, ne[0]) * ne[1] * ... bytes; it is copied.
  Status add_tensor(const std::string& name, kernels::TensorType type, std::vector<int64_t> ne,
                    std::span<const uint8_t> data);
  // Quantizes float data (ne product elements) to `type` with the reference quantizers.
  Status add_tensor_f32(const std::string& name, kernels::TensorType type, std::vector<int64_t> ne,
                        std::span<const float> values);

  // Writes atomically (temp file + rename), so a failed write never leaves a torn file.
  // Refuses (InvalidArgument) an array whose items disagree with its element type and a
  // general.alignment that is not a nonzero power-of-two uint32.
  Status write(const std::string& path) const;
  // The file's bytes, without write()'s checks: tests use it to build deliberately bad files
  // (an invalid general.alignment is written as given, with the data aligned to 32).
  std::vector<uint8_t> to_bytes() const;

 private:
  // Header, metadata, tensor infos and the padding up to the data section; `alignment`
  // receives the alignment the data section uses.
  std::vector<uint8_t> header_bytes(uint64_t& alignment) const;

  struct Tensor {
    std::string name;
    kernels::TensorType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace emoe::gguf
