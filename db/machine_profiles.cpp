#include "db/machine_profiles.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/common/json_reader.h"
#include "db/database.h"
#include "db/recording_session.h"
#include "db/schema.h"

namespace emoe::db {

std::string machine_profile_output_key(sched::TaskType t) {
  return "mean_output_tokens_" + std::string(sched::task_name(t));
}

experiment::MachineProfile MachineProfile::scheduler_inputs() const {
  experiment::MachineProfile p;
  p.per_token_ms = per_token_ms;
  p.expert_load_ms = expert_load_ms;
  p.mean_output_tokens = mean_output_tokens;
  return p;
}

Result<int64_t> store_run_row(const std::string& db_file, const std::string& name,
                              const std::string& config_json, const std::string& metrics_json) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::absolute(db_file, ec).parent_path();
  if (!ec && !parent.empty()) std::filesystem::create_directories(parent, ec);
  auto store = open_store(db_file);
  if (!store.ok()) return store.status();
  auto ins = (*store)->prepare(
      "INSERT INTO runs(name, created_at_us, config, metrics) VALUES (?1, ?2, ?3, ?4)");
  if (!ins.ok()) return ins.status();
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EMOE_RETURN_IF_ERROR(ins->bind_text(1, name));
  EMOE_RETURN_IF_ERROR(ins->bind_int(2, now_us));
  EMOE_RETURN_IF_ERROR(ins->bind_text(3, config_json));
  EMOE_RETURN_IF_ERROR(ins->bind_text(4, metrics_json));
  EMOE_RETURN_IF_ERROR(ins->run());
  return (*store)->last_insert_rowid();
}

Result<std::optional<MachineProfile>> load_machine_profile(const std::string& db_file,
                                                           const model::Model& model) {
  std::error_code ec;
  if (!std::filesystem::exists(db_file, ec)) return std::optional<MachineProfile>();
  auto store = open_store(db_file);
  if (!store.ok()) return store.status();
  auto q =
      (*store)->prepare("SELECT id, config, metrics FROM runs WHERE name = ?1 ORDER BY id DESC");
  if (!q.ok()) return q.status();
  EMOE_RETURN_IF_ERROR(q->bind_text(1, kMachineProfileRunName));
  const ModelInfo info = describe_model(model);
  while (true) {
    auto row = q->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (q->column_is_null(1) || q->column_is_null(2)) continue;
    auto cfg = parse_json(q->column_text(1));
    if (!cfg.ok()) continue;
    const JsonValue* path = cfg->find("model");
    const JsonValue* size = cfg->find("model_size");
    if (path == nullptr || !path->is_string() || path->as_string() != info.path ||
        size == nullptr || !size->is_number() ||
        size->as_double() != static_cast<double>(info.size_bytes)) {
      continue;
    }
    auto m = parse_json(q->column_text(2));
    if (!m.ok()) {
      return m.status().with_context("profile run " + std::to_string(q->column_int(0)) + " in '" +
                                     db_file + "'");
    }
    auto num = [&](const char* key) {
      const JsonValue* v = m->find(key);
      return v != nullptr && v->is_number() ? v->as_double() : 0.0;
    };
    MachineProfile p;
    p.run_id = q->column_int(0);
    p.per_token_ms = num("per_token_ms");
    p.prefill_ms_per_token = num("prefill_ms_per_token");
    p.decode_ms_per_token = num("decode_ms_per_token");
    p.expert_load_ms = num("expert_load_ms");
    p.expert_load_bytes_per_s = num("expert_load_bytes_per_s");
    p.expert_bytes = static_cast<uint64_t>(std::max(0.0, num("expert_bytes")));
    for (const sched::TaskType t : sched::kAllTasks) {
      p.mean_output_tokens[static_cast<size_t>(sched::task_index(t))] =
          num(machine_profile_output_key(t).c_str());
    }
    return std::optional<MachineProfile>(p);
  }
  return std::optional<MachineProfile>();
}

}  // namespace emoe::db
