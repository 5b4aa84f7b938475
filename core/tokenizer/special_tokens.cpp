#include "core/tokenizer/special_tokens.h"

#include <algorithm>
#include <list>

namespace emoe::tokenizer {

namespace {

// C-locale isspace on a byte, as llama.cpp's strip loops use it.
bool is_c_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    TokenType t = vocab.token_type(id);
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
      order_.push_back(id);
    }
  }
  // std::sort (not stable_sort) on ids in ascending order, like llama.cpp: with the same
  // standard library the order of equal-length texts, which decides overlapping matches, is the
  // same as llama.cpp's.
  std::sort(order_.begin(), order_.end(),
            [&](int32_t a, int32_t b) { return vocab.tokens[a].size() > vocab.tokens[b].size(); });
}

std::vector<Fragment> SpecialTokenSplitter::split(const Vocab& vocab, std::string_view text,
                                                  bool parse_special) const {
  std::list<Fragment> frags;
  if (text.empty()) return {};
  frags.push_back({-1, 0, text.size()});

  for (int32_t id : order_) {
    TokenType type = vocab.token_type(id);
    if (!parse_special && (type == TokenType::Control || type == TokenType::Unknown)) continue;
    const std::string& needle = vocab.tokens[id];
    const uint8_t strip = vocab.strip_flags(id);

    for (auto it = frags.begin(); it != frags.end();) {
      if (it->token >= 0) {
        ++it;
        continue;
      }
      size_t off = it->offset;
      size_t len = it->length;
      const std::string_view window_text = text.substr(off, len);
      size_t pos = window_text.find(needle);
      if (pos == std::string_view::npos) {
        ++it;
        continue;
      }
      // Replace this raw fragment by left text / token / ... / remaining text.
      it = frags.erase(it);
      while (len > 0) {
        pos = text.substr(off, len).find(needle);
        if (pos == std::string_view::npos) {
          frags.insert(it, {-1, off, len});
          break;
        }
        const size_t match = off + pos;
        size_t left_len = pos;
        if (strip & kStripLeft) {
          while (left_len > 0 && is_c_space(text[off + left_len - 1])) --left_len;
        }
        if (left_len > 0) frags.insert(it, {-1, off, left_len});
        frags.insert(it, {id, 0, 0});
        size_t right_off = match + needle.size();
        size_t right_len = off + len - right_off;
        if (strip & kStripRight) {
          while (right_len > 0 && is_c_space(text[right_off])) {
            ++right_off;
            --right_len;
          }
        }
        off = right_off;
        len = right_len;
      }
    }
  }
  return {frags.begin(), frags.end()};
}

}  // namespace emoe::tokenizer
