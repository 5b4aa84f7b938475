// The one UTF-8 fact the SentencePiece splitter needs, with llama.cpp's exact rule for bytes
// that do not start a valid sequence.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emoe::tokenizer {

// Length of the UTF-8 sequence that `lead` starts, from its high nibble only (llama.cpp's
// unicode_len_utf8): continuation and other invalid lead bytes count as one byte, so malformed
// input is split into single bytes and reaches byte fallback instead of being rejected.
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

}  // namespace emoe::tokenizer
