// Text as the report's three output formats need it: escaped for XML/HTML, and converted to
// the WinAnsi bytes of the PDF's standard Type1 fonts (which cannot show arbitrary Unicode),
// written as PDF string literals that stay plain ASCII so the content streams can be grepped.
// Every function accepts any bytes: invalid UTF-8 is shown as '?' (PDF) or U+FFFD (XML).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace emoe::report {

// & < > " ' as entities; control characters other than tab/newline (not allowed in XML 1.0)
// and invalid UTF-8 become U+FFFD, so the output is always well-formed text content and
// attribute value.
std::string xml_escape(std::string_view utf8);

// The code points of utf8; each invalid byte decodes as U+FFFD.
std::vector<uint32_t> utf8_code_points(std::string_view utf8);

// WinAnsiEncoding bytes (PDF 1.4 Annex D) for utf8: ASCII and Latin-1 map to themselves, the
// Windows-1252 extras (euro, dashes, curly quotes, ellipsis, ...) to 0x80-0x9F, micro sign for
// Greek mu; everything else, control characters included, to '?'.
std::string utf8_to_winansi(std::string_view utf8);

// A PDF literal string "(...)" of WinAnsi bytes: ( ) \ escaped, bytes outside 0x20-0x7E as
// three-digit octal escapes.
std::string pdf_literal(std::string_view winansi);

// A PDF text string for the document information dictionary: a literal when utf8 is
// printable ASCII, else UTF-16BE with a byte order mark as a hex string.
std::string pdf_text_string(std::string_view utf8);

// At most max_code_points code points of utf8, the last one an ellipsis (U+2026) when cut.
std::string truncate_code_points(std::string_view utf8, size_t max_code_points);

}  // namespace emoe::report
