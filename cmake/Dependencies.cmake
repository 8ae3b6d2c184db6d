# Every dependency comes from a Debian package (setup.sh installs them) or the CUDA toolkit.
find_package(OpenMP REQUIRED)
find_package(absl REQUIRED)
find_package(GTest REQUIRED)
find_package(nlohmann_json REQUIRED)

# OpenBLAS, the OpenMP build: a sgemm called inside our own parallel regions then runs on one thread
# instead of oversubscribing the cores with its own pthreads.
find_library(VFM_OPENBLAS openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH REQUIRED)
find_path(VFM_OPENBLAS_INCLUDE cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH REQUIRED)
add_library(vfm_blas INTERFACE)
target_link_libraries(vfm_blas INTERFACE ${VFM_OPENBLAS})
target_include_directories(vfm_blas INTERFACE ${VFM_OPENBLAS_INCLUDE})
get_filename_component(VFM_OPENBLAS_DIR ${VFM_OPENBLAS} DIRECTORY)
list(APPEND CMAKE_BUILD_RPATH ${VFM_OPENBLAS_DIR})
list(APPEND CMAKE_INSTALL_RPATH ${VFM_OPENBLAS_DIR})

# The interpreter Debian's python3-torch / python3-h5py install into (not whatever python3 is on PATH).
set(VFM_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with torch, for parity tests and baselines")
