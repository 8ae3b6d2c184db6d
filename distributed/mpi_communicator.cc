#include "distributed/mpi_communicator.h"

#include <chrono>
#include <climits>
#include <cstring>

#include "absl/strings/str_format.h"

namespace vfm::dist {

namespace {

MPI_Datatype ReduceType(const Tensor& t) { return t.dtype() == DType::kF32 ? MPI_FLOAT : MPI_DOUBLE; }

int Count(int64_t n, const char* what) {
  VFM_CHECK(n <= INT_MAX) << what << ": " << n << " elements is more than one MPI call can move";
  return int(n);
}

// t /= world, after a sum (MPI has no average).
void DivideBy(const Tensor& t, int world) {
  if (t.dtype() == DType::kF32) {
    float* p = t.data<float>();
    const float s = 1.0f / float(world);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= s;
  } else {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] /= world;
  }
}

}  // namespace

struct MpiCompletion {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;
};

namespace {
class MpiWork : public Work {
 public:
  MpiWork(std::shared_ptr<MpiCompletion> c, std::shared_ptr<std::atomic<int>> waiters)
      : c_(std::move(c)), waiters_(std::move(waiters)) {}
  absl::Status Wait() override {
    ++*waiters_;
    std::unique_lock<std::mutex> lock(c_->mu);
    c_->cv.wait(lock, [&] { return c_->done; });
    --*waiters_;
    return c_->status;
  }

 private:
  std::shared_ptr<MpiCompletion> c_;
  std::shared_ptr<std::atomic<int>> waiters_;
};
}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::Create(const CommOptions& options) {
  MPI_Comm comm, probe;
  if (absl::Status s = MpiStatus(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "duplicating MPI_COMM_WORLD"); !s.ok()) return s;
  if (absl::Status s = MpiStatus(MPI_Comm_dup(MPI_COMM_WORLD, &probe), "duplicating MPI_COMM_WORLD"); !s.ok()) return s;
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(probe, MPI_ERRORS_RETURN);
  int rank = 0, world = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  std::vector<char> names(size_t(world) * MPI_MAX_PROCESSOR_NAME), mine(MPI_MAX_PROCESSOR_NAME);
  HostName().copy(mine.data(), MPI_MAX_PROCESSOR_NAME - 1);
  if (absl::Status s = MpiStatus(MPI_Allgather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names.data(),
                                               MPI_MAX_PROCESSOR_NAME, MPI_CHAR, comm),
                                 "gathering the ranks' host names");
      !s.ok())
    return s;
  std::vector<std::string> hosts;
  for (int r = 0; r < world; ++r) hosts.emplace_back(&names[size_t(r) * MPI_MAX_PROCESSOR_NAME]);
  return std::unique_ptr<Communicator>(new MpiCommunicator(comm, probe, rank, std::move(hosts), options));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, MPI_Comm probe, int rank, std::vector<std::string> hosts,
                                 const CommOptions& options)
    : Communicator(rank, int(hosts.size())),
      comm_(comm),
      probe_(probe),
      hosts_(std::move(hosts)),
      options_(options),
      worker_([this] { Run(); }) {}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  worker_.join();
  MPI_Comm_free(&probe_);
  MPI_Comm_free(&comm_);
}

std::unique_ptr<Work> MpiCommunicator::Enqueue(const char* name, const Tensor& t,
                                               std::function<int(MPI_Request*)> start, std::function<void()> finish) {
  auto done = std::make_shared<MpiCompletion>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Op{absl::StrFormat("%s #%d (%d x %s)", name, sequence_++, t.numel(), DTypeName(t.dtype())),
                        std::move(start), std::move(finish), done});
  }
  wake_.notify_one();
  return std::make_unique<MpiWork>(std::move(done), waiters_);
}

void MpiCommunicator::Run() {
  for (;;) {
    Op op;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      op = std::move(queue_.front());
      queue_.pop_front();
    }
    if (failed_.ok()) failed_ = Execute(op);
    {
      std::lock_guard<std::mutex> lock(op.done->mu);
      op.done->status = failed_;
      op.done->done = true;
    }
    op.done->cv.notify_all();
  }
}

