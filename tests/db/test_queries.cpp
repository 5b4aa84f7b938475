// Every read query against naive aggregation: the test builds a store through RoutingWriter from
// records it makes by hand (several sessions and models, tasks incl. none, prefill and decode
// tokens with times, one token without a time and one routing position without a token row,
// fallback rows where router and used expert differ, fewer used experts than routed, expert
// events of every kind, memory samples, runs whose metrics are written in two steps), keeps the
// same records in memory, and compares each query with loops over those records (no SQL).
// The flat JSON parser is checked against hand-written values and malformed inputs.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "db/database.h"
#include "db/routing_queries.h"
#include "db/routing_writer.h"
#include "db/schema.h"

using namespace emoe;

namespace {

constexpr int32_t kLayers = 3;
constexpr int32_t kExperts = 6;
constexpr int32_t kTopK = 2;

// Everything the test writes, in write order, plus what a reader must see after the upserts.
struct Data {
  std::vector<db::SessionRecord> sessions;
  std::vector<db::RequestRecord> requests;  // merged: the state after every update
  std::vector<db::RequestRecord> request_writes;
  std::vector<db::TokenRecord> tokens;
  std::vector<db::RoutingRecord> routing;
  std::vector<db::ExpertEventRecord> events;
  std::vector<db::MemorySampleRecord> memory;
  std::vector<db::RunRecord> run_writes;
};

Data make_data() {
  Data d;
  std::mt19937 rng(20240611);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&] { return std::uniform_real_distribution<float>(0.05f, 0.95f)(rng); };
  d.sessions = {{1, 1, 1000, "{\"budget\":4}"},
                {2, 2, 5000, "{\"budget\":2}"},
                {3, std::nullopt, 9000, "{}"}};
  const std::optional<std::string> tasks[] = {"qa", "summarization", "classification", std::nullopt,
                                              "qa", "comparison",    "summarization",  "qa"};
  for (int i = 0; i < 8; ++i) {
    db::RequestRecord r;
    r.id = 10 + i;
    r.session_id = i < 5 ? 1 : 2;
    r.task = tasks[i];
    r.text = "prompt number " + std::to_string(i);
    if (i % 2 == 0) r.slo_ttft_ms = 50.0 + i;
    if (i % 3 == 0) r.slo_e2e_ms = 900.5;
    r.arrival_us = 2000 + 1000 * i;
    d.request_writes.push_back(r);
    d.requests.push_back(r);
  }
  // Tokens and routing: prompt then generated tokens, each routed at every layer.
  int64_t clock = 2100;
  for (db::RequestRecord& r : d.requests) {
    const int i = static_cast<int>(r.id - 10);
    const int n_prompt = 3 + i % 3, n_gen = 2 + i % 2;
    for (int pos = 0; pos < n_prompt + n_gen; ++pos) {
      db::TokenRecord t;
      t.request_id = r.id;
      t.pos = pos;
      t.token_id = 100 + uni(0, 400);
      t.phase = pos < n_prompt ? 0 : 1;
      clock += 37 + uni(0, 60);
      if (!(i == 3 && pos == 1)) t.time_us = clock;  // one token without a time
      d.tokens.push_back(t);
      if (pos == n_prompt) r.first_token_us = clock;
      for (int32_t layer = 0; layer < kLayers; ++layer) {
        int32_t a = uni(0, kExperts - 1), b = uni(0, kExperts - 2);
        if (b >= a) ++b;
        const int fate = uni(0, 9);  // 0..2 fallback swap, 3 fewer used, else exact
        for (int32_t rank = 0; rank < kTopK; ++rank) {
          db::RoutingRecord x;
          x.request_id = r.id;
          x.pos = pos;
          x.layer = layer;
          x.rank = rank;
          x.router_expert = rank == 0 ? a : b;
          x.router_weight = real();
          x.used_expert = x.router_expert;
          x.used_weight = x.router_weight;
          if (rank == 1 && fate <= 2) {
            int32_t c = uni(0, kExperts - 1);
            while (c == a || c == b) c = (c + 1) % kExperts;
            x.used_expert = c;
            x.used_weight = real();
          }
          if (rank == 1 && fate == 3) x.used_expert = -1;
          d.routing.push_back(x);
        }
      }
    }
    r.finish_us = clock + 5;
    r.prompt_tokens = n_prompt;
    if (i != 6) r.generated_tokens = n_gen;  // request 16 never reports its output length
  }
  // A routing position without a token row, and a rank with no router expert (only used).
  for (int32_t layer = 0; layer < kLayers; ++layer) {
    d.routing.push_back({10, 99, layer, 0, 4, 0.6f, 5, 0.6f});
  }
  d.routing.push_back({11, 0, 2, 2, -1, 0.0f, 3, 0.25f});
  // Lifecycle updates: only the set fields change.
  for (const db::RequestRecord& r : d.requests) {
    db::RequestRecord u;
    u.id = r.id;
    u.session_id = r.session_id;
    u.first_token_us = r.first_token_us;
    u.finish_us = r.finish_us;
    u.prompt_tokens = r.prompt_tokens;
    u.generated_tokens = r.generated_tokens;
    d.request_writes.push_back(u);
  }
  // Expert events: sessions 1 and 2; the first event of session 2 is a load, not a hit.
  for (int64_t s : {1, 2}) {
    int64_t t = s == 1 ? 3000 : 7777;
    for (int i = 0; i < 80; ++i) {
      db::ExpertEventRecord e;
      e.session_id = s;
      e.time_us = t;
      e.kind = s == 2 && i == 0 ? 0 : uni(0, 4);
      e.layer = uni(0, kLayers - 1);
      e.expert = uni(0, kExperts - 1);
      e.bytes = 4096u * static_cast<uint64_t>(1 + uni(0, 3));
      e.micros = 0.5 * uni(0, 40);
      d.events.push_back(e);
      t += uni(0, 70);  // equal times happen
    }
  }
  for (int i = 0; i < 4; ++i) {
    d.memory.push_back({1, 3000 + 500 * i, 1000, 2000u + 10u * i, 8000, 300u * i, 64});
  }
  d.memory.push_back({2, 8000, 1000, 4000, 4000, 10, 0});
  // Runs: 5 gets its metrics in a second write; 3 has none; 4 has malformed metrics.
  auto run = [](int64_t id, std::optional<std::string> name, std::optional<int64_t> session,
                std::optional<int64_t> created, std::optional<std::string> config,
                std::optional<std::string> metrics) {
    db::RunRecord r;
    r.id = id;
    r.name = std::move(name);
    r.session_id = session;
    r.created_at_us = created;
    r.config_json = std::move(config);
    r.metrics_json = std::move(metrics);
    return r;
  };
  d.run_writes = {
      run(1, "emoe", 1, 100, "{\"p\":40}",
          "{\"ttft_ms\": 12.5, \"slo_attainment\": 0.9, \"predictor\": \"emoe-a\", "
          "\"throughput\": 100}"),
      run(2, "lru", 2, 200, "{}",
          "{ \"ttft_ms\" : 2e1 , \"tpot_ms\": -3.25E-1, \"predictor\": \"l\\u00e9ru\\n\","
          "\"exact\": true, \"note\": null }"),
      run(3, "empty", std::nullopt, std::nullopt, std::nullopt, std::nullopt),
      run(4, "broken", std::nullopt, 400, std::nullopt, "{\"a\": 1,}"),
      run(5, std::nullopt, 1, 500, "{\"p\":8}", std::nullopt),
      run(5, "late", std::nullopt, std::nullopt, std::nullopt,
          "{\"ttft_ms\": 0, \"exact\": false, \"throughput\": 3}"),
  };
  return d;
}

