#include "core/common/json_reader.h"

#include <charconv>
#include <cmath>
#include <unordered_set>

#include "core/common/utf8.h"

namespace emoe {

const JsonValue* JsonValue::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const Member& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

const char* JsonValue::type_name(Type t) {
  switch (t) {
    case Type::Null:
      return "null";
    case Type::Bool:
      return "boolean";
    case Type::Number:
      return "number";
    case Type::String:
      return "string";
    case Type::Array:
      return "array";
    case Type::Object:
      return "object";
  }
  return "?";
}

class JsonParser {
 public:
  JsonParser(std::string_view text, const JsonParseOptions& options)
      : s_(text), max_depth_(options.max_depth), max_values_(options.max_values) {}

  bool parse_document(JsonValue& out) {
    skip_ws();
    if (!parse_value(out, 0)) return false;
    skip_ws();
    if (i_ != s_.size()) return fail("unexpected data after the JSON value");
    return true;
  }

  size_t error_offset() const { return err_offset_; }
  const std::string& problem() const { return problem_; }

 private:
  bool fail(std::string problem) { return fail_at(i_, std::move(problem)); }
  bool fail_at(size_t offset, std::string problem) {
    if (problem_.empty()) {
      err_offset_ = offset;
      problem_ = std::move(problem);
    }
    return false;
  }

  bool at_end() const { return i_ >= s_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(s_[i_]); }

  void skip_ws() {
    while (!at_end()) {
      const char c = s_[i_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++i_;
      // Strings cannot hold a raw newline, so whitespace is the only place lines end.
      if (c == '\n') {
        ++line_;
        line_start_ = i_;
      }
    }
  }

  static std::string describe(unsigned char c) {
    if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  bool expect_literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) {
      return fail("invalid literal (expected '" + std::string(word) + "')");
    }
    i_ += word.size();
    return true;
  }

  bool parse_value(JsonValue& out, int depth) {
    if (at_end()) return fail("unexpected end of input, expected a value");
    if (++values_ > max_values_) {
      return fail("more than " + std::to_string(max_values_) + " values in the document");
    }
    out.line_ = line_;
    out.column_ = i_ - line_start_ + 1;
    const unsigned char c = peek();
    switch (c) {
      case '{':
        return parse_object(out, depth + 1);
      case '[':
        return parse_array(out, depth + 1);
      case '"':
        out.type_ = JsonValue::Type::String;
        return parse_string(out.string_);
      case 't':
        out.type_ = JsonValue::Type::Bool;
        out.bool_ = true;
        return expect_literal("true");
      case 'f':
        out.type_ = JsonValue::Type::Bool;
        out.bool_ = false;
        return expect_literal("false");
      case 'n':
        out.type_ = JsonValue::Type::Null;
        return expect_literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
        return fail("unexpected " + describe(c) + ", expected a value");
    }
  }

  bool enter(int depth) {
    if (depth > max_depth_) {
      return fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
    return true;
  }

  bool parse_array(JsonValue& out, int depth) {
    if (!enter(depth)) return false;
    out.type_ = JsonValue::Type::Array;
    ++i_;  // '['
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++i_;
      return true;
    }
    while (true) {
      skip_ws();
      out.items_.emplace_back();
      if (!parse_value(out.items_.back(), depth)) return false;
      skip_ws();
      if (at_end()) return fail("unexpected end of input in an array, expected ',' or ']'");
      const unsigned char c = peek();
      if (c == ']') {
        ++i_;
        return true;
      }
      if (c != ',') return fail("unexpected " + describe(c) + " in an array, expected ',' or ']'");
      ++i_;
      skip_ws();
      if (!at_end() && peek() == ']') return fail("trailing comma in an array");
    }
  }

