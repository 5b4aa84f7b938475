// write_synthetic_model: the file read back through GgufFile has every key llama.cpp's llama
// loader needs (with the GGUF types it insists on), the fixtures' tensor names, shapes, types
// and aligned offsets, and weights equal to the documented PRNG as recomputed by the test's own
// copy of the formula (synthetic_model_expect.h; Q8_0/F16 decoded there too, checked within
// their rounding bounds). Also:
// reproducibility, spec validation, cancellation, the size estimate, and that the engine loads
// and runs the file like the float64 reference forward does.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "core/tokenizer/vocab_builder.h"
#include "tests/model/synthetic_model_expect.h"
#include "tests/support/reference_forward.h"

using emoe::StatusCode;
using emoe::gguf::GgufFile;
using emoe::gguf::TensorInfo;
using emoe::gguf::Value;
using emoe::gguf::ValueType;
using emoe::kernels::TensorType;
using emoe::model::SyntheticModelSpec;
using emoe::model::write_synthetic_model;
using emoe::test::align32;
using emoe::test::Expected;
using emoe::test::expected_tensors;
using emoe::test::half_to_double;
using emoe::test::read_u16;
using emoe::test::row_size;
using emoe::test::small_moe;
using emoe::test::weight_at;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<GgufFile> open_or_die(const std::string& path) {
  auto f = GgufFile::open(path);
  if (!f.ok()) qFatal("GgufFile::open(%s): %s", path.c_str(), f.status().message().c_str());
  return std::move(f).value();
}

// Checks one key's GGUF type (llama.cpp refuses a key of another type) and value.
void check_uint(const GgufFile& f, const char* key, ValueType type, uint64_t v) {
  const Value* x = f.find(key);
  QVERIFY2(x, key);
  QVERIFY2(x->type() == type, key);
  QVERIFY2(x->as_uint() && *x->as_uint() == v, key);
}
void check_f32(const GgufFile& f, const char* key, float v) {
  const Value* x = f.find(key);
  QVERIFY2(x && x->type() == ValueType::Float32, key);
  QVERIFY2(static_cast<float>(*x->as_double()) == v, key);
}
void check_str(const GgufFile& f, const char* key, const std::string& v) {
  const Value* x = f.find(key);
  QVERIFY2(x && x->type() == ValueType::String && *x->as_string() == v, key);
}
void check_bool(const GgufFile& f, const char* key, bool v) {
  const Value* x = f.find(key);
  QVERIFY2(x && x->type() == ValueType::Bool && *x->as_bool() == v, key);
}

