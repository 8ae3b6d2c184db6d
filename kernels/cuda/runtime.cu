#include <cstdio>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {

void FailCuda(cudaError_t err, const char* what, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);
  std::ostringstream msg;
  msg << "CUDA error on device " << device << ": " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err)
      << ") from " << what << " at " << file << ":" << line;
  throw Error(msg.str());
}

namespace {
struct DeviceStreams {
  cudaStream_t compute = nullptr, copy = nullptr;
};
// Indexed by device; streams are created once and never destroyed (they outlive every tensor).
std::vector<DeviceStreams>& Streams() {
  static std::vector<DeviceStreams> streams;
  return streams;
}
std::mutex streams_mutex;

DeviceStreams& StreamsOfCurrent() {
  const int device = CurrentDevice();
  std::lock_guard<std::mutex> lock(streams_mutex);
  auto& all = Streams();
  if (int(all.size()) <= device) all.resize(size_t(device) + 1);
  DeviceStreams& s = all[size_t(device)];
  if (!s.compute) {
    VFM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.compute, cudaStreamNonBlocking));
    VFM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.copy, cudaStreamNonBlocking));
  }
  return s;
}

cudaStream_t Resolve(Stream stream) { return stream ? static_cast<cudaStream_t>(stream) : Compute(); }
}  // namespace

void SetDevice(int index) { VFM_CUDA_CHECK(cudaSetDevice(index)); }

int CurrentDevice() {
  int device = 0;
  VFM_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

int ComputeCapability() {
  const int device = CurrentDevice();
  int major = 0, minor = 0;
  VFM_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  VFM_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return 10 * major + minor;
}

Stream ComputeStream() { return StreamsOfCurrent().compute; }
Stream CopyStream() { return StreamsOfCurrent().copy; }

void* DeviceMalloc(size_t nbytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, nbytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error so the retry starts clean
    return nullptr;
  }
  VFM_CUDA_CHECK(err);
  return p;
}

void DeviceFree(void* ptr) { VFM_CUDA_CHECK(cudaFree(ptr)); }

void* PinnedMalloc(size_t nbytes) {
  void* p = nullptr;
  VFM_CUDA_CHECK(cudaMallocHost(&p, nbytes));
  return p;
}

void PinnedFree(void* ptr) { VFM_CUDA_CHECK(cudaFreeHost(ptr)); }

size_t DeviceMemoryTotal() {
  size_t free_bytes = 0, total = 0;
  VFM_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return total;
}

void CopyAsync(void* dst, const void* src, size_t nbytes, Stream stream) {
  if (nbytes) VFM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, Resolve(stream)));
}

void CopySync(void* dst, const void* src, size_t nbytes) {
  CopyAsync(dst, src, nbytes);
  Synchronize();
}

void MemsetAsync(void* dst, int value, size_t nbytes, Stream stream) {
  if (nbytes) VFM_CUDA_CHECK(cudaMemsetAsync(dst, value, nbytes, Resolve(stream)));
}

void Synchronize(Stream stream) { VFM_CUDA_CHECK(cudaStreamSynchronize(Resolve(stream))); }

Event RecordEvent(Stream stream) {
  cudaEvent_t event;
  VFM_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  VFM_CUDA_CHECK(cudaEventRecord(event, Resolve(stream)));
  return event;
}

bool EventDone(Event event) {
  const cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (err == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  VFM_CUDA_CHECK(err);
  return true;
}

void StreamWaitEvent(Stream waiter, Event event) {
  VFM_CUDA_CHECK(cudaStreamWaitEvent(Resolve(waiter), static_cast<cudaEvent_t>(event), 0));
}

void DestroyEvent(Event event) { VFM_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event))); }

}  // namespace vfm::cuda
