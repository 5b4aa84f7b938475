// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"), reproducing llama.cpp's
// llm_tokenizer_spm and its handling in llama_tokenize / llama_token_to_piece /
// llama_detokenize (llama.cpp commit c392e509, Feb 2025).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/special_tokens.h"
#include "core/tokenizer/tokenizer.h"

namespace emoe::tokenizer {

class SpmTokenizer final : public Tokenizer {
 public:
  // `vocab` must have passed Vocab::validate() and have token_to_id filled.
  explicit SpmTokenizer(Vocab vocab);

  // Special tokens are cut out first (SpecialTokenSplitter). Each remaining text fragment that
  // starts the input or follows a special token gets a leading ' ' when add_space_prefix; then
  // ' ' becomes U+2581 and the fragment is merged bottom-up from UTF-8 characters, always
  // taking the adjacent pair whose merged text is the token with the highest score (ties: the
  // leftmost pair). Pieces that are not tokens fall back to <0xXX> byte tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  // The pieces token_to_piece returns: Normal: text with U+2581 -> ' '; Byte: that byte;
  // Control/Unknown: the text when special, else ""; UserDefined: the text; Unused/Undefined and
  // out-of-range ids:
  // "".

 private:
  void encode_fragment(std::string_view text, std::vector<int32_t>& out) const;
  void emit_bytes(std::string_view piece, std::vector<int32_t>& out) const;

  SpecialTokenSplitter splitter_;
  std::array<int32_t, 256> byte_token_;  // token for each byte, -1 when the vocab has none
};

}  // namespace emoe::tokenizer
