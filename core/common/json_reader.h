// A small strict JSON parser (RFC 8259) for files other programs or users write: routing traces,
// the JSON columns of the store, experiment configurations. Strict means: no comments, no trailing
// commas, no NaN, no leading zeros, no duplicate object keys, strings must be valid UTF-8 (raw or
// escaped; a lone surrogate escape is an error), and only the four JSON whitespace characters.
// Nesting is limited so a hostile document cannot exhaust the stack. Errors say where: a 1-based
// byte column (and line, when the text has several).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/status.h"

namespace emoe {

class JsonValue {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }
  // A number written without fraction or exponent whose value fits in int64_t.
  bool is_integer() const { return type_ == Type::Number && is_integer_; }

  bool as_bool() const { return bool_; }
  double as_double() const { return number_; }              // also set for integers
  int64_t as_int() const { return integer_; }               // valid when is_integer()
  const std::string& as_string() const { return string_; }  // UTF-8, escapes resolved
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }  // in document order

  // The member named key of an object, nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const;

  // Where the value starts in the parsed text (its first byte: the quote, bracket, digit or
  // letter), 1-based line and byte column, so callers that validate the contents can point the
  // user at the offending line. 0 for values not made by parse_json.
  size_t line() const { return line_; }
  size_t column() const { return column_; }

  static const char* type_name(Type t);  // "null", "boolean", "number", ...

 private:
  friend class JsonParser;
  Type type_ = Type::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  size_t line_ = 0;
  size_t column_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

struct JsonParseOptions {
  int max_depth = 128;  // arrays and objects open at once
  // Values (scalars, arrays, objects) in the document: each costs about 100 bytes of tree, so
  // this bounds what a hostile document of small values can allocate.
  size_t max_values = size_t{1} << 24;
};

// Where and why a parse failed; offset is 0-based, line and column 1-based (bytes).
struct JsonError {
  size_t offset = 0;
  size_t line = 1;
  size_t column = 1;
  std::string problem;
};

// Parses exactly one JSON value (surrounding whitespace allowed). On failure the Status is
// Corrupt with "column C: problem" ("line L, column C: problem" for multi-line text), and
// *error, when given, gets the parts.
Result<JsonValue> parse_json(std::string_view text, const JsonParseOptions& options = {},
                             JsonError* error = nullptr);

// Whether text is one valid JSON document (same rules as parse_json).
bool is_valid_json(std::string_view text, const JsonParseOptions& options = {});

}  // namespace emoe
