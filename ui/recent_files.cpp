#include "ui/recent_files.h"

#include <QAction>
#include <QFileInfo>
#include <QMenu>
#include <QSettings>

namespace emoe::ui {

RecentFiles::RecentFiles(QMenu* menu, int max_count, QObject* parent)
    : QObject(parent), menu_(menu), max_count_(max_count) {
  rebuild();
}

void RecentFiles::add(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  files_.removeAll(abs);
  files_.prepend(abs);
  while (files_.size() > max_count_) files_.removeLast();
  rebuild();
  save();
}

void RecentFiles::remove(const QString& path) {
  files_.removeAll(QFileInfo(path).absoluteFilePath());
  rebuild();
  save();
}

void RecentFiles::clear() {
  files_.clear();
  rebuild();
  save();
}

void RecentFiles::load() {
  QSettings s;
  files_ = s.value("recent/files").toStringList();
  while (files_.size() > max_count_) files_.removeLast();
  rebuild();
}

void RecentFiles::save() const {
  if (!persistent_) return;
  QSettings s;
  s.setValue("recent/files", files_);
}

void RecentFiles::rebuild() {
  if (!menu_) return;
  menu_->clear();
  int n = 0;
  for (const QString& f : files_) {
    ++n;
    QAction* a = menu_->addAction(QStringLiteral("&%1 %2").arg(n).arg(QFileInfo(f).fileName()));
    a->setToolTip(f);
    a->setStatusTip(f);
    a->setData(f);
    connect(a, &QAction::triggered, this, [this, f] { emit open_requested(f); });
  }
  if (files_.isEmpty()) {
    menu_->addAction(tr("(none)"))->setEnabled(false);
  } else {
    menu_->addSeparator();
    connect(menu_->addAction(tr("Clear list")), &QAction::triggered, this, &RecentFiles::clear);
  }
}

}  // namespace emoe::ui
