// GPU checks: plain C++ (no Qt, no SQLite), so the same checks run three ways: in CI against
// the reference device (reference_device.h, the host), from the Qt test tests/cuda/
// test_gpu_checks on any machine, and on a lent GPU machine through the standalone gpu_check
// program (bench/gpu_check.sh), where Qt is not installed. Each check compares a
// gpu::Device's results with independent CPU or float64 references.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/gpu/gpu_device.h"

namespace emoe::gpucheck {

struct CheckContext {
  kernels::gpu::Device& device;
  bool is_reference = false;  // the host reference device (CI); true GPU numbers otherwise
  std::string data_dir;       // tests/data: fixture models (tiny-mixtral-*/model.gguf)
  std::string scratch_dir;    // writable; generated models go here
};

// What one check found. A check fails at its first broken expectation or keeps going and
// collects several; either way `detail` says what differed, where, and by how much.
class CheckResult {
 public:
  // Records a failure when !ok; returns ok so callers can stop early.
  bool expect(bool ok, const std::string& what);
  void skip(const std::string& why);   // the check does not apply here (says why)
  void note(const std::string& line);  // measured values worth printing (max errors, ...)

  bool passed() const { return failures_.empty(); }
  bool skipped() const { return !skip_reason_.empty(); }
  const std::vector<std::string>& failures() const { return failures_; }
  const std::vector<std::string>& notes() const { return notes_; }
  const std::string& skip_reason() const { return skip_reason_; }

 private:
  std::vector<std::string> failures_;
  std::vector<std::string> notes_;
  std::string skip_reason_;
};

struct NamedCheck {
  std::string name;  // "ops.rms_norm", "engine.qwen2moe.f32", ...
  std::function<void(const CheckContext&, CheckResult&)> run;
};

// Each group lives in its own file (tests/gpu/<group>_checks.cpp).
std::vector<NamedCheck> op_checks();      // element-wise, norms, RoPE, KV rows, attention
std::vector<NamedCheck> matmul_checks();  // quantized products, per-head products, dequantize
std::vector<NamedCheck> paging_checks();  // GPU expert slots: copies, events, budget, reuse
std::vector<NamedCheck> engine_checks();  // GPU vs CPU engine, fixtures, exact == all paging

std::vector<NamedCheck> all_checks();  // the four groups in that order

// Relative error helpers shared by the groups: max |a - b| / max(max |b|, tiny).
double normalised_max_error(const float* a, const float* b, int64_t n);

}  // namespace emoe::gpucheck
