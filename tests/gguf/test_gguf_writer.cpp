// GgufWriter: exact bytes against a hand-encoded file, round trips of every value type and of
// tensors of several types and shapes, alignment, atomic writes and I/O errors.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

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
namespace t = emoe::gguf::testing;

namespace {

std::vector<uint8_t> read_all(const QString& path) {
  std::ifstream in(path.toStdString(), std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <typename T>
std::span<const uint8_t> as_bytes(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

double half_to_double(uint16_t h) {
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return (h >> 15) ? -v : v;
}

// Structural equality of two values, floats compared bit for bit (so NaN and -0 count).
bool same(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case ValueType::Float32: {
      const float x = static_cast<float>(*a.as_double());
      const float y = static_cast<float>(*b.as_double());
      return std::memcmp(&x, &y, 4) == 0;
    }
    case ValueType::Float64: {
      const double x = *a.as_double();
      const double y = *b.as_double();
      return std::memcmp(&x, &y, 8) == 0;
    }
    case ValueType::Bool:
      return a.as_bool() == b.as_bool();
    case ValueType::String:
      return *a.as_string() == *b.as_string();
    case ValueType::Array: {
      if (a.elem_type() != b.elem_type() || a.as_array()->size() != b.as_array()->size()) {
        return false;
      }
      for (size_t i = 0; i < a.as_array()->size(); ++i) {
        if (!same((*a.as_array())[i], (*b.as_array())[i])) return false;
      }
      return true;
    }
    default:
      return a.as_uint() == b.as_uint() && a.as_int() == b.as_int();
  }
}

Value arr(ValueType t, Value::Array items) { return Value::array(t, std::move(items)); }

std::vector<std::pair<std::string, Value>> every_value() {
  using L8 = std::numeric_limits<int8_t>;
  using L16 = std::numeric_limits<int16_t>;
  using L32 = std::numeric_limits<int32_t>;
  using L64 = std::numeric_limits<int64_t>;
  const float nan32 = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::pair<std::string, Value>> kv = {
      {"u8.max", Value::u8(255)},
      {"u8.zero", Value::u8(0)},
      {"i8.min", Value::i8(L8::min())},
      {"i8.max", Value::i8(L8::max())},
      {"u16.max", Value::u16(65535)},
      {"i16.min", Value::i16(L16::min())},
      {"u32.max", Value::u32(0xFFFFFFFFu)},
      {"i32.min", Value::i32(L32::min())},
      {"u64.max", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"i64.min", Value::i64(L64::min())},
      {"i64.max", Value::i64(L64::max())},
      {"f32.pi", Value::f32(3.14159265f)},
      {"f32.neg_zero", Value::f32(-0.0f)},
      {"f32.inf", Value::f32(-std::numeric_limits<float>::infinity())},
      {"f32.nan", Value::f32(nan32)},
      {"f32.denormal", Value::f32(std::numeric_limits<float>::denorm_min())},
      {"f64.third", Value::f64(1.0 / 3.0)},
      {"f64.max", Value::f64(std::numeric_limits<double>::max())},
      {"bool.true", Value::boolean(true)},
      {"bool.false", Value::boolean(false)},
      {"str.empty", Value::string("")},
      {"str.unicode", Value::string("h\xC3\xA9llo \xE2\x96\x81 \xF0\x9F\x98\x80 \xE4\xB8\xAD")},
      {"str.nul", Value::string(std::string("a\0b", 3))},
      {"str.long", Value::string(std::string(70000, 'x'))},
      {"", Value::string("empty key")},
      {"arr.u8", arr(ValueType::UInt8, {Value::u8(1), Value::u8(255)})},
      {"arr.i16", arr(ValueType::Int16, {Value::i16(-1), Value::i16(7)})},
      {"arr.u32", arr(ValueType::UInt32, {Value::u32(1), Value::u32(2), Value::u32(3)})},
      {"arr.i32", arr(ValueType::Int32, {Value::i32(-5)})},
      {"arr.u64", arr(ValueType::UInt64, {Value::u64(1ull << 63)})},
      {"arr.i64", arr(ValueType::Int64, {Value::i64(-(1ll << 40))})},
      {"arr.f32", arr(ValueType::Float32, {Value::f32(0.5f), Value::f32(nan32)})},
      {"arr.f64", arr(ValueType::Float64, {Value::f64(-2.25)})},
      {"arr.bool", arr(ValueType::Bool, {Value::boolean(true), Value::boolean(false)})},
      {"arr.str", arr(ValueType::String, {Value::string(""), Value::string("\xE2\x96\x81x")})},
      {"arr.empty_u8", arr(ValueType::UInt8, {})},
      {"arr.empty_str", arr(ValueType::String, {})},
      {"arr.empty_arr", arr(ValueType::Array, {})},
      {"arr.nested",
       arr(ValueType::Array,
           {arr(ValueType::Int32, {Value::i32(1), Value::i32(2)}), arr(ValueType::String, {}),
            arr(ValueType::Array, {arr(ValueType::Float64, {Value::f64(1e300)})})})},
  };
  // Every element type, including each integer width, also as an empty array.
  for (uint32_t ty = 0; ty <= 12; ++ty) {
    kv.emplace_back("arr.empty." + std::to_string(ty), arr(static_cast<ValueType>(ty), {}));
  }
  // 16 levels of arrays, the reader's limit.
  Value deep = arr(ValueType::UInt8, {Value::u8(42)});
  for (int i = 1; i < 16; ++i) deep = arr(ValueType::Array, {deep});
  kv.emplace_back("arr.deep16", deep);
  return kv;
}

}  // namespace

class TestGgufWriter : public QObject {
  Q_OBJECT

 private slots:
  void exact_bytes_of_small_file();
  void value_round_trip();
  void display_strings();
  void set_replaces_in_place();
  void tensor_round_trip();
  void add_tensor_f32_types();
  void add_tensor_validation();
  void custom_alignment_data();
  void custom_alignment();
  void write_file_atomically();
  void write_errors();
};

void TestGgufWriter::exact_bytes_of_small_file() {
  GgufWriter w;
  w.set("general.architecture", Value::string("llama"));
  w.set("x.count", Value::u32(7));
  w.set("x.list", arr(ValueType::Int16, {Value::i16(-2), Value::i16(3)}));
  const std::vector<float> a = {1.0f, -2.0f, 0.5f};
  const std::vector<uint16_t> h = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  QVERIFY(w.add_tensor("a", TensorType::F32, {3}, as_bytes(a)).is_ok());
  QVERIFY(w.add_tensor("b.weight", TensorType::F16, {2, 2}, as_bytes(h)).is_ok());

  t::Bytes e;
  e.header(3, 2, 3);
  e.key("general.architecture", t::kStr).str("llama");
  e.key("x.count", t::kU32).u32(7);
  e.key("x.list", t::kArr).u32(t::kI16).u64(2).i16(-2).i16(3);
  e.tensor_info("a", {3}, t::kTF32, 0);
  e.tensor_info("b.weight", {2, 2}, t::kTF16, 32);  // 12 bytes padded to 32
  e.pad(32);
  e.raw(a.data(), 12).pad(32);
  e.raw(h.data(), 8).pad(32);
  QCOMPARE(w.to_bytes(), e.b);
}

void TestGgufWriter::value_round_trip() {
  GgufWriter w;
  const auto kv = every_value();
  for (const auto& [k, v] : kv) w.set(k, v);
  auto r = GgufFile::from_bytes(w.to_bytes());
  QVERIFY2(r.ok(), r.status().message().c_str());
  const GgufFile& f = **r;
  QCOMPARE(f.metadata().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    QCOMPARE(f.metadata()[i].first, kv[i].first);  // insertion order
    QVERIFY2(same(f.metadata()[i].second, kv[i].second), kv[i].first.c_str());
  }
  // Element types of empty arrays survive.
  for (uint32_t ty = 0; ty <= 12; ++ty) {
    const Value* v = f.find("arr.empty." + std::to_string(ty));
    QVERIFY(v && v->type() == ValueType::Array);
    QCOMPARE(static_cast<uint32_t>(v->elem_type()), ty);
    QVERIFY(v->as_array()->empty());
  }
  // Typed getters over the same file.
  QCOMPARE(*f.get_uint("u64.max"), std::numeric_limits<uint64_t>::max());
  QCOMPARE(f.get_int("u64.max").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(*f.get_int("i64.min"), std::numeric_limits<int64_t>::min());
  auto neg = f.get_uint("i8.min");
  QCOMPARE(neg.status().code(), StatusCode::InvalidArgument);
  QVERIFY(neg.status().message().find("i8.min") != std::string::npos);
  QCOMPARE(*f.get_uint("i8.max"), uint64_t{127});  // non-negative signed reads as unsigned
  QCOMPARE(*f.get_float("f64.third"), 1.0 / 3.0);
  QCOMPARE(*f.get_float("u8.max"), 255.0);
  QCOMPARE(f.get_float("bool.true").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(*f.get_bool("bool.false"), false);
  QCOMPARE(*f.get_string("str.nul"), std::string("a\0b", 3));
  QCOMPARE(*f.get_string(""), std::string("empty key"));
  QCOMPARE(*f.get_string_array("arr.str"), (std::vector<std::string>{"", "\xE2\x96\x81x"}));
  QVERIFY(f.get_string_array("arr.empty_str")->empty());
  QCOMPARE(f.get_string_array("arr.empty_u8").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(*f.get_int_array("arr.u32"), (std::vector<int64_t>{1, 2, 3}));
  QCOMPARE(*f.get_int_array("arr.i64"), (std::vector<int64_t>{-(1ll << 40)}));
  auto big = f.get_int_array("arr.u64");  // 2^63 does not fit in int64
  QCOMPARE(big.status().code(), StatusCode::InvalidArgument);
  QCOMPARE(f.get_int_array("arr.f32").status().code(), StatusCode::InvalidArgument);
  QCOMPARE(f.get_float_array("arr.f64")->at(0), -2.25f);
  QCOMPARE(f.get_float_array("arr.i16")->at(0), -1.0f);
  QCOMPARE(f.get_float_array("arr.nested").status().code(), StatusCode::InvalidArgument);
  // The writer's bytes of what the reader returned are the original bytes again.
  GgufWriter w2;
  for (const auto& [k, v] : f.metadata()) w2.set(k, v);
  QCOMPARE(w2.to_bytes(), w.to_bytes());
}

void TestGgufWriter::display_strings() {
  QCOMPARE(Value::u32(7).to_display_string(), std::string("7"));
  QCOMPARE(Value::i8(-3).to_display_string(), std::string("-3"));
  QCOMPARE(Value::f32(0.1f).to_display_string(), std::string("0.1"));
  QCOMPARE(Value::f64(1e-5).to_display_string(), std::string("1e-05"));
  QCOMPARE(Value::boolean(true).to_display_string(), std::string("true"));
  QCOMPARE(Value::string("a\"b\n").to_display_string(), std::string("\"a\\\"b\\n\""));
  const Value a = arr(ValueType::UInt8, {Value::u8(1), Value::u8(2), Value::u8(3)});
  QCOMPARE(a.to_display_string(8), std::string("[1, 2, 3]"));
  QCOMPARE(a.to_display_string(2), std::string("[1, 2, ... (3 items of uint8)]"));
  QCOMPARE(arr(ValueType::String, {}).to_display_string(), std::string("[]"));
  const std::string longs = Value::string(std::string(1000, 'y')).to_display_string();
  QVERIFY(longs.size() < 300);
  QVERIFY(longs.find("1000 bytes") != std::string::npos);
  QCOMPARE(emoe::gguf::value_type_name(ValueType::Float64), std::string_view("float64"));
}

void TestGgufWriter::set_replaces_in_place() {
  GgufWriter w;
  w.set("a", Value::u32(1));
  w.set("b", Value::string("x"));
  w.set("c", Value::u32(3));
  w.set("b", Value::f32(2.5f));  // replaces, type may change, position stays
  auto r = GgufFile::from_bytes(w.to_bytes());
  QVERIFY(r.ok());
  QCOMPARE((*r)->metadata().size(), size_t{3});
  QCOMPARE((*r)->metadata()[1].first, std::string("b"));
  QCOMPARE(*(*r)->get_float("b"), 2.5);
}

void TestGgufWriter::tensor_round_trip() {
  GgufWriter w;
  std::vector<float> f1(5);
  for (size_t i = 0; i < f1.size(); ++i) f1[i] = 0.25f * static_cast<float>(i) - 1.0f;
  std::vector<float> f4(2 * 3 * 4 * 5);
  for (size_t i = 0; i < f4.size(); ++i) f4[i] = static_cast<float>(i);
  std::vector<uint8_t> q8(34 * 3), q4(18 * 4), q4k(144), i8(7);
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < q4.size(); ++i) q4[i] = static_cast<uint8_t>(255 - i);
  for (size_t i = 0; i < q4k.size(); ++i) q4k[i] = static_cast<uint8_t>(i ^ 0x5A);
  for (size_t i = 0; i < i8.size(); ++i) i8[i] = static_cast<uint8_t>(i + 1);
  struct Case {
    const char* name;
    TensorType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> bytes;
  };
  const std::vector<Case> cases = {
      {"f32.1d", TensorType::F32, {5}, {as_bytes(f1).begin(), as_bytes(f1).end()}},
      {"f32.4d", TensorType::F32, {2, 3, 4, 5}, {as_bytes(f4).begin(), as_bytes(f4).end()}},
      {"q8_0", TensorType::Q8_0, {32, 3}, q8},
      {"q4_0.3d", TensorType::Q4_0, {32, 2, 2}, q4},
      {"q4_k", TensorType::Q4_K, {256}, q4k},  // known, not computable: still written and read
      {"i8.odd", TensorType::I8, {7}, i8},
      {"empty", TensorType::F32, {0, 4}, {}},
  };
  for (const Case& c : cases) QVERIFY(w.add_tensor(c.name, c.type, c.ne, c.bytes).is_ok());
  w.set("after.tensors", Value::u8(1));  // metadata may be set in any order

  auto r = GgufFile::from_bytes(w.to_bytes());
  QVERIFY2(r.ok(), r.status().message().c_str());
  const GgufFile& f = **r;
  QCOMPARE(f.tensors().size(), cases.size());
  uint64_t prev_end = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const TensorInfo& ti = f.tensors()[i];
    QCOMPARE(ti.name, std::string(cases[i].name));
    QCOMPARE(ti.type, cases[i].type);
    QCOMPARE(ti.ne, cases[i].ne);
    QCOMPARE(ti.n_bytes, static_cast<uint64_t>(cases[i].bytes.size()));
    QCOMPARE(ti.offset % 32, uint64_t{0});
    QVERIFY(ti.offset >= prev_end);
    prev_end = ti.offset + ti.n_bytes;
    QVERIFY(ti.n_bytes == 0 || std::memcmp(ti.data, cases[i].bytes.data(), ti.n_bytes) == 0);
  }
  QCOMPARE(f.data_offset() % 32, uint64_t{0});
  QCOMPARE(f.file_size() % 32, uint64_t{0});  // the last tensor is padded too
}

void TestGgufWriter::add_tensor_f32_types() {
  // 2 rows of 64: values with a per-row scale, so a row mix-up would show.
  std::vector<float> x(128);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.37f * static_cast<float>(i)) * (i < 64 ? 1.0f : 8.0f);
  }
  GgufWriter w;
  QVERIFY(w.add_tensor_f32("f32", TensorType::F32, {64, 2}, x).is_ok());
  QVERIFY(w.add_tensor_f32("f16", TensorType::F16, {64, 2}, x).is_ok());
  QVERIFY(w.add_tensor_f32("q8_0", TensorType::Q8_0, {64, 2}, x).is_ok());
  QVERIFY(w.add_tensor_f32("q4_0", TensorType::Q4_0, {64, 2}, x).is_ok());
  auto r = GgufFile::from_bytes(w.to_bytes());
  QVERIFY(r.ok());
  const GgufFile& f = **r;

  const uint8_t* p32 = f.find_tensor("f32")->data;
  QVERIFY(std::memcmp(p32, x.data(), 512) == 0);

  const uint8_t* p16 = f.find_tensor("f16")->data;
  for (size_t i = 0; i < x.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, p16 + 2 * i, 2);
    // Round to nearest: within half an fp16 ulp (relative 2^-11) of the input.
    QVERIFY(std::abs(half_to_double(h) - x[i]) <= std::abs(x[i]) * std::ldexp(1.0, -11) + 1e-7);
  }

