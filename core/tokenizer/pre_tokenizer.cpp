#include "core/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "core/tokenizer/unicode_categories.h"
#include "core/tokenizer/utf8.h"

namespace emoe::tokenizer {

namespace {

struct NamedPreTokenizer {
  const char* name;
  PreTokenizer pre;
};

// llama.cpp's mapping from tokenizer.ggml.pre to a regex list (llama_vocab::impl::load and
// llm_tokenizer_bpe), restricted to the lists implemented here.
constexpr NamedPreTokenizer kNames[] = {
    {"gpt-2", {PreTokenizerKind::Gpt2, false}},
    {"phi-2", {PreTokenizerKind::Gpt2, false}},
    {"roberta-bpe", {PreTokenizerKind::Gpt2, false}},
    {"mpt", {PreTokenizerKind::Gpt2, false}},
    {"olmo", {PreTokenizerKind::Gpt2, false}},
    {"llama3", {PreTokenizerKind::Llama3, true}},
    {"llama-v3", {PreTokenizerKind::Llama3, true}},
    {"llama-bpe", {PreTokenizerKind::Llama3, true}},
    {"falcon3", {PreTokenizerKind::Llama3, true}},
    {"dbrx", {PreTokenizerKind::Llama3, false}},
    {"smaug-bpe", {PreTokenizerKind::Llama3, false}},
    {"qwen2", {PreTokenizerKind::Qwen2, false}},
    {"stablelm2", {PreTokenizerKind::Qwen2, false}},
    {"deepseek-llm", {PreTokenizerKind::DeepseekLlm, false}},
    {"deepseek-coder", {PreTokenizerKind::DeepseekCoder, false}},
};

// Per code point class bits. kValid marks "inside the fragment": a position past the end has
// no bits, like llama.cpp's OUT_OF_RANGE flags.
enum : uint8_t {
  kValid = 1,
  kLetter = 2,
  kNumber = 4,
  kPunct = 8,
  kSpace = 16,
};

bool is_other(uint8_t f) { return (f & kValid) && !(f & (kSpace | kLetter | kNumber)); }

struct Text {
  std::vector<uint32_t> cps;
  std::vector<uint8_t> cls;
  // The value std::wregex sees: llama.cpp replaces non-ASCII white space by U+000B first.
  uint32_t wide(size_t i) const { return (cps[i] > 0x7F && (cls[i] & kSpace)) ? 0x0B : cps[i]; }
};

Text classify(std::string_view s) {
  Text t;
  t.cps = decode_utf8(s);
  t.cls.resize(t.cps.size());
  for (size_t i = 0; i < t.cps.size(); ++i) {
    const uint32_t cp = t.cps[i];
    uint8_t f = kValid;
    switch (unicode_category(cp)) {
      case UnicodeCategory::Letter:
        f |= kLetter;
        break;
      case UnicodeCategory::Number:
        f |= kNumber;
        break;
      case UnicodeCategory::Punctuation:
        f |= kPunct;
        break;
      default:
        break;
    }
    if (unicode_is_whitespace(cp)) f |= kSpace;
    t.cls[i] = f;
  }
  return t;
}

// One fragment [b, e) of the text being split; reads past e see nothing (lookahead and `$`
// stop at fragment ends, as std::regex_iterator over the fragment does).
struct Span {
  const Text& t;
  size_t b, e;
  static constexpr uint32_t kNone = 0xFFFFFFFF;
  uint32_t cp(size_t p) const { return p < e ? t.cps[p] : kNone; }
  uint8_t f(size_t p) const { return p < e ? t.cls[p] : 0; }
  template <class Pred>
  size_t run(size_t p, Pred pred) const {
    while (p < e && pred(p)) ++p;
    return p;
  }
  size_t run_bits(size_t p, uint8_t bits) const {
    return run(p, [&](size_t q) { return (t.cls[q] & bits) != 0; });
  }
};

bool is_newline(uint32_t c) { return c == '\r' || c == '\n'; }

char ascii_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  return c < 0x80 ? static_cast<char>(c) : '\0';
}

// 's|'t|'re|'ve|'m|'ll|'d, case-insensitive for the llama3/qwen2 family ((?i:...) and its
// (?:'[sS]|...) spelling: only ASCII letters fold, as unicode_tolower maps no other code point
// to these letters). Returns the match length or 0.
size_t match_contraction(const Span& s, size_t pos, bool icase) {
  if (s.cp(pos) != '\'' || pos + 1 >= s.e) return 0;
  auto at = [&](size_t p) {
    const uint32_t c = s.cp(p);
    return icase ? ascii_lower(c) : (c < 0x80 ? static_cast<char>(c) : '\0');
  };
  const char c1 = at(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= s.e) return 0;
  const char c2 = at(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S), with the
// trailing \s+ that llama.cpp's hand-written version adds (a lone white space before a
// non-space becomes its own word either way). Always matches at least one code point.
size_t match_gpt2(const Span& s, size_t pos) {
  if (size_t n = match_contraction(s, pos, false)) return n;
  const size_t sp = s.cp(pos) == ' ' ? 1 : 0;
  const uint8_t f2 = s.f(pos + sp);
  if (f2 & kLetter) return s.run_bits(pos + sp, kLetter) - pos;
  if (f2 & kNumber) return s.run_bits(pos + sp, kNumber) - pos;
  if (is_other(f2)) return s.run(pos + sp, [&](size_t q) { return is_other(s.t.cls[q]); }) - pos;
  const size_t n = s.run_bits(pos, kSpace) - pos;
  if (n > 1 && pos + n < s.e) return n - 1;  // \s+(?!\S): leave the last space to the next word
  return n > 0 ? n : 1;
}

// Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+ . Every code point is matched by some alternative.
size_t match_llama3(const Span& s, size_t pos, size_t max_digits) {
  if (size_t n = match_contraction(s, pos, true)) return n;
  const uint32_t c = s.cp(pos);
  const uint8_t f = s.f(pos);
  if (!is_newline(c) && !(f & kNumber) && ((f & kLetter) || (s.f(pos + 1) & kLetter))) {
    // A letter run, or one non-letter prefix followed by a letter run.
    return s.run_bits(pos + 1, kLetter) - pos;
  }
  if (f & kNumber) return std::min(s.run_bits(pos, kNumber) - pos, max_digits);
  const size_t sp = c == ' ' ? 1 : 0;
  if (is_other(s.f(pos + sp))) {
    size_t p = s.run(pos + sp, [&](size_t q) { return is_other(s.t.cls[q]); });
    p = s.run(p, [&](size_t q) { return is_newline(s.t.cps[q]); });
    return p - pos;
  }
  const size_t end = s.run_bits(pos, kSpace);
  size_t last_newline = 0;  // one past the last \r or \n of the white-space run
  for (size_t q = pos; q < end; ++q) {
    if (is_newline(s.t.cps[q])) last_newline = q + 1;
  }
  if (last_newline > 0) return last_newline - pos;  // \s*[\r\n]+
  const size_t n = end - pos;
  if (n > 1 && end < s.e) return n - 1;  // \s+(?!\S)
  return n > 0 ? n : 1;
}

struct Range {
  uint32_t lo, hi;
};

template <size_t N>
bool in_ranges(uint32_t c, const std::array<Range, N>& ranges) {
  for (const Range& r : ranges) {
    if (c >= r.lo && c <= r.hi) return true;
  }
  return false;
}

// DeepSeek LLM's cased-letter class (the regex's [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃], Unicode
// Lu/Ll/Lt), as code point ranges.
constexpr std::array<Range, 87> kDeepseekLetters = {{
    {0x0041, 0x005A},   {0x0061, 0x007A},   {0x00B5, 0x00B5},   {0x00C0, 0x00D6},
    {0x00D8, 0x00F6},   {0x00F8, 0x01BA},   {0x01BC, 0x01BF},   {0x01C4, 0x0293},
    {0x0295, 0x02AF},   {0x0370, 0x0373},   {0x0376, 0x0376},   {0x0377, 0x0377},
    {0x037B, 0x037D},   {0x037F, 0x037F},   {0x0386, 0x0386},   {0x0388, 0x038A},
    {0x038C, 0x038C},   {0x038E, 0x03A1},   {0x03A3, 0x03F5},   {0x03F7, 0x0481},
    {0x048A, 0x052F},   {0x0531, 0x0556},   {0x10A0, 0x10C5},   {0x13A0, 0x13F5},
    {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},
    {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC},   {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},
    {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},
    {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},
    {0x213C, 0x213F},   {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2183},
    {0x2184, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF2},   {0x2CF3, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},
    {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},
    {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},
    {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
}};

// DeepSeek LLM's punctuation class [!-/:-~！-／：-～‘-‟　-。] (it includes the ASCII letters).
constexpr std::array<Range, 6> kDeepseekPunct = {{
    {0x21, 0x2F},
    {0x3A, 0x7E},
    {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E},
    {0x2018, 0x201F},
    {0x3000, 0x3002},
}};

// The DeepSeek CJK class [一-龥ࠀ-一가-퟿].
constexpr std::array<Range, 3> kDeepseekCjk = {{
    {0x4E00, 0x9FA5},
    {0x0800, 0x4E00},
    {0xAC00, 0xD7FF},
}};

// \s?X+ where X never contains white space: one optional white space, then a run of X.
template <class InSet>
size_t match_space_then_run(const Span& s, size_t pos, InSet in_set) {
  size_t p = pos;
  if ((s.f(p) & kSpace) && p + 1 < s.e && in_set(p + 1)) {
    ++p;
  } else if (!(p < s.e && in_set(p))) {
    return 0;
  }
  return s.run(p, in_set) - pos;
}

// std::regex_iterator over [b, e): each match is a word, and so is each non-empty stretch
// between matches. `match(span, pos)` returns the length of the match that starts at pos, or 0.
template <class Match>
void split_fragment(const Span& s, Match match, std::vector<size_t>& out) {
  size_t gap = s.b;
  for (size_t pos = s.b; pos < s.e;) {
    const size_t n = match(s, pos);
    if (n == 0) {
      ++pos;
      continue;
    }
    if (pos > gap) out.push_back(pos - gap);
    out.push_back(n);
    pos += n;
    gap = pos;
  }
  if (s.e > gap) out.push_back(s.e - gap);
}

// Applies one regex of a list to every current fragment (lengths in code points).
template <class Match>
std::vector<size_t> split_all(const Text& t, const std::vector<size_t>& frags, Match match) {
  std::vector<size_t> out;
  out.reserve(frags.size() * 2);
  size_t start = 0;
  for (size_t len : frags) {
    split_fragment(Span{t, start, start + len}, match, out);
    start += len;
  }
  return out;
}

size_t match_newline(const Span& s, size_t pos) { return is_newline(s.cp(pos)) ? 1 : 0; }

// \s+$ : the white space that ends each fragment becomes a word of its own (a direct scan: the
// regex, tried at every position of a long inner white-space run, would be quadratic).
std::vector<size_t> split_trailing_space(const Text& t, const std::vector<size_t>& frags) {
  std::vector<size_t> out;
  out.reserve(frags.size() + 1);
  size_t start = 0;
  for (size_t len : frags) {
    const size_t end = start + len;
    size_t p = end;
    while (p > start && (t.cls[p - 1] & kSpace)) --p;
    if (p > start) out.push_back(p - start);
    if (end > p) out.push_back(end - p);
    start = end;
  }
  return out;
}

std::vector<size_t> split_words(PreTokenizerKind kind, const Text& t) {
  std::vector<size_t> frags = {t.cps.size()};
  auto wide_in = [&](const auto& ranges) {
    return [&t, &ranges](size_t q) { return in_ranges(t.wide(q), ranges); };
  };
  switch (kind) {
    case PreTokenizerKind::Gpt2:
      return split_all(t, frags, match_gpt2);
    case PreTokenizerKind::Llama3:
      return split_all(t, frags, [](const Span& s, size_t p) { return match_llama3(s, p, 3); });
    case PreTokenizerKind::Qwen2:
      return split_all(t, frags, [](const Span& s, size_t p) { return match_llama3(s, p, 1); });
    case PreTokenizerKind::DeepseekLlm: {
      const auto letters = wide_in(kDeepseekLetters);
      const auto punct = wide_in(kDeepseekPunct);
      const auto cjk = wide_in(kDeepseekCjk);
      frags = split_all(t, frags, match_newline);
      frags = split_all(
          t, frags, [&](const Span& s, size_t p) { return match_space_then_run(s, p, letters); });
      frags = split_all(t, frags,
                        [&](const Span& s, size_t p) { return match_space_then_run(s, p, punct); });
      frags = split_trailing_space(t, frags);
      frags = split_all(t, frags, [&](const Span& s, size_t p) { return s.run(p, cjk) - p; });
      return split_all(t, frags,
                       [](const Span& s, size_t p) { return s.run_bits(p, kNumber) - p; });
    }
    case PreTokenizerKind::DeepseekCoder: {
      const auto cjk = wide_in(kDeepseekCjk);
      auto has = [&t](uint8_t bits) {
        return [&t, bits](size_t q) { return (t.cls[q] & bits) != 0; };
      };
      const auto letter = has(kLetter);
      const auto punct = has(kPunct);
      frags = split_all(t, frags, match_newline);
      frags = split_all(
          t, frags, [&](const Span& s, size_t p) { return match_space_then_run(s, p, letter); });
      frags = split_all(t, frags,
                        [&](const Span& s, size_t p) { return match_space_then_run(s, p, punct); });
      frags = split_all(t, frags, [&](const Span& s, size_t p) { return s.run(p, cjk) - p; });
      return split_all(
          t, frags, [](const Span& s, size_t p) -> size_t { return (s.f(p) & kNumber) ? 1 : 0; });
    }
  }
  return frags;
}

}  // namespace

Result<PreTokenizer> pre_tokenizer_from_name(const std::string& name) {
  for (const NamedPreTokenizer& n : kNames) {
    if (name == n.name) return n.pre;
  }
  return unsupported("pre-tokenizer '" + name +
                     "' (tokenizer.ggml.pre) is not supported for tokenizer model gpt2; "
                     "supported: " +
                     supported_pre_tokenizers());
}

std::string supported_pre_tokenizers() {
  std::string s;
  for (const NamedPreTokenizer& n : kNames) {
    if (!s.empty()) s += ", ";
    s += n.name;
  }
  return s;
}

std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text) {
  std::vector<std::string> words;
  if (text.empty()) return words;
  const Text t = classify(text);
  const std::vector<size_t> lengths = split_words(kind, t);
  words.reserve(lengths.size());
  size_t start = 0;
  for (size_t len : lengths) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) append_utf8(t.cps[i], w);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace emoe::tokenizer
