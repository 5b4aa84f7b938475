#include "core/tokenizer/spm_tokenizer.h"

#include <queue>

#include "core/tokenizer/detokenize.h"
#include "core/tokenizer/utf8.h"

namespace emoe::tokenizer {

namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') {
      out += kSpace;
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_spaces(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// llama.cpp reads a byte token "<0xXX>" with strtol on characters 3..4.
char byte_of_token(const std::string& text) {
  int value = 0;
  for (size_t i = 3; i < 5 && i < text.size(); ++i) {
    int d = hex_digit(text[i]);
    if (d < 0) break;
    value = value * 16 + d;
  }
  return static_cast<char>(value);
}

// A run of bytes of the fragment; merged symbols grow, absorbed ones get n = 0.
struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset in the fragment
  size_t n;      // byte length
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;  // byte length of the merged text, to detect stale queue entries
};

// std::priority_queue keeps the greatest on top: highest score first, then lowest left index
// (llama.cpp's llm_bigram_spm::comparator).
struct BigramLess {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)), splitter_(vocab_) {
  const Vocab& v = vocab_;
  pieces_.resize(v.tokens.size());
  for (int32_t id = 0; id < v.size(); ++id) {
    const std::string& text = v.tokens[id];
    switch (v.token_type(id)) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
        pieces_[id] = text;
        break;
      case TokenType::Normal:
        pieces_[id] = unescape_spaces(text);
        break;
      case TokenType::Byte:
        pieces_[id] = std::string(1, byte_of_token(text));
        break;
      case TokenType::Unused:
      case TokenType::Undefined:
        break;  // llama.cpp renders these as nothing
    }
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    // llama_vocab::byte_to_token: "<0xXX>" (upper-case hex), else the byte itself as a token.
    const std::string name = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    int32_t id = v.find(name);
    if (id < 0) id = v.find(std::string(1, static_cast<char>(b)));
    byte_token_[b] = id;
  }
}

void SpmTokenizer::emit_bytes(std::string_view piece, std::vector<int32_t>& out) const {
  // llama.cpp throws when a byte has no token; here the whole piece (one UTF-8 character)
  // becomes the unknown token instead, or is dropped when the vocab has none.
  for (char c : piece) {
    if (byte_token_[static_cast<uint8_t>(c)] < 0) {
      if (vocab_.unk >= 0) out.push_back(vocab_.unk);
      return;
    }
  }
  for (char c : piece) out.push_back(byte_token_[static_cast<uint8_t>(c)]);
}

void SpmTokenizer::encode_fragment(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n =
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[off])), text.size() - off);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, off + n == text.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
  std::string scratch;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    scratch.assign(text.substr(l.start, l.n + r.n));
    const int32_t id = vocab_.find(scratch);
    if (id < 0) return;
    queue.push({left, right, vocab_.score(id), scratch.size()});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    // Stale entry: one side was merged since it was queued.
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  // Every merge produced a token, so a final symbol that is not a token is a single character
  // (or a malformed byte run). llama.cpp's resegment() would consult its reverse-merge map
  // here, but that map only holds token texts, so it never matches: straight to bytes.
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece = text.substr(s.start, s.n);
    scratch.assign(piece);
    const int32_t id = vocab_.find(scratch);
    if (id >= 0) {
      out.push_back(id);
    } else {
      emit_bytes(piece, out);
    }
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  const std::vector<Fragment> frags = splitter_.split(vocab_, text, parse_special);
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  // The space prefix goes on the first text fragment and on any that follows a special token,
  // as in llama_tokenize (SentencePiece treats each such fragment as a new "sentence").
  bool prev_special = true;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    std::string fragment;
    if (vocab_.add_space_prefix && prev_special) fragment = " ";
    fragment.append(text.substr(f.offset, f.length));
    encode_fragment(escape_spaces(fragment), out);
    prev_special = false;
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

}  // namespace emoe::tokenizer
