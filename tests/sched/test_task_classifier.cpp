// TaskClassifier: hand-written prompts with known answers, the matching rules (case, word
// boundaries, weights, ties, default), malformed profile files with line numbers, and the
// accuracy on the committed workloads (resources/workloads/<task>.txt).
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/sched/task_classifier.h"
#include "core/sched/workload.h"

using namespace emoe;
using sched::TaskType;

namespace {

// The repository root: EMOE_TEST_DATA_DIR is <repo>/tests/data.
std::string resources_dir() {
  return (std::filesystem::path(EMOE_TEST_DATA_DIR) / ".." / ".." / "resources").string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Expects from_text to fail with a message containing every fragment.
void expect_error(const std::string& text, std::initializer_list<const char*> fragments) {
  auto r = sched::TaskClassifier::from_text(text, "kw.txt");
  QVERIFY2(!r.ok(), text.c_str());
  QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
  for (const char* f : fragments) {
    QVERIFY2(r.status().message().find(f) != std::string::npos, r.status().message().c_str());
  }
}

}  // namespace

class TestTaskClassifier : public QObject {
  Q_OBJECT

 private slots:
  void task_names_round_trip() {
    for (TaskType t : sched::kAllTasks) {
      QCOMPARE(sched::parse_task(sched::task_name(t)), std::optional<TaskType>(t));
    }
    QCOMPARE(sched::parse_task("CLSFY"), std::optional<TaskType>(TaskType::Classification));
    QCOMPARE(sched::parse_task(" Conv "), std::optional<TaskType>(TaskType::Conversation));
    QVERIFY(!sched::parse_task("translation"));
  }

  void builtin_profiles_match_the_resource_file() {
    const std::string file = read_all(resources_dir() + "/task_keywords.txt");
    QVERIFY(!file.empty());
    QVERIFY(file == std::string(sched::builtin_task_keywords()));
    auto c = sched::TaskClassifier::load(resources_dir() + "/task_keywords.txt");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->default_task(), TaskType::Conversation);
    for (TaskType t : sched::kAllTasks) QVERIFY(!c->keywords(t).empty());
  }

  void hand_written_prompts() {
    const sched::TaskClassifier c = sched::TaskClassifier::builtin();
    const std::vector<std::pair<const char*, TaskType>> cases = {
        {"Summarize the following text: the river flooded twice this spring.",
         TaskType::Summarization},
        {"Write a synopsis for the following text. A dog finds its way home.",
         TaskType::Summarization},
        {"The council met on Monday and agreed a budget. TL;DR:", TaskType::Summarization},
        {"Classify the sentiment of this tweet: $XYZ to the moon", TaskType::Classification},
        {"Which category does this review belong to: sport or politics?", TaskType::Classification},
        {"Is this bullish or bearish? Shares fell 10% today", TaskType::Classification},
        {"Who was the first president of the republic?", TaskType::QA},
        {"When did the bridge open?", TaskType::QA},
        {"Context: The lake freezes in January. Question: When does the lake freeze?",
         TaskType::QA},
        {"Compare Rust and Go for writing servers.", TaskType::Comparison},
        {"What is the difference between a virus and a bacterium?", TaskType::Comparison},
        {"Cats versus dogs: which is better?", TaskType::Comparison},
        {"Hello! I'm bored today, what should we talk about?", TaskType::Conversation},
        {"Hi there, thanks for yesterday's help.", TaskType::Conversation},
        // No keyword at all: the default.
        {"The quick brown fox jumps over the lazy dog.", TaskType::Conversation},
        {"", TaskType::Conversation},
    };
    for (const auto& [prompt, want] : cases) {
      const sched::TaskClassification r = c.classify(prompt);
      QVERIFY2(r.task == want,
               (std::string(prompt) + " -> " + std::string(sched::task_name(r.task))).c_str());
    }
    const sched::TaskClassification none = c.classify("Plain words only.");
    QVERIFY(!none.matched);
    QCOMPARE(none.score, 0.0);
  }

