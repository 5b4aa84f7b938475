#include "core/tokenizer/vocab_builder.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace emoe::tokenizer {
namespace {

constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581, SentencePiece's space symbol
constexpr char32_t kMetaCp = 0x2581;

enum class CharClass { Space, Separator, Digit, Letter, Punct };

CharClass classify(char32_t c) {
  if (c == U' ' || c == kMetaCp) return CharClass::Space;
  if (c < 0x20 || c == 0x7F) return CharClass::Separator;
  if (c >= U'0' && c <= U'9') return CharClass::Digit;
  if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z')) return CharClass::Letter;
  if (c < 0x80) return CharClass::Punct;
  // General punctuation (dashes, curly quotes, ellipsis) and symbol blocks stay apart from
  // letters, as SentencePiece's script splitting keeps them.
  if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0xA0 && c <= 0xBF) || c == 0xD7 || c == 0xF7)
    return CharClass::Punct;
  return CharClass::Letter;
}

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 for an invalid sequence.
size_t decode_utf8(std::string_view s, size_t i, char32_t* out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  char32_t cp = 0;
  if (b0 < 0x80) {
    *out = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMinForLen[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *out = cp;
  return len;
}

struct Char {
  char32_t cp;
  std::string_view bytes;  // into the corpus; empty for the meta symbol
};

std::string repeat_meta(int64_t n) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) s += kMeta;
  return s;
}

// SPM-style pre-tokenization of one line into training words: spaces become "▁", a word
// carries the "▁" of the space before it, runs of extra spaces form whitespace-only words,
// letters, punctuation and digits never share a word, and every digit stands alone (as in
// LLaMA's vocabulary, so numbers are spelled digit by digit).
void split_line(const std::vector<Char>& line, std::map<std::string, uint64_t>& words) {
  // A line that starts with a word gets SentencePiece's dummy prefix; indentation does not.
  int64_t spaces = (!line.empty() && classify(line[0].cp) != CharClass::Space) ? 1 : 0;
  size_t i = 0;
  auto flush_spaces = [&](int64_t n) {
    if (n > 0) words[repeat_meta(n)] += 1;
  };
  while (i < line.size()) {
    const CharClass cls = classify(line[i].cp);
    if (cls == CharClass::Space) {
      ++spaces;
      ++i;
      continue;
    }
    if (cls == CharClass::Separator) {
      flush_spaces(spaces);
      spaces = 0;
      ++i;
      continue;
    }
    if (cls == CharClass::Digit) {
      flush_spaces(spaces);
      spaces = 0;
      words[std::string(line[i].bytes)] += 1;
      ++i;
      continue;
    }
    size_t j = i;
    std::string run;
    while (j < line.size() && classify(line[j].cp) == cls) run += line[j++].bytes;
    flush_spaces(spaces - 1);
    words[(spaces > 0 ? std::string(kMeta) : std::string()) + run] += 1;
    spaces = 0;
    i = j;
  }
  flush_spaces(spaces);
}

std::map<std::string, uint64_t> pretokenize(std::string_view corpus) {
  std::map<std::string, uint64_t> words;
  std::vector<Char> line;
  size_t i = 0;
  while (i <= corpus.size()) {
    char32_t cp = 0;
    const size_t len = i < corpus.size() ? decode_utf8(corpus, i, &cp) : 0;
    if (i == corpus.size() || len == 0 || cp == U'\n') {
      split_line(line, words);
      line.clear();
      i += (len == 0 ? 1 : len);
      continue;
    }
    line.push_back({cp, cp == U' ' ? kMeta : corpus.substr(i, len)});
    i += len;
  }
  return words;
}

