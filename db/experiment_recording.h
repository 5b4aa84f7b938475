// One experiment being recorded, as `emoe experiment` and the workbench's Experiment dock both
// do it: the store opened (its directory created), the model row found or added, the
// experiments row begun, each point stored as it finishes, and the final status. The caller owns
// the connection through this object; one thread uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/common/status.h"
#include "core/experiment/experiment_result.h"

namespace emoe::model {
class Model;
}

namespace emoe::db {

class Database;

class ExperimentRecording {
 public:
  // Every database error (not SQLite, newer schema, unwritable location) fails here, before
  // any work is done.
  static Result<std::unique_ptr<ExperimentRecording>> open(
      const std::string& db_file, const model::Model& model,
      const experiment::ExperimentResult& header);
  ~ExperimentRecording();

  int64_t experiment_id() const { return experiment_id_; }
  const std::string& path() const { return path_; }
  // The point's runs row id.
  Result<int64_t> store_point(const experiment::PointResult& point);
  // status: "done", "cancelled" or "failed".
  Status finish(const experiment::ExperimentResult& result, const std::string& status);
  // The experiment as stored (run ids included).
  Result<experiment::ExperimentResult> load();

 private:
  ExperimentRecording(std::unique_ptr<Database> db, std::string path, int64_t id);
  std::unique_ptr<Database> db_;
  std::string path_;
  int64_t experiment_id_ = 0;
};

}  // namespace emoe::db
