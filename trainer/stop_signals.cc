#include "trainer/stop_signals.h"

#include <csignal>
#include <initializer_list>

namespace vfm {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int signal) {
  g_stop_signal = signal;
  std::signal(signal, SIG_DFL);  // the next one ends the process at once
}

}  // namespace

void InstallStopSignals() {
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) std::signal(s, OnStopSignal);
}

int StopSignal() { return g_stop_signal; }

const char* StopSignalName(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

}  // namespace vfm
