#include "core/sched/workload.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "core/common/utf8.h"

namespace emoe::sched {
namespace {

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return io_error(std::string("cannot open ") + what + " '" + path +
                    "': " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(std::string("cannot read ") + what + " '" + path + "'");
  return ss.str();
}

// Byte offset of the first invalid UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_valid_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

// Calls fn(line_number, line) for each line ('\n' separated, a trailing '\r' removed).
template <typename Fn>
Status for_each_line(std::string_view text, Fn&& fn) {
  int line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    EMOE_RETURN_IF_ERROR(fn(++line_no, line));
    start = end + 1;
  }
  return Status::ok();
}

bool blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

// "a string", "a number", ...: for messages about a member's type.
std::string type_of(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::Null:
      return "null";
    case JsonValue::Type::Bool:
      return "a boolean";
    case JsonValue::Type::Number:
      return "a number";
    case JsonValue::Type::String:
      return "a string";
    case JsonValue::Type::Array:
      return "an array";
    case JsonValue::Type::Object:
      return "an object";
  }
  return "a value";
}

Result<Request> request_from(const JsonValue& object) {
  if (!object.is_object()) return invalid_argument("expected a JSON object '{...}'");
  Request r;
  bool have_text = false, have_arrival = false, have_max = false;
  for (const auto& [key, v] : object.members()) {
    const auto want = [&](const char* what) {
      return invalid_argument("\"" + key + "\" must be " + what + ", not " + type_of(v));
    };
    if (v.is_array() || v.is_object()) {
      return invalid_argument("\"" + key + "\": nested objects and arrays not allowed");
    }
    const bool is_null = v.is_null();
    const double number = v.is_number() ? v.as_double() : 0.0;
    const double* num = v.is_number() ? &number : nullptr;
    if (key == "task") {
      if (is_null) continue;
      if (!v.is_string()) return want("a task name or null");
      const std::optional<TaskType> t = parse_task(v.as_string());
      if (!t) {
        return invalid_argument("\"task\": unknown task \"" + v.as_string() +
                                "\" (summarization, classification, qa, comparison, "
                                "conversation, or null)");
      }
      r.task = *t;
    } else if (key == "text") {
      if (!v.is_string()) return want("a string");
      if (v.as_string().empty()) return invalid_argument("\"text\" is empty");
      r.text = v.as_string();
      have_text = true;
    } else if (key == "arrival_ms") {      if (!num) return want("a number");
      if (!std::isfinite(*num) || *num < 0) {
        return invalid_argument("\"arrival_ms\" = " + std::to_string(*num) + " must be >= 0");
      }
      r.arrival_ms = *num;
      have_arrival = true;
    } else if (key == "slo_ttft_ms" || key == "slo_e2e_ms") {
      double& dst = key == "slo_ttft_ms" ? r.slo_ttft_ms : r.slo_e2e_ms;
      if (is_null) continue;
      if (!num) return want("a number or null");
      if (!std::isfinite(*num) || *num <= 0) {
        return invalid_argument("\"" + key + "\" = " + std::to_string(*num) +
                                " must be > 0 (null for no SLO)");
      }
      dst = *num;
    } else if (key == "max_new_tokens") {
      if (!num) return want("an integer");
      if (*num != std::floor(*num) || *num < 1 || *num > kMaxNewTokensLimit) {
        return invalid_argument("\"max_new_tokens\" = " + std::to_string(*num) +
                                " must be an integer in 1.." + std::to_string(kMaxNewTokensLimit));
      }
      r.max_new_tokens = static_cast<int32_t>(*num);
      have_max = true;
    } else {
      return invalid_argument("unknown key \"" + key +
                              "\" (task, text, arrival_ms, slo_ttft_ms, slo_e2e_ms, "
                              "max_new_tokens)");
    }
  }
  if (!have_text) return invalid_argument("missing \"text\"");
  if (!have_arrival) return invalid_argument("missing \"arrival_ms\"");
  if (!have_max) return invalid_argument("missing \"max_new_tokens\"");
  return r;
}

// splitmix64: a small seeded generator with a fixed definition, so workloads are the same on
// every platform.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

}  // namespace

Result<std::vector<Request>> parse_workload_jsonl(std::string_view text, std::string_view source) {
  std::vector<Request> out;
  const std::string src(source);
  Status st = for_each_line(text, [&](int line_no, std::string_view line) -> Status {
    if (blank(line)) return Status::ok();
    const std::string where = src + ":" + std::to_string(line_no);
    Result<JsonValue> object = parse_json(line);
    if (!object.ok()) return invalid_argument(where + ": " + object.status().message());
    Result<Request> r = request_from(*object);
    if (!r.ok()) return r.status().with_context(where);
    if (!out.empty() && r->arrival_ms < out.back().arrival_ms) {
      return invalid_argument(where + ": \"arrival_ms\" = " + std::to_string(r->arrival_ms) +
                              " is earlier than the previous request's " +
                              std::to_string(out.back().arrival_ms) +
                              " (requests must be in arrival order)");
    }
    out.push_back(std::move(r).value());
    return Status::ok();
  });
  EMOE_RETURN_IF_ERROR(st);
  if (out.empty()) return invalid_argument(src + ": no requests");
  return out;
}

Result<std::vector<Request>> load_workload_jsonl(const std::string& path) {
  Result<std::string> text = read_file(path, "workload file");
  if (!text.ok()) return text.status();
  return parse_workload_jsonl(*text, path);
}

