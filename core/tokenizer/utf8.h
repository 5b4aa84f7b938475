// The UTF-8 facts the tokenizers need, with llama.cpp's exact rules for bytes that do not form
// a valid sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/utf8.h"

namespace emoe::tokenizer {

// Length of the UTF-8 sequence that `lead` starts, from its high nibble only (llama.cpp's
// unicode_len_utf8): continuation and other invalid lead bytes count as one byte, so malformed
// input is split into single bytes and reaches byte fallback instead of being rejected.
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Code points of `text` as llama.cpp's unicode_cpts_from_utf8 reads them: a lead byte with the
// continuation bytes it announces is decoded without checking for overlong forms or surrogates;
// a byte that does not start such a sequence becomes U+FFFD and only that byte is consumed.
// One difference: a 4-byte sequence above U+10FFFF also becomes U+FFFD (llama.cpp throws later,
// when it re-encodes it).
inline std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const size_t n = text.size();
  auto cont = [&](size_t i) { return (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80; };
  auto bits = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[i]) & 0x3F); };
  for (size_t i = 0; i < n;) {
    const uint8_t b = static_cast<uint8_t>(text[i]);
    if (b < 0x80) {
      out.push_back(b);
      i += 1;
    } else if ((b & 0xE0) == 0xC0 && i + 1 < n && cont(i + 1)) {
      out.push_back((static_cast<uint32_t>(b & 0x1F) << 6) | bits(i + 1));
      i += 2;
    } else if ((b & 0xF0) == 0xE0 && i + 2 < n && cont(i + 1) && cont(i + 2)) {
      out.push_back((static_cast<uint32_t>(b & 0x0F) << 12) | (bits(i + 1) << 6) | bits(i + 2));
      i += 3;
    } else if ((b & 0xF8) == 0xF0 && i + 3 < n && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const uint32_t cp = (static_cast<uint32_t>(b & 0x07) << 18) | (bits(i + 1) << 12) |
                          (bits(i + 2) << 6) | bits(i + 3);
      if (cp > 0x10FFFF) {
        out.push_back(kReplacementChar);
        i += 1;
      } else {
        out.push_back(cp);
        i += 4;
      }
    } else {
      out.push_back(kReplacementChar);
      i += 1;
    }
  }
  return out;
}

using emoe::append_utf8;  // core/common/utf8.h

}  // namespace emoe::tokenizer
