// Experiment configurations: defaults, every key read, the canonical JSON round trip, relative
// paths, the shipped resources/experiments files, every validation rule with a bad case whose
// message names the file, the line (counted by hand: documents are built one line per entry)
// and the field, and the matrix expansion (order, collapsing, duplicates).
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "core/common/json_reader.h"
#include "core/experiment/experiment_config.h"
#include "core/experiment/experiment_matrix.h"

using namespace emoe;
using namespace emoe::experiment;
using engine::RoutingMode;

namespace {

std::string resources_dir() {
  return (std::filesystem::path(EMOE_TEST_DATA_DIR) / ".." / ".." / "resources").string();
}

// One entry per line, so a value on entry i sits on line i + 1.
std::string lines(std::initializer_list<const char*> entries) {
  std::string s;
  for (const char* e : entries) s += std::string(e) + "\n";
  return s;
}

// The first field that differs, "" when every field is equal (source is not compared).
std::string difference(const ExperimentConfig& a, const ExperimentConfig& b) {
  const WorkloadSpec& wa = a.workload;
  const WorkloadSpec& wb = b.workload;
  const ServingSpec& sa = a.serving;
  const ServingSpec& sb = b.serving;
  const CapacitySpec& ca = a.capacity;
  const CapacitySpec& cb = b.capacity;
  const std::pair<const char*, bool> checks[] = {
      {"name", a.name == b.name},
      {"model", a.model == b.model},
      {"workload.file", wa.file == wb.file},
      {"workload.requests", wa.requests == wb.requests},
      {"workload.seed", wa.seed == wb.seed},
      {"workload.task_weights", wa.task_weights == wb.task_weights},
      {"workload.max_new_tokens_cap", wa.max_new_tokens_cap == wb.max_new_tokens_cap},
      {"workload.slo_scale", wa.slo_scale == wb.slo_scale},
      {"workload.max_new_tokens_scale", wa.max_new_tokens_scale == wb.max_new_tokens_scale},
      {"budgets", a.budgets == b.budgets},
      {"predictors", a.predictors == b.predictors},
      {"intervals", a.intervals == b.intervals},
      {"schedulers", a.schedulers == b.schedulers},
      {"arrival_rates", a.arrival_rates == b.arrival_rates},
      {"routing", a.routing == b.routing},
      {"seeds", a.seeds == b.seeds},
      {"serving.max_sequences", sa.max_sequences == sb.max_sequences},
      {"serving.max_batch_tokens", sa.max_batch_tokens == sb.max_batch_tokens},
      {"serving.prefill_chunk", sa.prefill_chunk == sb.prefill_chunk},
      {"serving.max_tokens", sa.max_tokens == sb.max_tokens},
      {"serving.clock", sa.clock == sb.clock},
      {"serving.step_ms", sa.cost.step_ms == sb.cost.step_ms},
      {"serving.token_ms", sa.cost.token_ms == sb.cost.token_ms},
      {"serving.starvation_ms", sa.starvation_ms == sb.starvation_ms},
      {"profile_requests", a.profile_requests == b.profile_requests},
      {"accuracy", a.accuracy == b.accuracy},
      {"n_threads", a.n_threads == b.n_threads},
      {"device", a.device == b.device},
      {"capacity.enabled", ca.enabled == cb.enabled},
      {"capacity.device_bytes", ca.device_bytes == cb.device_bytes},
      {"capacity.budgets", ca.budgets == cb.budgets},
      {"capacity.prompt_tokens", ca.prompt_tokens == cb.prompt_tokens},
      {"capacity.batch", ca.batch == cb.batch},
      {"capacity.generate_tokens", ca.generate_tokens == cb.generate_tokens},
      {"capacity.max_batch_limit", ca.max_batch_limit == cb.max_batch_limit},
  };
  for (const auto& [field, same] : checks) {
    if (!same) return field;
  }
  return "";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

class TestExperimentConfig : public QObject {
  Q_OBJECT

 private slots:
  void empty_object_gives_defaults() {
    auto c = parse_experiment_config("{}");
    QVERIFY2(c.ok(), c.status().message().c_str());
    const ExperimentConfig defaults;
    QCOMPARE(difference(*c, defaults), std::string());
    QCOMPARE(c->source, std::string());
    // The defaults the documentation promises.
    QCOMPARE(c->name, std::string("experiment"));
    QCOMPARE(c->device, std::string("cpu"));
    QCOMPARE(c->workload.requests, int64_t{40});
    QCOMPARE(c->budgets, std::vector<std::string>{"60%"});
    QCOMPARE(c->intervals, std::vector<int32_t>{40});
    QCOMPARE(c->serving.cost.step_ms, 1.0);
    QCOMPARE(c->serving.cost.token_ms, 0.0);  // 0: the profiled per-token cost
    QVERIFY(c->serving.clock == sched::ClockKind::Virtual);
    QVERIFY(!c->capacity.enabled);
  }

  void reads_every_key() {
    const std::string text = lines({
        "{\"name\": \"full\", \"model\": \"m.gguf\",",
        " \"workload\": {\"file\": \"w.jsonl\", \"requests\": 1e3, \"seed\": 7,",
        "   \"task_weights\": {\"qa\": 2, \"SUM\": 0.5}, \"max_new_tokens_cap\": 12,",
        "   \"slo_scale\": 1.5},",
        " \"matrix\": {\"budgets\": [\"1.5G\", \"25%\", \"4e\", \"512K\", \"100MiB\", \"1024\"],",
        "   \"predictors\": [\"none\", \"emoe-l\", \"oracle\"], \"intervals\": [1, 200, 40.0],",
        "   \"schedulers\": [\"SJF\", \"fcfs\"], \"arrival_rates\": [0, 0.25],",
        "   \"routing\": [\"all\", \"exact\", \"fallback\"], \"seeds\": [0, 3]},",
        " \"serving\": {\"max_sequences\": 8, \"max_batch_tokens\": 512, \"prefill_chunk\": 64,",
        "   \"max_tokens\": 4096, \"clock\": \"wall\", \"step_ms\": 2.5, \"token_ms\": 0.2,",
        "   \"starvation_ms\": 100},",
        " \"profile_requests\": 0, \"accuracy\": false, \"threads\": 4, \"device\": \"cuda:1\",",
        " \"capacity\": {\"enabled\": true, \"device_bytes\": \"2G\", \"budgets\": [\"50%\"],",
        "   \"prompt_tokens\": 128, \"batch\": 2, \"generate_tokens\": 8, \"max_batch_limit\": "
        "64}}",
    });
    auto c = parse_experiment_config(text, "full.json");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->name, std::string("full"));
    QCOMPARE(c->model, std::string("m.gguf"));  // parse leaves paths as written
    QCOMPARE(c->workload.file, std::string("w.jsonl"));
    QCOMPARE(c->workload.requests, int64_t{1000});
    QCOMPARE(c->workload.seed, uint64_t{7});
    // Listed tasks get their weight, the others 0 (summarization given by its paper label).
    const std::array<double, sched::kTaskCount> weights = {0.5, 0, 2, 0, 0};
    QVERIFY(c->workload.task_weights == weights);
    QCOMPARE(c->workload.max_new_tokens_cap, 12);
    QCOMPARE(c->workload.slo_scale, 1.5);
    QCOMPARE(c->budgets, (std::vector<std::string>{"1.5G", "25%", "4e", "512K", "100MiB", "1024"}));
    QCOMPARE(c->predictors, (std::vector<std::string>{"none", "emoe-l", "oracle"}));
    QCOMPARE(c->intervals, (std::vector<int32_t>{1, 200, 40}));
    QCOMPARE(c->schedulers, (std::vector<std::string>{"sjf", "fcfs"}));  // canonical names
    QCOMPARE(c->arrival_rates, (std::vector<double>{0, 0.25}));  // 0 allowed: a file is given
    QVERIFY(c->routing == (std::vector<RoutingMode>{RoutingMode::All, RoutingMode::Exact,
                                                    RoutingMode::Fallback}));
    QCOMPARE(c->seeds, (std::vector<uint64_t>{0, 3}));
    QCOMPARE(c->serving.max_sequences, 8);
    QCOMPARE(c->serving.max_batch_tokens, int64_t{512});
    QCOMPARE(c->serving.prefill_chunk, int64_t{64});
    QCOMPARE(c->serving.max_tokens, int64_t{4096});
    QVERIFY(c->serving.clock == sched::ClockKind::Wall);
    QCOMPARE(c->serving.cost.step_ms, 2.5);
    QCOMPARE(c->serving.cost.token_ms, 0.2);
    QCOMPARE(c->serving.starvation_ms, 100.0);
    QCOMPARE(c->profile_requests, 0);
    QCOMPARE(c->accuracy, false);
    QCOMPARE(c->n_threads, 4);
    QCOMPARE(c->device, std::string("cuda:1"));  // syntax only: no GPU is needed to parse it
    QCOMPARE(c->capacity.enabled, true);
    QCOMPARE(c->capacity.device_bytes, uint64_t{2} << 30);
    QCOMPARE(c->capacity.budgets, std::vector<std::string>{"50%"});
    QCOMPARE(c->capacity.prompt_tokens, int64_t{128});
    QCOMPARE(c->capacity.batch, 2);
    QCOMPARE(c->capacity.generate_tokens, 8);
    QCOMPARE(c->capacity.max_batch_limit, 64);

    // Round trip of this configuration through the canonical JSON.
    auto again = parse_experiment_config(experiment_config_to_json(*c));
    QVERIFY2(again.ok(), again.status().message().c_str());
    QCOMPARE(difference(*again, *c), std::string());
  }

  void canonical_json_round_trips() {
    ExperimentConfig c;
    c.name = "quote \" backslash \\ and caf\xC3\xA9";
    c.model = "/models/x.gguf";
    c.workload.file = "";
    c.workload.requests = 999999;
    c.workload.seed = (uint64_t{1} << 63) - 1;
    c.workload.task_weights = {0.1, 1.0 / 3.0, 0, 7, 1e-7};
    c.workload.max_new_tokens_cap = 5;
    c.workload.slo_scale = 0.7;
    c.workload.max_new_tokens_scale = 0.25;
    c.budgets = {"100%", "0.5G", "3e"};
    c.predictors = {"random", "none"};
    c.intervals = {7, 3};
    c.schedulers = {"fcfs", "emoe"};
    c.arrival_rates = {0.1, 1.0 / 3.0, 123456.789};
    c.routing = {RoutingMode::Exact};
    c.seeds = {9, 0};
    c.serving.max_sequences = 4096;
    c.serving.max_batch_tokens = 1;
    c.serving.clock = sched::ClockKind::Measured;
    c.serving.cost = {0.123456789012345, 1e-9, {}};
    c.serving.starvation_ms = 12.5;
    c.profile_requests = 3;
    c.accuracy = false;
    c.n_threads = 256;
    c.device = "cuda";
    c.capacity.enabled = true;
    c.capacity.device_bytes = 123456789;
    c.capacity.budgets = {"100%"};
    c.capacity.max_batch_limit = 1;
    const std::string json = experiment_config_to_json(c);
    auto back = parse_experiment_config(json, "canonical");
    QVERIFY2(back.ok(), (back.status().message() + "\n" + json).c_str());
    QCOMPARE(difference(*back, c), std::string());
    // Canonical means stable: writing the parsed configuration gives the same text.
    QCOMPARE(experiment_config_to_json(*back), json);
    // Every key is written, so a reader sees the whole configuration.
    auto doc = parse_json(json);
    QVERIFY(doc.ok());
    QCOMPARE(doc->members().size(), size_t{10});
    QCOMPARE(doc->find("workload")->members().size(), size_t{7});
    QCOMPARE(doc->find("workload")->find("task_weights")->members().size(), size_t{5});
    QCOMPARE(doc->find("matrix")->members().size(), size_t{7});
    QCOMPARE(doc->find("serving")->members().size(), size_t{9});
    QCOMPARE(doc->find("capacity")->members().size(), size_t{7});
    // The defaults round-trip too.
    const ExperimentConfig defaults;
    auto d = parse_experiment_config(experiment_config_to_json(defaults));
    QVERIFY2(d.ok(), d.status().message().c_str());
    QCOMPARE(difference(*d, defaults), std::string());
  }

  void bad_configurations_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("line");
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("problem");
    const auto row = [](const char* tag, const std::string& text, int line, const char* field,
                        const char* problem) {
      QTest::newRow(tag) << QString::fromStdString(text) << line << field << problem;
    };
    // Unknown keys, with and without a close match.
    row("unknown top-level key", lines({"{", "  \"name\": \"x\",", "  \"modle\": \"demo\"", "}"}),
        3, "modle", "unknown key (did you mean 'model'?)");
    row("unknown nested key", lines({"{\"matrix\": {", "  \"budget\": [\"60%\"]}}"}), 2,
        "matrix.budget", "did you mean 'budgets'?");
    row("unknown key far from all", lines({"{\"serving\": {\"zzzzzzzz\": 1}}"}), 1,
        "serving.zzzzzzzz", "known keys: max_sequences, max_batch_tokens");
    row("unknown capacity key", lines({"{", "\"capacity\": {", "\"enable\": true}}"}), 3,
        "capacity.enable", "did you mean 'enabled'?");
    // Wrong types.
    row("name is a number", lines({"{", "\"name\": 3}"}), 2, "name", "expected a string");
    row("name empty", lines({"{\"name\": \"\"}"}), 1, "name", "must not be empty");
    row("model is null", lines({"{", "", "\"model\": null}"}), 3, "model", "got null");
    row("workload is an array", lines({"{", "\"workload\": []}"}), 2, "workload",
        "expected an object, got an array");
    row("accuracy is a string", lines({"{", "\"accuracy\": \"yes\"}"}), 2, "accuracy",
        "expected true or false");
    row("budgets not a list", lines({"{\"matrix\": {", "\"budgets\": \"60%\"}}"}), 2,
        "matrix.budgets", "expected an array");
    row("interval is a string", lines({"{\"matrix\": {\"intervals\": [", "40,", "\"10\"]}}"}), 3,
        "matrix.intervals[1]", "expected an integer, got the string \"10\"");
    row("interval has a fraction", lines({"{\"matrix\": {\"intervals\": [2.5]}}"}), 1,
        "matrix.intervals[0]", "expected an integer, got the number 2.5");
    row("clock is a number", lines({"{\"serving\": {", "\"clock\": 1}}"}), 2, "serving.clock",
        "expected a string");
    row("task weight is a string",
        lines({"{\"workload\": {\"task_weights\": {", "\"qa\": \"1\"}}}"}), 2,
        "workload.task_weights.qa", "expected a number");
    // Empty lists and duplicates.
    row("empty budgets", lines({"{\"matrix\": {", "\"budgets\": []}}"}), 2, "matrix.budgets",
        "the list is empty");
    row("empty seeds", lines({"{\"matrix\": {\"seeds\": [", "]}}"}), 1, "matrix.seeds",
        "the list is empty");
    row("duplicate budget", lines({"{\"matrix\": {\"budgets\": [", "\"60%\",", "\"60%\"]}}"}), 3,
        "matrix.budgets[1]", "duplicate entry \"60%\" (same as matrix.budgets[0])");
    row("duplicate scheduler by case",
        lines({"{\"matrix\": {\"schedulers\": [\"fcfs\",", "\"emoe\",", "\"FCFS\"]}}"}), 3,
        "matrix.schedulers[2]", "duplicate entry \"fcfs\" (same as matrix.schedulers[0])");
    row("duplicate routing", lines({"{\"matrix\": {\"routing\": [\"all\", \"all\"]}}"}), 1,
        "matrix.routing[1]", "duplicate entry \"all\"");
    row("duplicate seed", lines({"{\"matrix\": {\"seeds\": [1,", "2,", "1]}}"}), 3,
        "matrix.seeds[2]", "duplicate entry 1");
    row("duplicate rate", lines({"{\"matrix\": {\"arrival_rates\": [2,", "2.0]}}"}), 2,
        "matrix.arrival_rates[1]", "duplicate entry 2");
    row("duplicate interval", lines({"{\"matrix\": {\"intervals\": [40, 40]}}"}), 1,
        "matrix.intervals[1]", "duplicate entry 40");
    row("duplicate predictor", lines({"{\"matrix\": {\"predictors\": [\"none\",\"none\"]}}"}), 1,
        "matrix.predictors[1]", "duplicate entry \"none\"");
    row("duplicate capacity budget",
        lines({"{\"capacity\": {\"budgets\": [", "\"1G\",", "\"1G\"]}}"}), 3, "capacity.budgets[1]",
        "duplicate entry \"1G\"");
    // Arrival rates.
    row("negative rate", lines({"{\"matrix\": {", "\"arrival_rates\": [1, -2]}}"}), 2,
        "matrix.arrival_rates[1]", "must be >= 0, got -2");
    row("zero rate without a file", lines({"{\"matrix\": {", "\"arrival_rates\": [0]}}"}), 2,
        "matrix.arrival_rates[0]", "needs workload.file");
    row("rate too high", lines({"{\"matrix\": {\"arrival_rates\": [2e6]}}"}), 1,
        "matrix.arrival_rates[0]", "at most 1000000");
    // Intervals.
    row("interval 0", lines({"{\"matrix\": {", "\"intervals\": [0]}}"}), 2, "matrix.intervals[0]",
        "must be between 1 and 200, got 0");
    row("interval 201", lines({"{\"matrix\": {\"intervals\": [201]}}"}), 1, "matrix.intervals[0]",
        "between 1 and 200");
    // Budget grammar.
    row("budget word", lines({"{\"matrix\": {", "\"budgets\": [\"lots\"]}}"}), 2,
        "matrix.budgets[0]", "expected a budget");
    row("budget empty", lines({"{\"matrix\": {\"budgets\": [\"\"]}}"}), 1, "matrix.budgets[0]",
        "expected a budget");
    row("budget bad unit", lines({"{\"matrix\": {\"budgets\": [\"12X\"]}}"}), 1,
        "matrix.budgets[0]", "got \"12X\"");
    row("budget lower-case unit", lines({"{\"matrix\": {\"budgets\": [\"512m\"]}}"}), 1,
        "matrix.budgets[0]", "expected a budget");
    row("budget negative", lines({"{\"matrix\": {\"budgets\": [\"-5%\"]}}"}), 1,
        "matrix.budgets[0]", "expected a budget");
    row("budget 0%", lines({"{\"matrix\": {\"budgets\": [\"0%\"]}}"}), 1, "matrix.budgets[0]",
        "> 0 and <= 100");
    row("budget 101%", lines({"{\"matrix\": {\"budgets\": [\"101%\"]}}"}), 1, "matrix.budgets[0]",
        "> 0 and <= 100");
    row("budget 0 experts", lines({"{\"matrix\": {\"budgets\": [\"0e\"]}}"}), 1,
        "matrix.budgets[0]", "whole number >= 1");
    row("budget fractional experts", lines({"{\"matrix\": {\"budgets\": [\"1.5e\"]}}"}), 1,
        "matrix.budgets[0]", "whole number >= 1");
    row("budget 0 bytes", lines({"{\"matrix\": {\"budgets\": [\"0\"]}}"}), 1, "matrix.budgets[0]",
        "0 bytes");
    row("budget dot", lines({"{\"matrix\": {\"budgets\": [\"1.G\"]}}"}), 1, "matrix.budgets[0]",
        "expected a budget");
    row("budget huge", lines({"{\"matrix\": {\"budgets\": [\"9999999999G\"]}}"}), 1,
        "matrix.budgets[0]", "more than 10^18");
    row("budget a number", lines({"{\"matrix\": {\"budgets\": [60]}}"}), 1, "matrix.budgets[0]",
        "expected a string");
    row("capacity budget bad", lines({"{\"capacity\": {", "\"budgets\": [\"60%\", \"x\"]}}"}), 2,
        "capacity.budgets[1]", "expected a budget");
    // Names.
    row("unknown predictor close", lines({"{\"matrix\": {", "\"predictors\": [\"emoe\"]}}"}), 2,
        "matrix.predictors[0]", "unknown predictor \"emoe\" (did you mean 'emoe-a'?)");
    row("unknown predictor far", lines({"{\"matrix\": {\"predictors\": [\"xyzzy-42\"]}}"}), 1,
        "matrix.predictors[0]", "expected one of: emoe-a, emoe-l");
    row("unknown scheduler", lines({"{\"matrix\": {", "\"schedulers\": [\"fifo\"]}}"}), 2,
        "matrix.schedulers[0]", "unknown scheduler \"fifo\" (did you mean 'fcfs'?)");
    row("unknown routing", lines({"{\"matrix\": {", "\"routing\": [\"fallbak\"]}}"}), 2,
        "matrix.routing[0]", "unknown routing mode \"fallbak\" (did you mean 'fallback'?)");
    row("routing is case-sensitive", lines({"{\"matrix\": {\"routing\": [\"ALL\"]}}"}), 1,
        "matrix.routing[0]", "unknown routing mode");
    row("unknown clock", lines({"{\"serving\": {", "\"clock\": \"virtal\"}}"}), 2, "serving.clock",
        "unknown clock \"virtal\" (did you mean 'virtual'?)");
    // Seeds.
    row("negative seed", lines({"{\"matrix\": {", "\"seeds\": [-1]}}"}), 2, "matrix.seeds[0]",
        "must be >= 0, got -1");
    row("fractional seed", lines({"{\"matrix\": {\"seeds\": [1.5]}}"}), 1, "matrix.seeds[0]",
        "expected an integer");
    row("seed beyond int64", lines({"{\"matrix\": {\"seeds\": [1e30]}}"}), 1, "matrix.seeds[0]",
        "must be >= 0");
    row("negative workload seed", lines({"{\"workload\": {", "\"seed\": -3}}"}), 2, "workload.seed",
        "must be >= 0");
    // Workload.
    row("requests 0", lines({"{\"workload\": {", "\"requests\": 0}}"}), 2, "workload.requests",
        "between 1 and 1000000, got 0");
    row("requests too many", lines({"{\"workload\": {\"requests\": 1000001}}"}), 1,
        "workload.requests", "between 1 and 1000000");
    row("negative task weight",
        lines({"{\"workload\": {\"task_weights\": {\"qa\": 1,", "\"comparison\": -1}}}"}), 2,
        "workload.task_weights.comparison", "must be >= 0, got -1");
    row("all task weights zero",
        lines({"{\"workload\": {", "\"task_weights\": {\"qa\": 0, \"conv\": 0}}}"}), 2,
        "workload.task_weights", "every task weight is 0");
    row("empty task weights", lines({"{\"workload\": {\"task_weights\": {}}}"}), 1,
        "workload.task_weights", "every task weight is 0");
    row("unknown task", lines({"{\"workload\": {\"task_weights\": {", "\"qna\": 1}}}"}), 2,
        "workload.task_weights.qna", "unknown task (did you mean 'qa'?)");
    row("task given twice",
        lines({"{\"workload\": {\"task_weights\": {\"qa\": 1,", "\"QA\": 2}}}"}), 2,
        "workload.task_weights.QA", "already given as 'qa'");
    row("negative cap", lines({"{\"workload\": {\"max_new_tokens_cap\": -1}}"}), 1,
        "workload.max_new_tokens_cap", "must be between 0 and");
    row("slo scale 0", lines({"{\"workload\": {", "\"slo_scale\": 0}}"}), 2, "workload.slo_scale",
        "must be > 0, got 0");
    row("output scale negative", lines({"{\"workload\": {", "\"max_new_tokens_scale\": -0.5}}"}), 2,
        "workload.max_new_tokens_scale", "must be > 0");
    // Serving.
    row("max_sequences 0", lines({"{\"serving\": {", "\"max_sequences\": 0}}"}), 2,
        "serving.max_sequences", "between 1 and 4096");
    row("max_sequences 4097", lines({"{\"serving\": {\"max_sequences\": 4097}}"}), 1,
        "serving.max_sequences", "between 1 and 4096");
    row("max_batch_tokens 0", lines({"{\"serving\": {", "\"max_batch_tokens\": 0}}"}), 2,
        "serving.max_batch_tokens", "between 1 and");
    row("negative prefill chunk", lines({"{\"serving\": {\"prefill_chunk\": -1}}"}), 1,
        "serving.prefill_chunk", "between 0 and");
    row("negative max_tokens", lines({"{\"serving\": {\"max_tokens\": -5}}"}), 1,
        "serving.max_tokens", "between 0 and");
    row("negative step_ms", lines({"{\"serving\": {", "\"step_ms\": -0.5}}"}), 2, "serving.step_ms",
        "must be >= 0, got -0.5");
    row("negative token_ms", lines({"{\"serving\": {\"token_ms\": -1}}"}), 1, "serving.token_ms",
        "must be >= 0");
    row("negative starvation", lines({"{\"serving\": {\"starvation_ms\": -1}}"}), 1,
        "serving.starvation_ms", "must be >= 0");
    // Top level numbers.
    row("threads 0", lines({"{", "\"threads\": 0}"}), 2, "threads", "between 1 and 256, got 0");
    row("threads 257", lines({"{\"threads\": 257}"}), 1, "threads", "between 1 and 256");
    row("device gpu", lines({"{", "\"threads\": 2,", "\"device\": \"gpu\"}"}), 3, "device",
        "unknown device \"gpu\"; expected cpu, cuda or cuda:N");
    row("device cuda: without index", lines({"{\"device\": \"cuda:\"}"}), 1, "device",
        "expected cpu, cuda or cuda:N");
    row("device negative index", lines({"{\"device\": \"cuda:-1\"}"}), 1, "device",
        "unknown device");
    row("device CPU upper case", lines({"{\"device\": \"CPU\"}"}), 1, "device", "unknown device");
    row("device number", lines({"{\"device\": 0}"}), 1, "device", "expected a string");
    row("negative profile requests", lines({"{", "\"profile_requests\": -1}"}), 2,
        "profile_requests", "between 0 and");
    // Capacity.
    row("prompt_tokens 0", lines({"{\"capacity\": {", "\"prompt_tokens\": 0}}"}), 2,
        "capacity.prompt_tokens", "between 1 and");
    row("batch 0", lines({"{\"capacity\": {\"batch\": 0}}"}), 1, "capacity.batch", "between 1 and");
    row("generate_tokens 0", lines({"{\"capacity\": {", "", "\"generate_tokens\": 0}}"}), 3,
        "capacity.generate_tokens", "between 1 and");
    row("max_batch_limit 0", lines({"{\"capacity\": {\"max_batch_limit\": 0}}"}), 1,
        "capacity.max_batch_limit", "between 1 and");
    row("device bytes bad unit", lines({"{\"capacity\": {", "\"device_bytes\": \"2X\"}}"}), 2,
        "capacity.device_bytes", "expected bytes");
    row("device bytes percentage", lines({"{\"capacity\": {\"device_bytes\": \"50%\"}}"}), 1,
        "capacity.device_bytes", "expected bytes");
    row("device bytes negative", lines({"{\"capacity\": {\"device_bytes\": -1}}"}), 1,
        "capacity.device_bytes", "must be >= 0");
    row("device bytes boolean", lines({"{\"capacity\": {\"device_bytes\": true}}"}), 1,
        "capacity.device_bytes", "expected bytes as a number or a string");
    row("enabled is a number", lines({"{\"capacity\": {\"enabled\": 1}}"}), 1, "capacity.enabled",
        "expected true or false");
  }

