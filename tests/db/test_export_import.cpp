// Export and import of sessions: a store is filled through the RoutingWriter with values
// written by hand below (two requests, tokens, routing with fallback rows, expert events,
// memory samples, runs); the JSON export is parsed back with the JSON reader and the CSV export
// is compared with file contents written out by hand. A JSONL trace exported from the store
// and imported into a fresh one gives the same routing rows; the committed sample traces
// import to the rows listed by hand; every kind of malformed line aborts the import with its
// line number and leaves an existing store byte for byte as it was.
#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/common/csv.h"
#include "core/common/json_reader.h"
#include "db/database.h"
#include "db/routing_writer.h"
#include "db/schema.h"
#include "db/session_export.h"
#include "db/trace_export.h"
#include "db/trace_import.h"

using namespace emoe;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  return static_cast<bool>(f);
}

// One routing decision of the fixture: the router's top-2 and what was computed.
struct Route {
  int64_t request;
  int32_t pos, layer;
  std::vector<int32_t> router;
  std::vector<float> router_w;
  std::vector<int32_t> used;
  std::vector<float> used_w;
};

// Session 5 (requests 11 and 12, two layers, top-2 of 4 experts). (11,2,1), (12,1,0) and
// (12,1,1) are fallback decisions; (12,1,0) computed a single expert.
const std::vector<Route>& session5_routes() {
  static const std::vector<Route> r = {
      {11, 0, 0, {0, 1}, {0.5f, 0.5f}, {0, 1}, {0.5f, 0.5f}},
      {11, 0, 1, {2, 3}, {0.625f, 0.375f}, {2, 3}, {0.625f, 0.375f}},
      {11, 1, 0, {1, 3}, {0.8f, 0.2f}, {1, 3}, {0.8f, 0.2f}},
      {11, 1, 1, {0, 2}, {0.6f, 0.4f}, {0, 2}, {0.6f, 0.4f}},
      {11, 2, 0, {3, 2}, {0.55f, 0.45f}, {3, 2}, {0.55f, 0.45f}},
      {11, 2, 1, {3, 1}, {0.6f, 0.4f}, {1, 2}, {0.7f, 0.3f}},
      {12, 0, 0, {0, 2}, {0.9f, 0.1f}, {0, 2}, {0.9f, 0.1f}},
      {12, 0, 1, {1, 0}, {0.5f, 0.5f}, {1, 0}, {0.5f, 0.5f}},
      {12, 1, 0, {2, 3}, {0.55f, 0.45f}, {2}, {1.0f}},
      {12, 1, 1, {1, 2}, {0.75f, 0.25f}, {0, 2}, {0.5f, 0.5f}},
  };
  return r;
}

const char* const kText11 = "What is 2+2, \"roughly\"?\nAnswer:";

bool push_routes(db::RoutingWriter& w, const Route& r) {
  for (size_t k = 0; k < std::max(r.router.size(), r.used.size()); ++k) {
    db::RoutingRecord rec;
    rec.request_id = r.request;
    rec.pos = r.pos;
    rec.layer = r.layer;
    rec.rank = static_cast<int32_t>(k);
    if (k < r.router.size()) {
      rec.router_expert = r.router[k];
      rec.router_weight = r.router_w[k];
    }
    if (k < r.used.size()) {
      rec.used_expert = r.used[k];
      rec.used_weight = r.used_w[k];
    }
    if (!w.push(rec).is_ok()) return false;
  }
  return true;
}

// The fixture store: model 7, session 5 (above) and session 6 (request 21), run 3 linked to
// session 5, run 4 linked to nothing with metrics that are not JSON.
bool build_store(const std::string& path) {
  {
    auto db = db::open_store(path);
    if (!db.ok()) return false;
    if (!(*db)
             ->exec("INSERT INTO models(id, path, sha256, size_bytes, arch, hparams) VALUES (7, "
                    "'/models/mix.gguf', NULL, 123456, 'llama', "
                    "'{\"n_layer\":2,\"n_expert\":4,\"n_expert_used\":2}')")
             .is_ok()) {
      return false;
    }
  }
  auto writer = db::RoutingWriter::open(path);
  if (!writer.ok()) return false;
  db::RoutingWriter& w = **writer;
  bool ok = w.push(db::SessionRecord{5, 7, 1000, "{\"command\":\"trace\",\"budget\":3}"}).is_ok();
  ok = ok && w.push(db::SessionRecord{6, std::nullopt, 3000, "{}"}).is_ok();
  db::RequestRecord a;
  a.id = 11;
  a.session_id = 5;
  a.task = "qa";
  a.text = kText11;
  a.slo_ttft_ms = 250.5;
  a.arrival_us = 1100;
  a.first_token_us = 1500;
  a.finish_us = 2400;
  a.prompt_tokens = 2;
  a.generated_tokens = 1;
  db::RequestRecord b;
  b.id = 12;
  b.session_id = 5;
  b.task = "summarization";
  b.text = "short";
  b.slo_e2e_ms = 1500.25;
  b.arrival_us = 1900;
  db::RequestRecord c;
  c.id = 21;
  c.session_id = 6;
  ok = ok && w.push(a).is_ok() && w.push(b).is_ok() && w.push(c).is_ok();
  const db::TokenRecord tokens[] = {{11, 0, 1, 0, 1200},   {11, 1, 17, 0, 1200},
                                    {11, 2, 230, 1, 1500}, {12, 0, 1, 0, std::nullopt},
                                    {12, 1, 5, 0, 2000},   {21, 0, 4, 0, 3000}};
  for (const auto& t : tokens) ok = ok && w.push(t).is_ok();
  for (const Route& r : session5_routes()) ok = ok && push_routes(w, r);
  ok = ok && push_routes(w, {21, 0, 0, {1, 2}, {0.5f, 0.5f}, {1, 2}, {0.5f, 0.5f}});
  const db::ExpertEventRecord events[] = {{5, 1300, 0, 1, 3, 4096, 0.0},
                                          {5, 1350, 1, 1, 3, 4096, 12.5},
                                          {5, 1600, 2, 0, 2, 4096, 0.0},
                                          {6, 3100, 3, 0, 1, 0, 0.0}};
  for (const auto& e : events) ok = ok && w.push(e).is_ok();
  const db::MemorySampleRecord samples[] = {{5, 1250, 1000, 8192, 16384, 512, 64},
                                            {5, 1700, 1000, 4096, 16384, 768, 64},
                                            {6, 3200, 1, 2, 3, 4, 5}};
  for (const auto& s : samples) ok = ok && w.push(s).is_ok();
  db::RunRecord run3;
  run3.id = 3;
  run3.name = "baseline-lru";
  run3.session_id = 5;
  run3.created_at_us = 999;
  run3.config_json = "{\"policy\":\"lru\",\"p\":40}";
  run3.metrics_json = "{\"hit_rate\":0.75}";
  db::RunRecord run4;
  run4.id = 4;
  run4.name = "orphan";
  run4.config_json = "{\"a\":[1,2]}";
  run4.metrics_json = "not json";
  ok = ok && w.push(run3).is_ok() && w.push(run4).is_ok();
  return ok && w.close().is_ok();
}

