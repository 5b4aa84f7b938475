// GgufFile on broken and hostile input: every case must give a non-OK Status whose message
// names the key, tensor or field at fault, and nothing may crash or allocate absurdly. Files
// are hand-encoded (gguf_test_bytes.h) so each field can be set to any value; a random
// mutation loop covers what the hand-written cases miss.
#include <QtTest>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "tests/gguf/gguf_test_bytes.h"

using emoe::StatusCode;
using emoe::gguf::GgufFile;
using emoe::gguf::GgufWriter;
using emoe::gguf::TensorInfo;
using emoe::gguf::Value;
using emoe::gguf::ValueType;
using emoe::kernels::TensorType;
using B = emoe::gguf::testing::Bytes;
namespace t = emoe::gguf::testing;

namespace {

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;
  uint64_t offset;
};
using KvFn = std::function<void(B&)>;

// A GGUF file: header, the given key/values, tensor infos, padding and `data_bytes` of data.
std::vector<uint8_t> file_with(const std::vector<KvFn>& kvs, const std::vector<TensorSpec>& ts,
                               size_t data_bytes, size_t alignment = 32) {
  B b;
  b.header(3, ts.size(), kvs.size());
  for (const KvFn& kv : kvs) kv(b);
  for (const TensorSpec& s : ts) b.tensor_info(s.name, s.ne, s.type, s.offset);
  b.pad(alignment);
  for (size_t i = 0; i < data_bytes; ++i) b.u8(static_cast<uint8_t>(i));
  return b.b;
}

KvFn kv_arch() {
  return [](B& b) { b.key("general.architecture", t::kStr).str("llama"); };
}
KvFn kv_u32(const std::string& k, uint32_t v) {
  return [=](B& b) { b.key(k, t::kU32).u32(v); };
}

// The valid base: t0 F32 [8] (32 bytes at 0) and t1 Q8_0 [32, 2] (68 bytes at 32).
std::vector<TensorSpec> base_tensors() {
  return {{"t0", {8}, t::kTF32, 0}, {"t1", {32, 2}, t::kTQ8_0, 32}};
}
std::vector<KvFn> base_kvs() {
  return {kv_arch(), kv_u32("test.count", 5),
          [](B& b) { b.key("test.list", t::kArr).u32(t::kStr).u64(2).str("a").str("bc"); },
          [](B& b) { b.key("test.flag", t::kBool).u8(1); }};
}
std::vector<uint8_t> base_file() { return file_with(base_kvs(), base_tensors(), 100); }

// A writer-made file with more variety (nested arrays, a custom alignment, five tensors).
std::vector<uint8_t> writer_file() {
  GgufWriter w;
  w.set("general.architecture", Value::string("llama"));
  w.set("general.alignment", Value::u32(16));
  w.set("a.u8", Value::u8(7));
  w.set("a.f64", Value::f64(-1.5));
  w.set("a.bools", Value::array(ValueType::Bool, {Value::boolean(true), Value::boolean(false)}));
  w.set("a.nested",
        Value::array(ValueType::Array,
                     {Value::array(ValueType::Int32, {Value::i32(-1), Value::i32(2)}),
                      Value::array(ValueType::String, {Value::string("x"), Value::string("")})}));
  w.set("a.empty", Value::array(ValueType::UInt64, {}));
  std::vector<uint8_t> d(200);
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 13);
  (void)w.add_tensor("f32", TensorType::F32, {3, 2}, std::span(d).first(24));
  (void)w.add_tensor("q8", TensorType::Q8_0, {32}, std::span(d).first(34));
  (void)w.add_tensor("f16.3d", TensorType::F16, {2, 2, 3}, std::span(d).first(24));
  (void)w.add_tensor("q4k", TensorType::Q4_K, {256}, std::span(d).first(144));
  (void)w.add_tensor("i8", TensorType::I8, {5}, std::span(d).first(5));
  return w.to_bytes();
}

