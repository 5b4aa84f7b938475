// The `emoe` subcommands. Each declares its options and runs; run() returns a Status whose
// message main() prints as the one-line error.
#pragma once

#include "app/cli/cli_args.h"

namespace emoe::cli {

struct Command {
  const char* name;
  const char* summary;
  void (*declare)(CommandSpec& spec);
  Status (*run)(const ParsedArgs& args);
};

void declare_info(CommandSpec&);
Status run_info(const ParsedArgs&);
void declare_generate(CommandSpec&);
Status run_generate(const ParsedArgs&);
void declare_logits(CommandSpec&);
Status run_logits(const ParsedArgs&);
void declare_trace(CommandSpec&);
Status run_trace(const ParsedArgs&);
void declare_perplexity(CommandSpec&);
Status run_perplexity(const ParsedArgs&);
void declare_mkmodel(CommandSpec&);
Status run_mkmodel(const ParsedArgs&);
void declare_bench(CommandSpec&);
Status run_bench(const ParsedArgs&);
void declare_db(CommandSpec&);
Status run_db(const ParsedArgs&);
void declare_replay(CommandSpec&);
Status run_replay(const ParsedArgs&);
void declare_run(CommandSpec&);
Status run_run(const ParsedArgs&);
void declare_profile_sensitivity(CommandSpec&);
Status run_profile_sensitivity(const ParsedArgs&);
void declare_bench_emoe(CommandSpec&);
Status run_bench_emoe(const ParsedArgs&);
void declare_workload(CommandSpec&);
Status run_workload(const ParsedArgs&);
void declare_serve(CommandSpec&);
Status run_serve(const ParsedArgs&);
void declare_profile(CommandSpec&);
Status run_profile(const ParsedArgs&);
void declare_experiment(CommandSpec&);
Status run_experiment_command(const ParsedArgs&);
void declare_report(CommandSpec&);
Status run_report(const ParsedArgs&);

}  // namespace emoe::cli
