#include "core/experiment/experiment_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>

#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "core/experts/budget_text.h"
#include "core/predict/predictor.h"

namespace emoe::experiment {

namespace {

// A configuration is a page of hand-written JSON; anything this large is not one.
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxCount = int64_t{1} << 40;  // token and byte counts: far past any real run

std::string number_text(double v) {
  char buf[32];
  // Shortest representation that reads back to the same double: to_json round-trips exactly.
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string quote_text(std::string_view s) {
  std::string out(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return "\"" + out + "\"";
}

// What a value is, for "expected X, got Y".
std::string describe(const JsonValue& v) {
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_number()) return "the number " + number_text(v.as_double());
  if (v.is_string()) return "the string " + quote_text(v.as_string());
  if (v.is_array()) return "an array";
  return v.is_object() ? "an object" : "null";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest option within 2 edits, else "; <what>: a, b, ...".
std::string suggestion(std::string_view word, const std::vector<std::string>& options,
                       std::string_view what) {
  size_t best = 3;
  const std::string* pick = nullptr;
  for (const std::string& o : options) {
    const size_t d = edit_distance(word, o);
    if (d < best) {
      best = d;
      pick = &o;
    }
  }
  if (pick) return " (did you mean '" + *pick + "'?)";
  std::string list;
  for (const std::string& o : options) list += (list.empty() ? "" : ", ") + o;
  return "; " + std::string(what) + ": " + list;
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string item_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// The budget grammar (core/experts/budget_text.h), checked for syntax only: what a percentage
// or an expert count means in bytes depends on the model, which is not loaded yet. Returns the
// problem, empty when the text is valid; *bytes gets the byte count of the plain byte forms.
std::string check_budget_text(const std::string& text, bool bytes_only, double* bytes) {
  auto spec = experts::parse_budget_syntax(text, bytes_only);
  if (!spec.ok()) return spec.status().message();
  if (bytes) *bytes = spec->unit == experts::BudgetText::Unit::Bytes ? spec->value : -1.0;
  return {};
}

// A compute device name, checked for syntax only: whether GPU N exists is a question for the
// machine that runs the experiment. Returns the problem, empty when the name is valid.
std::string check_device_text(const std::string& text) {
  if (text == "cpu" || text == "cuda") return {};
  if (text.starts_with("cuda:") && text.size() > 5 && text.size() <= 9 &&
      std::all_of(text.begin() + 5, text.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return {};
  }
  return "unknown device " + quote_text(text) + "; expected cpu, cuda or cuda:N (N a GPU index)";
}

// Reads the parsed document into the structs, naming source, line and field in every error.
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view source) : source_(source) {}

  Status error(const JsonValue& at, const std::string& path, const std::string& problem) const {
    return invalid_argument(source_ + ":" + std::to_string(at.line()) + ": field '" + path +
                            "': " + problem);
  }

  // One object: each key's reader, in the order they run (a later reader may depend on what an
  // earlier one read). Keys not in the table are errors; absent keys keep the struct's default.
  using Reader = std::function<Status(const JsonValue&, const std::string&)>;
  Status fields(const JsonValue& v, const std::string& path,
                std::initializer_list<std::pair<const char*, Reader>> readers) const {
    if (!v.is_object()) return error(v, path, "expected an object, got " + describe(v));
    std::vector<std::string> known;
    for (const auto& r : readers) known.emplace_back(r.first);
    for (const JsonValue::Member& m : v.members()) {
      if (std::find(known.begin(), known.end(), m.first) == known.end()) {
        return error(m.second, child(path, m.first),
                     "unknown key" + suggestion(m.first, known, "known keys"));
      }
    }
    for (const auto& [key, read] : readers) {
      if (const JsonValue* m = v.find(key)) EMOE_RETURN_IF_ERROR(read(*m, child(path, key)));
    }
    return Status::ok();
  }

  // Readers for the table, each storing into `out`.
  template <typename T>
  Reader integer_into(int64_t lo, int64_t hi, T& out) const {
    return [this, lo, hi, &out](const JsonValue& v, const std::string& p) {
      return integer(v, p, lo, hi, out);
    };
  }
  Reader number_into(double lo, bool lo_inclusive, double& out) const {
    return [this, lo, lo_inclusive, &out](const JsonValue& v, const std::string& p) {
      return number(v, p, lo, lo_inclusive, out);
    };
  }
  Reader string_into(std::string& out) const {
    return [this, &out](const JsonValue& v, const std::string& p) { return string(v, p, out); };
  }
  Reader boolean_into(bool& out) const {
    return [this, &out](const JsonValue& v, const std::string& p) { return boolean(v, p, out); };
  }

  Status string(const JsonValue& v, const std::string& path, std::string& out) const {
    if (!v.is_string()) return error(v, path, "expected a string, got " + describe(v));
    out = v.as_string();
    return Status::ok();
  }

  Status boolean(const JsonValue& v, const std::string& path, bool& out) const {
    if (!v.is_bool()) return error(v, path, "expected true or false, got " + describe(v));
    out = v.as_bool();
    return Status::ok();
  }

  // Integers in [lo, hi]. 1e3 and 40.0 count: whole numbers are what users mean by them.
  template <typename T>
  Status integer(const JsonValue& v, const std::string& path, int64_t lo, int64_t hi,
                 T& out) const {
    const std::string range = hi == kMaxInt64
                                  ? ">= " + std::to_string(lo)
                                  : "between " + std::to_string(lo) + " and " + std::to_string(hi);
    const bool whole = v.is_number() && std::floor(v.as_double()) == v.as_double();
    int64_t x = 0;
    if (v.is_integer()) {
      x = v.as_int();
    } else if (whole && std::fabs(v.as_double()) <= 9007199254740992.0) {
      x = static_cast<int64_t>(v.as_double());
    } else if (whole) {
      return error(v, path, "must be " + range + ", got " + describe(v));
    } else {
      return error(v, path, "expected an integer, got " + describe(v));
    }
    if (x < lo || x > hi) {
      return error(v, path, "must be " + range + ", got " + std::to_string(x));
    }
    out = static_cast<T>(x);
    return Status::ok();
  }

  // A finite number >= lo (> lo when !lo_inclusive).
  Status number(const JsonValue& v, const std::string& path, double lo, bool lo_inclusive,
                double& out) const {
    if (!v.is_number()) return error(v, path, "expected a number, got " + describe(v));
    const double x = v.as_double();
    if (!std::isfinite(x)) return error(v, path, "must be a finite number");
    if (lo_inclusive ? x < lo : x <= lo) {
      return error(v, path,
                   std::string("must be ") + (lo_inclusive ? ">= " : "> ") + number_text(lo) +
                       ", got " + number_text(x));
    }
    out = x;
    return Status::ok();
  }

  // A non-empty array without duplicates; item(value, path, out) reads one entry and show(out)
  // names it in the duplicate message.
  template <typename T>
  Status list(const JsonValue& v, const std::string& path, std::vector<T>& out,
              const std::function<Status(const JsonValue&, const std::string&, T&)>& item,
              const std::function<std::string(const T&)>& show) const {
    if (!v.is_array()) return error(v, path, "expected an array, got " + describe(v));
    if (v.items().empty()) return error(v, path, "the list is empty; give at least one entry");
    std::vector<T> values;
    for (size_t i = 0; i < v.items().size(); ++i) {
      T x{};
      EMOE_RETURN_IF_ERROR(item(v.items()[i], item_path(path, i), x));
      for (size_t j = 0; j < values.size(); ++j) {
        if (values[j] == x) {
          return error(v.items()[i], item_path(path, i),
                       "duplicate entry " + show(x) + " (same as " + item_path(path, j) + ")");
        }
      }
      values.push_back(std::move(x));
    }
    out = std::move(values);
    return Status::ok();
  }

  Reader budgets_into(std::vector<std::string>& out) const {
    return [this, &out](const JsonValue& v, const std::string& path) {
      return list<std::string>(
          v, path, out,
          [&](const JsonValue& x, const std::string& p, std::string& s) {
            EMOE_RETURN_IF_ERROR(string(x, p, s));
            const std::string problem = check_budget_text(s, false, nullptr);
            return problem.empty() ? Status::ok() : error(x, p, problem);
          },
          quote_text);
    };
  }

  // Names from `known`, after canon (which may rewrite an alias to its canonical name).
  Reader names_into(std::string what, std::vector<std::string> known, std::vector<std::string>& out,
                    std::function<std::string(const std::string&)> canon = {}) const {
    return [=, this, &out](const JsonValue& v, const std::string& path) {
      return list<std::string>(
          v, path, out,
          [&](const JsonValue& x, const std::string& p, std::string& s) {
            EMOE_RETURN_IF_ERROR(string(x, p, s));
            if (canon) s = canon(s);
            if (std::find(known.begin(), known.end(), s) != known.end()) return Status::ok();
            return error(x, p,
                         "unknown " + what + " " + quote_text(x.as_string()) +
                             suggestion(x.as_string(), known, "expected one of"));
          },
          quote_text);
    };
  }

  template <typename T>
  Reader integers_into(int64_t lo, int64_t hi, std::vector<T>& out) const {
    return [this, lo, hi, &out](const JsonValue& v, const std::string& path) {
      return list<T>(
          v, path, out,
          [&](const JsonValue& x, const std::string& p, T& i) { return integer(x, p, lo, hi, i); },
          [](const T& i) { return std::to_string(i); });
    };
  }

  Status read(const JsonValue& root, ExperimentConfig& c) const;

 private:
  Status read_workload(const JsonValue& v, ExperimentConfig& c) const;
  Status read_task_weights(const JsonValue& v, const std::string& path, WorkloadSpec& w) const;
  Status read_matrix(const JsonValue& v, ExperimentConfig& c) const;
  Status read_serving(const JsonValue& v, ExperimentConfig& c) const;
  Status read_capacity(const JsonValue& v, ExperimentConfig& c) const;

  std::string source_;
};

Status ConfigReader::read(const JsonValue& root, ExperimentConfig& c) const {
  if (!root.is_object()) {
    return invalid_argument(source_ + ":" + std::to_string(root.line()) +
                            ": an experiment configuration is a JSON object ({...}), got " +
                            describe(root));
  }
  return fields(
      root, "",
      {{"name",
        [&](const JsonValue& v, const std::string& p) {
          EMOE_RETURN_IF_ERROR(string(v, p, c.name));
          return c.name.empty() ? error(v, p, "must not be empty") : Status::ok();
        }},
       {"model", string_into(c.model)},
       {"workload", [&](const JsonValue& v, const std::string&) { return read_workload(v, c); }},
       // After the workload: whether a rate of 0 is allowed depends on workload.file.
       {"matrix", [&](const JsonValue& v, const std::string&) { return read_matrix(v, c); }},
       {"serving", [&](const JsonValue& v, const std::string&) { return read_serving(v, c); }},
       {"profile_requests", integer_into(0, 1000000, c.profile_requests)},
       {"accuracy", boolean_into(c.accuracy)},
       {"threads", integer_into(1, 256, c.n_threads)},
       {"device",
        [&](const JsonValue& v, const std::string& p) {
          EMOE_RETURN_IF_ERROR(string(v, p, c.device));
          const std::string problem = check_device_text(c.device);
          return problem.empty() ? Status::ok() : error(v, p, problem);
        }},
       {"capacity", [&](const JsonValue& v, const std::string&) { return read_capacity(v, c); }}});
}

Status ConfigReader::read_workload(const JsonValue& v, ExperimentConfig& c) const {
  WorkloadSpec& w = c.workload;
  return fields(v, "workload",
                {{"file", string_into(w.file)},
                 {"requests", integer_into(1, 1000000, w.requests)},
                 {"seed", integer_into(0, kMaxInt64, w.seed)},
                 {"task_weights", [&](const JsonValue& x,
                                      const std::string& p) { return read_task_weights(x, p, w); }},
                 {"max_new_tokens_cap", integer_into(0, kMaxInt32, w.max_new_tokens_cap)},
                 {"max_new_tokens_scale", number_into(0, false, w.max_new_tokens_scale)},
                 {"slo_scale", number_into(0, false, w.slo_scale)}});
}

Status ConfigReader::read_task_weights(const JsonValue& v, const std::string& path,
                                       WorkloadSpec& w) const {
  if (!v.is_object()) return error(v, path, "expected an object, got " + describe(v));
  std::vector<std::string> names;
  for (sched::TaskType t : sched::kAllTasks) names.emplace_back(sched::task_name(t));
  // A task left out gets weight 0: {"qa": 1} means "only QA", not "QA plus the defaults".
  std::array<double, sched::kTaskCount> weights{};
  std::array<std::string, sched::kTaskCount> given_as{};
  for (const JsonValue::Member& m : v.members()) {
    const std::string p = child(path, m.first);
    const auto task = sched::parse_task(m.first);
    if (!task)
      return error(m.second, p, "unknown task" + suggestion(m.first, names, "known tasks"));
    const auto k = static_cast<size_t>(sched::task_index(*task));
    if (!given_as[k].empty()) {
      return error(m.second, p,
                   "task " + std::string(sched::task_name(*task)) + " is already given as '" +
                       given_as[k] + "'");
    }
    given_as[k] = m.first;
    EMOE_RETURN_IF_ERROR(number(m.second, p, 0, true, weights[k]));
  }
  double sum = 0;
  for (double x : weights) sum += x;
  if (!(sum > 0)) return error(v, path, "every task weight is 0; give at least one a weight > 0");
  w.task_weights = weights;
  return Status::ok();
}

Status ConfigReader::read_matrix(const JsonValue& v, ExperimentConfig& c) const {
  std::vector<std::string> predictors = predict::predictor_names();
  predictors.emplace_back("none");
  const auto canonical_scheduler = [](const std::string& s) {
    const auto kind = sched::parse_scheduler_kind(s);
    return kind ? std::string(sched::scheduler_kind_name(*kind)) : s;
  };
  const bool has_file = !c.workload.file.empty();
  const auto rate = [&](const JsonValue& e, const std::string& p, double& out) {
    EMOE_RETURN_IF_ERROR(number(e, p, 0, true, out));
    if (out == 0 && !has_file) {
      return error(e, p,
                   "must be > 0 requests/s (0, \"the file's own arrival times\", needs "
                   "workload.file)");
    }
    return out > 1e6 ? error(e, p, "must be at most 1000000 requests/s") : Status::ok();
  };
  std::vector<std::string> routing;
  EMOE_RETURN_IF_ERROR(
      fields(v, "matrix",
             {{"budgets", budgets_into(c.budgets)},
              {"predictors", names_into("predictor", predictors, c.predictors)},
              {"intervals", integers_into(1, 200, c.intervals)},
              // Canonical names, so "FCFS" and "fcfs" are the same entry.
              {"schedulers",
               names_into("scheduler", {"emoe", "fcfs", "sjf"}, c.schedulers, canonical_scheduler)},
              {"arrival_rates",
               [&](const JsonValue& x, const std::string& p) {
                 return list<double>(x, p, c.arrival_rates, rate, number_text);
               }},
              {"routing", names_into("routing mode", {"all", "exact", "fallback"}, routing)},
              {"seeds", integers_into(0, kMaxInt64, c.seeds)}}));
  if (!routing.empty()) {
    c.routing.clear();
    for (const std::string& n : routing) {
      c.routing.push_back(engine::routing_mode_from_name(n).value_or(engine::RoutingMode::All));
    }
  }
  return Status::ok();
}

Status ConfigReader::read_serving(const JsonValue& v, ExperimentConfig& c) const {
  ServingSpec& s = c.serving;
  const auto clock = [&](const JsonValue& x, const std::string& p) {
    std::vector<std::string> known;
    std::string name;
    EMOE_RETURN_IF_ERROR(string(x, p, name));
    for (auto k : {sched::ClockKind::Virtual, sched::ClockKind::Measured, sched::ClockKind::Wall}) {
      known.emplace_back(sched::clock_kind_name(k));
      if (name == known.back()) {
        s.clock = k;
        return Status::ok();
      }
    }
    return error(x, p,
                 "unknown clock " + quote_text(name) + suggestion(name, known, "expected one of"));
  };
  return fields(v, "serving",
                {{"max_sequences", integer_into(1, 4096, s.max_sequences)},
                 {"max_batch_tokens", integer_into(1, kMaxCount, s.max_batch_tokens)},
                 {"prefill_chunk", integer_into(0, kMaxCount, s.prefill_chunk)},
                 {"max_tokens", integer_into(0, kMaxCount, s.max_tokens)},
                 {"clock", clock},
                 {"step_ms", number_into(0, true, s.cost.step_ms)},
                 {"token_ms", number_into(0, true, s.cost.token_ms)},
                 {"starvation_ms", number_into(0, true, s.starvation_ms)},
                 {"expert_load_ms", number_into(0, true, s.expert_load_ms)}});
}

Status ConfigReader::read_capacity(const JsonValue& v, ExperimentConfig& c) const {
  CapacitySpec& s = c.capacity;
  const auto device_bytes = [&](const JsonValue& x, const std::string& p) {
    if (x.is_string()) {
      double bytes = 0;
      const std::string problem = check_budget_text(x.as_string(), true, &bytes);
      if (!problem.empty()) return error(x, p, problem);
      s.device_bytes = static_cast<uint64_t>(bytes);
      return Status::ok();
    }
    if (!x.is_number()) {
      return error(x, p, "expected bytes as a number or a string (\"2G\"), got " + describe(x));
    }
    return integer(x, p, 0, kMaxInt64, s.device_bytes);
  };
  return fields(v, "capacity",
                {{"enabled", boolean_into(s.enabled)},
                 {"device_bytes", device_bytes},
                 {"budgets", budgets_into(s.budgets)},
                 {"prompt_tokens", integer_into(1, kMaxInt32, s.prompt_tokens)},
                 {"batch", integer_into(1, kMaxInt32, s.batch)},
                 {"generate_tokens", integer_into(1, kMaxInt32, s.generate_tokens)},
                 {"max_batch_limit", integer_into(1, kMaxInt32, s.max_batch_limit)}});
}

// One object per level, one key per line, for a file people read and edit. Values are JSON text.
std::string pretty_object(const std::vector<std::pair<const char*, std::string>>& fields,
                          int indent) {
  const std::string pad(static_cast<size_t>(indent) + 2, ' ');
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    s += (i ? ",\n" : "\n") + pad + JsonWriter::escape(fields[i].first) + ": " + fields[i].second;
  }
  return s + "\n" + std::string(static_cast<size_t>(indent), ' ') + "}";
}

template <typename T, typename Fn>
std::string json_list(const std::vector<T>& values, Fn one) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + one(values[i]);
  return s + "]";
}

std::string json_string(std::string_view s) { return JsonWriter::escape(s); }

std::string resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return p;
  const std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

}  // namespace

Result<ExperimentConfig> parse_experiment_config(std::string_view json, std::string_view source) {
  JsonError err;
  auto doc = parse_json(json, {}, &err);
  if (!doc.ok()) {
    return invalid_argument(std::string(source) + ":" + std::to_string(err.line) + ":" +
                            std::to_string(err.column) + ": malformed JSON: " + err.problem);
  }
  ExperimentConfig c;
  EMOE_RETURN_IF_ERROR(ConfigReader(source).read(*doc, c));
  return c;
}

Result<ExperimentConfig> load_experiment_config(const std::string& path) {
  const std::filesystem::path file(path);
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    return invalid_argument("experiment configuration '" + path + "' is a directory");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found("cannot open experiment configuration '" + path + "'");
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return invalid_argument("experiment configuration '" + path + "' is over " +
                              std::to_string(kMaxConfigBytes) + " bytes; it cannot be one");
    }
  }
  if (in.bad()) return io_error("cannot read experiment configuration '" + path + "'");
  auto c = parse_experiment_config(text, path);
  if (!c.ok()) return c.status();
  // Paths in the file are relative to the file, wherever the program runs from.
  std::filesystem::path base = std::filesystem::absolute(file, ec).parent_path();
  if (ec) base = file.parent_path();
  if (c->model != "demo") c->model = resolve(base, c->model);
  c->workload.file = resolve(base, c->workload.file);
  c->source = path;
  return c;
}

