#include "core/tokenizer/detokenize.h"

#include "core/tokenizer/tokenizer.h"

namespace emoe::tokenizer {

std::string clean_up_spaces(std::string text) {
  // The passes work in place like llama.cpp's, because pass 2 reads a byte that an earlier
  // step of the same pass has overwritten with '\0'.
  std::string& t = text;
  size_t total = t.size();

  // Pass 1: " ?", " !", " .", " ," lose the space.
  {
    const size_t n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; ++i) {
      const char x = t[i];
      if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
      t[total++] = x;
    }
  }
  // Pass 2: a single apostrophe between spaces loses both spaces.
  {
    const size_t n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; ++i) {
      const char x = t[i];
      if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
        --total;
        t[++i] = '\0';
      }
      t[total++] = x;
    }
  }
  // Pass 3: " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
  {
    const size_t n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; ++i) {
      const char x = t[i];
      if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
        const char x1 = t[i + 1];
        if (x1 == 's' || x1 == 'm') {
          --total;
        } else if (i + 2 < n) {
          const char x2 = t[i + 2];
          if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
        }
      }
      t[total++] = x;
    }
  }
  t.resize(total);
  return text;
}

std::string detokenize(const Tokenizer& tok, std::span<const int32_t> ids, bool remove_special,
                       bool unparse_special) {
  const Vocab& v = tok.vocab();
  bool remove_space = v.add_space_prefix;
  if (remove_special && v.add_bos && !ids.empty() && ids.front() == v.bos) {
    remove_space = false;
    ids = ids.subspan(1);
  }
  if (remove_special && v.add_eos && !ids.empty() && ids.back() == v.eos) {
    ids = ids.subspan(0, ids.size() - 1);
  }
  std::string out;
  for (int32_t id : ids) {
    std::string piece = tok.token_to_piece(id, unparse_special);
    size_t skip = (remove_space && !piece.empty() && piece[0] == ' ') ? 1 : 0;
    out.append(piece, skip, std::string::npos);
    // Only the first token is considered, even when its piece was empty.
    remove_space = false;
  }
  if (v.clean_spaces) out = clean_up_spaces(std::move(out));
  return out;
}

}  // namespace emoe::tokenizer
