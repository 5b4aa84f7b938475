// Test helper: writes GGUF bytes by hand, straight from the spec (docs/gguf.md in ggml), with
// no use of GgufWriter, so reader and writer tests have an independent encoder, and so a test
// can put any (also invalid) value in any field and knows where each field lies.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace emoe::gguf::testing {

class Bytes {
 public:
  std::vector<uint8_t> b;

  size_t size() const { return b.size(); }

  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u16(uint16_t v) { return raw(&v, 2); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& i8(int8_t v) { return raw(&v, 1); }
  Bytes& i16(int16_t v) { return raw(&v, 2); }
  Bytes& i32(int32_t v) { return raw(&v, 4); }
  Bytes& i64(int64_t v) { return raw(&v, 8); }
  Bytes& f32(float v) { return raw(&v, 4); }
  Bytes& f64(double v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  Bytes& pad(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }

  // "GGUF", version, n_tensors, n_kv
  Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    raw("GGUF", 4);
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  // A key with its value type; the caller appends the value.
  Bytes& key(const std::string& k, uint32_t type) {
    str(k);
    return u32(type);
  }
  Bytes& tensor_info(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
                     uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    u32(type);
    return u64(offset);
  }

  // Overwrites bytes at `at` (for patching a field of a valid file).
  template <typename T>
  static void patch(std::vector<uint8_t>& v, size_t at, T value) {
    std::memcpy(v.data() + at, &value, sizeof(T));
  }
};

// GGUF value type ids, spelled out here instead of taken from gguf_value.h.
enum : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kStr = 8,
  kArr = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
// ggml type ids used by the tests.
enum : uint32_t { kTF32 = 0, kTF16 = 1, kTQ4_0 = 2, kTQ8_0 = 8, kTQ4_K = 12 };

}  // namespace emoe::gguf::testing
