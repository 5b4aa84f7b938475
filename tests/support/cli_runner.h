// Runs the built `emoe` binary (EMOE_CLI_PATH) for end-to-end tests, with its own data
// directory so nothing reaches the user's real history.
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>
#include <QStringList>

namespace emoe::test {

struct CliRun {
  int code = -1;  // -1: crashed or timed out
  QByteArray out, err;
  QJsonObject json() const;  // stdout parsed as one JSON object (empty when it is not)
};

// xdg_data_home: XDG_DATA_HOME for the run (empty: inherited).
CliRun run_cli(const QStringList& args, const QString& xdg_data_home = {}, int timeout_ms = 120000);

}  // namespace emoe::test
