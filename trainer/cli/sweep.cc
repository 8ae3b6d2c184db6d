// vfm sweep SPEC.json [--point=I] [--point_count]: the points of a sweep (a product of `vfm pretrain` flag
// values), each a run folder, run in sequence and resumable, then sweep.csv; or one point (a SLURM array
// task, launch/sweep.sbatch). trainer/scripts/sweep.py does the work, calling this binary's `pretrain`.
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "trainer/cli/command.h"
#include "trainer/cli/python_script.h"

ABSL_FLAG(int, point, -1, "sweep: run only this point (0-based; -1: every point, then sweep.csv)");
ABSL_FLAG(bool, point_count, false, "sweep: print the number of points and exit");

namespace vfm::cli {
namespace {

int RunSweep(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: vfm sweep SPEC.json [--point=I] [--point_count]\n");
    return 2;
  }
  std::error_code ec;
  const std::string vfm = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    std::fprintf(stderr, "vfm sweep: cannot find this binary's path: %s\n", ec.message().c_str());
    return 1;
  }
  std::vector<std::string> script_args{vfm, args[0]};
  if (absl::GetFlag(FLAGS_point_count)) {
    script_args.push_back("--count");
  } else if (absl::GetFlag(FLAGS_point) != -1) {  // sweep.py refuses one outside [0, points)
    script_args.insert(script_args.end(), {"--point", std::to_string(absl::GetFlag(FLAGS_point))});
  }
  return ExecPythonScript("sweep", "sweep.py", script_args);
}

const RegisterCommand kRegister("sweep", {"run a sweep spec's points (run folders, resumable) and write sweep.csv",
                                          RunSweep, {"sweep.cc"}});

}  // namespace
}  // namespace vfm::cli
