#include "db/export_file.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace emoe::db::export_detail {

// Shortest text that reads back to the same double; to_chars is locale-independent.
void append_double(std::string& o, double d) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  o.append(buf, r.ptr);
}

// Gate weights are float32 values stored as REAL: written as the shortest text that reads
// back to the same float (0.7, not 0.699999988079071). Other doubles keep full precision.
void append_weight(std::string& o, double d) {
  if (!(std::fabs(d) <= std::numeric_limits<float>::max())) return append_double(o, d);
  const float f = static_cast<float>(d);
  if (static_cast<double>(f) != d) return append_double(o, d);
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  o.append(buf, r.ptr);
}

void append_int(std::string& o, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  o.append(buf, r.ptr);
}

std::string errno_text(int e) { return std::strerror(e); }

std::string temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(t % 1000000007) + "-" +
         std::to_string(counter.fetch_add(1));
}

Status ReadTransaction::begin() {
  if (sqlite3_get_autocommit(db_.handle()) == 0) return Status::ok();
  EMOE_RETURN_IF_ERROR(db_.exec("BEGIN"));
  open_ = true;
  return Status::ok();
}

}  // namespace emoe::db::export_detail