// What a reader should see of the runs after the upserts, by hand.
std::vector<db::RunInfo> expected_runs() {
  return {
      {1, "emoe", 1, 100, "{\"p\":40}",
       "{\"ttft_ms\": 12.5, \"slo_attainment\": 0.9, \"predictor\": \"emoe-a\", "
       "\"throughput\": 100}"},
      {2, "lru", 2, 200, "{}",
       "{ \"ttft_ms\" : 2e1 , \"tpot_ms\": -3.25E-1, \"predictor\": \"l\\u00e9ru\\n\","
       "\"exact\": true, \"note\": null }"},
      {3, "empty", std::nullopt, std::nullopt, std::nullopt, std::nullopt},
      {4, "broken", std::nullopt, 400, std::nullopt, "{\"a\": 1,}"},
      {5, "late", 1, 500, "{\"p\":8}", "{\"ttft_ms\": 0, \"exact\": false, \"throughput\": 3}"},
  };
}

const db::RequestRecord* find_request(const Data& d, int64_t id) {
  for (const auto& r : d.requests)
    if (r.id == id) return &r;
  return nullptr;
}
const db::TokenRecord* find_token(const Data& d, int64_t request, int32_t pos) {
  for (const auto& t : d.tokens)
    if (t.request_id == request && t.pos == pos) return &t;
  return nullptr;
}

