// emoe report [RUN...]: the experiment report (report.html, report.pdf, summary.json,
// requests.csv, points.csv) rebuilt from the database alone: the points of the given runs ids
// side by side (they may come from several experiments), or a whole experiment
// (--experiment ID; default the latest). --list shows the stored experiments.
#include <cstdio>
#include <filesystem>
#include <vector>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/report/experiment_report.h"
#include "db/experiment_store.h"
#include "db/schema.h"

namespace emoe::cli {

void declare_report(CommandSpec& spec) {
  spec.positional("RUN...",
                  "runs ids of experiment points (emoe report --list, emoe db query runs)", false)
      .option("experiment", 'e', "ID", "every point of this experiment (default: the latest)")
      .option("out", 'o', "DIR", "the report directory (default: experiment-<id>-report)")
      .option("db", 0, "FILE", "the database; default: $XDG_DATA_HOME/emoe-studio/history.db")
      .flag("list", "list the stored experiments and stop")
      .flag("no-requests", "leave the per-request table out of the HTML and PDF report")
      .flag("json", "print the JSON summary on stdout");
}

Status run_report(const ParsedArgs& args) {
  std::string path;
  if (args.has("db")) {
    path = *args.get_string("db");
  } else {
    auto d = default_db_path();
    if (!d.ok()) return d.status();
    path = *d;
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return not_found("no database at '" + path + "'; run `emoe experiment` first or give --db");
  }
  auto store = db::open_store(path);
  if (!store.ok()) return store.status();
  auto listed = db::list_experiments(**store);
  if (!listed.ok()) return listed.status();

  if (args.flag("list")) {
    std::printf("%5s %-24s %-10s %6s %9s  %s\n", "id", "name", "status", "points", "seconds",
                "model");
    for (const db::ExperimentRow& r : *listed) {
      std::printf("%5lld %-24.24s %-10s %6lld %9.1f  %s\n", static_cast<long long>(r.id),
                  r.name.c_str(), r.status.c_str(), static_cast<long long>(r.points),
                  r.wall_seconds, r.model_path.c_str());
    }
    return Status::ok();
  }

  std::vector<int64_t> runs;
  for (const std::string& p : args.positionals()) {
    char* end = nullptr;
    const long long v = std::strtoll(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v <= 0) {
      return args.error("RUN must be a positive runs id, got '" + p + "'");
    }
    runs.push_back(v);
  }
  if (!runs.empty() && args.has("experiment")) {
    return args.error("give runs ids or --experiment, not both");
  }
  Result<experiment::ExperimentResult> result = invalid_argument("unset");
  std::string default_out;
  if (!runs.empty()) {
    result = db::load_experiment_runs(**store, runs);
    default_out = "runs-" + std::to_string(runs.front()) + "-report";
  } else {
    int64_t id = 0;
    if (args.has("experiment")) {
      auto e = args.get_int("experiment", 1, int64_t{1} << 62);
      if (!e.ok()) return e.status();
      id = *e;
    } else {
      if (listed->empty()) return not_found("no experiments in '" + path + "'");
      id = listed->back().id;
    }
    result = db::load_experiment(**store, id);
    default_out = "experiment-" + std::to_string(id) + "-report";
  }
  if (!result.ok()) return result.status();
  const std::string out = args.has("out") ? *args.get_string("out") : default_out;
  report::ReportOptions ro;
  ro.request_table = !args.flag("no-requests");
  auto written = report::write_experiment_report(*result, out, ro);
  if (!written.ok()) return written.status();
  if (args.flag("json")) {
    std::printf("%s\n", experiment::experiment_result_to_json(*result, false).c_str());
  }
  for (const std::string& f : *written) std::fprintf(stderr, "wrote %s\n", f.c_str());
  return Status::ok();
}

}  // namespace emoe::cli
