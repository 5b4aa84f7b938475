#include "tests/gpu/gpu_check.h"

#include <algorithm>
#include <cmath>

namespace emoe::gpucheck {

bool CheckResult::expect(bool ok, const std::string& what) {
  if (!ok) failures_.push_back(what);
  return ok;
}

void CheckResult::skip(const std::string& why) { skip_reason_ = why.empty() ? "skipped" : why; }

void CheckResult::note(const std::string& line) { notes_.push_back(line); }

std::vector<NamedCheck> all_checks() {
  std::vector<NamedCheck> all;
  for (auto group : {op_checks, matmul_checks, paging_checks, engine_checks}) {
    for (NamedCheck& c : group()) all.push_back(std::move(c));
  }
  return all;
}

double normalised_max_error(const float* a, const float* b, int64_t n) {
  double max_diff = 0, max_ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) return INFINITY;
    max_diff = std::max(max_diff, d);
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
  }
  return max_diff / std::max(max_ref, 1e-30);
}

}  // namespace emoe::gpucheck
