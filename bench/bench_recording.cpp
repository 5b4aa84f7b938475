// Cost of recording routing history, printed as one JSON object on stdout:
//  (a) writer throughput: routing rows/s that RoutingWriter commits (default WriterOptions) when
//      one producer pushes RoutingRecords as fast as it can for --seconds, with the batches it
//      took and how long the producer waited for queue space;
//  (b) decode throughput with and without a RecordingSession attached to the engine (and its
//      writer thread running), per model, interleaved plain/recorded for --reps pairs so both
//      see the same machine state; cost = 1 - recorded/plain, median over the pairs (and
//      cost_with_flush, which also charges the recorded run the time to commit its backlog);
//  (c) headroom: writer rows/s / the routing rows/s the engine produces at its fastest decode
//      (decode tok/s x n_layer x n_expert_used).
// Targets (reported, not asserted): cost < 5%, headroom >= 20.
// Models: tests/data/tiny-mixtral-q and a synthetic 8-layer, 1024-wide Q8_0 model generated into
// a temporary directory, unless --model is given (repeatable).
// Usage: bench_recording [--model PATH]... [--tokens N] [--reps N] [--seconds S] [--threads N]
//                        [--out FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/common/json_writer.h"
#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "db/recording_session.h"

using namespace emoe;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Options {
  std::vector<std::string> models;
  int64_t tokens = 128;
  int reps = 7;
  double seconds = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string out;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "bench_recording: %s\nusage: bench_recording [--model PATH]... [--tokens N] "
               "[--reps N] [--seconds S] [--threads N] [--out FILE]\n",
               msg);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    auto number = [&](double lo, double hi) {
      const std::string v = value();
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(d >= lo && d <= hi)) {
        usage((a + " expects a number in " + std::to_string(lo) + ".." + std::to_string(hi) +
               ", got '" + v + "'")
                  .c_str());
      }
      return d;
    };
    if (a == "--model") {
      o.models.push_back(value());
    } else if (a == "--tokens") {
      o.tokens = static_cast<int64_t>(number(2, 1 << 16));
    } else if (a == "--reps") {
      o.reps = static_cast<int>(number(1, 1000));
    } else if (a == "--seconds") {
      o.seconds = number(0.1, 600);
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number(1, 512));
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "-h" || a == "--help") {
      usage("measures the writer and the decode cost of recording");
    } else {
      usage(("unknown option '" + a + "'").c_str());
    }
  }
  return o;
}

void fail(const Status& s, const char* what) {
  std::fprintf(stderr, "bench_recording: %s: %s\n", what, s.message().c_str());
  std::exit(1);
}

// ---- (a) writer throughput ----------------------------------------------------------------

struct WriterResult {
  double seconds = 0;  // pushing plus the final flush
  int64_t rows = 0;
  int64_t batches = 0;
  double rows_per_s = 0;
  double producer_wait_ms = 0;
};

WriterResult writer_throughput(const std::string& path, double seconds) {
  db::ModelInfo info;
  info.path = "bench_recording://writer";
  info.arch = "none";
  info.hparams_json = "{}";
  auto session = db::RecordingSession::open(path, info, "{\"command\":\"bench_recording\"}");
  if (!session.ok()) fail(session.status(), "opening the writer session");
  db::RequestStart start;
  start.task = "bench";
  start.text = "writer throughput";
  auto request = (*session)->begin_request(0, start);
  if (!request.ok()) fail(request.status(), "adding the request");
  db::RoutingWriter& w = (*session)->writer();
  // Mixtral's shape: 32 MoE layers, top-2 of 8; expert ids vary so the indexes see real work.
  constexpr int32_t kLayers = 32, kTopK = 2, kExperts = 8;
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  int64_t pushed = 0;
  const auto t0 = Clock::now();
  for (int32_t pos = 0;; ++pos) {
    for (int32_t layer = 0; layer < kLayers; ++layer) {
      for (int32_t rank = 0; rank < kTopK; ++rank) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        db::RoutingRecord r;
        r.request_id = *request;
        r.pos = pos;
        r.layer = layer;
        r.rank = rank;
        r.router_expert = static_cast<int32_t>((rng >> 33) % kExperts);
        r.router_weight = rank == 0 ? 0.7f : 0.3f;
        r.used_expert = r.router_expert;
        r.used_weight = r.router_weight;
        Status s = w.push(r);
        if (!s.is_ok()) fail(s, "pushing a routing row");
        ++pushed;
      }
    }
    if (since(t0) >= seconds) break;
  }
  Status s = w.flush();
  if (!s.is_ok()) fail(s, "flushing");
  WriterResult r;
  r.seconds = since(t0);
  r.rows = pushed;
  // The session's own rows (none besides the routing rows here) are not counted.
  r.batches = w.committed_batches();
  r.rows_per_s = static_cast<double>(pushed) / r.seconds;
  r.producer_wait_ms = static_cast<double>(w.producer_wait_micros()) / 1000.0;
  s = (*session)->close();
  if (!s.is_ok()) fail(s, "closing the writer session");
  return r;
}

