#include "core/report/text_encoding.h"

#include "core/common/utf8.h"

namespace emoe::report {

namespace {

constexpr uint32_t kReplacement = 0xFFFD;

// Windows-1252's 0x80-0x9F row; 0 marks the five unassigned bytes.
constexpr uint32_t kWinAnsiHigh[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

char winansi_byte(uint32_t cp) {
  if (cp >= 0x20 && cp <= 0x7E) return static_cast<char>(cp);
  if (cp >= 0xA0 && cp <= 0xFF) return static_cast<char>(cp);
  if (cp == 0x03BC) return static_cast<char>(0xB5);  // Greek mu: units like "us" read as µs
  for (uint32_t i = 0; i < 32; ++i) {
    if (kWinAnsiHigh[i] != 0 && kWinAnsiHigh[i] == cp) return static_cast<char>(0x80 + i);
  }
  return '?';
}

uint32_t decode_at(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (n == 1) return b(0);
  uint32_t cp = b(0) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(k) & 0x3F);
  return cp;
}

}  // namespace

std::vector<uint32_t> utf8_code_points(std::string_view utf8) {
  std::vector<uint32_t> out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    const size_t n = utf8_valid_length(utf8, i);
    if (n == 0) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    out.push_back(decode_at(utf8, i, n));
    i += n;
  }
  return out;
}

std::string xml_escape(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() + 16);
  for (uint32_t cp : utf8_code_points(utf8)) {
    switch (cp) {
      case '&':
        out += "&amp;";
        continue;
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '"':
        out += "&quot;";
        continue;
      case '\'':
        out += "&#39;";
        continue;
      default:
        break;
    }
    const bool control = (cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7F ||
                         (cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFE || cp == 0xFFFF;
    append_utf8(control ? kReplacement : cp, out);
  }
  return out;
}

std::string utf8_to_winansi(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (uint32_t cp : utf8_code_points(utf8)) out += winansi_byte(cp);
  return out;
}

std::string pdf_literal(std::string_view winansi) {
  std::string out = "(";
  for (char ch : winansi) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '(' || c == ')' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c <= 0x7E) {
      out += ch;
    } else {
      out += '\\';
      out += static_cast<char>('0' + ((c >> 6) & 7));
      out += static_cast<char>('0' + ((c >> 3) & 7));
      out += static_cast<char>('0' + (c & 7));
    }
  }
  out += ')';
  return out;
}

std::string pdf_text_string(std::string_view utf8) {
  bool ascii = true;
  for (char ch : utf8) ascii = ascii && ch >= 0x20 && ch <= 0x7E;
  if (ascii) return pdf_literal(utf8);
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "<FEFF";
  const auto put16 = [&](uint32_t u) {
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(u >> shift) & 0xF];
  };
  for (uint32_t cp : utf8_code_points(utf8)) {
    if (cp >= 0x10000) {
      const uint32_t v = cp - 0x10000;
      put16(0xD800 + (v >> 10));
      put16(0xDC00 + (v & 0x3FF));
    } else {
      put16(cp);
    }
  }
  out += '>';
  return out;
}

std::string truncate_code_points(std::string_view utf8, size_t max_code_points) {
  const std::vector<uint32_t> cps = utf8_code_points(utf8);
  if (cps.size() <= max_code_points) return std::string(utf8);
  std::string out;
  for (size_t i = 0; i + 1 < max_code_points; ++i) append_utf8(cps[i], out);
  if (max_code_points > 0) append_utf8(0x2026, out);
  return out;
}

}  // namespace emoe::report
