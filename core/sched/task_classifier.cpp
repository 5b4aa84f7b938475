#include "core/sched/task_classifier.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace emoe::sched {
namespace {

constexpr size_t kMaxKeywordLength = 200;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Letters, digits, apostrophes inside words are not boundaries; bytes >= 0x80 (UTF-8) count as
// letters so a keyword never matches inside a non-ASCII word.
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80;
}

// Lower-case with every whitespace run collapsed to one space, trimmed.
std::string normalise(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(lower(c));
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool contains_keyword(const std::string& text, const std::string& kw) {
  const bool check_front = is_word(kw.front()), check_back = is_word(kw.back());
  for (size_t pos = text.find(kw); pos != std::string::npos; pos = text.find(kw, pos + 1)) {
    if (check_front && pos > 0 && is_word(text[pos - 1])) continue;
    const size_t end = pos + kw.size();
    if (check_back && end < text.size() && is_word(text[end])) continue;
    return true;
  }
  return false;
}

std::string task_list() {
  std::string s;
  for (TaskType t : kAllTasks) {
    if (!s.empty()) s += ", ";
    s += task_name(t);
  }
  return s;
}

// A copy of resources/task_keywords.txt (a test keeps the two identical).
constexpr std::string_view kBuiltin =
    R"KW(# Keyword profiles of the task classifier (core/sched/task_classifier.h); edit freely.
#
# Format: one task per line, `task: keyword, keyword, ...`. Tasks: summarization,
# classification, qa, comparison, conversation. A keyword is a word or phrase matched
# case-insensitively on word boundaries ("what" does not match "whatever"); a keyword that
# starts or ends with punctuation ("?", "tl;dr") matches that punctuation as written.
# `keyword*2` gives a keyword weight 2 (default 1; any positive number). A task's score is the
# sum of the weights of its keywords that occur in the prompt (each keyword counts once). The
# highest score wins; a tie between the best tasks, or no match at all, gives the default.
# A task may appear on several lines; its keywords add up.

default: conversation

summarization: summarize*3, summarise*3, summary*3, tl;dr*3, synopsis*3, condense*3, key points*3, main points*3, in brief, in short, recap*2, brief summary*3, one-line summary*3

classification: classify*3, classification*3, sentiment*3, which category*4, categorize*3, categorise*3, category*2, label*2, positive or negative*2, bullish*2, bearish*2, neutral

qa: what, who, when, where, why, how, which, ?, question*2, answer the question*2, passage*2, context*2, according to*2, q:*2

comparison: compare*3, how similar*4, headlines*2, which is better*3, comparison*3, difference between*4, differences*2, versus*3, vs*3, similarity*3, similar*2, same meaning*3, contrast*3, better than

conversation: hi*2, hello*2, hey*2, good morning*2, can you, could you, i'm, i am, i'd like, i want, i have, i've, i just, i keep, my, we're, thanks*2, thank you*2, help me, any advice*2, any tips*2, what do you think*2, your thoughts*2, how do i*2, should i*2, am i*2, i need
)KW";

}  // namespace

std::string_view task_name(TaskType t) {
  switch (t) {
    case TaskType::Summarization:
      return "summarization";
    case TaskType::Classification:
      return "classification";
    case TaskType::QA:
      return "qa";
    case TaskType::Comparison:
      return "comparison";
    case TaskType::Conversation:
      return "conversation";
  }
  return "conversation";
}

std::optional<TaskType> parse_task(std::string_view name) {
  const std::string n = normalise(name);
  for (TaskType t : kAllTasks) {
    if (n == task_name(t)) return t;
  }
  if (n == "sum" || n == "summarisation") return TaskType::Summarization;
  if (n == "clsfy") return TaskType::Classification;
  if (n == "comp") return TaskType::Comparison;
  if (n == "conv") return TaskType::Conversation;
  return std::nullopt;
}

