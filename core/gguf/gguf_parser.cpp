#include "core/gguf/gguf_parser.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace emoe::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}
bool checked_add(uint64_t a, uint64_t b, uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

std::string at(uint64_t offset) { return " at offset " + std::to_string(offset); }

// The smallest encoding of one value of each type; a count is plausible only if that many
// minimal values fit in the bytes left, which bounds every allocation by the file size.
uint64_t min_value_bytes(uint32_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool:
      return 1;
    case ValueType::UInt16:
    case ValueType::Int16:
      return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32:
      return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64:
    case ValueType::String:
      return 8;  // uint64 length
    case ValueType::Array:
      return 4 + 8;  // element type + length
  }
  return 0;  // unknown
}

// key string length + value type + smallest value
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
// name length + n_dims + one dimension + type + offset
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

std::string known_type_list() {
  std::string s;
  for (uint32_t id = 0; id < 64; ++id) {
    const kernels::TypeTraits* t = kernels::type_traits(id);
    if (!t) continue;
    if (!s.empty()) s += ", ";
    s += std::string(t->name) + "=" + std::to_string(id);
  }
  return s;
}

class Reader {
 public:
  Reader(const uint8_t* p, uint64_t size) : p_(p), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status need(uint64_t n, const std::string& ctx, std::string_view what) const {
    if (n <= remaining()) return Status::ok();
    return corrupt(ctx + ": truncated: " + std::string(what) + " needs " + std::to_string(n) +
                   " bytes" + at(pos_) + " but the file ends at " + std::to_string(size_));
  }

