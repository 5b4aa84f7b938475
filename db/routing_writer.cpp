#include "db/routing_writer.h"

#include <utility>

#include "db/database.h"
#include "db/schema.h"

namespace emoe::db {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

template <typename T>
Status bind_opt(Statement& st, int index, const std::optional<T>& v) {
  if (!v) return st.bind_null(index);
  if constexpr (std::is_same_v<T, std::string>) {
    return st.bind_text(index, *v);
  } else if constexpr (std::is_floating_point_v<T>) {
    return st.bind_double(index, *v);
  } else {
    return st.bind_int(index, *v);
  }
}

Status bind_expert(Statement& st, int index, int32_t expert) {
  return expert < 0 ? st.bind_null(index) : st.bind_int(index, expert);
}

}  // namespace

struct RoutingWriter::Statements {
  Statement session, request, token, routing, expert_event, memory, run;
};

Result<std::unique_ptr<RoutingWriter>> RoutingWriter::open(const std::string& path,
                                                           WriterOptions options) {
  if (options.queue_capacity == 0 || options.batch_rows == 0) {
    return invalid_argument("RoutingWriter: queue_capacity and batch_rows must be positive");
  }
  auto db = open_store(path);
  if (!db.ok()) return db.status();
  auto stmts = std::make_unique<Statements>();
  struct Prep {
    Statement* st;
    const char* sql;
  };
  const Prep preps[] = {
      {&stmts->session,
       // An upsert, not REPLACE: replacing would delete a session its requests reference.
       "INSERT INTO sessions(id, model_id, started_at, config) VALUES (?1,?2,?3,?4) "
       "ON CONFLICT(id) DO UPDATE SET model_id=excluded.model_id, "
       "started_at=excluded.started_at, config=excluded.config"},
      {&stmts->request,
       "INSERT INTO requests(id, session_id, task, text, slo_ttft_ms, slo_e2e_ms, arrival_us, "
       "first_token_us, finish_us, prompt_tokens, generated_tokens) "
       "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) ON CONFLICT(id) DO UPDATE SET "
       "task=coalesce(excluded.task, task), text=coalesce(excluded.text, text), "
       "slo_ttft_ms=coalesce(excluded.slo_ttft_ms, slo_ttft_ms), "
       "slo_e2e_ms=coalesce(excluded.slo_e2e_ms, slo_e2e_ms), "
       "arrival_us=coalesce(excluded.arrival_us, arrival_us), "
       "first_token_us=coalesce(excluded.first_token_us, first_token_us), "
       "finish_us=coalesce(excluded.finish_us, finish_us), "
       "prompt_tokens=coalesce(excluded.prompt_tokens, prompt_tokens), "
       "generated_tokens=coalesce(excluded.generated_tokens, generated_tokens)"},
      {&stmts->token,
       "INSERT OR REPLACE INTO tokens(request_id, pos, token_id, phase, time_us) "
       "VALUES (?1,?2,?3,?4,?5)"},
      {&stmts->routing,
       "INSERT OR REPLACE INTO routing(request_id, pos, layer, rank, router_expert, "
       "router_weight, used_expert, used_weight) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"},
      {&stmts->expert_event,
       "INSERT INTO expert_events(session_id, time_us, kind, layer, expert, bytes, micros) "
       "VALUES (?1,?2,?3,?4,?5,?6,?7)"},
      {&stmts->memory,
       "INSERT INTO memory_samples(session_id, time_us, dense, experts, budget, kv, scratch) "
       "VALUES (?1,?2,?3,?4,?5,?6,?7)"},
      {&stmts->run,
       // name is NOT NULL: a first write without one stores '' until a later write names it.
       "INSERT INTO runs(id, name, session_id, created_at_us, config, metrics) "
       "VALUES (?1, coalesce(?2, ''),?3,?4,?5,?6) ON CONFLICT(id) DO UPDATE SET "
       "name=coalesce(?2, name), session_id=coalesce(excluded.session_id, session_id), "
       "created_at_us=coalesce(excluded.created_at_us, created_at_us), "
       "config=coalesce(excluded.config, config), metrics=coalesce(excluded.metrics, metrics)"},
  };
  for (const Prep& p : preps) {
    auto st = (*db)->prepare(p.sql);
    if (!st.ok()) return st.status();
    *p.st = std::move(*st);
  }
  std::unique_ptr<RoutingWriter> w(new RoutingWriter(std::move(*db), options));
  w->stmts_ = std::move(stmts);
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

RoutingWriter::RoutingWriter(std::unique_ptr<Database> db, WriterOptions options)
    : db_(std::move(db)), options_(options) {}

RoutingWriter::~RoutingWriter() { (void)close(); }

Status RoutingWriter::push(Record record) {
  std::unique_lock lock(mu_);
  if (queue_.size() >= options_.queue_capacity && !closing_ && error_.is_ok()) {
    const auto t0 = std::chrono::steady_clock::now();
    not_full_.wait(lock, [&] {
      return queue_.size() < options_.queue_capacity || closing_ || !error_.is_ok();
    });
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    // At least 1 us per wait, so that any wait shows in the metric.
    producer_wait_micros_ += std::max<int64_t>(1, waited.count());
  }
  if (!error_.is_ok()) return error_;
  if (closing_) return invalid_argument("RoutingWriter: push after close");
  queue_.push_back(std::move(record));
  ++pushed_;
  // The writer sleeps on an empty queue, and waits for a full batch otherwise.
  if (queue_.size() == 1 || queue_.size() >= options_.batch_rows) not_empty_.notify_one();
  return Status::ok();
}

Status RoutingWriter::flush() {
  std::unique_lock lock(mu_);
  const int64_t target = pushed_;
  if (target > flush_target_) flush_target_ = target;
  not_empty_.notify_one();
  committed_cv_.wait(
      lock, [&] { return committed_records_.load() >= target || !error_.is_ok() || closed_; });
  if (!error_.is_ok()) return error_;
  if (committed_records_.load() < target) return internal_error("RoutingWriter closed early");
  return Status::ok();
}

Status RoutingWriter::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  closed_ = true;
  committed_cv_.notify_all();
  return error_;
}

