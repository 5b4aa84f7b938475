// The Controls dock: compute device, expert budget (percent of all expert bytes, with the byte
// value), routing mode, eviction policy, thread count and eMoE's predictor, interval p,
// task-aware switch and sensitivity threshold. Every change emits the full EngineSettings (a slider
// drag is debounced); the engine applies them before its next request, without reloading the
// model, and the EngineReport that comes back is shown underneath.
#pragma once

#include <QWidget>
#include <cstdint>
#include <string>

#include "ui/engine_controller.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSlider;
class QSpinBox;
class QTimer;

namespace emoe::ui {

class ControlsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ControlsPanel(QWidget* parent = nullptr);

  EngineSettings settings() const;
  // Updates the widgets without emitting settings_changed.
  void set_settings(const EngineSettings& settings);
  // What the budget percentage is a fraction of, and the tier's minimum (0: unknown).
  void set_expert_bytes(uint64_t all_expert_bytes, uint64_t min_budget_bytes);
  void show_report(const EngineReport& report);
  void show_error(const QString& message);

  // The expert budget in bytes the slider stands for (after the minimum), 0 when unknown.
  uint64_t budget_bytes() const;
  QSlider* budget_slider() const { return budget_; }
  // "CPU" (data "cpu"), then one item per GPU the CUDA runtime reports (data "cuda:N"), or one
  // disabled "CUDA: not available — <reason>" item (data "cuda") when there is none.
  QComboBox* device_combo() const { return device_; }
  QComboBox* routing_combo() const { return routing_; }
  QComboBox* policy_combo() const { return policy_; }
  QSpinBox* threads_spin() const { return threads_; }
  QComboBox* predictor_combo() const { return predictor_; }
  QSlider* interval_slider() const { return interval_; }
  QLabel* interval_label() const { return interval_label_; }
  QCheckBox* task_aware_check() const { return task_aware_; }
  QDoubleSpinBox* threshold_spin() const { return threshold_; }
  QString report_text() const;

 signals:
  void settings_changed(const emoe::ui::EngineSettings& settings);
  // While the slider moves (before the debounced settings_changed): for the memory estimate.
  void budget_previewed(double percent);

 private:
  void update_budget_label();
  void changed();

  void fill_devices();
  void select_device(const std::string& spec);

  QComboBox* device_ = nullptr;
  // What settings() reports: the user's choice, or the name set_settings() was given even when
  // no item stands for it ("cuda" without a GPU), so the engine can say why it runs on the CPU.
  std::string device_spec_ = "cpu";
  QSlider* budget_ = nullptr;
  QLabel* budget_label_ = nullptr;
  QComboBox* routing_ = nullptr;
  QComboBox* policy_ = nullptr;
  QSpinBox* threads_ = nullptr;
  QComboBox* predictor_ = nullptr;
  QSlider* interval_ = nullptr;
  QLabel* interval_label_ = nullptr;
  QCheckBox* task_aware_ = nullptr;
  QDoubleSpinBox* threshold_ = nullptr;
  QLabel* report_ = nullptr;
  QTimer* debounce_ = nullptr;
  uint64_t all_expert_bytes_ = 0;
  uint64_t min_budget_bytes_ = 0;
  int64_t n_ctx_ = 0;
  bool updating_ = false;
};

QString format_bytes(uint64_t bytes);  // "1.50 GiB", "12.0 MiB", "512 B"

}  // namespace emoe::ui
