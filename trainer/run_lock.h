// A run folder belongs to one process at a time (DESIGN.md, "The CLI"): an advisory lock (flock) on
// RUN_DIR/.lock, held for the life of the RunLock, with the holder's pid, host and start time written in
// the file so that a refused second `vfm pretrain` can name it. The kernel drops the lock when the holder
// exits, however it exits, so a crashed run never leaves the folder locked.
#pragma once
#include <string>

#include "absl/status/statusor.h"

namespace vfm {

class RunLock {
 public:
  // FailedPrecondition naming the holder when another process holds the folder.
  static absl::StatusOr<RunLock> Acquire(const std::string& run_dir);
  RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vfm
