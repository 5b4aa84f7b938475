// build_spm_vocab: the layout llama.cpp's SPM loader expects (special, byte and normal tokens),
// strictly falling scores, BPE structure, determinism, and that the project's SPM tokenizer
// round-trips text through it and agrees with ids that llama.cpp produced for it.
#include <QtTest>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/vocab.h"
#include "core/tokenizer/vocab_builder.h"

using emoe::StatusCode;
using emoe::tokenizer::build_spm_vocab;
using emoe::tokenizer::Tokenizer;
using emoe::tokenizer::TokenType;
using emoe::tokenizer::Vocab;

namespace {

const std::string kMeta = "\xE2\x96\x81";  // U+2581

// Code points of a UTF-8 string (the test's own decoder; input is valid UTF-8).
size_t count_chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Vocab build(int32_t size) {
  auto r = build_spm_vocab(size);
  if (!r.ok()) qFatal("build_spm_vocab(%d) failed: %s", size, r.status().message().c_str());
  return std::move(r).value();
}

std::unique_ptr<Tokenizer> make_tokenizer(const Vocab& v) {
  auto t = Tokenizer::create(v);
  if (!t.ok()) qFatal("Tokenizer::create failed: %s", t.status().message().c_str());
  return std::move(t).value();
}

}  // namespace

class TestVocabBuilder : public QObject {
  Q_OBJECT

 private slots:
  void layoutAndSizes_data() {
    QTest::addColumn<int>("size");
    QTest::newRow("300") << 300;
    QTest::newRow("1000") << 1000;
    QTest::newRow("4096") << 4096;
    QTest::newRow("32000") << 32000;  // the fixtures' size: needs the variant tiers
  }
  void layoutAndSizes() {
    QFETCH(int, size);
    const Vocab v = build(size);
    QCOMPARE(v.size(), size);
    QCOMPARE(static_cast<int>(v.scores.size()), size);
    QCOMPARE(static_cast<int>(v.types.size()), size);
    QCOMPARE(v.model, std::string("llama"));
    QCOMPARE(v.pre, std::string("default"));
    QCOMPARE(v.unk, 0);
    QCOMPARE(v.bos, 1);
    QCOMPARE(v.eos, 2);
    QVERIFY(v.add_bos);
    QVERIFY(!v.add_eos);

    QCOMPARE(v.tokens[0], std::string("<unk>"));
    QCOMPARE(v.types[0], TokenType::Unknown);
    QCOMPARE(v.tokens[1], std::string("<s>"));
    QCOMPARE(v.types[1], TokenType::Control);
    QCOMPARE(v.tokens[2], std::string("</s>"));
    QCOMPARE(v.types[2], TokenType::Control);
    // llama.cpp finds byte tokens by the text "<0x%02X>" (upper-case hex).
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      QCOMPARE(v.tokens[3 + b], std::string(buf));
      QCOMPARE(v.types[3 + b], TokenType::Byte);
      QCOMPARE(v.scores[3 + b], 0.0f);
    }
    QCOMPARE(v.tokens[259], kMeta);
    QCOMPARE(v.types[259], TokenType::Normal);

    // Unique texts, and token_to_id is their inverse.
    std::set<std::string> seen(v.tokens.begin(), v.tokens.end());
    QCOMPARE(static_cast<int>(seen.size()), size);
    QCOMPARE(static_cast<int>(v.token_to_id.size()), size);
    for (int id = 0; id < size; ++id) QCOMPARE(v.token_to_id.at(v.tokens[id]), id);

