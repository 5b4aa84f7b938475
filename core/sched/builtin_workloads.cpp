#include "core/sched/builtin_workloads.h"

#include <string>
#include <string_view>

namespace emoe::sched {

// Defined in the file core/CMakeLists.txt generates.
std::string_view builtin_task_prompt_text(int task_index);

Result<TaskPrompts> builtin_task_prompts() {
  TaskPrompts out;
  for (TaskType t : kAllTasks) {
    const std::string source = "<built-in " + std::string(task_name(t)) + " prompts>";
    auto lines = parse_prompt_lines(builtin_task_prompt_text(task_index(t)), source);
    if (!lines.ok()) return lines.status();
    out[static_cast<size_t>(task_index(t))] = std::move(*lines);
  }
  return out;
}

}  // namespace emoe::sched