  bool parse_object(JsonValue& out, int depth) {
    if (!enter(depth)) return false;
    out.type_ = JsonValue::Type::Object;
    ++i_;  // '{'
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++i_;
      return true;
    }
    // Duplicate keys: a linear scan for the usual small objects, a set beyond that.
    constexpr size_t kLinear = 16;
    std::unordered_set<std::string> seen;
    while (true) {
      skip_ws();
      if (at_end()) return fail("unexpected end of input in an object, expected a key");
      if (peek() != '"') {
        return fail("unexpected " + describe(peek()) + " in an object, expected a string key");
      }
      const size_t key_offset = i_;
      std::string key;
      if (!parse_string(key)) return false;
      bool duplicate = false;
      if (out.members_.size() < kLinear) {
        for (const auto& m : out.members_) duplicate = duplicate || m.first == key;
      } else {
        if (seen.empty()) {
          for (const auto& m : out.members_) seen.insert(m.first);
        }
        duplicate = !seen.insert(key).second;
      }
      if (duplicate) return fail_at(key_offset, "duplicate key " + key_for_message(key));
      skip_ws();
      if (at_end() || peek() != ':') {
        return fail(at_end() ? "unexpected end of input, expected ':'"
                             : "unexpected " + describe(peek()) + ", expected ':'");
      }
      ++i_;
      skip_ws();
      out.members_.emplace_back(std::move(key), JsonValue{});
      if (!parse_value(out.members_.back().second, depth)) return false;
      skip_ws();
      if (at_end()) return fail("unexpected end of input in an object, expected ',' or '}'");
      const unsigned char c = peek();
      if (c == '}') {
        ++i_;
        return true;
      }
      if (c != ',') {
        return fail("unexpected " + describe(c) + " in an object, expected ',' or '}'");
      }
      ++i_;
      skip_ws();
      if (!at_end() && peek() == '}') return fail("trailing comma in an object");
    }
  }

  static std::string key_for_message(const std::string& key) {
    std::string k = key.size() > 40 ? key.substr(0, 40) + "..." : key;
    return "\"" + k + "\"";
  }

