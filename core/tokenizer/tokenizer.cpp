#include "core/tokenizer/tokenizer.h"

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/detokenize.h"
#include "core/tokenizer/spm_tokenizer.h"

namespace emoe::tokenizer {

namespace {

// The tokenizer.ggml.model values with an implementation; a new model adds a subclass and a
// line here.
constexpr const char* kSupported = "llama (SentencePiece), gpt2 (byte-level BPE)";

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(Vocab vocab) {
  if (vocab.token_to_id.empty()) EMOE_RETURN_IF_ERROR(vocab.build_index());
  EMOE_RETURN_IF_ERROR(vocab.validate());
  if (vocab.model == "llama") {
    return std::unique_ptr<Tokenizer>(new SpmTokenizer(std::move(vocab)));
  }
  if (vocab.model == "gpt2") return BpeTokenizer::create(std::move(vocab));
  return unsupported("tokenizer model '" + vocab.model +
                     "' (tokenizer.ggml.model) is not supported; supported: " + kSupported);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::GgufFile& file) {
  Result<Vocab> vocab = Vocab::from_gguf(file);
  if (!vocab.ok()) return vocab.status().with_context("reading the tokenizer");
  return create(std::move(vocab).value());
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
  if (id < 0 || id >= vocab_.size()) return {};
  const TokenType t = vocab_.token_type(id);
  if (!special && (t == TokenType::Control || t == TokenType::Unknown)) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool remove_special,
                              bool unparse_special) const {
  return detokenize(*this, ids, remove_special, unparse_special);
}

}  // namespace emoe::tokenizer