bool is_ascii_letters(std::string_view w) {
  return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

std::string_view strip_meta(std::string_view w) {
  if (w.substr(0, kMeta.size()) == kMeta) w.remove_prefix(kMeta.size());
  return w;
}

// Adds `v` in lower, capitalised and upper case, with and without the leading "▁", unless
// an earlier tier already has it.
void add_case_forms(const std::string& v,
                    const std::vector<const std::map<std::string, uint64_t>*>& seen,
                    std::map<std::string, uint64_t>& out) {
  std::string lower(v), upper(v);
  for (char& c : lower) c = static_cast<char>(c | 0x20);
  for (char& c : upper) c = static_cast<char>(c & ~0x20);
  std::string capital = lower;
  capital[0] = upper[0];
  for (const std::string& form : {lower, capital, upper}) {
    for (const std::string& p : {std::string(kMeta), std::string()}) {
      const std::string cand = p + form;
      if (std::none_of(seen.begin(), seen.end(), [&](auto* m) { return m->count(cand) > 0; }))
        out[cand] = 1;
    }
  }
}

// Tier 1: case variants of the corpus's ASCII letter words ("the" also yields "The", "THE",
// "▁The", ...). Tier 2: the corpus's words with common English affixes ("walk" -> "walked",
// "walking", "rewalk", ...). Both only supply merges for vocabularies larger than what the
// corpus alone supports; they rank after every corpus merge.
std::map<std::string, uint64_t> case_variants(const std::map<std::string, uint64_t>& words) {
  std::map<std::string, uint64_t> extra;
  for (const auto& [word, count] : words) {
    const std::string_view w = strip_meta(word);
    if (is_ascii_letters(w)) add_case_forms(std::string(w), {&words}, extra);
  }
  return extra;
}

std::map<std::string, uint64_t> affix_variants(const std::map<std::string, uint64_t>& words,
                                               const std::map<std::string, uint64_t>& tier1) {
  static constexpr std::string_view kSuffixes[] = {"s",    "es",   "ed",  "ing",  "er",
                                                   "ers",  "est",  "ly",  "ness", "ment",
                                                   "able", "less", "ful", "ion",  "al"};
  static constexpr std::string_view kPrefixes[] = {"un", "re", "pre", "over", "under", "out"};
  std::map<std::string, uint64_t> extra;
  for (const auto& [word, count] : words) {
    const std::string_view w = strip_meta(word);
    if (!is_ascii_letters(w) || w.size() < 3) continue;
    std::string stem(w);
    for (char& c : stem) c = static_cast<char>(c | 0x20);
    for (std::string_view s : kSuffixes)
      add_case_forms(stem + std::string(s), {&words, &tier1}, extra);
    for (std::string_view p : kPrefixes)
      add_case_forms(std::string(p) + stem, {&words, &tier1}, extra);
  }
  return extra;
}

// Byte-pair-merge trainer. Words can be added between runs: a new word first replays the
// merges learnt so far (earliest first, as the tokenizer would), so a later tier starts from
// the segmentation the existing vocabulary gives it.
class MergeTrainer {
 public:
  MergeTrainer(Vocab& vocab, std::unordered_map<std::string, int32_t>& ids)
      : vocab_(vocab), ids_(ids) {}

  void add_word(std::vector<int32_t> syms, uint64_t weight) {
    replay_merges(syms);
    if (syms.size() < 2) return;
    const auto wi = static_cast<int32_t>(words_.size());
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      const uint64_t key = pair_key(syms[k], syms[k + 1]);
      if (counts_[key] == 0) fresh_.push_back(key);
      counts_[key] += weight;
      postings_[key].push_back(wi);
    }
    words_.push_back({std::move(syms), weight});
  }

  void run(int32_t size, float& next_score) {
    std::sort(fresh_.begin(), fresh_.end());
    fresh_.erase(std::unique(fresh_.begin(), fresh_.end()), fresh_.end());
    for (uint64_t key : fresh_) heap_.push({counts_[key], key});
    fresh_.clear();
    while (vocab_.size() < size && !heap_.empty()) {
      const Entry top = heap_.top();
      heap_.pop();
      auto it = counts_.find(top.key);
      if (it == counts_.end() || it->second != top.count || top.count == 0) continue;
      const auto a = static_cast<int32_t>(top.key >> 32);
      const auto b = static_cast<int32_t>(top.key & 0xFFFFFFFFu);
      const std::string text = vocab_.tokens[a] + vocab_.tokens[b];
      int32_t id;
      if (auto found = ids_.find(text); found != ids_.end()) {
        // Another split already produced this string; reuse its token.
        id = found->second;
      } else {
        id = vocab_.size();
        vocab_.tokens.push_back(text);
        vocab_.scores.push_back(next_score);
        next_score -= 1.0f;
        vocab_.types.push_back(TokenType::Normal);
        ids_.emplace(text, id);
      }
      merges_.emplace(top.key, std::make_pair(static_cast<int32_t>(merges_.size()), id));
      apply_merge(top.key, a, b, id);
    }
  }

 private:
  struct Word {
    std::vector<int32_t> syms;
    uint64_t weight;
  };
  struct Entry {
    uint64_t count;
    uint64_t key;
    // Highest count first; ties go to the smaller (left id, right id) for determinism.
    bool operator<(const Entry& o) const {
      return count != o.count ? count < o.count : key > o.key;
    }
  };

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void replay_merges(std::vector<int32_t>& syms) const {
    while (syms.size() >= 2) {
      size_t best_k = 0;
      int32_t best_rank = -1, best_id = -1;
      for (size_t k = 0; k + 1 < syms.size(); ++k) {
        auto it = merges_.find(pair_key(syms[k], syms[k + 1]));
        if (it != merges_.end() && (best_rank < 0 || it->second.first < best_rank)) {
          best_k = k;
          best_rank = it->second.first;
          best_id = it->second.second;
        }
      }
      if (best_rank < 0) return;
      syms[best_k] = best_id;
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best_k) + 1);
    }
  }

  void apply_merge(uint64_t key, int32_t a, int32_t b, int32_t id) {
    std::vector<int32_t> affected = std::move(postings_[key]);
    postings_.erase(key);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    std::unordered_set<uint64_t> touched;
    for (int32_t wi : affected) {
      Word& w = words_[wi];
      bool has = false;
      for (size_t k = 0; k + 1 < w.syms.size() && !has; ++k)
        has = w.syms[k] == a && w.syms[k + 1] == b;
      if (!has) continue;  // a stale posting
      for (size_t k = 0; k + 1 < w.syms.size(); ++k) {
        const uint64_t pk = pair_key(w.syms[k], w.syms[k + 1]);
        counts_[pk] -= w.weight;
        touched.insert(pk);
      }
      std::vector<int32_t> merged;
      merged.reserve(w.syms.size());
      for (size_t k = 0; k < w.syms.size(); ++k) {
        if (k + 1 < w.syms.size() && w.syms[k] == a && w.syms[k + 1] == b) {
          merged.push_back(id);
          ++k;
        } else {
          merged.push_back(w.syms[k]);
        }
      }
      w.syms = std::move(merged);
      for (size_t k = 0; k + 1 < w.syms.size(); ++k) {
        const uint64_t pk = pair_key(w.syms[k], w.syms[k + 1]);
        counts_[pk] += w.weight;
        touched.insert(pk);
        if (w.syms[k] == id || w.syms[k + 1] == id) postings_[pk].push_back(wi);
      }
    }
    // Sorted so the heap sees the same push sequence on every run.
    std::vector<uint64_t> keys(touched.begin(), touched.end());
    std::sort(keys.begin(), keys.end());
    for (uint64_t pk : keys) {
      const uint64_t c = counts_[pk];
      if (c > 0) heap_.push({c, pk});
    }
  }

  Vocab& vocab_;
  std::unordered_map<std::string, int32_t>& ids_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, uint64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> postings_;
  std::priority_queue<Entry> heap_;
  std::vector<uint64_t> fresh_;  // pairs first seen since the last run
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // pair -> (rank, token)
};

