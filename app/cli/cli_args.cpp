#include "app/cli/cli_args.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace emoe::cli {

namespace {

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// "an integer >= 1", "an integer in [0, 10]", "an integer".
template <typename T, typename Fmt>
std::string range_phrase(const char* noun, T min, T max, T lowest, T highest, Fmt fmt) {
  std::string s = noun;
  if (min != lowest && max != highest) return s + " in [" + fmt(min) + ", " + fmt(max) + "]";
  if (min != lowest) return s + " >= " + fmt(min);
  if (max != highest) return s + " <= " + fmt(max);
  return s;
}

// std::from_chars rejects a leading '+', which users type; anything else left over is an error.
template <typename T>
bool parse_whole(std::string_view text, T* out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool is_help(const std::string& a) { return a == "-h" || a == "--help"; }

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CommandSpec

CommandSpec::CommandSpec(std::string name, std::string summary)
    : name_(std::move(name)), summary_(std::move(summary)) {}

CommandSpec& CommandSpec::flag(std::string name, std::string help) {
  options_.push_back(OptionSpec{std::move(name), 0, {}, std::move(help), {}, false});
  return *this;
}

CommandSpec& CommandSpec::option(std::string name, char short_name, std::string value_name,
                                 std::string help, std::string default_value) {
  if (value_name.empty()) value_name = "VALUE";  // an option always takes a value
  options_.push_back(OptionSpec{std::move(name), short_name, std::move(value_name), std::move(help),
                                std::move(default_value), false});
  return *this;
}

CommandSpec& CommandSpec::required_option(std::string name, char short_name, std::string value_name,
                                          std::string help) {
  option(std::move(name), short_name, std::move(value_name), std::move(help));
  options_.back().required = true;
  return *this;
}

CommandSpec& CommandSpec::positional(std::string name, std::string help, bool required) {
  positionals_.push_back(PositionalSpec{std::move(name), std::move(help), required});
  return *this;
}

const OptionSpec* CommandSpec::find_long(std::string_view name) const {
  for (const OptionSpec& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const OptionSpec* CommandSpec::find_short(char c) const {
  if (c == 0) return nullptr;
  for (const OptionSpec& o : options_) {
    if (o.short_name == c) return &o;
  }
  return nullptr;
}

std::string CommandSpec::help_text(std::string_view program) const {
  std::string usage = "usage: " + std::string(program) + " " + name_;
  bool has_optional = false;
  for (const OptionSpec& o : options_) {
    if (!o.required) {
      has_optional = true;
      continue;
    }
    usage += o.short_name ? std::string(" -") + o.short_name : " --" + o.name;
    usage += " " + o.value_name;
  }
  if (has_optional) usage += " [options]";
  for (const PositionalSpec& p : positionals_) {
    usage += p.required ? " " + p.name : " [" + p.name + "]";
  }

  // Left column: "-m, --model MODEL" or "    --json"; help text starts in one column.
  std::vector<std::pair<std::string, std::string>> rows;
  for (const OptionSpec& o : options_) {
    std::string left = o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + o.name;
    if (!o.is_flag()) left += " " + o.value_name;
    std::string right = o.help;
    if (o.required) right += " (required)";
    if (!o.default_value.empty()) right += " (default: " + o.default_value + ")";
    rows.emplace_back(std::move(left), std::move(right));
  }
  rows.emplace_back("-h, --help", "show this help");
  size_t width = 0;
  for (const auto& p : positionals_) width = std::max(width, p.name.size());
  for (const auto& r : rows) width = std::max(width, r.first.size());
  width += 2;

  std::string out = usage + "\n";
  if (!summary_.empty()) out += "\n" + summary_ + "\n";
  if (!positionals_.empty()) {
    out += "\narguments:\n";
    for (const PositionalSpec& p : positionals_) out += "  " + pad(p.name, width) + p.help + "\n";
  }
  out += "\noptions:\n";
  for (const auto& [left, right] : rows) out += "  " + pad(left, width) + right + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// ParsedArgs

ParsedArgs::ParsedArgs(std::string prefix, const CommandSpec* spec)
    : prefix_(std::move(prefix)), spec_(spec) {}

bool ParsedArgs::has(std::string_view name) const { return values_.find(name) != values_.end(); }

bool ParsedArgs::flag(std::string_view name) const { return has(name); }

Status ParsedArgs::error(std::string_view message) const {
  return invalid_argument(prefix_ + ": " + std::string(message));
}

std::string ParsedArgs::display(std::string_view name) const { return "--" + std::string(name); }

Result<std::string> ParsedArgs::raw(std::string_view name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  const OptionSpec* o = spec_ ? spec_->find_long(name) : nullptr;
  if (o == nullptr) return error("no option " + display(name) + " is declared (internal error)");
  if (!o->default_value.empty()) return o->default_value;
  std::string what = "missing required option " + display(name);
  if (o->short_name) what += std::string(" (-") + o->short_name + ")";
  return error(what);
}

Result<std::string> ParsedArgs::get_string(std::string_view name) const { return raw(name); }

Result<int64_t> ParsedArgs::get_int(std::string_view name, int64_t min, int64_t max) const {
  Result<std::string> v = raw(name);
  if (!v.ok()) return v.status();
  int64_t x = 0;
  if (!parse_whole(*v, &x) || x < min || x > max) {
    const auto fmt = [](int64_t i) { return std::to_string(i); };
    return error(display(name) + " expects " +
                 range_phrase("an integer", min, max, std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max(), fmt) +
                 ", got '" + *v + "'");
  }
  return x;
}

Result<uint64_t> ParsedArgs::get_uint64(std::string_view name) const {
  Result<std::string> v = raw(name);
  if (!v.ok()) return v.status();
  uint64_t x = 0;
  if (!parse_whole(*v, &x)) {
    return error(display(name) + " expects a non-negative integer, got '" + *v + "'");
  }
  return x;
}

Result<double> ParsedArgs::get_float(std::string_view name, double min, double max) const {
  Result<std::string> v = raw(name);
  if (!v.ok()) return v.status();
  double x = 0.0;
  if (!parse_whole(*v, &x) || !std::isfinite(x) || x < min || x > max) {
    return error(display(name) + " expects " +
                 range_phrase("a number", min, max, -std::numeric_limits<double>::max(),
                              std::numeric_limits<double>::max(), format_number) +
                 ", got '" + *v + "'");
  }
  return x;
}

Result<std::string> ParsedArgs::get_choice(std::string_view name,
                                           std::span<const std::string_view> choices) const {
  Result<std::string> v = raw(name);
  if (!v.ok()) return v.status();
  for (std::string_view c : choices) {
    if (c == *v) return *v;
  }
  std::string list;
  for (std::string_view c : choices) {
    if (!list.empty()) list += "|";
    list += c;
  }
  return error(display(name) + " expects one of " + list + ", got '" + *v + "'");
}

// ---------------------------------------------------------------------------------------------
// ArgParser

ArgParser::ArgParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

CommandSpec& ArgParser::add_command(std::string name, std::string summary) {
  commands_.push_back(std::make_unique<CommandSpec>(std::move(name), std::move(summary)));
  return *commands_.back();
}

const CommandSpec* ArgParser::find_command(std::string_view name) const {
  for (const auto& c : commands_) {
    if (c->name() == name) return c.get();
  }
  return nullptr;
}

Result<ParsedCommand> ArgParser::parse(int argc, const char* const* argv) const {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return parse(args);
}

Result<ParsedCommand> ArgParser::parse(std::span<const std::string> args) const {
  const std::string see_top = " (see '" + program_ + " --help')";
  if (args.empty()) return invalid_argument(program_ + ": no command given" + see_top);

  ParsedCommand out;
  const std::string& first = args[0];
  if (is_help(first)) {
    out.help = true;
    return out;
  }
  if (first == "help") {
    out.help = true;
    if (args.size() > 1) {
      if (find_command(args[1]) == nullptr) {
        return invalid_argument(program_ + ": unknown command '" + args[1] + "'" + see_top);
      }
      out.command = args[1];
    }
    return out;
  }
  if (first.size() > 1 && first[0] == '-') {
    return invalid_argument(program_ + ": expected a command before '" + first + "'" + see_top);
  }
  const CommandSpec* spec = find_command(first);
  if (spec == nullptr) {
    return invalid_argument(program_ + ": unknown command '" + first + "'" + see_top);
  }
  out.command = first;
  const std::string prefix = program_ + " " + first;
  const std::string see = " (see '" + prefix + " --help')";
  ParsedArgs parsed(prefix, spec);

  // Help wins over every other problem on the line, so `--help` always works.
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (is_help(args[i])) {
      out.help = true;
      out.args = std::move(parsed);
      return out;
    }
  }

  bool options_done = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      parsed.add_positional(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    const OptionSpec* o = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;
    if (a[1] == '-') {
      const size_t eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) inline_value = a.substr(eq + 1);
      o = spec->find_long(name);
      shown = "--" + name;
    } else {
      o = spec->find_short(a[1]);
      shown = a.substr(0, 2);
      if (a.size() > 2) inline_value = a.substr(a[2] == '=' ? 3 : 2);
    }
    if (o == nullptr) return parsed.error("unknown option '" + shown + "'" + see);
    if (o->is_flag()) {
      if (inline_value) return parsed.error(shown + " is a flag and takes no value");
      parsed.set_value(o->name, "");
      continue;
    }
    if (inline_value) {
      parsed.set_value(o->name, *inline_value);
    } else if (i + 1 < args.size()) {
      parsed.set_value(o->name, args[++i]);
    } else {
      return parsed.error(shown + " needs a value (" + o->value_name + ")");
    }
  }

  const auto& pos = spec->positionals();
  const bool variadic = !pos.empty() && pos.back().name.ends_with("...");
  if (!variadic && parsed.positionals().size() > pos.size()) {
    return parsed.error("unexpected argument '" + parsed.positionals()[pos.size()] + "'" + see);
  }
  for (size_t i = parsed.positionals().size(); i < pos.size(); ++i) {
    if (pos[i].required) return parsed.error("missing " + pos[i].name + see);
  }
  for (const OptionSpec& o : spec->options()) {
    if (o.required && !parsed.has(o.name)) {
      std::string what = "missing required option --" + o.name;
      if (o.short_name) what += std::string(" (-") + o.short_name + ")";
      return parsed.error(what + see);
    }
  }
  out.args = std::move(parsed);
  return out;
}

std::string ArgParser::help_text() const {
  std::string out = "usage: " + program_ + " <command> [options]\n";
  if (!summary_.empty()) out += "\n" + summary_ + "\n";
  out += "\ncommands:\n";
  size_t width = 0;
  for (const auto& c : commands_) width = std::max(width, c->name().size());
  for (const auto& c : commands_) out += "  " + pad(c->name(), width + 2) + c->summary() + "\n";
  out += "\nRun '" + program_ + " <command> --help' for the options of a command.\n";
  return out;
}

std::string ArgParser::command_help(std::string_view command) const {
  const CommandSpec* c = find_command(command);
  return c ? c->help_text(program_) : help_text();
}

}  // namespace emoe::cli
