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

Tensor CropUploader::Upload(const std::vector<uint8_t>& pixels, int64_t batch, int64_t size, const Tensor& norms,
                            DType dtype) {
  const Shape shape{batch, 3, size, size};
  VFM_CHECK(int64_t(pixels.size()) == NumElements(shape))
      << "crop upload: " << pixels.size() << " bytes for " << ShapeToString(shape);
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
  std::memcpy(staged.raw_data(), pixels.data(), pixels.size());

  cuda::StreamWaitEvent(cuda::CopyStream(), slot.read_done);
  cuda::CopyAsync(slot.buffer.raw_data(), staged.raw_data(), staged.nbytes(), cuda::CopyStream());
  PinnedAllocator().RecordStream(staged.storage()->data(), cuda::CopyStream());
  void* uploaded = cuda::RecordEvent(cuda::CopyStream());
  cuda::StreamWaitEvent(cuda::ComputeStream(), uploaded);
  cuda::DestroyEvent(uploaded);  // released once it has completed; the wait above stays in force

  Tensor normalised = ops::NormalizeImages(slot.buffer, norms, dtype);
  cuda::DestroyEvent(slot.read_done);
  slot.read_done = cuda::RecordEvent(cuda::ComputeStream());
  return normalised;
#else
  (void)norms, (void)dtype;
  return Tensor();  // not reached: the constructor refuses builds without CUDA
#endif
}

}  // namespace vfm