Result<TaskClassifier> TaskClassifier::from_text(std::string_view text, std::string_view source) {
  TaskClassifier c;
  bool have_default = false;
  int line_no = 0;
  const std::string src(source);
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    const std::string where = src + ":" + std::to_string(line_no) + ": ";
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') {
      if (end == text.size()) break;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return invalid_argument(where + "expected 'task: keyword, keyword, ...' or 'default: task'");
    }
    const std::string head = normalise(line.substr(0, colon));
    const std::string_view rest = trim(line.substr(colon + 1));
    if (head == "default") {
      if (have_default) return invalid_argument(where + "'default' is given a second time");
      const std::optional<TaskType> t = parse_task(rest);
      if (!t) {
        return invalid_argument(where + "unknown default task '" + std::string(rest) +
                                "' (tasks: " + task_list() + ")");
      }
      c.default_ = *t;
      have_default = true;
    } else {
      const std::optional<TaskType> t = parse_task(head);
      if (!t) {
        return invalid_argument(where + "unknown task '" + head + "' (tasks: " + task_list() +
                                ", or 'default')");
      }
      std::vector<TaskKeyword>& list = c.keywords_[static_cast<size_t>(task_index(*t))];
      if (rest.empty()) return invalid_argument(where + "no keywords after '" + head + ":'");
      size_t kstart = 0;
      int item = 0;
      while (kstart <= rest.size()) {
        size_t kend = rest.find(',', kstart);
        if (kend == std::string_view::npos) kend = rest.size();
        std::string_view entry = trim(rest.substr(kstart, kend - kstart));
        kstart = kend + 1;
        ++item;
        const std::string at = where + "keyword " + std::to_string(item) + ": ";
        double weight = 1.0;
        const size_t star = entry.rfind('*');
        if (star != std::string_view::npos) {
          const std::string w(trim(entry.substr(star + 1)));
          char* parse_end = nullptr;
          errno = 0;
          weight = w.empty() ? 0.0 : std::strtod(w.c_str(), &parse_end);
          if (w.empty() || errno != 0 || parse_end != w.c_str() + w.size() ||
              !std::isfinite(weight) || weight <= 0.0) {
            return invalid_argument(at + "weight '*" + w + "' is not a positive number");
          }
          entry = trim(entry.substr(0, star));
        }
        if (entry.empty()) {
          return invalid_argument(at + "empty keyword (a doubled or trailing comma?)");
        }
        if (entry.size() > kMaxKeywordLength) {
          return invalid_argument(at + "keyword longer than " + std::to_string(kMaxKeywordLength) +
                                  " bytes");
        }
        TaskKeyword kw{normalise(entry), weight};
        for (const TaskKeyword& k : list) {
          if (k.text == kw.text) {
            return invalid_argument(at + "'" + kw.text + "' is listed twice for task " +
                                    std::string(task_name(*t)));
          }
        }
        list.push_back(std::move(kw));
        if (kend == rest.size()) break;
      }
    }
    if (end == text.size()) break;
  }
  if (!have_default) {
    return invalid_argument(src + ": no 'default: task' line (the task for prompts that match " +
                            "no keyword)");
  }
  bool any = false;
  for (const auto& l : c.keywords_) any = any || !l.empty();
  if (!any) return invalid_argument(src + ": no keyword profiles ('task: keyword, ...' lines)");
  return c;
}

Result<TaskClassifier> TaskClassifier::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return io_error("cannot open task keyword file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("cannot read task keyword file '" + path + "'");
  return from_text(ss.str(), path);
}

TaskClassifier TaskClassifier::builtin() {
  Result<TaskClassifier> c = from_text(kBuiltin, "<built-in task keywords>");
  assert(c.ok());  // the built-in text is tested to parse
  return std::move(c).value();
}

std::string_view builtin_task_keywords() { return kBuiltin; }

TaskClassification TaskClassifier::classify(std::string_view prompt) const {
  const std::string text = normalise(prompt);
  TaskClassification r;
  for (TaskType t : kAllTasks) {
    double s = 0.0;
    for (const TaskKeyword& kw : keywords(t)) {
      if (contains_keyword(text, kw.text)) s += kw.weight;
    }
    r.scores[static_cast<size_t>(task_index(t))] = s;
  }
  double best = 0.0;
  int n_best = 0;
  TaskType winner = default_;
  for (TaskType t : kAllTasks) {
    const double s = r.scores[static_cast<size_t>(task_index(t))];
    if (s > best) {
      best = s;
      n_best = 1;
      winner = t;
    } else if (s == best && s > 0.0) {
      ++n_best;
    }
  }
  if (n_best == 1) {
    r.task = winner;
    r.score = best;
    r.matched = true;
  } else {
    r.task = default_;
    r.score = r.scores[static_cast<size_t>(task_index(default_))];
    r.matched = false;
  }
  return r;
}

}  // namespace emoe::sched