// The filter's meaning, spelled out: set fields narrow; phase and time need the token row.
bool request_passes(const db::RequestRecord& q, const db::RoutingFilter& f) {
  if (f.session_id && q.session_id != *f.session_id) return false;
  if (f.request_id && q.id != *f.request_id) return false;
  if (f.task && q.task.value_or("") != *f.task) return false;
  return true;
}
bool token_passes(const db::TokenRecord* t, const db::RoutingFilter& f) {
  if (!f.phase && !f.from_us && !f.to_us) return true;
  if (!t) return false;
  if (f.phase && t->phase != *f.phase) return false;
  if (f.from_us && !(t->time_us && *t->time_us >= *f.from_us)) return false;
  if (f.to_us && !(t->time_us && *t->time_us < *f.to_us)) return false;
  return true;
}
bool routing_passes(const Data& d, const db::RoutingRecord& r, const db::RoutingFilter& f) {
  return request_passes(*find_request(d, r.request_id), f) &&
         token_passes(find_token(d, r.request_id, r.pos), f);
}

std::vector<db::ExpertCount> naive_counts(const Data& d, const db::RoutingFilter& f, bool router) {
  std::map<std::pair<int32_t, int32_t>, int64_t> m;
  for (const auto& r : d.routing) {
    const int32_t e = router ? r.router_expert : r.used_expert;
    if (e < 0 || !routing_passes(d, r, f)) continue;
    ++m[{r.layer, e}];
  }
  std::vector<db::ExpertCount> v;
  for (const auto& [k, c] : m) v.push_back({k.first, k.second, c});
  return v;
}

std::vector<int64_t> naive_transitions(const Data& d, int32_t layer, const db::RoutingFilter& f) {
  std::vector<int64_t> m(static_cast<size_t>(kExperts) * kExperts, 0);
  for (const auto& a : d.routing) {
    if (a.layer != layer || a.used_expert < 0 || !routing_passes(d, a, f)) continue;
    for (const auto& b : d.routing) {
      if (b.request_id == a.request_id && b.pos == a.pos && b.layer == layer + 1 &&
          b.used_expert >= 0) {
        ++m[static_cast<size_t>(a.used_expert * kExperts + b.used_expert)];
      }
    }
  }
  return m;
}

std::vector<db::TaskPopularity> naive_popularity(const Data& d, const db::RoutingFilter& f) {
  std::map<std::string, db::TaskPopularity> m;
  auto entry = [&](const std::string& task) -> db::TaskPopularity& {
    auto& p = m[task];
    p.task = task;
    p.counts.resize(static_cast<size_t>(kLayers) * kExperts, 0);
    return p;
  };
  for (const auto& r : d.routing) {
    if (r.used_expert < 0 || !routing_passes(d, r, f)) continue;
    const std::string task = find_request(d, r.request_id)->task.value_or("");
    ++entry(task).counts[static_cast<size_t>(r.layer * kExperts + r.used_expert)];
  }
  for (const auto& t : d.tokens) {
    const db::RequestRecord& q = *find_request(d, t.request_id);
    if (!request_passes(q, f) || !token_passes(&t, f)) continue;
    ++entry(q.task.value_or("")).tokens;
  }
  std::vector<db::TaskPopularity> v;
  for (auto& [k, p] : m) v.push_back(p);
  return v;
}

