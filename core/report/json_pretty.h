// Indented JSON for people: the report shows the experiment's configuration as its user would
// write it, one key per line.
#pragma once

#include <string>
#include <string_view>

namespace emoe::report {

// json re-indented with two spaces per level, arrays of scalars kept on one line. Text that is
// not valid JSON comes back unchanged (the report still shows it).
std::string pretty_json(std::string_view json);

}  // namespace emoe::report
