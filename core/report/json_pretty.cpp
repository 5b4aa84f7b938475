#include "core/report/json_pretty.h"

#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "core/report/plot_layout.h"

namespace emoe::report {

namespace {

bool is_scalar(const JsonValue& v) { return !v.is_array() && !v.is_object(); }

void write(const JsonValue& v, int depth, std::string& out) {
  const std::string indent(static_cast<size_t>(depth + 1) * 2, ' ');
  const std::string closing(static_cast<size_t>(depth) * 2, ' ');
  switch (v.type()) {
    case JsonValue::Type::Null:
      out += "null";
      return;
    case JsonValue::Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case JsonValue::Type::Number:
      out += v.is_integer() ? std::to_string(v.as_int()) : format_shortest(v.as_double());
      return;
    case JsonValue::Type::String:
      out += JsonWriter::escape(v.as_string());
      return;
    case JsonValue::Type::Array: {
      bool scalars = true;
      for (const JsonValue& item : v.items()) scalars = scalars && is_scalar(item);
      if (v.items().empty() || scalars) {
        out += '[';
        for (size_t i = 0; i < v.items().size(); ++i) {
          if (i > 0) out += ", ";
          write(v.items()[i], depth + 1, out);
        }
        out += ']';
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < v.items().size(); ++i) {
        out += indent;
        write(v.items()[i], depth + 1, out);
        out += i + 1 < v.items().size() ? ",\n" : "\n";
      }
      out += closing + "]";
      return;
    }
    case JsonValue::Type::Object: {
      if (v.members().empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      for (size_t i = 0; i < v.members().size(); ++i) {
        out += indent + JsonWriter::escape(v.members()[i].first) + ": ";
        write(v.members()[i].second, depth + 1, out);
        out += i + 1 < v.members().size() ? ",\n" : "\n";
      }
      out += closing + "}";
      return;
    }
  }
}

}  // namespace

std::string pretty_json(std::string_view json) {
  Result<JsonValue> parsed = parse_json(json);
  if (!parsed.ok()) return std::string(json);
  std::string out;
  write(*parsed, 0, out);
  out += '\n';
  return out;
}

}  // namespace emoe::report
