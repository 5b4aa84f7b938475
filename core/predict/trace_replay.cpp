#include "core/predict/trace_replay.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <utility>

#include "core/predict/expert_planner.h"
#include "core/predict/predictor.h"
#include "core/predict/routing_history.h"

namespace emoe::predict {
namespace {

size_t at(int32_t t, int32_t layer, int32_t n_layer, int32_t k) {
  return (static_cast<size_t>(t) * static_cast<size_t>(n_layer) + static_cast<size_t>(layer)) *
         static_cast<size_t>(k);
}

}  // namespace

int64_t ReplayRequest::prefill_tokens() const {
  return std::count(phase.begin(), phase.end(), uint8_t{0});
}

int64_t ReplayInput::tokens() const {
  int64_t n = 0;
  for (const ReplayRequest& r : requests) n += r.n_tokens();
  return n;
}

int64_t ReplayInput::token_layer_events() const {
  int64_t n = 0;
  for (const ReplayRequest& r : requests) {
    for (size_t i = 0; i < r.router.size(); i += static_cast<size_t>(k)) n += r.router[i] >= 0;
  }
  return n;
}

std::vector<uint8_t> ReplayInput::routed_layers() const {
  std::vector<uint8_t> out(static_cast<size_t>(std::max(n_layer, 0)), 0);
  for (const ReplayRequest& r : requests) {
    for (int32_t t = 0; t < r.n_tokens(); ++t) {
      for (int32_t l = 0; l < n_layer; ++l) {
        if (r.router[at(t, l, n_layer, k)] >= 0) out[static_cast<size_t>(l)] = 1;
      }
    }
  }
  return out;
}

Status ReplayInput::validate() const {
  if (n_layer < 1 || n_expert < 1 || k < 1 || k > n_expert) {
    return invalid_argument(
        "replay input: needs n_layer >= 1, n_expert >= 1 and 1 <= k <= n_expert, "
        "got " +
        std::to_string(n_layer) + ", " + std::to_string(n_expert) + ", " + std::to_string(k));
  }
  for (const ReplayRequest& r : requests) {
    const std::string where = "replay input: request " + std::to_string(r.id) + ": ";
    const size_t n = r.pos.size();
    const size_t cells = n * static_cast<size_t>(n_layer) * static_cast<size_t>(k);
    if (r.phase.size() != n || r.router.size() != cells ||
        (!r.weights.empty() && r.weights.size() != cells) ||
        (!r.used.empty() && r.used.size() != cells)) {
      return invalid_argument(where + "array sizes do not match its " + std::to_string(n) +
                              " tokens");
    }
    for (size_t i = 1; i < n; ++i) {
      if (r.pos[i] <= r.pos[i - 1]) return invalid_argument(where + "positions are not ascending");
    }
    for (const auto* v : {&r.router, &r.used}) {
      for (int32_t e : *v) {
        if (e < -1 || e >= n_expert) {
          return invalid_argument(where + "expert " + std::to_string(e) + " is out of range (" +
                                  std::to_string(n_expert) + " experts)");
        }
      }
    }
    if (r.step_begin.empty() || r.step_begin.front() != 0 ||
        r.step_begin.back() != static_cast<int32_t>(n) ||
        !std::is_sorted(r.step_begin.begin(), r.step_begin.end())) {
      return invalid_argument(where + "steps do not cover its tokens");
    }
  }
  return Status::ok();
}

void assign_steps(ReplayRequest& r, int64_t prefill_chunk) {
  const int64_t chunk = std::max<int64_t>(1, prefill_chunk);
  r.step_begin.clear();
  int64_t prev_key = std::numeric_limits<int64_t>::min();
  for (int32_t t = 0; t < r.n_tokens(); ++t) {
    // Prefill chunk c gets key c; decode position p gets a key of its own past every chunk.
    const int64_t key = r.phase[static_cast<size_t>(t)] == 0
                            ? r.pos[static_cast<size_t>(t)] / chunk
                            : (int64_t{1} << 40) + r.pos[static_cast<size_t>(t)];
    if (t == 0 || key != prev_key) r.step_begin.push_back(t);
    prev_key = key;
  }
  r.step_begin.push_back(r.n_tokens());
}

ReplayInputBuilder::ReplayInputBuilder(int32_t n_layer, int32_t n_expert, int32_t k)
    : n_layer_(n_layer), n_expert_(n_expert), k_(k) {}

void ReplayInputBuilder::begin_request(int64_t id, std::string task) {
  requests_.emplace_back(id, std::move(task));
}

Status ReplayInputBuilder::add(int32_t pos, int32_t layer, int32_t phase,
                               std::span<const int32_t> router, std::span<const float> weights,
                               std::span<const int32_t> used, bool has_used) {
  if (requests_.empty()) return invalid_argument("replay input: add() before begin_request()");
  if (pos < 0 || layer < 0 || (phase != 0 && phase != 1)) {
    return invalid_argument("replay input: bad position " + std::to_string(pos) + ", layer " +
                            std::to_string(layer) + " or phase " + std::to_string(phase));
  }
  if (!weights.empty() && weights.size() != router.size()) {
    return invalid_argument("replay input: " + std::to_string(weights.size()) + " weights for " +
                            std::to_string(router.size()) + " experts");
  }
  if (router.size() > 4096 || used.size() > 4096) {
    return invalid_argument("replay input: more than 4096 experts in one decision");
  }
  for (auto list : {router, used}) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] < 0) {
        return invalid_argument("replay input: expert id " + std::to_string(list[i]) +
                                " at position " + std::to_string(pos) + " layer " +
                                std::to_string(layer));
      }
      for (size_t j = 0; j < i; ++j) {
        if (list[j] == list[i]) {
          return invalid_argument("replay input: expert " + std::to_string(list[i]) +
                                  " listed twice at position " + std::to_string(pos) + " layer " +
                                  std::to_string(layer));
        }
      }
    }
  }
  Rec r{static_cast<int32_t>(requests_.size() - 1),
        pos,
        layer,
        phase,
        static_cast<uint32_t>(experts_.size()),
        static_cast<uint32_t>(router.size()),
        static_cast<uint32_t>(has_used ? used.size() : 0),
        has_used};
  experts_.insert(experts_.end(), router.begin(), router.end());
  if (has_used) experts_.insert(experts_.end(), used.begin(), used.end());
  for (size_t i = 0; i < router.size(); ++i) {
    weights_.push_back(weights.empty() ? std::numeric_limits<float>::quiet_NaN() : weights[i]);
  }
  weights_.resize(experts_.size(), std::numeric_limits<float>::quiet_NaN());
  any_weights_ = any_weights_ || !weights.empty();
  recs_.push_back(r);
  return Status::ok();
}

