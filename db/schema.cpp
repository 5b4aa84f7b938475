#include "db/schema.h"

#include <string>

namespace emoe::db {

namespace {

// Times are microseconds (time_us, *_us columns) on the recorder's clock; JSON columns hold
// objects written by the caller. Phase: 0 prefill, 1 decode.
constexpr const char* kV1 = R"sql(
CREATE TABLE models (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  sha256 TEXT,
  size_bytes INTEGER,
  arch TEXT,
  hparams TEXT
);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  model_id INTEGER REFERENCES models(id),
  started_at INTEGER NOT NULL,
  config TEXT
);
CREATE TABLE requests (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id),
  task TEXT,
  text TEXT,
  slo_ttft_ms REAL,
  slo_e2e_ms REAL,
  arrival_us INTEGER,
  first_token_us INTEGER,
  finish_us INTEGER,
  prompt_tokens INTEGER,
  generated_tokens INTEGER
);
CREATE TABLE tokens (
  request_id INTEGER NOT NULL REFERENCES requests(id),
  pos INTEGER NOT NULL,
  token_id INTEGER NOT NULL,
  phase INTEGER NOT NULL,
  PRIMARY KEY (request_id, pos)
) WITHOUT ROWID;
CREATE TABLE routing (
  request_id INTEGER NOT NULL REFERENCES requests(id),
  pos INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  router_expert INTEGER,
  router_weight REAL,
  used_expert INTEGER,
  used_weight REAL,
  PRIMARY KEY (request_id, pos, layer, rank)
) WITHOUT ROWID;
CREATE INDEX routing_request_layer ON routing(request_id, layer);
CREATE INDEX routing_layer_used ON routing(layer, used_expert);
CREATE TABLE expert_events (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id),
  time_us INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  expert INTEGER NOT NULL,
  bytes INTEGER,
  micros REAL
);
CREATE INDEX expert_events_session_time ON expert_events(session_id, time_us);
CREATE TABLE memory_samples (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id),
  time_us INTEGER NOT NULL,
  dense INTEGER,
  experts INTEGER,
  budget INTEGER,
  kv INTEGER,
  scratch INTEGER
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  config TEXT,
  metrics TEXT
);
)sql";

// Version 2: token times (time-range filters), run <-> session links, per-model sensitivity
// profiles and predictor state, and indexes for the task and time queries. The routing table
// keeps only its primary key: each secondary index on it cut the writer's sustained rate about
// threefold (830k -> 73k rows/s with v1's two), and the count queries scan it anyway.
constexpr const char* kV2 = R"sql(
ALTER TABLE tokens ADD COLUMN time_us INTEGER;
CREATE INDEX tokens_time ON tokens(time_us);
CREATE INDEX requests_session_task ON requests(session_id, task);
DROP INDEX routing_layer_used;
DROP INDEX routing_request_layer;
CREATE INDEX expert_events_session_kind ON expert_events(session_id, kind, time_us);
CREATE INDEX memory_samples_session_time ON memory_samples(session_id, time_us);
ALTER TABLE runs ADD COLUMN session_id INTEGER REFERENCES sessions(id);
ALTER TABLE runs ADD COLUMN created_at_us INTEGER;
CREATE INDEX runs_session ON runs(session_id);
CREATE TABLE sensitivity_profiles (
  id INTEGER PRIMARY KEY,
  model_id INTEGER NOT NULL REFERENCES models(id),
  task TEXT NOT NULL,
  measured_at_us INTEGER NOT NULL,
  metric TEXT NOT NULL,
  exact_score REAL,
  fallback_score REAL,
  sensitivity REAL,
  insensitive INTEGER NOT NULL DEFAULT 0,
  details TEXT,
  UNIQUE (model_id, task)
);
CREATE TABLE predictor_state (
  model_id INTEGER PRIMARY KEY REFERENCES models(id),
  updated_at_us INTEGER NOT NULL,
  prompts_seen INTEGER NOT NULL DEFAULT 0,
  interval INTEGER,
  state TEXT
);
)sql";