// RFC 4180: fields separated by commas, records by CRLF; quoted fields hold commas, quotes
// (doubled) and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& s) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    const char ch = s[i];
    if (ch == '"' && field.empty()) {
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += s[i++];
      }
      any = true;
    } else if (ch == ',') {
      row.push_back(field);
      field.clear();
      ++i;
      any = true;
    } else if (ch == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      i += 2;
      any = false;
    } else {
      field += ch;
      ++i;
      any = true;
    }
  }
  if (any) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

// Every row of every table, rendered and sorted: equal dumps mean equal stores.
QStringList dump(const std::string& path) {
  QStringList out;
  auto db = db::open_store(path);
  if (!db.ok()) return {"<cannot open>"};
  for (const char* const* t = db::schema_tables(); *t; ++t) {
    sqlite3_stmt* st = nullptr;
    const std::string sql = std::string("SELECT * FROM ") + *t;
    if (sqlite3_prepare_v2((*db)->handle(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      return {"<cannot read>"};
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      QString row = QString(*t) + ":";
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_NULL:
            row += "|NULL";
            break;
          case SQLITE_INTEGER:
            row += "|" + QString::number(sqlite3_column_int64(st, c));
            break;
          case SQLITE_FLOAT:
            row += "|" + QString::number(sqlite3_column_double(st, c), 'g', 17);
            break;
          default:
            row += "|'" +
                   QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                     sqlite3_column_bytes(st, c)) +
                   "'";
        }
      }
      out << row;
    }
    sqlite3_finalize(st);
  }
  out.sort();
  return out;
}

struct RoutingRow {
  int64_t request, pos, layer, rank;
  std::optional<int64_t> router_expert, used_expert;
  std::optional<double> router_weight, used_weight;
  bool operator==(const RoutingRow&) const = default;
};

std::vector<RoutingRow> routing_rows(db::Database& db, const std::string& where) {
  std::vector<RoutingRow> rows;
  auto st = db.prepare(
      "SELECT r.request_id, r.pos, r.layer, r.rank, r.router_expert, r.router_weight, "
      "r.used_expert, r.used_weight FROM routing r JOIN requests q ON q.id=r.request_id " +
      where + " ORDER BY r.request_id, r.pos, r.layer, r.rank");
  if (!st.ok()) return rows;
  while (true) {
    auto more = st->step();
    if (!more.ok() || !*more) break;
    RoutingRow r{
        st->column_int(0), st->column_int(1), st->column_int(2), st->column_int(3), {}, {}, {}, {}};
    if (!st->column_is_null(4)) r.router_expert = st->column_int(4);
    if (!st->column_is_null(5)) r.router_weight = st->column_double(5);
    if (!st->column_is_null(6)) r.used_expert = st->column_int(6);
    if (!st->column_is_null(7)) r.used_weight = st->column_double(7);
    rows.push_back(r);
  }
  return rows;
}

int64_t count(db::Database& db, const std::string& sql) {
  auto v = db.query_int(sql);
  return v.ok() ? *v : -1;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

bool no_temp_files(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  }
  return true;
}

const char* const kHeader =
    "{\"format\":\"emoe-trace\",\"version\":1,\"model\":\"m\",\"n_layer\":2,\"n_expert\":4,"
    "\"top_k\":2}";
const char* const kGood0 =
    "{\"request\":\"r1\",\"pos\":0,\"layer\":0,\"experts\":[0,1],\"weights\":[0.5,0.5],"
    "\"token\":3}";
const char* const kGood1 =
    "{\"request\":\"r1\",\"pos\":1,\"layer\":0,\"experts\":[2,1],\"weights\":[0.5,0.5]}";

}  // namespace

class TestExportImport : public QObject {
  Q_OBJECT

