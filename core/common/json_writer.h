// A small streaming JSON writer (objects, arrays, strings with escaping, numbers) for the CLI's
// --json outputs and later exports. Commas are inserted automatically.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace emoe {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(double d);  // non-finite values become null
  JsonWriter& value(int64_t i);
  JsonWriter& value(int32_t i) { return value(static_cast<int64_t>(i)); }
  JsonWriter& value(uint64_t u);
  JsonWriter& value(bool b);
  JsonWriter& null();
  // Inserts text that is already one JSON value (the caller guarantees it is valid).
  JsonWriter& raw(std::string_view json);
  template <typename T>
  JsonWriter& array(std::span<const T> values) {
    begin_array();
    for (const T& v : values) value(v);
    return end_array();
  }
  template <typename T>
  JsonWriter& array(const std::vector<T>& values) {
    return array(std::span<const T>(values));
  }

  const std::string& str() const { return out_; }

  static std::string escape(std::string_view s);  // with the surrounding quotes

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace emoe
