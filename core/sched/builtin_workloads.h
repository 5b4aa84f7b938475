// The project's task prompt sets (resources/workloads/<task>.txt), compiled into the program.
#pragma once

#include "core/common/status.h"
#include "core/sched/workload.h"

namespace emoe::sched {

// Every task's prompts, parsed from the compiled-in copies of the resource files.
Result<TaskPrompts> builtin_task_prompts();

}  // namespace emoe::sched
