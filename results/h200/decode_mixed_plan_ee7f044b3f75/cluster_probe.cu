// How many thread-block clusters of each size can be resident at once (cudaOccupancyMaxActiveClusters)
// for a block shaped like decode v3's: 128 threads, 96 KiB (two an SM) or 116 KiB (one an SM) of
// dynamic shared memory. Diagnostic for the cluster merge (branch decode-cluster1), not fa-bench code.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void __launch_bounds__(128) probe_kernel(float* out) {
  extern __shared__ float smem[];
  smem[threadIdx.x] = threadIdx.x;
  __syncthreads();
  if (out) out[threadIdx.x] = smem[127 - threadIdx.x];
}

int main() {
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s: %d SMs\n", prop.name, prop.multiProcessorCount);
  cudaFuncSetAttribute(probe_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  for (int kib : {96, 116}) {
    cudaFuncSetAttribute(probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kib * 1024);
    for (int size : {1, 2, 4, 8, 12, 16}) {
      cudaLaunchConfig_t config{};
      config.gridDim = dim3(size * 8);
      config.blockDim = dim3(128);
      config.dynamicSmemBytes = kib * 1024;
      cudaLaunchAttribute cluster{};
      cluster.id = cudaLaunchAttributeClusterDimension;
      cluster.val.clusterDim.x = size;
      cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
      config.attrs = &cluster;
      config.numAttrs = 1;
      int clusters = -1;
      cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, probe_kernel, &config);
      std::printf("%3d KiB a block, clusters of %2d: %d resident (%s)\n", kib, size, clusters, cudaGetErrorString(e));
      cudaGetLastError();
    }
  }
  return 0;
}