absl::Status MpiCommunicator::Execute(const Op& op) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
  MPI_Request request;
  if (absl::Status s = MpiStatus(op.start(&request), op.what); !s.ok()) return s;
  for (;;) {
    int complete = 0;
    if (absl::Status s = MpiStatus(MPI_Test(&request, &complete, MPI_STATUS_IGNORE), op.what); !s.ok()) return s;
    if (complete) break;
    if (Clock::now() > deadline)
      return absl::DeadlineExceededError(absl::StrFormat("rank %d of %d on %s: %s did not complete within %g s "
                                                         "(--comm_timeout_s): %s",
                                                         rank(), world(), hosts_[rank()], op.what,
                                                         options_.timeout_s, SilentRanks()));
    // Open MPI advances a non-blocking collective only inside MPI calls. While a thread waits for a
    // collective its core is free: poll flat out. Otherwise (backward is running) poll gently, leaving the
    // cores to the compute threads in between.
    if (*waiters_ > 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  if (op.finish) op.finish();
  return absl::OkStatus();
}

std::string MpiCommunicator::SilentRanks() {
  // Every live rank is stuck in the same collective, so it times out too, within the ranks' skew of a
  // step: each sends one byte to every other rank and waits for one from each. A rank that is dead,
  // hung, frozen or cut off sends nothing.
  using Clock = std::chrono::steady_clock;
  const double window_s = options_.timeout_s / 4;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window_s));
  static const char kPing = 1;
  const size_t n = static_cast<size_t>(world());
  std::vector<char> answers(n);
  std::vector<MPI_Request> received(n, MPI_REQUEST_NULL);
  for (int r = 0; r < world(); ++r) {
    if (r == rank()) continue;
    MPI_Request sent;
    MPI_Isend(&kPing, 1, MPI_CHAR, r, 0, probe_, &sent);
    MPI_Request_free(&sent);
    MPI_Irecv(&answers[size_t(r)], 1, MPI_CHAR, r, 0, probe_, &received[size_t(r)]);
  }
  std::vector<int> silent;
  for (;;) {
    silent.clear();
    for (int r = 0; r < world(); ++r) {
      int done = 1;
      if (received[size_t(r)] != MPI_REQUEST_NULL) MPI_Test(&received[size_t(r)], &done, MPI_STATUS_IGNORE);
      if (!done) silent.push_back(r);
    }
    if (silent.empty() || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int r : silent) {  // a late answer must not land in `answers` once it is gone
    MPI_Cancel(&received[size_t(r)]);
    MPI_Request_free(&received[size_t(r)]);
  }
  if (silent.empty()) return "every rank still answers (a collective slower than the time-out?)";
  std::string names;
  for (int r : silent) absl::StrAppendFormat(&names, "%srank %d on %s", names.empty() ? "" : ", ", r, hosts_[size_t(r)]);
  return absl::StrFormat("no answer within %g s from %s (dead, hung or unreachable)", window_s, names);
}

std::unique_ptr<Work> MpiCommunicator::AllReduce(const Tensor& t, ReduceOp op) {
  CheckReduceArgs(t, "all_reduce");
  const int n = Count(t.numel(), "all_reduce");
  const int w = world();
  return Enqueue(
      "all_reduce", t,
      [this, t, n](MPI_Request* r) {
        return MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), n, ReduceType(t), MPI_SUM, comm_, r);
      },
      op == ReduceOp::kAvg ? std::function<void()>([t, w] { DivideBy(t, w); }) : nullptr);
}

std::unique_ptr<Work> MpiCommunicator::ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  CheckReduceArgs(in, "reduce_scatter");
  CheckBlockArgs(out, in, world(), "reduce_scatter");
  const int n = Count(out.numel(), "reduce_scatter");
  const int w = world();
  if (!IsBlockOf(out, in, rank()))
    return Enqueue(
        "reduce_scatter", in,
        [this, in, out, n](MPI_Request* r) {
          return MPI_Ireduce_scatter_block(in.raw_data(), out.raw_data(), n, ReduceType(in), MPI_SUM, comm_, r);
        },
        op == ReduceOp::kAvg ? std::function<void()>([out, w] { DivideBy(out, w); }) : nullptr);
  // In place, MPI leaves this rank's block of the result at the start of the buffer: moved into place.
  return Enqueue(
      "reduce_scatter", in,
      [this, in, n](MPI_Request* r) {
        return MPI_Ireduce_scatter_block(MPI_IN_PLACE, in.raw_data(), n, ReduceType(in), MPI_SUM, comm_, r);
      },
      [in, out, w, op] {
        std::memmove(out.raw_data(), in.raw_data(), out.nbytes());
        if (op == ReduceOp::kAvg) DivideBy(out, w);
      });
}

std::unique_ptr<Work> MpiCommunicator::AllGather(const Tensor& in, const Tensor& out) {
  CheckBlockArgs(in, out, world(), "all_gather");
  const int bytes = Count(int64_t(in.nbytes()), "all_gather");
  const bool in_place = IsBlockOf(in, out, rank());
  return Enqueue("all_gather", in, [this, in, out, bytes, in_place](MPI_Request* r) {
    return MPI_Iallgather(in_place ? MPI_IN_PLACE : in.raw_data(), bytes, MPI_BYTE, out.raw_data(), bytes, MPI_BYTE,
                          comm_, r);
  });
}

std::unique_ptr<Work> MpiCommunicator::Broadcast(const Tensor& t, int root) {
  VFM_CHECK(t.is_contiguous() && root >= 0 && root < world()) << "broadcast from rank " << root << " of " << world();
  const int bytes = Count(int64_t(t.nbytes()), "broadcast");
  return Enqueue("broadcast", t, [this, t, bytes, root](MPI_Request* r) {
    return MPI_Ibcast(t.raw_data(), bytes, MPI_BYTE, root, comm_, r);
  });
}

absl::Status MpiCommunicator::Barrier() {
  return Enqueue("barrier", Tensor::Empty({0}), [this](MPI_Request* r) { return MPI_Ibarrier(comm_, r); })->Wait();
}

}  // namespace vfm::dist
