// Task-type extraction (eMoE paper section 2.1, DESIGN.md section 3): assigns a request's text
// one of the five profiled task types by keyword profiles. The profiles live in an editable
// text file (resources/task_keywords.txt; the same text is built in, builtin_task_keywords()):
//
//   # comment                     blank lines and '#' lines are ignored
//   default: conversation         the task for no match and for ties (exactly once)
//   qa: what, who, ?, question*2  `task: keyword, keyword, ...`; `keyword*W` weighs W (> 0)
//
// Matching is case-insensitive (ASCII) on normalised whitespace. A keyword whose first
// (last) character is a letter or digit only matches where the text has no letter or digit
// just before (after) it, so "what" does not match "whatever"; bytes >= 0x80 count as letters.
// Each keyword counts once per prompt; a task's score is the sum of its matched keywords'
// weights. The single highest score wins; a tie between the best, or no match, gives the
// default. The paper leaves both the keyword lists and these rules open.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"

namespace emoe::sched {

// The paper's Table 1 task types (SUM, CLSFY, QA, COMP, CONV), in that order.
enum class TaskType : int { Summarization = 0, Classification, QA, Comparison, Conversation };
inline constexpr int kTaskCount = 5;
inline constexpr std::array<TaskType, kTaskCount> kAllTasks = {
    TaskType::Summarization, TaskType::Classification, TaskType::QA, TaskType::Comparison,
    TaskType::Conversation};

// "summarization", "classification", "qa", "comparison", "conversation": the names files,
// the database and the predictors use.
std::string_view task_name(TaskType t);
// Case-insensitive; also accepts the paper's labels ("sum", "clsfy", "comp", "conv").
std::optional<TaskType> parse_task(std::string_view name);
inline int task_index(TaskType t) { return static_cast<int>(t); }

struct TaskKeyword {
  std::string text;     // lower-case, single spaces
  double weight = 1.0;  // > 0
};

struct TaskClassification {
  TaskType task = TaskType::Conversation;
  double score = 0.0;                       // the winner's score; 0 when no keyword matched
  bool matched = false;                     // true when `task` won on its score (not by default)
  std::array<double, kTaskCount> scores{};  // every task's score, by task_index
};

class TaskClassifier {
 public:
  // Parses a profile file; errors name the file and line (InvalidArgument) or the I/O failure.
  static Result<TaskClassifier> load(const std::string& path);
  // `source` names the text in error messages ("<source>:<line>: ...").
  static Result<TaskClassifier> from_text(std::string_view text,
                                          std::string_view source = "<keywords>");
  // The built-in profiles (identical to resources/task_keywords.txt).
  static TaskClassifier builtin();

  TaskClassification classify(std::string_view prompt) const;

  TaskType default_task() const { return default_; }
  const std::vector<TaskKeyword>& keywords(TaskType t) const {
    return keywords_[static_cast<size_t>(task_index(t))];
  }

 private:
  TaskClassifier() = default;
  TaskType default_ = TaskType::Conversation;
  std::array<std::vector<TaskKeyword>, kTaskCount> keywords_;
};

// The text of the built-in profiles.
std::string_view builtin_task_keywords();

}  // namespace emoe::sched
