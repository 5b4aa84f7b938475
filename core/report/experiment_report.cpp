// write_experiment_report() and the points CSV: the report's files on disk.
#include "core/report/experiment_report.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/report/experiment_tables.h"

namespace emoe::report {

namespace {

Status write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return io_error("cannot open '" + path.string() + "' for writing: " + std::strerror(errno));
  }
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return io_error("cannot write '" + path.string() + "': " + std::strerror(errno));
  return Status::ok();
}

}  // namespace

std::string experiment_points_csv(const experiment::ExperimentResult& result) {
  return table_csv(points_table(result));
}

Result<std::vector<std::string>> write_experiment_report(const experiment::ExperimentResult& result,
                                                         const std::string& dir,
                                                         const ReportOptions& options) {
  const std::filesystem::path root(dir);
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return io_error("cannot create report directory '" + dir + "': " + ec.message());
  if (!std::filesystem::is_directory(root, ec)) {
    return io_error("report path '" + dir + "' is not a directory");
  }
  // Data first: if the report pages fail, the raw numbers are already safe.
  const std::pair<const char*, std::string> files[] = {
      {"summary.json", experiment::experiment_result_to_json(result)},
      {"requests.csv", experiment::experiment_requests_csv(result)},
      {"points.csv", experiment_points_csv(result)},
      {"report.html", experiment_report_html(result, options)},
      {"report.pdf", experiment_report_pdf(result, options)},
  };
  std::vector<std::string> written;
  for (const auto& [name, bytes] : files) {
    const std::filesystem::path path = root / name;
    EMOE_RETURN_IF_ERROR(write_file(path, bytes));
    written.push_back(path.string());
  }
  return written;
}

}  // namespace emoe::report
