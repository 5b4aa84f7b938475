// An independent, deliberately simple SentencePiece reference for the tests: quadratic
// "merge the best adjacent pair" loop over std::string symbols, written from the algorithm's
// description rather than from the engine's code (no priority queue, no linked list).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/vocab.h"

namespace emoe::tokenizer::testing {

// Tokenizes one text fragment the way SentencePiece with byte fallback does: optional "▁"
// prefix, ' ' -> "▁", split into UTF-8 characters (a lead byte's high nibble gives the length,
// anything else is one byte), then repeatedly merge the adjacent pair whose concatenation is the
// highest-scoring token (leftmost pair on ties). Left-over characters become <0xXX> tokens.
// `index` maps token text to id (built once by the caller; see naive_index()).
inline std::vector<int32_t> naive_spm(const Vocab& v,
                                      const std::unordered_map<std::string, int32_t>& index,
                                      const std::string& raw, bool space_prefix) {
  const std::string kSpace = "\xe2\x96\x81";
  std::string text = space_prefix ? kSpace : std::string();
  for (char c : raw) text += (c == ' ') ? kSpace : std::string(1, c);

  std::vector<std::string> sym;
  for (size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    size_t len = 1;
    if (b >= 0xF0) {
      len = 4;
    } else if (b >= 0xE0) {
      len = 3;
    } else if (b >= 0xC0) {
      len = 2;
    }
    if (i + len > text.size()) len = text.size() - i;
    sym.push_back(text.substr(i, len));
    i += len;
  }

  auto find = [&](const std::string& s) -> int32_t {
    auto it = index.find(s);
    return it == index.end() ? -1 : it->second;
  };

  while (true) {
    int best_i = -1;
    float best = 0.0f;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const int32_t id = find(sym[i] + sym[i + 1]);
      if (id < 0) continue;
      const float s = v.scores.empty() ? 0.0f : v.scores[id];
      if (best_i < 0 || s > best) {
        best = s;
        best_i = static_cast<int>(i);
      }
    }
    if (best_i < 0) break;
    sym[best_i] += sym[best_i + 1];
    sym.erase(sym.begin() + best_i + 1);
  }

  std::vector<int32_t> out;
  for (const std::string& s : sym) {
    const int32_t id = find(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char b : s) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      out.push_back(find(name));
    }
  }
  return out;
}

// A text -> id map built from the token list alone (not from Vocab::token_to_id).
inline std::unordered_map<std::string, int32_t> naive_index(const Vocab& v) {
  std::unordered_map<std::string, int32_t> index;
  for (int32_t id = 0; id < v.size(); ++id) index.emplace(v.tokens[id], id);
  return index;
}

inline std::vector<int32_t> naive_spm(const Vocab& v, const std::string& raw, bool space_prefix) {
  return naive_spm(v, naive_index(v), raw, space_prefix);
}

}  // namespace emoe::tokenizer::testing
