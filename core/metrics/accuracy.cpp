#include "core/metrics/accuracy.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/engine/engine.h"
#include "core/model/model.h"

namespace emoe::metrics {
namespace {

// log sum exp of the row, float64, shifted by the maximum so large logits do not overflow.
double log_sum_exp(std::span<const float> row) {
  double mx = -INFINITY;
  for (const float v : row) mx = std::max(mx, static_cast<double>(v));
  double s = 0;
  for (const float v : row) s += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(s);
}

}  // namespace

int32_t argmax(std::span<const float> row) {
  if (row.empty()) return -1;
  size_t best = 0;
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] > row[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

double log_softmax_at(std::span<const float> row, int32_t id) {
  return static_cast<double>(row[static_cast<size_t>(id)]) - log_sum_exp(row);
}

double kl_divergence(std::span<const float> ref_logits, std::span<const float> cand_logits) {
  const double lr = log_sum_exp(ref_logits);
  const double lc = log_sum_exp(cand_logits);
  double kl = 0;
  for (size_t i = 0; i < ref_logits.size(); ++i) {
    const double log_p = static_cast<double>(ref_logits[i]) - lr;
    const double log_q = static_cast<double>(cand_logits[i]) - lc;
    const double p = std::exp(log_p);
    if (p > 0) kl += p * (log_p - log_q);
  }
  // Rounding can leave a tiny negative value for identical distributions.
  return std::max(kl, 0.0);
}

int64_t lcs_length(std::span<const int32_t> a, std::span<const int32_t> b) {
  // One row of the DP table: O(|a| |b|) time, O(|b|) memory.
  std::vector<int64_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double lcs_similarity(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::max(a.size(), b.size());
  if (n == 0) return 1.0;
  return static_cast<double>(lcs_length(a, b)) / static_cast<double>(n);
}

void LogitsComparison::add(const LogitsComparison& o) {
  positions += o.positions;
  top1_agree += o.top1_agree;
  kl_sum += o.kl_sum;
  scored += o.scored;
  ref_nll_sum += o.ref_nll_sum;
  cand_nll_sum += o.cand_nll_sum;
}

double LogitsComparison::agreement() const {
  return positions > 0 ? static_cast<double>(top1_agree) / static_cast<double>(positions) : 0.0;
}
double LogitsComparison::mean_kl() const {
  return positions > 0 ? kl_sum / static_cast<double>(positions) : 0.0;
}
double LogitsComparison::ref_perplexity() const {
  return scored > 0 ? std::exp(ref_nll_sum / static_cast<double>(scored)) : 0.0;
}
double LogitsComparison::cand_perplexity() const {
  return scored > 0 ? std::exp(cand_nll_sum / static_cast<double>(scored)) : 0.0;
}

Result<LogitsComparison> compare_logits(std::span<const float> ref, std::span<const float> cand,
                                        int64_t n_vocab, std::span<const int32_t> targets) {
  if (n_vocab <= 0) return invalid_argument("compare_logits: vocabulary size must be positive");
  const size_t rows = targets.size();
  const size_t want = rows * static_cast<size_t>(n_vocab);
  if (ref.size() != want || cand.size() != want) {
    return invalid_argument("compare_logits: expected " + std::to_string(rows) + " rows of " +
                            std::to_string(n_vocab) + " logits, got " + std::to_string(ref.size()) +
                            " (reference) and " + std::to_string(cand.size()) +
                            " (candidate) values");
  }
  LogitsComparison c;
  const size_t v = static_cast<size_t>(n_vocab);
  for (size_t r = 0; r < rows; ++r) {
    const std::span<const float> pr = ref.subspan(r * v, v);
    const std::span<const float> pc = cand.subspan(r * v, v);
    ++c.positions;
    if (argmax(pr) == argmax(pc)) ++c.top1_agree;
    c.kl_sum += kl_divergence(pr, pc);
    const int32_t t = targets[r];
    if (t < 0) continue;
    if (t >= n_vocab) {
      return invalid_argument("compare_logits: target " + std::to_string(t) + " of row " +
                              std::to_string(r) + " is outside the vocabulary of " +
                              std::to_string(n_vocab));
    }
    ++c.scored;
    c.ref_nll_sum -= log_softmax_at(pr, t);
    c.cand_nll_sum -= log_softmax_at(pc, t);
  }
  return c;
}

LogitsSource engine_source(engine::Engine& engine, int64_t step_tokens, StepHook before_step) {
  LogitsSource s;
  s.n_vocab = engine.model().config().n_vocab;
  engine::Engine* e = &engine;
  const int64_t step = std::max<int64_t>(1, step_tokens);
  s.forward = [e, step, before_step](std::span<const int32_t> tokens,
                                     std::vector<float>* logits) -> Status {
    logits->clear();
    auto seq = e->new_sequence();
    if (!seq.ok()) return seq.status();
    engine::Batch batch;
    std::vector<float> part;
    Status st;
    for (size_t i = 0; i < tokens.size() && st.is_ok(); i += static_cast<size_t>(step)) {
      const size_t end = std::min(tokens.size(), i + static_cast<size_t>(step));
      if (before_step) {
        st = before_step(static_cast<int32_t>(i));
        if (!st.is_ok()) break;
      }
      batch.clear();
      for (size_t j = i; j < end; ++j) {
        batch.push_back({tokens[j], *seq, static_cast<int32_t>(j), true, engine::Phase::Prefill});
      }
      st = e->decode(batch, &part);
      logits->insert(logits->end(), part.begin(), part.end());
    }
    e->free_sequence(*seq);
    return st;
  };
  s.greedy = [e, step, before_step](std::span<const int32_t> prompt,
                                    int32_t n) -> Result<std::vector<int32_t>> {
    if (prompt.empty()) return invalid_argument("greedy: the prompt has no tokens");
    auto seq = e->new_sequence();
    if (!seq.ok()) return seq.status();
    std::vector<int32_t> out;
    engine::Batch batch;
    std::vector<float> logits;
    Status st;
    for (size_t i = 0; i < prompt.size() && st.is_ok(); i += static_cast<size_t>(step)) {
      const size_t end = std::min(prompt.size(), i + static_cast<size_t>(step));
      if (before_step) {
        st = before_step(static_cast<int32_t>(i));
        if (!st.is_ok()) break;
      }
      batch.clear();
      for (size_t j = i; j < end; ++j) {
        batch.push_back({prompt[j], *seq, static_cast<int32_t>(j), j + 1 == prompt.size(),
                         engine::Phase::Prefill});
      }
      st = e->decode(batch, &logits);
    }
    for (int32_t g = 0; g < n && st.is_ok(); ++g) {
      const int32_t next = argmax(logits);
      out.push_back(next);
      if (g + 1 == n) break;
      const int32_t pos = static_cast<int32_t>(prompt.size()) + g;
      if (before_step) {
        st = before_step(pos);
        if (!st.is_ok()) break;
      }
      batch.assign(1, {next, *seq, pos, true, engine::Phase::Decode});
      st = e->decode(batch, &logits);
    }
    e->free_sequence(*seq);
    if (!st.is_ok()) return st;
    return out;
  };
  return s;
}

Result<std::vector<int32_t>> greedy_continuation(const LogitsSource& source,
                                                 std::span<const int32_t> prompt, int32_t n) {
  if (prompt.empty()) return invalid_argument("greedy_continuation: the prompt has no tokens");
  if (source.greedy) return source.greedy(prompt, n);
  if (!source.forward || source.n_vocab <= 0) {
    return invalid_argument("greedy_continuation: the source has no forward function");
  }
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  std::vector<float> logits;
  const size_t v = static_cast<size_t>(source.n_vocab);
  for (int32_t g = 0; g < n; ++g) {
    EMOE_RETURN_IF_ERROR(source.forward(seq, &logits));
    if (logits.size() != seq.size() * v) {
      return internal_error("greedy_continuation: the source returned " +
                            std::to_string(logits.size()) + " logits for " +
                            std::to_string(seq.size()) + " tokens");
    }
    seq.push_back(argmax(std::span<const float>(logits).subspan((seq.size() - 1) * v, v)));
  }
  return std::vector<int32_t>(seq.begin() + static_cast<std::ptrdiff_t>(prompt.size()), seq.end());
}

Result<AccuracyReport> compare_models(const LogitsSource& reference, const LogitsSource& candidate,
                                      std::span<const std::vector<int32_t>> prompts,
                                      const AccuracyOptions& options) {
  if (!reference.forward || !candidate.forward) {
    return invalid_argument("compare_models: both sources need a forward function");
  }
  if (reference.n_vocab <= 0 || reference.n_vocab != candidate.n_vocab) {
    return invalid_argument("compare_models: vocabulary sizes differ or are unknown (" +
                            std::to_string(reference.n_vocab) + " and " +
                            std::to_string(candidate.n_vocab) + ")");
  }
  const int64_t n_vocab = reference.n_vocab;
  AccuracyReport report;
  std::vector<float> ref_logits, cand_logits;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int32_t>& prompt = prompts[p];
    if (prompt.empty()) {
      return invalid_argument("compare_models: prompt " + std::to_string(p) + " has no tokens");
    }
    PromptAccuracy pa;
    const int32_t g = std::max(options.continuation_tokens, 0);
    if (g > 0) {
      auto r = greedy_continuation(reference, prompt, g);
      if (!r.ok()) return r.status().with_context("reference, prompt " + std::to_string(p));
      pa.ref_greedy = std::move(r).value();
      auto c = greedy_continuation(candidate, prompt, g);
      if (!c.ok()) return c.status().with_context("candidate, prompt " + std::to_string(p));
      pa.cand_greedy = std::move(c).value();
    }
    pa.exact_match = pa.ref_greedy == pa.cand_greedy;
    pa.lcs = lcs_similarity(pa.ref_greedy, pa.cand_greedy);

    std::vector<int32_t> tokens = prompt;
    if (options.score_continuation) {
      tokens.insert(tokens.end(), pa.ref_greedy.begin(), pa.ref_greedy.end());
    }
    EMOE_RETURN_IF_ERROR(reference.forward(tokens, &ref_logits)
                             .with_context("reference, prompt " + std::to_string(p)));
    EMOE_RETURN_IF_ERROR(candidate.forward(tokens, &cand_logits)
                             .with_context("candidate, prompt " + std::to_string(p)));
    std::vector<int32_t> targets(tokens.size(), -1);
    for (size_t i = 0; i + 1 < tokens.size(); ++i) targets[i] = tokens[i + 1];
    auto cmp = compare_logits(ref_logits, cand_logits, n_vocab, targets);
    if (!cmp.ok()) return cmp.status().with_context("prompt " + std::to_string(p));
    pa.tokens = *cmp;
    report.total.add(pa.tokens);
    report.exact_match_rate += pa.exact_match ? 1.0 : 0.0;
    report.mean_lcs += pa.lcs;
    report.prompts.push_back(std::move(pa));
  }
  if (!prompts.empty()) {
    report.exact_match_rate /= static_cast<double>(prompts.size());
    report.mean_lcs /= static_cast<double>(prompts.size());
  }
  return report;
}

}  // namespace emoe::metrics
