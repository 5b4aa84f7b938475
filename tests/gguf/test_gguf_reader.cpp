// GgufFile against files written by llama.cpp's gguf-py (the tiny-mixtral fixtures and the
// vocabulary files): every fact is compared with ref/index.json, FIXTURES_README.md or
// hand-written decoding in this file, never with the reader's own output.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/gguf/gguf_file.h"

using emoe::StatusCode;
using emoe::gguf::GgufFile;
using emoe::gguf::TensorInfo;
using emoe::kernels::TensorType;

namespace {

const QString kData = QStringLiteral(EMOE_TEST_DATA_DIR);

std::string data_path(const QString& rel) { return (kData + "/" + rel).toStdString(); }

QJsonObject load_index(const QString& model) {
  QFile f(kData + "/" + model + "/ref/index.json");
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// IEEE half to float, written from the format definition (independent of kernels/cpu/fp16).
double half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(1024 + mant, exp - 25);
  }
  return sign ? -v : v;
}

float f32_at(const uint8_t* p, int64_t i) {
  float f;
  std::memcpy(&f, p + 4 * i, 4);
  return f;
}

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Bytes per element block, from ggml's block definitions: {block elements, block bytes}.
std::pair<int64_t, int64_t> block_layout(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return {1, 4};
    case TensorType::F16:
      return {1, 2};
    case TensorType::Q4_0:
      return {32, 2 + 16};
    case TensorType::Q8_0:
      return {32, 2 + 32};
    default:
      return {0, 0};
  }
}

QString upper_type_name(TensorType t) {
  return QString::fromLatin1(emoe::kernels::type_name(t).data(),
                             static_cast<int>(emoe::kernels::type_name(t).size()))
      .toUpper();
}

}  // namespace

class TestGgufReader : public QObject {
  Q_OBJECT

 private:
  void check_model(const QString& model, uint64_t expected_file_type);

 private slots:
  void mixtral_f32() { check_model("tiny-mixtral-f32", 0); }
  void mixtral_q() { check_model("tiny-mixtral-q", 7); }
  void same_norm_bytes_in_both_models();
  void quantized_values_match_f32_model();
  void tokenizer_matches_reference_pieces();
  void tokenizer_keys_copied_from_vocab_file();
  void open_equals_from_bytes();
  void vocab_files_open_data();
  void vocab_files_open();
  void every_vocab_file_opens();
  void typed_getters();
  void open_errors();
};

