#include "tests/support/fixture_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace emoe::test {

namespace {

std::string ids(const std::vector<int32_t>& v) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << ']';
  return s.str();
}

bool same_set(std::vector<int32_t> a, std::vector<int32_t> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return m;
}

// The engine's k largest ids, descending, lowest id first on ties.
std::vector<int32_t> top_ids(const float* row, int64_t n, int k) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

}  // namespace

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string RoutingMismatch::describe() const {
  std::ostringstream s;
  s << "layer " << layer << " pos " << pos << ": ref " << ids(ref) << " got " << ids(got)
    << " (ref margin " << margin << ")";
  return s.str();
}

PromptComparison compare_prompt(const EngineRun& run, const PromptRef& ref, const Fixture& fx,
                                const CompareOptions& opt) {
  PromptComparison c;
  c.prompt = ref.index;
  c.n = ref.n_tokens;
  const int64_t V = fx.n_vocab;

  // Logits at prompt positions.
  c.pos_max_abs.assign(static_cast<size_t>(c.n), 0.0);
  for (int64_t pos = 0; pos < c.n; ++pos) {
    const float* got = run.prompt_row(pos);
    double& pm = c.pos_max_abs[static_cast<size_t>(pos)];
    if (const float* full = ref.full_row(pos, V)) {
      for (int64_t i = 0; i < V; ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - full[i]);
        c.max_abs_full = std::max(c.max_abs_full, d);
        pm = std::max(pm, d);
      }
    }
    for (int64_t j = 0; j < fx.n_sub(); ++j) {
      const double d = std::fabs(static_cast<double>(got[fx.sub_vocab_ids[j]]) -
                                 ref.logits_sub[pos * fx.n_sub() + j]);
      c.max_abs_sub = std::max(c.max_abs_sub, d);
      pm = std::max(pm, d);
    }
    const auto& top = ref.top10[static_cast<size_t>(pos)];
    std::set<int32_t> ref_ids;
    for (const TopEntry& e : top) {
      ref_ids.insert(e.id);
      const double d = std::fabs(static_cast<double>(got[e.id]) - e.logit);
      c.max_abs_top10 = std::max(c.max_abs_top10, d);
      pm = std::max(pm, d);
    }
    for (int32_t id : top_ids(got, V, 10)) {
      if (!ref_ids.count(id) && got[id] > top.back().logit + opt.logit_tol) {
        c.top10_violations.push_back(pos);
        break;
      }
    }
    c.max_abs_lse = std::max(
        c.max_abs_lse, std::fabs(logsumexp_row(got, V) - ref.logsumexp[static_cast<size_t>(pos)]));
    if (argmax_row(got, V) == ref.argmax[static_cast<size_t>(pos)]) {
      ++c.argmax_equal;
    } else {
      c.argmax_diff.push_back(pos);
      if (ref.top_gap(pos) >= opt.logit_tol) c.argmax_diff_unambiguous.push_back(pos);
    }
  }

  // Hidden states.
  for (int32_t L = 0; L < fx.n_layer; ++L) {
    for (int64_t pos = 0; pos < c.n; ++pos) {
      const std::vector<float>* h = run.capture.hidden(L, pos);
      if (!h || static_cast<int64_t>(h->size()) != fx.n_embd) {
        ++c.missing_hidden;
        continue;
      }
      const float* r = ref.hidden.data() + (L * c.n + pos) * fx.n_embd;
      for (int64_t i = 0; i < fx.n_embd; ++i) {
        const double d = std::fabs(static_cast<double>((*h)[static_cast<size_t>(i)]) - r[i]);
        if (d > c.max_abs_hidden) {
          c.max_abs_hidden = d;
          c.worst_hidden_layer = L;
          c.worst_hidden_pos = pos;
        }
      }
    }
  }

  // Routing: positions the run covered (the prompt plus one per forced token).
  const int64_t covered = c.n + std::max<int64_t>(0, run.n_steps() - 1);
  for (const LayerRoutingRef& lr : ref.routing) {
    for (size_t i = 0; i < ref.routing_positions.size(); ++i) {
      const int64_t pos = ref.routing_positions[i];
      if (pos >= covered) continue;
      ++c.decisions;
      if (pos < c.n) ++c.decisions_prompt;
      const CapturedRoute* got = run.capture.route(lr.layer, pos);
      if (!got) {
        ++c.missing_routes;
        continue;
      }
      if (static_cast<int64_t>(got->probs.size()) != fx.n_expert ||
          static_cast<int64_t>(got->router_logits.size()) != fx.n_expert ||
          static_cast<int64_t>(got->topk.size()) != fx.n_expert_used ||
          got->weights.size() != got->topk.size() || got->weights_raw.size() != got->topk.size()) {
        ++c.bad_route_shape;
        continue;
      }
      const auto& rt = lr.topk[i];
      if (!same_set(rt, got->topk)) {
        c.set_mismatch.push_back({lr.layer, pos, rt, got->topk, lr.margin[i]});
        if (pos < c.n) ++c.set_mismatch_prompt;
        continue;  // weights of different experts are not comparable
      }
      const auto& probs = lr.probs[i];
      for (size_t j = 0; j < rt.size(); ++j) {
        if (got->topk[j] != rt[j]) {
          // Order matters only where the two probabilities are distinguishable.
          const double pa = probs[static_cast<size_t>(rt[j])];
          const double pb = probs[static_cast<size_t>(got->topk[j])];
          if (std::fabs(pa - pb) > opt.order_prob_tol) ++c.order_mismatch;
        }
      }
      c.max_abs_probs = std::max(c.max_abs_probs, max_abs_diff(got->probs, probs));
      c.max_abs_router_logits =
          std::max(c.max_abs_router_logits, max_abs_diff(got->router_logits, lr.router_logits[i]));
      // Weights by expert id, so an order swap of equal probabilities does not count.
      for (size_t j = 0; j < rt.size(); ++j) {
        const auto k =
            static_cast<size_t>(std::find(rt.begin(), rt.end(), got->topk[j]) - rt.begin());
        c.max_abs_weights =
            std::max(c.max_abs_weights,
                     std::fabs(static_cast<double>(got->weights[j]) - lr.weights_norm[i][k]));
        c.max_abs_weights_raw =
            std::max(c.max_abs_weights_raw,
                     std::fabs(static_cast<double>(got->weights_raw[j]) - lr.weights[i][k]));
      }
    }
  }

  // Greedy rows.
  c.steps = std::min<int64_t>(run.n_steps(), static_cast<int64_t>(ref.greedy.token_ids.size()));
  for (int64_t j = 0; j < c.steps; ++j) {
    const float* row = run.step_row(j);
    const float gap = ref.greedy.top1_top2_gap[static_cast<size_t>(j)];
    if (gap < opt.logit_tol && c.first_fragile_step < 0) c.first_fragile_step = j;
    if (argmax_row(row, V) != ref.greedy.token_ids[static_cast<size_t>(j)]) {
      c.step_argmax_diff.push_back(j);
      if (gap >= opt.logit_tol) c.step_argmax_diff_unambiguous.push_back(j);
    }
    for (const TopEntry& e : ref.greedy.step_top10[static_cast<size_t>(j)]) {
      c.max_abs_step_top10 =
          std::max(c.max_abs_step_top10, std::fabs(static_cast<double>(row[e.id]) - e.logit));
    }
    c.max_abs_step_lse = std::max(
        c.max_abs_step_lse,
        std::fabs(logsumexp_row(row, V) - ref.greedy.step_logsumexp[static_cast<size_t>(j)]));
  }
  return c;
}

