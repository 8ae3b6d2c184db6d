#include "trainer/data_parallel.h"

#include "distributed/zero1.h"

namespace vfm {

void CheckCollective(const absl::Status& status) {
  if (!status.ok()) dist::AbortProcess(status);
}

namespace {
// Waits for a collective whose result the host will read. On a GPU, Work::Wait only orders the compute
// stream, so the host then waits at a barrier that has the communicator's time-out (a dead peer gives
// an error, not a hang).
void WaitForHost(dist::Communicator& comm, const Tensor& t, std::unique_ptr<dist::Work> work) {
  CheckCollective(work->Wait());
  if (!t.device().is_cpu()) CheckCollective(comm.Barrier());
}
}  // namespace

IBotStepHooks DataParallelHooks(dist::GradientReducer& reducer) {
  IBotStepHooks hooks;
  hooks.after_backward = [&reducer] { CheckCollective(reducer.Finish()); };
  dist::Communicator& comm = reducer.comm();
  hooks.all_reduce_sum = [&comm](Tensor& t) { WaitForHost(comm, t, comm.AllReduce(t, dist::ReduceOp::kSum)); };
  if (reducer.zero1())
    hooks.after_update = [&reducer] { CheckCollective(dist::AllGatherParameters(reducer.grads(), reducer.comm())); };
  hooks.world = comm.world();
  return hooks;
}

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(const dist::ProcessInfo& process,
                                                                   const DataParallelOptions& options,
                                                                   nn::IBotNetwork& student, nn::IBotNetwork& teacher) {
  auto dp = std::unique_ptr<DataParallel>(new DataParallel());
  dp->process_ = process;
  // Collectives run where the parameters live: MPI for host tensors, NCCL for GPU ones.
  const Device device = student.NamedParameters().front().second.device();
  dp->device_ = device;
  dp->zero1_ = options.zero1 && process.world > 1;
  auto comm = dist::CreateCommunicator(process, device, options.comm);
  if (!comm.ok()) return comm.status();
  dp->comm_ = std::move(*comm);
  dp->grads_ = std::make_unique<GradBuckets>(student.NamedParameters(), options.bucket_bytes, dp->zero1_ ? process.world : 1);
  if (process.world == 1) return dp;
  if (absl::Status s = dist::BroadcastParameters(student.NamedParameters(), *dp->comm_); !s.ok()) return s;
  if (absl::Status s = dist::BroadcastParameters(teacher.NamedParameters(), *dp->comm_); !s.ok()) return s;
  dp->reducer_ = std::make_unique<dist::GradientReducer>(*dp->grads_, *dp->comm_, dist::ReducerOptions{dp->zero1_});
  dp->hooks_ = DataParallelHooks(*dp->reducer_);
  return dp;
}

absl::StatusOr<AdamW::States> DataParallel::OptimizerState(const AdamW& optimizer) {
  if (!zero1_) return optimizer.WholeState();
  auto m = dist::GatherBlocks(*grads_, optimizer.exp_avg(), *comm_);
  if (!m.ok()) return m.status();
  auto v = dist::GatherBlocks(*grads_, optimizer.exp_avg_sq(), *comm_);
  if (!v.ok()) return v.status();
  return optimizer.WholeState(*m, *v);
}

std::vector<double> DataParallel::MeanOverRanks(const std::vector<double>& values) {
  if (process_.world == 1) return values;
  // In f32 where the parameters live (the collectives' device and type): the values are f32 losses.
  Tensor t = Tensor::FromVector(std::vector<float>(values.begin(), values.end()), {int64_t(values.size())})
                 .ToDevice(device_);
  WaitForHost(*comm_, t, comm_->AllReduce(t, dist::ReduceOp::kSum));
  const std::vector<float> sums = t.ToVector();
  std::vector<double> mean(values.size());
  for (size_t i = 0; i < values.size(); ++i) mean[i] = double(sums[i]) / process_.world;
  return mean;
}

std::vector<double> DataParallel::SumOverRanks(const std::vector<double>& values) {
  if (process_.world == 1) return values;
  Tensor t = Tensor::FromVector(values, {int64_t(values.size())}).ToDevice(device_);
  WaitForHost(*comm_, t, comm_->AllReduce(t, dist::ReduceOp::kSum));
  const Tensor sums = t.ToDevice(Device::CPU());
  return std::vector<double>(sums.data<double>(), sums.data<double>() + sums.numel());
}

void DataParallel::SumOverRanks(Tensor* t) {
  if (process_.world == 1) return;
  Tensor on_device = t->ToDevice(device_);
  WaitForHost(*comm_, on_device, comm_->AllReduce(on_device, dist::ReduceOp::kSum));
  *t = on_device.ToDevice(Device::CPU());
}

bool DataParallel::AnyRank(bool value) {
  if (process_.world == 1) return value;
  Tensor flag = Tensor::Full({1}, value ? 1.0 : 0.0, DType::kF32, device_);
  WaitForHost(*comm_, flag, comm_->AllReduce(flag, dist::ReduceOp::kSum));
  return flag.item() > 0;
}

}  // namespace vfm