void TestGgufReader::check_model(const QString& model, uint64_t expected_file_type) {
  const QJsonObject index = load_index(model);
  QVERIFY(!index.isEmpty());
  auto r = GgufFile::open(data_path(model + "/model.gguf"));
  QVERIFY2(r.ok(), r.status().message().c_str());
  const GgufFile& f = **r;

  QCOMPARE(f.version(), 3u);
  QCOMPARE(f.alignment(), uint64_t{32});  // README: "Alignment is 32"
  QCOMPARE(f.file_size(), static_cast<uint64_t>(index["model_bytes"].toDouble()));
  QCOMPARE(f.file_size(),
           static_cast<uint64_t>(QFileInfo(kData + "/" + model + "/model.gguf").size()));
  QCOMPARE(f.data_offset() % 32, uint64_t{0});
  QVERIFY(f.data_offset() > 0 && f.data_offset() < f.file_size());

  // Tensor names, types and shapes in file order.
  const QJsonArray tensors = index["tensors"].toArray();
  QCOMPARE(tensors.size(), 43);
  QCOMPARE(f.tensors().size(), size_t{43});
  uint64_t expected_offset = 0;
  for (int i = 0; i < tensors.size(); ++i) {
    const QJsonObject jt = tensors[i].toObject();
    const TensorInfo& t = f.tensors()[static_cast<size_t>(i)];
    QCOMPARE(QString::fromStdString(t.name), jt["name"].toString());
    QCOMPARE(upper_type_name(t.type), jt["type"].toString());
    const QJsonArray ne = jt["ne"].toArray();
    QCOMPARE(t.ne.size(), static_cast<size_t>(ne.size()));
    int64_t n = 1;
    for (int d = 0; d < ne.size(); ++d) {
      QCOMPARE(t.ne[static_cast<size_t>(d)], static_cast<int64_t>(ne[d].toInt()));
      n *= ne[d].toInt();
    }
    QCOMPARE(t.n_elements, n);
    QCOMPARE(t.dim(3), int64_t{1});
    const auto [blk, bytes] = block_layout(t.type);
    QVERIFY(blk > 0);
    QCOMPARE(t.n_bytes, static_cast<uint64_t>(n / blk * bytes));
    // gguf-py places tensors back to back, each padded to the alignment.
    QCOMPARE(t.offset, expected_offset);
    expected_offset = (t.offset + t.n_bytes + 31) / 32 * 32;
    QVERIFY(t.data == f.bytes().data() + f.data_offset() + t.offset);
    QCOMPARE(f.find_tensor(t.name), &t);
  }
  // The last tensor ends the file.
  const TensorInfo& last = f.tensors().back();
  QCOMPARE(f.data_offset() + last.offset + last.n_bytes, f.file_size());
  QVERIFY(f.find_tensor("no.such.tensor") == nullptr);

  // Hyperparameters (README section 2 and index.json hparams).
  const QJsonObject hp = index["hparams"].toObject();
  QCOMPARE(*f.get_string("general.architecture"), index["arch"].toString().toStdString());
  QCOMPARE(*f.get_uint("llama.block_count"), static_cast<uint64_t>(hp["n_layer"].toInt()));
  QCOMPARE(*f.get_uint("llama.embedding_length"), static_cast<uint64_t>(hp["n_embd"].toInt()));
  QCOMPARE(*f.get_uint("llama.attention.head_count"), static_cast<uint64_t>(hp["n_head"].toInt()));
  QCOMPARE(*f.get_uint("llama.attention.head_count_kv"),
           static_cast<uint64_t>(hp["n_head_kv"].toInt()));
  QCOMPARE(*f.get_uint("llama.feed_forward_length"), static_cast<uint64_t>(hp["n_ff"].toInt()));
  QCOMPARE(*f.get_uint("llama.expert_count"), static_cast<uint64_t>(hp["n_expert"].toInt()));
  QCOMPARE(*f.get_uint("llama.expert_used_count"),
           static_cast<uint64_t>(hp["n_expert_used"].toInt()));
  QCOMPARE(*f.get_uint("llama.context_length"), static_cast<uint64_t>(hp["n_ctx"].toInt()));
  QCOMPARE(*f.get_uint("llama.vocab_size"), static_cast<uint64_t>(hp["n_vocab"].toInt()));
  QCOMPARE(*f.get_uint("llama.rope.dimension_count"), uint64_t{32});
  QCOMPARE(*f.get_float("llama.rope.freq_base"), hp["rope_freq_base"].toDouble());
  // Stored as float32, so compared after rounding the JSON value to float32.
  QCOMPARE(*f.get_float("llama.attention.layer_norm_rms_epsilon"),
           static_cast<double>(static_cast<float>(hp["rms_eps"].toDouble())));
  QCOMPARE(f.find("llama.rope.freq_base")->type(), emoe::gguf::ValueType::Float32);
  QCOMPARE(*f.get_uint("general.file_type"), expected_file_type);

  // Tokenizer keys (README: copied from ggml-vocab-llama-spm.gguf).
  QCOMPARE(*f.get_string("tokenizer.ggml.model"), std::string("llama"));
  QCOMPARE(*f.get_string("tokenizer.ggml.pre"), std::string("default"));
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  QVERIFY(tokens.ok());
  QCOMPARE(tokens->size(), size_t{32000});
  QCOMPARE((*tokens)[0], std::string("<unk>"));
  QCOMPARE((*tokens)[1], std::string("<s>"));
  QCOMPARE((*tokens)[2], std::string("</s>"));
  QCOMPARE((*tokens)[3], std::string("<0x00>"));
  QCOMPARE((*tokens)[15043], std::string("\xE2\x96\x81Hello"));  // prompt 5 is [1, 15043]
  QCOMPARE(f.get_float_array("tokenizer.ggml.scores")->size(), size_t{32000});
  auto types = f.get_int_array("tokenizer.ggml.token_type");
  QCOMPARE(types->size(), size_t{32000});
  QCOMPARE((*types)[0], int64_t{2});      // UNKNOWN
  QCOMPARE((*types)[1], int64_t{3});      // CONTROL
  QCOMPARE((*types)[3], int64_t{6});      // BYTE
  QCOMPARE((*types)[15043], int64_t{1});  // NORMAL
  QCOMPARE(*f.get_uint("tokenizer.ggml.bos_token_id"), uint64_t{1});
  QCOMPARE(*f.get_uint("tokenizer.ggml.eos_token_id"), uint64_t{2});
  QCOMPARE(*f.get_uint("tokenizer.ggml.unknown_token_id"), uint64_t{0});
  QCOMPARE(*f.get_bool("tokenizer.ggml.add_bos_token"), true);
  QCOMPARE(*f.get_bool("tokenizer.ggml.add_eos_token"), false);
}

