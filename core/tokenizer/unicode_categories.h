// Unicode general-category classes and white space, as llama.cpp's unicode_cpt_flags sees them
// (the BPE pre-tokenizers' \p{L}, \p{N}, \p{P} and \s).
#pragma once

#include <cstddef>
#include <cstdint>

namespace emoe::tokenizer {

// One class per general category's major class; Undefined is Cn (unassigned) and everything
// past U+10FFFF. Values are fixed: scripts/gen_unicode_categories.py writes them into the table.
enum class UnicodeCategory : uint8_t {
  Undefined = 0,
  Number = 1,       // Nd, Nl, No
  Letter = 2,       // Lu, Ll, Lt, Lm, Lo
  Separator = 3,    // Zs, Zl, Zp
  Mark = 4,         // Mn, Mc, Me
  Punctuation = 5,  // Pc, Pd, Ps, Pe, Pi, Pf, Po
  Symbol = 6,       // Sm, Sc, Sk, So
  Control = 7,      // Cc, Cf, Cs, Co
};

UnicodeCategory unicode_category(uint32_t cp);

// llama.cpp's white-space set (PropList's White_Space): U+0009..U+000D, U+0020, U+0085, U+00A0,
// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Not U+001C..U+001F.
bool unicode_is_whitespace(uint32_t cp);

namespace detail {
// Generated table (unicode_category_table.cpp): (first code point << 3) | category, ascending.
extern const uint32_t kUnicodeCategoryRuns[];
extern const size_t kUnicodeCategoryRunCount;
}  // namespace detail

}  // namespace emoe::tokenizer