std::string workload_to_jsonl(const std::vector<Request>& requests) {
  std::string out;
  for (const Request& r : requests) {
    JsonWriter w;
    w.begin_object().key("task");
    if (r.task) {
      w.value(task_name(*r.task));
    } else {
      w.null();
    }
    w.key("text").value(std::string_view(r.text));
    w.key("arrival_ms").value(r.arrival_ms);
    w.key("slo_ttft_ms");
    r.slo_ttft_ms > 0 ? w.value(r.slo_ttft_ms) : w.null();
    w.key("slo_e2e_ms");
    r.slo_e2e_ms > 0 ? w.value(r.slo_e2e_ms) : w.null();
    w.key("max_new_tokens").value(r.max_new_tokens);
    w.end_object();
    out += w.str();
    out += '\n';
  }
  return out;
}

Result<std::vector<std::string>> parse_prompt_lines(std::string_view text,
                                                    std::string_view source) {
  std::vector<std::string> out;
  const std::string src(source);
  Status st = for_each_line(text, [&](int line_no, std::string_view line) -> Status {
    const std::string where = src + ":" + std::to_string(line_no) + ": ";
    if (line.find('\t') != std::string_view::npos) {
      return invalid_argument(where + "a tab in a prompt (prompts are one line, no tabs)");
    }
    if (const size_t bad = invalid_utf8_at(line); bad != std::string_view::npos) {
      return invalid_argument(where + "invalid UTF-8 at byte " + std::to_string(bad + 1));
    }
    if (!blank(line)) out.emplace_back(line);
    return Status::ok();
  });
  EMOE_RETURN_IF_ERROR(st);
  if (out.empty()) return invalid_argument(src + ": no prompts");
  return out;
}

Result<std::vector<std::string>> load_prompt_file(const std::string& path) {
  Result<std::string> text = read_file(path, "prompt file");
  if (!text.ok()) return text.status();
  return parse_prompt_lines(*text, path);
}

Result<TaskPrompts> load_task_prompts(const std::string& dir) {
  TaskPrompts p;
  for (TaskType t : kAllTasks) {
    const std::string path =
        (std::filesystem::path(dir) / (std::string(task_name(t)) + ".txt")).string();
    Result<std::vector<std::string>> lines = load_prompt_file(path);
    if (!lines.ok()) return lines.status();
    p[static_cast<size_t>(task_index(t))] = std::move(lines).value();
  }
  return p;
}

std::array<TaskRequestLimits, kTaskCount> default_task_limits() {
  // Same values as scripts/make_workloads.py's TASK_LIMITS, by task_index.
  return {{
      {2000, 10000, 160},  // summarization
      {1000, 5000, 96},    // classification
      {500, 3000, 64},     // qa
      {1000, 6000, 112},   // comparison
      {300, 12000, 256},   // conversation
  }};
}

Result<std::vector<Request>> generate_workload(const TaskPrompts& prompts,
                                               const WorkloadOptions& o) {
  if (o.n_requests < 0 || o.n_requests > (int64_t{1} << 26)) {
    return invalid_argument("n_requests = " + std::to_string(o.n_requests) +
                            " must be in 0..67108864");
  }
  if (!std::isfinite(o.rate_per_s) || o.rate_per_s <= 0) {
    return invalid_argument("rate_per_s = " + std::to_string(o.rate_per_s) + " must be > 0");
  }
  if (!std::isfinite(o.start_ms) || o.start_ms < 0) {
    return invalid_argument("start_ms must be a finite number >= 0");
  }
  double total = 0;
  for (TaskType t : kAllTasks) {
    const auto i = static_cast<size_t>(task_index(t));
    const double w = o.task_weights[i];
    if (!std::isfinite(w) || w < 0) {
      return invalid_argument("task weight of " + std::string(task_name(t)) +
                              " must be a finite number >= 0");
    }
    if (w > 0 && prompts[i].empty()) {
      return invalid_argument("task " + std::string(task_name(t)) +
                              " has weight > 0 but no prompts");
    }
    const TaskRequestLimits& l = o.limits[i];
    if (w > 0 && (l.max_new_tokens < 1 || l.max_new_tokens > kMaxNewTokensLimit ||
                  !(l.slo_ttft_ms >= 0) || !(l.slo_e2e_ms >= 0))) {
      return invalid_argument("limits of task " + std::string(task_name(t)) +
                              ": max_new_tokens must be in 1.." +
                              std::to_string(kMaxNewTokensLimit) + " and SLOs >= 0");
    }
    total += w;
  }
  if (!(total > 0)) return invalid_argument("every task weight is 0");

  SplitMix64 rng{o.seed};
  const double mean_gap_ms = 1000.0 / o.rate_per_s;
  std::vector<Request> out;
  out.reserve(static_cast<size_t>(o.n_requests));
  double t_ms = o.start_ms;
  for (int64_t n = 0; n < o.n_requests; ++n) {
    t_ms += -std::log1p(-rng.uniform()) * mean_gap_ms;  // inverse CDF of Exp(rate)
    double pick = rng.uniform() * total;
    size_t task = kTaskCount;
    for (size_t i = 0; i < kTaskCount; ++i) {
      if (o.task_weights[i] <= 0) continue;
      task = i;  // the last task with weight takes rounding leftovers
      if (pick < o.task_weights[i]) break;
      pick -= o.task_weights[i];
    }
    const std::vector<std::string>& pool = prompts[task];
    const auto k = static_cast<size_t>(rng.uniform() * static_cast<double>(pool.size()));
    Request r;
    r.task = kAllTasks[task];
    r.text = pool[std::min(k, pool.size() - 1)];
    r.arrival_ms = t_ms;
    r.slo_ttft_ms = o.limits[task].slo_ttft_ms;
    r.slo_e2e_ms = o.limits[task].slo_e2e_ms;
    r.max_new_tokens = o.limits[task].max_new_tokens;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace emoe::sched