void TestGgufReader::same_norm_bytes_in_both_models() {
  // A2 is A1 quantized; the norms and the router stay F32, so their bytes are identical.
  auto a1 = GgufFile::open(data_path("tiny-mixtral-f32/model.gguf"));
  auto a2 = GgufFile::open(data_path("tiny-mixtral-q/model.gguf"));
  QVERIFY(a1.ok() && a2.ok());
  int compared = 0;
  for (const TensorInfo& t2 : (*a2)->tensors()) {
    if (t2.type != TensorType::F32) continue;
    const TensorInfo* t1 = (*a1)->find_tensor(t2.name);
    QVERIFY(t1);
    QCOMPARE(t1->type, TensorType::F32);
    QCOMPARE(t1->n_bytes, t2.n_bytes);
    QVERIFY(std::memcmp(t1->data, t2.data, t1->n_bytes) == 0);
    ++compared;
  }
  QCOMPARE(compared, 4 * 3 + 1);  // attn_norm, ffn_norm, ffn_gate_inp per layer + output_norm

  // README: norms are 1 + 0.1 N(0,1).
  const TensorInfo* norm = (*a1)->find_tensor("blk.0.attn_norm.weight");
  double sum = 0;
  for (int64_t i = 0; i < norm->n_elements; ++i) {
    const float v = f32_at(norm->data, i);
    QVERIFY(v > 0.5f && v < 1.5f);
    sum += v;
  }
  QVERIFY(std::abs(sum / static_cast<double>(norm->n_elements) - 1.0) < 0.05);
}