// Parses and requires failure with a message containing every needle.
void expect_bad(const std::vector<uint8_t>& bytes, std::initializer_list<std::string> needles,
                StatusCode code = StatusCode::Corrupt) {
  auto r = GgufFile::from_bytes(bytes);
  QVERIFY2(!r.ok(), "accepted a bad file");
  const std::string& m = r.status().message();
  QVERIFY2(r.status().code() == code, m.c_str());
  for (const std::string& n : needles) {
    QVERIFY2(m.find(n) != std::string::npos, ("'" + n + "' not in: " + m).c_str());
  }
}

// Checks that an accepted file is internally consistent; returns a checksum of all bytes it
// can reach so sanitizers see every access.
uint64_t check_consistent(const GgufFile& f) {
  uint64_t sum = 0;
  const uint64_t a = f.alignment();
  if (a == 0 || (a & (a - 1)) != 0)
    QTest::qFail("alignment not a power of two", __FILE__, __LINE__);
  if (f.data_offset() % a != 0) QTest::qFail("data offset misaligned", __FILE__, __LINE__);
  if (f.version() != 2 && f.version() != 3) QTest::qFail("version", __FILE__, __LINE__);
  for (const auto& [k, v] : f.metadata()) {
    if (f.find(k) != &v) QTest::qFail("duplicate or unfindable key", __FILE__, __LINE__);
    sum += v.to_display_string().size();
    if (k == "general.alignment" && v.as_uint() != a) {
      QTest::qFail("alignment key disagrees", __FILE__, __LINE__);
    }
  }
  for (const TensorInfo& ti : f.tensors()) {
    const auto* tr = emoe::kernels::type_traits(ti.type);
    bool ok = tr && !ti.ne.empty() && ti.ne.size() <= 4 && ti.ne[0] % tr->block_size == 0;
    int64_t n = 1;
    uint64_t rows = 1;
    for (size_t d = 0; ok && d < ti.ne.size(); ++d) {
      ok = ti.ne[d] >= 0;
      n *= ti.ne[d];
      if (d > 0) rows *= static_cast<uint64_t>(ti.ne[d]);
    }
    ok = ok && n == ti.n_elements &&
         ti.n_bytes == static_cast<uint64_t>(ti.ne[0] / tr->block_size) *
                           static_cast<uint64_t>(tr->type_size) * rows &&
         ti.offset % a == 0 && ti.data == f.bytes().data() + f.data_offset() + ti.offset &&
         f.data_offset() + ti.offset + ti.n_bytes <= f.file_size() && f.find_tensor(ti.name) == &ti;
    if (!ok) QTest::qFail(("inconsistent tensor " + ti.name).c_str(), __FILE__, __LINE__);
    for (uint64_t i = 0; i < ti.n_bytes; ++i) sum += ti.data[i];
    for (const TensorInfo& o : f.tensors()) {
      if (&o == &ti || o.n_bytes == 0 || ti.n_bytes == 0) continue;
      if (ti.offset < o.offset + o.n_bytes && o.offset < ti.offset + ti.n_bytes) {
        QTest::qFail("overlapping tensors accepted", __FILE__, __LINE__);
      }
    }
  }
  return sum;
}

// Rewrites an accepted file with GgufWriter; reading that back and writing it again must give
// the same bytes, and the tensors must keep their names, types, shapes and data. Returns false
// when the writer refuses the file (a tensor name over llama.cpp's 63-byte limit).
bool round_trips(const GgufFile& f) {
  auto rewrite = [](const GgufFile& g, GgufWriter& w) {
    for (const auto& [k, v] : g.metadata()) w.set(k, v);
    for (const TensorInfo& ti : g.tensors()) {
      if (!w.add_tensor(ti.name, ti.type, ti.ne, {ti.data, ti.n_bytes}).is_ok()) return false;
    }
    return true;
  };
  GgufWriter w1;
  if (!rewrite(f, w1)) return false;
  const std::vector<uint8_t> b1 = w1.to_bytes();
  auto r = GgufFile::from_bytes(b1);
  if (!r.ok()) {
    QTest::qFail(("rewritten file refused: " + r.status().message()).c_str(), __FILE__, __LINE__);
    return false;
  }
  GgufWriter w2;
  if (!rewrite(**r, w2) || w2.to_bytes() != b1) {
    QTest::qFail("writer round trip is not a fixed point", __FILE__, __LINE__);
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& a = f.tensors()[i];
    const TensorInfo& b = (*r)->tensors()[i];
    if (a.name != b.name || a.type != b.type || a.ne != b.ne || a.n_bytes != b.n_bytes ||
        std::memcmp(a.data, b.data, a.n_bytes) != 0) {
      QTest::qFail(("tensor changed in round trip: " + a.name).c_str(), __FILE__, __LINE__);
    }
  }
  return true;
}

}  // namespace

