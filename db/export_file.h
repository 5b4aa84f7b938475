// Output plumbing shared by the exporters (session_export, trace_export): locale-independent
// number formatting, a buffered output file that reports its first error, a temporary sibling
// renamed into place only when complete, progress/cancel and a read snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "db/database.h"
#include "db/session_export.h"

namespace emoe::db::export_detail {

// Shortest text that reads back to the same double (locale-independent).
void append_double(std::string& o, double d);
// Gate weights are float32 values stored as REAL: the shortest text that reads back to the
// same float (0.7, not 0.699999988079071). Other doubles keep full precision.
void append_weight(std::string& o, double d);
void append_int(std::string& o, int64_t v);

std::string errno_text(int e);
// A unique suffix for temporary siblings (pid, time, counter).
std::string temp_suffix();

// A file written through a large buffer; the first failure is kept and reported by close().
class OutFile {
 public:
  OutFile() = default;
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile() {
    if (f_) std::fclose(f_);
  }

  Status open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) return io_error("cannot create '" + path + "': " + errno_text(errno));
    return Status::ok();
  }

  void write(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= kFlushBytes) drain();
  }

  Status close() {
    drain();
    if (error_.is_ok() && std::fflush(f_) != 0) {
      error_ = io_error("cannot write '" + path_ + "': " + errno_text(errno));
    }
    // Durable before the rename makes it visible.
    if (error_.is_ok() && ::fsync(::fileno(f_)) != 0) {
      error_ = io_error("cannot sync '" + path_ + "': " + errno_text(errno));
    }
    if (std::fclose(f_) != 0 && error_.is_ok()) {
      error_ = io_error("cannot close '" + path_ + "': " + errno_text(errno));
    }
    f_ = nullptr;
    return error_;
  }

  const Status& status() const { return error_; }

 private:
  static constexpr size_t kFlushBytes = size_t{1} << 18;
  void drain() {
    if (!buf_.empty() && error_.is_ok() &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      error_ = io_error("cannot write '" + path_ + "': " + errno_text(errno));
    }
    buf_.clear();
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string buf_;
  Status error_;
};

// The destination's temporary sibling; removed unless commit() renamed it into place.
class TempPath {
 public:
  explicit TempPath(std::string dest) : dest_(std::move(dest)), tmp_(dest_ + temp_suffix()) {}
  ~TempPath() {
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_, ec);
    }
  }
  const std::string& path() const { return tmp_; }

  Status commit_file() {
    std::error_code ec;
    std::filesystem::rename(tmp_, dest_, ec);
    if (ec) return io_error("cannot rename '" + tmp_ + "' to '" + dest_ + "': " + ec.message());
    committed_ = true;
    return Status::ok();
  }

  // A directory cannot be renamed over a non-empty one: an existing export is moved aside,
  // the new one moved in, then the old one removed.
  Status commit_dir(const std::vector<std::string>& replaceable_names) {
    std::error_code ec;
    const std::filesystem::path dest(dest_);
    std::optional<std::string> aside;
    if (std::filesystem::exists(dest, ec)) {
      if (!std::filesystem::is_directory(dest, ec)) {
        return io_error("'" + dest_ + "' exists and is not a directory");
      }
      for (const auto& entry : std::filesystem::directory_iterator(dest, ec)) {
        const std::string name = entry.path().filename().string();
        bool ours = false;
        for (const auto& n : replaceable_names) ours = ours || n == name;
        if (!ours || !entry.is_regular_file()) {
          return io_error("'" + dest_ + "' exists and holds '" + name +
                          "', which is not an export file; choose an empty or new directory");
        }
      }
      if (ec) return io_error("cannot list '" + dest_ + "': " + ec.message());
      aside = dest_ + temp_suffix();
      std::filesystem::rename(dest, *aside, ec);
      if (ec) return io_error("cannot move '" + dest_ + "' aside: " + ec.message());
    }
    std::filesystem::rename(tmp_, dest, ec);
    if (ec) {
      std::error_code ignored;
      if (aside) std::filesystem::rename(*aside, dest, ignored);
      return io_error("cannot rename '" + tmp_ + "' to '" + dest_ + "': " + ec.message());
    }
    committed_ = true;
    if (aside) std::filesystem::remove_all(*aside, ec);
    return Status::ok();
  }

 private:
  std::string dest_;
  std::string tmp_;
  bool committed_ = false;
};

// Counts rows, reports progress, honours cancel.
class Progress {
 public:
  explicit Progress(const ExportOptions& o) : o_(o) {}
  Status tick() {
    ++rows_;
    if (o_.progress && o_.progress_every > 0 && rows_ % o_.progress_every == 0) {
      o_.progress(rows_);
    }
    if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) {
      return cancelled("export cancelled after " + std::to_string(rows_) + " rows");
    }
    return Status::ok();
  }
  Status check_cancel() const {
    if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) {
      return cancelled("export cancelled");
    }
    return Status::ok();
  }
  void finish() const {
    if (o_.progress) o_.progress(rows_);
  }

 private:
  const ExportOptions& o_;
  int64_t rows_ = 0;
};

// A read transaction, so that every table comes from one snapshot; none when the caller
// already holds a transaction on this connection.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db) : db_(db) {}
  Status begin();

  ~ReadTransaction() {
    if (open_) (void)db_.exec("COMMIT");
  }

 private:
  Database& db_;
  bool open_ = false;
};

}  // namespace emoe::db::export_detail
