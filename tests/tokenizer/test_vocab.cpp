// Vocab::from_gguf: the keys llama.cpp reads, its defaults and load-time rules, and clear
// errors for broken vocabularies (checked on files written with GgufWriter).
#include <QtTest>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "core/tokenizer/detokenize.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/vocab.h"

using emoe::StatusCode;
using emoe::gguf::GgufFile;
using emoe::gguf::GgufWriter;
using emoe::gguf::Value;
using emoe::gguf::ValueType;
using emoe::tokenizer::Tokenizer;
using emoe::tokenizer::TokenType;
using emoe::tokenizer::Vocab;

namespace {

const std::string kData = EMOE_TEST_DATA_DIR;

Value strings(const std::vector<std::string>& v) {
  Value::Array a;
  for (const auto& s : v) a.push_back(Value::string(s));
  return Value::array(ValueType::String, std::move(a));
}
Value floats(const std::vector<float>& v) {
  Value::Array a;
  for (float f : v) a.push_back(Value::f32(f));
  return Value::array(ValueType::Float32, std::move(a));
}
Value ints(const std::vector<int32_t>& v) {
  Value::Array a;
  for (int32_t i : v) a.push_back(Value::i32(i));
  return Value::array(ValueType::Int32, std::move(a));
}

// A small valid SPM vocabulary: <unk> <s> </s> ▁ a b ▁a ab.
GgufWriter small_spm() {
  GgufWriter w;
  w.set("general.architecture", Value::string("llama"));
  w.set("tokenizer.ggml.model", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                          "\xe2\x96\x81"
                                          "a",
                                          "ab"}));
  w.set("tokenizer.ggml.scores", floats({0, 0, 0, -1, -2, -2, -1.5f, -0.5f}));
  w.set("tokenizer.ggml.token_type", ints({2, 3, 3, 1, 1, 1, 1, 1}));
  return w;
}

emoe::Result<Vocab> read(const GgufWriter& w) {
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto file = GgufFile::from_bytes(bytes);
  if (!file.ok()) qFatal("writer output does not parse: %s", file.status().message().c_str());
  return Vocab::from_gguf(**file);
}

std::unique_ptr<GgufFile> open(const std::string& path) {
  auto f = GgufFile::open(path);
  if (!f.ok()) qFatal("%s: %s", path.c_str(), f.status().message().c_str());
  return std::move(f).value();
}

bool mentions(const emoe::Status& s, const std::string& what) {
  return s.message().find(what) != std::string::npos;
}

}  // namespace

class TestVocab : public QObject {
  Q_OBJECT