// Every key, with its type and value; the file has exactly these keys.
void check_metadata(const GgufFile& f, const SyntheticModelSpec& s, uint32_t file_type,
                    bool quantized, const std::string& name) {
  const uint64_t n_rot = s.n_rot ? s.n_rot : s.n_embd / s.n_head;
  const auto U32 = ValueType::UInt32;
  QCOMPARE(f.version(), 3u);
  QCOMPARE(f.alignment(), uint64_t{32});
  check_str(f, "general.architecture", "llama");
  check_str(f, "general.name", name);
  check_uint(f, "general.alignment", U32, 32);
  check_uint(f, "general.file_type", U32, file_type);
  check_uint(f, "llama.context_length", U32, s.n_ctx);
  check_uint(f, "llama.embedding_length", U32, s.n_embd);
  check_uint(f, "llama.block_count", U32, s.n_layer);
  check_uint(f, "llama.feed_forward_length", U32, s.n_ff);
  check_uint(f, "llama.rope.dimension_count", U32, n_rot);
  check_f32(f, "llama.rope.freq_base", s.rope_freq_base);
  check_uint(f, "llama.attention.head_count", U32, s.n_head);
  check_uint(f, "llama.attention.head_count_kv", U32, s.n_head_kv);
  check_f32(f, "llama.attention.layer_norm_rms_epsilon", s.rms_eps);
  check_uint(f, "llama.vocab_size", U32, s.n_vocab);
  check_str(f, "tokenizer.ggml.model", "llama");
  check_str(f, "tokenizer.ggml.pre", "default");
  check_uint(f, "tokenizer.ggml.bos_token_id", U32, 1);
  check_uint(f, "tokenizer.ggml.eos_token_id", U32, 2);
  check_uint(f, "tokenizer.ggml.unknown_token_id", U32, 0);
  check_bool(f, "tokenizer.ggml.add_bos_token", true);
  check_bool(f, "tokenizer.ggml.add_eos_token", false);
  std::vector<std::string> keys = {"general.architecture",
                                   "general.name",
                                   "general.alignment",
                                   "general.file_type",
                                   "llama.context_length",
                                   "llama.embedding_length",
                                   "llama.block_count",
                                   "llama.feed_forward_length",
                                   "llama.rope.dimension_count",
                                   "llama.rope.freq_base",
                                   "llama.attention.head_count",
                                   "llama.attention.head_count_kv",
                                   "llama.attention.layer_norm_rms_epsilon",
                                   "llama.vocab_size",
                                   "tokenizer.ggml.model",
                                   "tokenizer.ggml.pre",
                                   "tokenizer.ggml.tokens",
                                   "tokenizer.ggml.scores",
                                   "tokenizer.ggml.token_type",
                                   "tokenizer.ggml.bos_token_id",
                                   "tokenizer.ggml.eos_token_id",
                                   "tokenizer.ggml.unknown_token_id",
                                   "tokenizer.ggml.add_bos_token",
                                   "tokenizer.ggml.add_eos_token"};
  if (s.n_expert > 0) {
    check_uint(f, "llama.expert_count", U32, s.n_expert);
    check_uint(f, "llama.expert_used_count", U32, s.n_expert_used);
    keys.push_back("llama.expert_count");
    keys.push_back("llama.expert_used_count");
  }
  if (quantized) {
    check_uint(f, "general.quantization_version", U32, 2);
    keys.push_back("general.quantization_version");
  }
  std::vector<std::string> got;
  for (const auto& [k, v] : f.metadata()) got.push_back(k);
  std::sort(keys.begin(), keys.end());
  std::sort(got.begin(), got.end());
  QCOMPARE(got, keys);

  // The vocabulary arrays: the builder's vocabulary of this size, with llama.cpp's element
  // types (it reads scores as float* and token_type as int32*).
  const Value* tokens = f.find("tokenizer.ggml.tokens");
  const Value* scores = f.find("tokenizer.ggml.scores");
  const Value* types = f.find("tokenizer.ggml.token_type");
  QVERIFY(tokens && scores && types);
  QCOMPARE(tokens->elem_type(), ValueType::String);
  QCOMPARE(scores->elem_type(), ValueType::Float32);
  QCOMPARE(types->elem_type(), ValueType::Int32);
  auto vocab = emoe::tokenizer::build_spm_vocab(static_cast<int32_t>(s.n_vocab));
  QVERIFY(vocab.ok());
  QCOMPARE(static_cast<int64_t>(tokens->as_array()->size()), s.n_vocab);
  QCOMPARE(static_cast<int64_t>(scores->as_array()->size()), s.n_vocab);
  QCOMPARE(static_cast<int64_t>(types->as_array()->size()), s.n_vocab);
  for (int64_t i = 0; i < s.n_vocab; ++i) {
    QCOMPARE(*(*tokens->as_array())[i].as_string(), vocab->tokens[i]);
    QCOMPARE(static_cast<float>(*(*scores->as_array())[i].as_double()), vocab->scores[i]);
    QCOMPARE(*(*types->as_array())[i].as_int(), static_cast<int64_t>(vocab->types[i]));
  }
  QCOMPARE(*(*tokens->as_array())[1].as_string(), std::string("<s>"));
  QCOMPARE(*(*tokens->as_array())[3 + 0x0A].as_string(), std::string("<0x0A>"));
}

// Names, types, shapes and offsets in file order.
void check_layout(const GgufFile& f, const std::vector<Expected>& exp) {
  const auto& ts = f.tensors();
  QCOMPARE(ts.size(), exp.size());
  QCOMPARE(f.data_offset() % 32, uint64_t{0});
  uint64_t offset = 0;
  for (size_t i = 0; i < exp.size(); ++i) {
    QCOMPARE(ts[i].name, exp[i].name);
    QVERIFY2(ts[i].type == exp[i].type, exp[i].name.c_str());
    QCOMPARE(ts[i].ne, exp[i].ne);
    const uint64_t bytes = row_size(exp[i].type, exp[i].ne[0]) * (exp[i].n() / exp[i].ne[0]);
    QCOMPARE(ts[i].n_bytes, bytes);
    QCOMPARE(ts[i].offset, offset);
    offset = align32(offset + bytes);
  }
  QCOMPARE(f.file_size(), f.data_offset() + offset);
}