Result<ReplayInput> ReplayInputBuilder::finish(int64_t prefill_chunk) {
  ReplayInput in;
  int32_t max_layer = -1, max_expert = -1, max_k = 0;
  bool any_used = false;
  for (const Rec& r : recs_) {
    max_layer = std::max(max_layer, r.layer);
    max_k = std::max<int32_t>(max_k, static_cast<int32_t>(std::max(r.n_router, r.n_used)));
    any_used = any_used || r.has_used;
    for (uint32_t i = 0; i < r.n_router + r.n_used; ++i) {
      max_expert = std::max(max_expert, experts_[r.off + i]);
    }
  }
  in.n_layer = n_layer_ > 0 ? n_layer_ : max_layer + 1;
  in.n_expert = n_expert_ > 0 ? n_expert_ : max_expert + 1;
  in.k = k_ > 0 ? k_ : max_k;
  if (recs_.empty() && (in.n_layer < 1 || in.n_expert < 1 || in.k < 1)) {
    return invalid_argument("replay input: the trace holds no routing decisions");
  }
  if (max_layer >= in.n_layer) {
    return invalid_argument("replay input: layer " + std::to_string(max_layer) +
                            " is out of range (" + std::to_string(in.n_layer) + " layers)");
  }
  if (max_expert >= in.n_expert) {
    return invalid_argument("replay input: expert " + std::to_string(max_expert) +
                            " is out of range (" + std::to_string(in.n_expert) + " experts)");
  }
  if (max_k > in.k) {
    return invalid_argument("replay input: a decision lists " + std::to_string(max_k) +
                            " experts but k is " + std::to_string(in.k));
  }
  std::vector<uint32_t> order(recs_.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Rec &x = recs_[a], &y = recs_[b];
    if (x.request != y.request) return x.request < y.request;
    if (x.pos != y.pos) return x.pos < y.pos;
    return x.layer < y.layer;
  });
  in.requests.resize(requests_.size());
  for (size_t i = 0; i < requests_.size(); ++i) {
    in.requests[i].id = requests_[i].first;
    in.requests[i].task = requests_[i].second;
  }
  const size_t per_token = static_cast<size_t>(in.n_layer) * static_cast<size_t>(in.k);
  size_t i = 0;
  while (i < order.size()) {
    const int32_t req = recs_[order[i]].request;
    size_t j = i;
    ReplayRequest& out = in.requests[static_cast<size_t>(req)];
    // Positions of this request.
    while (j < order.size() && recs_[order[j]].request == req) {
      const Rec& r = recs_[order[j]];
      if (out.pos.empty() || out.pos.back() != r.pos) {
        out.pos.push_back(r.pos);
        out.phase.push_back(static_cast<uint8_t>(r.phase));
      } else if (out.phase.back() != r.phase) {
        return invalid_argument("replay input: request " + std::to_string(out.id) + " position " +
                                std::to_string(r.pos) + " is both prefill and decode");
      }
      ++j;
    }
    const size_t cells = out.pos.size() * per_token;
    out.router.assign(cells, -1);
    if (any_used) out.used.assign(cells, -1);
    if (any_weights_) out.weights.assign(cells, std::numeric_limits<float>::quiet_NaN());
    int32_t t = -1, last_pos = -1, last_layer = -1;
    for (size_t q = i; q < j; ++q) {
      const Rec& r = recs_[order[q]];
      if (r.pos != last_pos) {
        ++t;
        last_pos = r.pos;
        last_layer = -1;
      } else if (r.layer == last_layer) {
        return invalid_argument("replay input: request " + std::to_string(out.id) + " position " +
                                std::to_string(r.pos) + " layer " + std::to_string(r.layer) +
                                " appears twice");
      }
      last_layer = r.layer;
      const size_t base = at(t, r.layer, in.n_layer, in.k);
      for (uint32_t x = 0; x < r.n_router; ++x) {
        out.router[base + x] = experts_[r.off + x];
        if (any_weights_) out.weights[base + x] = weights_[r.off + x];
      }
      if (any_used) {
        if (r.has_used) {
          for (uint32_t x = 0; x < r.n_used; ++x)
            out.used[base + x] = experts_[r.off + r.n_router + x];
        } else {
          for (uint32_t x = 0; x < r.n_router; ++x) out.used[base + x] = experts_[r.off + x];
        }
      }
    }
    i = j;
  }
  for (ReplayRequest& r : in.requests) assign_steps(r, prefill_chunk);
  return in;
}

