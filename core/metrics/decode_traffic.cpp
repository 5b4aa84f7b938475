#include "core/metrics/decode_traffic.h"

namespace emoe::metrics {

DecodeTraffic::DecodeTraffic(const model::ModelWeights& w) : weights_(w) {
  const uint64_t embd_bytes = w.token_embd.row_stride * static_cast<uint64_t>(w.token_embd.rows);
  const bool tied = w.output.data == w.token_embd.data;
  // An untied embedding table is only indexed (one row per token), never streamed.
  dense_per_token_ = w.dense_bytes - (tied ? 0 : embd_bytes) + w.token_embd.row_stride;
}

void DecodeTraffic::on_routing(const engine::RoutingEvent& ev) {
  for (int32_t e : ev.topk) experts_.emplace(ev.layer, e);
}

uint64_t DecodeTraffic::step_bytes() const {
  uint64_t bytes = dense_per_token_;
  for (const auto& [layer, e] : experts_) bytes += weights_.bytes_per_expert(layer);
  return bytes;
}

}  // namespace emoe::metrics
