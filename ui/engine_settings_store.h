// The engine settings the workbench keeps between runs, in QSettings under "engine/": the
// Controls dock's budget slider, routing, eviction policy, threads, eMoE's predictor, interval,
// task-awareness and sensitivity threshold, and the compute device.
#pragma once

#include "ui/engine_controller.h"

class QSettings;

namespace emoe::ui {

// `budget_slider_percent` is what the slider shows: routing "all" reports a 100% budget in
// EngineSettings whatever the slider says, and the slider's position is what comes back.
void save_engine_settings(QSettings& q, const EngineSettings& s, int budget_slider_percent);

// The saved settings over `defaults` (keys that are missing keep the default). A saved device
// that is not spelled cpu, cuda or cuda:N (an edited file) keeps the default device; one that
// names a GPU this machine lacks is kept: the engine then runs on the CPU and says why.
EngineSettings load_engine_settings(const QSettings& q, EngineSettings defaults);

}  // namespace emoe::ui
