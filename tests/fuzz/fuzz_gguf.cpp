// libFuzzer target for the GGUF reader: parses the input as a GGUF file and, when it is
// accepted, touches every value and every tensor byte and checks the invariants the rest of
// the engine relies on. A violated invariant aborts, so libFuzzer reports it like a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/gguf/gguf_file.h"

namespace {

using emoe::gguf::GgufFile;
using emoe::gguf::TensorInfo;
using emoe::gguf::Value;
using emoe::gguf::ValueType;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "GGUF invariant violated: %s\n", what);
    std::abort();
  }
}

uint64_t touch(const Value& v) {
  uint64_t h = v.to_display_string(4).size();
  h += v.as_uint().value_or(1) + static_cast<uint64_t>(v.as_int().value_or(2));
  h += static_cast<uint64_t>(v.as_double().has_value()) + v.as_bool().value_or(false);
  if (const std::string* s = v.as_string()) h += s->size();
  if (const Value::Array* a = v.as_array()) {
    for (const Value& item : *a) {
      require(item.type() == v.elem_type(), "array item type differs from element type");
      h += touch(item);
    }
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = GgufFile::from_bytes(std::span<const uint8_t>(data, size));
  if (!r.ok()) {
    require(!r.status().message().empty(), "error without a message");
    return 0;
  }
  const GgufFile& f = **r;
  const uint64_t a = f.alignment();
  require(a != 0 && (a & (a - 1)) == 0, "alignment is a power of two");
  require(f.data_offset() % a == 0, "data section aligned");
  require(f.file_size() == size, "file size");

  volatile uint64_t sink = 0;
  for (const auto& [key, v] : f.metadata()) {
    require(f.find(key) == &v, "keys are unique and findable");
    sink = sink + touch(v);
    // Every typed getter must answer (a value or a Status) for every key.
    sink = sink + f.get_uint(key).ok() + f.get_int(key).ok() + f.get_float(key).ok() +
           f.get_bool(key).ok() + f.get_string(key).ok() + f.get_string_array(key).ok() +
           f.get_float_array(key).ok() + f.get_int_array(key).ok();
  }
  for (const TensorInfo& t : f.tensors()) {
    const emoe::kernels::TypeTraits* tr = emoe::kernels::type_traits(t.type);
    require(tr != nullptr, "known type");
    require(!t.ne.empty() && t.ne.size() <= 4, "1..4 dims");
    require(t.ne[0] % tr->block_size == 0, "ne[0] multiple of the block size");
    require(t.offset % a == 0, "tensor offset aligned");
    require(f.data_offset() + t.offset + t.n_bytes <= f.file_size(), "data inside the file");
    require(t.data == f.bytes().data() + f.data_offset() + t.offset, "data pointer");
    require(f.find_tensor(t.name) == &t, "tensor names unique and findable");
    // Reading every byte lets AddressSanitizer check the range really lies in the buffer.
    uint64_t s = 0;
    for (uint64_t i = 0; i < t.n_bytes; ++i) s += t.data[i];
    sink = sink + s;
  }
  return 0;
}
