// llama_detokenize on top of any tokenizer's token_to_piece, shared by the tokenizer models.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace emoe::tokenizer {

class Tokenizer;

// Concatenates tok.token_to_piece(id, unparse_special) for `ids`, as llama_detokenize does:
// - remove_special drops a leading BOS (only when the vocab adds BOS) and a trailing EOS (only
//   when it adds EOS);
// - when the vocab adds a space prefix, one leading ' ' of the first piece is removed, unless a
//   BOS was dropped (llama.cpp's rule: the space after a removed BOS is kept);
// - when vocab.clean_spaces is set, llama.cpp's three clean-up passes run (" ," -> ",", " ' "
//   -> "'", " 's" -> "'s", ...).
std::string detokenize(const Tokenizer& tok, std::span<const int32_t> ids, bool remove_special,
                       bool unparse_special);

// The clean_up_tokenization_spaces passes alone (exposed for tests).
std::string clean_up_spaces(std::string text);

}  // namespace emoe::tokenizer