void TestGgufReader::quantized_values_match_f32_model() {
  // Dequantizing A2's blocks by hand must give back A1's F32 weights up to the quantization
  // step: a wrong data pointer, offset or stride would give unrelated numbers.
  auto a1 = GgufFile::open(data_path("tiny-mixtral-f32/model.gguf"));
  auto a2 = GgufFile::open(data_path("tiny-mixtral-q/model.gguf"));
  QVERIFY(a1.ok() && a2.ok());
  for (const char* name : {"blk.3.ffn_up_exps.weight", "blk.1.ffn_down_exps.weight",
                           "blk.2.attn_q.weight", "blk.0.attn_v.weight"}) {
    const TensorInfo* ref = (*a1)->find_tensor(name);
    const TensorInfo* q = (*a2)->find_tensor(name);
    QVERIFY(ref && q);
    QCOMPARE(ref->n_elements, q->n_elements);
    const bool q8 = q->type == TensorType::Q8_0;
    QVERIFY(q8 || q->type == TensorType::Q4_0);
    const int64_t block_bytes = q8 ? 34 : 18;
    for (int64_t b = 0; b < q->n_elements / 32; ++b) {
      const uint8_t* blk = q->data + b * block_bytes;
      const double d = half_to_double(u16_at(blk));
      double amax = 0;
      for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::abs(double(f32_at(ref->data, b * 32 + j))));
      for (int j = 0; j < 32; ++j) {
        double deq;
        if (q8) {
          deq = d * static_cast<int8_t>(blk[2 + j]);
        } else {
          const uint8_t byte = blk[2 + (j % 16)];
          deq = d * (((j < 16) ? (byte & 0xF) : (byte >> 4)) - 8);
        }
        const double x = f32_at(ref->data, b * 32 + j);
        // Q8_0 rounds to the nearest step (d = amax/127); Q4_0 (d = -max/8) may clamp +8 to +7.
        const double tol = (q8 ? 0.5 : 1.0) * std::abs(d) + 1e-3 * amax + 1e-7;
        if (std::abs(deq - x) > tol) {
          QFAIL(qPrintable(
              QString("%1 block %2 elem %3: %4 vs %5").arg(name).arg(b).arg(j).arg(deq).arg(x)));
        }
      }
    }
  }
}

void TestGgufReader::tokenizer_matches_reference_pieces() {
  // llama.cpp's pieces for the prompts' ids: SentencePiece "▁" is a space, <0xHH> is one byte.
  auto f = GgufFile::open(data_path("tiny-mixtral-f32/model.gguf"));
  QVERIFY(f.ok());
  auto tokens = (*f)->get_string_array("tokenizer.ggml.tokens");
  QVERIFY(tokens.ok());
  const QJsonArray prompts = load_index("tiny-mixtral-f32")["prompts"].toArray();
  QCOMPARE(prompts.size(), 6);
  int checked = 0;
  for (const QJsonValue& pv : prompts) {
    const QJsonArray ids = pv["token_ids"].toArray();
    const QJsonArray hex = pv["token_pieces_hex"].toArray();
    QCOMPARE(ids.size(), hex.size());
    for (int i = 0; i < ids.size(); ++i) {
      const std::string& tok = (*tokens)[static_cast<size_t>(ids[i].toInt())];
      std::string piece;
      if (tok.size() == 6 && tok.rfind("<0x", 0) == 0 && tok[5] == '>') {
        piece.push_back(static_cast<char>(std::stoi(tok.substr(3, 2), nullptr, 16)));
      } else {
        for (size_t k = 0; k < tok.size(); ++k) {
          if (tok.compare(k, 3, "\xE2\x96\x81") == 0) {
            piece += ' ';
            k += 2;
          } else {
            piece += tok[k];
          }
        }
      }
      QCOMPARE(QByteArray::fromStdString(piece).toHex(), hex[i].toString().toLatin1());
      ++checked;
    }
  }
  QCOMPARE(checked, 17 + 43 + 18 + 20 + 31 + 2);
}

void TestGgufReader::tokenizer_keys_copied_from_vocab_file() {
  auto model = GgufFile::open(data_path("tiny-mixtral-q/model.gguf"));
  auto vocab = GgufFile::open(data_path("vocab/ggml-vocab-llama-spm.gguf"));
  QVERIFY(model.ok() && vocab.ok());
  QVERIFY(*(*model)->get_string_array("tokenizer.ggml.tokens") ==
          *(*vocab)->get_string_array("tokenizer.ggml.tokens"));
  QVERIFY(*(*model)->get_float_array("tokenizer.ggml.scores") ==
          *(*vocab)->get_float_array("tokenizer.ggml.scores"));
  QVERIFY(*(*model)->get_int_array("tokenizer.ggml.token_type") ==
          *(*vocab)->get_int_array("tokenizer.ggml.token_type"));
  // The scores are not trivially zero: SentencePiece scores are negative log-probabilities.
  auto scores = (*vocab)->get_float_array("tokenizer.ggml.scores");
  QVERIFY((*scores)[1000] < 0.0f);
}

