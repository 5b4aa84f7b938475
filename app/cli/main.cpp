// `emoe`: the headless command-line twin of the workbench.
#include <cstdio>
#include <iterator>
#include <string>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"

using namespace emoe::cli;

namespace {

const Command kCommands[] = {
    {"info", "show a model's metadata, tensors and expert/dense sizes", declare_info, run_info},
    {"generate", "generate text from a prompt", declare_generate, run_generate},
    {"logits", "write the logits of every prompt position", declare_logits, run_logits},
    {"trace", "show the experts chosen per position and layer", declare_trace, run_trace},
    {"perplexity", "perplexity over a text file", declare_perplexity, run_perplexity},
    {"mkmodel", "write a synthetic MoE model (GGUF)", declare_mkmodel, run_mkmodel},
    {"bench", "measure prefill/decode speed and memory bandwidth use", declare_bench, run_bench},
    {"db", "inspect, export, import and query the routing-history database", declare_db, run_db},
    {"replay", "replay a recorded routing trace through the cache model", declare_replay,
     run_replay},
    {"run", "serve a workload with eMoE's predicted, task-aware expert loading", declare_run,
     run_run},
    {"profile-sensitivity", "measure and store each task's per-layer routing sensitivity",
     declare_profile_sensitivity, run_profile_sensitivity},
    {"bench-emoe", "memory vs accuracy and reuse interval of eMoE's predictors", declare_bench_emoe,
     run_bench_emoe},
    {"workload", "write a seeded mixed workload (JSON Lines) from the built-in task prompts",
     declare_workload, run_workload},
    {"serve", "serve a workload with continuous batching and a scheduler (TTFT, E2E, SLOs)",
     declare_serve, run_serve},
    {"profile", "measure the scheduler's inputs on this machine: compute per token, expert loads",
     declare_profile, run_profile},
    {"experiment", "run an experiment configuration's matrix and write its report",
     declare_experiment, run_experiment_command},
    {"report", "rebuild an experiment's HTML/PDF report from the database", declare_report,
     run_report},
};

}  // namespace

int main(int argc, char** argv) {
  ArgParser parser("emoe", "eMoE Studio command line: inspect, run and measure MoE models");
  for (const Command& c : kCommands) c.declare(parser.add_command(c.name, c.summary));

  auto parsed = parser.parse(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    return 2;
  }
  if (parsed->help) {
    const std::string text =
        parsed->command.empty() ? parser.help_text() : parser.command_help(parsed->command);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  install_interrupt_handler();
  for (const Command& c : kCommands) {
    if (parsed->command != c.name) continue;
    emoe::Status st = c.run(parsed->args);
    if (!st.is_ok()) {
      // Argument errors already carry the "emoe COMMAND:" prefix.
      const std::string prefix = std::string("emoe ") + c.name + ":";
      if (st.message().rfind(prefix, 0) == 0) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
      } else {
        std::fprintf(stderr, "%s %s\n", prefix.c_str(), st.message().c_str());
      }
      return 1;
    }
    return 0;
  }
  std::fprintf(stderr, "emoe: unknown command '%s'\n", parsed->command.c_str());
  return 2;
}
