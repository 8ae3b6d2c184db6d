// Input crops for a training step on a GPU, uploaded on the copy stream so the transfer overlaps the
// previous step's compute (on the compute stream it would wait behind it: ~37 MB of uint8 crops per
// ViT-B step, about a millisecond over PCIe). One upload per crop size: the loader's crop-major groups
// (data::CropGroup) are already the step's input layout.
//
// Each upload of a step has a device buffer of its own per step parity (two sets, used in turn), so an
// upload never overwrites a buffer that a queued step may still read: the upload into a buffer waits (on
// the device, not the host) for the event recorded after the buffer was last normalised, two steps
// before; the compute stream waits for the upload before normalising. The crops are staged in pinned
// memory, whose block is reused only after its upload has run.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"
#include "data/loader.h"

namespace vfm {

class CropUploader {
 public:
  explicit CropUploader(Device device);
  ~CropUploader();
  CropUploader(const CropUploader&) = delete;
  CropUploader& operator=(const CropUploader&) = delete;

  // Starts a step: its uploads take the buffers of the step before last.
  void BeginStep();
  // A group's uint8 crops [rows, 3, side, side] on the device, normalised per row and channel by its
  // table (ops::NormalizeImages) into `dtype`: the step's next upload.
  Tensor Upload(const data::CropGroup& crops, DType dtype);

 private:
  struct Slot {
    Tensor buffer;             // u8 on the device
    void* read_done = nullptr;  // event on the compute stream after the buffer was last read
  };
  Device device_;
  std::vector<Slot> slots_[2];  // per step parity, in upload order
  int parity_ = 0;
  size_t next_ = 0;
};

}  // namespace vfm
