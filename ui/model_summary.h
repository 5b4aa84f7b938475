// The Model dock's picture of a model (ModelSummary): hyperparameters, weight and KV sizes, the
// GGUF metadata as display text (long arrays and values shortened) and the tensor table. Built
// on the engine thread when a model opens, so the GUI only receives values.
#pragma once

#include <QString>

#include "ui/engine_controller.h"

namespace emoe::model {
class Model;
}

namespace emoe::ui {

// `path`: the file the model was opened from (its name stands in for a missing general.name).
ModelSummary summarize_model(const model::Model& m, const QString& path);

}  // namespace emoe::ui
