#include "tests/support/reference_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>

#include "core/model/model.h"

namespace emoe::test {

std::vector<int32_t> spread_tokens(int64_t n, int64_t n_vocab, int64_t salt) {
  std::vector<int32_t> seq;
  for (int64_t i = 0; i < n; ++i) {
    seq.push_back(static_cast<int32_t>((i * 7919 + 13 * salt + 5) % n_vocab));
  }
  return seq;
}

Result<ReferenceComparison> compare_with_reference(const model::Model& model,
                                                   const ReferenceForward& ref,
                                                   const std::vector<int32_t>& seq,
                                                   int64_t n_prompt, int n_threads) {
  const RefHparams& hp = ref.hparams();
  const auto n_total = static_cast<int64_t>(seq.size());
  if (n_prompt < 1 || n_prompt > n_total) return invalid_argument("compare: bad prompt length");
  RunOptions o;
  o.n_threads = n_threads;
  o.n_ctx = n_total + 8;
  o.forced.assign(seq.begin() + n_prompt, seq.end());
  auto run = run_prompt(model, std::span(seq).first(static_cast<size_t>(n_prompt)), o);
  if (!run.ok()) return run.status();
  auto rr = ref.run(seq);
  if (!rr.ok()) return rr.status();
  const RefOutput& r = rr.value();
  const EngineRun& e = run.value();
  const int64_t V = hp.n_vocab;

  ReferenceComparison c;
  c.positions = n_total;
  double d_logits = 0, ref_logits = 0, d_hidden = 0, ref_hidden = 0;
  for (double v : r.logits) ref_logits = std::max(ref_logits, std::fabs(v));
  for (int64_t pos = 0; pos < n_total; ++pos) {
    const float* got = pos < n_prompt ? e.prompt_row(pos) : e.step_row(pos - n_prompt + 1);
    double d_row = 0;
    for (int64_t i = 0; i < V; ++i) {
      d_row = std::max(d_row, std::fabs(got[i] - r.logits[static_cast<size_t>(pos * V + i)]));
    }
    d_logits = std::max(d_logits, d_row);
    c.pos_logits_rel.push_back(ref_logits > 0 ? d_row / ref_logits : d_row);
    for (int32_t L = 0; L < static_cast<int32_t>(hp.n_layer); ++L) {
      const std::vector<float>* h = e.capture.hidden(L, pos);
      if (!h) {
        c.routes_complete = false;
        continue;
      }
      for (int64_t i = 0; i < hp.n_embd; ++i) {
        const double want =
            r.hidden[static_cast<size_t>(L)][static_cast<size_t>(pos * hp.n_embd + i)];
        d_hidden = std::max(d_hidden, std::fabs((*h)[static_cast<size_t>(i)] - want));
        ref_hidden = std::max(ref_hidden, std::fabs(want));
      }
      if (hp.n_expert == 0 || r.routing[static_cast<size_t>(L)].empty()) continue;
      const RefRoute& rt = r.routing[static_cast<size_t>(L)][static_cast<size_t>(pos)];
      const CapturedRoute* got_r = e.capture.route(L, pos);
      if (!got_r) {
        c.routes_complete = false;
        continue;
      }
      ++c.decisions;
      c.min_margin = std::min(c.min_margin, rt.margin);
      for (size_t j = 0; j < rt.probs.size() && j < got_r->probs.size(); ++j) {
        c.probs_abs = std::max(c.probs_abs, std::fabs(got_r->probs[j] - rt.probs[j]));
      }
      std::vector<int32_t> a = rt.topk, b = got_r->topk;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a != b) {
        if (c.set_mismatches++ == 0) {
          c.first_mismatch = "layer " + std::to_string(L) + " pos " + std::to_string(pos) +
                             " (margin " + std::to_string(rt.margin) + ")";
        }
        continue;
      }
      if (got_r->topk == rt.topk) {
        for (size_t j = 0; j < rt.weights.size(); ++j) {
          c.weights_abs = std::max(c.weights_abs, std::fabs(got_r->weights[j] - rt.weights[j]));
        }
      }
    }
  }
  c.logits_rel = ref_logits > 0 ? d_logits / ref_logits : d_logits;
  c.hidden_rel = ref_hidden > 0 ? d_hidden / ref_hidden : d_hidden;
  return c;
}

int64_t positions_within(const ReferenceComparison& r, double tol) {
  return std::count_if(r.pos_logits_rel.begin(), r.pos_logits_rel.end(),
                       [tol](double e) { return e <= tol; });
}

std::string describe_comparison(const ReferenceComparison& r, bool rounding) {
  char buf[256];
  if (rounding) {
    std::snprintf(buf, sizeof buf,
                  "logits normalised error %.3g (%lld/%lld positions within 1e-5), hidden %.3g; "
                  "%lld/%lld routing sets agree",
                  r.logits_rel, static_cast<long long>(positions_within(r, 1e-5)),
                  static_cast<long long>(r.positions), r.hidden_rel,
                  static_cast<long long>(r.decisions - r.set_mismatches),
                  static_cast<long long>(r.decisions));
  } else {
    std::snprintf(buf, sizeof buf,
                  "logits normalised error %.3g, hidden %.3g, probs %.3g, gate weights %.3g; "
                  "routing %lld decisions, %lld set mismatches, min margin %.3g",
                  r.logits_rel, r.hidden_rel, r.probs_abs, r.weights_abs,
                  static_cast<long long>(r.decisions), static_cast<long long>(r.set_mismatches),
                  r.min_margin);
  }
  return buf;
}

}  // namespace emoe::test
