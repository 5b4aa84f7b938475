// The routing half of an MoE layer, shared by every backend: from the router's logits to the
// experts each token uses. Gating (softmax or sigmoid), selection (bias, expert groups),
// top-k, gate weights, the routing mode's choice (exact/all: the top-k; fallback: the best
// resident experts), per-expert token groups, observer events, and the fallback misses counted
// on the device tier. The expert products themselves are the backend's.
#pragma once

#include <cstdint>
#include <span>

#include "core/common/status.h"
#include "core/engine/batch.h"
#include "core/engine/forward_observer.h"
#include "core/engine/moe_layer.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace emoe::engine {

// In: ws.logits [batch.size()][n_expert], the router's output. Out: ws.probs, ws.topk, ws.w_raw,
// ws.w, ws.used/ws.used_w ([n][k], -1 / unused past a token's used count), ws.hit, and
// ws.groups[e] = the indices t * k + slot of the (token, slot) pairs computed with expert e,
// ascending. Routing is reported to each observer in batch order.
Status route_tokens(const model::ModelConfig& config, const model::LayerWeights& weights,
                    int32_t layer, std::span<const BatchToken> batch,
                    std::span<ForwardObserver* const> observers, const ExpertAccess& access,
                    MoeWorkspace& ws);

}  // namespace emoe::engine
