// The File > Recent menu: most recent first, at most max_count entries, persisted in QSettings.
#pragma once

#include <QObject>
#include <QStringList>

class QMenu;

namespace emoe::ui {

class RecentFiles : public QObject {
  Q_OBJECT

 public:
  explicit RecentFiles(QMenu* menu, int max_count = 8, QObject* parent = nullptr);

  void add(const QString& path);  // moves it to the front
  void remove(const QString& path);
  void clear();
  const QStringList& files() const { return files_; }

  void load();  // from QSettings ("recent/files")
  void save() const;
  void set_persistent(bool on) { persistent_ = on; }  // false: save() does nothing

 signals:
  void open_requested(const QString& path);

 private:
  void rebuild();
  QMenu* menu_ = nullptr;
  int max_count_ = 8;
  bool persistent_ = true;
  QStringList files_;
};

}  // namespace emoe::ui
