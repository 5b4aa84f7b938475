// Argument parsing for the `emoe` command line: one subcommand, then options and positionals.
//
// Syntax: long options `--name VALUE` and `--name=VALUE`, short options `-m VALUE` and
// `-mVALUE`, flags `--json`, `--` ends options, `-h`/`--help` (or `emoe help CMD`) asks for
// help. An option's value is the next argument even when it starts with '-' (so `--seed -1`
// works). A repeated option keeps its last value.
//
// Every error is an emoe::Status with a one-line message that names the program and command,
// for example "emoe generate: --threads expects an integer >= 1, got 'x'".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"

namespace emoe::cli {

struct OptionSpec {
  std::string name;           // long name without dashes: "threads"
  char short_name = 0;        // 'm' for -m; 0 when there is none
  std::string value_name;     // "N", "FILE"; empty for a flag
  std::string help;           // one line
  std::string default_value;  // used by the typed getters and shown in help; empty: none
  bool required = false;

  bool is_flag() const { return value_name.empty(); }
};

struct PositionalSpec {
  std::string name;  // "MODEL"; the last one may end in "..." ("RUN..."): any number of values
  std::string help;
  bool required = true;
};

class CommandSpec {
 public:
  CommandSpec(std::string name, std::string summary);

  // Builders return *this so a command reads as one chained declaration.
  CommandSpec& flag(std::string name, std::string help);
  CommandSpec& option(std::string name, char short_name, std::string value_name, std::string help,
                      std::string default_value = {});
  CommandSpec& required_option(std::string name, char short_name, std::string value_name,
                               std::string help);
  CommandSpec& positional(std::string name, std::string help, bool required = true);

  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }
  const std::vector<OptionSpec>& options() const { return options_; }
  const std::vector<PositionalSpec>& positionals() const { return positionals_; }

  const OptionSpec* find_long(std::string_view name) const;
  const OptionSpec* find_short(char c) const;

  // "usage: emoe generate -m MODEL -p TEXT [options]" and one line per option.
  std::string help_text(std::string_view program) const;

 private:
  std::string name_;
  std::string summary_;
  std::vector<OptionSpec> options_;
  std::vector<PositionalSpec> positionals_;
};

// The options and positionals given to one command, with typed, validated getters. A getter
// falls back to the option's declared default; with neither a value nor a default it returns
// an error that names the option, so callers use has() first for optional settings.
class ParsedArgs {
 public:
  ParsedArgs() = default;
  ParsedArgs(std::string prefix, const CommandSpec* spec);

  bool has(std::string_view name) const;   // given on the command line
  bool flag(std::string_view name) const;  // a flag that was given

  Result<std::string> get_string(std::string_view name) const;
  Result<int64_t> get_int(std::string_view name, int64_t min = std::numeric_limits<int64_t>::min(),
                          int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<uint64_t> get_uint64(std::string_view name) const;  // seeds, byte counts
  // Finite numbers only; bounds are inclusive.
  Result<double> get_float(std::string_view name, double min = -std::numeric_limits<double>::max(),
                           double max = std::numeric_limits<double>::max()) const;
  Result<std::string> get_choice(std::string_view name,
                                 std::span<const std::string_view> choices) const;
  Result<std::string> get_choice(std::string_view name,
                                 std::initializer_list<std::string_view> choices) const {
    return get_choice(name, std::span<const std::string_view>(choices.begin(), choices.size()));
  }

  const std::vector<std::string>& positionals() const { return positionals_; }

  // "emoe generate": the prefix of every message about these arguments.
  const std::string& prefix() const { return prefix_; }
  // An error in the house style, for checks the getters cannot express.
  Status error(std::string_view message) const;

  // Used by the parser.
  void set_value(const std::string& name, std::string value) { values_[name] = std::move(value); }
  void add_positional(std::string value) { positionals_.push_back(std::move(value)); }

 private:
  Result<std::string> raw(std::string_view name) const;  // given value, else default
  std::string display(std::string_view name) const;      // "--threads"

  std::string prefix_;
  const CommandSpec* spec_ = nullptr;
  std::map<std::string, std::string, std::less<>> values_;  // long name -> value ("" for flags)
  std::vector<std::string> positionals_;
};

struct ParsedCommand {
  std::string command;  // empty only when top-level help was asked for
  bool help = false;    // the caller prints help_text()/command_help() and exits 0
  ParsedArgs args;
};

class ArgParser {
 public:
  ArgParser(std::string program, std::string summary);

  // The returned reference stays valid while more commands are added.
  CommandSpec& add_command(std::string name, std::string summary);
  const CommandSpec* find_command(std::string_view name) const;

  // `args` excludes the program name (argv[1..]). The parser must outlive the result.
  Result<ParsedCommand> parse(std::span<const std::string> args) const;
  Result<ParsedCommand> parse(int argc, const char* const* argv) const;

  std::string help_text() const;  // the command list
  std::string command_help(std::string_view command) const;

  const std::string& program() const { return program_; }

 private:
  std::string program_;
  std::string summary_;
  std::vector<std::unique_ptr<CommandSpec>> commands_;
};

}  // namespace emoe::cli
