#pragma once
// Hopper bulk copies (the TMA unit's non-tensor form, sm_90 PTX) and the shared-memory mbarrier
// that counts their bytes: one thread asks for a contiguous global range to land in shared memory,
// and every thread waits on the barrier's phase instead of issuing and waiting on copies itself.
// PTX ISA: "cp.async.bulk" and "mbarrier" (expect-tx operations, phase parity).
#include <cstdint>

namespace fabench {

// One arrival (the thread that arms the barrier) completes a phase once the expected bytes land.
__device__ __forceinline__ void mbarrier_init(std::uint32_t bar, std::uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals) : "memory");
}
// Makes the initialisation visible to the async proxy (the copy engine) before its first use.
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbarrier_arrive_expect_bytes(std::uint32_t bar, std::uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Spins until the phase with this parity (0 for the 1st, 3rd, ... phase) has completed.
__device__ __forceinline__ void mbarrier_wait_parity(std::uint32_t bar, std::uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// `bytes` (a multiple of 16, both addresses 16-byte aligned) global -> shared, counted on `bar`.
__device__ __forceinline__ void bulk_copy_to_shared(std::uint32_t dst, const void* src, std::uint32_t bytes,
                                                    std::uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}

// `bytes` fp32 values (a multiple of 16 bytes, both addresses 16-byte aligned) from shared memory
// added into global memory by the copy engine: the elementwise sums are done at the L2, as atomics
// would be, but one instruction asks for the whole range and the issuing warp does not wait.
// Counted in the issuing thread's bulk group (bulk_commit, bulk_wait_read, bulk_wait_done).
__device__ __forceinline__ void bulk_reduce_add_f32(float* dst, std::uint32_t src, std::uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(dst), "r"(src),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// This thread's bulk groups have read their shared memory (it may be written again) ...
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
// ... and have completed (their global writes done).
__device__ __forceinline__ void bulk_wait_done() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

// The address of the same shared variable in block `rank` of the cluster (distributed shared memory).
__device__ __forceinline__ std::uint32_t cluster_peer_address(std::uint32_t local, std::uint32_t rank) {
  std::uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(rank));
  return remote;
}
// Two floats into a (possibly remote) block's shared memory, counted as 8 bytes on that block's
// barrier `remote_bar` (both addresses from cluster_peer_address): a message that needs no cluster
// barrier, and so none of the release fence a barrier.cluster.arrive carries over earlier stores.
__device__ __forceinline__ void store_async_pair(std::uint32_t remote, float a, float b, std::uint32_t remote_bar) {
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.f32 [%0], {%1, %2}, [%3];\n" ::"r"(remote),
               "f"(a), "f"(b), "r"(remote_bar)
               : "memory");
}

}  // namespace fabench