  for (const char* name : {"q8_0", "q4_0"}) {
    const TensorInfo* ti = f.find_tensor(name);
    const bool q8 = ti->type == TensorType::Q8_0;
    const int block_bytes = q8 ? 34 : 18;
    QCOMPARE(ti->n_bytes, uint64_t(4 * block_bytes));
    for (int b = 0; b < 4; ++b) {
      const uint8_t* blk = ti->data + b * block_bytes;
      uint16_t dh;
      std::memcpy(&dh, blk, 2);
      const double d = half_to_double(dh);
      double amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::abs(double(x[b * 32 + j])));
      // ggml's scales: Q8_0 d = amax/127, Q4_0 |d| = amax/8 (fp16-rounded).
      QVERIFY(std::abs(std::abs(d) - amax / (q8 ? 127.0 : 8.0)) <= amax * 1e-3);
      for (int j = 0; j < 32; ++j) {
        double deq;
        if (q8) {
          deq = d * static_cast<int8_t>(blk[2 + j]);
        } else {
          const uint8_t byte = blk[2 + (j % 16)];
          deq = d * ((j < 16 ? (byte & 0xF) : (byte >> 4)) - 8);
        }
        QVERIFY(std::abs(deq - x[b * 32 + j]) <= (q8 ? 0.5 : 1.0) * std::abs(d) + 1e-3 * amax);
      }
    }
  }
  // Wrong value count and an unwritable type.
  QCOMPARE(w.add_tensor_f32("short", TensorType::F32, {64, 2}, std::span(x).first(100)).code(),
           StatusCode::InvalidArgument);
  auto k = w.add_tensor_f32("k", TensorType::IQ2_XXS, {256}, std::vector<float>(256, 1.0f));
  QVERIFY(!k.is_ok());
  QVERIFY(k.message().find("'k'") != std::string::npos);
}

