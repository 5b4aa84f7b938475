#include "core/experiment/warm_up.h"

#include <string>

#include "core/model/model.h"
#include "core/predict/baseline_predictors.h"
#include "core/sched/task_classifier.h"

namespace emoe::experiment {

Result<WarmUp> run_warm_up(const model::Model& model, FullModelReference& reference,
                           std::span<const sched::Request> requests,
                           const predict::HistoryShape& shape,
                           const std::function<void(int64_t, int64_t)>& progress) {
  WarmUp w;
  auto h = predict::RoutingHistory::create(shape, std::max<size_t>(requests.size(), 1));
  if (!h.ok()) return h.status();
  w.history.emplace(std::move(h).value());
  const sched::TaskClassifier classifier = sched::TaskClassifier::builtin();
  const auto total = static_cast<int64_t>(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const sched::Request& r = requests[i];
    const std::string who = "warm-up prompt " + std::to_string(i);
    std::vector<int32_t> prompt = model.tokenizer().encode(r.text, true, false);
    const int64_t room = reference.n_ctx() - r.max_new_tokens;
    if (prompt.empty() || room < 1) {
      return invalid_argument(who + ": no prompt tokens fit the context of " +
                              std::to_string(reference.n_ctx()));
    }
    if (static_cast<int64_t>(prompt.size()) > room) {
      prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(room));
    }
    auto out = reference.greedy(prompt, r.max_new_tokens);
    if (!out.ok()) return out.status().with_context(who);
    predict::PromptRecord rec = (*out)->record;
    rec.request_id = static_cast<int64_t>(i);
    rec.task = std::string(sched::task_name(r.task ? *r.task : classifier.classify(r.text).task));
    EMOE_RETURN_IF_ERROR(w.history->add(std::move(rec)).with_context(who));
    if (progress) progress(static_cast<int64_t>(i) + 1, total);
  }
  w.cold = predict::ColdStartProfile::from_history(*w.history);
  return w;
}

}  // namespace emoe::experiment