  void bad_configurations() {
    QFETCH(QString, text);
    QFETCH(int, line);
    QFETCH(QString, field);
    QFETCH(QString, problem);
    auto r = parse_experiment_config(text.toStdString(), "exp.json");
    QVERIFY2(!r.ok(), qPrintable(text));
    QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
    const QString msg = QString::fromStdString(r.status().message());
    const QString want = QString("exp.json:%1: field '%2': ").arg(line).arg(field);
    QVERIFY2(msg.startsWith(want), qPrintable(msg + "\n  expected prefix: " + want));
    QVERIFY2(msg.contains(problem), qPrintable(msg + "\n  expected: " + problem));
  }

  void malformed_json_names_line_and_column() {
    // Trailing comma: the '}' after it sits on line 4, column 1.
    auto r = parse_experiment_config(lines({"{", "  \"name\": \"x\",", "  \"threads\": 2,", "}"}),
                                     "bad.json");
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
    QVERIFY2(r.status().message().rfind("bad.json:4:1: malformed JSON: trailing comma", 0) == 0,
             r.status().message().c_str());

    // A duplicate key is malformed too (line 3, column 3: the second "name").
    auto dup = parse_experiment_config(lines({"{", "  \"name\": \"a\",", "  \"name\": \"b\"}"}),
                                       "dup.json");
    QVERIFY(!dup.ok());
    QVERIFY2(dup.status().message().rfind("dup.json:3:3: malformed JSON: duplicate key", 0) == 0,
             dup.status().message().c_str());

    // Numbers JSON cannot hold (1e400) are refused, so every number read is finite.
    auto inf = parse_experiment_config(lines({"{\"matrix\": {", "\"arrival_rates\": [1e400]}}"}),
                                       "inf.json");
    QVERIFY(!inf.ok());
    QVERIFY2(
        inf.status().message().rfind("inf.json:2:19: malformed JSON: number out of range", 0) == 0,
        inf.status().message().c_str());

    for (const char* text : {"", "   ", "{", "{\"name\": }", "nul", "{} {}", "[1,]"}) {
      auto e = parse_experiment_config(text, "x");
      QVERIFY2(!e.ok(), text);
      QVERIFY2(e.status().message().find("malformed JSON") != std::string::npos,
               e.status().message().c_str());
    }
  }

