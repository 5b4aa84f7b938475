#include "core/experts/budget_text.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace emoe::experts {

Result<BudgetText> parse_budget_syntax(std::string_view text, bool bytes_only) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const std::string expected =
      bytes_only ? "expected bytes (1073741824, 512K, 512M, 1.5G)"
                 : "expected a budget: bytes (1073741824, 512K, 512M, 1.5G), a percentage of all "
                   "expert bytes (25%) or experts per MoE layer (4e)";
  const auto bad = [&] { return invalid_argument(expected + ", got " + quoted); };
  const auto digit = [&](size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
  size_t i = 0;
  while (digit(i)) ++i;
  if (i == 0) return bad();
  bool fraction = false;
  if (i < text.size() && text[i] == '.') {
    fraction = true;
    const size_t start = ++i;
    while (digit(i)) ++i;
    if (i == start) return bad();
  }
  double v = 0;
  // The digits alone: from_chars is locale-independent and never reads a suffix as exponent.
  const auto r = std::from_chars(text.data(), text.data() + i, v);
  if (r.ec != std::errc() || !std::isfinite(v)) return bad();
  const std::string_view suffix = text.substr(i);
  BudgetText out;
  if (!bytes_only && suffix == "%") {
    if (!(v > 0 && v <= 100)) {
      return invalid_argument("a percentage must be > 0 and <= 100, got " + quoted);
    }
    out.unit = BudgetText::Unit::Percent;
    out.value = v;
    return out;
  }
  if (!bytes_only && suffix == "e") {
    if (fraction || v < 1) {
      return invalid_argument("experts per layer must be a whole number >= 1, got " + quoted);
    }
    out.unit = BudgetText::Unit::ExpertsPerLayer;
    out.value = v;
    return out;
  }
  static const std::pair<std::string_view, double> kUnits[] = {
      {"", 1},          {"B", 1},           {"K", 1024.0},       {"KiB", 1024.0},
      {"M", 1048576.0}, {"MiB", 1048576.0}, {"G", 1073741824.0}, {"GiB", 1073741824.0}};
  double scale = 0;
  for (const auto& [unit, size] : kUnits) {
    if (suffix == unit) scale = size;
  }
  if (scale == 0) return bad();
  out.value = v * scale;
  if (out.value > kMaxBudgetBytes) return invalid_argument("more than 10^18 bytes: " + quoted);
  if (!bytes_only && out.value < 1) {
    return invalid_argument("a budget of 0 bytes holds no experts: " + quoted);
  }
  return out;
}

}  // namespace emoe::experts
