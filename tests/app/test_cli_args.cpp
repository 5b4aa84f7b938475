// The `emoe` argument parser: syntax forms, typed getters, error messages and help text.
#include <QtTest>
#include <string>
#include <vector>

#include "app/cli/cli_args.h"

using emoe::StatusCode;
using emoe::cli::ArgParser;
using emoe::cli::ParsedCommand;

namespace {

ArgParser make_parser() {
  ArgParser p("emoe", "MoE inference workbench.");
  p.add_command("info", "Show a model's metadata")
      .positional("MODEL", "GGUF file")
      .flag("json", "print JSON");
  p.add_command("generate", "Generate text from a prompt")
      .required_option("model", 'm', "MODEL", "GGUF file")
      .required_option("prompt", 'p', "TEXT", "prompt text")
      .option("n-predict", 'n', "N", "tokens to generate", "32")
      .option("threads", 0, "T", "worker threads", "4")
      .option("temp", 0, "T", "sampling temperature", "0")
      .option("seed", 0, "S", "random seed")
      .option("type", 0, "TYPE", "tensor type", "f32")
      .option("file", 'f', "FILE", "input file")
      .flag("json", "print JSON");
  return p;
}

emoe::Result<ParsedCommand> parse(const ArgParser& p, std::vector<std::string> args) {
  return p.parse(args);
}

}  // namespace

class TestCliArgs : public QObject {
  Q_OBJECT

