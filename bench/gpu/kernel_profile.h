// GPU time per kernel over a region of a program, from CUPTI's activity records (the driver timestamps
// every kernel; nothing is synchronised per kernel). For finding where a step's time goes on machines
// without Nsight Systems.
#pragma once
#include <string>

namespace vfm::bench {

// Starts recording kernels, copies and memsets.
void StartKernelProfile();
// Stops, and returns a table of the `top` kernels by total time (name, calls, total ms, share).
std::string StopKernelProfile(int top);

}  // namespace vfm::bench
