"""A child process (vfm pretrain, eval, export) run by a driver script (vfm sweep, launch/per_modality.py)
that a stop signal reaches too: SLURM signals every process of a job step, Ctrl-C the terminal's foreground
group. vfm pretrain stops at a checkpoint on SIGTERM, SIGINT or SIGUSR1 (status 3); the driver only notes
the signal and stops after the child: dying first would orphan the child, and Python's KeyboardInterrupt
would make subprocess.run kill it mid-checkpoint."""
import signal
import subprocess

STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def run_noting_stops(command, log):
    """`command`'s exit status (stdout and stderr into the open file `log`), and whether a stop signal came
    while it ran."""
    received = []
    previous = {s: signal.signal(s, lambda number, frame: received.append(number)) for s in STOPS}
    try:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode, bool(received)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