  int hex4(size_t at) const {
    if (at + 4 > s_.size()) return -1;
    int v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = s_[at + k];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return -1;
      }
      v = v * 16 + d;
    }
    return v;
  }

  bool parse_string(std::string& out) {
    const size_t start = i_;
    ++i_;  // '"'
    while (true) {
      if (at_end()) return fail_at(start, "unterminated string");
      const unsigned char c = peek();
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return fail("unescaped control character " + describe(c) + " in a string");
      if (c == '\\') {
        if (!parse_escape(out)) return false;
        continue;
      }
      if (c < 0x80) {
        // Copy the run of plain ASCII at once.
        size_t j = i_ + 1;
        while (j < s_.size()) {
          const unsigned char d = static_cast<unsigned char>(s_[j]);
          if (d == '"' || d == '\\' || d < 0x20 || d >= 0x80) break;
          ++j;
        }
        out.append(s_.substr(i_, j - i_));
        i_ = j;
        continue;
      }
      const size_t n = utf8_valid_length(s_, i_);
      if (n == 0) return fail("invalid UTF-8 in a string");
      out.append(s_.substr(i_, n));
      i_ += n;
    }
  }

  bool parse_escape(std::string& out) {
    const size_t at = i_;
    if (i_ + 1 >= s_.size()) return fail_at(at, "unterminated escape sequence");
    const char e = s_[i_ + 1];
    i_ += 2;
    switch (e) {
      case '"':
        out += '"';
        return true;
      case '\\':
        out += '\\';
        return true;
      case '/':
        out += '/';
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        return fail_at(
            at, "invalid escape sequence '\\" +
                    (static_cast<unsigned char>(e) >= 0x20 && static_cast<unsigned char>(e) < 0x7f
                         ? std::string(1, e)
                         : describe(static_cast<unsigned char>(e))) +
                    "'");
    }
    const int u = hex4(i_);
    if (u < 0) return fail_at(at, "invalid \\u escape (expected 4 hex digits)");
    i_ += 4;
    if (u >= 0xDC00 && u <= 0xDFFF) return fail_at(at, "lone low surrogate in \\u escape");
    if (u >= 0xD800 && u <= 0xDBFF) {
      // A high surrogate must be followed by an escaped low surrogate.
      if (i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
        const int lo = hex4(i_ + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          i_ += 6;
          append_utf8(0x10000 + ((static_cast<uint32_t>(u) - 0xD800) << 10) +
                          (static_cast<uint32_t>(lo) - 0xDC00),
                      out);
          return true;
        }
      }
      return fail_at(at, "lone high surrogate in \\u escape");
    }
    append_utf8(static_cast<uint32_t>(u), out);
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool parse_number(JsonValue& out) {
    const size_t start = i_;
    size_t j = i_;
    if (s_[j] == '-') ++j;
    if (j >= s_.size() || !digit(s_[j])) return fail_at(j, "invalid number (expected a digit)");
    if (s_[j] == '0') {
      ++j;
      if (j < s_.size() && digit(s_[j])) return fail_at(j, "invalid number (leading zero)");
    } else {
      while (j < s_.size() && digit(s_[j])) ++j;
    }
    bool integral = true;
    if (j < s_.size() && s_[j] == '.') {
      integral = false;
      ++j;
      if (j >= s_.size() || !digit(s_[j])) {
        return fail_at(j, "invalid number (expected a digit after '.')");
      }
      while (j < s_.size() && digit(s_[j])) ++j;
    }
    if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
      integral = false;
      ++j;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) ++j;
      if (j >= s_.size() || !digit(s_[j])) {
        return fail_at(j, "invalid number (expected a digit in the exponent)");
      }
      while (j < s_.size() && digit(s_[j])) ++j;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + j;
    out.type_ = JsonValue::Type::Number;
    // from_chars: locale-independent, unlike strtod.
    double d = 0;
    const auto rd = std::from_chars(first, last, d);
    if (rd.ec == std::errc::result_out_of_range) {
      // Underflow becomes zero, overflow has no double: tell them apart by the decimal
      // magnitude (position of the first significant digit plus the exponent).
      const std::string_view lit(first, static_cast<size_t>(last - first));
      const size_t e = lit.find_first_of("eE");
      const std::string_view mant = lit.substr(0, e);
      int64_t magnitude = 0;
      const size_t dot = mant.find('.');
      const std::string_view ip = mant.substr(mant[0] == '-' ? 1 : 0, dot - (mant[0] == '-'));
      const size_t nz = ip.find_first_not_of('0');
      if (nz != std::string_view::npos) {
        magnitude = static_cast<int64_t>(ip.size() - nz);
      } else if (dot != std::string_view::npos) {
        const size_t fz = mant.find_first_not_of('0', dot + 1);
        magnitude =
            -static_cast<int64_t>((fz == std::string_view::npos ? mant.size() : fz) - (dot + 1));
      }
      if (e != std::string_view::npos) {
        int64_t ev = 0;
        const std::string_view es = lit.substr(e + 1);
        const bool neg = !es.empty() && es[0] == '-';
        for (char c : es) {
          if (digit(c) && ev < 1000000) ev = ev * 10 + (c - '0');
        }
        magnitude += neg ? -ev : ev;
      }
      const bool tiny = magnitude <= 0;
      if (!tiny) return fail_at(start, "number out of range");
      d = 0;
    } else if (rd.ec != std::errc() || rd.ptr != last) {
      return fail_at(start, "invalid number");
    }
    out.number_ = d;
    if (integral) {
      int64_t v = 0;
      const auto ri = std::from_chars(first, last, v);
      if (ri.ec == std::errc() && ri.ptr == last) {
        out.is_integer_ = true;
        out.integer_ = v;
      }
    }
    i_ = j;
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  size_t line_ = 1;        // of position i_, 1-based
  size_t line_start_ = 0;  // offset of the first byte of that line
  int max_depth_;
  size_t max_values_;
  size_t values_ = 0;
  size_t err_offset_ = 0;
  std::string problem_;
};

Result<JsonValue> parse_json(std::string_view text, const JsonParseOptions& options,
                             JsonError* error) {
  JsonParser p(text, options);
  JsonValue v;
  if (p.parse_document(v)) return v;
  JsonError e;
  e.offset = p.error_offset();
  e.problem = p.problem();
  size_t line_start = 0;
  for (size_t k = 0; k < e.offset && k < text.size(); ++k) {
    if (text[k] == '\n') {
      ++e.line;
      line_start = k + 1;
    }
  }
  e.column = e.offset - line_start + 1;
  std::string where = "column " + std::to_string(e.column);
  if (text.find('\n') != std::string_view::npos) {
    where = "line " + std::to_string(e.line) + ", " + where;
  }
  Status s = corrupt(where + ": " + e.problem);
  if (error) *error = std::move(e);
  return s;
}

bool is_valid_json(std::string_view text, const JsonParseOptions& options) {
  return parse_json(text, options).ok();
}

}  // namespace emoe
