// emoe experiment CONFIG: runs an experiment configuration's matrix (docs/EXPERIMENTS.md) on
// one model with a progress bar, stores every point in the database as it finishes (an
// experiments row, a runs row per point, requests and memory samples), and writes the report
// directory (report.html, report.pdf, summary.json, requests.csv, points.csv).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/engine/compute_device.h"
#include "core/engine/inference_session.h"
#include "core/experiment/builtin_experiments.h"
#include "core/experiment/experiment_runner.h"
#include "core/model/demo_model.h"
#include "core/report/experiment_report.h"
#include "db/experiment_recording.h"
#include "db/machine_profiles.h"

namespace emoe::cli {

namespace {

// Where "model": "demo" lives: $EMOE_DATA_DIR, else next to the default database (where the
// workbench keeps it too).
Result<std::string> demo_model_path() {
  std::string dir;
  if (const char* env = std::getenv("EMOE_DATA_DIR"); env && *env) {
    dir = env;
  } else {
    auto db = default_db_path();
    if (!db.ok()) return db.status();
    dir = std::filesystem::path(*db).parent_path().string();
  }
  std::fprintf(stderr, "experiment: the demo model in %s\n", dir.c_str());
  return model::ensure_demo_model(dir);
}

// Progress on stderr: on a terminal a bar redrawn in place at most ~10 times a second; piped
// (CI logs, scripts) one line per phase or point.
class ProgressPrinter {
 public:
  void operator()(const experiment::ExperimentProgress& p) {
    const bool changed = p.phase != phase_ || p.point != point_;
    phase_ = p.phase;
    point_ = p.point;
    if (!tty_) {
      if (changed) {
        std::fprintf(stderr, "%s %d/%d %s\n", p.phase.c_str(), p.point + 1, p.points,
                     p.label.c_str());
      }
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!changed && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double in_point =
        p.requests > 0 ? static_cast<double>(p.requests_done) / static_cast<double>(p.requests)
                       : 0.0;
    const double done = p.points > 0 ? (p.point + in_point) / p.points : 0.0;
    const int width = 24;
    const int fill = std::clamp(static_cast<int>(done * width + 0.5), 0, width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[K[%s] %-8s %d/%d %lld/%lld %.60s", bar.c_str(), p.phase.c_str(),
                 p.point + 1, p.points, static_cast<long long>(p.requests_done),
                 static_cast<long long>(p.requests), p.label.c_str());
  }
  void finish() const {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_ = isatty(STDERR_FILENO) != 0;
  std::string phase_;
  int32_t point_ = -1;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

void declare_experiment(CommandSpec& spec) {
  spec.positional("CONFIG",
                  "the experiment configuration (JSON; docs/EXPERIMENTS.md), or a built-in one: "
                  "demo, p_sweep")
      .option("model", 'm', "MODEL", "run on this GGUF model instead of the configuration's")
      .option("out", 'o', "DIR", "the report directory (default: <name>-report)")
      .option("threads", 't', "N", "engine threads (default: the configuration's)")
      .option("device", 0, "DEV",
              "compute device: cpu, cuda or cuda:N (default: the configuration's; without a GPU "
              "the CPU)")
      .option("db", 0, "FILE",
              "store the experiment here and read the machine profile from it; default: "
              "$XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "neither store the experiment nor read a stored profile")
      .flag("no-requests", "leave the per-request table out of the HTML and PDF report")
      .flag("json", "print the JSON summary on stdout");
}

Status run_experiment_command(const ParsedArgs& args) {
  // A file, else the name of a built-in configuration (a file of that name wins).
  const std::string arg = args.positionals().at(0);
  std::error_code ec;
  const auto& names = experiment::builtin_experiment_names();
  const bool builtin = !std::filesystem::exists(arg, ec) &&
                       std::find(names.begin(), names.end(), arg) != names.end();
  auto config =
      builtin ? experiment::builtin_experiment(arg) : experiment::load_experiment_config(arg);
  if (!config.ok()) return config.status();
  if (args.has("threads")) {
    auto t = args.get_int("threads", 1, 256);
    if (!t.ok()) return t.status();
    config->n_threads = static_cast<int>(*t);
  }
  if (args.has("device")) config->device = *args.get_string("device");
  // Resolved before the configuration is stored, so the stored one names the backend that runs.
  auto device = engine::select_compute_device(config->device);
  if (!device.ok()) {
    return args.has("device") ? args.error("--device: " + device.status().message())
                              : device.status().with_context("the configuration's device");
  }
  if (!device->notice.empty()) {
    std::fprintf(stderr, "experiment: %s\n", device->notice.c_str());
  } else {
    std::fprintf(stderr, "experiment: computing on %s\n", device->name.c_str());
  }
  config->device = experiment::backend_device_name(*device);
  std::string model_path = config->model;
  if (args.has("model")) {
    model_path = *args.get_string("model");
    config->model = model_path;
  } else if (model_path == "demo" || model_path.empty()) {
    auto p = demo_model_path();
    if (!p.ok()) return p.status().with_context("writing the demo model");
    model_path = *p;
  }
  auto dbp = db_path(args);
  if (!dbp.ok()) return dbp.status();
  const std::string out_dir = args.has("out") ? *args.get_string("out") : config->name + "-report";

  auto session = engine::InferenceSession::open(model_path);
  if (!session.ok()) return session.status();
  const model::Model& model = (*session)->model();
  if (!model.config().is_moe()) return args.error("the model has no experts");

  experiment::ExperimentResult header;
  header.config = *config;
  header.model = experiment::describe_experiment_model(model);
  header.machine = experiment::describe_machine();
  experiment::MachineProfile profile;
  std::unique_ptr<db::ExperimentRecording> recording;
  if (*dbp) {
    auto p = db::load_machine_profile(**dbp, model);
    if (!p.ok()) return p.status().with_context("loading the profile from '" + **dbp + "'");
    if (*p) {
      profile = (*p)->scheduler_inputs();
      std::fprintf(stderr, "experiment: scheduler inputs from profile run %lld\n",
                   static_cast<long long>((*p)->run_id));
    }
    auto r = db::ExperimentRecording::open(**dbp, model, header);
    if (!r.ok()) return r.status();
    recording = std::move(*r);
  }

  const bool json = args.flag("json");
  experiment::ExperimentCallbacks cb;
  cb.cancel = &interrupt_flag();
  cb.notice = [](const std::string& n) { std::fprintf(stderr, "experiment: %s\n", n.c_str()); };
  ProgressPrinter printer;
  cb.progress = [&printer](const experiment::ExperimentProgress& p) { printer(p); };
  cb.point_done = [&](const experiment::PointResult& p) -> Status {
    if (!recording) return Status::ok();
    auto run = recording->store_point(p);
    return run.ok() ? Status::ok() : run.status();
  };
  auto result = experiment::run_experiment(**session, *config, profile, cb, &*device);
  printer.finish();
  if (!result.ok()) {
    if (recording) (void)recording->finish(header, "failed");
    return result.status();
  }
  result->model = header.model;
  result->machine = header.machine;
  if (recording) {
    EMOE_RETURN_IF_ERROR(recording->finish(*result, result->cancelled ? "cancelled" : "done"));
    // The stored copy carries the run ids the points were given.
    auto stored = recording->load();
    if (!stored.ok()) return stored.status();
    result = std::move(stored);
  }

  report::ReportOptions ro;
  ro.request_table = !args.flag("no-requests");
  auto written = report::write_experiment_report(*result, out_dir, ro);
  if (!written.ok()) return written.status();
  if (json) {
    std::printf("%s\n", experiment::experiment_result_to_json(*result, false).c_str());
  } else {
    std::printf("%-64s %7s %9s %9s %8s %8s %9s\n", "point", "SLO%", "e2e_mean", "e2e_p99", "tok/s",
                "acc", "hit_rate");
    for (const experiment::PointResult& p : result->points) {
      std::printf("%-64.64s %6.1f%% %9.1f %9.1f %8.1f %8.3f %9.3f\n", p.point.label().c_str(),
                  100.0 * p.run.slo_attainment, p.run.mean_e2e_ms, p.run.p99_e2e_ms,
                  p.run.throughput_tokens_per_s, p.accuracy, p.hit_rate);
    }
    for (const experiment::CapacityOutcome& c : result->capacity) {
      std::printf("capacity %-6s max batch %d, max prompt %lld tokens (device %s)\n",
                  c.budget.c_str(), c.max_batch, static_cast<long long>(c.max_prompt),
                  human_bytes(c.device_bytes).c_str());
    }
  }
  std::fprintf(stderr, "experiment: %zu points in %.1f s%s; report in %s\n", result->points.size(),
               result->wall_seconds, result->cancelled ? " (cancelled)" : "", out_dir.c_str());
  if (recording) {
    std::fprintf(stderr, "experiment: stored as experiment %lld in %s\n",
                 static_cast<long long>(recording->experiment_id()), recording->path().c_str());
  }
  if (result->cancelled) return cancelled("interrupted; the points done are stored");
  return Status::ok();
}

}  // namespace emoe::cli
