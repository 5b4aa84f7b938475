#include "ui/sensitivity_view.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "ui/view_style.h"

namespace emoe::ui {

SensitivityView::SensitivityView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  note_ = new QLabel(tr("No model loaded."), this);
  note_->setObjectName("sensitivityNote");
  note_->setWordWrap(true);
  layout->addWidget(note_);
  table_ = new QTableWidget(this);
  table_->setObjectName("sensitivityTable");
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->horizontalHeader()->setDefaultSectionSize(34);
  table_->setToolTip(
      tr("s per task and layer: 0 insensitive (fallback routing is harmless "
         "there), 1 sensitive"));
  layout->addWidget(table_, 1);

  auto* row = new QHBoxLayout;
  refresh_ = new QPushButton(tr("Refresh"), this);
  refresh_->setObjectName("sensitivityRefresh");
  profile_ = new QPushButton(tr("Profile sensitivity…"), this);
  profile_->setObjectName("profileSensitivity");
  profile_->setToolTip(
      tr("Measure every task's sensitivity on the built-in prompts with the "
         "Controls' threshold and store it in the history database"));
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName("cancelProfile");
  cancel_->setEnabled(false);
  progress_ = new QProgressBar(this);
  progress_->setObjectName("profileProgress");
  progress_->setRange(0, 1000);
  progress_->setVisible(false);
  row->addWidget(refresh_);
  row->addWidget(profile_);
  row->addWidget(cancel_);
  row->addWidget(progress_, 1);
  layout->addLayout(row);
  connect(refresh_, &QPushButton::clicked, this, &SensitivityView::refresh_requested);
  connect(profile_, &QPushButton::clicked, this, [this] {
    running_ = true;
    profile_->setEnabled(false);
    cancel_->setEnabled(true);
    progress_->setValue(0);
    progress_->setVisible(true);
    emit profile_requested();
  });
  connect(cancel_, &QPushButton::clicked, this, &SensitivityView::cancel_requested);
  set_model_open(false);
}

void SensitivityView::set_model_open(bool open) {
  refresh_->setEnabled(open);
  profile_->setEnabled(open && !running_);
}

void SensitivityView::show_matrix(const SensitivityMatrix& m) {
  matrix_ = m;
  running_ = false;
  progress_->setVisible(false);
  cancel_->setEnabled(false);
  profile_->setEnabled(true);
  refresh_->setEnabled(true);
  table_->clear();
  table_->setRowCount(static_cast<int>(m.tasks.size()));
  table_->setColumnCount(m.tasks.empty() ? 0 : m.n_layer);
  QStringList rows, cols;
  for (const std::string& t : m.tasks) rows << QString::fromStdString(t);
  for (int32_t l = 0; l < m.n_layer && !m.tasks.empty(); ++l) cols << QString::number(l);
  table_->setVerticalHeaderLabels(rows);
  table_->setHorizontalHeaderLabels(cols);
  const QColor hot = style::bad_color(palette()), cold = style::good_color(palette());
  for (size_t t = 0; t < m.tasks.size(); ++t) {
    for (int32_t l = 0; l < m.n_layer; ++l) {
      const float s = m.values[t][static_cast<size_t>(l)];
      auto* item = new QTableWidgetItem(QString::number(s, 'g', 2));
      item->setTextAlignment(Qt::AlignCenter);
      QColor c = s >= 0.5f ? hot : cold;
      item->setBackground(style::tint(c, 40 + static_cast<int>(std::lround(120 * s))));
      item->setData(Qt::UserRole, static_cast<double>(s));
      item->setToolTip(tr("%1, layer %2: s = %3").arg(rows[static_cast<int>(t)]).arg(l).arg(s));
      table_->setItem(static_cast<int>(t), l, item);
    }
  }
  if (m.tasks.empty()) {
    note_->setText(tr("No sensitivity profile: %1. Use “Profile sensitivity…”.").arg(m.note));
  } else {
    note_->setText(tr("%1 task(s) x %2 layers for %3 (0 insensitive, 1 sensitive)")
                       .arg(m.tasks.size())
                       .arg(m.n_layer)
                       .arg(m.model.isEmpty() ? tr("this model") : m.model));
  }
}

void SensitivityView::show_progress(double fraction, const QString& stage) {
  progress_->setVisible(true);
  progress_->setValue(static_cast<int>(std::lround(fraction * 1000)));
  progress_->setFormat(tr("%1: %p%").arg(stage));
}

void SensitivityView::show_failed(const QString& message) {
  running_ = false;
  progress_->setVisible(false);
  cancel_->setEnabled(false);
  profile_->setEnabled(true);
  note_->setText(tr("Profiling stopped: %1").arg(message));
}

QString SensitivityView::note_text() const { return note_->text(); }

}  // namespace emoe::ui
