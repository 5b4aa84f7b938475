// Token-level expert tracing: for the selected token, one row per MoE layer with the router's
// top-k experts and weights, the experts actually used (fallback substitutions highlighted) and
// whether each was resident (hit) or loaded for it.
#pragma once

#include <QWidget>
#include <optional>

#include "ui/telemetry.h"

class QTableWidget;
class QLabel;

namespace emoe::ui {

class TokenTraceView : public QWidget {
  Q_OBJECT

 public:
  explicit TokenTraceView(QWidget* parent = nullptr);

  void show_token(const TokenTelemetry& token);
  void clear();
  const std::optional<TokenTelemetry>& shown() const { return shown_; }
  QTableWidget* table() const { return table_; }

 private:
  std::optional<TokenTelemetry> shown_;
  QTableWidget* table_ = nullptr;
  QLabel* header_ = nullptr;
};

}  // namespace emoe::ui
