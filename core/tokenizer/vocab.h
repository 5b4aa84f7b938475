// The vocabulary of a model as GGUF stores it (tokenizer.ggml.*), independent of the algorithm.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/common/status.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe::tokenizer {

// llama.cpp's token attributes from tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

// Per-token whitespace stripping around special tokens (llama.cpp's LLAMA_TOKEN_ATTR_LSTRIP /
// RSTRIP). GGUF does not store these; llama.cpp derives them from the model name.
enum TokenStrip : uint8_t {
  kStripNone = 0,
  kStripLeft = 1,   // drop whitespace before the token when splitting special tokens out
  kStripRight = 2,  // drop whitespace after it
};

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), ...
  std::string pre;    // tokenizer.ggml.pre, "default" when absent
  std::vector<std::string> tokens;
  std::vector<float> scores;                                 // empty when the file has none
  std::vector<TokenType> types;                              // Normal when the file has none
  std::vector<std::string> merges;                           // BPE only: "left right"
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1;  // -1: none
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;
  std::unordered_map<std::string, int32_t> token_to_id;

  // --- additions beyond the raw keys (all optional for a hand-built Vocab) ---
  std::string name;              // general.name; llama.cpp keys per-model token rules on it
  bool clean_spaces = false;     // llama_detokenize's clean_up_tokenization_spaces (BPE models)
  std::vector<uint8_t> strip;    // TokenStrip bits per token; empty: none
  std::vector<int32_t> eog_ids;  // end-of-generation ids (EOS, EOT, EOM, ...), ascending

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  bool is_control(int32_t id) const;
  // Bounds-checked views that apply the "empty means default" rules above.
  TokenType token_type(int32_t id) const;  // Undefined when out of range
  float score(int32_t id) const;           // 0 when absent or out of range
  uint8_t strip_flags(int32_t id) const;   // kStripNone when absent or out of range
  bool is_eog(int32_t id) const;
  int32_t find(const std::string& text) const;  // -1 when no token has this text

  // Reads and validates (ids in range, array lengths agree) the tokenizer.* keys, then applies
  // llama.cpp's load-time rules: per-model defaults for absent keys, EOT/EOM/FIM detection by
  // token text (which also retypes those tokens as Control), the EOG set and the Phi-3 / Jina
  // strip attributes.
  static Result<Vocab> from_gguf(const gguf::GgufFile& file);

  // Fills token_to_id from tokens; Corrupt when two tokens share a text.
  Status build_index();
  // Checks a Vocab (from a file or built by hand) before a tokenizer uses it. Messages name the
  // GGUF key the field comes from.
  Status validate() const;
};

}  // namespace emoe::tokenizer
