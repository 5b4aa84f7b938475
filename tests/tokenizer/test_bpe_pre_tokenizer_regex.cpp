// The BPE pre-tokenizer scanners against the way llama.cpp c392e509 runs the same regexes
// through the C++ standard library (unicode_regex_split): text "collapsed" to one byte per code
// point for patterns with \p{..} classes (std::regex), and code points as wchar_t with non-ASCII
// white space replaced by U+000B for the others (std::wregex), each regex of a list splitting
// the fragments the previous one left. Random strings over code points chosen to hit every
// branch must split identically.
#include <QtTest>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/unicode_categories.h"
#include "core/tokenizer/utf8.h"

using emoe::tokenizer::PreTokenizerKind;
using emoe::tokenizer::UnicodeCategory;
using Words = std::vector<std::string>;

namespace {

// DeepSeek LLM's letter class, transcribed from its regex (code point pairs, inclusive).
const uint32_t kDeepseekLetterPairs[] = {
    0x0041,  0x005A,  0x0061,  0x007A,  0x00B5,  0x00B5,  0x00C0,  0x00D6,  0x00D8,  0x00F6,
    0x00F8,  0x01BA,  0x01BC,  0x01BF,  0x01C4,  0x0293,  0x0295,  0x02AF,  0x0370,  0x0373,
    0x0376,  0x0376,  0x0377,  0x0377,  0x037B,  0x037D,  0x037F,  0x037F,  0x0386,  0x0386,
    0x0388,  0x038A,  0x038C,  0x038C,  0x038E,  0x03A1,  0x03A3,  0x03F5,  0x03F7,  0x0481,
    0x048A,  0x052F,  0x0531,  0x0556,  0x10A0,  0x10C5,  0x13A0,  0x13F5,  0x13F8,  0x13FD,
    0x1C90,  0x1CBA,  0x1CBD,  0x1CBF,  0x1D00,  0x1D2B,  0x1D6B,  0x1D77,  0x1D79,  0x1D9A,
    0x1E00,  0x1F15,  0x1F18,  0x1F1D,  0x1F20,  0x1F45,  0x1F48,  0x1F4D,  0x1F50,  0x1F57,
    0x1F59,  0x1F59,  0x1F5B,  0x1F5B,  0x1F5D,  0x1F5D,  0x1F5F,  0x1F7D,  0x1F80,  0x1FB4,
    0x1FB6,  0x1FBC,  0x1FBE,  0x1FBE,  0x1FC2,  0x1FC4,  0x1FC6,  0x1FCC,  0x1FD0,  0x1FD3,
    0x1FD6,  0x1FDB,  0x1FE0,  0x1FEC,  0x1FF2,  0x1FF4,  0x1FF6,  0x1FFC,  0x2102,  0x2102,
    0x2107,  0x2107,  0x210A,  0x2113,  0x2115,  0x2115,  0x2119,  0x211D,  0x2124,  0x2124,
    0x2126,  0x2126,  0x2128,  0x2128,  0x212A,  0x212D,  0x212F,  0x2134,  0x2139,  0x2139,
    0x213C,  0x213F,  0x2145,  0x2149,  0x214E,  0x214E,  0x2183,  0x2183,  0x2184,  0x2184,
    0x2C00,  0x2C7B,  0x2C7E,  0x2CE4,  0x2CEB,  0x2CEE,  0x2CF2,  0x2CF2,  0x2CF3,  0x2CF3,
    0xA640,  0xA66D,  0xA680,  0xA69B,  0xA722,  0xA76F,  0xA771,  0xA787,  0xA78B,  0xA78E,
    0xAB70,  0xABBF,  0xFB00,  0xFB06,  0xFB13,  0xFB17,  0xFF21,  0xFF3A,  0xFF41,  0xFF5A,
    0x10400, 0x1044F, 0x104B0, 0x104D3, 0x104D8, 0x104FB, 0x10C80, 0x10CB2, 0x10CC0, 0x10CF2,
    0x118A0, 0x118DF, 0x1E900, 0x1E943,
};

struct Reference {
  std::vector<uint32_t> cps;
  std::string collapsed;  // one byte per code point, as llama.cpp builds it
  std::wstring wide;      // code points, non-ASCII white space as U+000B
  std::vector<size_t> frags;

