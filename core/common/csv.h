// CSV as every export writes it (sessions, experiments, report tables).
#pragma once

#include <string>
#include <string_view>

namespace emoe {

// RFC 4180 field quoting: quoted when it holds a comma, quote, CR or LF; quotes doubled.
inline std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace emoe
