// The Model dock: open a model, watch it load (progress, Cancel), then inspect it: an overview
// with the memory estimate for the Controls' budget, the metadata table, the tensor table with
// search, and per-expert sizes per layer. Everything shown comes from the ModelSummary values
// the engine controller hands over; nothing here touches the engine.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <optional>
#include <vector>

#include "ui/engine_controller.h"

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QStandardItemModel;
class QTableView;
class QTableWidget;
class QTabWidget;

namespace emoe::ui {

// The device-memory split plan_memory (core/experts/memory_plan.h) computes, from the plain
// numbers of a ModelSummary: the device total is what dense weights, every expert, scratch and
// a KV cache for the training context take; a smaller expert budget leaves the rest to KV.
struct MemoryEstimate {
  uint64_t device_bytes = 0;
  uint64_t dense_bytes = 0;
  uint64_t expert_bytes = 0;  // the expert tier at this budget (at least the minimum)
  uint64_t all_expert_bytes = 0;
  uint64_t min_expert_bytes = 0;  // n_expert_used slots per MoE layer
  uint64_t scratch_bytes = 0;
  uint64_t kv_bytes = 0;
  int64_t max_context = 0;  // tokens the KV cache holds
};
MemoryEstimate estimate_memory(const ModelSummary& summary, double budget_percent,
                               int64_t n_batch = 512);
uint64_t minimum_expert_budget(const ModelSummary& summary);

// Per MoE layer: bytes of one expert (gate + up + down) and of all experts of the layer.
struct LayerExpertSize {
  int32_t layer = 0;
  uint64_t bytes_per_expert = 0;
  uint64_t layer_bytes = 0;
};
std::vector<LayerExpertSize> expert_sizes(const ModelSummary& summary);

class ModelDock : public QWidget {
  Q_OBJECT

 public:
  explicit ModelDock(QWidget* parent = nullptr);

  void loading_started(const QString& path);
  void show_progress(double fraction, const QString& stage);
  void show_summary(const ModelSummary& summary);
  void show_error(const QString& message);
  void set_budget_percent(double percent);  // recomputes the memory estimate

  const std::optional<ModelSummary>& summary() const { return summary_; }
  const MemoryEstimate& estimate() const { return estimate_; }
  QLineEdit* tensor_search() const { return search_; }
  QSortFilterProxyModel* tensor_proxy() const { return proxy_; }
  QTableWidget* metadata_table() const { return metadata_; }
  QTableWidget* expert_table() const { return experts_; }
  QProgressBar* progress_bar() const { return progress_; }
  QPushButton* cancel_button() const { return cancel_; }
  QString estimate_text() const;

 signals:
  void open_requested();
  void cancel_requested();

 private:
  void update_estimate();

  QLabel* title_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QLabel* error_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QLabel* overview_ = nullptr;
  QLabel* estimate_label_ = nullptr;
  QTableWidget* metadata_ = nullptr;
  QLineEdit* search_ = nullptr;
  QStandardItemModel* tensors_ = nullptr;
  QSortFilterProxyModel* proxy_ = nullptr;
  QTableView* tensor_view_ = nullptr;
  QTableWidget* experts_ = nullptr;
  std::optional<ModelSummary> summary_;
  MemoryEstimate estimate_;
  double budget_percent_ = 100;
};

}  // namespace emoe::ui
