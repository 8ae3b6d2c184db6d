#include "trainer/crop_uploader.h"

#include <cstring>

#include "autograd/caching_allocator.h"
#include "autograd/ops.h"
#if VFM_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace vfm {

CropUploader::CropUploader(Device device) : device_(device) {
  VFM_CHECK(!device.is_cpu()) << "CropUploader is for GPU steps, got " << device.ToString();
#if !VFM_WITH_CUDA
  VFM_CHECK(false) << "CropUploader: a build without CUDA";
#endif
}

CropUploader::~CropUploader() {
#if VFM_WITH_CUDA
  // The buffers go back to the compute stream's pool: no upload may still be writing them.
  cuda::Synchronize(cuda::CopyStream());
  for (auto& set : slots_)
    for (Slot& slot : set)
      if (slot.read_done) cuda::DestroyEvent(slot.read_done);
#endif
}

void CropUploader::BeginStep() {
  parity_ ^= 1;
  next_ = 0;
}

Tensor CropUploader::Upload(const data::CropGroup& crops, DType dtype) {
  const Shape shape{crops.rows, 3, crops.side, crops.side};
  VFM_CHECK(int64_t(crops.pixels.size()) == NumElements(shape) && int64_t(crops.norms.size()) == crops.rows * 6)
      << "crop upload: " << crops.pixels.size() << " bytes and " << crops.norms.size() << " norms for "
      << ShapeToString(shape);
#if VFM_WITH_CUDA
  std::vector<Slot>& set = slots_[parity_];
  if (next_ == set.size()) set.emplace_back();
  Slot& slot = set[next_++];
  if (!slot.buffer.defined() || slot.buffer.shape() != shape) {
    // A block from the compute stream's pool may still be in use by queued kernels: the first upload
    // into it waits for them.
    slot.buffer = Tensor::Empty(shape, DType::kU8, device_);
    if (slot.read_done) cuda::DestroyEvent(slot.read_done);
    slot.read_done = cuda::RecordEvent(cuda::ComputeStream());
  }
  Tensor staged = Tensor::EmptyPinned(shape, DType::kU8);
  std::memcpy(staged.raw_data(), crops.pixels.data(), crops.pixels.size());

  cuda::StreamWaitEvent(cuda::CopyStream(), slot.read_done);
  cuda::CopyAsync(slot.buffer.raw_data(), staged.raw_data(), staged.nbytes(), cuda::CopyStream());
  PinnedAllocator().RecordStream(staged.storage()->data(), cuda::CopyStream());
  void* uploaded = cuda::RecordEvent(cuda::CopyStream());
  cuda::StreamWaitEvent(cuda::ComputeStream(), uploaded);
  cuda::DestroyEvent(uploaded);  // released once it has completed; the wait above stays in force

  const Tensor norms = Tensor::FromVector(crops.norms, {crops.rows, 3, 2}).ToDevice(device_);
  Tensor normalised = ops::NormalizeImages(slot.buffer, norms, dtype);
  cuda::DestroyEvent(slot.read_done);
  slot.read_done = cuda::RecordEvent(cuda::ComputeStream());
  return normalised;
#else
  (void)dtype;
  return Tensor();  // not reached: the constructor refuses builds without CUDA
#endif
}

}  // namespace vfm