double ReplayLayerReport::topk_hit_rate() const {
  const uint64_t n = topk_hits + topk_misses;
  return n > 0 ? static_cast<double>(topk_hits) / static_cast<double>(n) : 0.0;
}

double ReplayLayerReport::fallback_rate() const {
  const uint64_t n = topk_hits + topk_misses;
  return n > 0 ? static_cast<double>(substitutions) / static_cast<double>(n) : 0.0;
}

namespace {

// The planner side of a replay: predictor, periodic invoker, history and ExpertPlanner.
struct PlannerDriver {
  std::unique_ptr<Predictor> predictor;
  std::unique_ptr<PeriodicInvoker> invoker;
  std::unique_ptr<RoutingHistory> history;
  std::unique_ptr<ExpertPlanner> planner;
  std::vector<std::vector<int32_t>> pinned;  // [n_layer] what set_plan last got
  std::vector<uint8_t> has_pin;
  std::map<std::string, std::pair<double, int64_t>> output_tokens;  // task -> (sum, count)
  HistoryShape shape;

  static Result<std::unique_ptr<PlannerDriver>> create(const ReplayInput& in,
                                                       const experts::CacheModel& cache,
                                                       const ReplayOptions& o) {
    auto d = std::make_unique<PlannerDriver>();
    const experts::CacheShape& cs = cache.shape();
    d->shape = HistoryShape{cs.n_layer, cs.n_expert, in.k, HistogramPhase::All};
    PredictorOptions po;
    po.shape = d->shape;
    po.seed = o.seed;
    auto p = make_predictor(o.predictor, po);
    if (!p.ok()) return p.status();
    d->predictor = std::move(p).value();
    auto inv = PeriodicInvoker::create(d->predictor.get(), o.interval, {}, o.invoker_mode);
    if (!inv.ok()) return inv.status();
    d->invoker = std::make_unique<PeriodicInvoker>(std::move(inv).value());
    auto h = RoutingHistory::create(d->shape, 4096);
    if (!h.ok()) return h.status();
    d->history = std::make_unique<RoutingHistory>(std::move(h).value());
    // ExpertCache::fill()'s shares (PlannerShape::from_budget's arithmetic).
    PlannerShape ps;
    ps.n_layer = cs.n_layer;
    ps.n_expert = cs.n_expert;
    ps.capacity.assign(static_cast<size_t>(cs.n_layer), 0);
    ps.expert_bytes = cs.expert_bytes;
    const int64_t moe = cs.moe_layers();
    const int64_t each = cache.n_slots() / moe, extra = cache.n_slots() % moe;
    int64_t i = 0;
    for (int32_t l = 0; l < cs.n_layer; ++l) {
      if (!cs.has_experts(l)) continue;
      ps.capacity[static_cast<size_t>(l)] =
          static_cast<int32_t>(std::min<int64_t>(each + (i < extra ? 1 : 0), cs.n_expert));
      ++i;
    }
    auto pl = ExpertPlanner::create(std::move(ps));
    if (!pl.ok()) return pl.status();
    d->planner = std::make_unique<ExpertPlanner>(std::move(pl).value());
    d->pinned.assign(static_cast<size_t>(cs.n_layer), {});
    d->has_pin.assign(static_cast<size_t>(cs.n_layer), 0);
    return d;
  }

