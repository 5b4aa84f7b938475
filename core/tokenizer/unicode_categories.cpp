#include "core/tokenizer/unicode_categories.h"

#include <algorithm>

namespace emoe::tokenizer {

UnicodeCategory unicode_category(uint32_t cp) {
  if (cp > 0x10FFFF) return UnicodeCategory::Undefined;
  const uint32_t* begin = detail::kUnicodeCategoryRuns;
  const uint32_t* end = begin + detail::kUnicodeCategoryRunCount;
  // The last run whose first code point is <= cp; the table starts at U+0000.
  const uint32_t* it = std::upper_bound(begin, end, (cp << 3) | 7u);
  return static_cast<UnicodeCategory>(*(it - 1) & 7u);
}

bool unicode_is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  if (cp >= 0x2000 && cp <= 0x200A) return true;
  switch (cp) {
    case 0x0085:
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return false;
  }
}

}  // namespace emoe::tokenizer