 private slots:
  void longShortAndEqualsForms() {
    const ArgParser p = make_parser();
    auto r = parse(p, {"generate", "-m", "a.gguf", "--prompt=hello world", "-n16", "--threads", "8",
                       "--json", "-f=x.txt"});
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->command, std::string("generate"));
    QVERIFY(!r->help);
    const auto& a = r->args;
    QCOMPARE(*a.get_string("model"), std::string("a.gguf"));
    QCOMPARE(*a.get_string("prompt"), std::string("hello world"));
    QCOMPARE(*a.get_int("n-predict", 1), int64_t{16});
    QCOMPARE(*a.get_int("threads", 1, 256), int64_t{8});
    QCOMPARE(*a.get_string("file"), std::string("x.txt"));
    QVERIFY(a.flag("json"));
    QVERIFY(!a.has("seed"));
  }

  void valuesMayStartWithDashAndLastWins() {
    const ArgParser p = make_parser();
    auto r = parse(p, {"generate", "-m", "a", "-p", "-dash prompt", "--seed", "1", "--seed",
                       "18446744073709551615", "--temp", "-0.5"});
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(*r->args.get_string("prompt"), std::string("-dash prompt"));
    QCOMPARE(*r->args.get_uint64("seed"), uint64_t{18446744073709551615ull});
    QCOMPARE(*r->args.get_float("temp"), -0.5);
  }

  void defaultsAndMissing() {
    const ArgParser p = make_parser();
    auto r = parse(p, {"generate", "-m", "a", "-p", "x"});
    QVERIFY(r.ok());
    QCOMPARE(*r->args.get_int("n-predict", 1), int64_t{32});
    QCOMPARE(*r->args.get_choice("type", {"f32", "f16", "q8_0", "q4_0"}), std::string("f32"));
    QVERIFY(!r->args.flag("json"));
    auto seed = r->args.get_uint64("seed");
    QVERIFY(!seed.ok());
    QCOMPARE(seed.status().message(), std::string("emoe generate: missing required option --seed"));
  }

  void typedGetterErrors() {
    const ArgParser p = make_parser();
    auto r = parse(p, {"generate", "-m", "a", "-p", "x", "--threads", "x", "-n", "0", "--temp",
                       "nan", "--type", "q9", "--seed", "-1"});
    QVERIFY(r.ok());
    const auto& a = r->args;
    auto t = a.get_int("threads", 1);
    QVERIFY(!t.ok());
    QCOMPARE(t.status().code(), StatusCode::InvalidArgument);
    QCOMPARE(t.status().message(),
             std::string("emoe generate: --threads expects an integer >= 1, got 'x'"));
    QCOMPARE(a.get_int("n-predict", 1, 4096).status().message(),
             std::string("emoe generate: --n-predict expects an integer in [1, 4096], got '0'"));
    QCOMPARE(a.get_float("temp", 0).status().message(),
             std::string("emoe generate: --temp expects a number >= 0, got 'nan'"));
    QCOMPARE(a.get_choice("type", {"f32", "f16", "q8_0", "q4_0"}).status().message(),
             std::string("emoe generate: --type expects one of f32|f16|q8_0|q4_0, got 'q9'"));
    QCOMPARE(a.get_uint64("seed").status().message(),
             std::string("emoe generate: --seed expects a non-negative integer, got '-1'"));
    // Trailing garbage and overflow are not integers.
    auto r2 = parse(p, {"generate", "-m", "a", "-p", "x", "-n", "12abc", "--threads",
                        "99999999999999999999", "--temp", "1.5e0"});
    QVERIFY(r2.ok());
    QVERIFY(!r2->args.get_int("n-predict").ok());
    QVERIFY(!r2->args.get_int("threads").ok());
    QCOMPARE(*r2->args.get_float("temp", 0.0, 2.0), 1.5);
    QVERIFY(!r2->args.get_float("temp", 0.0, 1.0).ok());
    QCOMPARE(r2->args.get_float("temp", 0.0, 1.0).status().message(),
             std::string("emoe generate: --temp expects a number in [0, 1], got '1.5e0'"));
  }

  void parseErrors() {
    const ArgParser p = make_parser();
    struct Case {
      std::vector<std::string> args;
      std::string message;
    };
    const std::vector<Case> cases = {
        {{}, "emoe: no command given (see 'emoe --help')"},
        {{"frobnicate"}, "emoe: unknown command 'frobnicate' (see 'emoe --help')"},
        {{"--json"}, "emoe: expected a command before '--json' (see 'emoe --help')"},
        {{"generate", "-m", "a", "-p", "x", "--bogus"},
         "emoe generate: unknown option '--bogus' (see 'emoe generate --help')"},
        {{"generate", "-m", "a", "-p", "x", "-z"},
         "emoe generate: unknown option '-z' (see 'emoe generate --help')"},
        {{"generate", "-m", "a", "-p", "x", "--threads"},
         "emoe generate: --threads needs a value (T)"},
        {{"generate", "-m", "a", "-p", "x", "--json=1"},
         "emoe generate: --json is a flag and takes no value"},
        {{"generate", "-p", "x"},
         "emoe generate: missing required option --model (-m) (see 'emoe generate --help')"},
        {{"generate", "-m", "a", "-p", "x", "extra"},
         "emoe generate: unexpected argument 'extra' (see 'emoe generate --help')"},
        {{"info"}, "emoe info: missing MODEL (see 'emoe info --help')"},
        {{"help", "nope"}, "emoe: unknown command 'nope' (see 'emoe --help')"},
    };
    for (const Case& c : cases) {
      auto r = parse(p, c.args);
      QVERIFY2(!r.ok(), c.message.c_str());
      QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
      QCOMPARE(r.status().message(), c.message);
      QVERIFY(r.status().message().find('\n') == std::string::npos);
    }
  }

  void positionalsAndDoubleDash() {
    const ArgParser p = make_parser();
    auto r = parse(p, {"info", "model.gguf", "--json"});
    QVERIFY(r.ok());
    QCOMPARE(r->args.positionals(), std::vector<std::string>{"model.gguf"});
    QVERIFY(r->args.flag("json"));
    auto r2 = parse(p, {"info", "--", "--weird-name.gguf"});
    QVERIFY2(r2.ok(), r2.status().message().c_str());
    QCOMPARE(r2->args.positionals(), std::vector<std::string>{"--weird-name.gguf"});
    QVERIFY(!r2->args.flag("json"));
  }

  void helpRequests() {
    const ArgParser p = make_parser();
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
      auto r = parse(p, args);
      QVERIFY(r.ok());
      QVERIFY(r->help);
      QVERIFY(r->command.empty());
    }
    // Help wins over other errors on the same line.
    auto r = parse(p, {"generate", "--bogus", "--help"});
    QVERIFY(r.ok());
    QVERIFY(r->help);
    QCOMPARE(r->command, std::string("generate"));
    auto r2 = parse(p, {"help", "info"});
    QVERIFY(r2.ok() && r2->help);
    QCOMPARE(r2->command, std::string("info"));

    const std::string top = p.help_text();
    QVERIFY(top.starts_with("usage: emoe <command> [options]\n"));
    QVERIFY(top.find("  info      Show a model's metadata\n") != std::string::npos);
    QVERIFY(top.find("  generate  Generate text from a prompt\n") != std::string::npos);

    const std::string gen = p.command_help("generate");
    QVERIFY2(gen.starts_with("usage: emoe generate -m MODEL -p TEXT [options]\n"), gen.c_str());
    QVERIFY(gen.find("Generate text from a prompt") != std::string::npos);
    QVERIFY(gen.find("  -m, --model MODEL") != std::string::npos);
    QVERIFY(gen.find("      --threads T") != std::string::npos);
    QVERIFY(gen.find("tokens to generate (default: 32)") != std::string::npos);
    QVERIFY(gen.find("GGUF file (required)") != std::string::npos);
    QVERIFY(gen.find("  -h, --help") != std::string::npos);
    // Help columns line up: every option's description starts in the same column.
    size_t column = std::string::npos;
    size_t pos = gen.find("options:\n");
    QVERIFY(pos != std::string::npos);
    pos += 9;
    while (pos < gen.size()) {
      const size_t end = gen.find('\n', pos);
      const std::string line = gen.substr(pos, end - pos);
      const size_t gap = line.find("  ", line.find_first_not_of(' '));
      const size_t c = line.find_first_not_of(' ', gap);
      if (column == std::string::npos) column = c;
      QCOMPARE(c, column);
      pos = end + 1;
    }

    const std::string info = p.command_help("info");
    QVERIFY2(info.starts_with("usage: emoe info [options] MODEL\n"), info.c_str());
    QVERIFY(info.find("arguments:\n  MODEL") != std::string::npos);
  }

  void argvOverload() {
    const ArgParser p = make_parser();
    const char* argv[] = {"emoe", "info", "m.gguf"};
    auto r = p.parse(3, argv);
    QVERIFY(r.ok());
    QCOMPARE(r->command, std::string("info"));
    QCOMPARE(r->args.positionals().size(), size_t{1});
  }
};

QTEST_GUILESS_MAIN(TestCliArgs)
#include "test_cli_args.moc"