// Element i of a tensor as stored, decoded here, and the bound on |stored - exact|.
std::pair<double, double> stored_value(const TensorInfo& t, int64_t i, double exact) {
  switch (t.type) {
    case TensorType::F32: {
      float v;
      std::memcpy(&v, t.data + 4 * i, 4);
      return {v, 0.0};
    }
    case TensorType::F16:  // round to nearest: half an ulp of 11 significant bits
      return {half_to_double(read_u16(t.data + 2 * i)),
              std::abs(exact) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25)};
    case TensorType::Q8_0: {
      const uint8_t* block = t.data + (i / 32) * 34;
      const double d = half_to_double(read_u16(block));
      const auto q = static_cast<int8_t>(block[2 + i % 32]);
      // q = round(x / d_exact) with d_exact = amax / 127 and d its fp16 rounding:
      // |x - q d| <= d_exact / 2 + 127 |d - d_exact|.
      return {d * q, 0.5 * d * (1 + 1e-3) + 127 * d * std::ldexp(1.0, -10)};
    }
    default:
      qFatal("stored_value: unexpected type");
      return {0, 0};
  }
}

// Compares a deterministic sample of every tensor (both ends, every block start of the first
// row, and pseudo-random interior elements) with the recomputed stream.
void check_weights(const GgufFile& f, const std::vector<Expected>& exp, uint64_t seed) {
  uint64_t first = 0;
  uint64_t lcg = 12345;
  for (size_t ti = 0; ti < exp.size(); ++ti) {
    const TensorInfo& t = f.tensors()[ti];
    const int64_t n = exp[ti].n();
    std::vector<int64_t> idx = {0, 1, 2, n - 2, n - 1};
    for (int64_t k = 0; k < exp[ti].ne[0]; k += 32) idx.push_back(k);
    for (int k = 0; k < 40; ++k) {
      lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
      idx.push_back(static_cast<int64_t>((lcg >> 33) % static_cast<uint64_t>(n)));
    }
    for (int64_t i : idx) {
      const double exact = weight_at(seed, first + i, exp[ti].mean, exp[ti].sd);
      const auto [got, bound] = stored_value(t, i, exact);
      if (!(std::abs(got - exact) <= bound)) {
        QFAIL(qPrintable(QString("%1[%2]: stored %3, stream gives %4 (bound %5)")
                             .arg(QString::fromStdString(t.name))
                             .arg(i)
                             .arg(got, 0, 'g', 9)
                             .arg(exact, 0, 'g', 9)
                             .arg(bound)));
      }
    }
    // Q8_0 scales: d = fp16(amax / 127) over each sampled block.
    if (t.type == TensorType::Q8_0) {
      for (int64_t b : {int64_t{0}, n / 32 - 1}) {
        double amax = 0;
        for (int k = 0; k < 32; ++k)
          amax =
              std::max(amax, std::abs(double(weight_at(seed, first + b * 32 + k, 0, exp[ti].sd))));
        const double d = half_to_double(read_u16(t.data + b * 34));
        QVERIFY(std::abs(d - amax / 127) <= amax / 127 * std::ldexp(1.0, -10));
      }
    }
    first += static_cast<uint64_t>(n);
  }
}

// The sample standard deviation of each large F32 tensor matches its documented scale (an
// independent check of the fan-in formulas, not only of the stream).
void check_scales(const GgufFile& f, const std::vector<Expected>& exp) {
  for (size_t ti = 0; ti < exp.size(); ++ti) {
    const TensorInfo& t = f.tensors()[ti];
    if (t.type != TensorType::F32 || exp[ti].n() < 2000) continue;
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < exp[ti].n(); ++i) {
      float v;
      std::memcpy(&v, t.data + 4 * i, 4);
      s1 += v - exp[ti].mean;
      s2 += (v - exp[ti].mean) * (v - exp[ti].mean);
    }
    const double sd = std::sqrt(s2 / double(exp[ti].n()));
    QVERIFY2(std::abs(sd / exp[ti].sd - 1) < 0.1, t.name.c_str());
    QVERIFY2(std::abs(s1 / double(exp[ti].n())) < 0.1 * exp[ti].sd, t.name.c_str());
  }
}

}  // namespace