// Version 3: experiments (docs/EXPERIMENTS.md). One experiments row per `emoe experiment` (or
// the workbench's Experiment dock), one runs row per matrix point, and per point its requests'
// timelines and its memory samples, so reports can be rebuilt from the store alone.
constexpr const char* kV3 = R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  model_id INTEGER REFERENCES models(id),
  config TEXT NOT NULL,
  model TEXT,
  machine TEXT,
  capacity TEXT,
  wall_seconds REAL,
  status TEXT NOT NULL DEFAULT 'running'
);
ALTER TABLE runs ADD COLUMN experiment_id INTEGER REFERENCES experiments(id);
ALTER TABLE runs ADD COLUMN point_index INTEGER;
CREATE INDEX runs_experiment ON runs(experiment_id, point_index);
CREATE TABLE experiment_requests (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  request INTEGER NOT NULL,
  task TEXT,
  state TEXT,
  stop TEXT,
  arrival_ms REAL,
  admit_ms REAL,
  prefill_done_ms REAL,
  first_token_ms REAL,
  finish_ms REAL,
  slo_ttft_ms REAL,
  slo_e2e_ms REAL,
  prompt_tokens INTEGER,
  generated_tokens INTEGER,
  scored_tokens INTEGER,
  agreeing_tokens INTEGER,
  matches_reference INTEGER,
  PRIMARY KEY (run_id, request)
) WITHOUT ROWID;
CREATE TABLE experiment_memory (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  sample INTEGER NOT NULL,
  time_ms REAL NOT NULL,
  dense INTEGER,
  experts INTEGER,
  budget INTEGER,
  kv INTEGER,
  scratch INTEGER,
  PRIMARY KEY (run_id, sample)
) WITHOUT ROWID;
)sql";

// migrations[i] takes version i to i+1.
constexpr const char* kMigrations[] = {kV1, kV2, kV3};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

constexpr const char* kTables[] = {"models",          "sessions", "requests",
                                   "tokens",          "routing",  "expert_events",
                                   "memory_samples",  "runs",     "sensitivity_profiles",
                                   "predictor_state", "experiments",
                                   "experiment_requests", "experiment_memory", nullptr};

}  // namespace

const char* const* schema_tables() { return kTables; }

Status migrate(Database& db) {
  auto version = db.query_int("PRAGMA user_version");
  if (!version.ok()) return version.status().with_context("reading schema version");
  if (*version > kSchemaVersion) {
    return unsupported("database '" + db.path() + "' has schema version " +
                       std::to_string(*version) + ", newer than this program's " +
                       std::to_string(kSchemaVersion) + "; use a newer eMoE Studio");
  }
  if (*version < 0) {
    return corrupt("database '" + db.path() + "' has invalid schema version " +
                   std::to_string(*version));
  }
  for (int64_t v = *version; v < kSchemaVersion; ++v) {
    Status s = in_transaction(db, [&]() -> Status {
      // Re-read under the write lock: another process may have migrated meanwhile.
      auto now = db.query_int("PRAGMA user_version");
      if (!now.ok()) return now.status();
      if (*now != v) return Status::ok();
      EMOE_RETURN_IF_ERROR(db.exec(kMigrations[v]));
      return db.exec("PRAGMA user_version=" + std::to_string(v + 1));
    });
    if (!s.is_ok()) {
      return s.with_context("migrating '" + db.path() + "' from schema version " +
                            std::to_string(v));
    }
  }
  return Status::ok();
}

Result<std::unique_ptr<Database>> open_store(const std::string& path, OpenOptions options) {
  const bool wal = options.wal;
  options.wal = false;  // the journal mode lives in the header; switch only after the checks
  auto db = Database::open(path, options);
  if (!db.ok()) return db.status();
  auto version = (*db)->query_int("PRAGMA user_version");
  if (!version.ok())
    return version.status().with_context("reading schema version of '" + path + "'");
  if (*version > kSchemaVersion) return migrate(**db);  // refuses with the message
  if (wal && !options.read_only) {
    auto mode = (*db)->query_text("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return mode.status().with_context("database '" + path + "'");
    EMOE_RETURN_IF_ERROR((*db)->exec("PRAGMA synchronous=NORMAL"));
  }
  if (!options.read_only) {
    EMOE_RETURN_IF_ERROR(migrate(**db));
  } else if (*version != kSchemaVersion) {
    return unsupported("database '" + path + "' has schema version " + std::to_string(*version) +
                       "; open it writable once to migrate it");
  }
  return db;
}

}  // namespace emoe::db
