#include "trainer/cli/python_script.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vfm::cli {

int ExecPythonScript(const std::string& command, const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> strings{VFM_PYTHON, std::string(VFM_SCRIPTS_DIR) + "/" + script};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);  // what the subcommand printed comes before the script's output
  execv(argv[0], argv.data());
  std::fprintf(stderr, "vfm %s: cannot run %s: %s\n", command.c_str(), VFM_PYTHON, std::strerror(errno));
  return 1;
}

}  // namespace vfm::cli
