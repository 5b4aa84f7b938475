#include "core/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <queue>

#include "core/tokenizer/detokenize.h"
#include "core/tokenizer/utf8.h"

namespace emoe::tokenizer {

namespace {

bool maps_to_itself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 0x144> to_byte{};  // the images all lie below U+0144
  ByteMap() {
    to_byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) to_cp[b] = maps_to_itself(b) ? b : next++;
    for (int b = 0; b < 256; ++b) to_byte[to_cp[b]] = static_cast<int16_t>(b);
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

// llama.cpp's llama_decode_text.
std::string decode_byte_level(const std::string& text) {
  std::string out;
  for (uint32_t cp : decode_utf8(text)) {
    const int b = gpt2_code_point_to_byte(cp);
    if (b >= 0) {
      out += static_cast<char>(b);
      continue;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string utf8;
    append_utf8(cp, utf8);
    out += "[UNK_BYTE_0x";
    for (unsigned char c : utf8) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    out += text;
    out += ']';
  }
  return out;
}

// A run of bytes of the byte-encoded word; merged symbols grow, absorbed ones get n = 0.
struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t size;  // byte length of the merged text, to detect stale queue entries
};

// std::priority_queue keeps the greatest on top: lowest rank first, then lowest left index
// (llama.cpp's llm_bigram_bpe::comparator).
struct BigramLater {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

}  // namespace

uint32_t gpt2_byte_to_code_point(uint8_t byte) { return byte_map().to_cp[byte]; }

int gpt2_code_point_to_byte(uint32_t cp) {
  return cp < byte_map().to_byte.size() ? byte_map().to_byte[cp] : -1;
}

BpeTokenizer::BpeTokenizer(Vocab vocab, PreTokenizer pre)
    : Tokenizer(std::move(vocab)), pre_(pre), splitter_(vocab_) {
  for (int b = 0; b < 256; ++b) append_utf8(gpt2_byte_to_code_point(b), byte_text_[b]);
  const Vocab& v = vocab_;
  pieces_.resize(v.tokens.size());
  for (int32_t id = 0; id < v.size(); ++id) {
    switch (v.token_type(id)) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
        pieces_[id] = v.tokens[id];
        break;
      case TokenType::Normal:
        pieces_[id] = decode_byte_level(v.tokens[id]);
        break;
      case TokenType::Unused:
      case TokenType::Byte:
      case TokenType::Undefined:
        break;  // llama.cpp renders these as nothing for BPE vocabularies
    }
  }
}

Result<std::unique_ptr<Tokenizer>> BpeTokenizer::create(Vocab vocab) {
  Result<PreTokenizer> pre = pre_tokenizer_from_name(vocab.pre);
  if (!pre.ok()) return pre.status();
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer(std::move(vocab), *pre));
  EMOE_RETURN_IF_ERROR(tok->read_merges());
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

Status BpeTokenizer::read_merges() {
  const std::vector<std::string>& merges = vocab_.merges;
  if (merges.size() > static_cast<size_t>(INT32_MAX)) {
    return corrupt("tokenizer.ggml.merges has too many entries");
  }
  ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    // As llama.cpp: the separator is the first space after the first byte, so a left part may
    // itself be a space.
    const size_t sep = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sep == std::string::npos || sep + 1 >= m.size()) {
      return corrupt("tokenizer.ggml.merges[" + std::to_string(i) + "] = '" + m.substr(0, 64) +
                     "' is not two non-empty parts separated by a space");
    }
    ranks_.emplace(std::make_pair(m.substr(0, sep), m.substr(sep + 1)), static_cast<int32_t>(i));
  }
  return Status::ok();
}

int32_t BpeTokenizer::rank(std::string left, std::string right) const {
  auto it = ranks_.find(std::make_pair(std::move(left), std::move(right)));
  return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  if (pre_.ignore_merges) {
    const int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (size_t off = 0; off < word.size();) {
    const size_t n =
        std::min(utf8_sequence_length(static_cast<uint8_t>(word[off])), word.size() - off);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, off + n == word.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramLater> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const int32_t rk = rank(word.substr(l.start, l.n), word.substr(r.start, r.n));
    if (rk < 0) return;
    queue.push({left, right, rk, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    // Stale entry: one side was merged since it was queued. (Symbols only grow to the right
    // and absorbed ones are emptied, so equal length means equal text.)
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size || l.next != b.right) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string piece = word.substr(s.start, s.n);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t byte_id = vocab_.find(std::string(1, c));
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  const std::vector<Fragment> frags = splitter_.split(vocab_, text, parse_special);
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  std::string encoded;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    for (const std::string& word : pre_tokenize(pre_.kind, text.substr(f.offset, f.length))) {
      encoded.clear();
      for (unsigned char c : word) encoded += byte_text_[c];
      encode_word(encoded, out);
    }
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

}  // namespace emoe::tokenizer