void TestGgufReader::open_equals_from_bytes() {
  const std::string path = data_path("tiny-mixtral-q/model.gguf");
  const std::vector<uint8_t> bytes = read_all(path);
  auto a = GgufFile::open(path);
  auto b = GgufFile::from_bytes(bytes);
  QVERIFY(a.ok() && b.ok());
  QCOMPARE((*a)->path(), path);
  QCOMPARE((*b)->file_size(), static_cast<uint64_t>(bytes.size()));
  QCOMPARE((*a)->data_offset(), (*b)->data_offset());
  QCOMPARE((*a)->metadata().size(), (*b)->metadata().size());
  for (size_t i = 0; i < (*a)->metadata().size(); ++i) {
    QCOMPARE((*a)->metadata()[i].first, (*b)->metadata()[i].first);
    QCOMPARE((*a)->metadata()[i].second.to_display_string(3),
             (*b)->metadata()[i].second.to_display_string(3));
  }
  for (size_t i = 0; i < (*a)->tensors().size(); ++i) {
    const TensorInfo& ta = (*a)->tensors()[i];
    const TensorInfo& tb = (*b)->tensors()[i];
    QCOMPARE(ta.offset, tb.offset);
    QVERIFY(std::memcmp(ta.data, tb.data, ta.n_bytes) == 0);
    QVERIFY(std::memcmp(ta.data, bytes.data() + (*a)->data_offset() + ta.offset, ta.n_bytes) == 0);
  }
  // from_bytes keeps its own aligned copy.
  QVERIFY((*b)->bytes().data() != bytes.data());
  QCOMPARE(reinterpret_cast<uintptr_t>((*b)->bytes().data()) % 32, uintptr_t{0});
}

void TestGgufReader::vocab_files_open_data() {
  // Facts from tests/data/vocab/README.md.
  QTest::addColumn<QString>("file");
  QTest::addColumn<QString>("model");
  QTest::addColumn<QString>("pre");
  QTest::newRow("llama-spm") << "ggml-vocab-llama-spm.gguf"
                             << "llama"
                             << "default";
  QTest::newRow("phi-3") << "ggml-vocab-phi-3.gguf"
                         << "llama"
                         << "default";
  QTest::newRow("gpt-2") << "ggml-vocab-gpt-2.gguf"
                         << "gpt2"
                         << "gpt-2";
  QTest::newRow("deepseek-llm") << "ggml-vocab-deepseek-llm.gguf"
                                << "gpt2"
                                << "deepseek-llm";
  QTest::newRow("deepseek-coder") << "ggml-vocab-deepseek-coder.gguf"
                                  << "gpt2"
                                  << "deepseek-coder";
}

void TestGgufReader::vocab_files_open() {
  QFETCH(QString, file);
  QFETCH(QString, model);
  QFETCH(QString, pre);
  auto r = GgufFile::open(data_path("vocab/" + file));
  QVERIFY2(r.ok(), r.status().message().c_str());
  const GgufFile& f = **r;
  QVERIFY(f.tensors().empty());  // vocab_only files
  QCOMPARE(QString::fromStdString(*f.get_string("tokenizer.ggml.model")), model);
  QCOMPARE(QString::fromStdString(*f.get_string("tokenizer.ggml.pre")), pre);
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  QVERIFY(tokens.ok());
  QVERIFY(tokens->size() >= 32000);
  QCOMPARE(f.get_int_array("tokenizer.ggml.token_type")->size(), tokens->size());
  if (model == "gpt2") {
    auto merges = f.get_string_array("tokenizer.ggml.merges");
    QVERIFY(merges.ok());
    QVERIFY(merges->size() > 1000);
    // A merge is two tokens separated by one space.
    QVERIFY((*merges)[0].find(' ') != std::string::npos);
  } else {
    QCOMPARE(f.get_float_array("tokenizer.ggml.scores")->size(), tokens->size());
  }
  const auto bos = f.get_uint("tokenizer.ggml.bos_token_id");
  QVERIFY(bos.ok() && *bos < tokens->size());
  for (const auto& [k, v] : f.metadata()) QVERIFY(!v.to_display_string().empty());
}

