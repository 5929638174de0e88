#pragma once
// Lets small pure functions be shared by kernels and their CPU references.
#ifdef __CUDACC__
#define FA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FA_HOST_DEVICE inline
#endif