// ---- (b) decode with and without recording ------------------------------------------------

struct DecodeResult {
  std::string path;
  int64_t n_layer = 0, n_expert_used = 0;
  std::vector<double> plain, recorded;  // tok/s per repetition, in run order
  double plain_median = 0, recorded_median = 0, plain_best = 0;
  double cost_median = 0;  // median over pairs of 1 - recorded/plain
  // The same with the time to commit what is still queued after the run added to the recorded
  // run's time: an upper bound for runs shorter than the writer's max_delay, whose rows would
  // otherwise be committed after the clock stopped.
  std::vector<double> recorded_with_flush;
  double cost_with_flush_median = 0;
  int64_t rows = 0;  // records the recorded runs committed (routing, tokens, samples)
  double producer_wait_ms = 0;
  double engine_rows_per_s = 0;  // plain_best x n_layer x n_expert_used
};

DecodeResult decode_cost(const std::string& model_path, const std::string& db_path,
                         const Options& o) {
  auto model = model::Model::load(model_path);
  if (!model.ok()) fail(model.status(), "loading the model");
  const model::ModelConfig& c = (*model)->config();
  const std::vector<int32_t> prompt =
      (*model)->tokenizer().encode("The quick brown fox jumps over", true, false);
  if (prompt.empty()) fail(invalid_argument("the prompt has no tokens"), model_path.c_str());
  engine::EngineOptions eo;
  eo.n_threads = o.threads;
  eo.n_ctx = static_cast<int64_t>(prompt.size()) + o.tokens + 8;
  auto engine = engine::Engine::create(**model, eo);
  if (!engine.ok()) fail(engine.status(), "creating the engine");
  engine::Engine& e = **engine;

  db::ModelInfo info;
  info.path = fs::absolute(model_path).string();
  info.size_bytes = (*model)->file().file_size();
  info.arch = c.arch;
  info.hparams_json = "{\"n_layer\":" + std::to_string(c.n_layer) +
                      ",\"n_expert\":" + std::to_string(c.n_expert) +
                      ",\"n_expert_used\":" + std::to_string(c.n_expert_used) + "}";
  auto session = db::RecordingSession::open(db_path, info, "{\"command\":\"bench_recording\"}");
  if (!session.ok()) fail(session.status(), "opening the decode session");
  db::RecordingSession& rec = **session;

  engine::GenerateOptions g;
  g.max_new_tokens = static_cast<int32_t>(o.tokens) + 1;  // `tokens` decode steps
  g.stop_at_eos = false;                                  // greedy by default
  db::RequestStart start;
  start.task = "bench";
  start.text = "decode";
  struct Speed {
    double tok_s = 0, tok_s_with_flush = 0;
  };
  auto run = [&](bool recorded) -> Speed {
    auto seq = e.new_sequence();
    if (!seq.ok()) fail(seq.status(), "new sequence");
    int64_t request = 0;
    double flush_s = 0;
    if (recorded) {
      auto id = rec.begin_request(*seq, start);
      if (!id.ok()) fail(id.status(), "adding a request");
      request = *id;
      e.add_observer(&rec.recorder());
    }
    bool first = true;
    auto on_token = [&](int32_t) {
      if (recorded && first) (void)rec.first_token(request, db::RoutingRecorder::now_us());
      first = false;
      return true;
    };
    auto r = engine::generate(e, *seq, prompt, g, on_token);
    if (!r.ok()) fail(r.status(), "generating");
    if (recorded) {
      e.remove_observer(&rec.recorder());
      Status s = rec.finish_request(*seq, request, static_cast<int64_t>(prompt.size()),
                                    static_cast<int64_t>(r->generated.size()));
      // Drained before the next run so a backlog cannot slow it.
      const auto t0 = Clock::now();
      if (s.is_ok()) s = rec.writer().flush();
      if (!s.is_ok()) fail(s, "recording");
      flush_s = since(t0);
    }
    e.free_sequence(*seq);
    Speed sp;
    if (r->decode_seconds > 0) {
      const double steps = static_cast<double>(r->decode_steps);
      sp.tok_s = steps / r->decode_seconds;
      sp.tok_s_with_flush = steps / (r->decode_seconds + flush_s);
    }
    return sp;
  };

  DecodeResult d;
  d.path = model_path;
  d.n_layer = c.n_layer;
  d.n_expert_used = c.n_expert_used;
  (void)run(false);  // warm-up: page in the weights, grow the buffers
  (void)run(true);
  const int64_t rows_before = rec.writer().committed_records();
  std::vector<double> costs, costs_with_flush;
  for (int i = 0; i < o.reps; ++i) {
    // Alternate which goes first so a drift in machine state does not favour one side.
    Speed p, r;
    if (i % 2 == 0) {
      p = run(false);
      r = run(true);
    } else {
      r = run(true);
      p = run(false);
    }
    d.plain.push_back(p.tok_s);
    d.recorded.push_back(r.tok_s);
    d.recorded_with_flush.push_back(r.tok_s_with_flush);
    costs.push_back(p.tok_s > 0 ? 1.0 - r.tok_s / p.tok_s : 0);
    costs_with_flush.push_back(p.tok_s > 0 ? 1.0 - r.tok_s_with_flush / p.tok_s : 0);
  }
  d.rows = rec.writer().committed_records() - rows_before;
  d.producer_wait_ms = static_cast<double>(rec.writer().producer_wait_micros()) / 1000.0;
  Status s = rec.close();
  if (!s.is_ok()) fail(s, "closing the decode session");
  d.plain_median = median(d.plain);
  d.recorded_median = median(d.recorded);
  d.plain_best = *std::max_element(d.plain.begin(), d.plain.end());
  d.cost_median = median(costs);
  d.cost_with_flush_median = median(costs_with_flush);
  d.engine_rows_per_s =
      d.plain_best * static_cast<double>(d.n_layer) * static_cast<double>(d.n_expert_used);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::error_code ec;
  const fs::path tmp =
      fs::temp_directory_path(ec) /
      ("emoe_bench_recording_" + std::to_string(Clock::now().time_since_epoch().count()));
  fs::create_directories(tmp, ec);
  if (ec) fail(io_error(ec.message()), ("creating " + tmp.string()).c_str());

  if (o.models.empty()) {
    // The source tree's fixture, found from this file's own path.
    const fs::path tiny =
        fs::path(__FILE__).parent_path().parent_path() / "tests/data/tiny-mixtral-q/model.gguf";
    if (fs::exists(tiny)) o.models.push_back(tiny.string());
    model::SyntheticModelSpec spec;
    spec.n_layer = 8;
    spec.n_embd = 1024;
    spec.n_head = 8;
    spec.n_head_kv = 2;
    spec.n_expert = 8;
    spec.n_expert_used = 2;
    spec.n_ff = 2816;
    spec.weight_type = spec.embd_type = spec.output_type = kernels::TensorType::Q8_0;
    const std::string path = (tmp / "synthetic-8x1024-q8_0.gguf").string();
    std::fprintf(stderr, "bench_recording: generating %s...\n", path.c_str());
    Status s = model::write_synthetic_model(spec, path);
    if (!s.is_ok()) fail(s, "generating the synthetic model");
    o.models.push_back(path);
  }

  std::fprintf(stderr, "bench_recording: writer throughput for %.1f s...\n", o.seconds);
  const WriterResult w = writer_throughput((tmp / "writer.db").string(), o.seconds);
  std::vector<DecodeResult> decodes;
  for (const std::string& m : o.models) {
    std::fprintf(stderr, "bench_recording: decode %s...\n", m.c_str());
    decodes.push_back(decode_cost(m, (tmp / "decode.db").string(), o));
  }

  JsonWriter j;
  j.begin_object().key("threads").value(int64_t{o.threads});
  j.key("writer").begin_object();
  j.key("seconds").value(w.seconds).key("rows").value(w.rows).key("batches").value(w.batches);
  j.key("rows_per_s").value(w.rows_per_s).key("producer_wait_ms").value(w.producer_wait_ms);
  j.end_object();
  j.key("decode").begin_array();
  for (const DecodeResult& d : decodes) {
    const double headroom = d.engine_rows_per_s > 0 ? w.rows_per_s / d.engine_rows_per_s : 0;
    j.begin_object().key("model").value(fs::path(d.path).filename().string());
    j.key("n_layer").value(d.n_layer).key("n_expert_used").value(d.n_expert_used);
    j.key("tokens").value(o.tokens).key("reps").value(int64_t{o.reps});
    j.key("plain_tok_s").array(d.plain).key("recorded_tok_s").array(d.recorded);
    j.key("plain_tok_s_median").value(d.plain_median);
    j.key("recorded_tok_s_median").value(d.recorded_median);
    j.key("cost_percent").value(100.0 * d.cost_median);
    j.key("cost_target_met").value(d.cost_median < 0.05);
    j.key("recorded_with_flush_tok_s").array(d.recorded_with_flush);
    j.key("cost_with_flush_percent").value(100.0 * d.cost_with_flush_median);
    j.key("recorded_records").value(d.rows).key("producer_wait_ms").value(d.producer_wait_ms);
    j.key("engine_rows_per_s_at_best").value(d.engine_rows_per_s);
    j.key("writer_headroom").value(headroom).key("headroom_target_met").value(headroom >= 20);
    j.end_object();
  }
  j.end_array().end_object();
  std::printf("%s\n", j.str().c_str());
  if (!o.out.empty()) {
    std::ofstream f(o.out, std::ios::trunc);
    f << j.str() << "\n";
    if (!f) std::fprintf(stderr, "bench_recording: cannot write '%s'\n", o.out.c_str());
  }
  fs::remove_all(tmp, ec);
  return 0;
}