void TestGgufReader::every_vocab_file_opens() {
  // Whatever vocabularies tests/data/vocab holds (also ones added later) must parse.
  const QStringList files = QDir(kData + "/vocab").entryList({"*.gguf"}, QDir::Files);
  QVERIFY(files.size() >= 5);
  for (const QString& file : files) {
    auto r = GgufFile::open(data_path("vocab/" + file));
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY((*r)->get_string_array("tokenizer.ggml.tokens").ok());
  }
}

void TestGgufReader::typed_getters() {
  auto r = GgufFile::open(data_path("tiny-mixtral-q/model.gguf"));
  QVERIFY(r.ok());
  const GgufFile& f = **r;
  // Missing keys: NotFound naming the key.
  auto missing = f.get_uint("llama.no_such_key");
  QCOMPARE(missing.status().code(), StatusCode::NotFound);
  QVERIFY(missing.status().message().find("llama.no_such_key") != std::string::npos);
  QCOMPARE(f.get_string_array("nope").status().code(), StatusCode::NotFound);
  // Wrong types: InvalidArgument naming the key and the actual type.
  auto s_as_u = f.get_uint("general.architecture");
  QCOMPARE(s_as_u.status().code(), StatusCode::InvalidArgument);
  QVERIFY(s_as_u.status().message().find("general.architecture") != std::string::npos);
  QVERIFY(s_as_u.status().message().find("string") != std::string::npos);
  QCOMPARE(f.get_uint("llama.rope.freq_base").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(f.get_bool("llama.block_count").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(f.get_string("llama.block_count").status().code(), StatusCode::InvalidArgument);
  auto u_as_sa = f.get_string_array("tokenizer.ggml.scores");
  QCOMPARE(u_as_sa.status().code(), StatusCode::InvalidArgument);
  QVERIFY(u_as_sa.status().message().find("array of float32") != std::string::npos);
  QCOMPARE(f.get_int_array("tokenizer.ggml.scores").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(f.get_float_array("tokenizer.ggml.tokens").status().code(), StatusCode::InvalidArgument);
  // Integers widen: a uint32 reads as int and as float.
  QCOMPARE(*f.get_int("llama.block_count"), int64_t{4});
  QCOMPARE(*f.get_float("llama.block_count"), 4.0);
  // token_type is int32; as floats it is the same numbers.
  QCOMPARE(f.get_float_array("tokenizer.ggml.token_type")->at(3), 6.0f);
}

void TestGgufReader::open_errors() {
  auto missing = GgufFile::open(data_path("does-not-exist.gguf"));
  QCOMPARE(missing.status().code(), StatusCode::IoError);
  QVERIFY(missing.status().message().find("does-not-exist.gguf") != std::string::npos);
  auto dir = GgufFile::open(data_path("vocab"));
  QCOMPARE(dir.status().code(), StatusCode::IoError);
  QVERIFY(dir.status().message().find("not a regular file") != std::string::npos);
  // A non-GGUF file names itself and the problem.
  const std::string readme = data_path("FIXTURES_README.md");
  auto text = GgufFile::open(readme);
  QCOMPARE(text.status().code(), StatusCode::Corrupt);
  QVERIFY(text.status().message().find(readme) != std::string::npos);
  QVERIFY(text.status().message().find("magic") != std::string::npos);
  QTemporaryDir tmp;
  const QString empty = tmp.path() + "/empty.gguf";
  QFile e(empty);
  QVERIFY(e.open(QIODevice::WriteOnly));
  e.close();
  auto er = GgufFile::open(empty.toStdString());
  QCOMPARE(er.status().code(), StatusCode::Corrupt);
  QVERIFY(er.status().message().find("empty") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestGgufReader)
#include "test_gguf_reader.moc"