void TestGgufWriter::add_tensor_validation() {
  GgufWriter w;
  const std::vector<uint8_t> b16(16);
  auto expect = [](emoe::Status s, const char* needle) {
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY2(s.message().find(needle) != std::string::npos, s.message().c_str());
  };
  QVERIFY(w.add_tensor("ok", TensorType::F32, {4}, b16).is_ok());
  expect(w.add_tensor("ok", TensorType::F32, {4}, b16), "already");
  expect(w.add_tensor("len", TensorType::F32, {5}, b16), "16 bytes");
  expect(w.add_tensor("blk", TensorType::Q8_0, {16}, b16), "block size");
  expect(w.add_tensor("dims0", TensorType::F32, {}, b16), "dimensions");
  expect(w.add_tensor("dims5", TensorType::F32, {1, 1, 1, 1, 4}, b16), "dimensions");
  expect(w.add_tensor("neg", TensorType::F32, {4, -1}, b16), "negative");
  expect(w.add_tensor("ovf", TensorType::F32, {1ll << 62, 1ll << 62}, b16), "overflow");
  expect(w.add_tensor("type", static_cast<TensorType>(5), {4}, b16), "type");
  expect(w.add_tensor(std::string(64, 'n'), TensorType::F32, {4}, b16), "longer");
  // Nothing refused was added.
  auto r = GgufFile::from_bytes(w.to_bytes());
  QVERIFY(r.ok());
  QCOMPARE((*r)->tensors().size(), size_t{1});
}

