#include "ui/engine_settings_store.h"

#include <QRegularExpression>
#include <QSettings>

namespace emoe::ui {

void save_engine_settings(QSettings& q, const EngineSettings& s, int budget_slider_percent) {
  q.setValue("engine/budget_percent", budget_slider_percent);
  q.setValue("engine/mode", static_cast<int>(s.mode));
  q.setValue("engine/policy", static_cast<int>(s.policy));
  q.setValue("engine/threads", s.n_threads);
  q.setValue("engine/predictor", QString::fromStdString(s.predictor));
  q.setValue("engine/interval", s.interval);
  q.setValue("engine/task_aware", s.task_aware);
  q.setValue("engine/sensitivity_threshold", s.sensitivity_threshold);
  q.setValue("engine/device", QString::fromStdString(s.device));
}

EngineSettings load_engine_settings(const QSettings& q, EngineSettings e) {
  e.budget_percent = q.value("engine/budget_percent", 100).toDouble();
  e.mode =
      static_cast<engine::RoutingMode>(q.value("engine/mode", static_cast<int>(e.mode)).toInt());
  e.policy = static_cast<experts::EvictionPolicy>(
      q.value("engine/policy", static_cast<int>(e.policy)).toInt());
  e.n_threads = q.value("engine/threads", e.n_threads).toInt();
  e.predictor = q.value("engine/predictor", "none").toString().toStdString();
  e.interval = q.value("engine/interval", e.interval).toInt();
  e.task_aware = q.value("engine/task_aware", e.task_aware).toBool();
  e.sensitivity_threshold =
      q.value("engine/sensitivity_threshold", e.sensitivity_threshold).toDouble();
  // The form emoe-studio --device accepts; whether the GPU exists is the engine thread's call.
  static const QRegularExpression form(QStringLiteral("^(cpu|cuda|cuda:[0-9]{1,4})$"));
  const QString device = q.value("engine/device").toString();
  if (form.match(device).hasMatch()) e.device = device.toStdString();
  return e;
}

}  // namespace emoe::ui
