// Runs an experiment (docs/EXPERIMENTS.md): for every point of the configuration's matrix, a
// fresh device tier at the point's budget and routing mode, eMoE's predictor loop at its
// interval p (plans applied as requests are admitted), the point's scheduler, and the workload
// at the point's arrival rate through the continuous-batching serving loop (virtual or wall
// clock). Per request it keeps the timeline and latencies, per point memory over time, expert
// loads and bytes moved, and accuracy against the full model (the same model with every
// expert, teacher-forced over each request's own output). Then the capacity study when
// configured. Not thread-safe; runs on the caller's thread (the GUI runs it on a worker).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/common/status.h"
#include "core/engine/compute_device.h"
#include "core/experiment/experiment_config.h"
#include "core/experiment/experiment_result.h"
#include "core/sched/scheduler.h"

namespace emoe::engine {
class InferenceSession;
}

namespace emoe::experiment {

// Progress for long work. Called on the runner's thread.
struct ExperimentProgress {
  std::string phase;                        // "warm-up", "point", "capacity"
  int32_t point = 0, points = 0;            // the point being run (0-based) of all
  int64_t requests_done = 0, requests = 0;  // in the current point
  std::string label;                        // the point's label, or the capacity budget
};

struct ExperimentCallbacks {
  std::function<void(const ExperimentProgress&)> progress;
  // Each finished point (e.g. to store it at once, so a crash loses at most one point); an
  // error stops the run with that error.
  std::function<Status(const PointResult&)> point_done;
  // Request lifecycle events of the running point, for a live timeline (loop thread).
  std::function<void(int32_t point, const sched::RequestEvent&)> request_event;
  const std::atomic<bool>* cancel = nullptr;  // checked between steps; result.cancelled
  // Says what ran elsewhere than asked: once when run_experiment resolves config.device itself
  // and CUDA is missing ("CUDA is not available (...); running on the CPU"), and when the
  // full-model reference (every expert) does not fit on the GPU and runs on the CPU, also with
  // a device the caller resolved.
  std::function<void(const std::string&)> notice;
};

// The scheduler inputs measured on this machine (`emoe profile`), when there are any.
struct MachineProfile {
  double per_token_ms = 0.0;    // c; 0: unknown
  double expert_load_ms = 0.0;  // one expert host -> device tier; 0: unknown
  std::array<double, sched::kTaskCount> mean_output_tokens = {0, 0, 0, 0, 0};  // <= 0: unknown
};

// The device name of the backend `device` computes on, as config.device spells it: "cpu" or
// "cuda:N". An experiment's result holds this in config.device.
std::string backend_device_name(const engine::ComputeDevice& device);

// `session` holds the model (configure() is called for every point; its last configuration
// stays). `device` is config.device resolved by the caller (engine::select_compute_device), for
// a caller that records the configuration before the run and wants it to name the backend
// that runs; null: run_experiment resolves config.device itself, once. InvalidArgument for a
// configuration the model cannot run (a budget below the minimum, an unknown predictor, a workload
// task without prompts); errors inside a point name the point's label.
Result<ExperimentResult> run_experiment(engine::InferenceSession& session,
                                        const ExperimentConfig& config,
                                        const MachineProfile& profile = {},
                                        const ExperimentCallbacks& callbacks = {},
                                        const engine::ComputeDevice* device = nullptr);

}  // namespace emoe::experiment