    // Every token from id 259 on is Normal (this corpus fills even 32000 without fillers),
    // with strictly falling scores: higher score = merged earlier.
    for (int id = 259; id < size; ++id) {
      QCOMPARE(v.types[id], TokenType::Normal);
      if (id > 259) QVERIFY2(v.scores[id] < v.scores[id - 1], v.tokens[id].c_str());
    }
    // Single characters come before every merged piece, and each merged piece is the
    // concatenation of two earlier tokens (how BPE builds it and how llama.cpp's SPM merge
    // loop can reach it from characters).
    int first_merge = -1;
    for (int id = 259; id < size; ++id) {
      const size_t chars = count_chars(v.tokens[id]);
      QVERIFY(chars >= 1);
      if (chars == 1) {
        QVERIFY2(first_merge < 0, "a single character after a merged piece");
        continue;
      }
      if (first_merge < 0) first_merge = id;
      const std::string& t = v.tokens[id];
      bool split_found = false;
      for (size_t cut = 1; cut < t.size() && !split_found; ++cut) {
        auto l = v.token_to_id.find(t.substr(0, cut));
        auto r = v.token_to_id.find(t.substr(cut));
        split_found = l != v.token_to_id.end() && r != v.token_to_id.end() && l->second < id &&
                      r->second < id && l->second >= 259 && r->second >= 259;
      }
      QVERIFY2(split_found, t.c_str());
    }
    if (size >= 1000) QVERIFY(first_merge > 259);
  }

  void deterministicAndPrefix() {
    const Vocab a = build(4096);
    const Vocab b = build(4096);
    QCOMPARE(a.tokens, b.tokens);
    QCOMPARE(a.scores, b.scores);
    // A smaller vocabulary is the start of a larger one (tiers are trained in order), so
    // models of different vocabulary sizes share token ids.
    const Vocab big = build(8000);
    for (int id = 0; id < a.size(); ++id) {
      QCOMPARE(big.tokens[id], a.tokens[id]);
      QCOMPARE(big.scores[id], a.scores[id]);
    }
  }

  void rejectsBadSizes() {
    for (int size : {0, -5, 299, emoe::tokenizer::kMaxBuiltVocabSize + 1}) {
      auto r = build_spm_vocab(size);
      QVERIFY(!r.ok());
      QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
      QVERIFY2(r.status().message().find(std::to_string(size)) != std::string::npos,
               r.status().message().c_str());
    }
  }

  void corpusIsEmbedded() {
    const std::string c = emoe::tokenizer::builtin_corpus();
    QVERIFY2(c.size() >= 20000, std::to_string(c.size()).c_str());
    QVERIFY(c.find("def fibonacci(n):") != std::string::npos);  // code
    QVERIFY(c.find("1024") != std::string::npos);               // numbers
  }

  // Text -> ids -> text is the identity for any UTF-8 input: characters the vocabulary lacks
  // fall back to byte tokens. (llama.cpp's detokenizer drops the one space the tokenizer
  // prefixed, so leading spaces survive too.)
  void roundTrip_data() {
    QTest::addColumn<QString>("text");
    QTest::newRow("english") << "The committee met on Tuesday to discuss the budget.";
    QTest::newRow("code") << "for (int i = 0; i < n; ++i) {\n\tsum += x[i] * 2;\n}\n";
    QTest::newRow("python") << "def f(x):\n    return x ** 2  # square\n";
    QTest::newRow("numbers") << "1, 1, 2, 3, 5, 8, 13, 21, 34, 3.14159 and -42";
    QTest::newRow("french") << "Le petit chat dort près de la fenêtre, à côté du café.";
    QTest::newRow("greek_cjk_emoji")
        << QString::fromUtf8("Αθήνα 東京 서울 \xF0\x9F\x99\x82\xF0\x9F\x9A\x80 done");
    QTest::newRow("spaces") << "  two leading,   three inside, trailing  ";
    QTest::newRow("controls") << QString::fromUtf8("bell\x07 nul-free \r\n end");
    QTest::newRow("single_char") << "x";
    QTest::newRow("empty") << "";
  }
  void roundTrip() {
    QFETCH(QString, text);
    const std::string s = text.toStdString();
    static const Vocab v = build(4096);
    static const auto tok = make_tokenizer(v);
    const std::vector<int32_t> ids = tok->encode(s, /*add_special=*/false, false);
    for (int32_t id : ids) QVERIFY(id >= 0 && id < v.size());
    QCOMPARE(tok->decode(ids, /*remove_special=*/false, false), s);
    // With add_special: BOS (1) first, no EOS, and the rest unchanged.
    const std::vector<int32_t> with_bos = tok->encode(s, true, false);
    QCOMPARE(with_bos.size(), ids.size() + 1);
    QCOMPARE(with_bos[0], 1);
    QCOMPARE(std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()), ids);
  }

  void byteFallbackForUnknownCharacters() {
    const Vocab v = build(4096);
    const auto tok = make_tokenizer(v);
    // U+65E5 (UTF-8 E6 97 A5) is not in the corpus: "▁" and then its three byte tokens.
    const std::vector<int32_t> ids = tok->encode("\xE6\x97\xA5", false, false);
    const std::vector<int32_t> expected = {v.token_to_id.at(kMeta), v.token_to_id.at("<0xE6>"),
                                           v.token_to_id.at("<0x97>"), v.token_to_id.at("<0xA5>")};
    QCOMPARE(ids, expected);
    QCOMPARE(v.token_to_id.at("<0xE6>"), 3 + 0xE6);
  }

  void commonWordsAreSingleTokens() {
    const Vocab v = build(4096);
    const auto tok = make_tokenizer(v);
    const char* words[] = {"the",   "and",    "of",      "to",     "in",    "is",
                           "that",  "with",   "for",     "it",     "was",   "on",
                           "are",   "this",   "from",    "by",     "be",    "which",
                           "when",  "water",  "experts", "memory", "bread", "river",
                           "model", "people", "light",   "return", "time",  "number"};
    for (const char* w : words) {
      // Encoded alone, the tokenizer prefixes a space, so the word is "▁word".
      const std::vector<int32_t> ids = tok->encode(w, false, false);
      auto it = v.token_to_id.find(kMeta + w);
      QVERIFY2(it != v.token_to_id.end(), w);
      QVERIFY2(ids.size() == 1 && ids[0] == it->second, w);
    }
    // English prose of the corpus's kind compresses to well under one token per 3 bytes.
    const std::string prose =
        "When the light from the sun reaches the river, the water changes color and the people "
        "on the bridge stop to watch it for a while before they walk back to the market.";
    const size_t n = tok->encode(prose, false, false).size();
    QVERIFY2(n * 4 < prose.size(), std::to_string(n).c_str());
  }

  // Ids llama.cpp itself produced for this vocabulary (the 4096-token default of
  // `emoe mkmodel`): node-llama-cpp 3.22.1's bundled llama.cpp, `model.tokenize(text)` (no
  // BOS, no special parsing) on a model written by write_synthetic_model with n_vocab 4096.
  // They pin the vocabulary too: a change to the corpus or the trainer changes them, and then
  // they must be regenerated the same way.
  void matchesLlamaCppIds_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QList<int>>("ids");
    QTest::newRow("english") << "The quick brown fox jumps over the lazy dog near the river bank."
                             << QList<int>{411,  1744, 2902, 2956, 776, 474,  277, 265, 913,  360,
                                           1212, 335,  276,  504,  278, 1076, 360, 944, 2388, 280};
    QTest::newRow("python")
        << "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + "
           "fibonacci(n - 2)\n"
        << QList<int>{769, 2840, 293, 264, 791, 13,   823, 536, 387, 777, 259,  292, 290,
                      13,  823,  823, 361, 628, 387,  13,  823, 361, 628, 2840, 293, 264,
                      607, 259,  287, 294, 592, 2840, 293, 264, 607, 259, 292,  294, 13};
    QTest::newRow("math") << "12 * (7 + 5) - 3^2 = "
                          << QList<int>{259, 287, 292, 680, 730, 320, 592, 259, 305,
                                        294, 607, 259, 301, 352, 292, 453, 259};
    QTest::newRow("french") << QString::fromUtf8(
                                   "Le petit chat dort paisiblement sur le canap\xC3\xA9 "
                                   "pr\xC3\xA8s de la fen\xC3\xAAtre.")
                            << QList<int>{1760, 380, 400,  370,  525, 373, 382,  467, 380,  1409,
                                          267,  550, 1464, 2266, 515, 533, 1989, 344, 2963, 490,
                                          1212, 366, 378,  198,  173, 261, 361,  280};
    QTest::newRow("hello") << "Hello" << QList<int>{564, 981, 263};
    QTest::newRow("unicode") << QString::fromUtf8(
                                    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x99\x82 "
                                    "\xC3\x9Cn\xC3\xAF"
                                    "c\xC3\xB6"
                                    "d\xC3\xA9\ttab  double  space")
                             << QList<int>{259, 233, 154, 168,  233, 159, 175, 235, 173,
                                           161, 259, 243, 162,  156, 133, 259, 198, 159,
                                           264, 198, 178, 272,  198, 185, 270, 344, 12,
                                           261, 654, 259, 1121, 259, 551, 716};
    QTest::newRow("leading_space") << " leading space" << QList<int>{259, 515, 2583, 551, 716};
    QTest::newRow("empty") << "" << QList<int>{};
  }
  void matchesLlamaCppIds() {
    QFETCH(QString, text);
    QFETCH(QList<int>, ids);
    static const Vocab v = build(4096);
    static const auto tok = make_tokenizer(v);
    const std::vector<int32_t> got = tok->encode(text.toStdString(), false, false);
    QCOMPARE(QList<int>(got.begin(), got.end()), ids);
  }
};

QTEST_GUILESS_MAIN(TestVocabBuilder)
#include "test_vocab_builder.moc"
