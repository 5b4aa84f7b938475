// Splitting text on special-token texts before the model's algorithm runs (llama.cpp's
// tokenizer_st_partition). Shared by every tokenizer model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace emoe::tokenizer {

// One piece of the input: a special token, or a byte range of the text still to be tokenized.
struct Fragment {
  int32_t token = -1;  // >= 0: this fragment is that token; -1: raw text
  size_t offset = 0;   // raw text only: bytes from the start of the input
  size_t length = 0;   // raw text only: > 0
};

class SpecialTokenSplitter {
 public:
  // Collects the Control, UserDefined and Unknown tokens, longest text first.
  explicit SpecialTokenSplitter(const Vocab& vocab);

  // Cuts every occurrence of a special token's text out of `text`, trying the longest texts
  // first and each text left to right. Control and Unknown tokens are only matched when
  // parse_special is set; UserDefined tokens always are (as llama.cpp and HF tokenizers do).
  // Whitespace next to a token with kStripLeft/kStripRight is dropped. Empty text: no fragments.
  std::vector<Fragment> split(const Vocab& vocab, std::string_view text, bool parse_special) const;

 private:
  std::vector<int32_t> order_;  // special token ids, by text length, descending
};

}  // namespace emoe::tokenizer
