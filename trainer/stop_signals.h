// Cluster preemption and time limits: SIGTERM (preemption, scancel), SIGINT (Ctrl-C) and SIGUSR1 (SLURM's
// `--signal=USR1@seconds` before the time limit) ask a run to stop. The handler only records the signal;
// the training loop sees it after the step in flight, all ranks agree on it (DataParallel::AnyRank),
// and the run writes a checkpoint and exits with kExitStopped so a job script can requeue it.
#pragma once

namespace vfm {

// `vfm pretrain`'s exit status after a requested stop with its checkpoint written.
inline constexpr int kExitStopped = 3;

// Installs the handlers (once per process); a second signal of the same kind restores the default action,
// so a second Ctrl-C still ends a run that is stuck.
void InstallStopSignals();
// The signal that asked for a stop, 0 when none did.
int StopSignal();
const char* StopSignalName(int signal);

}  // namespace vfm
