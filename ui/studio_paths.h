// Where the workbench keeps its files, shared with the CLI: the data directory
// $XDG_DATA_HOME/emoe-studio (else ~/.local/share/emoe-studio), its history.db (the CLI's
// default --db) and the generated demo model demo.gguf (where scripts/run.sh puts it; like
// run.sh, EMOE_DATA_DIR overrides the demo model's directory).
#pragma once

#include <QString>

namespace emoe::ui {

struct StudioPaths {
  static QString data_dir();        // created when missing
  static QString database_path();   // data_dir()/history.db
  static QString demo_model_dir();  // $EMOE_DATA_DIR or data_dir() (created when missing)
};

// QSettings names shared by the app and its tests.
inline constexpr const char* kSettingsOrganisation = "eMoE";
inline constexpr const char* kSettingsApplication = "eMoE Studio";

}  // namespace emoe::ui
