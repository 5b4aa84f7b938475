// Builds the project's own SentencePiece-style (tokenizer.ggml.model "llama") vocabulary by
// training byte-pair merges on a built-in English/code corpus, so generated models need no
// third-party vocabulary. The output is deterministic: the same size gives the same vocabulary.
//
// Layout (token ids):
//   0 <unk> (Unknown), 1 <s> (Control), 2 </s> (Control),
//   3..258 the byte-fallback tokens <0x00>..<0xFF> (Byte),
//   259 "▁" (U+2581) and then the single characters of the corpus by descending frequency,
//   then merged pieces in merge order (Normal), until `size` tokens exist.
// Scores: 0 for the special and byte tokens; Normal token k (k = 0 for "▁") scores -k, so
// scores fall strictly with id. llama.cpp's SPM tokenizer merges the adjacent pair whose
// concatenation has the highest score, i.e. the earliest merge, which replays the training
// merges; single characters are never the result of a merge, so their (higher) scores only
// keep the ordering monotonic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/status.h"
#include "core/tokenizer/vocab.h"

namespace emoe::tokenizer {

inline constexpr int32_t kMinBuiltVocabSize = 300;
inline constexpr int32_t kMaxBuiltVocabSize = 262144;
inline constexpr int32_t kFirstByteTokenId = 3;      // <0x00>
inline constexpr int32_t kFirstNormalTokenId = 259;  // "▁"

// The built-in training text: original English prose, code snippets and numbers (UTF-8).
// Compiled into the binary so nothing is read from disk at run time.
std::string builtin_corpus();

// The parts builtin_corpus() joins (defined in builtin_corpus*.cpp).
std::string_view builtin_corpus_prose();
std::string_view builtin_corpus_technical();

// A vocabulary of exactly `size` tokens (kMinBuiltVocabSize..kMaxBuiltVocabSize) trained on
// builtin_corpus() (a few thousand merges). Larger sizes continue in tiers, each trained only
// once the previous one has no pair left: case variants of the corpus's words ("The",
// "THE"), then the words with common English affixes ("walked", "rewalk"); together they
// reach about 200,000 tokens. Beyond that the remaining ids are "<unusedN>" tokens of type
// Unused, which the tokenizer never produces. A smaller vocabulary is a prefix of a larger one.
// The result has model "llama", pre "default", unk 0, bos 1, eos 2, add_bos = true,
// add_eos = false, add_space_prefix = true, eog_ids = {eos} and token_to_id filled.
Result<Vocab> build_spm_vocab(int32_t size);
// The same, trained on `corpus` (valid UTF-8; invalid bytes act as word separators).
Result<Vocab> build_spm_vocab(int32_t size, std::string_view corpus);

}  // namespace emoe::tokenizer
