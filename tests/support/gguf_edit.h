// Copies of a GGUF file with deliberate damage, for load-error tests: a metadata key or a
// tensor removed, or a tensor replaced by one of another shape or type (filled with zeros).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace emoe::test {

struct GgufEdit {
  std::vector<std::string> drop_keys;
  std::vector<std::string> drop_tensors;
  std::vector<std::pair<std::string, gguf::Value>> set_keys;  // added or replaced
  struct Retype {
    std::string name;
    kernels::TensorType type;
    std::vector<int64_t> ne;  // the new shape; its data is zeros of the right size
  };
  std::vector<Retype> retype;
};

Status copy_gguf_edited(const std::string& src, const std::string& dst, const GgufEdit& edit);

}  // namespace emoe::test
