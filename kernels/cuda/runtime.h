// The CUDA runtime as the rest of vfm sees it: device selection, the compute stream, raw device/pinned
// memory, copies and events, with no CUDA types in the interface (so autograd/ and distributed/ compile
// without the CUDA headers). Every kernel and upload runs on the current device's compute stream (in
// order, so memory freed there is reusable there at once), except the training loop's input uploads,
// which run on the copy stream so they overlap the previous step's compute (trainer/crop_uploader.h);
// NCCL runs on its own stream. Streams are ordered against each other with events.
// Built only with CUDA (VFM_WITH_CUDA); callers test the macro or the device of their tensors.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vfm::cuda {

using Stream = void*;  // cudaStream_t
using Event = void*;   // cudaEvent_t

// Makes `index` this thread's device (one GPU per rank, chosen by local rank).
void SetDevice(int index);
int CurrentDevice();
// The current device's compute capability as 10 major + minor (90: H100/H200, whose sm_90a kernels run only
// there).
int ComputeCapability();
// The current device's compute stream, created on first use and kept for the life of the process.
Stream ComputeStream();
// The current device's copy stream (host->device uploads that run beside the compute stream's work).
Stream CopyStream();

// cudaMalloc / cudaFree: nullptr when the device is out of memory (the caching allocator then frees
// its cache and retries); any other error throws.
void* DeviceMalloc(size_t nbytes);
void DeviceFree(void* ptr);
// Page-locked host memory, so host->device copies run asynchronously.
void* PinnedMalloc(size_t nbytes);
void PinnedFree(void* ptr);
size_t DeviceMemoryTotal();

// Asynchronous on `stream` (the compute stream by default). A host source or destination must be
// pinned, or the caller must synchronise before touching it.
void CopyAsync(void* dst, const void* src, size_t nbytes, Stream stream = nullptr);
// Copies and waits: for reading results on the host (loss read-back, checkpoints, tests).
void CopySync(void* dst, const void* src, size_t nbytes);
void MemsetAsync(void* dst, int value, size_t nbytes, Stream stream = nullptr);
void Synchronize(Stream stream = nullptr);

// Events order work across streams: `waiter` waits (on the device, not the host) for work recorded
// on another stream.
Event RecordEvent(Stream stream);
bool EventDone(Event event);
void StreamWaitEvent(Stream waiter, Event event);
void DestroyEvent(Event event);

}  // namespace vfm::cuda
