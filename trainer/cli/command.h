// The `vfm` binary is one program with subcommands (`vfm shard`, `vfm pretrain`, ...). Each subcommand
// lives in its own file in trainer/cli/, defines its own Abseil flags, and registers itself here.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"

namespace vfm::cli {

// A subcommand: runs with the flags already parsed; `args` are the positional arguments after the
// subcommand name. Returns the process exit status.
struct Command {
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;
  // The flags it reads: names ("seed"), or a file ("pretrain.cc") for every flag defined in trainer/cli/<file>.
  // Abseil's flags are global, so this list is what tells a flag of another subcommand apart.
  std::vector<std::string> flags;
};

std::map<std::string, Command>& Registry();

struct RegisterCommand {
  RegisterCommand(const std::string& name, Command command) { Registry()[name] = std::move(command); }
};

// Whether `command` reads `flag`, one that vfm defines (by its list above).
bool Reads(const Command& command, const absl::CommandLineFlag& flag);

// The first flag typed in `args` (the command line after the subcommand, before "--") that `command` does
// not read, as an error line; flags read from a --flagfile are not checked, so that one recipe file can
// serve several subcommands (`vfm pretrain` and `vfm import`).
std::optional<std::string> TypedFlagNotRead(const std::string& name, const Command& command,
                                            const std::vector<char*>& args);

}  // namespace vfm::cli
