// A GGUF metadata value: any scalar type, a string, or an array (arrays may nest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace emoe::gguf {

// GGUF's gguf_metadata_value_type ids.
enum class ValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};
std::string_view value_type_name(ValueType t);

class Value {
 public:
  using Array = std::vector<Value>;

  Value() = default;
  static Value u8(uint8_t v) { return Value(ValueType::UInt8, uint64_t{v}); }
  static Value i8(int8_t v) { return Value(ValueType::Int8, int64_t{v}); }
  static Value u16(uint16_t v) { return Value(ValueType::UInt16, uint64_t{v}); }
  static Value i16(int16_t v) { return Value(ValueType::Int16, int64_t{v}); }
  static Value u32(uint32_t v) { return Value(ValueType::UInt32, uint64_t{v}); }
  static Value i32(int32_t v) { return Value(ValueType::Int32, int64_t{v}); }
  static Value u64(uint64_t v) { return Value(ValueType::UInt64, v); }
  static Value i64(int64_t v) { return Value(ValueType::Int64, v); }
  static Value f32(float v) { return Value(ValueType::Float32, double{v}); }
  static Value f64(double v) { return Value(ValueType::Float64, v); }
  static Value boolean(bool v) { return Value(ValueType::Bool, v); }
  static Value string(std::string v) { return Value(ValueType::String, std::move(v)); }
  // elem_type is kept even for an empty array, since GGUF stores it.
  static Value array(ValueType elem_type, Array items);

  ValueType type() const { return type_; }
  ValueType elem_type() const { return elem_type_; }  // arrays only

  // Numeric views; nullopt when the type does not fit (e.g. negative as unsigned, string).
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_double() const;  // any integer or float
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  std::string to_display_string(size_t max_items = 8) const;  // for `emoe info`

 private:
  template <typename T>
  Value(ValueType t, T v) : type_(t), v_(std::move(v)) {}

  ValueType type_ = ValueType::UInt8;
  ValueType elem_type_ = ValueType::UInt8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v_{uint64_t{0}};
};

}  // namespace emoe::gguf
