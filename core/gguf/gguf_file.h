// GGUF v2/v3 reader. The file is mmapped; every count, string length, shape, type id and data
// offset is validated (overflow-safe) before use, and a bad file yields a Status that names
// the key or tensor and the problem. Tensor data is never copied.
//
// Accepted: little-endian v2/v3; all 13 value types, arrays nested up to 16 deep; tensor
// types ggml defines, including ones this engine cannot compute (the model loader refuses
// those); zero-sized dimensions. Refused (Corrupt/Unsupported): v1, big-endian, truncation,
// counts or lengths that cannot fit in the rest of the file, duplicate keys or tensor names,
// unknown value or tensor type ids, bool bytes other than 0/1, n_dims outside 1..4, element
// counts over int64, ne[0] not a multiple of the block size, general.alignment not a nonzero
// power-of-two uint32, data offsets not aligned, data past the end of the file, overlapping
// tensor data. Strings are not checked for valid UTF-8.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/common/status.h"
#include "core/gguf/gguf_value.h"
#include "kernels/tensor_type.h"

namespace emoe::gguf {

struct TensorInfo {
  std::string name;
  kernels::TensorType type;  // a known ggml type (unknown ids are refused at open)
  std::vector<int64_t> ne;   // ggml order: ne[0] is the fastest dimension; 1..4 dims
  uint64_t offset = 0;       // bytes from the start of the data section
  uint64_t n_bytes = 0;      // row_bytes(type, ne[0]) * ne[1] * ne[2] * ne[3]
  int64_t n_elements = 0;
  const uint8_t* data = nullptr;  // into the mapping, valid while the GgufFile lives

  int64_t dim(size_t i) const { return i < ne.size() ? ne[i] : 1; }
};

class GgufFile {
 public:
  // Maps and parses the file.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses a copy of an in-memory buffer (tests and the fuzzer).
  static Result<std::unique_ptr<GgufFile>> from_bytes(std::span<const uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  // Start of the tensor data section: the end of the header rounded up to alignment(). A file
  // without tensors may end before it (gguf-py does not pad such files).
  uint64_t data_offset() const { return data_offset_; }
  // The whole file (mapping or from_bytes copy); valid while the GgufFile lives.
  std::span<const uint8_t> bytes() const { return {base_, static_cast<size_t>(size_)}; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // Typed metadata lookups: NotFound when missing, InvalidArgument (naming the key and the
  // actual type) when the type does not fit.
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_float_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;

 private:
  GgufFile() = default;
  struct Parser;

  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  void* mapping_ = nullptr;  // munmap on destruction when non-null
  // from_bytes() keeps its copy here: 64-byte aligned like a mapping would be, and exactly
  // `size_` long so that sanitizers catch any read past the end.
  struct AlignedFree {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t[], AlignedFree> owned_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;  // name -> index into tensors_
};

}  // namespace emoe::gguf
