// vfm: `vfm <subcommand> [--flags]`. Flags may come from a flagfile (--flagfile=launch/configs/x.flags).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "trainer/cli/command.h"

namespace {
std::string UsageText() {
  std::string text = "usage: vfm <subcommand> [--flags] [--flagfile=FILE]\nsubcommands:\n";
  for (const auto& [name, command] : vfm::cli::Registry()) text += "  " + name + "  " + command.summary + "\n";
  return text + "`vfm <subcommand> --helpfull` lists the flags.";
}
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(UsageText());
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "%s\n", UsageText().c_str());
    return 2;
  }
  const std::string name = argv[1];
  auto it = vfm::cli::Registry().find(name);
  if (it == vfm::cli::Registry().end()) {
    std::fprintf(stderr, "vfm: unknown subcommand '%s'\n%s\n", name.c_str(), UsageText().c_str());
    return 2;
  }
  // Parse flags with the subcommand name removed, so positional arguments start after it.
  std::vector<char*> rest{argv[0]};
  for (int i = 2; i < argc; ++i) rest.push_back(argv[i]);
  std::vector<char*> positional = absl::ParseCommandLine(int(rest.size()), rest.data());
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (auto unread = vfm::cli::TypedFlagNotRead(name, it->second, {rest.begin() + 1, rest.end()})) {
    std::fprintf(stderr, "vfm %s: %s\n", name.c_str(), unread->c_str());
    return 2;
  }
  try {
    return it->second.run(args);
  } catch (const std::exception& e) {  // vfm::Error or a library's: one line and a status, never an abort
    std::fprintf(stderr, "vfm %s: %s\n", name.c_str(), e.what());
    return 1;
  }
}
