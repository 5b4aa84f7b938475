#include "tests/support/cli_runner.h"

#include <QJsonDocument>
#include <QProcess>
#include <QProcessEnvironment>

namespace emoe::test {

QJsonObject CliRun::json() const { return QJsonDocument::fromJson(out).object(); }

CliRun run_cli(const QStringList& args, const QString& xdg_data_home, int timeout_ms) {
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  if (!xdg_data_home.isEmpty()) env.insert("XDG_DATA_HOME", xdg_data_home);
  p.setProcessEnvironment(env);
  p.start(QStringLiteral(EMOE_CLI_PATH), args);
  CliRun r;
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    r.err = "timeout";
    return r;
  }
  r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

}  // namespace emoe::test