class TestGgufBadInput : public QObject {
  Q_OBJECT

 private slots:
  void base_files_are_valid();
  void truncation_at_every_offset();
  void truncated_fixture();
  void short_buffers();
  void wrong_magic();
  void versions();
  void absurd_counts();
  void absurd_string_lengths();
  void absurd_array_lengths();
  void nesting_depth();
  void unknown_value_types();
  void bad_bool();
  void bad_n_dims();
  void bad_shapes();
  void unknown_tensor_types();
  void known_but_not_computable_types_accepted();
  void bad_offsets();
  void overlapping_tensors();
  void bad_alignment();
  void duplicates();
  void random_mutations();
};

void TestGgufBadInput::base_files_are_valid() {
  for (const auto& bytes : {base_file(), writer_file()}) {
    auto r = GgufFile::from_bytes(bytes);
    QVERIFY2(r.ok(), r.status().message().c_str());
    check_consistent(**r);
  }
  auto r = GgufFile::from_bytes(base_file());
  QCOMPARE((*r)->tensors().size(), size_t{2});
  QCOMPARE((*r)->tensors()[1].n_bytes, uint64_t{68});
}

void TestGgufBadInput::truncation_at_every_offset() {
  for (const auto& full : {base_file(), writer_file()}) {
    auto r = GgufFile::from_bytes(full);
    QVERIFY(r.ok());
    // Only the padding after the last tensor may be cut off.
    uint64_t data_end = 0;
    for (const TensorInfo& ti : (*r)->tensors()) {
      data_end = std::max(data_end, (*r)->data_offset() + ti.offset + ti.n_bytes);
    }
    for (size_t cut = 0; cut < full.size(); ++cut) {
      std::vector<uint8_t> part(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
      auto p = GgufFile::from_bytes(part);
      if (cut < data_end) {
        if (p.ok()) QFAIL(qPrintable(QString("truncation at %1 accepted").arg(cut)));
        const std::string& m = p.status().message();
        QVERIFY2(m.find("truncated") != std::string::npos ||
                     m.find("extends past end of file") != std::string::npos ||
                     m.find("bytes left") != std::string::npos ||
                     m.find("too small") != std::string::npos,
                 m.c_str());
      } else {
        QVERIFY2(p.ok(), p.status().message().c_str());
      }
    }
  }
}

void TestGgufBadInput::truncated_fixture() {
  std::ifstream in(std::string(EMOE_TEST_DATA_DIR) + "/tiny-mixtral-q/model.gguf",
                   std::ios::binary);
  const std::vector<uint8_t> full{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
  auto r = GgufFile::from_bytes(full);
  QVERIFY(r.ok());
  const uint64_t header = (*r)->data_offset();
  std::mt19937_64 rng(7);
  std::vector<size_t> cuts = {0,
                              10,
                              24,
                              100,
                              static_cast<size_t>(header) - 1,
                              static_cast<size_t>(header),
                              full.size() - 1};
  for (int i = 0; i < 120; ++i) cuts.push_back(rng() % header);
  for (int i = 0; i < 10; ++i) cuts.push_back(header + rng() % (full.size() - header));
  for (size_t cut : cuts) {
    auto p = GgufFile::from_bytes(std::span(full).first(cut));
    QVERIFY2(!p.ok(), qPrintable(QString("cut at %1 accepted").arg(cut)));
    QVERIFY(!p.status().message().empty());
  }
  // Cutting inside the tensor data names the tensor that no longer fits.
  expect_bad({full.begin(), full.end() - 1}, {"tensor 'output.weight'", "extends past end"});
}

void TestGgufBadInput::short_buffers() {
  expect_bad({}, {"too small"});
  expect_bad({'G', 'G', 'U'}, {"too small"});
  expect_bad({'G', 'G', 'U', 'F'}, {"truncated", "version"});
  std::vector<uint8_t> b = base_file();
  expect_bad({b.begin(), b.begin() + 23}, {"truncated", "metadata count"});
}

void TestGgufBadInput::wrong_magic() {
  for (const char* magic : {"GGML", "FUGG", "gguf", "\0\0\0\0"}) {
    std::vector<uint8_t> b = base_file();
    std::memcpy(b.data(), magic, 4);
    expect_bad(b, {"magic", "offset 0"});
  }
}

void TestGgufBadInput::versions() {
  for (uint32_t v : {0u, 1u, 4u, 0xFFFFFFFFu}) {
    std::vector<uint8_t> b = base_file();
    B::patch(b, 4, v);
    expect_bad(b, {"version " + std::to_string(v)}, StatusCode::Unsupported);
  }
  std::vector<uint8_t> b = base_file();
  B::patch(b, 4, uint32_t{0x03000000});
  expect_bad(b, {"big-endian"}, StatusCode::Unsupported);
  // Version 2 has the same layout and is accepted.
  B::patch(b, 4, uint32_t{2});
  auto r = GgufFile::from_bytes(b);
  QVERIFY(r.ok());
  QCOMPARE((*r)->version(), 2u);
}

void TestGgufBadInput::absurd_counts() {
  for (uint64_t n : {uint64_t{1} << 60, kMax64, uint64_t{1000}}) {
    std::vector<uint8_t> b = base_file();
    B::patch(b, 8, n);
    expect_bad(b, {"tensor count " + std::to_string(n)});
    b = base_file();
    B::patch(b, 16, n);
    expect_bad(b, {"metadata count " + std::to_string(n)});
  }
  // A count that fits the file but not the data that follows fails on the data it lacks.
  std::vector<uint8_t> b = base_file();
  B::patch(b, 8, uint64_t{3});
  QVERIFY(!GgufFile::from_bytes(b).ok());
}

void TestGgufBadInput::absurd_string_lengths() {
  for (uint64_t len : {uint64_t{1} << 60, kMax64, uint64_t{100000}}) {
    // The first key's length is the first field after the 24-byte header.
    std::vector<uint8_t> b = base_file();
    B::patch(b, 24, len);
    expect_bad(b, {"metadata entry #0", "key length " + std::to_string(len)});
    // general.architecture's string value.
    b = base_file();
    B::patch(b, 24 + 8 + 20 + 4, len);
    expect_bad(b, {"key 'general.architecture'", "string length"});
  }
  // The first tensor name's length.
  B prefix;
  prefix.header(3, 2, 4);
  for (const KvFn& kv : base_kvs()) kv(prefix);
  std::vector<uint8_t> b = base_file();
  B::patch(b, prefix.size(), kMax64 - 3);
  expect_bad(b, {"tensor info #0", "tensor name length"});
  // A string inside an array.
  expect_bad(file_with({[](B& x) {
                         x.key("k.arr", t::kArr).u32(t::kStr).u64(2).str("a").u64(1ull << 62);
                       }},
                       {}, 0),
             {"key 'k.arr'", "string length"});
}

void TestGgufBadInput::absurd_array_lengths() {
  // Lengths whose byte size overflows (2^61 + 1 items of 8 bytes) or exceeds the file.
  for (uint64_t len : {uint64_t{1} << 60, kMax64, (uint64_t{1} << 61) + 1}) {
    for (uint32_t elem : {t::kU8, t::kU64, t::kStr, t::kArr}) {
      const std::vector<uint8_t> b = file_with(
          {kv_arch(), [=](B& x) { x.key("big.arr", t::kArr).u32(elem).u64(len).u8(0); }}, {}, 0);
      expect_bad(b, {"key 'big.arr'"});
    }
  }
  expect_bad(
      file_with({[](B& x) { x.key("big.arr", t::kArr).u32(t::kI32).u64(1ull << 40); }}, {}, 0),
      {"key 'big.arr'", "array length 1099511627776", "cannot fit"});
}

void TestGgufBadInput::nesting_depth() {
  auto nested = [](int levels) {
    return file_with({[=](B& x) {
                       x.key("deep", t::kArr);
                       for (int i = 1; i < levels; ++i) x.u32(t::kArr).u64(1);
                       x.u32(t::kU8).u64(1).u8(9);
                     }},
                     {}, 0);
  };
  auto ok = GgufFile::from_bytes(nested(16));
  QVERIFY2(ok.ok(), ok.status().message().c_str());
  const Value* v = (*ok)->find("deep");
  for (int i = 1; i < 16; ++i) v = &(*v->as_array())[0];
  QCOMPARE(*(*v->as_array())[0].as_uint(), uint64_t{9});
  expect_bad(nested(17), {"key 'deep'", "nested deeper than 16"});
  expect_bad(nested(100000), {"key 'deep'", "nested"});  // no stack overflow
}

void TestGgufBadInput::unknown_value_types() {
  for (uint32_t ty : {13u, 100u, 0xFFFFFFFFu}) {
    expect_bad(file_with({kv_arch(), [=](B& x) { x.key("odd.type", ty).u32(0); }}, {}, 0),
               {"key 'odd.type'", "unknown value type " + std::to_string(ty)});
    expect_bad(file_with({[=](B& x) { x.key("odd.elem", t::kArr).u32(ty).u64(1).u32(0); }}, {}, 0),
               {"key 'odd.elem'", "unknown array element type " + std::to_string(ty)});
  }
}

void TestGgufBadInput::bad_bool() {
  // gguf-py writes 0 or 1; other bytes are refused (reading them into bool would be UB).
  for (uint8_t v : {uint8_t{2}, uint8_t{255}}) {
    expect_bad(file_with({[=](B& x) { x.key("flag", t::kBool).u8(v); }}, {}, 0),
               {"key 'flag'", "bool value " + std::to_string(v)});
    expect_bad(
        file_with({[=](B& x) { x.key("flags", t::kArr).u32(t::kBool).u64(2).u8(0).u8(v); }}, {}, 0),
        {"key 'flags'", "bool"});
  }
}

void TestGgufBadInput::bad_n_dims() {
  for (uint32_t nd : {0u, 5u, 0xFFFFFFFFu}) {
    B b;
    b.header(3, 1, 0).str("bad.dims").u32(nd).u64(8).u32(t::kTF32).u64(0).pad(32).zeros(32);
    expect_bad(b.b, {"tensor 'bad.dims'", "n_dims " + std::to_string(nd)});
  }
}

void TestGgufBadInput::bad_shapes() {
  auto one = [](std::vector<uint64_t> ne, uint32_t type) {
    return file_with({}, {{"w", std::move(ne), type, 0}}, 64);
  };
  expect_bad(one({1ull << 62, 1ull << 62}, t::kTF32), {"tensor 'w'", "overflows int64"});
  expect_bad(one({1ull << 31, 1ull << 31, 1ull << 31}, t::kTF32), {"tensor 'w'", "overflows"});
  expect_bad(one({4, 1ull << 62}, t::kTF32), {"tensor 'w'", "overflows"});
  expect_bad(one({1ull << 63}, t::kTF32), {"tensor 'w'", "ne[0]", "negative"});
  expect_bad(one({8, kMax64}, t::kTF32), {"tensor 'w'", "ne[1]", "negative"});
  // The element count fits in int64 but the byte count does not fit in uint64.
  expect_bad(one({1ull << 62}, t::kTF32), {"tensor 'w'", "byte size overflows"});
  expect_bad(one({1ull << 40}, t::kTF32), {"tensor 'w'", "extends past end of file"});
  expect_bad(one({16, 2}, t::kTQ8_0), {"tensor 'w'", "block size 32"});
  expect_bad(one({100}, t::kTQ4_K), {"tensor 'w'", "q4_K block size 256"});
  // Zero-sized dimensions are allowed (ggml allows ne = 0) and take no bytes.
  auto r = GgufFile::from_bytes(one({0, 5}, t::kTF32));
  QVERIFY2(r.ok(), r.status().message().c_str());
  QCOMPARE((*r)->tensors()[0].n_bytes, uint64_t{0});
  QCOMPARE((*r)->tensors()[0].n_elements, int64_t{0});
}

void TestGgufBadInput::unknown_tensor_types() {
  for (uint32_t ty : {4u, 5u, 31u, 40u, 1000u, 0xFFFFFFFFu}) {
    expect_bad(
        file_with({}, {{"blk.0.w", {32}, ty, 0}}, 128),
        {"tensor 'blk.0.w'", "unknown tensor type id " + std::to_string(ty), "q4_0=2", "q6_K=14"});
  }
}

void TestGgufBadInput::known_but_not_computable_types_accepted() {
  struct K {
    uint32_t id;
    uint64_t ne0;
    uint64_t bytes;
  };
  // (id, one block's elements, one block's bytes) from ggml's block definitions.
  const std::vector<K> ks = {{10, 256, 84}, {14, 256, 210}, {16, 256, 66}, {24, 1, 1},
                             {28, 1, 8},    {34, 256, 54},  {39, 32, 17}};
  for (const K& k : ks) {
    auto r = GgufFile::from_bytes(file_with({}, {{"w", {k.ne0, 3}, k.id, 0}}, 3 * k.bytes));
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(static_cast<uint32_t>((*r)->tensors()[0].type), k.id);
    QCOMPARE((*r)->tensors()[0].n_bytes, 3 * k.bytes);
  }
}

void TestGgufBadInput::bad_offsets() {
  auto with_t1_offset = [](uint64_t off) {
    auto ts = base_tensors();
    ts[1].offset = off;
    return file_with(base_kvs(), ts, 100);
  };
  expect_bad(with_t1_offset(36), {"tensor 't1'", "offset 36", "alignment 32"});
  const std::vector<uint8_t> far = with_t1_offset(1024);
  auto base = GgufFile::from_bytes(base_file());
  const uint64_t data_offset = (*base)->data_offset();
  expect_bad(far,
             {"tensor 't1': data [offset " + std::to_string(data_offset + 1024) +
              ", 68 bytes] extends past end of file (size " + std::to_string(far.size()) + ")"});
  // Offsets whose sum with the data section start overflows uint64.
  expect_bad(with_t1_offset(kMax64 - 31), {"tensor 't1'", "extends past end of file"});
  expect_bad(with_t1_offset(uint64_t{1} << 63), {"tensor 't1'", "extends past end of file"});
  // Exactly fitting is fine; one byte short is not.
  const std::vector<uint8_t> exact = file_with(base_kvs(), base_tensors(), 100);
  QVERIFY(GgufFile::from_bytes(exact).ok());
  expect_bad({exact.begin(), exact.end() - 1}, {"tensor 't1'", "extends past end of file"});
}

void TestGgufBadInput::overlapping_tensors() {
  auto ts = base_tensors();
  ts[1] = {"t1", {8}, t::kTF32, 0};
  expect_bad(file_with(base_kvs(), ts, 100), {"overlaps", "'t0'", "'t1'"});
  // Zero-byte tensors share offsets harmlessly.
  auto r = GgufFile::from_bytes(file_with(
      {}, {{"e0", {0}, t::kTF32, 0}, {"e1", {4, 0}, t::kTF32, 0}, {"x", {8}, t::kTF32, 0}}, 32));
  QVERIFY2(r.ok(), r.status().message().c_str());
}

void TestGgufBadInput::bad_alignment() {
  for (uint32_t a : {0u, 3u, 6u, 0x80000001u}) {
    expect_bad(file_with({kv_u32("general.alignment", a)}, base_tensors(), 100),
               {"key 'general.alignment'", "power of two"});
  }
  expect_bad(file_with({[](B& x) { x.key("general.alignment", t::kU64).u64(32); }}, {}, 0),
             {"key 'general.alignment'", "uint64", "uint32"});
  // A valid 64 makes t1's offset 32 misaligned.
  expect_bad(file_with({kv_u32("general.alignment", 64)}, base_tensors(), 100, 64),
             {"tensor 't1'", "alignment 64"});
  auto ts = base_tensors();
  ts[1].offset = 64;
  auto r = GgufFile::from_bytes(file_with({kv_u32("general.alignment", 64)}, ts, 200, 64));
  QVERIFY2(r.ok(), r.status().message().c_str());
  QCOMPARE((*r)->alignment(), uint64_t{64});
}

void TestGgufBadInput::duplicates() {
  auto kvs = base_kvs();
  kvs.push_back(kv_u32("test.count", 6));
  expect_bad(file_with(kvs, base_tensors(), 100), {"duplicate key 'test.count'"});
  auto ts = base_tensors();
  ts.push_back({"t0", {8}, t::kTF32, 128});
  expect_bad(file_with(base_kvs(), ts, 200), {"duplicate tensor name 't0'"});
}

void TestGgufBadInput::random_mutations() {
  // Bounded in time as well as count so sanitizer builds stay fast.
  const std::vector<std::vector<uint8_t>> bases = {base_file(), writer_file()};
  const uint64_t interesting[] = {0,
                                  1,
                                  2,
                                  3,
                                  4,
                                  5,
                                  8,
                                  12,
                                  13,
                                  16,
                                  17,
                                  31,
                                  32,
                                  33,
                                  64,
                                  255,
                                  0x7F,
                                  0x80,
                                  0xFFFF,
                                  0x7FFFFFFF,
                                  0x80000000,
                                  0xFFFFFFFF,
                                  uint64_t{1} << 32,
                                  uint64_t{1} << 62,
                                  uint64_t{1} << 63,
                                  kMax64};
  std::mt19937_64 rng(20250221);
  QElapsedTimer timer;
  timer.start();
  int n = 0, accepted = 0, round_tripped = 0;
  uint64_t sink = 0;
  for (; n < 50000 && timer.elapsed() < 5000; ++n) {
    std::vector<uint8_t> b = bases[rng() % bases.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 7) {
        case 0:
          b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          b[at] = static_cast<uint8_t>(rng());
          break;
        case 2: {
          const uint64_t v = interesting[rng() % std::size(interesting)];
          const size_t w = (rng() % 2) ? 4 : 8;
          for (size_t i = 0; i < w && at + i < b.size(); ++i)
            b[at + i] = static_cast<uint8_t>(v >> (8 * i));
          break;
        }
        case 3:
          b.resize(at);
          break;
        case 4:
          b.insert(b.begin() + static_cast<ptrdiff_t>(at), 1 + rng() % 16,
                   static_cast<uint8_t>(rng()));
          break;
        case 5:
          b.erase(b.begin() + static_cast<ptrdiff_t>(at),
                  b.begin() + static_cast<ptrdiff_t>(std::min(b.size(), at + 1 + rng() % 16)));
          break;
        case 6: {
          const size_t from = rng() % b.size();
          const size_t len = std::min({size_t{1} + rng() % 32, b.size() - from, b.size() - at});
          std::memmove(b.data() + at, b.data() + from, len);
          break;
        }
      }
    }
    auto r = GgufFile::from_bytes(b);
    if (r.ok()) {
      ++accepted;
      sink += check_consistent(**r);
      round_tripped += round_trips(**r);
    } else {
      QVERIFY(!r.status().message().empty());
    }
  }
  qInfo("%d mutations in %lld ms, %d accepted, %d rewritten (checksum %llu)", n,
        static_cast<long long>(timer.elapsed()), accepted, round_tripped,
        static_cast<unsigned long long>(sink));
  QVERIFY(n >= 1000);
  QVERIFY(accepted > 0 && accepted < n);  // the mutations exercise both outcomes
  QVERIFY(round_tripped > 0);
}

QTEST_GUILESS_MAIN(TestGgufBadInput)
#include "test_gguf_bad_input.moc"
