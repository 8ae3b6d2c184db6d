// `vfm report`, `vfm attn` and `vfm sweep` are Python scripts in trainer/scripts/ (matplotlib draws the
// pictures; a sweep runs `vfm pretrain` per point), run with the Python found at build time (VFM_PYTHON).
#pragma once
#include <string>
#include <vector>

namespace vfm::cli {

// Replaces this process with `VFM_PYTHON trainer/scripts/<script> args...`, so the script's output and exit
// status are the subcommand's. Returns only when that fails: 1, with the reason on stderr.
int ExecPythonScript(const std::string& command, const std::string& script, const std::vector<std::string>& args);

}  // namespace vfm::cli