class TestModelBuilder : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::string path(const char* name) { return dir_.filePath(name).toStdString(); }

 private slots:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void roundTripF32Moe() {
    const SyntheticModelSpec s = small_moe();
    const std::string p = path("moe_f32.gguf");
    const emoe::Status st = write_synthetic_model(s, p);
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto f = open_or_die(p);
    check_metadata(*f, s, 0, false, "test-moe");
    const auto exp = expected_tensors(s);
    QCOMPARE(exp.size(), size_t{2 + 2 * 10 + 1});
    check_layout(*f, exp);
    check_weights(*f, exp, s.seed);
    check_scales(*f, exp);
  }

  void roundTripQuantized() {
    SyntheticModelSpec s = small_moe();
    s.weight_type = TensorType::Q8_0;
    s.embd_type = TensorType::F16;
    s.output_type = TensorType::Q8_0;
    s.name.clear();
    s.n_threads = 3;
    s.n_layer = 3;
    s.rope_freq_base = 500000.0f;
    s.rms_eps = 1e-6f;
    const std::string p = path("moe_q8.gguf");
    const emoe::Status st = write_synthetic_model(s, p);
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto f = open_or_die(p);
    auto name = f->get_string("general.name");
    QVERIFY(name.ok() && name->find("seed7") != std::string::npos);
    check_metadata(*f, s, 7, true, *name);  // 7 = LLAMA_FTYPE_MOSTLY_Q8_0
    const auto exp = expected_tensors(s);
    check_layout(*f, exp);
    check_weights(*f, exp, s.seed);
  }

  void roundTripDense() {
    SyntheticModelSpec s = small_moe();
    s.n_expert = 0;  // n_expert_used is ignored for a dense model
    s.n_rot = 8;
    s.n_head = 2;
    s.n_head_kv = 1;
    s.seed = 99;
    const std::string p = path("dense.gguf");
    const emoe::Status st = write_synthetic_model(s, p);
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto f = open_or_die(p);
    check_metadata(*f, s, 0, false, "test-moe");
    QVERIFY(!f->find("llama.expert_count"));
    const auto exp = expected_tensors(s);
    check_layout(*f, exp);
    QVERIFY(f->find_tensor("blk.1.ffn_down.weight"));
    QVERIFY(!f->find_tensor("blk.0.ffn_gate_inp.weight"));
    check_weights(*f, exp, s.seed);
  }

  // Odd sizes make tensors (and thread chunks) start in the middle of a Box-Muller pair.
  void oddShapes() {
    SyntheticModelSpec s = small_moe();
    s.n_embd = 45;
    s.n_head = 3;
    s.n_head_kv = 1;
    s.n_rot = 14;  // head dimension 15 is odd, so RoPE gets an explicit even width
    s.n_ff = 33;
    s.n_expert = 3;
    s.n_vocab = 301;
    s.n_threads = 3;
    const std::string p = path("odd.gguf");
    const emoe::Status st = write_synthetic_model(s, p);
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto f = open_or_die(p);
    check_metadata(*f, s, 0, false, "test-moe");
    const auto exp = expected_tensors(s);
    check_layout(*f, exp);
    check_weights(*f, exp, s.seed);
  }

  void reproducible() {
    SyntheticModelSpec s = small_moe();
    s.weight_type = TensorType::Q8_0;
    const std::string a = path("rep_a.gguf"), b = path("rep_b.gguf"), c = path("rep_c.gguf");
    s.n_threads = 1;
    QVERIFY(write_synthetic_model(s, a).is_ok());
    s.n_threads = 4;  // thread count must not change a byte
    QVERIFY(write_synthetic_model(s, b).is_ok());
    const std::string bytes_a = read_all(a);
    QVERIFY(bytes_a.size() > 100000);
    QVERIFY(bytes_a == read_all(b));

    s.seed = 8;
    QVERIFY(write_synthetic_model(s, c).is_ok());
    auto fa = open_or_die(a), fc = open_or_die(c);
    QCOMPARE(fa->tensors().size(), fc->tensors().size());
    for (size_t i = 0; i < fa->tensors().size(); ++i) {
      const TensorInfo &x = fa->tensors()[i], &y = fc->tensors()[i];
      QCOMPARE(x.n_bytes, y.n_bytes);
      QVERIFY2(std::memcmp(x.data, y.data, x.n_bytes) != 0, x.name.c_str());
    }
  }

  void rejectsBadSpecs_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("message");
    const int inv = int(StatusCode::InvalidArgument);
    QTest::newRow("layers") << 0 << inv << "n_layer = 0 is out of range 1..512";
    QTest::newRow("head_divides") << 1 << inv << "n_head (3) must divide n_embd (64)";
    QTest::newRow("kv_divides") << 2 << inv << "n_head_kv (3) must divide n_head (4)";
    QTest::newRow("used") << 3 << inv << "n_expert_used = 5 is out of range 1..4";
    QTest::newRow("experts") << 4 << inv << "n_expert = 300 is out of range 0..256";
    QTest::newRow("rot_odd") << 5 << inv << "n_rot = 7 must be even";
    QTest::newRow("rot_big") << 6 << inv << "n_rot = 18 is out of range 2..16";
    QTest::newRow("vocab") << 7 << inv << "n_vocab = 100 is out of range 300..262144";
    QTest::newRow("q8_ff") << 8 << inv
                           << "weight_type q8_0 needs n_ff (100) to be a multiple of its block "
                              "size 32";
    QTest::newRow("q8_embd") << 9 << inv
                             << "embd_type q8_0 needs n_embd (48) to be a multiple of its block "
                                "size 32";
    QTest::newRow("iquant") << 10 << int(StatusCode::Unsupported) << "weight_type: cannot write";
    QTest::newRow("eps") << 11 << inv << "rms_eps";
    QTest::newRow("rope_nan") << 12 << inv << "rope_freq_base";
    QTest::newRow("too_big") << 13 << inv << "the generator holds the file in memory";
    QTest::newRow("odd_head") << 14 << inv << "head dimension n_embd / n_head = 15 is odd";
    QTest::newRow("threads") << 15 << inv << "n_threads = -1";
    QTest::newRow("ctx") << 16 << inv << "n_ctx = 0";
  }
  void rejectsBadSpecs() {
    QFETCH(int, which);
    QFETCH(int, code);
    QFETCH(QString, message);
    SyntheticModelSpec s = small_moe();
    switch (which) {
      case 0:
        s.n_layer = 0;
        break;
      case 1:
        s.n_head = 3;
        break;
      case 2:
        s.n_head_kv = 3;
        break;
      case 3:
        s.n_expert_used = 5;
        break;
      case 4:
        s.n_expert = 300;
        break;
      case 5:
        s.n_rot = 7;
        break;
      case 6:
        s.n_rot = 18;
        break;
      case 7:
        s.n_vocab = 100;
        break;
      case 8:
        s.weight_type = TensorType::Q8_0, s.n_ff = 100;
        break;
      case 9:
        s.embd_type = TensorType::Q8_0, s.n_embd = 48;
        break;
      case 10:
        s.weight_type = TensorType::IQ4_XS, s.n_embd = 256, s.n_ff = 256;
        break;
      case 11:
        s.rms_eps = 0.0f;
        break;
      case 12:
        s.rope_freq_base = NAN;
        break;
      case 13:
        s.n_embd = 8192, s.n_head = 64, s.n_vocab = 262144;
        break;
      case 14:
        s.n_embd = 60;
        break;
      case 15:
        s.n_threads = -1;
        break;
      case 16:
        s.n_ctx = 0;
        break;
    }
    const emoe::Status st = emoe::model::validate_synthetic_spec(s);
    QVERIFY(!st.is_ok());
    QCOMPARE(int(st.code()), code);
    QVERIFY2(st.message().find(message.toStdString()) != std::string::npos, st.message().c_str());
    QVERIFY(!emoe::model::estimate_synthetic_model_size(s).ok());
    const std::string p = path("bad.gguf");
    const emoe::Status w = write_synthetic_model(s, p);
    QCOMPARE(int(w.code()), code);
    QVERIFY2(w.message().find(message.toStdString()) != std::string::npos, w.message().c_str());
    QVERIFY(!std::filesystem::exists(p));
  }

  void unwritablePath() {
    const std::string p = path("no_such_dir/m.gguf");
    const emoe::Status st = write_synthetic_model(small_moe(), p);
    QCOMPARE(st.code(), StatusCode::IoError);
    QVERIFY2(st.message().find("no_such_dir") != std::string::npos, st.message().c_str());
    QVERIFY(!std::filesystem::exists(p));
  }

  void progressAndCancel() {
    QTemporaryDir d;
    const std::string p = d.filePath("m.gguf").toStdString();
    SyntheticModelSpec s = small_moe();
    s.n_embd = 256;  // several slabs per large tensor
    s.n_ff = 512;
    s.n_vocab = 4096;
    std::vector<double> seen;
    QVERIFY(write_synthetic_model(s, p, [&](double x) {
              seen.push_back(x);
              return true;
            }).is_ok());
    QVERIFY(seen.size() > 5);
    QCOMPARE(seen.front(), 0.0);
    QCOMPARE(seen.back(), 1.0);
    for (size_t i = 1; i < seen.size(); ++i) QVERIFY(seen[i] >= seen[i - 1]);
    const std::string complete = read_all(p);

    // Cancelling at each of the first reports, and half way, leaves no new file and no
    // temporary file; an existing file at the path stays as it was.
    const std::string q = d.filePath("c.gguf").toStdString();
    for (size_t stop : {size_t{0}, size_t{1}, seen.size() / 2}) {
      size_t calls = 0;
      const emoe::Status st = write_synthetic_model(s, q, [&](double) { return calls++ < stop; });
      QCOMPARE(st.code(), StatusCode::Cancelled);
      QCOMPARE(calls, stop + 1);
      QVERIFY(!std::filesystem::exists(q));
    }
    std::ofstream(q) << "previous contents";
    size_t calls = 0;
    QCOMPARE(write_synthetic_model(s, q, [&](double) { return calls++ < 3; }).code(),
             StatusCode::Cancelled);
    QCOMPARE(read_all(q), std::string("previous contents"));
    QCOMPARE(static_cast<int>(
                 std::distance(std::filesystem::directory_iterator(d.path().toStdString()), {})),
             2);
    QVERIFY(read_all(p) == complete);
  }

  void sizeEstimate() {
    SyntheticModelSpec a = small_moe();
    SyntheticModelSpec b = small_moe();
    b.weight_type = TensorType::Q8_0;
    b.n_vocab = 8000;
    b.n_embd = 128;
    for (const SyntheticModelSpec& s : {a, b}) {
      auto est = emoe::model::estimate_synthetic_model_size(s);
      QVERIFY(est.ok());
      const std::string p = path("est.gguf");
      QVERIFY(write_synthetic_model(s, p).is_ok());
      const auto actual = static_cast<double>(std::filesystem::file_size(p));
      QVERIFY2(std::abs(double(*est) - actual) <= 4096 + 0.01 * actual,
               qPrintable(QString("estimate %1, actual %2").arg(*est).arg(actual)));
    }
  }

  // The engine loads the file and its logits match the independent float64 forward pass.
  void engineRunsGeneratedModel() {
    const SyntheticModelSpec s = small_moe();
    const std::string p = path("engine.gguf");
    QVERIFY(write_synthetic_model(s, p).is_ok());
    auto m = emoe::model::Model::load(p);
    QVERIFY2(m.ok(), m.status().message().c_str());
    const auto& cfg = (*m)->config();
    QCOMPARE(cfg.n_vocab, s.n_vocab);
    QCOMPARE(cfg.n_expert, s.n_expert);
    QCOMPARE(cfg.n_ff_exp, s.n_ff);
    const std::vector<int32_t> ids = (*m)->tokenizer().encode("The river was quiet.", true, false);
    QVERIFY(ids.size() >= 3);
    QCOMPARE(ids[0], 1);

    auto engine = emoe::engine::Engine::create(**m, {});
    QVERIFY2(engine.ok(), engine.status().message().c_str());
    auto seq = (*engine)->new_sequence();
    QVERIFY(seq.ok());
    std::vector<emoe::engine::BatchToken> batch;
    for (size_t i = 0; i < ids.size(); ++i)
      batch.push_back({ids[i], *seq, static_cast<int32_t>(i), i + 1 == ids.size()});
    std::vector<float> logits;
    const emoe::Status st = (*engine)->decode(batch, &logits);
    QVERIFY2(st.is_ok(), st.message().c_str());
    QCOMPARE(static_cast<int64_t>(logits.size()), s.n_vocab);

    auto ref = emoe::test::ReferenceForward::create((*m)->file());
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    auto out = (*ref)->run(ids);
    QVERIFY2(out.ok(), out.status().message().c_str());
    const double* last = out->logits.data() + (ids.size() - 1) * s.n_vocab;
    double max_diff = 0, max_abs = 0;
    for (int64_t v = 0; v < s.n_vocab; ++v) {
      max_diff = std::max(max_diff, std::abs(logits[v] - last[v]));
      max_abs = std::max(max_abs, std::abs(last[v]));
    }
    QVERIFY2(max_diff < 5e-3, std::to_string(max_diff).c_str());
    QVERIFY(max_abs > 1.0);  // fan-in scaling gives O(1) logits, not a degenerate model
  }
};

QTEST_GUILESS_MAIN(TestModelBuilder)
#include "test_model_builder.moc"
