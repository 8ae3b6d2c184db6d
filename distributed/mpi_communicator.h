// The MPI backend, for CPU tensors. Collectives run on one worker thread, in call order: it starts each
// as a non-blocking MPI call and polls it to completion, so that a collective launched during backward
// progresses while the main thread computes, and so that none can wait forever: past the time-out it
// fails with the rank and the collective named, and so does every later one. The error also names the
// ranks (and their hosts) that have stopped answering, found by a short exchange among the ranks that
// time out: a dead, hung, frozen or unreachable rank stays silent.
#pragma once
#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/communicator.h"

namespace vfm::dist {

struct MpiCompletion;  // one collective's outcome, shared by the worker and its Work

class MpiCommunicator : public Communicator {
 public:
  // Over MPI_COMM_WORLD (duplicated, so its traffic never matches anyone else's); MPI must be initialised.
  static absl::StatusOr<std::unique_ptr<Communicator>> Create(const CommOptions& options);
  ~MpiCommunicator() override;

  std::unique_ptr<Work> AllReduce(const Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp op) override;
  std::unique_ptr<Work> AllGather(const Tensor& in, const Tensor& out) override;
  std::unique_ptr<Work> Broadcast(const Tensor& t, int root) override;
  absl::Status Barrier() override;

 private:
  struct Op {
    std::string what;                        // "all_reduce #12 (4096 x f32)", for errors
    std::function<int(MPI_Request*)> start;  // the non-blocking MPI call
    std::function<void()> finish;            // after completion (the division of an average)
    std::shared_ptr<MpiCompletion> done;
  };

  MpiCommunicator(MPI_Comm comm, MPI_Comm probe, int rank, std::vector<std::string> hosts,
                  const CommOptions& options);
  std::unique_ptr<Work> Enqueue(const char* name, const Tensor& t, std::function<int(MPI_Request*)> start,
                                std::function<void()> finish = nullptr);
  void Run();
  absl::Status Execute(const Op& op);
  // After a time-out: the ranks that do not answer a probe within a quarter of the time-out, with their
  // hosts ("rank 2 on node07, rank 3 on node07"), or a line saying that every rank answers.
  std::string SilentRanks();

  MPI_Comm comm_;
  MPI_Comm probe_;                  // for SilentRanks only, so that probes never match a collective
  std::vector<std::string> hosts_;  // of every rank
  CommOptions options_;
  int64_t sequence_ = 0;  // collectives issued, for the names in errors
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Op> queue_;
  bool stop_ = false;
  absl::Status failed_;  // the first failure; only the worker touches it
  // Threads blocked in Work::Wait (shared with the Works, which may outlive the communicator).
  std::shared_ptr<std::atomic<int>> waiters_ = std::make_shared<std::atomic<int>>(0);
  std::thread worker_;
};

}  // namespace vfm::dist
