// emoe profile-sensitivity: the offline sensitivity sweep (core/predict/sensitivity_profiler.h)
// per task over the built-in prompts, stored per model in the database (sensitivity_profiles)
// and printed as a JSON matrix of s per task and layer. `emoe run --task-aware on` loads them.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_profiles.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/engine/engine.h"
#include "core/predict/sensitivity_profiler.h"
#include "core/sched/builtin_workloads.h"
#include "db/database.h"
#include "core/common/json_reader.h"
#include "db/model_profiles.h"
#include "db/recording_session.h"
#include "db/schema.h"

namespace emoe::cli {

namespace {

// The model's row, as RecordingSession finds it; added when `add`.
Result<std::optional<int64_t>> model_row(db::Database& db, const model::Model& model, bool add) {
  return db::find_model_row(db, db::describe_model(model), add);
}

}  // namespace

Result<std::map<std::string, std::vector<float>>> load_sensitivity_profiles(
    const std::string& db_file, const model::Model& model) {
  std::map<std::string, std::vector<float>> out;
  std::error_code ec;
  if (!std::filesystem::exists(db_file, ec)) return out;
  auto store = db::open_store(db_file);
  if (!store.ok()) return store.status();
  auto id = model_row(**store, model, false);
  if (!id.ok()) return id.status();
  if (!*id) return out;
  auto rows = db::list_sensitivity(**store, **id);
  if (!rows.ok()) return rows.status();
  const size_t n_layer = static_cast<size_t>(model.config().n_layer);
  for (const db::SensitivityProfile& p : *rows) {
    if (!p.details_json) continue;
    auto j = parse_json(*p.details_json);
    if (!j.ok()) continue;
    const JsonValue* s = j->find("sensitivity");
    if (s == nullptr || !s->is_array() || s->items().size() != n_layer) {
      return invalid_argument("the stored sensitivity of task '" + p.task + "' in '" + db_file +
                              "' does not have the model's " + std::to_string(n_layer) + " layers");
    }
    std::vector<float> v;
    for (const JsonValue& x : s->items()) {
      v.push_back(x.is_number() ? std::clamp(static_cast<float>(x.as_double()), 0.0f, 1.0f) : 1.0f);
    }
    out[p.task] = std::move(v);
  }
  return out;
}

void declare_profile_sensitivity(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file (with experts)")
      .option("tasks", 0, "LIST", "tasks to profile: all, or a comma list (qa,summarization)",
              "all")
      .option("prompts", 0, "N", "built-in prompts per task", "6")
      .option("threshold", 0, "X", "accuracy at or above which a layer is insensitive", "0.85")
      .option("continuation", 0, "N", "reference greedy tokens scored after each prompt", "8")
      .option("granularity", 0, "G", "random routing redrawn per token or per prompt", "prompt")
      .option("seed", 0, "N", "random routing seed", "1")
      .option("db", 0, "FILE",
              "store the profiles in this SQLite database; default: "
              "$XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "do not store the profiles")
      .flag("json", "print only the JSON matrix");
  declare_engine_options(spec);
}

Status run_profile_sensitivity(const ParsedArgs& args) {
  auto tasks_arg = args.get_string("tasks");
  if (!tasks_arg.ok()) return tasks_arg.status();
  std::vector<sched::TaskType> tasks;
  if (*tasks_arg == "all") {
    tasks.assign(sched::kAllTasks.begin(), sched::kAllTasks.end());
  } else {
    size_t start = 0;
    while (start <= tasks_arg->size()) {
      const size_t comma = std::min(tasks_arg->find(',', start), tasks_arg->size());
      const std::string name = tasks_arg->substr(start, comma - start);
      auto t = sched::parse_task(name);
      if (!t) {
        return args.error("--tasks: unknown task '" + name +
                          "' (summarization, classification, qa, comparison, conversation)");
      }
      if (std::find(tasks.begin(), tasks.end(), *t) == tasks.end()) tasks.push_back(*t);
      start = comma + 1;
    }
  }
  auto n_prompts = args.get_int("prompts", 1, 1000);
  if (!n_prompts.ok()) return n_prompts.status();
  auto threshold = args.get_float("threshold", 0.0, 1.0);
  if (!threshold.ok()) return threshold.status();
  auto cont = args.get_int("continuation", 0, 1024);
  if (!cont.ok()) return cont.status();
  auto gran = args.get_choice("granularity", {"token", "prompt"});
  if (!gran.ok()) return gran.status();
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  auto dbp = db_path(args);
  if (!dbp.ok()) return dbp.status();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  if (!(*model)->config().is_moe()) return args.error("the model has no experts");
  if (eopts->n_ctx == 0) eopts->n_ctx = std::min<int64_t>((*model)->config().n_ctx_train, 1024);
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();

  predict::SensitivityOptions so;
  so.threshold = *threshold;
  so.continuation_tokens = static_cast<int32_t>(*cont);
  so.granularity =
      *gran == "token" ? predict::RandomGranularity::Token : predict::RandomGranularity::Prompt;
  so.seed = *seed;
  so.progress = [](int32_t, int32_t) { return !interrupt_flag().load(); };
  const int64_t room = (*engine)->options().n_ctx - *cont;
  std::vector<predict::SensitivityProfile> profiles;
  for (const sched::TaskType t : tasks) {
    const auto& texts = (*prompts)[static_cast<size_t>(sched::task_index(t))];
    std::vector<std::vector<int32_t>> toks;
    for (size_t i = 0; i < texts.size() && static_cast<int64_t>(toks.size()) < *n_prompts; ++i) {
      std::vector<int32_t> p = (*model)->tokenizer().encode(texts[i], true, false);
      if (static_cast<int64_t>(p.size()) > room)
        p.resize(static_cast<size_t>(std::max<int64_t>(room, 1)));
      if (!p.empty()) toks.push_back(std::move(p));
    }
    const std::string name(sched::task_name(t));
    if (!args.flag("json"))
      std::fprintf(stderr, "profiling %s (%zu prompts)\n", name.c_str(), toks.size());
    auto p = predict::profile_sensitivity(**engine, name, toks, so);
    if (!p.ok()) return p.status().with_context("task '" + name + "'");
    profiles.push_back(std::move(p).value());
  }

  if (*dbp) {
    auto store = db::open_store(**dbp);
    if (!store.ok()) return store.status().with_context("opening '" + **dbp + "'");
    auto id = model_row(**store, **model, true);
    if (!id.ok()) return id.status();
    EMOE_RETURN_IF_ERROR(db::store_profiler_results(**store, **id, profiles));
  }

  JsonWriter j;
  j.begin_object().key("model").value((*model)->file().path());
  j.key("threshold").value(*threshold).key("granularity").value(*gran);
  j.key("tasks").begin_object();
  for (const auto& p : profiles) {
    j.key(p.task).begin_object();
    j.key("sensitivity").array(p.sensitivity).key("accuracy").array(p.accuracy);
    j.key("insensitive_layers").value(p.insensitive_layers).key("prompts").value(p.prompts);
    j.key("positions").value(p.positions).end_object();
  }
  j.end_object();
  if (*dbp) {
    j.key("db").value(**dbp);
  } else {
    j.key("db").null();
  }
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

}  // namespace emoe::cli