  explicit Reference(const std::string& text) {
    cps = emoe::tokenizer::decode_utf8(text);
    for (uint32_t cp : cps) {
      const bool ws = emoe::tokenizer::unicode_is_whitespace(cp);
      wide += static_cast<wchar_t>(cp > 0x7F && ws ? 0x0B : cp);
      if (cp < 0x80) {
        collapsed += static_cast<char>(cp);
      } else if (ws) {
        collapsed += '\x0b';
      } else {
        switch (emoe::tokenizer::unicode_category(cp)) {
          case UnicodeCategory::Number:
            collapsed += '\xd1';
            break;
          case UnicodeCategory::Letter:
            collapsed += '\xd2';
            break;
          case UnicodeCategory::Punctuation:
            collapsed += '\xd3';
            break;
          default:
            collapsed += '\xd0';
            break;
        }
      }
    }
    frags = {cps.size()};
  }

  // unicode_regex_split_stl: matches and the stretches between them, per fragment.
  template <class CharT>
  void split(const std::basic_string<CharT>& s, const std::basic_string<CharT>& pattern) {
    const std::basic_regex<CharT> re(pattern);
    std::vector<size_t> out;
    size_t start = 0;
    for (size_t len : frags) {
      std::regex_iterator<const CharT*> it(s.data() + start, s.data() + start + len, re), end;
      size_t done = 0;
      for (; it != end; ++it) {
        const size_t pos = static_cast<size_t>(it->position());
        if (pos > done) out.push_back(pos - done);
        out.push_back(static_cast<size_t>(it->length()));
        done = pos + static_cast<size_t>(it->length());
      }
      if (len > done) out.push_back(len - done);
      start += len;
    }
    frags = out;
  }

  Words words() const {
    Words w;
    size_t start = 0;
    for (size_t len : frags) {
      std::string s;
      for (size_t i = start; i < start + len; ++i) emoe::tokenizer::append_utf8(cps[i], s);
      w.push_back(s);
      start += len;
    }
    return w;
  }
};

// \p{L}, \p{N}, \p{P} in collapsed form (llama.cpp's k_ucat_cpt + k_ucat_map), without brackets.
const std::string kL = std::string("\xd2") + "A-Za-z";
const std::string kN = std::string("\xd1") + "0-9";
const std::string kP = std::string("\xd3") + "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";

std::wstring wide_ranges(const std::vector<uint32_t>& pairs) {
  std::wstring s;
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    s += static_cast<wchar_t>(pairs[i]);
    if (pairs[i + 1] != pairs[i]) {
      s += L'-';
      s += static_cast<wchar_t>(pairs[i + 1]);
    }
  }
  return s;
}