 private slots:
  // Values read off the file's metadata (see tests/data/vocab/README.md).
  void llama_spm_file() {
    auto f = open(kData + "/vocab/ggml-vocab-llama-spm.gguf");
    auto v = Vocab::from_gguf(*f);
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->model, std::string("llama"));
    QCOMPARE(v->pre, std::string("default"));
    QCOMPARE(v->size(), 32000);
    QCOMPARE(v->scores.size(), size_t{32000});
    QCOMPARE(v->token_type(0), TokenType::Unknown);
    QCOMPARE(v->token_type(1), TokenType::Control);
    QCOMPARE(v->token_type(3), TokenType::Byte);
    QCOMPARE(v->token_type(15043), TokenType::Normal);
    QCOMPARE(v->tokens[15043], std::string("\xe2\x96\x81Hello"));
    QCOMPARE(v->find("<0x0A>"), 13);
    QCOMPARE(v->bos, 1);
    QCOMPARE(v->eos, 2);
    QCOMPARE(v->unk, 0);
    QCOMPARE(v->pad, -1);
    QCOMPARE(v->eot, -1);
    QVERIFY(v->add_bos);
    QVERIFY(!v->add_eos);
    QVERIFY(v->add_space_prefix);
    QVERIFY(!v->clean_spaces);
    QCOMPARE(v->eog_ids, std::vector<int32_t>{2});
    QVERIFY(v->is_control(1) && !v->is_control(0));
    QVERIFY(std::all_of(v->strip.begin(), v->strip.end(), [](uint8_t s) { return s == 0; }));
  }

  // Phi-3: eos/pad 32000; <|endoftext|> and <|end|> are end-of-generation by their text; the
  // "phi3" model name turns on right-stripping for special tokens except <unk> <s> <|endoftext|>.
  void phi3_file() {
    auto f = open(kData + "/vocab/ggml-vocab-phi-3.gguf");
    auto v = Vocab::from_gguf(*f);
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->name, std::string("Phi3"));
    QCOMPARE(v->eos, 32000);
    QCOMPARE(v->pad, 32000);
    QCOMPARE(v->eog_ids, (std::vector<int32_t>{32000, 32007}));
    // Which of the two becomes EOT depends on hash-map order in llama.cpp too.
    QVERIFY(v->eot == 32000 || v->eot == 32007);
    using emoe::tokenizer::kStripRight;
    QCOMPARE(v->strip_flags(32007), uint8_t{kStripRight});  // <|end|>, Control
    QCOMPARE(v->strip_flags(32011), uint8_t{kStripRight});  // [PAD32011], Unknown
    QCOMPARE(v->strip_flags(2), uint8_t{kStripRight});      // </s>, UserDefined
    QCOMPARE(v->strip_flags(0), uint8_t{0});
    QCOMPARE(v->strip_flags(1), uint8_t{0});
    QCOMPARE(v->strip_flags(32000), uint8_t{0});
    QCOMPARE(v->strip_flags(15043), uint8_t{0});
  }

  void gpt2_file_loads() {
    auto f = open(kData + "/vocab/ggml-vocab-gpt-2.gguf");
    auto v = Vocab::from_gguf(*f);
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->merges.size(), size_t{50000});
    QCOMPARE(v->merges[0], std::string("\xc4\xa0 t"));
    QCOMPARE(v->bos, 50256);
    QVERIFY(!v->add_space_prefix);
    QVERIFY(!v->add_bos);
    QVERIFY(v->clean_spaces);
    auto tok = Tokenizer::from_gguf(*f);
    QVERIFY2(tok.ok(), tok.status().message().c_str());  // tests/tokenizer/test_bpe_tokenizer.cpp
  }

  // Absent keys take llama.cpp's SPM defaults; present ones win.
  void spm_defaults_and_overrides() {
    auto v = read(small_spm());
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->bos, 1);
    QCOMPARE(v->eos, 2);
    QCOMPARE(v->unk, 0);
    QVERIFY(v->add_bos && !v->add_eos && v->add_space_prefix);
    QCOMPARE(v->pre, std::string("default"));

    GgufWriter w = small_spm();
    w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
    w.set("tokenizer.ggml.add_eos_token", Value::boolean(true));
    w.set("tokenizer.ggml.eos_token_id", Value::u32(5));
    auto o = read(w);
    QVERIFY2(o.ok(), o.status().message().c_str());
    QVERIFY(!o->add_space_prefix && !o->add_bos && o->add_eos);
    QCOMPARE(o->eos, 5);
    auto tok = Tokenizer::create(*o);
    QVERIFY(tok.ok());
    // No "▁" prefix: "ab" is one token; EOS appended; no BOS.
    QCOMPARE((*tok)->encode("ab", true, false), (std::vector<int32_t>{7, 5}));
  }

  // A token whose text names an end of turn is retyped Control and becomes EOT, as in llama.cpp.
  void eot_detected_by_text() {
    GgufWriter w = small_spm();
    w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                            "\xe2\x96\x81"
                                            "a",
                                            "<|im_end|>"}));
    auto v = read(w);
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->eot, 7);
    QCOMPARE(v->token_type(7), TokenType::Control);
    QCOMPARE(v->eog_ids, (std::vector<int32_t>{2, 7}));
    QVERIFY(v->is_eog(7) && !v->is_eog(1));
  }

  void bad_vocabularies_name_the_key() {
    struct Bad {
      const char* what;
      void (*edit)(GgufWriter&);
      const char* key;
    };
    const Bad cases[] = {
        {"scores too short",
         [](GgufWriter& w) {
           w.set("tokenizer.ggml.scores", floats({0, 0, 0}));
         },
         "tokenizer.ggml.scores"},
        {"token_type too long",
         [](GgufWriter& w) {
           w.set("tokenizer.ggml.token_type", ints({1, 1, 1, 1, 1, 1, 1, 1, 1}));
         },
         "tokenizer.ggml.token_type"},
        {"bos out of range",
         [](GgufWriter& w) { w.set("tokenizer.ggml.bos_token_id", Value::u32(8)); },
         "tokenizer.ggml.bos_token_id"},
        {"unk out of range",
         [](GgufWriter& w) { w.set("tokenizer.ggml.unknown_token_id", Value::i32(-7)); },
         "tokenizer.ggml.unknown_token_id"},
        {"bos id not an integer",
         [](GgufWriter& w) { w.set("tokenizer.ggml.bos_token_id", Value::string("1")); },
         "tokenizer.ggml.bos_token_id"},
        {"add_bos not a bool",
         [](GgufWriter& w) { w.set("tokenizer.ggml.add_bos_token", Value::string("yes")); },
         "tokenizer.ggml.add_bos_token"},
        {"no tokens", [](GgufWriter& w) { w.set("tokenizer.ggml.tokens", strings({})); },
         "tokenizer.ggml.tokens"},
        {"tokens not an array",
         [](GgufWriter& w) { w.set("tokenizer.ggml.tokens", Value::string("a")); },
         "tokenizer.ggml.tokens"},
        {"duplicate token text",
         [](GgufWriter& w) {
           w.set("tokenizer.ggml.tokens",
                 strings({"<unk>", "<s>", "</s>", "a", "a", "b", "c", "d"}));
         },
         "tokenizer.ggml.tokens"},
        {"no model", [](GgufWriter& w) { w.set("tokenizer.ggml.model", Value::u32(1)); },
         "tokenizer.ggml.model"},
        {"gpt2 without merges",
         [](GgufWriter& w) { w.set("tokenizer.ggml.model", Value::string("gpt2")); },
         "tokenizer.ggml.merges"},
    };
    for (const Bad& c : cases) {
      GgufWriter w = small_spm();
      c.edit(w);
      auto v = read(w);
      QVERIFY2(!v.ok(), c.what);
      QVERIFY2(mentions(v.status(), c.key),
               (std::string(c.what) + ": " + v.status().message()).c_str());
    }
    GgufWriter missing;
    missing.set("tokenizer.ggml.model", Value::string("llama"));
    auto v = read(missing);
    QVERIFY(!v.ok());
    QCOMPARE(v.status().code(), StatusCode::NotFound);
    QVERIFY(mentions(v.status(), "tokenizer.ggml.tokens"));
  }

  // llama_detokenize's clean_up_tokenization_spaces passes, hand-checked against its source.
  void clean_up_spaces_passes() {
    using emoe::tokenizer::clean_up_spaces;
    QCOMPARE(clean_up_spaces("Hello , world !"), std::string("Hello, world!"));
    QCOMPARE(clean_up_spaces("a . b ?"), std::string("a. b?"));
    QCOMPARE(clean_up_spaces("rock ' n"), std::string("rock'n"));
    QCOMPARE(clean_up_spaces("it 's I 'm we 're you 've"), std::string("it's I'm we're you've"));
    QCOMPARE(clean_up_spaces("don 't I 'd we 'll"), std::string("don 't I 'd we 'll"));
    QCOMPARE(clean_up_spaces(" ' ' "), std::string("'' "));  // 2nd ' sees the '\0' pass 2 left
    QCOMPARE(clean_up_spaces(""), std::string());
    QCOMPARE(clean_up_spaces(" ,"), std::string(","));
  }
};

QTEST_GUILESS_MAIN(TestVocab)
#include "test_vocab.moc"
