#include "core/engine/inference_session.h"

#include <algorithm>
#include <cmath>

#include "core/experts/expert_store.h"
#include "core/model/model.h"

namespace emoe::engine {

Result<std::unique_ptr<InferenceSession>> InferenceSession::open(const std::string& path) {
  auto m = model::Model::load(path);
  if (!m.ok()) return m.status();
  return std::make_unique<InferenceSession>(std::move(m).value());
}

InferenceSession::InferenceSession(std::unique_ptr<model::Model> model) : model_(std::move(model)) {
  if (model_->config().is_moe()) {
    store_ = std::make_unique<experts::ExpertStore>(model_->config(), model_->weights());
  }
}

InferenceSession::~InferenceSession() {
  // The engine holds a pointer to the tier; the tier's copy thread may still report events.
  engine_.reset();
  cache_.reset();
}

Result<SessionReport> InferenceSession::plan(const SessionSettings& s) const {
  if (s.n_threads < 1 || s.n_threads > 512) {
    return invalid_argument("thread count must be in 1..512, got " + std::to_string(s.n_threads));
  }
  if (s.max_sequences < 1 || s.max_sequences > 4096) {
    return invalid_argument("concurrent sequences must be in 1..4096, got " +
                            std::to_string(s.max_sequences));
  }
  if (s.n_ctx < 0 || s.n_ctx > (int64_t{1} << 22)) {
    return invalid_argument("context size must be in 0..4194304 tokens, got " +
                            std::to_string(s.n_ctx));
  }
  if (!s.budget_bytes &&
      (!std::isfinite(s.budget_percent) || s.budget_percent < 0 || s.budget_percent > 100)) {
    return invalid_argument("expert budget must be 0..100% of the expert bytes, got " +
                            std::to_string(s.budget_percent) + "%");
  }
  SessionReport r;
  r.settings = s;
  const model::ModelConfig& c = model_->config();
  if (!store_) {
    if (s.mode != RoutingMode::All) {
      return invalid_argument("routing mode '" + std::string(routing_mode_name(s.mode)) +
                              "' needs a model with experts; this one is dense");
    }
    return r;
  }
  r.all_expert_bytes = store_->total_bytes();
  r.min_budget_bytes = experts::ExpertCache::minimum_budget(*store_);
  const double all = static_cast<double>(r.all_expert_bytes);
  r.requested_budget =
      s.budget_bytes
          ? *s.budget_bytes
          : static_cast<uint64_t>(std::llround(std::min(all, all * s.budget_percent / 100.0)));
  if (s.mode == RoutingMode::All) {
    if (r.requested_budget < r.all_expert_bytes) {
      return invalid_argument(
          "routing 'all' computes with every expert, so it needs a budget of all " +
          std::to_string(r.all_expert_bytes) + " expert bytes (100%), got " +
          std::to_string(r.requested_budget) + "; use exact or fallback routing for less");
    }
    r.experts_per_layer = static_cast<int32_t>(c.n_expert);
    return r;
  }
  r.expert_budget_bytes = std::max(r.requested_budget, r.min_budget_bytes);
  r.budget_clamped = r.expert_budget_bytes != r.requested_budget;
  return r;
}

Status InferenceSession::build(SessionReport& r) {
  const SessionSettings& s = r.settings;
  if (cache_) {
    for (auto* o : expert_observers_) cache_->remove_observer(o);
  }
  engine_.reset();
  cache_.reset();

  EngineOptions eo;
  eo.n_threads = s.n_threads;
  eo.n_ctx = s.n_ctx;
  eo.kv_type = s.kv_type;
  eo.max_sequences = s.max_sequences;
  eo.experts.mode = s.mode;
  eo.device = s.device;
  if (r.expert_budget_bytes > 0) {
    experts::ExpertCacheOptions co;
    co.budget_bytes = r.expert_budget_bytes;
    co.policy = s.policy;
    co.device = s.device;
    auto cache = experts::ExpertCache::create(*store_, co);
    if (!cache.ok()) return cache.status();
    cache_ = std::move(cache).value();
    for (auto* o : expert_observers_) cache_->add_observer(o);
    // Fallback never loads on its own, so it starts from a full tier (as the CLI does).
    if (s.mode == RoutingMode::Fallback) cache_->fill();
    eo.experts.cache = cache_.get();
    r.n_slots = cache_->n_slots();
    int32_t moe_layers = 0;
    for (int32_t l = 0; l < store_->n_layer(); ++l) moe_layers += store_->layout(l).total > 0;
    r.experts_per_layer =
        moe_layers > 0 ? std::min<int32_t>(r.n_slots / moe_layers, store_->n_expert()) : 0;
  }
  auto engine = Engine::create(*model_, eo);
  if (!engine.ok()) {
    cache_.reset();
    return engine.status();
  }
  engine_ = std::move(engine).value();
  for (auto* o : observers_) engine_->add_observer(o);
  r.n_ctx = engine_->options().n_ctx;
  return Status::ok();
}

Result<SessionReport> InferenceSession::configure(const SessionSettings& settings) {
  auto r = plan(settings);
  if (!r.ok()) return r.status();
  const bool had = configured();
  SessionReport previous = report_;
  Status st = build(*r);
  if (!st.is_ok()) {
    // The old tier and engine were released to make room; rebuild them as they were.
    if (had) (void)build(previous);
    return st;
  }
  report_ = *r;
  return report_;
}

Result<GenerateResult> InferenceSession::run(std::span<const int32_t> prompt,
                                             const GenerateOptions& options,
                                             const RunHooks& hooks) {
  if (!engine_) return invalid_argument("inference session: configure() has not succeeded");
  auto seq = engine_->new_sequence();
  if (!seq.ok()) return seq.status();
  if (hooks.on_sequence) hooks.on_sequence(*seq);
  auto r = generate(*engine_, *seq, prompt, options, hooks.on_token);
  engine_->free_sequence(*seq);
  return r;
}

void InferenceSession::add_observer(ForwardObserver* observer) {
  if (!observer || std::find(observers_.begin(), observers_.end(), observer) != observers_.end()) {
    return;
  }
  observers_.push_back(observer);
  if (engine_) engine_->add_observer(observer);
}

void InferenceSession::remove_observer(ForwardObserver* observer) {
  std::erase(observers_, observer);
  if (engine_) engine_->remove_observer(observer);
}

void InferenceSession::add_expert_observer(experts::ExpertEventObserver* observer) {
  if (!observer || std::find(expert_observers_.begin(), expert_observers_.end(), observer) !=
                       expert_observers_.end()) {
    return;
  }
  expert_observers_.push_back(observer);
  if (cache_) cache_->add_observer(observer);
}

void InferenceSession::remove_expert_observer(experts::ExpertEventObserver* observer) {
  std::erase(expert_observers_, observer);
  if (cache_) cache_->remove_observer(observer);
}

}  // namespace emoe::engine
