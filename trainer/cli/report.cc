// vfm report RUN... --out DIR: PNG plots and summary.md from the runs' metrics.jsonl (a RUN is a run folder
// or a sweep's folder of them), drawn by trainer/scripts/report.py (matplotlib), which checks the folders.
#include <cstdio>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "trainer/cli/command.h"
#include "trainer/cli/python_script.h"

ABSL_DECLARE_FLAG(std::string, out);

namespace vfm::cli {
namespace {

int RunReport(const std::vector<std::string>& runs) {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (runs.empty() || out.empty()) {
    std::fprintf(stderr, "usage: vfm report RUN_OR_SWEEP_FOLDER... --out DIR\n");
    return 2;
  }
  std::vector<std::string> args = runs;
  args.insert(args.end(), {"--out", out});
  return ExecPythonScript("report", "report.py", args);
}

const RegisterCommand kRegister("report", {"PNG plots and a Markdown summary of runs (matplotlib)", RunReport,
                                           {"out"}});

}  // namespace
}  // namespace vfm::cli
