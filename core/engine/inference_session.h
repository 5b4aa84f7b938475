// One loaded model ready to generate: the model, its host expert tier, an optional device tier
// (ExpertCache) and an Engine, configured together. configure() rebuilds only the device tier
// and the engine (the model stays mapped), so budgets, routing modes and thread counts can
// change between requests. Not thread-safe: one thread (the engine thread) uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/engine/routing_mode.h"
#include "core/experts/expert_cache.h"

namespace emoe::model {
class Model;
}
namespace emoe::experts {
class ExpertStore;
}

namespace emoe::engine {

struct SessionSettings {
  // The device tier's expert budget: budget_bytes when set, else budget_percent of all expert
  // bytes. Raised to ExpertCache::minimum_budget (n_expert_used experts per MoE layer).
  std::optional<uint64_t> budget_bytes;
  double budget_percent = 100;
  // All with the whole budget: no device tier (experts straight from the mapped file). All
  // with less is refused; Exact starts with an empty tier, Fallback with a full one.
  RoutingMode mode = RoutingMode::All;
  experts::EvictionPolicy policy = experts::EvictionPolicy::Lru;
  int n_threads = 1;
  int64_t n_ctx = 0;  // 0: the model's training context, at most 4096
  kernels::TensorType kv_type = kernels::TensorType::F32;
  int max_sequences = 1;  // concurrent sequences (continuous batching), each with its own KV
  // The GPU the engine and the device tier use (compute_device.h); null: the CPU.
  std::shared_ptr<kernels::gpu::Device> device;
};

// What the session actually runs with after configure().
struct SessionReport {
  SessionSettings settings;          // as requested
  uint64_t requested_budget = 0;     // bytes, before clamping
  uint64_t expert_budget_bytes = 0;  // the device tier's budget; 0: no tier
  bool budget_clamped = false;       // raised to the minimum
  uint64_t all_expert_bytes = 0;
  uint64_t min_budget_bytes = 0;  // 0 for a dense model
  int32_t n_slots = 0;            // device-tier slots (one expert each); 0 without a tier
  int32_t experts_per_layer = 0;  // n_slots / MoE layers (n_expert without a tier)
  int64_t n_ctx = 0;              // effective context per sequence
};

struct RunHooks {
  // Called with the fresh sequence id before its first forward step (e.g. to bind a recorder).
  std::function<void(int32_t seq)> on_sequence;
  TokenCallback on_token;  // each generated token; false stops like a cancel
};

class InferenceSession {
 public:
  static Result<std::unique_ptr<InferenceSession>> open(const std::string& path);
  // Takes a loaded model; no engine exists until configure() succeeds.
  explicit InferenceSession(std::unique_ptr<model::Model> model);
  ~InferenceSession();
  InferenceSession(const InferenceSession&) = delete;
  InferenceSession& operator=(const InferenceSession&) = delete;

  // Validates, then replaces the device tier and the engine. On an error the previous
  // configuration stays in place (InvalidArgument / OutOfMemory with the reason).
  Result<SessionReport> configure(const SessionSettings& settings);
  bool configured() const { return engine_ != nullptr; }
  const SessionReport& report() const { return report_; }

  // Runs `prompt` on a fresh sequence (freed afterwards); InvalidArgument before configure().
  Result<GenerateResult> run(std::span<const int32_t> prompt, const GenerateOptions& options,
                             const RunHooks& hooks = {});

  // Observers stay attached across configure() (to each new engine and device tier). They
  // must outlive the session or be removed first.
  void add_observer(ForwardObserver* observer);
  void remove_observer(ForwardObserver* observer);
  void add_expert_observer(experts::ExpertEventObserver* observer);
  void remove_expert_observer(experts::ExpertEventObserver* observer);

  const model::Model& model() const { return *model_; }
  const experts::ExpertStore* store() const { return store_.get(); }  // null: dense model
  experts::ExpertCache* cache() const { return cache_.get(); }        // null: no device tier
  Engine* engine() const { return engine_.get(); }                    // null before configure

 private:
  Result<SessionReport> plan(const SessionSettings& s) const;
  Status build(SessionReport& r);  // fills n_slots, experts_per_layer and n_ctx

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<experts::ExpertStore> store_;
  std::unique_ptr<experts::ExpertCache> cache_;
  std::unique_ptr<Engine> engine_;
  SessionReport report_;
  std::vector<ForwardObserver*> observers_;
  std::vector<experts::ExpertEventObserver*> expert_observers_;
};

}  // namespace emoe::engine