  template <typename T>
  Status read(T& out, const std::string& ctx, std::string_view what) {
    EMOE_RETURN_IF_ERROR(need(sizeof(T), ctx, what));
    std::memcpy(&out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string& out, const std::string& ctx, std::string_view what) {
    uint64_t len = 0;
    const uint64_t start = pos_;
    EMOE_RETURN_IF_ERROR(read(len, ctx, std::string(what) + " length"));
    if (len > remaining()) {
      return corrupt(ctx + ": " + std::string(what) + " length " + std::to_string(len) + at(start) +
                     " exceeds the " + std::to_string(remaining()) + " bytes left in the file");
    }
    out.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status::ok();
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

class HeaderParser {
 public:
  HeaderParser(const uint8_t* p, uint64_t size) : r_(p, size), size_(size) {}

  Status parse_value(uint32_t type, int nesting, const std::string& ctx, Value& out) {
    const uint64_t start = r_.pos();
    switch (static_cast<ValueType>(type)) {
      case ValueType::UInt8:
        return scalar<uint8_t>(ctx, out, Value::u8);
      case ValueType::Int8:
        return scalar<int8_t>(ctx, out, Value::i8);
      case ValueType::UInt16:
        return scalar<uint16_t>(ctx, out, Value::u16);
      case ValueType::Int16:
        return scalar<int16_t>(ctx, out, Value::i16);
      case ValueType::UInt32:
        return scalar<uint32_t>(ctx, out, Value::u32);
      case ValueType::Int32:
        return scalar<int32_t>(ctx, out, Value::i32);
      case ValueType::UInt64:
        return scalar<uint64_t>(ctx, out, Value::u64);
      case ValueType::Int64:
        return scalar<int64_t>(ctx, out, Value::i64);
      case ValueType::Float32:
        return scalar<float>(ctx, out, Value::f32);
      case ValueType::Float64:
        return scalar<double>(ctx, out, Value::f64);
      case ValueType::Bool: {
        // gguf-py writes 0 or 1; anything else is a corrupt byte, and reading it into a C++
        // bool would be undefined behaviour, so it is refused rather than coerced.
        uint8_t b = 0;
        EMOE_RETURN_IF_ERROR(r_.read(b, ctx, "bool value"));
        if (b > 1) {
          return corrupt(ctx + ": bool value " + std::to_string(b) + at(start) +
                         " is neither 0 nor 1");
        }
        out = Value::boolean(b != 0);
        return Status::ok();
      }
      case ValueType::String: {
        std::string s;
        EMOE_RETURN_IF_ERROR(r_.read_string(s, ctx, "string"));
        out = Value::string(std::move(s));
        return Status::ok();
      }
      case ValueType::Array:
        return parse_array(nesting + 1, ctx, out);
    }
    return corrupt(ctx + ": unknown value type " + std::to_string(type) + at(start - 4) +
                   " (GGUF defines 0..12)");
  }

  Status parse(uint32_t& version, uint64_t& alignment,
               std::vector<std::pair<std::string, Value>>& metadata,
               std::vector<TensorInfo>& tensors, uint64_t& header_end);

 private:
  template <typename T, typename Make>
  Status scalar(const std::string& ctx, Value& out, Make make) {
    T v{};
    EMOE_RETURN_IF_ERROR(r_.read(v, ctx, "value"));
    out = make(v);
    return Status::ok();
  }

  Status parse_array(int nesting, const std::string& ctx, Value& out) {
    const uint64_t start = r_.pos();
    if (nesting > kMaxArrayNesting) {
      return corrupt(ctx + ": arrays nested deeper than " + std::to_string(kMaxArrayNesting) +
                     " levels" + at(start));
    }
    uint32_t elem = 0;
    uint64_t len = 0;
    EMOE_RETURN_IF_ERROR(r_.read(elem, ctx, "array element type"));
    const uint64_t min_bytes = min_value_bytes(elem);
    if (min_bytes == 0) {
      return corrupt(ctx + ": unknown array element type " + std::to_string(elem) + at(start) +
                     " (GGUF defines 0..12)");
    }
    EMOE_RETURN_IF_ERROR(r_.read(len, ctx, "array length"));
    if (len > r_.remaining() / min_bytes) {
      return corrupt(ctx + ": array length " + std::to_string(len) + at(start + 4) + " of " +
                     std::string(value_type_name(static_cast<ValueType>(elem))) +
                     " cannot fit in the " + std::to_string(r_.remaining()) +
                     " bytes left in the file");
    }
    if (len > value_budget_) {
      return out_of_memory(ctx + ": metadata holds more than " +
                           std::to_string(kMaxMetadataValues) + " values; refusing array of " +
                           std::to_string(len) + at(start + 4));
    }
    value_budget_ -= len;
    Value::Array items;
    items.reserve(static_cast<size_t>(len));
    for (uint64_t i = 0; i < len; ++i) {
      Value v;
      EMOE_RETURN_IF_ERROR(parse_value(elem, nesting, ctx, v));
      items.push_back(std::move(v));
    }
    out = Value::array(static_cast<ValueType>(elem), std::move(items));
    return Status::ok();
  }

  Status parse_tensor_info(uint64_t index, TensorInfo& t);

  Reader r_;
  uint64_t size_;
  uint64_t value_budget_ = kMaxMetadataValues;
};

Status check_alignment_key(const Value& v, uint64_t offset, uint64_t& alignment) {
  const std::string ctx = "key 'general.alignment'" + at(offset);
  if (v.type() != ValueType::UInt32) {
    return corrupt(ctx + ": has type " + std::string(value_type_name(v.type())) +
                   ", GGUF requires uint32");
  }
  const uint64_t a = *v.as_uint();
  if (a == 0 || (a & (a - 1)) != 0) {
    return corrupt(ctx + ": alignment " + std::to_string(a) + " is not a nonzero power of two");
  }
  alignment = a;
  return Status::ok();
}

Status HeaderParser::parse_tensor_info(uint64_t index, TensorInfo& t) {
  const uint64_t start = r_.pos();
  uint32_t n_dims = 0;
  std::string ctx = "tensor info #" + std::to_string(index) + at(start);
  EMOE_RETURN_IF_ERROR(r_.read_string(t.name, ctx, "tensor name"));
  ctx = "tensor '" + t.name + "'";
  const uint64_t dims_pos = r_.pos();
  EMOE_RETURN_IF_ERROR(r_.read(n_dims, ctx, "n_dims"));
  if (n_dims < 1 || n_dims > kMaxTensorDims) {
    return corrupt(ctx + ": n_dims " + std::to_string(n_dims) + at(dims_pos) + " is outside 1..4");
  }
  t.ne.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne_pos = r_.pos();
    uint64_t ne = 0;
    EMOE_RETURN_IF_ERROR(r_.read(ne, ctx, "ne"));
    if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return corrupt(ctx + ": ne[" + std::to_string(d) + "] = " + std::to_string(ne) + at(ne_pos) +
                     " is negative as int64");
    }
    t.ne[d] = static_cast<int64_t>(ne);
  }
  const uint64_t type_pos = r_.pos();
  uint32_t type_id = 0;
  EMOE_RETURN_IF_ERROR(r_.read(type_id, ctx, "type"));
  const kernels::TypeTraits* traits = kernels::type_traits(type_id);
  if (!traits) {
    return corrupt(ctx + ": unknown tensor type id " + std::to_string(type_id) + at(type_pos) +
                   "; known types: " + known_type_list());
  }
  t.type = traits->type;
  EMOE_RETURN_IF_ERROR(r_.read(t.offset, ctx, "data offset"));

  if (t.ne[0] % traits->block_size != 0) {
    return corrupt(ctx + ": ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                   std::string(traits->name) + " block size " + std::to_string(traits->block_size));
  }
  // Element count and byte size must both fit, the count in int64 as ggml requires.
  uint64_t n_elements = 1;
  uint64_t n_rows = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne = static_cast<uint64_t>(t.ne[d]);
    if (!checked_mul(n_elements, ne, n_elements) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      std::string shape;
      for (int64_t x : t.ne) shape += (shape.empty() ? "" : " x ") + std::to_string(x);
      return corrupt(ctx + ": element count of shape [" + shape + "] overflows int64");
    }
    if (d > 0) n_rows *= ne;  // cannot overflow: bounded by n_elements
  }
  t.n_elements = static_cast<int64_t>(n_elements);
  uint64_t row = 0;
  if (!checked_mul(static_cast<uint64_t>(t.ne[0] / traits->block_size),
                   static_cast<uint64_t>(traits->type_size), row) ||
      !checked_mul(row, n_rows, t.n_bytes)) {
    return corrupt(ctx + ": byte size overflows uint64");
  }
  return Status::ok();
}

Status HeaderParser::parse(uint32_t& version, uint64_t& alignment,
                           std::vector<std::pair<std::string, Value>>& metadata,
                           std::vector<TensorInfo>& tensors, uint64_t& header_end) {
  const std::string hdr = "GGUF header";
  if (size_ < 4) {
    return corrupt("not a GGUF file: " + std::to_string(size_) +
                   " bytes is too small for the magic");
  }
  char magic[4];
  EMOE_RETURN_IF_ERROR(r_.read(magic, hdr, "magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    std::string shown;
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : magic) {
      const auto u = static_cast<unsigned char>(c);
      shown += "\\x";
      shown += kHex[u >> 4];
      shown += kHex[u & 0xF];
    }
    return corrupt("not a GGUF file: magic at offset 0 is \"" + shown + "\", expected \"GGUF\"");
  }
  EMOE_RETURN_IF_ERROR(r_.read(version, hdr, "version"));
  if (version == 1) {
    return unsupported(
        "GGUF version 1 at offset 4 is not supported (only versions 2 and 3); re-convert the "
        "model with a current llama.cpp");
  }
  if (version == 0x02000000u || version == 0x03000000u) {
    return unsupported("big-endian GGUF (version bytes at offset 4 are byte-swapped) is not " +
                       std::string("supported"));
  }
  if (version != 2 && version != 3) {
    return unsupported("GGUF version " + std::to_string(version) +
                       " at offset 4 is not supported (only versions 2 and 3)");
  }
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  EMOE_RETURN_IF_ERROR(r_.read(n_tensors, hdr, "tensor count"));
  EMOE_RETURN_IF_ERROR(r_.read(n_kv, hdr, "metadata count"));
  if (n_kv > r_.remaining() / kMinKvBytes) {
    return corrupt("GGUF header: metadata count " + std::to_string(n_kv) + at(16) +
                   " cannot fit in the " + std::to_string(r_.remaining()) +
                   " bytes left in the file");
  }
  if (n_tensors > r_.remaining() / kMinTensorInfoBytes) {
    return corrupt("GGUF header: tensor count " + std::to_string(n_tensors) + at(8) +
                   " cannot fit in the " + std::to_string(r_.remaining()) +
                   " bytes left in the file");
  }

  metadata.reserve(static_cast<size_t>(n_kv));
  std::unordered_set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t start = r_.pos();
    std::string key;
    EMOE_RETURN_IF_ERROR(
        r_.read_string(key, "metadata entry #" + std::to_string(i) + at(start), "key"));
    const std::string ctx = "key '" + key + "'";
    if (!keys.insert(key).second) return corrupt("duplicate " + ctx + at(start));
    const uint64_t type_pos = r_.pos();
    uint32_t type = 0;
    EMOE_RETURN_IF_ERROR(r_.read(type, ctx, "value type"));
    Value v;
    if (min_value_bytes(type) == 0) {
      return corrupt(ctx + ": unknown value type " + std::to_string(type) + at(type_pos) +
                     " (GGUF defines 0..12)");
    }
    EMOE_RETURN_IF_ERROR(parse_value(type, 0, ctx, v));
    if (key == "general.alignment") EMOE_RETURN_IF_ERROR(check_alignment_key(v, start, alignment));
    metadata.emplace_back(std::move(key), std::move(v));
  }

