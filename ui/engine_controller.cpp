#include "ui/engine_controller.h"

#include <QMetaObject>

#include "ui/engine_worker.h"

namespace emoe::ui {

EngineController::EngineController(QObject* parent) : QObject(parent) {
  qRegisterMetaType<emoe::ui::ModelSummary>();
  qRegisterMetaType<emoe::ui::EngineReport>();
  qRegisterMetaType<emoe::ui::RequestStats>();
  qRegisterMetaType<emoe::ui::SensitivityMatrix>();
  thread_.setObjectName(QStringLiteral("emoe-engine"));
  worker_ = new Worker(this);
  worker_->moveToThread(&thread_);
  // The worker is deleted on its own thread as the thread finishes (see the destructor).
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  thread_.start();
}

EngineController::~EngineController() {
  ++stop_epoch_;
  ++load_epoch_;
  cancel_.store(true);
  cancel_profile_.store(true);
  thread_.quit();  // after the running command, which the flags end at its next step
  thread_.wait();
  worker_ = nullptr;
}

void EngineController::open_model(const QString& path) {
  ++busy_;
  const uint64_t epoch = load_epoch_.load();
  worker_->enqueue([path, epoch](Worker& w) { w.open_model(path, epoch); });
}

void EngineController::cancel_load() { ++load_epoch_; }

void EngineController::set_database(const QString& path) {
  worker_->enqueue([path](Worker& w) { w.set_database(path); });
}

void EngineController::apply_settings(const EngineSettings& settings) {
  worker_->enqueue([settings](Worker& w) { w.apply_settings(settings); });
}

void EngineController::submit(const PromptRequest& request) {
  ++busy_;
  const auto arrival = std::chrono::steady_clock::now();
  const uint64_t epoch = stop_epoch_.load();
  worker_->enqueue(
      [request, arrival, epoch](Worker& w) { w.run_request(request, arrival, epoch); });
}

void EngineController::stop() {
  ++stop_epoch_;  // before the flag: see Worker::run_request
  cancel_.store(true);
}

void EngineController::load_sensitivity() {
  worker_->enqueue([](Worker& w) { w.load_sensitivity(); });
}

void EngineController::profile_sensitivity() {
  ++busy_;
  cancel_profile_.store(false);
  worker_->enqueue([](Worker& w) { w.profile_sensitivity(); });
}

void EngineController::cancel_profile() { cancel_profile_.store(true); }

}  // namespace emoe::ui
