#include "core/variant.hpp"
#include "variants/register.hpp"
#include "variants/user_variants.hpp"

namespace fabench {

void register_all_variants(Registry& r) {
  register_softmax_variants(r);
  register_attention_variants(r);
  register_softmax_matmul_variants(r);
  register_decode_variants(r);
  register_generate_variants(r);
  register_sparse_attention_variants(r);
  register_attention_bwd_variants(r);
  register_attention_fwd_bwd_variants(r);
  register_debug_variants(r);
  // Last: the built-in names are taken first, so a user's duplicate is the one reported.
  register_user_variants(r);
}

}  // namespace fabench
