#include "ui/controls_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QThread>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "core/predict/periodic_invoker.h"
#include "core/predict/predictor.h"
#include "kernels/gpu/gpu_device.h"

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

  device_ = new QComboBox(this);
  device_->setObjectName("deviceCombo");
  // A long "not available" reason must not widen the dock; the popup shows it whole.
  device_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  device_->setMinimumContentsLength(24);
  fill_devices();
  form->addRow(tr("Device"), device_);

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

  predictor_ = new QComboBox(this);
  predictor_->setObjectName("predictorCombo");
  predictor_->addItem(tr("none (no planning)"), QStringLiteral("none"));
  for (const std::string& n : predict::predictor_names()) {
    predictor_->addItem(QString::fromStdString(n), QString::fromStdString(n));
  }
  predictor_->setToolTip(
      tr("eMoE: the predictor whose expert frequencies plan the device tier before every "
         "request (the tier then pins the plan; routing must be exact or fallback)"));
  form->addRow(tr("Predictor"), predictor_);

  interval_ = new QSlider(Qt::Horizontal, this);
  interval_->setObjectName("intervalSlider");
  interval_->setRange(predict::PeriodicInvoker::kMinPeriod, predict::PeriodicInvoker::kMaxPeriod);
  interval_->setValue(40);
  interval_->setToolTip(tr("p: the predictor runs on requests 0, p, 2p, ... of a configuration"));
  interval_label_ = new QLabel(this);
  interval_label_->setObjectName("intervalLabel");
  interval_label_->setMinimumWidth(60);
  auto* interval_row = new QHBoxLayout;
  interval_row->addWidget(interval_, 1);
  interval_row->addWidget(interval_label_);
  form->addRow(tr("Interval p"), interval_row);

  task_aware_ = new QCheckBox(tr("task-aware loading"), this);
  task_aware_->setObjectName("taskAwareCheck");
  task_aware_->setChecked(true);
  task_aware_->setToolTip(
      tr("Plan per task with its stored sensitivity; off: one prediction "
         "for every task, every layer sensitive"));
  form->addRow(QString(), task_aware_);

  threshold_ = new QDoubleSpinBox(this);
  threshold_->setObjectName("thresholdSpin");
  threshold_->setRange(0.0, 1.0);
  threshold_->setSingleStep(0.05);
  threshold_->setDecimals(2);
  threshold_->setValue(0.85);
  threshold_->setToolTip(
      tr("Sensitivity profiling: accuracy at or above it keeps a layer "
         "insensitive"));
  form->addRow(tr("Sensitivity threshold"), threshold_);
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
  connect(device_, &QComboBox::currentIndexChanged, this, [this, now] {
    if (!updating_) device_spec_ = device_->currentData().toString().toStdString();
    now();
  });
  connect(routing_, &QComboBox::currentIndexChanged, this, now);
  connect(policy_, &QComboBox::currentIndexChanged, this, now);
  connect(threads_, &QSpinBox::valueChanged, this, now);
  connect(predictor_, &QComboBox::currentIndexChanged, this, now);
  connect(task_aware_, &QCheckBox::toggled, this, now);
  connect(threshold_, &QDoubleSpinBox::valueChanged, this, now);
  connect(interval_, &QSlider::valueChanged, this, [this](int v) {
    interval_label_->setText(QStringLiteral("p = %1").arg(v));
    if (!updating_) debounce_->start();
  });
  interval_label_->setText(QStringLiteral("p = %1").arg(interval_->value()));
  update_budget_label();
}

