// The expert-budget grammar shared by the CLI's --budget, experiment configurations and the
// trace replayer: "1073741824" or "512K"/"512M"/"1.5G" (binary units, optional "B"/"iB"),
// "25%" of all expert bytes, or "4e" experts per MoE layer. Parsing the text needs no model;
// what a percentage or an expert count means in bytes does (parse_budget_text in
// cache_model.h).
#pragma once

#include <string>
#include <string_view>

#include "core/common/status.h"

namespace emoe::experts {

inline constexpr double kMaxBudgetBytes = 1e18;

struct BudgetText {
  enum class Unit { Bytes, Percent, ExpertsPerLayer };
  Unit unit = Unit::Bytes;
  double value = 0;  // bytes (units applied), percent in (0, 100], or whole experts >= 1
};

// InvalidArgument naming the text and what was expected. bytes_only refuses "%" and "e" (a
// device size). A byte count may be 0 only when bytes_only.
Result<BudgetText> parse_budget_syntax(std::string_view text, bool bytes_only = false);

}  // namespace emoe::experts