  void top_level_must_be_an_object() {
    for (const char* text : {"[]", "3", "\"demo\"", "null", "\n\ntrue"}) {
      auto r = parse_experiment_config(text, "top.json");
      QVERIFY2(!r.ok(), text);
      QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
      QVERIFY2(r.status().message().find("is a JSON object") != std::string::npos,
               r.status().message().c_str());
    }
    auto r = parse_experiment_config("\n\n[1]", "top.json");
    QVERIFY2(r.status().message().rfind("top.json:3: ", 0) == 0, r.status().message().c_str());
  }

  void load_resolves_relative_paths() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::filesystem::path base = dir.path().toStdString();
    std::filesystem::create_directories(base / "sub");
    const std::string path = (base / "sub" / "exp.json").string();
    write_file(
        path, lines({"{\"model\": \"../models/m.gguf\",", " \"workload\": {\"file\": \"w.jsonl\"},",
                     " \"matrix\": {\"arrival_rates\": [0]}}"}));
    auto c = load_experiment_config(path);
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->source, path);
    QCOMPARE(c->model, (base / "models" / "m.gguf").lexically_normal().string());
    QCOMPARE(c->workload.file, (base / "sub" / "w.jsonl").lexically_normal().string());
    QVERIFY(std::filesystem::path(c->model).is_absolute());

    // "demo" names the built-in model, never a file; absolute paths stay as written.
    write_file(path, "{\"model\": \"demo\", \"workload\": {\"file\": \"/abs/w.jsonl\"}}");
    auto d = load_experiment_config(path);
    QVERIFY2(d.ok(), d.status().message().c_str());
    QCOMPARE(d->model, std::string("demo"));
    QCOMPARE(d->workload.file, std::string("/abs/w.jsonl"));

    // Errors name the file.
    write_file(path, lines({"{", "\"threads\": -1}"}));
    auto bad = load_experiment_config(path);
    QVERIFY(!bad.ok());
    QVERIFY2(bad.status().message().rfind(path + ":2: field 'threads'", 0) == 0,
             bad.status().message().c_str());

    auto missing = load_experiment_config((base / "nope.json").string());
    QVERIFY(!missing.ok());
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY(missing.status().message().find("nope.json") != std::string::npos);

    auto directory = load_experiment_config((base / "sub").string());
    QVERIFY(!directory.ok());
    QVERIFY(directory.status().message().find("directory") != std::string::npos);
  }

  void shipped_experiments_load() {
    auto demo = load_experiment_config(resources_dir() + "/experiments/demo.json");
    QVERIFY2(demo.ok(), demo.status().message().c_str());
    QCOMPARE(demo->model, std::string("demo"));
    QVERIFY(demo->workload.file.empty());
    QCOMPARE(demo->workload.requests, int64_t{40});
    QCOMPARE(demo->workload.max_new_tokens_cap, 0);
    QCOMPARE(demo->workload.max_new_tokens_scale, 0.1);
    QCOMPARE(demo->workload.slo_scale, 0.4);
    QCOMPARE(demo->serving.cost.step_ms, 2.0);
    QCOMPARE(demo->serving.cost.token_ms, 0.5);
    QCOMPARE(demo->serving.expert_load_ms, 1.0);
    QCOMPARE(demo->budgets, (std::vector<std::string>{"100%", "60%"}));
    QCOMPARE(demo->predictors, std::vector<std::string>{"emoe-a"});
    QCOMPARE(demo->intervals, std::vector<int32_t>{40});
    QCOMPARE(demo->schedulers, (std::vector<std::string>{"emoe", "fcfs", "sjf"}));
    QCOMPARE(demo->arrival_rates, (std::vector<double>{10, 20, 40}));
    QVERIFY(demo->routing == std::vector<RoutingMode>{RoutingMode::Fallback});
    QCOMPARE(demo->seeds, std::vector<uint64_t>{1});
    QVERIFY(demo->serving.clock == sched::ClockKind::Virtual);
    QVERIFY(demo->capacity.enabled);
    QCOMPARE(demo->capacity.prompt_tokens, int64_t{32});
    QCOMPARE(demo->capacity.batch, 4);
    QCOMPARE(demo->capacity.generate_tokens, 4);
    QCOMPARE(expand_matrix(*demo).size(), size_t{2 * 3 * 3});

    auto sweep = load_experiment_config(resources_dir() + "/experiments/p_sweep.json");
    QVERIFY2(sweep.ok(), sweep.status().message().c_str());
    QCOMPARE(sweep->model, std::string("demo"));
    QCOMPARE(sweep->budgets, std::vector<std::string>{"60%"});
    QCOMPARE(sweep->predictors, (std::vector<std::string>{"emoe-a", "popularity", "random"}));
    QCOMPARE(sweep->intervals, (std::vector<int32_t>{1, 10, 40, 100}));
    QCOMPARE(sweep->schedulers, std::vector<std::string>{"emoe"});
    QCOMPARE(sweep->arrival_rates.size(), size_t{1});
    QVERIFY(!sweep->capacity.enabled);
    QCOMPARE(expand_matrix(*sweep).size(), size_t{3 * 4});

    // The shipped files are in canonical form up to layout: they round-trip unchanged.
    for (const ExperimentConfig* c : {&*demo, &*sweep}) {
      auto again = parse_experiment_config(experiment_config_to_json(*c));
      QVERIFY2(again.ok(), again.status().message().c_str());
      QCOMPARE(difference(*again, *c), std::string());
    }
  }

  void matrix_order() {
    ExperimentConfig c;
    c.budgets = {"100%", "60%"};
    c.predictors = {"emoe-a", "random"};
    c.intervals = {10, 40};
    c.schedulers = {"emoe", "fcfs"};
    c.arrival_rates = {1, 4};
    c.routing = {RoutingMode::Fallback, RoutingMode::Exact};
    c.seeds = {1, 2};
    const auto points = expand_matrix(c);
    QCOMPARE(points.size(), size_t{128});
    // Seeds vary fastest, budgets slowest.
    QCOMPARE(points[0].label(),
             std::string("budget=100% predictor=emoe-a p=10 sched=emoe rate=1 routing=fallback "
                         "seed=1"));
    QCOMPARE(points[1].seed, uint64_t{2});
    QVERIFY(points[2].routing == RoutingMode::Exact);
    QCOMPARE(points[4].arrival_rate, 4.0);
    QCOMPARE(points[8].scheduler, std::string("fcfs"));
    QCOMPARE(points[16].interval, 40);
    QCOMPARE(points[32].predictor, std::string("random"));
    QCOMPARE(points[64].budget, std::string("60%"));
    QCOMPARE(points[127].label(),
             std::string("budget=60% predictor=random p=40 sched=fcfs rate=4 routing=exact "
                         "seed=2"));
    for (size_t i = 0; i < points.size(); ++i) QCOMPARE(points[i].index, static_cast<int32_t>(i));
  }

  void matrix_collapses_and_dedups() {
    ExperimentConfig c;
    c.budgets = {"100%", "60%"};
    c.predictors = {"emoe-a", "none"};
    c.intervals = {10, 40};
    c.schedulers = {"emoe"};
    c.arrival_rates = {2};
    c.routing = {RoutingMode::All, RoutingMode::Fallback};
    c.seeds = {1};
    const auto points = expand_matrix(c);
    // routing all: one point in all (100%, none, p 0). fallback: per budget, emoe-a at two
    // intervals plus none at p 0 (its intervals collapse): 2 * 3.
    QCOMPARE(points.size(), size_t{1 + 2 * 3});
    QCOMPARE(points[0].budget, std::string("100%"));
    QCOMPARE(points[0].predictor, std::string("none"));
    QCOMPARE(points[0].interval, 0);
    QVERIFY(points[0].routing == RoutingMode::All);
    QCOMPARE(points[0].label(),
             std::string("budget=100% predictor=none sched=emoe rate=2 routing=all seed=1"));
    int all = 0;
    int none = 0;
    for (size_t i = 0; i < points.size(); ++i) {
      QCOMPARE(points[i].index, static_cast<int32_t>(i));
      all += points[i].routing == RoutingMode::All;
      if (points[i].predictor == "none") {
        ++none;
        QCOMPARE(points[i].interval, 0);
      }
      for (size_t j = 0; j < i; ++j) QVERIFY(points[j].label() != points[i].label());
    }
    QCOMPARE(all, 1);
    QCOMPARE(none, 1 + 2);
    // The first fallback point follows in order: budget 100%, emoe-a, p 10.
    QCOMPARE(points[1].label(),
             std::string("budget=100% predictor=emoe-a p=10 sched=emoe rate=2 routing=fallback "
                         "seed=1"));
    QCOMPARE(points[3].label(),
             std::string("budget=100% predictor=none sched=emoe rate=2 routing=fallback seed=1"));

    // A rate of 0 (the file's own times) is labelled as such.
    ExperimentConfig f;
    f.arrival_rates = {0};
    QCOMPARE(expand_matrix(f).at(0).label(),
             std::string("budget=60% predictor=emoe-a p=40 sched=emoe rate=file routing=fallback "
                         "seed=1"));
  }
};

QTEST_GUILESS_MAIN(TestExperimentConfig)
#include "test_experiment_config.moc"
