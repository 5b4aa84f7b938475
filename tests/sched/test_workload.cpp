// Workloads: JSONL parsing and its line-numbered errors, prompt files, the committed demo
// workload, and generated workloads (Poisson arrivals, task mix, limits, reproducibility).
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/sched/workload.h"

using namespace emoe;
using sched::TaskType;

namespace {

std::string resources_dir() {
  return (std::filesystem::path(EMOE_TEST_DATA_DIR) / ".." / ".." / "resources").string();
}

const char* kGood =
    "{\"task\": \"qa\", \"text\": \"Who?\", \"arrival_ms\": 0, \"slo_ttft_ms\": 500, "
    "\"slo_e2e_ms\": 3000, \"max_new_tokens\": 64}\n"
    "\n"
    "{\"text\":\"caf\\u00e9 \\\"quoted\\\"\\n\\ud83d\\ude00\",\"arrival_ms\":12.5e0,"
    "\"max_new_tokens\":1,\"task\":null,\"slo_ttft_ms\":null}\r\n"
    "  {\"task\": \"CONV\", \"text\": \"hi\", \"arrival_ms\": 12.5, \"max_new_tokens\": 2}";

void expect_error(const std::string& line2, std::initializer_list<const char*> fragments) {
  const std::string text =
      std::string("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1}\n") + line2 + "\n";
  auto r = sched::parse_workload_jsonl(text, "w.jsonl");
  QVERIFY2(!r.ok(), line2.c_str());
  QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
  const std::string msg = r.status().message();
  QVERIFY2(msg.find("w.jsonl:2") != std::string::npos, msg.c_str());
  for (const char* f : fragments) QVERIFY2(msg.find(f) != std::string::npos, msg.c_str());
}

sched::TaskPrompts small_prompts() {
  sched::TaskPrompts p;
  for (TaskType t : sched::kAllTasks) {
    for (int i = 0; i < 3; ++i) {
      p[static_cast<size_t>(sched::task_index(t))].push_back(std::string(sched::task_name(t)) +
                                                             " prompt " + std::to_string(i));
    }
  }
  return p;
}

}  // namespace

class TestWorkload : public QObject {
  Q_OBJECT

 private slots:
  void parses_requests() {
    auto r = sched::parse_workload_jsonl(kGood);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->size(), size_t{3});
    const sched::Request& a = (*r)[0];
    QCOMPARE(a.task, std::optional<TaskType>(TaskType::QA));
    QCOMPARE(a.text, std::string("Who?"));
    QCOMPARE(a.arrival_ms, 0.0);
    QCOMPARE(a.slo_ttft_ms, 500.0);
    QCOMPARE(a.slo_e2e_ms, 3000.0);
    QCOMPARE(a.max_new_tokens, 64);
    const sched::Request& b = (*r)[1];
    QVERIFY(!b.task);
    QCOMPARE(b.text, std::string("caf\xc3\xa9 \"quoted\"\n\xf0\x9f\x98\x80"));
    QCOMPARE(b.arrival_ms, 12.5);
    QCOMPARE(b.slo_ttft_ms, 0.0);
    QCOMPARE(b.slo_e2e_ms, 0.0);
    QCOMPARE((*r)[2].task, std::optional<TaskType>(TaskType::Conversation));