std::vector<db::HitRatePoint> naive_hit_rate(const Data& d, int64_t session, int64_t bucket) {
  int64_t t0 = INT64_MAX;
  for (const auto& e : d.events)
    if (e.session_id == session) t0 = std::min(t0, e.time_us);
  std::map<std::pair<int32_t, int64_t>, std::pair<int64_t, int64_t>> m;
  for (const auto& e : d.events) {
    if (e.session_id != session || (e.kind != 3 && e.kind != 4)) continue;
    auto& hm = m[{e.layer, (e.time_us - t0) / bucket * bucket}];
    (e.kind == 3 ? hm.first : hm.second) += 1;
  }
  std::vector<db::HitRatePoint> v;
  for (const auto& [k, hm] : m) v.push_back({k.first, k.second, hm.first, hm.second});
  return v;
}

QString describe(const std::vector<db::ExpertCount>& v) {
  QString s;
  for (const auto& c : v) s += QString("(%1,%2:%3)").arg(c.layer).arg(c.expert).arg(c.count);
  return s;
}

bool write_all(const std::string& path, const Data& d) {
  {
    // Models are written by RecordingSession in the product; here directly.
    auto db = db::open_store(path);
    if (!db.ok()) return false;
    if (!(*db)
             ->exec("INSERT INTO models(id, path, size_bytes, arch, hparams) VALUES "
                    "(1, '/models/a.gguf', 1234, 'llama', '{}'),"
                    "(2, '/models/b.gguf', 99, 'qwen2moe', '{}')")
             .is_ok())
      return false;
  }
  db::WriterOptions wo;
  wo.batch_rows = 50;  // many batches
  auto w = db::RoutingWriter::open(path, wo);
  if (!w.ok()) return false;
  bool ok = true;
  auto push = [&](db::Record r) { ok = ok && (*w)->push(std::move(r)).is_ok(); };
  for (const auto& x : d.sessions) push(x);
  for (size_t i = 0; i < d.requests.size(); ++i) push(d.request_writes[i]);
  for (const auto& x : d.tokens) push(x);
  for (const auto& x : d.routing) push(x);
  for (size_t i = d.requests.size(); i < d.request_writes.size(); ++i) push(d.request_writes[i]);
  for (const auto& x : d.events) push(x);
  for (const auto& x : d.memory) push(x);
  for (const auto& x : d.run_writes) push(x);
  return ok && (*w)->close().is_ok();
}

}  // namespace

