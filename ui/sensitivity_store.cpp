#include "ui/sensitivity_store.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "core/engine/engine.h"
#include "core/model/model.h"
#include "core/predict/sensitivity_profiler.h"
#include "core/sched/builtin_workloads.h"
#include "db/database.h"
#include "db/model_profiles.h"
#include "db/recording_session.h"
#include "db/routing_recorder.h"
#include "db/schema.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Built-in prompts per task and reference tokens scored after each: the CLI's quick setting
// (`--prompts 4 --continuation 8 --granularity prompt`), a few seconds on small models.
constexpr size_t kPrompts = 4;
constexpr int32_t kContinuation = 8;

}  // namespace

SensitivityMatrix read_sensitivity_matrix(const std::string& db_path, const model::Model& model,
                                          QStringList* warnings) {
  SensitivityMatrix m;
  m.model = qs(model.config().name);
  m.n_layer = static_cast<int32_t>(model.config().n_layer);
  std::error_code ec;
  if (db_path.empty() || !std::filesystem::exists(db_path, ec)) {
    m.note = QStringLiteral("no history database");
    return m;
  }
  auto store = db::open_store(db_path);
  if (!store.ok()) {
    m.note = qs(store.status().message());
    return m;
  }
  auto id = db::find_model_row(**store, db::describe_model(model), false);
  if (!id.ok() || !*id) {
    m.note = id.ok() ? QStringLiteral("the database has no row for this model")
                     : qs(id.status().message());
    return m;
  }
  auto rows = db::list_sensitivity(**store, **id);
  if (!rows.ok()) {
    m.note = qs(rows.status().message());
    return m;
  }
  for (const db::SensitivityProfile& p : *rows) {
    if (!p.details_json) continue;
    auto j = parse_json(*p.details_json);
    if (!j.ok()) continue;
    const JsonValue* sv = j->find("sensitivity");
    if (sv == nullptr || !sv->is_array() || sv->items().size() != static_cast<size_t>(m.n_layer)) {
      if (warnings) {
        *warnings << QStringLiteral(
                         "the stored sensitivity of task '%1' does not have the "
                         "model's %2 layers; ignored")
                         .arg(qs(p.task))
                         .arg(m.n_layer);
      }
      continue;
    }
    std::vector<float> v;
    for (const JsonValue& x : sv->items()) {
      v.push_back(x.is_number() ? std::clamp(static_cast<float>(x.as_double()), 0.0f, 1.0f) : 1.0f);
    }
    const JsonValue* th = j->find("threshold");
    m.tasks.push_back(p.task);
    m.values.push_back(std::move(v));
    m.thresholds.push_back(th && th->is_number() ? th->as_double()
                                                 : std::numeric_limits<double>::quiet_NaN());
  }
  if (m.tasks.empty()) m.note = QStringLiteral("no stored sensitivity profiles for this model");
  return m;
}

Result<int> profile_and_store_sensitivity(const std::string& db_path, const model::Model& model,
                                          const SensitivityRun& run) {
  if (!model.config().is_moe()) return invalid_argument("the model has no experts");
  // Its own all-experts engine: the session's tier and settings stay as they are.
  engine::EngineOptions eo;
  eo.n_threads = run.n_threads;
  eo.n_ctx = std::min<int64_t>(model.config().n_ctx_train, 1024);
  auto engine = engine::Engine::create(model, eo);
  if (!engine.ok()) return engine.status();
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  predict::SensitivityOptions so;
  so.threshold = run.threshold;
  so.continuation_tokens = kContinuation;
  so.granularity = predict::RandomGranularity::Prompt;
  const int64_t room = (*engine)->options().n_ctx - kContinuation;
  const double n_tasks = static_cast<double>(sched::kAllTasks.size());
  std::vector<predict::SensitivityProfile> profiles;
  for (size_t ti = 0; ti < sched::kAllTasks.size(); ++ti) {
    const sched::TaskType t = sched::kAllTasks[ti];
    const std::string name(sched::task_name(t));
    so.progress = [&, ti](int32_t done, int32_t total) {
      const double f =
          (static_cast<double>(ti) + (total > 0 ? static_cast<double>(done) / total : 1.0)) /
          n_tasks;
      return !run.progress || run.progress(f, name);
    };
    const auto& texts = (*prompts)[static_cast<size_t>(sched::task_index(t))];
    std::vector<std::vector<int32_t>> toks;
    for (size_t i = 0; i < texts.size() && toks.size() < kPrompts; ++i) {
      std::vector<int32_t> p = model.tokenizer().encode(texts[i], true, false);
      if (static_cast<int64_t>(p.size()) > room)
        p.resize(static_cast<size_t>(std::max<int64_t>(room, 1)));
      if (!p.empty()) toks.push_back(std::move(p));
    }
    auto p = predict::profile_sensitivity(**engine, name, toks, so);
    if (!p.ok()) return p.status().with_context("task '" + name + "'");
    profiles.push_back(std::move(p).value());
  }
  auto store = db::open_store(db_path);
  if (!store.ok()) return store.status();
  auto id = db::find_model_row(**store, db::describe_model(model), true);
  if (!id.ok()) return id.status();
  if (!*id) return internal_error("the model's row could not be added to '" + db_path + "'");
  EMOE_RETURN_IF_ERROR(db::store_profiler_results(**store, **id, profiles));
  return static_cast<int>(profiles.size());
}

}  // namespace emoe::ui