RunDiff diff_runs(const EngineRun& a, const EngineRun& b, int64_t n_layer) {
  RunDiff d;
  auto cmp = [&](const std::vector<float>& x, const std::vector<float>& y) {
    if (x.size() != y.size()) {
      d.max_abs_logits = INFINITY;
      d.bitwise_logits = false;
      return;
    }
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] != y[i]) d.bitwise_logits = false;
      d.max_abs_logits = std::max(d.max_abs_logits,
                                  std::fabs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
    }
  };
  cmp(a.prompt_logits, b.prompt_logits);
  cmp(a.step_logits, b.step_logits);
  const int64_t n_pos =
      static_cast<int64_t>(a.prompt.size()) + std::max<int64_t>(0, a.n_steps() - 1);
  for (int32_t L = 0; L < n_layer; ++L) {
    for (int64_t pos = 0; pos < n_pos; ++pos) {
      const CapturedRoute* ra = a.capture.route(L, pos);
      const CapturedRoute* rb = b.capture.route(L, pos);
      if (!ra || !rb) {
        if (ra || rb) ++d.missing;
      } else {
        ++d.compared_routes;
        if (!same_set(ra->topk, rb->topk)) {
          ++d.route_set_diff;
        } else if (ra->topk != rb->topk) {
          ++d.route_order_diff;
        }
        d.max_abs_probs = std::max(d.max_abs_probs, max_abs_diff(ra->probs, rb->probs));
      }
      const std::vector<float>* ha = a.capture.hidden(L, pos);
      const std::vector<float>* hb = b.capture.hidden(L, pos);
      if (ha && hb) {
        d.max_abs_hidden = std::max(d.max_abs_hidden, max_abs_diff(*ha, *hb));
      } else if (ha || hb) {
        ++d.missing;
      }
    }
  }
  return d;
}