Words reference_split(PreTokenizerKind kind, const std::string& text) {
  Reference r(text);
  if (r.cps.empty()) return {};
  const std::string contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
  const std::wstring cjk =
      L"[" + wide_ranges({0x4E00, 0x9FA5, 0x0800, 0x4E00, 0xAC00, 0xD7FF}) + L"]+";
  switch (kind) {
    case PreTokenizerKind::Gpt2:
      r.split(r.collapsed, "'s|'t|'re|'ve|'m|'ll|'d| ?[" + kL + "]+| ?[" + kN + "]+| ?[^\\s" + kL +
                               kN + "]+|\\s+(?!\\S)");
      break;
    case PreTokenizerKind::Llama3:
    case PreTokenizerKind::Qwen2:
      r.split(r.collapsed, contractions + "|[^\\r\\n" + kL + kN + "]?[" + kL + "]+|[" + kN + "]" +
                               (kind == PreTokenizerKind::Llama3 ? "{1,3}" : "") + "| ?[^\\s" + kL +
                               kN + "]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
      break;
    case PreTokenizerKind::DeepseekLlm: {
      const std::vector<uint32_t> letters(std::begin(kDeepseekLetterPairs),
                                          std::end(kDeepseekLetterPairs));
      r.split(r.wide, std::wstring(L"[\r\n]"));
      r.split(r.wide, L"\\s?[" + wide_ranges(letters) + L"]+");
      r.split(r.wide, L"\\s?[" +
                          wide_ranges({0x21, 0x2F, 0x3A, 0x7E, 0xFF01, 0xFF0F, 0xFF1A, 0xFF5E,
                                       0x2018, 0x201F, 0x3000, 0x3002}) +
                          L"]+");
      r.split(r.wide, std::wstring(L"\\s+$"));
      r.split(r.wide, cjk);
      r.split(r.collapsed, "[" + kN + "]+");
      break;
    }
    case PreTokenizerKind::DeepseekCoder:
      r.split(r.wide, std::wstring(L"[\r\n]"));
      r.split(r.collapsed, "\\s?[" + kL + "]+");
      r.split(r.collapsed, "\\s?[" + kP + "]+");
      r.split(r.wide, cjk);
      r.split(r.collapsed, "[" + kN + "]");
      break;
  }
  return r.words();
}

std::string show(const Words& w) {
  std::string s;
  for (const std::string& x : w) {
    s += '[';
    for (unsigned char c : x) {
      if (c < 0x20) {
        s += "\\x";
        s += "0123456789abcdef"[c >> 4];
        s += "0123456789abcdef"[c & 15];
      } else {
        s += static_cast<char>(c);
      }
    }
    s += ']';
  }
  return s;
}

// Code points that exercise every class and branch: ASCII letters of the contractions, digits,
// punctuation and symbols, white space (ASCII and not), CR/LF, letters and numbers outside
// ASCII, marks, CJK, ideographic punctuation and space, an emoji, a control character.
const uint32_t kAlphabet[] = {
    'a',    'Z',    's',  'S',    't',     'r',    'E',    'v',     'l',    'L',
    'd',    'm',    ' ',  ' ',    '\t',    '\n',   '\r',   '\'',    '0',    '7',
    '!',    '.',    '-',  '_',    '$',     '~',    '=',    '(',     0x01,   0x0B,
    0xE9,   0xDF,   0xB5, 0x3A9,  0x2126,  0x212A, 0x1FBE, 0x4E16,  0x754C, 0xAC00,
    0x3002, 0x3000, 0xA0, 0x2028, 0x85,    0x2460, 0x663,  0x1F600, 0x301,  0xFF01,
    0xFF21, 0x2019, 0xB7, 0xAB,   0x10400, 0x0800, 0x2F00, 0xD7FF,  0x1F,   0x2003,
};

std::string random_text(std::mt19937& rng) {
  std::uniform_int_distribution<int> len(0, 16);
  std::uniform_int_distribution<size_t> pick(0, std::size(kAlphabet) - 1);
  std::string s;
  for (int n = len(rng); n > 0; --n) emoe::tokenizer::append_utf8(kAlphabet[pick(rng)], s);
  return s;
}

}  // namespace

class TestBpePreTokenizerRegex : public QObject {
  Q_OBJECT

 private slots:
  void matches_std_regex_data() {
    QTest::addColumn<int>("kind");
    QTest::newRow("gpt2") << int(PreTokenizerKind::Gpt2);
    QTest::newRow("llama3") << int(PreTokenizerKind::Llama3);
    QTest::newRow("qwen2") << int(PreTokenizerKind::Qwen2);
    QTest::newRow("deepseek-llm") << int(PreTokenizerKind::DeepseekLlm);
    QTest::newRow("deepseek-coder") << int(PreTokenizerKind::DeepseekCoder);
  }
  void matches_std_regex() {
    QFETCH(int, kind);
    const auto k = static_cast<PreTokenizerKind>(kind);
    std::mt19937 rng(1234 + kind);
    for (int i = 0; i < 3000; ++i) {
      const std::string text = random_text(rng);
      const Words want = reference_split(k, text);
      const Words got = emoe::tokenizer::pre_tokenize(k, text);
      QVERIFY2(got == want,
               ("text " + show({text}) + ": got " + show(got) + " want " + show(want)).c_str());
    }
  }
};

QTEST_GUILESS_MAIN(TestBpePreTokenizerRegex)
#include "test_bpe_pre_tokenizer_regex.moc"
