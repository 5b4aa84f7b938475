// BPE pre-tokenization: splitting text into words before merges, reproducing llama.cpp's
// unicode_regex_split for the regex lists of the pre-tokenizers that MoE models use (llama.cpp
// commit c392e509). The regexes are hand-written scanners over code points; each scanner says
// which regex it stands for.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"

namespace emoe::tokenizer {

enum class PreTokenizerKind {
  Gpt2,         // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
  Llama3,       // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|...
  Qwen2,        // as Llama3 with \p{N} (one digit per word)
  DeepseekLlm,  // [\r\n] / \s?[cased letters]+ / \s?[ASCII+CJK punctuation]+ / \s+$ / CJK / \p{N}+
  DeepseekCoder,  // [\r\n] / \s?\p{L}+ / \s?\p{P}+ / CJK / \p{N}
};

struct PreTokenizer {
  PreTokenizerKind kind = PreTokenizerKind::Gpt2;
  // llama.cpp's ignore_merges (the llama3 family): a word that is itself a token is emitted
  // whole, without running the merges.
  bool ignore_merges = false;
};

// The pre-tokenizer llama.cpp selects for tokenizer.ggml.pre = `name`; Unsupported (listing the
// supported names) for any other.
Result<PreTokenizer> pre_tokenizer_from_name(const std::string& name);

// The supported tokenizer.ggml.pre values, comma-separated.
std::string supported_pre_tokenizers();

// The words of `text`, in order; concatenated they give `text` back, except that bytes that are
// not valid UTF-8 become U+FFFD (as in llama.cpp). Empty text: no words.
std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text);

}  // namespace emoe::tokenizer
