#include "ui/studio_paths.h"

#include <QDir>
#include <QStandardPaths>

namespace emoe::ui {

QString StudioPaths::data_dir() {
  QString base = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
  if (base.isEmpty()) base = QDir::homePath() + "/.local/share";
  const QString dir = base + "/emoe-studio";
  QDir().mkpath(dir);
  return dir;
}

QString StudioPaths::database_path() { return data_dir() + "/history.db"; }

QString StudioPaths::demo_model_dir() {
  const QString over = qEnvironmentVariable("EMOE_DATA_DIR");
  if (over.isEmpty()) return data_dir();
  QDir().mkpath(over);
  return QDir(over).absolutePath();
}

}  // namespace emoe::ui