// Splits a word into known single-character token ids; a character outside the kept set
// breaks the word (it will be byte-fallback at tokenization time).
void word_to_symbols(std::string_view word, const std::unordered_map<std::string, int32_t>& ids,
                     std::vector<std::vector<int32_t>>& out) {
  std::vector<int32_t> cur;
  size_t i = 0;
  while (i < word.size()) {
    char32_t cp = 0;
    size_t len = decode_utf8(word, i, &cp);
    if (len == 0) len = 1;
    auto it = ids.find(std::string(word.substr(i, len)));
    if (it == ids.end()) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(it->second);
    }
    i += len;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
}

}  // namespace

std::string builtin_corpus() {
  std::string s(builtin_corpus_prose());
  s += '\n';
  s += builtin_corpus_technical();
  return s;
}

Result<Vocab> build_spm_vocab(int32_t size) { return build_spm_vocab(size, builtin_corpus()); }

Result<Vocab> build_spm_vocab(int32_t size, std::string_view corpus) {
  if (size < kMinBuiltVocabSize || size > kMaxBuiltVocabSize) {
    return invalid_argument("vocabulary size " + std::to_string(size) + " is out of range " +
                            std::to_string(kMinBuiltVocabSize) + ".." +
                            std::to_string(kMaxBuiltVocabSize));
  }
  Vocab v;
  v.model = "llama";
  v.pre = "default";
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = true;
  auto add = [&v](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, TokenType::Unknown);
  add("<s>", 0.0f, TokenType::Control);
  add("</s>", 0.0f, TokenType::Control);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 0.0f, TokenType::Byte);
  }

  // Single characters: "▁" first, then the corpus's characters by descending count (ties by
  // code point), then any ASCII letter the corpus lacks (the variant tiers use them all).
  const std::map<std::string, uint64_t> corpus_words = pretokenize(corpus);
  std::map<char32_t, std::pair<uint64_t, std::string>> chars;
  for (const auto& [w, count] : corpus_words) {
    size_t i = 0;
    while (i < w.size()) {
      char32_t cp = 0;
      const size_t len = std::max<size_t>(1, decode_utf8(w, i, &cp));  // words are valid UTF-8
      auto& e = chars[cp];
      e.first += count;
      e.second = w.substr(i, len);
      i += len;
    }
  }
  std::vector<std::pair<char32_t, uint64_t>> order;
  for (const auto& [cp, e] : chars)
    if (cp != kMetaCp) order.emplace_back(cp, e.first);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  for (char c = 'A'; c <= 'z'; ++c) {
    if ((c > 'Z' && c < 'a') || chars.count(static_cast<char32_t>(c))) continue;
    chars[static_cast<char32_t>(c)] = {0, std::string(1, c)};
    order.emplace_back(static_cast<char32_t>(c), 0);
  }
  std::unordered_map<std::string, int32_t> ids;
  float next_score = 0.0f;
  auto add_normal = [&](const std::string& text) {
    ids.emplace(text, v.size());
    add(text, next_score, TokenType::Normal);
    next_score -= 1.0f;
  };
  add_normal(std::string(kMeta));
  for (const auto& [cp, count] : order) {
    if (v.size() >= size) break;
    add_normal(chars[cp].second);
  }

  // Tiers are trained one after another, each only when the vocabulary is still short, so
  // every corpus merge ranks before every variant merge and a smaller vocabulary is a prefix
  // of a larger one.
  MergeTrainer trainer(v, ids);
  auto train = [&](const std::map<std::string, uint64_t>& words) {
    for (const auto& [w, count] : words) {
      std::vector<std::vector<int32_t>> parts;
      word_to_symbols(w, ids, parts);
      for (auto& p : parts) trainer.add_word(std::move(p), count);
    }
    trainer.run(size, next_score);
  };
  train(corpus_words);
  if (v.size() < size) {
    const std::map<std::string, uint64_t> tier1 = case_variants(corpus_words);
    train(tier1);
    if (v.size() < size) train(affix_variants(corpus_words, tier1));
  }

  for (int32_t n = 0; v.size() < size; ++n) {
    const std::string text = "<unused" + std::to_string(n) + ">";
    if (ids.count(text)) continue;
    ids.emplace(text, v.size());
    add(text, next_score, TokenType::Unused);
    next_score -= 1.0f;
  }

  v.eog_ids = {v.eos};
  if (Status st = v.build_index(); !st.is_ok()) return internal_error(st.message());
  if (Status st = v.validate(); !st.is_ok()) return internal_error(st.message());
  return v;
}

}  // namespace emoe::tokenizer
