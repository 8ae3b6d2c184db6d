// The subcommand registry and the check that a typed flag belongs to the subcommand it was typed for.
#include "trainer/cli/command.h"

#include <algorithm>

#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vfm::cli {

std::map<std::string, Command>& Registry() {
  static std::map<std::string, Command> registry;
  return registry;
}

namespace {

// The file in trainer/cli/ that defines `flag` ("pretrain.cc"); empty for Abseil's own (--flagfile, --helpfull).
std::string DefinedIn(const absl::CommandLineFlag& flag) {
  const std::string file = flag.Filename();
  const size_t cli = file.rfind("trainer/cli/");
  return cli == std::string::npos ? "" : file.substr(cli + 12);
}

// The flag an argument names ("--lr=1e-3", "-lr", "--nonorm_last_layer"), or null if it names none.
absl::CommandLineFlag* NamedFlag(std::string arg, bool* has_value) {
  arg.erase(0, arg.find_first_not_of('-'));
  const size_t eq = arg.find('=');
  *has_value = eq != std::string::npos;
  const std::string name = arg.substr(0, eq);
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && absl::StartsWith(name, "no")) {  // --noX sets the bool X to false
    flag = absl::FindCommandLineFlag(name.substr(2));
    if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
    *has_value = true;
  }
  return flag;
}

}  // namespace

bool Reads(const Command& command, const absl::CommandLineFlag& flag) {
  const std::string defined_in = DefinedIn(flag), name(flag.Name());
  if (defined_in.empty()) return false;
  return std::any_of(command.flags.begin(), command.flags.end(),
                     [&](const std::string& entry) { return entry == name || entry == defined_in; });
}

std::optional<std::string> TypedFlagNotRead(const std::string& name, const Command& command,
                                            const std::vector<char*>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    if (arg == "--") break;  // the rest is positional
    if (arg.size() < 2 || arg[0] != '-') continue;
    bool has_value = false;
    const absl::CommandLineFlag* flag = NamedFlag(arg, &has_value);
    if (flag == nullptr) continue;  // Abseil has refused an unknown flag already
    if (!has_value && !flag->IsOfType<bool>()) ++i;  // "--flag value": skip the value
    if (DefinedIn(*flag).empty() || Reads(command, *flag)) continue;
    std::vector<std::string> readers;
    for (const auto& [other, c] : Registry())
      if (Reads(c, *flag)) readers.push_back(other);
    return absl::StrCat("--", flag->Name(), " is not a flag of `vfm ", name, "` (it is read by `vfm ",
                        absl::StrJoin(readers, "`, `vfm "), "`); a --flagfile may hold flags of other subcommands");
  }
  return std::nullopt;
}

}  // namespace vfm::cli
