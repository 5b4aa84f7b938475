#include "db/routing_recorder.h"

#include <algorithm>
#include <chrono>

namespace emoe::db {

RoutingRecorder::RoutingRecorder(RoutingWriter& writer, int64_t session_id)
    : writer_(writer), session_id_(session_id) {}

int64_t RoutingRecorder::now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RoutingRecorder::bind_sequence(int32_t seq, int64_t request_id) {
  std::lock_guard lock(mu_);
  seqs_[seq] = SeqState{request_id, -1};
}

void RoutingRecorder::unbind_sequence(int32_t seq) {
  std::lock_guard lock(mu_);
  seqs_.erase(seq);
}

Status RoutingRecorder::status() const {
  std::lock_guard lock(mu_);
  return error_;
}

void RoutingRecorder::push(Record record) {
  Status s = writer_.push(std::move(record));
  if (!s.is_ok()) {
    std::lock_guard lock(mu_);
    if (error_.is_ok()) error_ = s;
  }
}

void RoutingRecorder::on_routing(const engine::RoutingEvent& ev) {
  int64_t request_id = 0;
  bool new_token = false;
  {
    std::lock_guard lock(mu_);
    auto it = seqs_.find(ev.seq);
    if (it == seqs_.end()) {
      ++unmapped_;
      return;
    }
    request_id = it->second.request_id;
    // Events arrive layer by layer over the batch, so a position's first event is the only one
    // past the last recorded position.
    if (ev.pos > it->second.last_token_pos) {
      it->second.last_token_pos = ev.pos;
      new_token = true;
    }
  }
  if (new_token) {
    push(TokenRecord{request_id, ev.pos, ev.token, static_cast<int32_t>(ev.phase), now_us()});
  }
  const size_t ranks = std::max(ev.topk.size(), ev.used.size());
  for (size_t j = 0; j < ranks; ++j) {
    RoutingRecord r;
    r.request_id = request_id;
    r.pos = ev.pos;
    r.layer = ev.layer;
    r.rank = static_cast<int32_t>(j);
    if (j < ev.topk.size()) {
      r.router_expert = ev.topk[j];
      r.router_weight = j < ev.weights.size() ? ev.weights[j] : 0.0f;
    }
    if (j < ev.used.size()) {
      r.used_expert = ev.used[j];
      r.used_weight = j < ev.used_weights.size() ? ev.used_weights[j] : 0.0f;
    }
    push(r);
  }
}

void RoutingRecorder::on_memory_sample(const engine::MemorySample& m) {
  push(MemorySampleRecord{session_id_, now_us(), m.dense_bytes, m.expert_bytes, m.expert_budget,
                          m.kv_bytes, m.scratch_bytes});
}

void RoutingRecorder::on_expert_event(const experts::ExpertEvent& e) {
  push(ExpertEventRecord{session_id_, now_us(), static_cast<int32_t>(e.kind), e.layer, e.expert,
                         e.bytes, e.micros});
}

}  // namespace emoe::db
