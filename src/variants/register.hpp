#pragma once
// One registration function per family; register_all_variants (core/variant.hpp) calls each.
namespace fabench {
class Registry;
void register_softmax_variants(Registry& r);
void register_attention_variants(Registry& r);
void register_softmax_matmul_variants(Registry& r);
void register_decode_variants(Registry& r);  // decode and kv_append
void register_generate_variants(Registry& r);
void register_sparse_attention_variants(Registry& r);
void register_attention_bwd_variants(Registry& r);
// Pipelines of registered forward and backward variants: after both families.
void register_attention_fwd_bwd_variants(Registry& r);
void register_debug_variants(Registry& r);  // only with FABENCH_DEBUG_VARIANTS set
}  // namespace fabench
