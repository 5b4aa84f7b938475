// Text <-> token ids with the exact behaviour of llama.cpp for the file's tokenizer model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/tokenizer/vocab.h"

namespace emoe::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Picks the implementation from vocab.model; Unsupported lists the models that exist.
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::GgufFile& file);

  // add_special: BOS/EOS per the file's flags (llama_tokenize's add_special).
  // parse_special: control/user-defined token texts in `text` become those tokens.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;

  // llama_token_to_piece: the bytes a token stands for (may be partial UTF-8), as the model
  // computed them (pieces_); special=false renders Control and Unknown tokens as empty, and
  // out-of-range ids are "".
  std::string token_to_piece(int32_t id, bool special) const;

  // llama_detokenize: concatenated pieces; remove_special drops BOS/EOS; leading-space
  // handling as llama.cpp does for the model.
  std::string decode(std::span<const int32_t> ids, bool remove_special, bool unparse_special) const;

  const Vocab& vocab() const { return vocab_; }

 protected:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  Vocab vocab_;
  std::vector<std::string> pieces_;  // token_to_piece(id, special=true), per id; the model fills it
};

}  // namespace emoe::tokenizer
