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
// One plain arrival (release: the thread's earlier shared-memory writes are seen by the waiters).
__device__ __forceinline__ void mbarrier_arrive(std::uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Arrives on `bar` once every cp.async (16-byte, not bulk) this thread issued before has landed;
// the barrier's expected arrivals count it (.noinc): ordinary cp.async copies counted on an
// mbarrier, as the warp-specialized attention loop's producer does.
__device__ __forceinline__ void cp_async_arrive_on(std::uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
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

// Box (c0, c1, c2) of the tensor map at `map` (the address of a __grid_constant__ CUtensorMap
// parameter, tensor_map.h) into shared memory at dst, its bytes counted on `bar` (complete_tx).
__device__ __forceinline__ void tma_load_3d(std::uint32_t dst, const void* map, int c0, int c1, int c2,
                                            std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
}

// Box (c0, c1, c2) of the tensor map at `map` asked into the L2 by the copy engine (no shared
// memory, no barrier): a later tma_load_3d of it reads the L2 instead of the memory.
__device__ __forceinline__ void tma_prefetch_l2_3d(const void* map, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.prefetch.tensor.3d.L2.global.tile [%0, {%1, %2, %3}];\n" ::"l"(
                   reinterpret_cast<std::uint64_t>(map)),
               "r"(c0), "r"(c1), "r"(c2)
               : "memory");
}

// Shared memory at src (in the map's swizzled box layout) added into box (c0, c1, c2) of the tensor
// map at `map` by the copy engine (a reduction in the L2: concurrent adds from other blocks are not
// lost); the box's elements past the tensor's bounds are dropped. The writes to src must be fenced
// for the async proxy (fence_proxy_async) and published to this thread first. Completion is
// tracked per thread in bulk groups: bulk_commit_group, then bulk_wait_group_read before src is
// written again, bulk_wait_group before the block ends.
__device__ __forceinline__ void tma_reduce_add_3d(const void* map, int c0, int c1, int c2, std::uint32_t src) {
  asm volatile("cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2, %3}], [%4];\n" ::"l"(
                   reinterpret_cast<std::uint64_t>(map)),
               "r"(c0), "r"(c1), "r"(c2), "r"(src)
               : "memory");
}
__device__ __forceinline__ void bulk_commit_group() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Until at most N of this thread's committed bulk groups still read their shared memory.
template <int N>
__device__ __forceinline__ void bulk_wait_group_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
// Until at most N of this thread's committed bulk groups are incomplete (their writes done).
template <int N>
__device__ __forceinline__ void bulk_wait_group() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}

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
