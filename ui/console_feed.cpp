#include "ui/console_feed.h"

#include <algorithm>

#include "ui/prompt_console.h"

namespace emoe::ui {

void ConsoleFeed::started(qint64 request_id, const QString& text) {
  Item i;
  i.kind = Item::Started;
  i.request_id = request_id;
  i.text = text;
  queue_.push_back(std::move(i));
}

void ConsoleFeed::tokens(std::vector<TokenTelemetry> generated) {
  if (generated.empty()) return;
  backlog_ += generated.size();
  Item i;
  i.kind = Item::Tokens;
  i.tokens = std::move(generated);
  queue_.push_back(std::move(i));
}

void ConsoleFeed::finished(const RequestStats& stats) {
  Item i;
  i.kind = Item::Finished;
  i.stats = stats;
  queue_.push_back(std::move(i));
}

void ConsoleFeed::flush(const QElapsedTimer& clock, int budget_ms) {
  // Far behind, take bigger bites so the lag stays around a second at most.
  const size_t chunk = std::max<size_t>(16, backlog_ / 32);
  bool first = true;
  while (!queue_.empty() && (first || clock.elapsed() < budget_ms)) {
    first = false;
    Item& i = queue_.front();
    if (i.kind == Item::Started) {
      console_->on_request_started(i.request_id, i.text);
    } else if (i.kind == Item::Finished) {
      console_->on_request_finished(i.stats);
    } else {
      const size_t n = std::min(chunk, i.tokens.size() - i.next);
      if (i.next == 0 && n == i.tokens.size()) {
        console_->append_tokens(i.tokens);
      } else {
        console_->append_tokens(
            std::vector<TokenTelemetry>(i.tokens.begin() + static_cast<ptrdiff_t>(i.next),
                                        i.tokens.begin() + static_cast<ptrdiff_t>(i.next + n)));
      }
      i.next += n;
      backlog_ -= n;
      if (i.next < i.tokens.size()) continue;
    }
    queue_.pop_front();
  }
}

}  // namespace emoe::ui
