#include "core/predict/routing_history_recorder.h"

#include "core/engine/generator.h"
#include "core/model/model.h"

namespace emoe::predict {

RoutingHistoryRecorder::RoutingHistoryRecorder(int32_t n_layer, int32_t n_expert,
                                               RoutingSource source)
    : n_layer_(n_layer), n_expert_(n_expert), source_(source) {}

void RoutingHistoryRecorder::bind_sequence(int32_t seq, int64_t request_id, std::string task) {
  std::lock_guard lock(mu_);
  SeqState s;
  s.record = PromptRecord::empty(request_id, std::move(task), n_layer_, n_expert_);
  seqs_[seq] = std::move(s);
}

Result<PromptRecord> RoutingHistoryRecorder::finish_sequence(int32_t seq) {
  std::lock_guard lock(mu_);
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) {
    return not_found("routing history recorder: sequence " + std::to_string(seq) +
                     " is not bound to a request");
  }
  PromptRecord r = std::move(it->second.record);
  seqs_.erase(it);
  return r;
}

void RoutingHistoryRecorder::unbind_sequence(int32_t seq) {
  std::lock_guard lock(mu_);
  seqs_.erase(seq);
}

void RoutingHistoryRecorder::on_routing(const engine::RoutingEvent& ev) {
  if (ev.layer < 0 || ev.layer >= n_layer_) {
    ++rejected_;
    return;
  }
  const std::span<const int32_t> experts = source_ == RoutingSource::Used ? ev.used : ev.topk;
  for (const int32_t e : experts) {
    if (e < 0 || e >= n_expert_) {
      ++rejected_;
      return;
    }
  }
  std::lock_guard lock(mu_);
  auto it = seqs_.find(ev.seq);
  if (it == seqs_.end()) {
    ++unmapped_;
    return;
  }
  SeqState& s = it->second;
  const bool prefill = ev.phase == engine::Phase::Prefill;
  // Events come layer by layer over a batch, so a position is new exactly when it is past the
  // last one seen in its phase.
  int32_t& last = prefill ? s.last_prefill_pos : s.last_decode_pos;
  if (ev.pos > last) {
    last = ev.pos;
    ++(prefill ? s.record.prefill_tokens : s.record.decode_tokens);
  }
  std::vector<uint32_t>& counts = prefill ? s.record.prefill : s.record.decode;
  const size_t row = static_cast<size_t>(ev.layer) * static_cast<size_t>(n_expert_);
  for (const int32_t e : experts) ++counts[row + static_cast<size_t>(e)];
}

Result<RecordedGeneration> generate_recorded(engine::Engine& engine,
                                             std::span<const int32_t> prompt,
                                             int32_t max_new_tokens, bool stop_at_eos,
                                             int64_t request_id) {
  const model::ModelConfig& c = engine.model().config();
  RoutingHistoryRecorder rec(static_cast<int32_t>(c.n_layer), static_cast<int32_t>(c.n_expert),
                             RoutingSource::Router);
  engine::ObserverScope<engine::Engine> scope(engine, &rec);
  auto seq = engine.new_sequence();
  if (!seq.ok()) return seq.status();
  rec.bind_sequence(*seq, request_id, {});
  engine::GenerateOptions go;
  go.max_new_tokens = max_new_tokens;
  go.stop_at_eos = stop_at_eos;
  auto g = engine::generate(engine, *seq, prompt, go);
  engine.free_sequence(*seq);
  if (!g.ok()) {
    rec.unbind_sequence(*seq);
    return g.status();
  }
  auto record = rec.finish_sequence(*seq);
  if (!record.ok()) return record.status();
  RecordedGeneration out;
  out.generated = std::move(g->generated);
  out.record = std::move(record).value();
  return out;
}

}  // namespace emoe::predict