    // Writing and reading back gives the same requests.
    auto again = sched::parse_workload_jsonl(sched::workload_to_jsonl(*r));
    QVERIFY2(again.ok(), again.status().message().c_str());
    QCOMPARE(again->size(), r->size());
    for (size_t i = 0; i < r->size(); ++i) {
      QCOMPARE((*again)[i].task, (*r)[i].task);
      QCOMPARE((*again)[i].text, (*r)[i].text);
      QCOMPARE((*again)[i].arrival_ms, (*r)[i].arrival_ms);
      QCOMPARE((*again)[i].slo_ttft_ms, (*r)[i].slo_ttft_ms);
      QCOMPARE((*again)[i].slo_e2e_ms, (*r)[i].slo_e2e_ms);
      QCOMPARE((*again)[i].max_new_tokens, (*r)[i].max_new_tokens);
    }
  }

  void reports_errors_with_line_numbers() {
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1}", {"missing \"max_new_tokens\""});
    expect_error("{\"arrival_ms\": 1, \"max_new_tokens\": 1}", {"missing \"text\""});
    expect_error("{\"text\": \"a\", \"max_new_tokens\": 1}", {"missing \"arrival_ms\""});
    expect_error("{\"text\": \"\", \"arrival_ms\": 1, \"max_new_tokens\": 1}", {"empty"});
    expect_error("{\"text\": 5, \"arrival_ms\": 1, \"max_new_tokens\": 1}",
                 {"\"text\" must be a string, not a number"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": -1, \"max_new_tokens\": 1}", {">= 0"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 0.5, \"max_new_tokens\": 1}",
                 {"earlier than the previous"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1.5}", {"integer"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 0}", {"integer"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1, \"slo_e2e_ms\": 0}",
                 {"slo_e2e_ms", "> 0"});
    expect_error(
        "{\"task\": \"poetry\", \"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1}",
        {"unknown task \"poetry\""});
    expect_error("{\"txt\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1}",
                 {"unknown key \"txt\""});
    expect_error("{\"text\": \"a\", \"text\": \"b\", \"arrival_ms\": 1, \"max_new_tokens\": 1}",
                 {"duplicate key"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1", {"column"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": [1], \"max_new_tokens\": 1}", {"nested"});
    expect_error("{\"text\": \"a\\q\", \"arrival_ms\": 1, \"max_new_tokens\": 1}",
                 {"invalid escape"});
    expect_error("{\"text\": \"\\ud800\", \"arrival_ms\": 1, \"max_new_tokens\": 1}",
                 {"surrogate"});
    expect_error("{\"text\": \"\xff\", \"arrival_ms\": 1, \"max_new_tokens\": 1}", {"UTF-8"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 01, \"max_new_tokens\": 1}", {"column"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1e999, \"max_new_tokens\": 1}", {"range"});
    expect_error("{\"text\": \"a\", \"arrival_ms\": 1, \"max_new_tokens\": 1} x", {"after"});
    expect_error("[1, 2]", {"expected a JSON object"});

    auto empty = sched::parse_workload_jsonl("\n\n", "e.jsonl");
    QVERIFY(!empty.ok());
    QVERIFY(empty.status().message().find("no requests") != std::string::npos);
    auto missing = sched::load_workload_jsonl("/nonexistent/w.jsonl");
    QCOMPARE(missing.status().code(), StatusCode::IoError);
  }

  void prompt_files() {
    auto p = sched::parse_prompt_lines("first\n\nsecond prompt\r\n", "p.txt");
    QVERIFY2(p.ok(), p.status().message().c_str());
    QCOMPARE(*p, (std::vector<std::string>{"first", "second prompt"}));
    auto tab = sched::parse_prompt_lines("ok\nbad\tline\n", "p.txt");
    QVERIFY(!tab.ok());
    QVERIFY(tab.status().message().find("p.txt:2:") != std::string::npos);
    auto utf = sched::parse_prompt_lines("ok\nok\nbad \xc3\x28\n", "p.txt");
    QVERIFY(!utf.ok());
    QVERIFY2(utf.status().message().find("p.txt:3:") != std::string::npos,
             utf.status().message().c_str());
    QVERIFY(!sched::parse_prompt_lines("\n \n", "p.txt").ok());

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto missing = sched::load_task_prompts(dir.path().toStdString());
    QVERIFY(!missing.ok());
    QCOMPARE(missing.status().code(), StatusCode::IoError);
    QVERIFY(missing.status().message().find("summarization.txt") != std::string::npos);
  }

  // The committed resources: five prompt sets of >= 200 prompts and a 500-request mixed
  // workload with every task, increasing arrivals at about 2 requests/s.
  void committed_resources() {
    auto prompts = sched::load_task_prompts(resources_dir() + "/workloads");
    QVERIFY2(prompts.ok(), prompts.status().message().c_str());
    for (const auto& list : *prompts) QVERIFY(list.size() >= 200);
    auto w = sched::load_workload_jsonl(resources_dir() + "/workloads/demo_mixed.jsonl");
    QVERIFY2(w.ok(), w.status().message().c_str());
    QCOMPARE(w->size(), size_t{500});
    std::array<int, sched::kTaskCount> count{};
    for (const sched::Request& r : *w) {
      QVERIFY(r.task);
      ++count[static_cast<size_t>(sched::task_index(*r.task))];
      QVERIFY(r.slo_ttft_ms > 0 && r.slo_e2e_ms > r.slo_ttft_ms && r.max_new_tokens > 0);
    }
    for (int c : count) QVERIFY(c >= 60);
    const double rate = 1000.0 * static_cast<double>(w->size()) / w->back().arrival_ms;
    QVERIFY2(rate > 1.7 && rate < 2.3, std::to_string(rate).c_str());
  }

  void generated_arrivals_are_poisson() {
    sched::WorkloadOptions o;
    o.seed = 42;
    o.n_requests = 10000;
    o.rate_per_s = 4.0;
    auto w = sched::generate_workload(small_prompts(), o);
    QVERIFY2(w.ok(), w.status().message().c_str());
    QCOMPARE(w->size(), size_t{10000});
    double prev = 0, sum = 0, sum2 = 0;
    for (const sched::Request& r : *w) {
      const double gap = r.arrival_ms - prev;
      QVERIFY(gap >= 0);
      sum += gap;
      sum2 += gap * gap;
      prev = r.arrival_ms;
    }
    const double n = static_cast<double>(w->size());
    const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
    qInfo("mean inter-arrival %.2f ms (expected 250), sd %.2f ms (exponential: 250)", mean, sd);
    QVERIFY(std::abs(mean - 250.0) < 0.05 * 250.0);
    QVERIFY(std::abs(sd - 250.0) < 0.10 * 250.0);  // exponential: sd equals the mean

    // Same seed, same workload; another seed, another one.
    auto again = sched::generate_workload(small_prompts(), o);
    QVERIFY(again.ok());
    QCOMPARE(again->back().arrival_ms, w->back().arrival_ms);
    QCOMPARE(again->back().text, w->back().text);
    o.seed = 43;
    auto other = sched::generate_workload(small_prompts(), o);
    QVERIFY(other.ok() && other->back().arrival_ms != w->back().arrival_ms);
  }

  void generated_tasks_follow_weights() {
    sched::WorkloadOptions o;
    o.seed = 7;
    o.n_requests = 10000;
    o.task_weights = {4, 0, 1, 2, 3};
    o.start_ms = 1000;
    const sched::TaskPrompts prompts = small_prompts();
    auto w = sched::generate_workload(prompts, o);
    QVERIFY2(w.ok(), w.status().message().c_str());
    QVERIFY(w->front().arrival_ms > 1000);
    std::array<double, sched::kTaskCount> count{};
    const auto limits = sched::default_task_limits();
    for (const sched::Request& r : *w) {
      const auto i = static_cast<size_t>(sched::task_index(*r.task));
      ++count[i];
      // The prompt comes from the task's own list, limits from the task's limits.
      QVERIFY(std::find(prompts[i].begin(), prompts[i].end(), r.text) != prompts[i].end());
      QCOMPARE(r.max_new_tokens, limits[i].max_new_tokens);
      QCOMPARE(r.slo_ttft_ms, limits[i].slo_ttft_ms);
      QCOMPARE(r.slo_e2e_ms, limits[i].slo_e2e_ms);
    }
    const double total = 10.0;
    for (size_t i = 0; i < sched::kTaskCount; ++i) {
      const double p = o.task_weights[i] / total;
      const double expected = p * 10000.0;
      const double sigma = std::sqrt(10000.0 * p * (1 - p));
      QVERIFY2(std::abs(count[i] - expected) <= 4 * sigma + 1e-9, std::to_string(i).c_str());
    }
    QCOMPARE(count[1], 0.0);
  }

  void generator_rejects_bad_options() {
    sched::WorkloadOptions o;
    o.rate_per_s = 0;
    QVERIFY(!sched::generate_workload(small_prompts(), o).ok());
    o = {};
    o.task_weights = {0, 0, 0, 0, 0};
    QVERIFY(!sched::generate_workload(small_prompts(), o).ok());
    o = {};
    o.task_weights = {1, -1, 0, 0, 0};
    QVERIFY(!sched::generate_workload(small_prompts(), o).ok());
    o = {};
    sched::TaskPrompts p = small_prompts();
    p[2].clear();
    auto r = sched::generate_workload(p, o);
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("qa") != std::string::npos);
    o.task_weights[2] = 0;
    QVERIFY(sched::generate_workload(p, o).ok());
    o = {};
    o.limits[0].max_new_tokens = 0;
    QVERIFY(!sched::generate_workload(small_prompts(), o).ok());
  }
};

QTEST_GUILESS_MAIN(TestWorkload)
#include "test_workload.moc"