std::string experiment_config_to_json(const ExperimentConfig& config) {
  const auto str = [](const std::string& s) { return json_string(s); };
  const auto num = [](double d) { return number_text(d); };
  const auto int_text = [](auto i) { return std::to_string(i); };
  const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  const WorkloadSpec& w = config.workload;
  std::string weights = "{";
  for (sched::TaskType t : sched::kAllTasks) {
    weights += (weights.size() > 1 ? ", " : "") + json_string(sched::task_name(t)) + ": " +
               num(w.task_weights[static_cast<size_t>(sched::task_index(t))]);
  }
  const std::string workload =
      pretty_object({{"file", str(w.file)},
                     {"requests", int_text(w.requests)},
                     {"seed", int_text(w.seed)},
                     {"task_weights", weights + "}"},
                     {"max_new_tokens_cap", int_text(w.max_new_tokens_cap)},
                     {"max_new_tokens_scale", num(w.max_new_tokens_scale)},
                     {"slo_scale", num(w.slo_scale)}},
                    2);
  const auto routing_name = [](engine::RoutingMode m) {
    return json_string(engine::routing_mode_name(m));
  };
  const std::string matrix = pretty_object({{"budgets", json_list(config.budgets, str)},
                                            {"predictors", json_list(config.predictors, str)},
                                            {"intervals", json_list(config.intervals, int_text)},
                                            {"schedulers", json_list(config.schedulers, str)},
                                            {"arrival_rates", json_list(config.arrival_rates, num)},
                                            {"routing", json_list(config.routing, routing_name)},
                                            {"seeds", json_list(config.seeds, int_text)}},
                                           2);
  const ServingSpec& s = config.serving;
  const std::string serving =
      pretty_object({{"max_sequences", int_text(s.max_sequences)},
                     {"max_batch_tokens", int_text(s.max_batch_tokens)},
                     {"prefill_chunk", int_text(s.prefill_chunk)},
                     {"max_tokens", int_text(s.max_tokens)},
                     {"clock", json_string(sched::clock_kind_name(s.clock))},
                     {"step_ms", num(s.cost.step_ms)},
                     {"token_ms", num(s.cost.token_ms)},
                     {"starvation_ms", num(s.starvation_ms)},
                     {"expert_load_ms", num(s.expert_load_ms)}},
                    2);
  const CapacitySpec& cap = config.capacity;
  const std::string capacity = pretty_object({{"enabled", boolean(cap.enabled)},
                                              {"device_bytes", int_text(cap.device_bytes)},
                                              {"budgets", json_list(cap.budgets, str)},
                                              {"prompt_tokens", int_text(cap.prompt_tokens)},
                                              {"batch", int_text(cap.batch)},
                                              {"generate_tokens", int_text(cap.generate_tokens)},
                                              {"max_batch_limit", int_text(cap.max_batch_limit)}},
                                             2);
  return pretty_object({{"name", str(config.name)},
                        {"model", str(config.model)},
                        {"workload", workload},
                        {"matrix", matrix},
                        {"serving", serving},
                        {"profile_requests", int_text(config.profile_requests)},
                        {"accuracy", boolean(config.accuracy)},
                        {"threads", int_text(config.n_threads)},
                        {"device", str(config.device)},
                        {"capacity", capacity}},
                       0) +
         "\n";
}

}  // namespace emoe::experiment
