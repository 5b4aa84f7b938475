// Byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"), reproducing llama.cpp's
// llm_tokenizer_bpe and its handling in llama_tokenize / llama_token_to_piece /
// llama_detokenize (llama.cpp commit c392e509, Feb 2025).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/special_tokens.h"
#include "core/tokenizer/tokenizer.h"

namespace emoe::tokenizer {

// GPT-2's reversible byte <-> code point mapping: printable bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand
// for themselves, the other 68 bytes for U+0100.. in byte order.
uint32_t gpt2_byte_to_code_point(uint8_t byte);
// -1 when `cp` is not the image of a byte.
int gpt2_code_point_to_byte(uint32_t cp);

class BpeTokenizer final : public Tokenizer {
 public:
  // Picks the pre-tokenizer from vocab.pre (Unsupported lists the supported names) and reads
  // the merges: each must be "left right" with both parts non-empty (Corrupt names the entry).
  // A pair listed twice keeps its first rank, as in llama.cpp. `vocab` must have passed
  // Vocab::validate() and have token_to_id filled.
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);

  // Special tokens are cut out first (SpecialTokenSplitter); each remaining text fragment is
  // split into words by the pre-tokenizer, each word's bytes are mapped to GPT-2 code points
  // and merged bottom-up, always taking the adjacent pair with the lowest merge rank (ties: the
  // leftmost pair). A final piece that is not a token falls back to single-byte tokens where
  // the vocabulary has them, else it is dropped (llama.cpp's behaviour).
  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  // The pieces token_to_piece returns: Normal: the token's code points mapped back to bytes (a code
  // point that is no byte's image gives llama.cpp's "[UNK_BYTE_0x<hex><text>]"); Control/Unknown:
  // the text when special, else ""; UserDefined: the text; Unused, Byte, Undefined and out-of-range
  // ids: "".

  const PreTokenizer& pre_tokenizer() const { return pre_; }

 private:
  struct PairHash {
    size_t operator()(const std::pair<std::string, std::string>& p) const {
      return std::hash<std::string>()(p.first) * 31 + std::hash<std::string>()(p.second);
    }
  };

  BpeTokenizer(Vocab vocab, PreTokenizer pre);
  Status read_merges();
  int32_t rank(std::string left, std::string right) const;  // -1: no such merge
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;

  PreTokenizer pre_;
  SpecialTokenSplitter splitter_;
  std::unordered_map<std::pair<std::string, std::string>, int32_t, PairHash> ranks_;
  std::array<std::string, 256> byte_text_;  // UTF-8 of each byte's GPT-2 code point
};

}  // namespace emoe::tokenizer