EngineRun run_from_reference(const RefOutput& ref, std::span<const int32_t> tokens,
                             int64_t n_prompt, int64_t n_vocab, int64_t n_embd) {
  EngineRun run;
  run.n_vocab = n_vocab;
  run.prompt.assign(tokens.begin(), tokens.begin() + n_prompt);
  run.prompt_logits.assign(ref.logits.begin(), ref.logits.begin() + n_prompt * n_vocab);
  run.step_logits.assign(ref.logits.begin() + (n_prompt - 1) * n_vocab, ref.logits.end());
  std::vector<engine::BatchToken> batch;
  for (int64_t t = 0; t < ref.n_tokens; ++t) {
    batch.push_back({tokens[static_cast<size_t>(t)], 0, static_cast<int32_t>(t), true,
                     t < n_prompt ? engine::Phase::Prefill : engine::Phase::Decode});
  }
  for (size_t L = 0; L < ref.hidden.size(); ++L) {
    const std::vector<float> h(ref.hidden[L].begin(), ref.hidden[L].end());
    run.capture.on_layer_output(static_cast<int32_t>(L), batch, h.data(), n_embd);
  }
  for (size_t L = 0; L < ref.routing.size(); ++L) {
    for (int64_t t = 0; t < ref.n_tokens; ++t) {
      const RefRoute& r = ref.routing[L][static_cast<size_t>(t)];
      const std::vector<float> logits(r.router_logits.begin(), r.router_logits.end());
      const std::vector<float> probs(r.probs.begin(), r.probs.end());
      const std::vector<float> w(r.weights.begin(), r.weights.end());
      std::vector<float> raw;
      for (int32_t e : r.topk) raw.push_back(static_cast<float>(r.probs[static_cast<size_t>(e)]));
      engine::RoutingEvent ev;
      ev.seq = 0;
      ev.pos = static_cast<int32_t>(t);
      ev.layer = static_cast<int32_t>(L);
      ev.token = batch[static_cast<size_t>(t)].token;
      ev.phase = batch[static_cast<size_t>(t)].phase;
      ev.router_logits = logits;
      ev.probs = probs;
      ev.topk = r.topk;
      ev.weights_raw = raw;
      ev.weights = w;
      run.capture.on_routing(ev);
    }
  }
  return run;
}

Divergence first_hidden_divergence(const EngineRun& run, const PromptRef& ref, const Fixture& fx,
                                   double threshold) {
  Divergence d;
  for (int64_t pos = 0; pos < ref.n_tokens; ++pos) {
    for (int32_t L = 0; L < fx.n_layer; ++L) {
      const std::vector<float>* h = run.capture.hidden(L, pos);
      if (!h) continue;
      const float* r = ref.hidden.data() + (L * ref.n_tokens + pos) * fx.n_embd;
      double m = 0.0;
      for (int64_t i = 0; i < fx.n_embd; ++i) {
        m = std::max(m, std::fabs(static_cast<double>((*h)[static_cast<size_t>(i)]) - r[i]));
      }
      if (m > threshold) return {pos, L, m};
    }
  }
  return d;
}

}  // namespace emoe::test
