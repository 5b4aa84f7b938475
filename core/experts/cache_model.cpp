// The victim order is kept in an indexed binary min-heap of resident slots, keyed like
// ExpertCache::choose_victim's linear scan, so an eviction costs O(log n_slots) instead of a
// scan over every slot: replays run tens of millions of acquisitions.
#include "core/experts/cache_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "core/experts/expert_store.h"

namespace emoe::experts {
namespace {

constexpr uint64_t kSlotAlign = 64;  // ExpertCache's slot alignment

}  // namespace

CacheShape CacheShape::from_store(const ExpertStore& store) {
  CacheShape s;
  s.n_layer = store.n_layer();
  s.n_expert = store.n_expert();
  s.n_expert_used = store.n_expert_used();
  s.expert_bytes.resize(static_cast<size_t>(s.n_layer));
  for (int32_t l = 0; l < s.n_layer; ++l)
    s.expert_bytes[static_cast<size_t>(l)] = store.layout(l).total;
  return s;
}

CacheShape CacheShape::uniform(int32_t n_layer, int32_t n_expert, int32_t n_expert_used,
                               uint64_t bytes, std::span<const uint8_t> moe_layers) {
  CacheShape s;
  s.n_layer = n_layer;
  s.n_expert = n_expert;
  s.n_expert_used = n_expert_used;
  s.expert_bytes.assign(static_cast<size_t>(std::max(n_layer, 0)), bytes);
  for (size_t l = 0; l < moe_layers.size() && l < s.expert_bytes.size(); ++l) {
    if (!moe_layers[l]) s.expert_bytes[l] = 0;
  }
  return s;
}

Status CacheShape::validate() const {
  if (n_layer < 1 || n_layer > (1 << 16)) {
    return invalid_argument("cache shape: n_layer must be 1..65536, got " +
                            std::to_string(n_layer));
  }
  if (n_expert < 1 || n_expert > (1 << 16)) {
    return invalid_argument("cache shape: n_expert must be 1..65536, got " +
                            std::to_string(n_expert));
  }
  if (n_expert_used < 1 || n_expert_used > n_expert) {
    return invalid_argument("cache shape: n_expert_used must be 1..n_expert (" +
                            std::to_string(n_expert) + "), got " + std::to_string(n_expert_used));
  }
  if (expert_bytes.size() != static_cast<size_t>(n_layer)) {
    return invalid_argument("cache shape: expert_bytes has " + std::to_string(expert_bytes.size()) +
                            " entries for " + std::to_string(n_layer) + " layers");
  }
  for (uint64_t b : expert_bytes) {
    if (b > (uint64_t{1} << 40)) {
      return invalid_argument("cache shape: an expert of " + std::to_string(b) +
                              " bytes is beyond 1 TiB");
    }
  }
  if (moe_layers() == 0) return invalid_argument("cache shape: no layer has experts");
  return Status::ok();
}

int32_t CacheShape::moe_layers() const {
  int32_t n = 0;
  for (uint64_t b : expert_bytes) n += b > 0 ? 1 : 0;
  return n;
}

uint64_t CacheShape::total_bytes() const {
  uint64_t t = 0;
  for (uint64_t b : expert_bytes) t += b * static_cast<uint64_t>(std::max(n_expert, 0));
  return t;
}

uint64_t CacheShape::slot_bytes() const {
  uint64_t m = 0;
  for (uint64_t b : expert_bytes) m = std::max(m, b);
  return (m + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
}

uint64_t CacheShape::minimum_budget() const {
  return static_cast<uint64_t>(std::max(n_expert_used, 0)) * slot_bytes() *
         static_cast<uint64_t>(moe_layers());
}

Result<uint64_t> parse_budget_text(const std::string& text, const CacheShape& shape) {
  auto spec = parse_budget_syntax(text);
  if (!spec.ok()) return spec.status();
  double bytes = spec->value;
  if (spec->unit == BudgetText::Unit::Percent) {
    bytes = static_cast<double>(shape.total_bytes()) * spec->value / 100.0;
  } else if (spec->unit == BudgetText::Unit::ExpertsPerLayer) {
    if (spec->value > shape.n_expert) {
      return invalid_argument("\"" + text + "\": the model has " + std::to_string(shape.n_expert) +
                              " experts per layer");
    }
    // As the CLI: slots of every block, dense ones included.
    bytes =
        spec->value * static_cast<double>(shape.slot_bytes()) * static_cast<double>(shape.n_layer);
  }
  return static_cast<uint64_t>(bytes);
}

Result<CacheModel> CacheModel::create(CacheShape shape, CacheModelOptions options) {
  EMOE_RETURN_IF_ERROR(shape.validate());
  if (!(options.bandwidth_bytes_per_s > 0) || !std::isfinite(options.bandwidth_bytes_per_s)) {
    return invalid_argument("cache model: bandwidth must be a positive number of bytes/s");
  }
  if (!(options.load_latency_s >= 0) || !std::isfinite(options.load_latency_s)) {
    return invalid_argument("cache model: load latency must be >= 0 seconds");
  }
  CacheModel m;
  m.slot_bytes_ = shape.slot_bytes();
  const uint64_t minimum = shape.minimum_budget();
  if (options.budget_bytes < minimum) {
    return out_of_memory("expert budget of " + std::to_string(options.budget_bytes) +
                         " bytes is below the minimum of " + std::to_string(minimum) + " bytes: " +
                         std::to_string(shape.n_expert_used) + " experts per MoE layer of " +
                         std::to_string(m.slot_bytes_) + " bytes each must fit");
  }
  const uint64_t total_experts =
      static_cast<uint64_t>(shape.moe_layers()) * static_cast<uint64_t>(shape.n_expert);
  uint64_t n_slots = m.slot_bytes_ > 0 ? options.budget_bytes / m.slot_bytes_ : 0;
  n_slots = std::min(n_slots, total_experts);
  if (n_slots > (uint64_t{1} << 30)) {
    return invalid_argument("expert budget needs too many slots: " + std::to_string(n_slots));
  }
  m.n_slots_ = static_cast<int32_t>(n_slots);
  m.budget_ = std::min(options.budget_bytes, total_experts * m.slot_bytes_);
  const size_t cells = static_cast<size_t>(shape.n_layer) * static_cast<size_t>(shape.n_expert);
  m.map_.assign(cells, -1);
  m.uses_.assign(cells, 0);
  m.planned_.assign(cells, 0);
  m.slot_cell_.assign(n_slots, -1);
  m.last_use_.assign(n_slots, 0);
  m.heap_pos_.assign(n_slots, -1);
  m.heap_.reserve(n_slots);
  m.free_slots_.reserve(n_slots);
  for (int32_t s = m.n_slots_ - 1; s >= 0; --s) m.free_slots_.push_back(s);
  m.st_.layers.assign(static_cast<size_t>(shape.n_layer), {});
  m.shape_ = std::move(shape);
  m.opt_ = options;
  return m;
}

std::vector<int32_t> CacheModel::resident_experts(int32_t layer) const {
  std::vector<int32_t> out;
  if (layer < 0 || layer >= shape_.n_layer) return out;
  for (int32_t e = 0; e < shape_.n_expert; ++e) {
    if (map_[cell(layer, e)] >= 0) out.push_back(e);
  }
  return out;
}

bool CacheModel::before(int32_t a, int32_t b) const {
  const size_t ca = static_cast<size_t>(slot_cell_[static_cast<size_t>(a)]);
  const size_t cb = static_cast<size_t>(slot_cell_[static_cast<size_t>(b)]);
  if (opt_.policy == EvictionPolicy::Pinned && planned_[ca] != planned_[cb]) {
    return planned_[ca] < planned_[cb];
  }
  if (opt_.policy == EvictionPolicy::Lfu && uses_[ca] != uses_[cb]) return uses_[ca] < uses_[cb];
  return last_use_[static_cast<size_t>(a)] < last_use_[static_cast<size_t>(b)];
}

void CacheModel::heap_up(int32_t pos) {
  const int32_t s = heap_[static_cast<size_t>(pos)];
  while (pos > 0) {
    const int32_t parent = (pos - 1) / 2;
    const int32_t p = heap_[static_cast<size_t>(parent)];
    if (!before(s, p)) break;
    heap_[static_cast<size_t>(pos)] = p;
    heap_pos_[static_cast<size_t>(p)] = pos;
    pos = parent;
  }
  heap_[static_cast<size_t>(pos)] = s;
  heap_pos_[static_cast<size_t>(s)] = pos;
}

void CacheModel::heap_down(int32_t pos) {
  const int32_t n = static_cast<int32_t>(heap_.size());
  const int32_t s = heap_[static_cast<size_t>(pos)];
  for (;;) {
    int32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n &&
        before(heap_[static_cast<size_t>(child + 1)], heap_[static_cast<size_t>(child)])) {
      ++child;
    }
    const int32_t c = heap_[static_cast<size_t>(child)];
    if (!before(c, s)) break;
    heap_[static_cast<size_t>(pos)] = c;
    heap_pos_[static_cast<size_t>(c)] = pos;
    pos = child;
  }
  heap_[static_cast<size_t>(pos)] = s;
  heap_pos_[static_cast<size_t>(s)] = pos;
}

void CacheModel::heap_fix(int32_t slot) {
  const int32_t pos = heap_pos_[static_cast<size_t>(slot)];
  if (pos < 0) return;
  heap_up(pos);
  heap_down(heap_pos_[static_cast<size_t>(slot)]);
}

void CacheModel::heap_push(int32_t slot) {
  heap_.push_back(slot);
  heap_up(static_cast<int32_t>(heap_.size()) - 1);
}

void CacheModel::heap_remove(int32_t slot) {
  const int32_t pos = heap_pos_[static_cast<size_t>(slot)];
  heap_pos_[static_cast<size_t>(slot)] = -1;
  const int32_t last = heap_.back();
  heap_.pop_back();
  if (last == slot) return;
  heap_[static_cast<size_t>(pos)] = last;
  heap_pos_[static_cast<size_t>(last)] = pos;
  heap_up(pos);
  heap_down(heap_pos_[static_cast<size_t>(last)]);
}

int32_t CacheModel::choose_victim(bool allow_planned) {
  if (heap_.empty()) return -1;
  const int32_t top = heap_.front();
  if (opt_.policy == EvictionPolicy::Pinned &&
      planned_[static_cast<size_t>(slot_cell_[static_cast<size_t>(top)])]) {
    if (!allow_planned) return -1;
    ++st_.pinned_overflows;
  }
  return top;
}

void CacheModel::evict(int32_t slot) {
  const int32_t c = slot_cell_[static_cast<size_t>(slot)];
  heap_remove(slot);
  map_[static_cast<size_t>(c)] = -1;
  slot_cell_[static_cast<size_t>(slot)] = -1;
  --in_use_;
  ++st_.total.evictions;
  ++st_.layers[static_cast<size_t>(c / shape_.n_expert)].evictions;
  free_slots_.push_back(slot);
}

int32_t CacheModel::load(int32_t layer, int32_t expert, bool allow_evict, bool allow_planned) {
  if (free_slots_.empty()) {
    if (!allow_evict) return -1;
    const int32_t v = choose_victim(allow_planned);
    if (v < 0) return -1;
    evict(v);
  }
  const int32_t s = free_slots_.back();
  free_slots_.pop_back();
  const size_t c = cell(layer, expert);
  slot_cell_[static_cast<size_t>(s)] = static_cast<int32_t>(c);
  last_use_[static_cast<size_t>(s)] = ++clock_;
  map_[c] = s;
  ++in_use_;
  heap_push(s);
  st_.peak_bytes = std::max(st_.peak_bytes, static_cast<uint64_t>(in_use_) * slot_bytes_);
  const uint64_t bytes = shape_.expert_bytes[static_cast<size_t>(layer)];
  CacheModelLayerStats& ls = st_.layers[static_cast<size_t>(layer)];
  ++ls.loads;
  ls.bytes_loaded += bytes;
  ++st_.total.loads;
  st_.total.bytes_loaded += bytes;
  return s;
}

Result<AcquireResult> CacheModel::acquire(int32_t layer, int32_t expert, bool load_if_missing) {
  const size_t c = cell(layer, expert);
  const uint64_t tick = ++clock_;
  ++uses_[c];
  CacheModelLayerStats& ls = st_.layers[static_cast<size_t>(layer)];
  int32_t s = map_[c];
  if (s >= 0) {
    last_use_[static_cast<size_t>(s)] = std::max(last_use_[static_cast<size_t>(s)], tick);
    heap_down(heap_pos_[static_cast<size_t>(s)]);  // its key only grew
    ++ls.hits;
    ++st_.total.hits;
    return AcquireResult::Hit;
  }
  ++ls.misses;
  ++st_.total.misses;
  if (!load_if_missing) return AcquireResult::Missed;
  s = load(layer, expert, true, opt_.overflow_planned);
  if (s < 0) {
    return out_of_memory("expert cache model: no slot can be freed for layer " +
                         std::to_string(layer) + " expert " + std::to_string(expert) + " (all " +
                         std::to_string(n_slots_) + " slots are planned)");
  }
  // The load set last_use to a later tick than the acquire's, as ExpertCache's max() keeps.
  const double t = load_seconds(layer);
  ls.stall_s += t;
  st_.total.stall_s += t;
  return AcquireResult::Loaded;
}

void CacheModel::fill() {
  for (int32_t e = 0; e < shape_.n_expert; ++e) {
    for (int32_t l = 0; l < shape_.n_layer; ++l) {
      if (!shape_.has_experts(l)) continue;
      if (free_slots_.empty()) return;
      if (map_[cell(l, e)] >= 0) continue;
      load(l, e, false, false);
      ++st_.fill_loads;
      st_.fill_bytes += shape_.expert_bytes[static_cast<size_t>(l)];
    }
  }
}

Status CacheModel::set_plan(int32_t layer, std::span<const int32_t> experts) {
  if (layer < 0 || layer >= shape_.n_layer || !shape_.has_experts(layer)) {
    return invalid_argument("set_plan: layer " + std::to_string(layer) + " has no experts");
  }
  std::vector<uint8_t> plan(static_cast<size_t>(shape_.n_expert), 0);
  for (int32_t e : experts) {
    if (e < 0 || e >= shape_.n_expert) {
      return invalid_argument("set_plan: no expert " + std::to_string(e) + " in layer " +
                              std::to_string(layer));
    }
    plan[static_cast<size_t>(e)] = 1;
  }
  int64_t total = 0;
  for (int32_t l = 0; l < shape_.n_layer; ++l) {
    if (l == layer) {
      total += std::count(plan.begin(), plan.end(), uint8_t{1});
      continue;
    }
    const auto row = planned_.begin() + static_cast<std::ptrdiff_t>(cell(l, 0));
    total += std::count(row, row + shape_.n_expert, uint8_t{1});
  }
  if (total > n_slots_) {
    return out_of_memory("set_plan: " + std::to_string(total) +
                         " planned experts exceed the cache's " + std::to_string(n_slots_) +
                         " slots");
  }
  for (int32_t e = 0; e < shape_.n_expert; ++e) {
    const size_t c = cell(layer, e);
    if (planned_[c] == plan[static_cast<size_t>(e)]) continue;
    planned_[c] = plan[static_cast<size_t>(e)];
    if (map_[c] >= 0) heap_fix(map_[c]);
  }
  // ExpertCache::prefetch: missing experts in call order; a load with no slot to free is
  // dropped (an acquire loads it later).
  for (int32_t e : experts) {
    if (map_[cell(layer, e)] >= 0) continue;
    if (load(layer, e, true, false) < 0) {
      ++st_.dropped_prefetches;
      continue;
    }
    ++st_.prefetch_loads;
    st_.prefetch_bytes += shape_.expert_bytes[static_cast<size_t>(layer)];
    st_.prefetch_s += load_seconds(layer);
  }
  return Status::ok();
}

void CacheModel::reset_stats() {
  st_ = CacheModelStats{};
  st_.layers.assign(static_cast<size_t>(shape_.n_layer), {});
  st_.peak_bytes = static_cast<uint64_t>(in_use_) * slot_bytes_;
}

}  // namespace emoe::experts
