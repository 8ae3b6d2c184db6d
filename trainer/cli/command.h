// The `vfm` binary is one program with subcommands (`vfm shard`, `vfm pretrain`, ...). Each subcommand
// lives in its own file in trainer/cli/, defines its own Abseil flags, and registers itself here.
#pragma once
#include <functional>
#include <map>
#include <string>

namespace vfm::cli {

// A subcommand: runs with the flags already parsed; `args` are the positional arguments after the
// subcommand name. Returns the process exit status.
struct Command {
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;
};

std::map<std::string, Command>& Registry();

struct RegisterCommand {
  RegisterCommand(const std::string& name, Command command) { Registry()[name] = std::move(command); }
};

}  // namespace vfm::cli
