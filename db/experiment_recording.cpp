#include "db/experiment_recording.h"

#include <filesystem>

#include "core/model/model.h"
#include "db/database.h"
#include "db/experiment_store.h"
#include "db/recording_session.h"
#include "db/schema.h"

namespace emoe::db {

ExperimentRecording::ExperimentRecording(std::unique_ptr<Database> db, std::string path, int64_t id)
    : db_(std::move(db)), path_(std::move(path)), experiment_id_(id) {}

ExperimentRecording::~ExperimentRecording() = default;

Result<std::unique_ptr<ExperimentRecording>> ExperimentRecording::open(
    const std::string& db_file, const model::Model& model,
    const experiment::ExperimentResult& header) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::absolute(db_file, ec).parent_path();
  if (!ec && !parent.empty()) std::filesystem::create_directories(parent, ec);
  auto store = open_store(db_file);
  if (!store.ok()) return store.status();
  auto model_id = find_model_row(**store, describe_model(model), true);
  if (!model_id.ok()) return model_id.status();
  auto id = begin_experiment(**store, header, *model_id);
  if (!id.ok()) return id.status().with_context("storing the experiment in '" + db_file + "'");
  return std::unique_ptr<ExperimentRecording>(
      new ExperimentRecording(std::move(store).value(), db_file, *id));
}

Result<int64_t> ExperimentRecording::store_point(const experiment::PointResult& point) {
  return store_experiment_point(*db_, experiment_id_, point);
}

Status ExperimentRecording::finish(const experiment::ExperimentResult& result,
                                   const std::string& status) {
  return finish_experiment(*db_, experiment_id_, result, status);
}

Result<experiment::ExperimentResult> ExperimentRecording::load() {
  return load_experiment(*db_, experiment_id_);
}

}  // namespace emoe::db