  // The router's top-k counted per phase: what the request's routing was, whatever the tier.
  Result<PromptRecord> record_of(const ReplayInput& in, const ReplayRequest& r) const {
    const size_t cells = shape.cells();
    std::vector<uint32_t> pre(cells, 0), dec(cells, 0);
    for (int32_t t = 0; t < r.n_tokens(); ++t) {
      auto& h = r.phase[static_cast<size_t>(t)] == 0 ? pre : dec;
      for (int32_t l = 0; l < in.n_layer; ++l) {
        const size_t base = at(t, l, in.n_layer, in.k);
        for (int32_t j = 0; j < in.k; ++j) {
          const int32_t e = r.router[base + static_cast<size_t>(j)];
          if (e >= 0) ++h[static_cast<size_t>(l) * static_cast<size_t>(shape.n_expert) + e];
        }
      }
    }
    return PromptRecord::from_counts(r.id, r.task, shape.n_layer, shape.n_expert, std::move(pre),
                                     std::move(dec), r.prefill_tokens(), r.decode_tokens());
  }

  // Before request r: predict, plan and pin.
  Status before(const ReplayInput& in, const ReplayRequest& r, experts::CacheModel& cache,
                ReplayReport& rep) {
    auto rec = record_of(in, r);
    if (!rec.ok()) return rec.status();
    predictor->reveal_future(*rec);
    PeriodicInvoker::Decision dec;
    const ExpertPrediction& pred = invoker->next_prompt(*history, r.task, &dec);
    rep.predictor_invocations += dec.invoked ? 1 : 0;
    EMOE_RETURN_IF_ERROR(planner->set_frequency(r.task, pred));
    auto it = output_tokens.find(r.task);
    if (it != output_tokens.end() && it->second.second > 0) {
      planner->set_output_length(r.task, it->second.first / static_cast<double>(it->second.second));
    }
    Residents residents(static_cast<size_t>(cache.shape().n_layer));
    for (int32_t l = 0; l < cache.shape().n_layer; ++l) {
      residents[static_cast<size_t>(l)] = cache.resident_experts(l);
    }
    const RunningRequest running{r.task, r.prefill_tokens()};
    auto plan = planner->plan(std::span<const RunningRequest>(&running, 1), residents);
    if (!plan.ok()) return plan.status();
    // Shrinking layers first, so the planned total never exceeds the slots midway.
    std::vector<int32_t> layers;
    for (int32_t l = 0; l < cache.shape().n_layer; ++l) {
      if (!cache.shape().has_experts(l)) continue;
      const auto& want = plan->layers[static_cast<size_t>(l)].experts;
      if (has_pin[static_cast<size_t>(l)] && want == pinned[static_cast<size_t>(l)]) continue;
      layers.push_back(l);
    }
    std::stable_sort(layers.begin(), layers.end(), [&](int32_t a, int32_t b) {
      const auto grow = [&](int32_t l) {
        return static_cast<int64_t>(plan->layers[static_cast<size_t>(l)].experts.size()) -
               static_cast<int64_t>(pinned[static_cast<size_t>(l)].size());
      };
      return grow(a) < grow(b);
    });
    for (int32_t l : layers) {
      const auto& want = plan->layers[static_cast<size_t>(l)].experts;
      EMOE_RETURN_IF_ERROR(cache.set_plan(l, want));
      pinned[static_cast<size_t>(l)] = want;
      has_pin[static_cast<size_t>(l)] = 1;
      ++rep.plan_changes;
    }
    return Status::ok();
  }

