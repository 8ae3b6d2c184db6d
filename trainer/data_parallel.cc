#include "trainer/data_parallel.h"

#include "absl/flags/flag.h"
#include "distributed/flags.h"

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

IBotStepHooks DataParallelHooks(dist::GradientReducer& reducer, dist::Zero1AdamW* zero1) {
  IBotStepHooks hooks;
  hooks.after_backward = [&reducer] { CheckCollective(reducer.Finish()); };
  if (zero1 != nullptr)
    hooks.update = [zero1](const IBotStepSettings& s) {
      CheckCollective(zero1->Step(s.lr, s.weight_decay, s.clip_grad,
                                  s.freeze_last_layer ? IsLastLayerParameter : std::function<bool(const std::string&)>()));
    };
  dist::Communicator& comm = reducer.comm();
  hooks.all_reduce_sum = [&comm](Tensor& t) { WaitForHost(comm, t, comm.AllReduce(t, dist::ReduceOp::kSum)); };
  hooks.world = comm.world();
  return hooks;
}

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(const dist::ProcessInfo& process,
                                                                   nn::IBotNetwork& student, nn::IBotNetwork& teacher) {
  auto dp = std::unique_ptr<DataParallel>(new DataParallel());
  dp->process_ = process;
  auto options = dist::CommOptionsFromFlags();
  if (!options.ok()) return options.status();
  // Collectives run where the parameters live: MPI for host tensors, NCCL for GPU ones.
  const Device device = student.NamedParameters().front().second.device();
  if (!device.is_cpu() && absl::GetFlag(FLAGS_zero1))
    return absl::UnimplementedError("--zero1 updates on the host: not available with GPU training yet");
  dp->device_ = device;
  auto comm = dist::CreateCommunicator(process, device, *options);
  if (!comm.ok()) return comm.status();
  dp->comm_ = std::move(*comm);
  if (process.world == 1) return dp;
  if (absl::Status s = dist::BroadcastParameters(student.NamedParameters(), *dp->comm_); !s.ok()) return s;
  if (absl::Status s = dist::BroadcastParameters(teacher.NamedParameters(), *dp->comm_); !s.ok()) return s;
  auto reducer_options = dist::ReducerOptionsFromFlags();
  if (!reducer_options.ok()) return reducer_options.status();
  dp->reducer_ = std::make_unique<dist::GradientReducer>(student.NamedParameters(), *dp->comm_, *reducer_options);
  if (absl::GetFlag(FLAGS_zero1))
    dp->zero1_ = std::make_unique<dist::Zero1AdamW>(*dp->reducer_, dist::Zero1Config{0.9, 0.999, 1e-8, AdamW::IsDecayed});
  dp->hooks_ = DataParallelHooks(*dp->reducer_, dp->zero1_.get());
  return dp;
}

absl::Status DataParallel::GatherOptimizerState(AdamW& optimizer) {
  if (!zero1_) return absl::OkStatus();
  auto state = zero1_->GatherState();
  if (!state.ok()) return state.status();
  for (auto& [name, s] : optimizer.state()) {
    const dist::Zero1AdamW::ParamState& full = state->at(name);
    s.m.CopyFrom(full.m);
    s.v.CopyFrom(full.v);
    s.step = full.step;
  }
  return absl::OkStatus();
}

absl::Status DataParallel::ScatterOptimizerState(const AdamW& optimizer) {
  if (!zero1_) return absl::OkStatus();
  std::map<std::string, dist::Zero1AdamW::ParamState> full;
  for (const auto& [name, s] : optimizer.state()) full[name] = {s.m, s.v, s.step};
  return zero1_->LoadState(full);
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

bool DataParallel::AnyRank(bool value) {
  if (process_.world == 1) return value;
  Tensor flag = Tensor::Full({1}, value ? 1.0 : 0.0, DType::kF32, device_);
  WaitForHost(*comm_, flag, comm_->AllReduce(flag, dist::ReduceOp::kSum));
  return flag.item() > 0;
}

}  // namespace vfm