 private slots:
  void export_session_json() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    const std::string out = dir.filePath("session5.json").toStdString();
    std::vector<int64_t> progress;
    db::ExportOptions o;
    o.progress_every = 10;
    o.progress = [&](int64_t rows) { progress.push_back(rows); };
    auto r = db::export_session(**db, 5, db::ExportFormat::Json, out, o);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->requests, int64_t{2});
    QCOMPARE(r->tokens, int64_t{5});
    QCOMPARE(r->routing, int64_t{20});
    QCOMPARE(r->expert_events, int64_t{3});
    QCOMPARE(r->memory_samples, int64_t{2});
    // Rows: session 1 + model 1 + 32 table rows; every 10th, then the total.
    QCOMPARE(progress, (std::vector<int64_t>{10, 20, 30, 34}));

    const std::string text = read_file(out);
    // JSON columns are embedded as they are stored.
    QVERIFY(text.find("\"config\":{\"command\":\"trace\",\"budget\":3}") != std::string::npos);
    auto doc = parse_json(text);
    QVERIFY2(doc.ok(), doc.status().message().c_str());
    QCOMPARE(doc->find("format")->as_string(), std::string("emoe-session"));
    QCOMPARE(doc->find("version")->as_int(), int64_t{1});
    const JsonValue* s = doc->find("session");
    QCOMPARE(s->find("id")->as_int(), int64_t{5});
    QCOMPARE(s->find("model_id")->as_int(), int64_t{7});
    QCOMPARE(s->find("started_at")->as_int(), int64_t{1000});
    QCOMPARE(s->find("config")->find("budget")->as_int(), int64_t{3});
    const JsonValue* m = doc->find("model");
    QCOMPARE(m->find("path")->as_string(), std::string("/models/mix.gguf"));
    QVERIFY(m->find("sha256")->is_null());
    QCOMPARE(m->find("size_bytes")->as_int(), int64_t{123456});
    QCOMPARE(m->find("arch")->as_string(), std::string("llama"));
    QCOMPARE(m->find("hparams")->find("n_expert")->as_int(), int64_t{4});

    const auto& reqs = doc->find("requests")->items();
    QCOMPARE(reqs.size(), size_t{2});
    QCOMPARE(reqs[0].find("id")->as_int(), int64_t{11});
    QCOMPARE(reqs[0].find("session_id")->as_int(), int64_t{5});
    QCOMPARE(reqs[0].find("task")->as_string(), std::string("qa"));
    QCOMPARE(reqs[0].find("text")->as_string(), std::string(kText11));
    QCOMPARE(reqs[0].find("slo_ttft_ms")->as_double(), 250.5);
    QVERIFY(reqs[0].find("slo_e2e_ms")->is_null());
    QCOMPARE(reqs[0].find("arrival_us")->as_int(), int64_t{1100});
    QCOMPARE(reqs[0].find("first_token_us")->as_int(), int64_t{1500});
    QCOMPARE(reqs[0].find("finish_us")->as_int(), int64_t{2400});
    QCOMPARE(reqs[0].find("prompt_tokens")->as_int(), int64_t{2});
    QCOMPARE(reqs[0].find("generated_tokens")->as_int(), int64_t{1});
    QCOMPARE(reqs[1].find("id")->as_int(), int64_t{12});
    QCOMPARE(reqs[1].find("slo_e2e_ms")->as_double(), 1500.25);
    QVERIFY(reqs[1].find("finish_us")->is_null());

    // request, pos, token, phase, time (-1: NULL)
    const int64_t want_tokens[][5] = {{11, 0, 1, 0, 1200},
                                      {11, 1, 17, 0, 1200},
                                      {11, 2, 230, 1, 1500},
                                      {12, 0, 1, 0, -1},
                                      {12, 1, 5, 0, 2000}};
    const auto& toks = doc->find("tokens")->items();
    QCOMPARE(toks.size(), size_t{5});
    for (size_t i = 0; i < toks.size(); ++i) {
      QCOMPARE(toks[i].find("request_id")->as_int(), want_tokens[i][0]);
      QCOMPARE(toks[i].find("pos")->as_int(), want_tokens[i][1]);
      QCOMPARE(toks[i].find("token_id")->as_int(), want_tokens[i][2]);
      QCOMPARE(toks[i].find("phase")->as_int(), want_tokens[i][3]);
      if (want_tokens[i][4] < 0) {
        QVERIFY(toks[i].find("time_us")->is_null());
      } else {
        QCOMPARE(toks[i].find("time_us")->as_int(), want_tokens[i][4]);
      }
    }

    const auto& routing = doc->find("routing")->items();
    QCOMPARE(routing.size(), size_t{20});
    size_t i = 0;
    for (const Route& rt : session5_routes()) {
      for (size_t k = 0; k < 2; ++k, ++i) {
        const JsonValue& row = routing[i];
        QCOMPARE(row.find("request_id")->as_int(), rt.request);
        QCOMPARE(row.find("pos")->as_int(), int64_t{rt.pos});
        QCOMPARE(row.find("layer")->as_int(), int64_t{rt.layer});
        QCOMPARE(row.find("rank")->as_int(), static_cast<int64_t>(k));
        QCOMPARE(row.find("router_expert")->as_int(), int64_t{rt.router[k]});
        QCOMPARE(static_cast<float>(row.find("router_weight")->as_double()), rt.router_w[k]);
        if (k < rt.used.size()) {
          QCOMPARE(row.find("used_expert")->as_int(), int64_t{rt.used[k]});
          QCOMPARE(static_cast<float>(row.find("used_weight")->as_double()), rt.used_w[k]);
        } else {
          QVERIFY(row.find("used_expert")->is_null());
          QVERIFY(row.find("used_weight")->is_null());
        }
      }
    }
    // Weights are written as the shortest text of the float: 0.7, not 0.699999988.
    QVERIFY(text.find("\"router_expert\":3,\"router_weight\":0.6,\"used_expert\":1,"
                      "\"used_weight\":0.7}") != std::string::npos);

    const auto& ev = doc->find("expert_events")->items();
    QCOMPARE(ev.size(), size_t{3});
    QCOMPARE(ev[1].find("time_us")->as_int(), int64_t{1350});
    QCOMPARE(ev[1].find("kind")->as_int(), int64_t{1});
    QCOMPARE(ev[1].find("layer")->as_int(), int64_t{1});
    QCOMPARE(ev[1].find("expert")->as_int(), int64_t{3});
    QCOMPARE(ev[1].find("bytes")->as_int(), int64_t{4096});
    QCOMPARE(ev[1].find("micros")->as_double(), 12.5);
    QCOMPARE(ev[2].find("kind")->as_int(), int64_t{2});
    const auto& mem = doc->find("memory_samples")->items();
    QCOMPARE(mem.size(), size_t{2});
    QCOMPARE(mem[0].find("time_us")->as_int(), int64_t{1250});
    QCOMPARE(mem[0].find("experts")->as_int(), int64_t{8192});
    QCOMPARE(mem[1].find("kv")->as_int(), int64_t{768});
    QCOMPARE(mem[1].find("budget")->as_int(), int64_t{16384});
    QVERIFY(no_temp_files(dir.path().toStdString()));
  }

  void export_session_csv() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    const std::string out = dir.filePath("csv5").toStdString();
    auto r = db::export_session(**db, 5, db::ExportFormat::Csv, out);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->total(), int64_t{32});

    QCOMPARE(read_file(out + "/session.csv"),
             std::string("id,model_id,started_at,config\r\n"
                         "5,7,1000,\"{\"\"command\"\":\"\"trace\"\",\"\"budget\"\":3}\"\r\n"));
    QCOMPARE(read_file(out + "/model.csv"),
             std::string("id,path,sha256,size_bytes,arch,hparams\r\n"
                         "7,/models/mix.gguf,,123456,llama,\"{\"\"n_layer\"\":2,\"\"n_expert\"\":4,"
                         "\"\"n_expert_used\"\":2}\"\r\n"));
    QCOMPARE(read_file(out + "/requests.csv"),
             std::string("id,session_id,task,text,slo_ttft_ms,slo_e2e_ms,arrival_us,"
                         "first_token_us,finish_us,prompt_tokens,generated_tokens\r\n"
                         "11,5,qa,\"What is 2+2, \"\"roughly\"\"?\nAnswer:\",250.5,,1100,1500,"
                         "2400,2,1\r\n"
                         "12,5,summarization,short,,1500.25,1900,,,,\r\n"));
    QCOMPARE(read_file(out + "/tokens.csv"),
             std::string("request_id,pos,token_id,phase,time_us\r\n"
                         "11,0,1,0,1200\r\n11,1,17,0,1200\r\n11,2,230,1,1500\r\n"
                         "12,0,1,0,\r\n12,1,5,0,2000\r\n"));
    QCOMPARE(read_file(out + "/routing.csv"),
             std::string("request_id,pos,layer,rank,router_expert,router_weight,used_expert,"
                         "used_weight\r\n"
                         "11,0,0,0,0,0.5,0,0.5\r\n11,0,0,1,1,0.5,1,0.5\r\n"
                         "11,0,1,0,2,0.625,2,0.625\r\n11,0,1,1,3,0.375,3,0.375\r\n"
                         "11,1,0,0,1,0.8,1,0.8\r\n11,1,0,1,3,0.2,3,0.2\r\n"
                         "11,1,1,0,0,0.6,0,0.6\r\n11,1,1,1,2,0.4,2,0.4\r\n"
                         "11,2,0,0,3,0.55,3,0.55\r\n11,2,0,1,2,0.45,2,0.45\r\n"
                         "11,2,1,0,3,0.6,1,0.7\r\n11,2,1,1,1,0.4,2,0.3\r\n"
                         "12,0,0,0,0,0.9,0,0.9\r\n12,0,0,1,2,0.1,2,0.1\r\n"
                         "12,0,1,0,1,0.5,1,0.5\r\n12,0,1,1,0,0.5,0,0.5\r\n"
                         "12,1,0,0,2,0.55,2,1\r\n12,1,0,1,3,0.45,,\r\n"
                         "12,1,1,0,1,0.75,0,0.5\r\n12,1,1,1,2,0.25,2,0.5\r\n"));
    QCOMPARE(read_file(out + "/expert_events.csv"),
             std::string("id,session_id,time_us,kind,layer,expert,bytes,micros\r\n"
                         "1,5,1300,0,1,3,4096,0\r\n2,5,1350,1,1,3,4096,12.5\r\n"
                         "3,5,1600,2,0,2,4096,0\r\n"));
    QCOMPARE(read_file(out + "/memory_samples.csv"),
             std::string("id,session_id,time_us,dense,experts,budget,kv,scratch\r\n"
                         "1,5,1250,1000,8192,16384,512,64\r\n2,5,1700,1000,4096,16384,768,64\r\n"));
    QVERIFY(!fs::exists(out + "/run.csv"));

    // The test's own RFC 4180 reader gets the fields back, quotes and line break included.
    const auto rows = parse_csv(read_file(out + "/requests.csv"));
    QCOMPARE(rows.size(), size_t{3});
    QCOMPARE(rows[1].size(), size_t{11});
    QCOMPARE(rows[1][3], std::string(kText11));
    QCOMPARE(rows[2][4], std::string());
    QCOMPARE(csv_field("plain"), std::string("plain"));
    QCOMPARE(csv_field("a,b"), std::string("\"a,b\""));
    QCOMPARE(csv_field("say \"hi\""), std::string("\"say \"\"hi\"\"\""));
    QCOMPARE(csv_field("two\r\nlines"), std::string("\"two\r\nlines\""));

    // Exporting again over the previous export replaces it.
    auto again = db::export_session(**db, 6, db::ExportFormat::Csv, out);
    QVERIFY2(again.ok(), again.status().message().c_str());
    QCOMPARE(read_file(out + "/tokens.csv"),
             std::string("request_id,pos,token_id,phase,time_us\r\n21,0,4,0,3000\r\n"));
    QCOMPARE(read_file(out + "/model.csv"),
             std::string("id,path,sha256,size_bytes,arch,hparams\r\n"));
    QVERIFY(no_temp_files(dir.path().toStdString()));
  }

  void export_run() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    const std::string out = dir.filePath("run3.json").toStdString();
    auto r = db::export_run(**db, 3, db::ExportFormat::Json, out);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->routing, int64_t{20});
    auto doc = parse_json(read_file(out));
    QVERIFY2(doc.ok(), doc.status().message().c_str());
    QCOMPARE(doc->find("format")->as_string(), std::string("emoe-run"));
    const JsonValue* run = doc->find("run");
    QCOMPARE(run->find("id")->as_int(), int64_t{3});
    QCOMPARE(run->find("name")->as_string(), std::string("baseline-lru"));
    QCOMPARE(run->find("session_id")->as_int(), int64_t{5});
    QCOMPARE(run->find("created_at_us")->as_int(), int64_t{999});
    QCOMPARE(run->find("config")->find("p")->as_int(), int64_t{40});
    QCOMPARE(run->find("metrics")->find("hit_rate")->as_double(), 0.75);
    QCOMPARE(doc->find("session")->find("id")->as_int(), int64_t{5});
    QCOMPARE(doc->find("requests")->items().size(), size_t{2});
    QCOMPARE(doc->find("tokens")->items().size(), size_t{5});

    // Run 4: no session; metrics that are not JSON are kept as a string.
    const std::string out4 = dir.filePath("run4.json").toStdString();
    auto r4 = db::export_run(**db, 4, db::ExportFormat::Json, out4);
    QVERIFY2(r4.ok(), r4.status().message().c_str());
    QCOMPARE(r4->total(), int64_t{0});
    auto doc4 = parse_json(read_file(out4));
    QVERIFY2(doc4.ok(), doc4.status().message().c_str());
    QCOMPARE(doc4->find("run")->find("metrics")->as_string(), std::string("not json"));
    QCOMPARE(doc4->find("run")->find("config")->find("a")->items().size(), size_t{2});
    QVERIFY(doc4->find("run")->find("session_id")->is_null());
    QVERIFY(doc4->find("session")->is_null());
    QVERIFY(doc4->find("model")->is_null());
    QVERIFY(doc4->find("routing")->is_array() && doc4->find("routing")->items().empty());

    const std::string csv = dir.filePath("run3csv").toStdString();
    auto rc = db::export_run(**db, 3, db::ExportFormat::Csv, csv);
    QVERIFY2(rc.ok(), rc.status().message().c_str());
    QCOMPARE(read_file(csv + "/run.csv"),
             std::string("id,name,session_id,created_at_us,config,metrics\r\n"
                         "3,baseline-lru,5,999,\"{\"\"policy\"\":\"\"lru\"\",\"\"p\"\":40}\","
                         "\"{\"\"hit_rate\"\":0.75}\"\r\n"));
    QCOMPARE(parse_csv(read_file(csv + "/routing.csv")).size(), size_t{21});
    const std::string csv4 = dir.filePath("run4csv").toStdString();
    QVERIFY(db::export_run(**db, 4, db::ExportFormat::Csv, csv4).ok());
    QCOMPARE(read_file(csv4 + "/run.csv"),
             std::string("id,name,session_id,created_at_us,config,metrics\r\n"
                         "4,orphan,,,\"{\"\"a\"\":[1,2]}\",not json\r\n"));
    QCOMPARE(read_file(csv4 + "/session.csv"), std::string("id,model_id,started_at,config\r\n"));
  }

  void export_errors() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    const std::string out = dir.filePath("x.json").toStdString();

    auto missing = db::export_session(**db, 99, db::ExportFormat::Json, out);
    QVERIFY(!missing.ok());
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY2(missing.status().message().find("session 99 does not exist") != std::string::npos,
             missing.status().message().c_str());
    QVERIFY(!fs::exists(out));
    auto missing_run = db::export_run(**db, 99, db::ExportFormat::Csv, out);
    QCOMPARE(missing_run.status().code(), StatusCode::NotFound);
    QVERIFY(missing_run.status().message().find("run 99 does not exist") != std::string::npos);
    auto missing_trace = db::export_trace_jsonl(**db, 99, out);
    QCOMPARE(missing_trace.status().code(), StatusCode::NotFound);

    const std::string unwritable = dir.filePath("no/such/dir/x.json").toStdString();
    auto bad = db::export_session(**db, 5, db::ExportFormat::Json, unwritable);
    QVERIFY(!bad.ok());
    QCOMPARE(bad.status().code(), StatusCode::IoError);
    QVERIFY2(bad.status().message().find("no/such/dir/x.json") != std::string::npos,
             bad.status().message().c_str());
    auto bad_csv = db::export_session(**db, 5, db::ExportFormat::Csv,
                                      dir.filePath("no/such/dir/csv").toStdString());
    QCOMPARE(bad_csv.status().code(), StatusCode::IoError);

    // A CSV export never replaces a directory holding other files, nor a file.
    const std::string foreign = dir.filePath("foreign").toStdString();
    fs::create_directory(foreign);
    QVERIFY(write_file(foreign + "/notes.txt", "mine"));
    auto clash = db::export_session(**db, 5, db::ExportFormat::Csv, foreign);
    QCOMPARE(clash.status().code(), StatusCode::IoError);
    QVERIFY(clash.status().message().find("notes.txt") != std::string::npos);
    QCOMPARE(read_file(foreign + "/notes.txt"), std::string("mine"));
    QVERIFY(!fs::exists(foreign + "/routing.csv"));
    QVERIFY(write_file(out, "old"));
    auto over_file = db::export_session(**db, 5, db::ExportFormat::Csv, out);
    QCOMPARE(over_file.status().code(), StatusCode::IoError);
    QCOMPARE(read_file(out), std::string("old"));

    // A JSON export replaces an existing file.
    auto replaced = db::export_session(**db, 6, db::ExportFormat::Json, out);
    QVERIFY(replaced.ok());
    QVERIFY(parse_json(read_file(out)).ok());
    QVERIFY(no_temp_files(dir.path().toStdString()));
  }

  void export_cancel() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    const std::string out = dir.filePath("x.json").toStdString();
    QVERIFY(write_file(out, "previous"));
    for (db::ExportFormat f : {db::ExportFormat::Json, db::ExportFormat::Csv}) {
      std::atomic<bool> cancel{false};
      db::ExportOptions o;
      o.cancel = &cancel;
      o.progress_every = 1;
      int64_t last = 0;
      o.progress = [&](int64_t rows) {
        last = rows;
        if (rows == 7) cancel = true;  // mid-way through the tokens
      };
      const std::string dest = f == db::ExportFormat::Json ? out : out + ".csvdir";
      auto r = db::export_session(**db, 5, f, dest, o);
      QVERIFY(!r.ok());
      QCOMPARE(r.status().code(), StatusCode::Cancelled);
      QCOMPARE(last, int64_t{7});
      QVERIFY(!fs::exists(out + ".csvdir"));
    }
    QCOMPARE(read_file(out), std::string("previous"));
    std::atomic<bool> cancel{true};
    db::ExportOptions o;
    o.cancel = &cancel;
    auto r = db::export_trace_jsonl(**db, 5, out, o);
    QCOMPARE(r.status().code(), StatusCode::Cancelled);
    QCOMPARE(read_file(out), std::string("previous"));
    QVERIFY(no_temp_files(dir.path().toStdString()));
  }

  void jsonl_round_trip() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    auto a = db::open_store(store);
    QVERIFY(a.ok());
    const std::string trace = dir.filePath("s5.jsonl").toStdString();
    auto ex = db::export_trace_jsonl(**a, 5, trace);
    QVERIFY2(ex.ok(), ex.status().message().c_str());
    QCOMPARE(ex->requests, int64_t{2});
    QCOMPARE(ex->routing, int64_t{10});

    const auto lines = lines_of(read_file(trace));
    QCOMPARE(lines.size(), size_t{11});
    QCOMPARE(lines[0], std::string("{\"format\":\"emoe-trace\",\"version\":1,\"model\":"
                                   "\"/models/mix.gguf\",\"n_layer\":2,\"n_expert\":4,"
                                   "\"top_k\":2}"));
    QCOMPARE(lines[1],
             std::string("{\"request\":11,\"pos\":0,\"layer\":0,\"experts\":[0,1],\"weights\":"
                         "[0.5,0.5],\"token\":1,\"phase\":\"prefill\",\"time_us\":1200,"
                         "\"task\":\"qa\",\"text\":\"What is 2+2, \\\"roughly\\\"?\\nAnswer:\"}"));
    QCOMPARE(lines[6],
             std::string("{\"request\":11,\"pos\":2,\"layer\":1,\"experts\":[3,1],\"weights\":"
                         "[0.6,0.4],\"used_experts\":[1,2],\"used_weights\":[0.7,0.3],"
                         "\"token\":230,\"phase\":\"decode\",\"time_us\":1500}"));
    QCOMPARE(lines[7], std::string("{\"request\":12,\"pos\":0,\"layer\":0,\"experts\":[0,2],"
                                   "\"weights\":[0.9,0.1],\"token\":1,\"phase\":\"prefill\","
                                   "\"task\":\"summarization\",\"text\":\"short\"}"));
    QCOMPARE(lines[9], std::string("{\"request\":12,\"pos\":1,\"layer\":0,\"experts\":[2,3],"
                                   "\"weights\":[0.55,0.45],\"used_experts\":[2],"
                                   "\"used_weights\":[1],\"token\":5,\"phase\":\"prefill\","
                                   "\"time_us\":2000}"));

    const std::string fresh = dir.filePath("fresh.db").toStdString();
    auto imp = db::import_trace_jsonl(fresh, trace);
    QVERIFY2(imp.ok(), imp.status().message().c_str());
    QCOMPARE(imp->requests, int64_t{2});
    QCOMPARE(imp->records, int64_t{10});
    auto b = db::open_store(fresh);
    QVERIFY(b.ok());
    const auto want = routing_rows(**a, "WHERE q.session_id=5");
    auto got = routing_rows(**b, "WHERE q.session_id=" + std::to_string(imp->session_id));
    QCOMPARE(want.size(), size_t{20});
    QCOMPARE(got.size(), want.size());
    // The fresh store numbers requests itself, in order of first appearance.
    auto ids = (*b)->prepare("SELECT id FROM requests ORDER BY id");
    QVERIFY(ids.ok());
    std::vector<int64_t> new_ids;
    while (*ids->step()) new_ids.push_back(ids->column_int(0));
    QCOMPARE(new_ids.size(), size_t{2});
    for (auto& row : got) row.request = row.request == new_ids[0] ? 11 : 12;
    QVERIFY(got == want);
    QCOMPARE(
        count(**b, "SELECT count(*) FROM tokens WHERE request_id=" + std::to_string(new_ids[0]) +
                       " AND token_id=230 AND phase=1 AND time_us=1500 AND pos=2"),
        int64_t{1});
    QCOMPARE(
        count(**b, "SELECT count(*) FROM tokens WHERE request_id=" + std::to_string(new_ids[1]) +
                       " AND pos=0 AND token_id=1 AND time_us IS NULL"),
        int64_t{1});
    QCOMPARE(count(**b, "SELECT count(*) FROM tokens"), int64_t{5});
    auto text =
        (*b)->query_text("SELECT text FROM requests WHERE id=" + std::to_string(new_ids[0]));
    QVERIFY(text.ok());
    QCOMPARE(*text, std::string(kText11));
    QCOMPARE(count(**b, "SELECT prompt_tokens * 10 + generated_tokens FROM requests WHERE id=" +
                            std::to_string(new_ids[0])),
             int64_t{21});
    auto model = (*b)->query_text("SELECT path || ' ' || arch FROM models");
    QVERIFY(model.ok());
    QCOMPARE(*model, std::string("/models/mix.gguf external"));
    QCOMPARE(count(**b, "SELECT started_at FROM sessions"), int64_t{1200});
  }

  void import_sample_traces() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    std::vector<int64_t> progress;
    db::ImportOptions o;
    o.progress_every = 3;
    o.progress = [&](int64_t lines) { progress.push_back(lines); };
    auto r = db::import_trace_jsonl(store, EMOE_TEST_DATA_DIR "/traces/sample_basic.jsonl", o);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->requests, int64_t{2});
    QCOMPARE(r->records, int64_t{5});
    QCOMPARE(progress, (std::vector<int64_t>{3, 6, 7}));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    auto model = (*db)->query_text("SELECT path || '|' || arch || '|' || hparams FROM models");
    QVERIFY(model.ok());
    QCOMPARE(*model, std::string("big-moe-external|external|{\"n_layer\":3,\"n_expert\":8,"
                                 "\"n_expert_used\":2}"));
    QCOMPARE(
        count(**db, "SELECT started_at FROM sessions WHERE id=" + std::to_string(r->session_id)),
        int64_t{100});
    auto ids = (*db)->prepare(
        "SELECT id, task, text, prompt_tokens, generated_tokens FROM "
        "requests ORDER BY id");
    QVERIFY(ids.ok());
    QVERIFY(*ids->step());
    const int64_t a = ids->column_int(0);
    QCOMPARE(ids->column_text(1), std::string("qa"));
    QCOMPARE(ids->column_text(2), std::string("Why is the sky blue?"));
    QCOMPARE(ids->column_int(3), int64_t{1});
    QCOMPARE(ids->column_int(4), int64_t{1});
    QVERIFY(*ids->step());
    const int64_t b = ids->column_int(0);
    QCOMPARE(ids->column_text(1), std::string("summarization"));
    QCOMPARE(ids->column_text(2), std::string("caf\xC3\xA9 \xF0\x9F\x98\x80"));
    QCOMPARE(ids->column_int(3), int64_t{1});
    QCOMPARE(ids->column_int(4), int64_t{0});
    ids->reset();

    using O = std::optional<int64_t>;
    using W = std::optional<double>;
    const std::vector<RoutingRow> want = {
        {a, 0, 0, 0, O(5), O(5), W(0.75), W(0.75)},   {a, 0, 0, 1, O(2), O(2), W(0.25), W(0.25)},
        {a, 0, 1, 0, O(1), O(1), W(0.5), W(0.5)},     {a, 0, 1, 1, O(0), O(0), W(0.5), W(0.5)},
        {a, 0, 2, 0, O(7), O(3), W(0.625), W(1.0)},   {a, 0, 2, 1, O(3), O(), W(0.375), W()},
        {a, 1, 0, 0, O(2), O(2), W(0.875), W(0.875)}, {a, 1, 0, 1, O(4), O(4), W(0.125), W(0.125)},
        {b, 0, 0, 0, O(6), O(6), W(), W()},           {b, 0, 0, 1, O(5), O(5), W(), W()},
    };
    QVERIFY(routing_rows(**db, "") == want);
    // request, pos, token, phase, time (-1: NULL)
    auto toks = (*db)->prepare(
        "SELECT request_id, pos, token_id, phase, coalesce(time_us, -1) FROM tokens "
        "ORDER BY request_id, pos");
    QVERIFY(toks.ok());
    const int64_t want_tokens[][5] = {{a, 0, 101, 0, 100}, {a, 1, 202, 1, 250}, {b, 0, -1, 0, -1}};
    for (const auto& t : want_tokens) {
      QVERIFY(*toks->step());
      for (int c = 0; c < 5; ++c) QCOMPARE(toks->column_int(c), t[c]);
    }
    QVERIFY(!*toks->step());
    toks->reset();

    // No header, integer ids (7 and "7" are one request), a blank line, no weights, no final
    // newline; the model is named after the file.
    auto p = db::import_trace_jsonl(**db, EMOE_TEST_DATA_DIR "/traces/sample_plain.jsonl");
    QVERIFY2(p.ok(), p.status().message().c_str());
    QCOMPARE(p->requests, int64_t{1});
    QCOMPARE(p->records, int64_t{3});
    auto name = (*db)->query_text(
        "SELECT m.path FROM models m JOIN sessions s ON "
        "s.model_id=m.id WHERE s.id=" +
        std::to_string(p->session_id));
    QVERIFY(name.ok());
    QCOMPARE(*name, std::string("sample_plain.jsonl"));
    const auto rows = routing_rows(**db, "WHERE q.session_id=" + std::to_string(p->session_id));
    QCOMPARE(rows.size(), size_t{9});
    QCOMPARE(rows[6].router_expert, O(9));
    QVERIFY(!rows[6].router_weight && !rows[6].used_weight);
    QCOMPARE(rows[3].router_weight, W(0.5));
    QCOMPARE(count(**db,
                   "SELECT count(*) FROM tokens t JOIN requests q ON q.id=t.request_id "
                   "WHERE q.session_id=" +
                       std::to_string(p->session_id) +
                       " AND ((pos=1 AND token_id=9 AND phase=1) OR "
                       "(pos=2 AND token_id=-1 AND phase=0 AND time_us=-5))"),
             int64_t{2});
  }

  void import_malformed_data() {
    QTest::addColumn<QByteArray>("bad");
    QTest::addColumn<QString>("problem");
    // Each trace is kHeader, kGood0, kGood1, then this line (line 4).
    QTest::newRow("bad JSON") << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,")
                              << "invalid JSON: column 35: unexpected end of input";
    QTest::newRow("not an object") << QByteArray("[1,2]") << "must be a JSON object";
    QTest::newRow("missing request")
        << QByteArray("{\"pos\":2,\"layer\":0,\"experts\":[0,1]}") << "missing field \"request\"";
    QTest::newRow("missing pos") << QByteArray("{\"request\":\"r1\",\"layer\":0,\"experts\":[0,1]}")
                                 << "missing field \"pos\"";
    QTest::newRow("missing layer") << QByteArray("{\"request\":\"r1\",\"pos\":2,\"experts\":[0,1]}")
                                   << "missing field \"layer\"";
    QTest::newRow("missing experts")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0}") << "missing field \"experts\"";
    QTest::newRow("request wrong type")
        << QByteArray("{\"request\":1.5,\"pos\":2,\"layer\":0,\"experts\":[0,1]}")
        << "\"request\" must be a string or an integer, got 1.5";
    QTest::newRow("pos wrong type")
        << QByteArray("{\"request\":\"r1\",\"pos\":\"2\",\"layer\":0,\"experts\":[0,1]}")
        << "\"pos\" must be an integer from 0 to 2147483647, got \"2\"";
    QTest::newRow("pos fraction")
        << QByteArray("{\"request\":\"r1\",\"pos\":2.5,\"layer\":0,\"experts\":[0,1]}")
        << "\"pos\" must be an integer";
    QTest::newRow("experts wrong type")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":\"0,1\"}")
        << "\"experts\" must be an array of expert ids";
    QTest::newRow("weights wrong type")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"weights\":[0.5,"
               "\"x\"]}")
        << "\"weights[1]\" must be a number";
    QTest::newRow("phase wrong value")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"phase\":"
               "\"generate\"}")
        << "\"phase\" must be \"prefill\" or \"decode\"";
    QTest::newRow("task wrong type")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"task\":3}")
        << "\"task\" must be a string";
    QTest::newRow("negative pos")
        << QByteArray("{\"request\":\"r1\",\"pos\":-1,\"layer\":0,\"experts\":[0,1]}")
        << "\"pos\" must be an integer from 0 to 2147483647, got -1";
    QTest::newRow("negative layer")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":-3,\"experts\":[0,1]}")
        << "\"layer\" must be an integer from 0 to 2147483647, got -3";
    QTest::newRow("negative expert")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[-1,1]}")
        << "\"experts[0]\" must be an expert id (an integer >= 0), got -1";
    QTest::newRow("negative token")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"token\":-2}")
        << "\"token\" must be an integer from 0";
    QTest::newRow("expert out of range")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,4]}")
        << "\"experts[1]\" = 4 is out of range (header n_expert 4)";
    QTest::newRow("used expert out of range")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"used_experts\":"
               "[9]}")
        << "\"used_experts[0]\" = 9 is out of range";
    QTest::newRow("layer out of range")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":2,\"experts\":[0,1]}")
        << "\"layer\" 2 is out of range (header n_layer 2)";
    QTest::newRow("top_k mismatch")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1,2]}")
        << "\"experts\" has 3 entries but the header's top_k is 2";
    QTest::newRow("empty experts")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[]}")
        << "\"experts\" is empty";
    QTest::newRow("weights length mismatch")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"weights\":[1.0]}")
        << "\"weights\" has 1 entries but \"experts\" has 2";
    QTest::newRow("used weights length mismatch")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"used_experts\":"
               "[1],\"used_weights\":[0.5,0.5]}")
        << "\"used_weights\" has 2 entries but \"used_experts\" has 1";
    QTest::newRow("weight beyond float")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[0,1],\"weights\":[1e39,"
               "0]}")
        << "\"weights[0]\" must be a number in float range";
    QTest::newRow("expert listed twice")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"layer\":0,\"experts\":[1,1]}")
        << "\"experts\" lists expert 1 twice";
    QTest::newRow("duplicate record")
        << QByteArray("{\"request\":\"r1\",\"pos\":1,\"layer\":0,\"experts\":[3,0]}")
        << "duplicate record: an earlier line already has request r1 pos 1 layer 0";
    QTest::newRow("token conflict")
        << QByteArray("{\"request\":\"r1\",\"pos\":0,\"layer\":1,\"experts\":[0,1],\"token\":4}")
        << "\"token\" 4 differs from an earlier record of the same position";
    QTest::newRow("phase conflict")
        << QByteArray(
               "{\"request\":\"r1\",\"pos\":0,\"layer\":1,\"experts\":[0,1],\"phase\":"
               "\"decode\"}")
        << "\"phase\" decode differs from an earlier record";
    QTest::newRow("second header") << QByteArray(kHeader) << "only allowed on the first line";
    QTest::newRow("invalid UTF-8 in a string")
        << QByteArray("{\"request\":\"r\xff\",\"pos\":2,\"layer\":0,\"experts\":[0,1]}")
        << "invalid JSON: column 14: invalid UTF-8 in a string";
    QTest::newRow("binary garbage") << QByteArray("\x00\x01\xfe\xff garbage", 12)
                                    << "invalid JSON: column 1: unexpected byte 0x00";
    QTest::newRow("duplicate key")
        << QByteArray("{\"request\":\"r1\",\"pos\":2,\"pos\":3,\"layer\":0,\"experts\":[0,1]}")
        << "duplicate key \"pos\"";
  }

  void import_malformed() {
    QFETCH(QByteArray, bad);
    QFETCH(QString, problem);
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    // An earlier import is part of the store the failed one must leave alone.
    QVERIFY(db::import_trace_jsonl(store, EMOE_TEST_DATA_DIR "/traces/sample_basic.jsonl").ok());
    const QStringList before = dump(store);
    QVERIFY(before.size() > 50);

    const std::string trace = dir.filePath("bad-trace.jsonl").toStdString();
    QVERIFY(write_file(trace, std::string(kHeader) + "\n" + kGood0 + "\n" + kGood1 + "\n" +
                                  std::string(bad.constData(), bad.size()) + "\n" + kGood1 + "\n"));
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    auto r = db::import_trace_jsonl(**db, trace);
    QVERIFY(!r.ok());
    const std::string& msg = r.status().message();
    QVERIFY2(msg.rfind("importing trace '" + trace + "': line 4: ", 0) == 0, msg.c_str());
    QVERIFY2(QString::fromStdString(msg).contains(problem), msg.c_str());
    QCOMPARE(r.status().code(), StatusCode::Corrupt);
    // The connection is usable and the store unchanged.
    QCOMPARE(count(**db, "SELECT count(*) FROM sessions"), int64_t{3});
    db->reset();
    QCOMPARE(dump(store), before);
  }

  void import_header_errors() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    const std::string trace = dir.filePath("t.jsonl").toStdString();
    QVERIFY(write_file(trace, "{\"format\":\"emoe-trace\",\"version\":2}\n"));
    auto v2 = db::import_trace_jsonl(store, trace);
    QCOMPARE(v2.status().code(), StatusCode::Unsupported);
    QVERIFY2(v2.status().message().find("line 1: header \"version\" 2 is not supported") !=
                 std::string::npos,
             v2.status().message().c_str());
    QVERIFY(write_file(trace, "\n{\"format\":\"emoe-trace\",\"version\":1,\"n_expert\":0}\n"));
    auto zero = db::import_trace_jsonl(store, trace);
    QVERIFY(zero.status().message().find("line 2: header \"n_expert\" must be a positive") !=
            std::string::npos);
    QVERIFY(write_file(trace, "{\"format\":\"emoe-trace\",\"version\":1}\n\n"));
    auto empty = db::import_trace_jsonl(store, trace);
    QVERIFY(empty.status().message().find("no routing records") != std::string::npos);
    QVERIFY(write_file(trace, ""));
    QVERIFY(!db::import_trace_jsonl(store, trace).ok());
    auto missing = db::import_trace_jsonl(store, dir.filePath("none.jsonl").toStdString());
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY(missing.status().message().find("none.jsonl") != std::string::npos);
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    QCOMPARE(count(**db, "SELECT count(*) FROM sessions"), int64_t{0});
    QCOMPARE(count(**db, "SELECT count(*) FROM models"), int64_t{0});
  }

  void import_long_lines_and_bad_bytes() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    const std::string trace = dir.filePath("t.jsonl").toStdString();
    // A 3 MB request text is a valid record; CRLF line ends are accepted.
    const std::string big(3 << 20, 'x');
    QVERIFY(write_file(trace, "{\"request\":1,\"pos\":0,\"layer\":0,\"experts\":[1],\"text\":\"" +
                                  big + "\"}\r\n{\"request\":1,\"pos\":0,\"layer\":1," +
                                  "\"experts\":[2]}\r\n"));
    auto ok = db::import_trace_jsonl(store, trace);
    QVERIFY2(ok.ok(), ok.status().message().c_str());
    QCOMPARE(ok->records, int64_t{2});
    auto db = db::open_store(store);
    QVERIFY(db.ok());
    QCOMPARE(count(**db, "SELECT length(text) FROM requests"), int64_t{3 << 20});
    const QStringList before = dump(store);

    // A 3 MB line of garbage, then one of random bytes with NULs and invalid UTF-8.
    QVERIFY(write_file(trace, std::string(kGood0) + "\n" + std::string(3 << 20, '[') + "\n"));
    auto deep = db::import_trace_jsonl(**db, trace);
    QVERIFY(deep.status().message().find("line 2: invalid JSON: column 17: nesting deeper") !=
            std::string::npos);
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 100000; ++i) {
      x = x * 1103515245u + 12345u;
      noise += static_cast<char>((x >> 16) & 0xff);
    }
    for (char& c : noise) {
      if (c == '\n') c = ' ';
    }
    QVERIFY(write_file(trace, std::string(kGood0) + "\n\n" + noise + "\n"));
    auto junk = db::import_trace_jsonl(**db, trace);
    QVERIFY(!junk.ok());
    QVERIFY2(junk.status().message().find("line 3: invalid JSON") != std::string::npos,
             junk.status().message().c_str());
    // A line of many small values is refused before its tree grows large.
    std::string many = "{\"request\":1,\"pos\":0,\"layer\":0,\"experts\":[0";
    for (int i = 1; i < 70000; ++i) many += ",0";
    QVERIFY(write_file(trace, many + "]}\n"));
    auto bomb = db::import_trace_jsonl(**db, trace);
    QVERIFY2(bomb.status().message().find("line 1: invalid JSON: column ") != std::string::npos &&
                 bomb.status().message().find("more than 65536 values") != std::string::npos,
             bomb.status().message().c_str());
    // A line longer than the limit is refused before it is read whole.
    db::ImportOptions small;
    small.max_line_bytes = 4096;
    QVERIFY(write_file(trace,
                       std::string(kGood0) + "\n" + kGood1 + "\n" + std::string(5000, ' ') + "\n"));
    auto too_long = db::import_trace_jsonl(**db, trace, small);
    QVERIFY2(
        too_long.status().message().find("line 3 is longer than 4096 bytes") != std::string::npos,
        too_long.status().message().c_str());
    db->reset();
    QCOMPARE(dump(store), before);
  }

  void import_cancel() {
    QTemporaryDir dir;
    const std::string store = dir.filePath("s.db").toStdString();
    QVERIFY(build_store(store));
    const QStringList before = dump(store);
    std::atomic<bool> cancel{false};
    db::ImportOptions o;
    o.cancel = &cancel;
    o.progress_every = 1;
    o.progress = [&](int64_t line) {
      if (line == 3) cancel = true;
    };
    auto r = db::import_trace_jsonl(store, EMOE_TEST_DATA_DIR "/traces/sample_basic.jsonl", o);
    QCOMPARE(r.status().code(), StatusCode::Cancelled);
    QVERIFY2(r.status().message().find("after 3 lines") != std::string::npos,
             r.status().message().c_str());
    QCOMPARE(dump(store), before);
  }
};

QTEST_GUILESS_MAIN(TestExportImport)
#include "test_export_import.moc"