void TestGgufWriter::custom_alignment_data() {
  QTest::addColumn<uint32_t>("alignment");
  QTest::newRow("1") << 1u;
  QTest::newRow("8") << 8u;
  QTest::newRow("64") << 64u;
  QTest::newRow("4096") << 4096u;
}

void TestGgufWriter::custom_alignment() {
  QFETCH(uint32_t, alignment);
  GgufWriter w;
  w.set("general.alignment", Value::u32(alignment));
  const std::vector<uint8_t> a(6, 1), b(10, 2), c(4, 3);
  QVERIFY(w.add_tensor("a", TensorType::I8, {6}, a).is_ok());
  QVERIFY(w.add_tensor("b", TensorType::I16, {5}, b).is_ok());
  QVERIFY(w.add_tensor("c", TensorType::F32, {1}, c).is_ok());
  const std::vector<uint8_t> bytes = w.to_bytes();
  auto r = GgufFile::from_bytes(bytes);
  QVERIFY2(r.ok(), r.status().message().c_str());
  const GgufFile& f = **r;
  QCOMPARE(f.alignment(), uint64_t{alignment});
  QCOMPARE(f.data_offset() % alignment, uint64_t{0});
  // Offsets as the spec's padding rule gives them, computed here independently.
  auto up = [&](uint64_t x) { return (x + alignment - 1) / alignment * alignment; };
  QCOMPARE(f.tensors()[0].offset, uint64_t{0});
  QCOMPARE(f.tensors()[1].offset, up(6));
  QCOMPARE(f.tensors()[2].offset, up(up(6) + 10));
  QCOMPARE(f.file_size(), f.data_offset() + up(up(up(6) + 10) + 4));
  QVERIFY(std::memcmp(f.tensors()[1].data, b.data(), 10) == 0);
  QVERIFY(std::memcmp(f.tensors()[2].data, c.data(), 4) == 0);
}