void ControlsPanel::fill_devices() {
  device_->addItem(tr("CPU"), QStringLiteral("cpu"));
  const kernels::gpu::RuntimeProbe probe = kernels::gpu::probe_runtime();
  for (const kernels::gpu::DeviceInfo& d : probe.devices) {
    device_->addItem(QStringLiteral("cuda:%1 \u2014 %2, %3 GiB")
                         .arg(d.index)
                         .arg(QString::fromStdString(d.name))
                         .arg(static_cast<double>(d.total_bytes) / (1ull << 30), 0, 'f', 1),
                     QStringLiteral("cuda:%1").arg(d.index));
  }
  if (probe.devices.empty()) {
    const QString reason = QString::fromStdString(probe.message);
    device_->addItem(tr("CUDA: not available \u2014 %1").arg(reason), QStringLiteral("cuda"));
    // Shown, not choosable: it says why there is no GPU to pick.
    if (auto* m = qobject_cast<QStandardItemModel*>(device_->model())) {
      m->item(device_->count() - 1)->setEnabled(false);
    }
    device_->setItemData(device_->count() - 1, reason, Qt::ToolTipRole);
  }
  device_->setToolTip(tr("Where the engine computes; on a GPU the expert tier is GPU memory"));
}

void ControlsPanel::select_device(const std::string& spec) {
  device_spec_ = spec;
  int i = device_->findData(QString::fromStdString(spec));
  if (i < 0 && spec == "cuda") i = device_->findData(QStringLiteral("cuda:0"));
  if (i >= 0) device_->setCurrentIndex(i);
}

EngineSettings ControlsPanel::settings() const {
  EngineSettings s;
  s.device = device_spec_;
  s.mode = static_cast<engine::RoutingMode>(routing_->currentData().toInt());
  // "all" keeps every expert; the slider then only drives the estimate.
  s.budget_percent = s.mode == engine::RoutingMode::All ? 100.0 : budget_->value();
  s.policy = static_cast<experts::EvictionPolicy>(policy_->currentData().toInt());
  s.n_threads = threads_->value();
  s.n_ctx = n_ctx_;
  s.predictor = predictor_->currentData().toString().toStdString();
  s.interval = interval_->value();
  s.task_aware = task_aware_->isChecked();
  s.sensitivity_threshold = threshold_->value();
  return s;
}

void ControlsPanel::set_settings(const EngineSettings& s) {
  updating_ = true;
  select_device(s.device);
  if (s.mode != engine::RoutingMode::All || s.budget_percent < 100) {
    budget_->setValue(static_cast<int>(std::lround(std::clamp(s.budget_percent, 10.0, 100.0))));
  }
  routing_->setCurrentIndex(std::max(0, routing_->findData(static_cast<int>(s.mode))));
  policy_->setCurrentIndex(std::max(0, policy_->findData(static_cast<int>(s.policy))));
  threads_->setValue(s.n_threads);
  n_ctx_ = s.n_ctx;
  predictor_->setCurrentIndex(
      std::max(0, predictor_->findData(QString::fromStdString(s.predictor))));
  interval_->setValue(s.interval);
  task_aware_->setChecked(s.task_aware);
  threshold_->setValue(s.sensitivity_threshold);
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
  QString device = QString::fromStdString(r.device_name.empty() ? r.backend : r.device_name);
  if (!r.device_notice.empty()) {
    device += QStringLiteral(" (%1)").arg(QString::fromStdString(r.device_notice));
  }
  report_->setText(tr("<b>Engine</b> on %1: routing %2, %3, eviction %4, %5 thread(s)")
                       .arg(device.toHtmlEscaped(),
                            QString::fromLatin1(engine::routing_mode_name(r.settings.mode).data()),
                            tier, QString::fromLatin1(experts::policy_name(r.settings.policy)))
                       .arg(r.settings.n_threads) +
                   (r.settings.predictor == "none"
                        ? QString()
                        : tr("; eMoE: predictor %1, p = %2, task-aware %3 (pinned tier)")
                              .arg(QString::fromStdString(r.settings.predictor))
                              .arg(r.settings.interval)
                              .arg(r.settings.task_aware ? tr("on") : tr("off"))));
  report_->setStyleSheet({});
  if (r.all_expert_bytes > 0) set_expert_bytes(r.all_expert_bytes, r.min_budget_bytes);
}

void ControlsPanel::show_error(const QString& message) {
  report_->setText(tr("<b>Settings not applied</b>: %1").arg(message.toHtmlEscaped()));
  report_->setStyleSheet("color: #d03030");
}

QString ControlsPanel::report_text() const { return report_->text(); }

}  // namespace emoe::ui
