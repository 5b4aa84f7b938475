// The Log dock: timestamped messages from the engine controller and the window, coloured by
// level, with a minimum-level filter and Clear. Bounded so a chatty session cannot grow it
// without limit.
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

class QPlainTextEdit;
class QComboBox;

namespace emoe::ui {

class LogDock : public QWidget {
  Q_OBJECT

 public:
  enum Level { Info = 0, Warning = 1, Error = 2 };

  explicit LogDock(QWidget* parent = nullptr);

  void append(int level, const QString& message);
  void clear();
  QString text() const;  // everything shown (for tests)
  int count(int level) const;

 private:
  struct Entry {
    QString time;
    int level = 0;
    QString message;
  };
  void rebuild();
  void show_entry(const Entry& e);

  QPlainTextEdit* view_ = nullptr;
  QComboBox* filter_ = nullptr;
  std::vector<Entry> entries_;
};

}  // namespace emoe::ui