class TestQueries : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::string path_;
  Data data_;
  std::unique_ptr<db::RoutingQueries> q_;

  std::vector<db::RoutingFilter> filters() const {
    std::vector<db::RoutingFilter> v;
    v.push_back({});
    v.push_back({1, std::nullopt, std::nullopt});
    v.push_back({2, std::nullopt, std::nullopt});
    v.push_back({3, std::nullopt, std::nullopt});  // no requests: empty
    v.push_back({std::nullopt, 10, std::nullopt});
    v.push_back({std::nullopt, 13, std::nullopt});
    v.push_back({std::nullopt, std::nullopt, 0});
    v.push_back({std::nullopt, std::nullopt, 1});
    for (const char* task : {"qa", "summarization", "", "nope"}) {
      db::RoutingFilter f;
      f.task = task;
      v.push_back(f);
    }
    // Time ranges: around the middle of the recording, open on either side, and empty.
    std::vector<int64_t> times;
    for (const auto& t : data_.tokens)
      if (t.time_us) times.push_back(*t.time_us);
    std::sort(times.begin(), times.end());
    const int64_t mid = times[times.size() / 2], late = times[times.size() * 3 / 4];
    db::RoutingFilter f;
    f.from_us = mid;
    f.to_us = late;
    v.push_back(f);
    f = {};
    f.from_us = mid;
    v.push_back(f);
    f = {};
    f.to_us = mid;
    v.push_back(f);
    f = {};
    f.from_us = late;
    f.to_us = late;
    v.push_back(f);
    // Combined: session + task + phase + time.
    f = {1, std::nullopt, 1};
    f.task = "qa";
    f.from_us = 0;
    f.to_us = late;
    v.push_back(f);
    f = {2, std::nullopt, 0};
    f.task = "summarization";
    v.push_back(f);
    return v;
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    path_ = dir_.filePath("queries.db").toStdString();
    data_ = make_data();
    QVERIFY(write_all(path_, data_));
    auto q = db::RoutingQueries::open(path_);
    QVERIFY2(q.ok(), q.status().message().c_str());
    q_ = std::move(*q);
  }

  void expert_counts_honour_every_filter() {
    int non_empty = 0;
    for (const auto& f : filters()) {
      for (bool router : {false, true}) {
        auto got = q_->expert_counts(f, router ? db::ExpertChoice::Router : db::ExpertChoice::Used);
        QVERIFY2(got.ok(), got.status().message().c_str());
        const auto want = naive_counts(data_, f, router);
        QVERIFY2(*got == want, qPrintable("got " + describe(*got) + " want " + describe(want)));
        if (!want.empty()) ++non_empty;
      }
    }
    QVERIFY(non_empty >= 28);  // the filters are not all trivially empty
    // The fallback rows make the two choices differ.
    QVERIFY(naive_counts(data_, {}, false) != naive_counts(data_, {}, true));
    // The position without a token row counts without phase/time filters only.
    auto all = naive_counts(data_, {std::nullopt, 10, std::nullopt}, false);
    auto with_phase = naive_counts(data_, {std::nullopt, 10, 0}, false);
    auto with_phase1 = naive_counts(data_, {std::nullopt, 10, 1}, false);
    int64_t n_all = 0, n_phases = 0;
    for (const auto& c : all) n_all += c.count;
    for (const auto& c : with_phase) n_phases += c.count;
    for (const auto& c : with_phase1) n_phases += c.count;
    QCOMPARE(n_all, n_phases + kLayers);
  }

  void transition_matrix_honours_filters() {
    for (const auto& f : filters()) {
      for (int32_t layer = 0; layer + 1 < kLayers; ++layer) {
        auto got = q_->transition_matrix(layer, kExperts, f);
        QVERIFY2(got.ok(), got.status().message().c_str());
        QCOMPARE(got->counts, naive_transitions(data_, layer, f));
      }
    }
  }

  void task_popularity_per_task() {
    for (const auto& f : filters()) {
      auto got = q_->task_popularity(kLayers, kExperts, f);
      QVERIFY2(got.ok(), got.status().message().c_str());
      const auto want = naive_popularity(data_, f);
      QCOMPARE(got->size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        QCOMPARE(QString::fromStdString((*got)[i].task), QString::fromStdString(want[i].task));
        QCOMPARE((*got)[i].tokens, want[i].tokens);
        QCOMPARE((*got)[i].counts, want[i].counts);
      }
    }
    // Unfiltered: five tasks ("" is the request without one), sorted by name.
    auto all = q_->task_popularity(kLayers, kExperts);
    QVERIFY(all.ok());
    QStringList names;
    for (const auto& p : *all) names << QString::fromStdString(p.task);
    QCOMPARE(names, QStringList({"", "classification", "comparison", "qa", "summarization"}));
    int64_t tokens = 0;
    for (const auto& p : *all) tokens += p.tokens;
    QCOMPARE(tokens, static_cast<int64_t>(data_.tokens.size()));
    // Experts beyond what the caller says the model has are reported, not written past.
    auto small = q_->task_popularity(kLayers, 2);
    QVERIFY(!small.ok());
    QCOMPARE(small.status().code(), StatusCode::Corrupt);
    QVERIFY2(QString::fromStdString(small.status().message()).contains("outside"),
             small.status().message().c_str());
    QCOMPARE(q_->task_popularity(0, kExperts).status().code(), StatusCode::InvalidArgument);
  }

  void hit_rate_over_time_buckets() {
    for (int64_t session : {1, 2}) {
      for (int64_t bucket : {1, 97, 250, 1000000}) {
        auto got = q_->hit_rate_over_time(session, bucket);
        QVERIFY2(got.ok(), got.status().message().c_str());
        const auto want = naive_hit_rate(data_, session, bucket);
        QVERIFY(!want.empty());
        QVERIFY(*got == want);
      }
    }
    // Session 2 starts with a load at 7777: its first bucket is relative to that event.
    auto s2 = q_->hit_rate_over_time(2, 1);
    QVERIFY(s2.ok());
    int64_t first_hit = INT64_MAX;
    for (const auto& e : data_.events)
      if (e.session_id == 2 && (e.kind == 3 || e.kind == 4))
        first_hit = std::min(first_hit, e.time_us);
    int64_t min_start = INT64_MAX;
    for (const auto& p : *s2) min_start = std::min(min_start, p.bucket_start_us);
    QCOMPARE(min_start, first_hit - 7777);
    auto none = q_->hit_rate_over_time(3, 100);  // a session without events
    QVERIFY(none.ok() && none->empty());
    QCOMPARE(q_->hit_rate_over_time(1, 0).status().code(), StatusCode::InvalidArgument);
    auto missing = q_->hit_rate_over_time(42, 100);
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY2(QString::fromStdString(missing.status().message()).contains("session 42"),
             missing.status().message().c_str());
  }

  void listings() {
    auto sessions = q_->list_sessions();
    QVERIFY2(sessions.ok(), sessions.status().message().c_str());
    QCOMPARE(sessions->size(), size_t{3});
    const char* model_paths[] = {"/models/a.gguf", "/models/b.gguf", ""};
    for (size_t i = 0; i < 3; ++i) {
      const db::SessionInfo& s = (*sessions)[i];
      const db::SessionRecord& w = data_.sessions[i];
      QCOMPARE(s.id, w.id);
      QCOMPARE(s.model_id, w.model_id);
      QCOMPARE(QString::fromStdString(s.model_path), QString(model_paths[i]));
      QCOMPARE(s.started_at_us, w.started_at_us);
      QCOMPARE(QString::fromStdString(s.config_json), QString::fromStdString(w.config_json));
      int64_t n_req = 0, n_tok = 0;
      for (const auto& r : data_.requests) n_req += r.session_id == w.id;
      for (const auto& t : data_.tokens)
        n_tok += find_request(data_, t.request_id)->session_id == w.id;
      QCOMPARE(s.request_count, n_req);
      QCOMPARE(s.token_count, n_tok);
    }
    QCOMPARE((*sessions)[0].request_count, int64_t{5});

    for (int64_t session : {1, 2, 3}) {
      auto reqs = q_->session_requests(session);
      QVERIFY2(reqs.ok(), reqs.status().message().c_str());
      std::vector<db::RequestInfo> want;
      for (const auto& r : data_.requests) {
        if (r.session_id != session) continue;
        want.push_back({r.id, r.session_id, r.task, r.text, r.slo_ttft_ms, r.slo_e2e_ms,
                        r.arrival_us, r.first_token_us, r.finish_us, r.prompt_tokens,
                        r.generated_tokens});
      }
      QVERIFY(*reqs == want);
    }
    // Spot checks by hand: request 13 has no task, request 16 no generated count.
    auto r1 = q_->session_requests(1);
    QVERIFY(!(*r1)[3].task.has_value());
    QCOMPARE((*r1)[0].slo_ttft_ms, std::optional<double>(50.0));
    QCOMPARE((*r1)[0].slo_e2e_ms, std::optional<double>(900.5));
    QVERIFY(!(*r1)[1].slo_e2e_ms.has_value());
    auto r2 = q_->session_requests(2);
    QCOMPARE((*r2)[1].id, int64_t{16});
    QVERIFY(!(*r2)[1].generated_tokens.has_value());
    QCOMPARE((*r2)[1].prompt_tokens, std::optional<int64_t>(3));

    for (int64_t session : {1, 2, 3}) {
      auto mem = q_->memory_samples(session);
      QVERIFY(mem.ok());
      std::vector<db::MemorySampleRow> want;
      for (const auto& m : data_.memory) {
        if (m.session_id != session) continue;
        want.push_back({0, m.time_us, static_cast<int64_t>(m.dense),
                        static_cast<int64_t>(m.experts), static_cast<int64_t>(m.budget),
                        static_cast<int64_t>(m.kv), static_cast<int64_t>(m.scratch)});
      }
      QCOMPARE(mem->size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        want[i].id = (*mem)[i].id;  // ids are the store's
        QVERIFY((*mem)[i] == want[i]);
      }
    }

    for (int64_t session : {1, 2}) {
      for (std::optional<int32_t> kind :
           {std::optional<int32_t>{}, std::optional<int32_t>{0}, std::optional<int32_t>{1},
            std::optional<int32_t>{2}, std::optional<int32_t>{3}, std::optional<int32_t>{4}}) {
        auto ev = q_->expert_events(session, kind);
        QVERIFY2(ev.ok(), ev.status().message().c_str());
        // Written in time order (ties in write order), which is (time_us, id) order.
        std::vector<const db::ExpertEventRecord*> want;
        for (const auto& e : data_.events)
          if (e.session_id == session && (!kind || e.kind == *kind)) want.push_back(&e);
        QVERIFY(!want.empty());
        QCOMPARE(ev->size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) {
          const auto& g = (*ev)[i];
          QCOMPARE(g.time_us, want[i]->time_us);
          QCOMPARE(g.kind, want[i]->kind);
          QCOMPARE(g.layer, want[i]->layer);
          QCOMPARE(g.expert, want[i]->expert);
          QCOMPARE(g.bytes, static_cast<int64_t>(want[i]->bytes));
          QCOMPARE(g.micros, want[i]->micros);
          if (i > 0) QVERIFY(g.id > (*ev)[i - 1].id);
        }
      }
    }
    QCOMPARE(q_->expert_events(1, 5).status().code(), StatusCode::InvalidArgument);
    QCOMPARE(q_->expert_events(3).value().size(), size_t{0});

    auto runs = q_->list_runs();
    QVERIFY2(runs.ok(), runs.status().message().c_str());
    QVERIFY(*runs == expected_runs());

    for (auto status : {q_->session_requests(77).status(), q_->memory_samples(77).status(),
                        q_->expert_events(77).status()}) {
      QCOMPARE(status.code(), StatusCode::NotFound);
      QVERIFY2(QString::fromStdString(status.message()).contains("session 77"),
               status.message().c_str());
    }
  }

  void request_trace_matches_records() {
    for (const auto& rq : data_.requests) {
      auto trace = q_->request_trace(rq.id);
      QVERIFY2(trace.ok(), trace.status().message().c_str());
      std::map<std::pair<int32_t, int32_t>, std::vector<const db::RoutingRecord*>> want;
      for (const auto& r : data_.routing)
        if (r.request_id == rq.id) want[{r.pos, r.layer}].push_back(&r);
      QCOMPARE(trace->size(), want.size());
      size_t i = 0;
      for (auto& [key, rows] : want) {
        std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->rank < b->rank; });
        const db::TraceStep& s = (*trace)[i++];
        QCOMPARE(s.pos, key.first);
        QCOMPARE(s.layer, key.second);
        const db::TokenRecord* t = find_token(data_, rq.id, key.first);
        QCOMPARE(s.token_id, t ? t->token_id : -1);
        QCOMPARE(s.phase, t ? t->phase : -1);
        std::vector<int32_t> re, ue;
        std::vector<float> rw, uw;
        for (auto* r : rows) {
          if (r->router_expert >= 0) re.push_back(r->router_expert), rw.push_back(r->router_weight);
          if (r->used_expert >= 0) ue.push_back(r->used_expert), uw.push_back(r->used_weight);
        }
        QCOMPARE(s.router_experts, re);
        QCOMPARE(s.router_weights, rw);
        QCOMPARE(s.used_experts, ue);
        QCOMPARE(s.used_weights, uw);
      }
    }
    auto missing = q_->request_trace(4242);
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY2(QString::fromStdString(missing.status().message()).contains("request 4242"),
             missing.status().message().c_str());
  }

  void compare_runs_table() {
    auto cmp = q_->compare_runs({2, 1, 5, 3});
    QVERIFY2(cmp.ok(), cmp.status().message().c_str());
    QCOMPARE(cmp->run_ids, (std::vector<int64_t>{2, 1, 5, 3}));
    QCOMPARE(cmp->run_names, (std::vector<std::string>{"lru", "emoe", "late", "empty"}));
    const std::vector<std::string> metrics = {
        "exact", "note", "predictor", "slo_attainment", "throughput", "tpot_ms", "ttft_ms"};
    QCOMPARE(cmp->metrics, metrics);
    using V = std::optional<db::JsonScalar>;
    const V none;
    const std::vector<std::vector<V>> want = {
        {V(true), none, V(false), none},                                          // exact
        {V(std::monostate{}), none, none, none},                                  // note
        {V(std::string("l\xc3\xa9ru\n")), V(std::string("emoe-a")), none, none},  // predictor
        {none, V(0.9), none, none},                                               // slo_attainment
        {none, V(100.0), V(3.0), none},                                           // throughput
        {V(-0.325), none, none, none},                                            // tpot_ms
        {V(20.0), V(12.5), V(0.0), none},                                         // ttft_ms
    };
    QCOMPARE(cmp->values.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      QVERIFY2(cmp->values[i] == want[i], metrics[i].c_str());
    }
    auto broken = q_->compare_runs({1, 4});
    QCOMPARE(broken.status().code(), StatusCode::Corrupt);
    const QString msg = QString::fromStdString(broken.status().message());
    QVERIFY2(msg.contains("run 4") && msg.contains("byte 8"), qPrintable(msg));
    auto missing = q_->compare_runs({1, 99});
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY2(QString::fromStdString(missing.status().message()).contains("run 99"),
             missing.status().message().c_str());
    auto empty = q_->compare_runs({});
    QVERIFY(empty.ok() && empty->metrics.empty() && empty->run_ids.empty());
  }

  void flat_json_parser() {
    auto ok = db::parse_flat_json_object(
        " {\"a\":1,\"b\" : -0.5e2 ,\"c\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\",\"d\":true,"
        "\"e\":false,\"f\":null,\"g\":\"\\ud83d\\ude00\\u0041\",\"\":0} ");
    QVERIFY2(ok.ok(), ok.status().message().c_str());
    QCOMPARE(ok->size(), size_t{8});
    const std::vector<std::pair<std::string, db::JsonScalar>> want = {
        {"a", 1.0},
        {"b", -50.0},
        {"c", std::string("x\"y\\z/\b\f\n\r\t")},
        {"d", true},
        {"e", false},
        {"f", std::monostate{}},
        {"g", std::string("\xf0\x9f\x98\x80"
                          "A")},
        {"", 0.0}};
    QVERIFY(*ok == want);
    QVERIFY(db::parse_flat_json_object("{}").ok());
    QVERIFY(db::parse_flat_json_object("\n{ }\n").value().empty());

    QCOMPARE(QString::fromStdString(db::json_scalar_to_string(0.1)), QString("0.1"));
    QCOMPARE(QString::fromStdString(db::json_scalar_to_string(100.0)), QString("100"));
    QCOMPARE(QString::fromStdString(db::json_scalar_to_string(std::monostate{})), QString("null"));
    QCOMPARE(QString::fromStdString(db::json_scalar_to_string(true)), QString("true"));

    // Malformed documents (the parser's error positions are tested in test_json_reader) and
    // values that are not scalars.
    const char* const bad[] = {
        "",
        "[1]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1",
        "{\"a\":1}x",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":1e999}",
        "{\"a\":tru}",
        "{\"a\":\"x}",
        "{\"a\":\"\\q\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\t\"}",
        "{\"a\":{\"b\":1}}",
        "{\"a\":[1]}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1 \"b\":2}",
    };
    for (const char* text : bad) {
      auto r = db::parse_flat_json_object(text);
      QVERIFY2(!r.ok(), text);
      QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
      const QString msg = QString::fromStdString(r.status().message());
      QVERIFY2(msg.contains("at byte") || msg.contains("not a scalar"),
               qPrintable(QString(text) + " -> " + msg));
    }
    auto nested = db::parse_flat_json_object("{\"a\":{\"b\":1}}");
    QVERIFY(QString::fromStdString(nested.status().message()).contains("\"a\""));
  }
};

QTEST_GUILESS_MAIN(TestQueries)
#include "test_queries.moc"