Status RoutingWriter::status() const {
  std::lock_guard lock(mu_);
  return error_;
}

void RoutingWriter::run() {
  std::deque<Record> batch;
  std::unique_lock lock(mu_);
  while (true) {
    not_empty_.wait(lock, [&] { return !queue_.empty() || closing_; });
    if (queue_.empty() && closing_) break;
    // Batch by count and by time: wait for a full batch until the oldest record is max_delay
    // old, unless someone is flushing or closing.
    const auto deadline = std::chrono::steady_clock::now() + options_.max_delay;
    not_empty_.wait_until(lock, deadline, [&] {
      return queue_.size() >= options_.batch_rows || closing_ ||
             flush_target_ > committed_records_.load();
    });
    const size_t n = std::min(queue_.size(), options_.batch_rows);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    not_full_.notify_all();
    lock.unlock();
    Status s = write_batch(batch);
    lock.lock();
    if (!s.is_ok()) {
      error_ = s.with_context("recording to '" + db_->path() + "'");
      not_full_.notify_all();
      committed_cv_.notify_all();
      break;
    }
    committed_records_ += static_cast<int64_t>(n);
    ++committed_batches_;
    batch.clear();
    committed_cv_.notify_all();
  }
}

Status RoutingWriter::write_batch(std::deque<Record>& batch) {
  Statements& S = *stmts_;
  return in_transaction(*db_, [&]() -> Status {
    for (const Record& rec : batch) {
      Status s = std::visit(
          Overloaded{
              [&](const SessionRecord& r) -> Status {
                Statement& st = S.session;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.id));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 2, r.model_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(3, r.started_at_us));
                EMOE_RETURN_IF_ERROR(st.bind_text(4, r.config_json));
                return st.run();
              },
              [&](const RequestRecord& r) -> Status {
                Statement& st = S.request;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.id));
                EMOE_RETURN_IF_ERROR(st.bind_int(2, r.session_id));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 3, r.task));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 4, r.text));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 5, r.slo_ttft_ms));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 6, r.slo_e2e_ms));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 7, r.arrival_us));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 8, r.first_token_us));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 9, r.finish_us));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 10, r.prompt_tokens));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 11, r.generated_tokens));
                return st.run();
              },
              [&](const TokenRecord& r) -> Status {
                Statement& st = S.token;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.request_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(2, r.pos));
                EMOE_RETURN_IF_ERROR(st.bind_int(3, r.token_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(4, r.phase));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 5, r.time_us));
                return st.run();
              },
              [&](const RoutingRecord& r) -> Status {
                Statement& st = S.routing;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.request_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(2, r.pos));
                EMOE_RETURN_IF_ERROR(st.bind_int(3, r.layer));
                EMOE_RETURN_IF_ERROR(st.bind_int(4, r.rank));
                EMOE_RETURN_IF_ERROR(bind_expert(st, 5, r.router_expert));
                EMOE_RETURN_IF_ERROR(r.router_expert < 0 ? st.bind_null(6)
                                                         : st.bind_double(6, r.router_weight));
                EMOE_RETURN_IF_ERROR(bind_expert(st, 7, r.used_expert));
                EMOE_RETURN_IF_ERROR(r.used_expert < 0 ? st.bind_null(8)
                                                       : st.bind_double(8, r.used_weight));
                return st.run();
              },
              [&](const ExpertEventRecord& r) -> Status {
                Statement& st = S.expert_event;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.session_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(2, r.time_us));
                EMOE_RETURN_IF_ERROR(st.bind_int(3, r.kind));
                EMOE_RETURN_IF_ERROR(st.bind_int(4, r.layer));
                EMOE_RETURN_IF_ERROR(st.bind_int(5, r.expert));
                EMOE_RETURN_IF_ERROR(st.bind_int(6, static_cast<int64_t>(r.bytes)));
                EMOE_RETURN_IF_ERROR(st.bind_double(7, r.micros));
                return st.run();
              },
              [&](const MemorySampleRecord& r) -> Status {
                Statement& st = S.memory;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.session_id));
                EMOE_RETURN_IF_ERROR(st.bind_int(2, r.time_us));
                EMOE_RETURN_IF_ERROR(st.bind_int(3, static_cast<int64_t>(r.dense)));
                EMOE_RETURN_IF_ERROR(st.bind_int(4, static_cast<int64_t>(r.experts)));
                EMOE_RETURN_IF_ERROR(st.bind_int(5, static_cast<int64_t>(r.budget)));
                EMOE_RETURN_IF_ERROR(st.bind_int(6, static_cast<int64_t>(r.kv)));
                EMOE_RETURN_IF_ERROR(st.bind_int(7, static_cast<int64_t>(r.scratch)));
                return st.run();
              },
              [&](const RunRecord& r) -> Status {
                Statement& st = S.run;
                EMOE_RETURN_IF_ERROR(st.bind_int(1, r.id));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 2, r.name));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 3, r.session_id));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 4, r.created_at_us));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 5, r.config_json));
                EMOE_RETURN_IF_ERROR(bind_opt(st, 6, r.metrics_json));
                return st.run();
              },
          },
          rec);
      if (!s.is_ok()) return s;
    }
    return Status::ok();
  });
}

}  // namespace emoe::db
