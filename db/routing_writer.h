// Records telemetry into the store from its own thread and connection. Producers push records
// into a bounded queue; the writer commits them in batched transactions (by count and by time).
// Nothing is dropped: a full queue makes the producer wait, and the total wait is reported.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "core/common/status.h"

namespace emoe::db {

class Database;

struct SessionRecord {
  int64_t id = 0;
  std::optional<int64_t> model_id;
  int64_t started_at_us = 0;
  std::string config_json;
};

// Insert-or-update of one request: unset fields keep what is stored, so the lifecycle
// (arrival, first token, finish) can be written as it happens.
struct RequestRecord {
  int64_t id = 0;
  int64_t session_id = 0;
  std::optional<std::string> task, text;
  std::optional<double> slo_ttft_ms, slo_e2e_ms;
  std::optional<int64_t> arrival_us, first_token_us, finish_us;
  std::optional<int64_t> prompt_tokens, generated_tokens;
};

struct TokenRecord {
  int64_t request_id = 0;
  int32_t pos = 0;
  int32_t token_id = 0;
  int32_t phase = 0;               // 0 prefill, 1 decode
  std::optional<int64_t> time_us;  // when the engine routed it (recorder's clock)
};

// One rank of one routing decision; the router's choice and what was computed may differ
// (fallback routing), and either may be absent (-1) when fewer experts were used.
struct RoutingRecord {
  int64_t request_id = 0;
  int32_t pos = 0;
  int32_t layer = 0;
  int32_t rank = 0;
  int32_t router_expert = -1;
  float router_weight = 0;
  int32_t used_expert = -1;
  float used_weight = 0;
};

struct ExpertEventRecord {
  int64_t session_id = 0;
  int64_t time_us = 0;
  int32_t kind = 0;  // experts::ExpertEventKind
  int32_t layer = 0;
  int32_t expert = 0;
  uint64_t bytes = 0;
  double micros = 0;
};

struct MemorySampleRecord {
  int64_t session_id = 0;
  int64_t time_us = 0;
  uint64_t dense = 0, experts = 0, budget = 0, kv = 0, scratch = 0;  // bytes
};

// Insert-or-update of one run (an experiment's configuration and results); unset fields keep
// what is stored, so metrics can be written when the run finishes.
struct RunRecord {
  int64_t id = 0;
  std::optional<std::string> name;
  std::optional<int64_t> session_id;
  std::optional<int64_t> created_at_us;
  std::optional<std::string> config_json, metrics_json;
};

using Record = std::variant<SessionRecord, RequestRecord, TokenRecord, RoutingRecord,
                            ExpertEventRecord, MemorySampleRecord, RunRecord>;

struct WriterOptions {
  size_t queue_capacity = 65536;             // records
  size_t batch_rows = 4096;                  // a transaction commits at most this many records
  std::chrono::milliseconds max_delay{100};  // and a record waits at most this long
};

class RoutingWriter {
 public:
  // Opens (creating or migrating) the store at path on a connection of its own and starts the
  // writer thread.
  static Result<std::unique_ptr<RoutingWriter>> open(const std::string& path,
                                                     WriterOptions options = {});
  ~RoutingWriter();  // close()
  RoutingWriter(const RoutingWriter&) = delete;
  RoutingWriter& operator=(const RoutingWriter&) = delete;

  // Thread-safe. Waits while the queue is full. Fails once the writer has failed or closed.
  Status push(Record record);
  // Blocks until every record pushed before the call is committed; the writer's error if any.
  Status flush();
  // Drains the queue, commits, stops the thread. Idempotent; returns the writer's status.
  Status close();

  Status status() const;  // the first error the writer hit, ok otherwise
  int64_t committed_batches() const { return committed_batches_.load(); }
  int64_t committed_records() const { return committed_records_.load(); }
  int64_t producer_wait_micros() const { return producer_wait_micros_.load(); }

 private:
  RoutingWriter(std::unique_ptr<Database> db, WriterOptions options);
  void run();
  Status write_batch(std::deque<Record>& batch);

  struct Statements;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statements> stmts_;
  WriterOptions options_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_, committed_cv_;
  std::deque<Record> queue_;
  int64_t pushed_ = 0;        // records accepted so far (under mu_)
  int64_t flush_target_ = 0;  // a flush wants records up to this count committed (under mu_)
  bool closing_ = false;
  bool closed_ = false;
  Status error_;
  std::atomic<int64_t> committed_batches_{0}, committed_records_{0}, producer_wait_micros_{0};
  std::thread thread_;
};

}  // namespace emoe::db