  Status after(const ReplayInput& in, const ReplayRequest& r) {
    auto rec = record_of(in, r);
    if (!rec.ok()) return rec.status();
    auto& o = output_tokens[r.task];
    o.first += static_cast<double>(r.decode_tokens());
    ++o.second;
    EMOE_RETURN_IF_ERROR(predictor->observe(*rec));
    return history->add(std::move(rec).value());
  }
};

// Ascending ids of the experts stamped with `stamp`.
void collect(std::vector<int32_t>& list, const std::vector<uint32_t>& stamps, uint32_t stamp,
             std::vector<int32_t>& out) {
  out.clear();
  for (int32_t e : list) {
    if (stamps[static_cast<size_t>(e)] == stamp) out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace

Result<ReplayReport> replay_trace(const ReplayInput& in, const experts::CacheShape& shape,
                                  const ReplayOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  EMOE_RETURN_IF_ERROR(in.validate());
  EMOE_RETURN_IF_ERROR(shape.validate());
  if (in.n_layer > shape.n_layer || in.n_expert > shape.n_expert) {
    return invalid_argument("replay: the trace has " + std::to_string(in.n_layer) + " layers x " +
                            std::to_string(in.n_expert) + " experts but the model has " +
                            std::to_string(shape.n_layer) + " x " + std::to_string(shape.n_expert));
  }
  const std::vector<uint8_t> routed = in.routed_layers();
  for (int32_t l = 0; l < in.n_layer; ++l) {
    if (routed[static_cast<size_t>(l)] && !shape.has_experts(l)) {
      return invalid_argument("replay: the trace routes layer " + std::to_string(l) +
                              ", which has no experts (expert bytes 0)");
    }
  }
  if (o.mode != engine::RoutingMode::Exact && o.mode != engine::RoutingMode::Fallback) {
    return invalid_argument("replay: routing mode must be exact or fallback");
  }
  experts::CacheModelOptions co;
  co.budget_bytes = o.budget_bytes;
  co.policy = o.predictor.empty() ? o.policy : experts::EvictionPolicy::Pinned;
  co.bandwidth_bytes_per_s = o.bandwidth_bytes_per_s;
  co.load_latency_s = o.load_latency_s;
  auto cm = experts::CacheModel::create(shape, co);
  if (!cm.ok()) return cm.status();
  experts::CacheModel& cache = *cm;
  const bool fallback = o.mode == engine::RoutingMode::Fallback;
  if (fallback || o.fill_first) cache.fill();

  std::unique_ptr<PlannerDriver> driver;
  if (!o.predictor.empty()) {
    auto d = PlannerDriver::create(in, cache, o);
    if (!d.ok()) return d.status();
    driver = std::move(d).value();
  }

  ReplayReport rep;
  rep.layers.assign(static_cast<size_t>(shape.n_layer), {});
  rep.rank_hits.assign(static_cast<size_t>(in.k), 0);
  rep.rank_misses.assign(static_cast<size_t>(in.k), 0);
  const int32_t k = in.k, n_layer = in.n_layer, n_expert = in.n_expert;
  std::vector<uint32_t> missing_stamp(static_cast<size_t>(n_expert), 0);
  std::vector<uint32_t> used_stamp(static_cast<size_t>(n_expert), 0);
  std::vector<int32_t> missing_list, used_list, ids;
  std::vector<int32_t> chosen(static_cast<size_t>(k));
  uint32_t stamp = 0;

  for (const ReplayRequest& r : in.requests) {
    if (driver) EMOE_RETURN_IF_ERROR(driver->before(in, r, cache, rep));
    const std::vector<int32_t>& used_src = r.used.empty() ? r.router : r.used;
    for (int32_t s = 0; s < r.n_steps(); ++s) {
      const int32_t t_begin = r.step_begin[static_cast<size_t>(s)];
      const int32_t t_end = r.step_begin[static_cast<size_t>(s) + 1];
      ++rep.steps;
      for (int32_t l = 0; l < n_layer; ++l) {
        if (!routed[static_cast<size_t>(l)]) continue;
        ReplayLayerReport& lr = rep.layers[static_cast<size_t>(l)];
        if (++stamp == 0) {  // wrapped: clear the stamps
          std::fill(missing_stamp.begin(), missing_stamp.end(), 0u);
          std::fill(used_stamp.begin(), used_stamp.end(), 0u);
          stamp = 1;
        }
        missing_list.clear();
        used_list.clear();
        for (int32_t t = t_begin; t < t_end; ++t) {
          const size_t base = at(t, l, n_layer, k);
          const int32_t* topk = r.router.data() + base;
          if (topk[0] < 0) continue;
          ++lr.decisions;
          int32_t n_router = 0;
          bool all_hit = true;
          for (int32_t j = 0; j < k && topk[j] >= 0; ++j) {
            ++n_router;
            if (cache.resident(l, topk[j])) {
              ++lr.topk_hits;
              ++rep.rank_hits[static_cast<size_t>(j)];
            } else {
              ++lr.topk_misses;
              ++rep.rank_misses[static_cast<size_t>(j)];
              all_hit = false;
              if (fallback) {
                missing_stamp[static_cast<size_t>(topk[j])] = stamp;
                missing_list.push_back(topk[j]);
              }
            }
          }
          const int32_t* use = topk;
          int32_t n_used = n_router;
          if (fallback && !all_hit) {
            // The recorded choice when it is possible here, else the documented approximation.
            const int32_t* rec = used_src.data() + base;
            int32_t n_rec = 0;
            bool rec_ok = true;
            for (int32_t j = 0; j < k && rec[j] >= 0; ++j) {
              ++n_rec;
              rec_ok = rec_ok && cache.resident(l, rec[j]);
            }
            if (rec_ok && n_rec > 0) {
              use = rec;
              n_used = n_rec;
            } else {
              n_used = 0;
              for (int32_t j = 0; j < n_router; ++j) {
                if (cache.resident(l, topk[j])) chosen[static_cast<size_t>(n_used++)] = topk[j];
              }
              for (int32_t e = 0; e < shape.n_expert && n_used < n_router; ++e) {
                if (!cache.resident(l, e)) continue;
                if (std::find(chosen.begin(), chosen.begin() + n_used, e) !=
                    chosen.begin() + n_used) {
                  continue;
                }
                chosen[static_cast<size_t>(n_used++)] = e;
              }
              use = chosen.data();
            }
            for (int32_t j = 0; j < n_used; ++j) {
              if (std::find(topk, topk + n_router, use[j]) == topk + n_router) ++lr.substitutions;
            }
            if (n_used < n_router) ++lr.short_decisions;
          }
          for (int32_t j = 0; j < n_used; ++j) {
            used_stamp[static_cast<size_t>(use[j])] = stamp;
            used_list.push_back(use[j]);
          }
        }
        if (fallback) {
          collect(missing_list, missing_stamp, stamp, ids);
          for (int32_t e : ids) {
            auto a = cache.acquire(l, e, false);
            if (!a.ok()) return a.status();
          }
        }
        collect(used_list, used_stamp, stamp, ids);
        for (int32_t e : ids) {
          auto a = cache.acquire(l, e, !fallback);
          if (!a.ok()) return a.status();
        }
      }
    }
    rep.tokens += r.n_tokens();
    if (driver) EMOE_RETURN_IF_ERROR(driver->after(in, r));
  }

  const experts::CacheModelStats& st = cache.stats();
  for (int32_t l = 0; l < shape.n_layer; ++l) {
    ReplayLayerReport& lr = rep.layers[static_cast<size_t>(l)];
    const experts::CacheModelLayerStats& cl = st.layers[static_cast<size_t>(l)];
    lr.hits = cl.hits;
    lr.misses = cl.misses;
    lr.loads = cl.loads;
    lr.bytes_loaded = cl.bytes_loaded;
    lr.evictions = cl.evictions;
    lr.stall_s = cl.stall_s;
    ReplayLayerReport& t = rep.total;
    t.decisions += lr.decisions;
    t.topk_hits += lr.topk_hits;
    t.topk_misses += lr.topk_misses;
    t.substitutions += lr.substitutions;
    t.short_decisions += lr.short_decisions;
  }
  rep.total.hits = st.total.hits;
  rep.total.misses = st.total.misses;
  rep.total.loads = st.total.loads;
  rep.total.bytes_loaded = st.total.bytes_loaded;
  rep.total.evictions = st.total.evictions;
  rep.total.stall_s = st.total.stall_s;
  rep.fill_loads = st.fill_loads;
  rep.fill_bytes = st.fill_bytes;
  rep.prefetch_loads = st.prefetch_loads;
  rep.prefetch_bytes = st.prefetch_bytes;
  rep.prefetch_s = st.prefetch_s;
  rep.pinned_overflows = st.pinned_overflows;
  rep.dropped_prefetches = st.dropped_prefetches;
  rep.peak_bytes = st.peak_bytes;
  rep.requests = static_cast<int64_t>(in.requests.size());
  rep.token_layer_events = static_cast<int64_t>(rep.total.decisions);
  rep.n_slots = cache.n_slots();
  rep.slot_bytes = cache.slot_bytes();
  rep.budget_bytes = cache.budget_bytes();
  rep.replay_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.events_per_second =
      rep.replay_seconds > 0 ? static_cast<double>(rep.token_layer_events) / rep.replay_seconds : 0;
  return rep;
}

}  // namespace emoe::predict