  void matching_rules() {
    auto c = sched::TaskClassifier::from_text(
        "default: qa\n"
        "summarization: sum up*2, tl;dr\n"
        "classification: label*2, cat\n"
        "comparison: versus, ?\n");
    QVERIFY2(c.ok(), c.status().message().c_str());
    // Case-insensitive, whitespace runs in the text match the keyword's single space.
    sched::TaskClassification r = c->classify("Please SUM \t  UP this");
    QCOMPARE(r.task, TaskType::Summarization);
    QCOMPARE(r.score, 2.0);
    QVERIFY(r.matched);
    // Word boundaries: "cat" is not in "category" nor "scat"; "label" is in "label:".
    QCOMPARE(c->classify("category scat").task, TaskType::QA);  // default
    QCOMPARE(c->classify("category scat").score, 0.0);
    r = c->classify("label: cat");
    QCOMPARE(r.task, TaskType::Classification);
    QCOMPARE(r.score, 3.0);
    // Punctuation-edged keywords match as written, even inside words.
    QCOMPARE(c->classify("tl;dr").task, TaskType::Summarization);
    QCOMPARE(c->classify("why?").task, TaskType::Comparison);
    // Each keyword counts once, however often it occurs.
    QCOMPARE(c->classify("versus versus versus").score, 1.0);
    // A tie between the best tasks goes to the default, scores are still reported.
    r = c->classify("tl;dr versus");
    QCOMPARE(r.task, TaskType::QA);
    QVERIFY(!r.matched);
    QCOMPARE(r.scores[sched::task_index(TaskType::Summarization)], 1.0);
    QCOMPARE(r.scores[sched::task_index(TaskType::Comparison)], 1.0);
    // The weight breaks what would be a tie.
    QCOMPARE(c->classify("sum up versus").task, TaskType::Summarization);
    // Non-ASCII letters are word characters: "cat" inside "caté" does not match.
    QCOMPARE(c->classify("cat\xc3\xa9").score, 0.0);
    // Fractional weights and several lines for one task add up.
    auto d = sched::TaskClassifier::from_text(
        "qa: who*0.5\nqa: whom*0.25\n# comment\n\n   default : comparison  \n");
    QVERIFY2(d.ok(), d.status().message().c_str());
    QCOMPARE(d->keywords(TaskType::QA).size(), size_t{2});
    QCOMPARE(d->classify("who and whom").score, 0.75);
    QCOMPARE(d->default_task(), TaskType::Comparison);
  }

  void malformed_files() {
    expect_error("default: qa\nsummarization summarize\n", {"kw.txt:2:", "expected"});
    expect_error("default: qa\ntranslation: translate\n", {"kw.txt:2:", "unknown task"});
    expect_error("default: poetry\nqa: what\n", {"kw.txt:1:", "unknown default task"});
    expect_error("default: qa\ndefault: qa\nqa: what\n", {"kw.txt:2:", "second time"});
    expect_error("qa: what\n", {"kw.txt", "no 'default"});
    expect_error("default: qa\n# nothing else\n", {"no keyword profiles"});
    expect_error("default: qa\n\nqa: what,, who\n", {"kw.txt:3:", "keyword 2", "empty"});
    expect_error("default: qa\nqa: what,\n", {"kw.txt:2:", "keyword 2", "empty"});
    expect_error("default: qa\nqa: what*x\n", {"kw.txt:2:", "weight '*x'"});
    expect_error("default: qa\nqa: what*0\n", {"kw.txt:2:", "positive"});
    expect_error("default: qa\nqa: what*-1\n", {"kw.txt:2:", "positive"});
    expect_error("default: qa\nqa: what*\n", {"kw.txt:2:", "positive"});
    expect_error("default: qa\nqa: what, What\n", {"kw.txt:2:", "twice"});
    expect_error("default: qa\nqa:\n", {"kw.txt:2:", "no keywords"});
    auto missing = sched::TaskClassifier::load("/nonexistent/dir/keywords.txt");
    QVERIFY(!missing.ok());
    QCOMPARE(missing.status().code(), StatusCode::IoError);
    QVERIFY(missing.status().message().find("/nonexistent/dir/keywords.txt") != std::string::npos);
  }

  // On the committed workloads: per task, of the prompts that carry at least one of the
  // task's own keywords, >= 90% are classified as that task; and some prompts carry no cue
  // (they exercise the default).
  void accuracy_on_committed_workloads() {
    const sched::TaskClassifier c = sched::TaskClassifier::builtin();
    auto prompts = sched::load_task_prompts(resources_dir() + "/workloads");
    QVERIFY2(prompts.ok(), prompts.status().message().c_str());
    int64_t cueless_total = 0;
    for (TaskType t : sched::kAllTasks) {
      const auto& list = (*prompts)[static_cast<size_t>(sched::task_index(t))];
      QVERIFY(list.size() >= 200);
      int64_t cued = 0, right = 0, right_all = 0;
      for (const std::string& p : list) {
        const sched::TaskClassification r = c.classify(p);
        right_all += r.task == t;
        if (r.scores[static_cast<size_t>(sched::task_index(t))] > 0) {
          ++cued;
          right += r.task == t;
        }
      }
      const double acc = static_cast<double>(right) / static_cast<double>(cued);
      const double cued_share = static_cast<double>(cued) / static_cast<double>(list.size());
      qInfo("%-15s prompts %zu, with cues %.1f%%, accuracy on those %.1f%%, overall %.1f%%",
            std::string(sched::task_name(t)).c_str(), list.size(), 100 * cued_share, 100 * acc,
            100.0 * static_cast<double>(right_all) / static_cast<double>(list.size()));
      QVERIFY2(acc >= 0.90, std::string(sched::task_name(t)).c_str());
      QVERIFY(cued_share >= 0.75);
      cueless_total += static_cast<int64_t>(list.size()) - cued;
    }
    QVERIFY(cueless_total >= 50);
  }
};

QTEST_GUILESS_MAIN(TestTaskClassifier)
#include "test_task_classifier.moc"