  // Checked again now that the metadata's real size is known.
  if (n_tensors > r_.remaining() / kMinTensorInfoBytes) {
    return corrupt("GGUF header: tensor count " + std::to_string(n_tensors) + at(8) +
                   " cannot fit in the " + std::to_string(r_.remaining()) +
                   " bytes left after the metadata");
  }
  tensors.reserve(static_cast<size_t>(n_tensors));
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t start = r_.pos();
    TensorInfo t;
    EMOE_RETURN_IF_ERROR(parse_tensor_info(i, t));
    if (!names.insert(t.name).second) {
      return corrupt("duplicate tensor name '" + t.name + "'" + at(start));
    }
    tensors.push_back(std::move(t));
  }
  header_end = r_.pos();
  return Status::ok();
}

}  // namespace

Status GgufFile::Parser::run(GgufFile& f) {
  HeaderParser hp(f.base_, f.size_);
  uint64_t header_end = 0;
  f.alignment_ = kDefaultAlignment;
  EMOE_RETURN_IF_ERROR(hp.parse(f.version_, f.alignment_, f.metadata_, f.tensors_, header_end));

  const uint64_t a = f.alignment_;
  // header_end < file size <= 2^63 and a <= 2^31, so this cannot overflow.
  f.data_offset_ = (header_end + a - 1) / a * a;

  for (TensorInfo& t : f.tensors_) {
    const std::string ctx = "tensor '" + t.name + "'";
    if (t.offset % a != 0) {
      return corrupt(ctx + ": data offset " + std::to_string(t.offset) +
                     " is not a multiple of the alignment " + std::to_string(a));
    }
    uint64_t start = 0;
    uint64_t end = 0;
    if (!checked_add(f.data_offset_, t.offset, start) || !checked_add(start, t.n_bytes, end) ||
        end > f.size_) {
      return corrupt(ctx + ": data [offset " +
                     (start >= f.data_offset_
                          ? std::to_string(start)
                          : std::to_string(f.data_offset_) + " + " + std::to_string(t.offset)) +
                     ", " + std::to_string(t.n_bytes) + " bytes] extends past end of file (size " +
                     std::to_string(f.size_) + ")");
    }
    t.data = f.base_ + start;
  }

  // Two tensors sharing bytes is never produced by a writer and would let a write through one
  // view corrupt another, so overlapping data ranges are refused.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(f.tensors_.size());
  for (const TensorInfo& t : f.tensors_) {
    if (t.n_bytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* x, const TensorInfo* y) { return x->offset < y->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& p = *by_offset[i - 1];
    const TensorInfo& c = *by_offset[i];
    if (p.offset + p.n_bytes > c.offset) {
      return corrupt(
          "tensor '" + c.name + "': data [offset " + std::to_string(f.data_offset_ + c.offset) +
          ", " + std::to_string(c.n_bytes) + " bytes] overlaps tensor '" + p.name + "' [offset " +
          std::to_string(f.data_offset_ + p.offset) + ", " + std::to_string(p.n_bytes) + " bytes]");
    }
  }

  f.tensor_index_.reserve(f.tensors_.size());
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.tensor_index_.emplace(f.tensors_[i].name, i);
  return Status::ok();
}

}  // namespace emoe::gguf
