#include "core/gguf/gguf_value.h"

#include <cassert>
#include <charconv>
#include <limits>

namespace emoe::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UInt8:
      return "uint8";
    case ValueType::Int8:
      return "int8";
    case ValueType::UInt16:
      return "uint16";
    case ValueType::Int16:
      return "int16";
    case ValueType::UInt32:
      return "uint32";
    case ValueType::Int32:
      return "int32";
    case ValueType::Float32:
      return "float32";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::Array:
      return "array";
    case ValueType::UInt64:
      return "uint64";
    case ValueType::Int64:
      return "int64";
    case ValueType::Float64:
      return "float64";
  }
  return "unknown";
}

Value Value::array(ValueType elem_type, Array items) {
#ifndef NDEBUG
  // A mixed array cannot be stored in GGUF; building one is a programmer error.
  for (const Value& v : items) assert(v.type() == elem_type);
#endif
  Value v(ValueType::Array, std::move(items));
  v.elem_type_ = elem_type;
  return v;
}

std::optional<uint64_t> Value::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&v_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v_)) {
    if (*i >= 0) return static_cast<uint64_t>(*i);
  }
  return std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v_)) {
    if (*u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(*u);
    }
  }
  return std::nullopt;
}

std::optional<double> Value::as_double() const {
  if (const auto* d = std::get_if<double>(&v_)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v_)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const { return std::get_if<std::string>(&v_); }

const Value::Array* Value::as_array() const { return std::get_if<Array>(&v_); }

namespace {

// Long strings (chat templates, merges) are cut so `emoe info` stays readable; the cut backs
// up to a UTF-8 character boundary so the output stays valid text.
constexpr size_t kMaxDisplayStringBytes = 256;

void append_quoted(std::string& out, const std::string& s) {
  size_t n = s.size();
  if (n > kMaxDisplayStringBytes) {
    n = kMaxDisplayStringBytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  }
  out += '"';
  for (size_t i = 0; i < n; ++i) {
    const char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
          out += kHex[static_cast<unsigned char>(c) & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
}

template <typename T>
void append_shortest(std::string& out, T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_display(std::string& out, const Value& v, size_t max_items) {
  switch (v.type()) {
    case ValueType::UInt8:
    case ValueType::UInt16:
    case ValueType::UInt32:
    case ValueType::UInt64:
      out += std::to_string(*v.as_uint());
      break;
    case ValueType::Int8:
    case ValueType::Int16:
    case ValueType::Int32:
    case ValueType::Int64:
      out += std::to_string(*v.as_int());
      break;
    // A float32 is printed as the shortest text that reads back as the same float32.
    case ValueType::Float32:
      append_shortest(out, static_cast<float>(*v.as_double()));
      break;
    case ValueType::Float64:
      append_shortest(out, *v.as_double());
      break;
    case ValueType::Bool:
      out += *v.as_bool() ? "true" : "false";
      break;
    case ValueType::String:
      append_quoted(out, *v.as_string());
      break;
    case ValueType::Array: {
      const Value::Array& items = *v.as_array();
      out += '[';
      const size_t shown = items.size() < max_items ? items.size() : max_items;
      for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        append_display(out, items[i], max_items);
      }
      if (shown < items.size()) {
        out += shown ? ", ... (" : "... (";
        out += std::to_string(items.size()) + " items of " +
               std::string(value_type_name(v.elem_type())) + ")";
      }
      out += ']';
      break;
    }
  }
}

}  // namespace

std::string Value::to_display_string(size_t max_items) const {
  std::string out;
  append_display(out, *this, max_items);
  return out;
}

}  // namespace emoe::gguf
