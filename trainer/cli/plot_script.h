// `vfm report` and `vfm attn` draw with matplotlib: their Python scripts live in trainer/plots/ and run
// with the Python found at build time (VFM_PYTHON, Debian's python3 with python3-matplotlib).
#pragma once
#include <string>
#include <vector>

namespace vfm::cli {

// Replaces this process with `VFM_PYTHON trainer/plots/<script> args...`, so the script's output and exit
// status are the subcommand's. Returns only when that fails: 1, with the reason on stderr.
int ExecPlotScript(const std::string& command, const std::string& script, const std::vector<std::string>& args);

}  // namespace vfm::cli
