#include "core/sched/workload.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "core/common/json_writer.h"

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
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + n >= s.size()) return i;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += n + 1;
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

// ---- a JSON parser for one flat object (string, number, bool and null values)

struct Null {};
using JsonScalar = std::variant<Null, bool, double, std::string>;

class FlatObjectParser {
 public:
  explicit FlatObjectParser(std::string_view s) : s_(s) {}

  // Members in order; duplicate keys are an error.
  Result<std::vector<std::pair<std::string, JsonScalar>>> parse() {
    std::vector<std::pair<std::string, JsonScalar>> out;
    ws();
    if (!eat('{')) return err("expected a JSON object '{...}'");
    ws();
    if (eat('}')) return finish(std::move(out));
    while (true) {
      ws();
      if (peek() != '"') return err("expected a key string");
      Result<std::string> key = string();
      if (!key.ok()) return key.status();
      for (const auto& [k, v] : out) {
        if (k == *key) return err("key \"" + *key + "\" appears twice");
      }
      ws();
      if (!eat(':')) return err("expected ':' after key \"" + *key + "\"");
      ws();
      Result<JsonScalar> v = value(*key);
      if (!v.ok()) return v.status();
      out.emplace_back(std::move(key).value(), std::move(v).value());
      ws();
      if (eat(',')) continue;
      if (eat('}')) return finish(std::move(out));
      return err("expected ',' or '}'");
    }
  }

 private:
  Result<std::vector<std::pair<std::string, JsonScalar>>> finish(
      std::vector<std::pair<std::string, JsonScalar>> out) {
    ws();
    if (i_ != s_.size()) return err("unexpected text after the object");
    return out;
  }
  Status err(const std::string& what) const {
    return invalid_argument("column " + std::to_string(i_ + 1) + ": " + what);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  Result<JsonScalar> value(const std::string& key) {
    const char c = peek();
    if (c == '"') {
      Result<std::string> s = string();
      if (!s.ok()) return s.status();
      return JsonScalar(std::move(s).value());
    }
    if (lit("null")) return JsonScalar(Null{});
    if (lit("true")) return JsonScalar(true);
    if (lit("false")) return JsonScalar(false);
    if (c == '{' || c == '[') return err("\"" + key + "\": nested objects and arrays not allowed");
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return err("\"" + key + "\": expected a value");
  }

  Result<JsonScalar> number() {
    const size_t b = i_;
    eat('-');
    if (peek() == '0') {
      ++i_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++i_;
    } else {
      return err("malformed number");
    }
    if (eat('.')) {
      if (!(peek() >= '0' && peek() <= '9')) return err("malformed number");
      while (peek() >= '0' && peek() <= '9') ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!(peek() >= '0' && peek() <= '9')) return err("malformed number");
      while (peek() >= '0' && peek() <= '9') ++i_;
    }
    const std::string t(s_.substr(b, i_ - b));
    errno = 0;
    const double d = std::strtod(t.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(d)) return err("number " + t + " is out of range");
    return JsonScalar(d);
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Result<uint32_t> hex4() {
    if (i_ + 4 > s_.size()) return err("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return err("bad hex digit in \\u escape");
      }
    }
    return v;
  }

  Result<std::string> string() {
    ++i_;  // the opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) return err("unterminated string");
      const char c = s_[i_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) return err("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return err("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          Result<uint32_t> hi = hex4();
          if (!hi.ok()) return hi.status();
          uint32_t cp = *hi;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!lit("\\u")) return err("unpaired surrogate in \\u escape");
            Result<uint32_t> lo = hex4();
            if (!lo.ok()) return lo.status();
            if (*lo < 0xDC00 || *lo > 0xDFFF) return err("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (*lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return err("unpaired surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return err(std::string("unknown escape \\") + e);
      }
    }
    if (invalid_utf8_at(out) != std::string::npos) return err("string is not valid UTF-8");
    return out;
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string type_of(const JsonScalar& v) {
  if (std::holds_alternative<Null>(v)) return "null";
  if (std::holds_alternative<bool>(v)) return "a boolean";
  if (std::holds_alternative<double>(v)) return "a number";
  return "a string";
}

Result<Request> request_from(const std::vector<std::pair<std::string, JsonScalar>>& members) {
  Request r;
  bool have_text = false, have_arrival = false, have_max = false;
  for (const auto& [key, v] : members) {
    const auto want = [&](const char* what) {
      return invalid_argument("\"" + key + "\" must be " + what + ", not " + type_of(v));
    };
    const bool is_null = std::holds_alternative<Null>(v);
    const double* num = std::get_if<double>(&v);
    if (key == "task") {
      if (is_null) continue;
      const std::string* s = std::get_if<std::string>(&v);
      if (!s) return want("a task name or null");
      const std::optional<TaskType> t = parse_task(*s);
      if (!t) {
        return invalid_argument("\"task\": unknown task \"" + *s +
                                "\" (summarization, classification, qa, comparison, "
                                "conversation, or null)");
      }
      r.task = *t;
    } else if (key == "text") {
      const std::string* s = std::get_if<std::string>(&v);
      if (!s) return want("a string");
      if (s->empty()) return invalid_argument("\"text\" is empty");
      r.text = *s;
      have_text = true;
    } else if (key == "arrival_ms") {
      if (!num) return want("a number");
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
    Result<std::vector<std::pair<std::string, JsonScalar>>> members =
        FlatObjectParser(line).parse();
    if (!members.ok()) return members.status().with_context(where);
    Result<Request> r = request_from(*members);
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
