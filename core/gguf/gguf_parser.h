// Internal to core/gguf: the bounds-checked GGUF header parser behind GgufFile::open and
// GgufFile::from_bytes. Not part of the public API.
#pragma once

#include "core/common/status.h"
#include "core/gguf/gguf_file.h"

namespace emoe::gguf {

// Limits that keep a hostile file from exhausting the stack or memory. Real files are far
// below them: the largest vocabularies hold a few hundred thousand tokens and merges.
inline constexpr int kMaxArrayNesting = 16;                        // arrays inside arrays
inline constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 24;  // array items, all keys
inline constexpr uint32_t kMaxTensorDims = 4;
inline constexpr uint64_t kDefaultAlignment = 32;

struct GgufFile::Parser {
  // Parses f.base_[0, f.size_) into f's metadata, tensors, version, alignment and data offset.
  static Status run(GgufFile& f);
};

}  // namespace emoe::gguf