void TestGgufWriter::write_file_atomically() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const QString path = dir.path() + "/m.gguf";
  GgufWriter w;
  w.set("general.name", Value::string("first"));
  std::vector<float> big(100000, 1.5f);
  QVERIFY(w.add_tensor_f32("t", TensorType::F32, {100000}, big).is_ok());
  QVERIFY(w.write(path.toStdString()).is_ok());
  QCOMPARE(read_all(path), w.to_bytes());

  GgufWriter w2;
  w2.set("general.name", Value::string("second"));
  QVERIFY(w2.write(path.toStdString()).is_ok());  // replaces the old file
  auto r = GgufFile::open(path.toStdString());
  QVERIFY(r.ok());
  QCOMPARE(*(*r)->get_string("general.name"), std::string("second"));
  QVERIFY((*r)->tensors().empty());
  // No temporary files are left behind.
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"m.gguf"});
  QVERIFY(QFileInfo(path).permissions() & QFileDevice::ReadOther);
}

void TestGgufWriter::write_errors() {
  GgufWriter w;
  w.set("k", Value::u8(1));
  QTemporaryDir dir;
  // A directory that does not exist.
  const std::string missing = (dir.path() + "/no/such/dir/m.gguf").toStdString();
  emoe::Status s = w.write(missing);
  QCOMPARE(s.code(), StatusCode::IoError);
  QVERIFY2(s.message().find(missing) != std::string::npos, s.message().c_str());
  // The target is a directory: the rename fails and the temporary file is removed.
  QVERIFY(QDir(dir.path()).mkdir("sub"));
  const std::string sub = (dir.path() + "/sub").toStdString();
  s = w.write(sub);
  QCOMPARE(s.code(), StatusCode::IoError);
  QVERIFY(s.message().find(sub) != std::string::npos);
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{});
  // A path under a regular file.
  const QString file = dir.path() + "/plain";
  QVERIFY(w.write(file.toStdString()).is_ok());
  QCOMPARE(w.write((file + "/x.gguf").toStdString()).code(), StatusCode::IoError);
  // Invalid general.alignment is refused before anything is written.
  for (const Value& bad : {Value::u32(0), Value::u32(3), Value::u64(32), Value::string("32")}) {
    GgufWriter wa;
    wa.set("general.alignment", bad);
    const QString p = dir.path() + "/align.gguf";
    s = wa.write(p.toStdString());
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY(s.message().find("general.alignment") != std::string::npos);
    QVERIFY(!QFileInfo::exists(p));
  }
#ifdef NDEBUG
  // An array whose items disagree with its element type (Value::array asserts in debug).
  GgufWriter wm;
  wm.set("mixed", Value::array(ValueType::UInt8, {Value::u8(1), Value::string("x")}));
  s = wm.write((dir.path() + "/mixed.gguf").toStdString());
  QCOMPARE(s.code(), StatusCode::InvalidArgument);
  QVERIFY(s.message().find("mixed") != std::string::npos);
#endif
}

QTEST_GUILESS_MAIN(TestGgufWriter)
#include "test_gguf_writer.moc"
