#include "ui/controls_panel.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>
#include <QThread>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

namespace emoe::ui {

QString format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) return QStringLiteral("%1 GiB").arg(b / (1ull << 30), 0, 'f', 2);
  if (bytes >= (1ull << 20)) return QStringLiteral("%1 MiB").arg(b / (1ull << 20), 0, 'f', 1);
  if (bytes >= (1ull << 10)) return QStringLiteral("%1 KiB").arg(b / (1ull << 10), 0, 'f', 1);
  return QStringLiteral("%1 B").arg(bytes);
}

ControlsPanel::ControlsPanel(QWidget* parent) : QWidget(parent) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(6, 6, 6, 6);
  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::ExpandingFieldsGrow);

  budget_ = new QSlider(Qt::Horizontal, this);
  budget_->setObjectName("budgetSlider");
  budget_->setRange(10, 100);
  budget_->setValue(100);
  budget_->setTickInterval(10);
  budget_->setTickPosition(QSlider::TicksBelow);
  budget_->setToolTip(tr("Device-tier expert budget, as a percentage of all expert bytes"));
  budget_label_ = new QLabel(this);
  budget_label_->setObjectName("budgetLabel");
  budget_label_->setMinimumWidth(150);
  auto* budget_row = new QHBoxLayout;
  budget_row->addWidget(budget_, 1);
  budget_row->addWidget(budget_label_);
  form->addRow(tr("Expert budget"), budget_row);

  routing_ = new QComboBox(this);
  routing_->setObjectName("routingCombo");
  routing_->addItem(tr("all (every expert)"), static_cast<int>(engine::RoutingMode::All));
  routing_->addItem(tr("exact (load on miss)"), static_cast<int>(engine::RoutingMode::Exact));
  routing_->addItem(tr("fallback (eMoE)"), static_cast<int>(engine::RoutingMode::Fallback));
  routing_->setToolTip(
      tr("all: every expert available; exact: the router's top-k, missing experts loaded on "
         "demand; fallback: the best resident experts replace missing ones, never waiting"));
  form->addRow(tr("Routing"), routing_);

  policy_ = new QComboBox(this);
  policy_->setObjectName("policyCombo");
  policy_->addItem("LRU", static_cast<int>(experts::EvictionPolicy::Lru));
  policy_->addItem("LFU", static_cast<int>(experts::EvictionPolicy::Lfu));
  policy_->setToolTip(tr("Which resident expert an on-demand load evicts"));
  form->addRow(tr("Eviction"), policy_);

  threads_ = new QSpinBox(this);
  threads_->setObjectName("threadsSpin");
  threads_->setRange(1, std::max(1, QThread::idealThreadCount()));
  threads_->setValue(1);
  form->addRow(tr("Threads"), threads_);
  outer->addLayout(form);

  report_ = new QLabel(tr("No model loaded."), this);
  report_->setObjectName("engineReport");
  report_->setWordWrap(true);
  report_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  report_->setFrameShape(QFrame::StyledPanel);
  report_->setMargin(4);
  outer->addWidget(report_);
  outer->addStretch(1);

  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(150);
  connect(debounce_, &QTimer::timeout, this, &ControlsPanel::changed);
  connect(budget_, &QSlider::valueChanged, this, [this](int v) {
    update_budget_label();
    if (updating_) return;
    emit budget_previewed(v);
    debounce_->start();
  });
  const auto now = [this] {
    update_budget_label();
    if (!updating_) changed();
  };
  connect(routing_, &QComboBox::currentIndexChanged, this, now);
  connect(policy_, &QComboBox::currentIndexChanged, this, now);
  connect(threads_, &QSpinBox::valueChanged, this, now);
  update_budget_label();
}

EngineSettings ControlsPanel::settings() const {
  EngineSettings s;
  s.mode = static_cast<engine::RoutingMode>(routing_->currentData().toInt());
  // "all" keeps every expert; the slider then only drives the estimate.
  s.budget_percent = s.mode == engine::RoutingMode::All ? 100.0 : budget_->value();
  s.policy = static_cast<experts::EvictionPolicy>(policy_->currentData().toInt());
  s.n_threads = threads_->value();
  s.n_ctx = n_ctx_;
  return s;
}

void ControlsPanel::set_settings(const EngineSettings& s) {
  updating_ = true;
  if (s.mode != engine::RoutingMode::All || s.budget_percent < 100) {
    budget_->setValue(static_cast<int>(std::lround(std::clamp(s.budget_percent, 10.0, 100.0))));
  }
  routing_->setCurrentIndex(std::max(0, routing_->findData(static_cast<int>(s.mode))));
  policy_->setCurrentIndex(std::max(0, policy_->findData(static_cast<int>(s.policy))));
  threads_->setValue(s.n_threads);
  n_ctx_ = s.n_ctx;
  updating_ = false;
  update_budget_label();
  emit budget_previewed(budget_->value());  // the estimate follows; the engine is not told
}

void ControlsPanel::set_expert_bytes(uint64_t all_expert_bytes, uint64_t min_budget_bytes) {
  all_expert_bytes_ = all_expert_bytes;
  min_budget_bytes_ = min_budget_bytes;
  update_budget_label();
}

uint64_t ControlsPanel::budget_bytes() const {
  const double raw = static_cast<double>(all_expert_bytes_) * budget_->value() / 100.0;
  return std::max(static_cast<uint64_t>(raw), min_budget_bytes_);
}

void ControlsPanel::update_budget_label() {
  QString text = QStringLiteral("%1%").arg(budget_->value());
  if (all_expert_bytes_ > 0) {
    text += QStringLiteral(" = %1").arg(format_bytes(budget_bytes()));
    if (budget_bytes() > static_cast<uint64_t>(all_expert_bytes_ * budget_->value() / 100.0)) {
      text += tr(" (min)");
    }
  }
  budget_label_->setText(text);
  const bool all =
      static_cast<engine::RoutingMode>(routing_->currentData().toInt()) == engine::RoutingMode::All;
  budget_label_->setToolTip(all ? tr("Routing 'all' keeps every expert; the budget applies to "
                                     "exact and fallback routing")
                                : QString());
}

void ControlsPanel::changed() {
  debounce_->stop();
  emit settings_changed(settings());
}

void ControlsPanel::show_report(const EngineReport& r) {
  QString tier;
  if (r.expert_budget_bytes == 0) {
    tier = tr("no device tier (all %1 of experts from the model file)")
               .arg(format_bytes(r.all_expert_bytes));
  } else {
    tier = tr("device tier %1 of %2 (%3 experts per layer; minimum %4)")
               .arg(format_bytes(r.expert_budget_bytes), format_bytes(r.all_expert_bytes))
               .arg(r.experts_per_layer)
               .arg(format_bytes(r.min_budget_bytes));
  }
  report_->setText(tr("<b>Engine</b>: routing %1, %2, eviction %3, %4 thread(s)")
                       .arg(QString::fromLatin1(engine::routing_mode_name(r.settings.mode).data()),
                            tier, QString::fromLatin1(experts::policy_name(r.settings.policy)))
                       .arg(r.settings.n_threads));
  report_->setStyleSheet({});
  if (r.all_expert_bytes > 0) set_expert_bytes(r.all_expert_bytes, r.min_budget_bytes);
}

void ControlsPanel::show_error(const QString& message) {
  report_->setText(tr("<b>Settings not applied</b>: %1").arg(message.toHtmlEscaped()));
  report_->setStyleSheet("color: #d03030");
}

QString ControlsPanel::report_text() const { return report_->text(); }

}  // namespace emoe::ui
