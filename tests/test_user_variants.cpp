// The API of include/fabench/user_variant.hpp for kernels from outside the tree
// (-DFABENCH_USER_KERNELS): registration blocks, the checks on what they add, and the dtype dispatch.
#include <catch2/catch.hpp>

#include <type_traits>

#include "fabench/user_variant.hpp"
#include "variants/user_variants.hpp"

using namespace fabench;

namespace {

Variant good_variant(std::string name) {
  Variant v;
  v.name = std::move(name);
  v.op = OpKind::softmax;
  v.dtypes = {DType::fp32};
  v.params = {{"block_size", 256, {128, 256}, "threads"}};
  v.launch = [](const LaunchArgs&) {};
  return v;
}

std::string registration_error(void (*fn)(Registry&)) {
  Registry r;
  try {
    register_user_block(r, "my_kernels.cu: FABENCH_USER_VARIANTS(x)", fn);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// Written as a user's file writes them: at file scope, the parameter is `registry`.
FABENCH_USER_VARIANTS(test_two_variants) {
  registry.add(good_variant("user.first"));
  registry.add(good_variant("user.second"));
}
FABENCH_USER_VARIANTS(test_duplicate) { registry.add(good_variant("softmax.naive")); }
FABENCH_USER_VARIANTS(test_no_launch) {
  Variant v = good_variant("user.no_launch");
  v.launch = nullptr;
  registry.add(std::move(v));
}

TEST_CASE("a FABENCH_USER_VARIANTS block registers its variants", "[user]") {
  Registry r;
  register_user_block(r, "test", fabench_user_variants_test_two_variants);
  REQUIRE(r.all().size() == 2);
  CHECK(r.find("user.first"));
  CHECK(r.find("user.second")->params.at(0).name == "block_size");
}

TEST_CASE("a bad user registration is an error naming its file and variant", "[user]") {
  // A name the built-in families took: Registry's own message, with the file.
  auto registered_after_builtins = [](Registry& r) {
    register_all_variants(r);
    fabench_user_variants_test_duplicate(r);
  };
  Registry r;
  std::string message;
  try {
    register_user_block(r, "dup.cu: FABENCH_USER_VARIANTS(test_duplicate)", +registered_after_builtins);
  } catch (const std::exception& e) {
    message = e.what();
  }
  CHECK(message == "FABENCH_USER_KERNELS, dup.cu: FABENCH_USER_VARIANTS(test_duplicate): variant registered twice: "
                   "softmax.naive");
  CHECK(registration_error(fabench_user_variants_test_no_launch) ==
        "FABENCH_USER_KERNELS, my_kernels.cu: FABENCH_USER_VARIANTS(x): variant user.no_launch: no launch function");
}

TEST_CASE("user variants are checked before they join the registry", "[user]") {
  CHECK(user_variant_problem(good_variant("user.ok")).empty());
  CHECK(user_variant_problem(good_variant("")) == "a variant has no name");
  CHECK(user_variant_problem(good_variant("mine")) ==
        "variant \"mine\": names are <family>.<version>, e.g. \"user.mine\"");
  CHECK(user_variant_problem(good_variant("user.a,b")) ==
        "variant \"user.a,b\": no spaces, commas or quotes in a name (it is a CSV field and a regex target)");
  Variant no_dtypes = good_variant("user.x");
  no_dtypes.dtypes.clear();
  CHECK(user_variant_problem(no_dtypes) == "variant user.x: no dtypes (list those it accepts)");
  Variant bad_default = good_variant("user.x");
  bad_default.params[0].default_value = 64;
  CHECK(user_variant_problem(bad_default) == "variant user.x: parameter block_size's default 64 is not among its allowed values");
  Variant any_value = good_variant("user.x");
  any_value.params[0].allowed.clear();  // any value >= 1
  CHECK(user_variant_problem(any_value).empty());
  any_value.params[0].default_value = 0;
  CHECK_FALSE(user_variant_problem(any_value).empty());
}

TEST_CASE("dispatch_storage gives the element type each dtype stores", "[user]") {
  auto size_of = [](DType t) {
    std::size_t size = 0;
    dispatch_storage(t, [&](auto zero) { size = sizeof(zero); });
    return size;
  };
  CHECK(size_of(DType::fp32) == 4);
  CHECK(size_of(DType::tf32) == 4);
  CHECK(size_of(DType::fp16) == 2);
  CHECK(size_of(DType::bf16) == 2);
  bool is_bf16 = false;
  dispatch_storage(DType::bf16, [&](auto zero) { is_bf16 = std::is_same_v<decltype(zero), __nv_bfloat16>; });
  CHECK(is_bf16);
}

TEST_CASE("input and output hand out the launch's tensors in the op's order", "[user]") {
  Problem p;
  Params params;
  float x = 1, y = 2;
  std::vector<void*> tensors = {&x, &y, nullptr, nullptr};
  LaunchArgs la{p, params, tensors};
  CHECK(input<float>(la, softmax_tensors::x) == &x);
  CHECK(output<float>(la, softmax_tensors::y) == &y);
  CHECK(input<std::uint8_t>(la, softmax_tensors::mask) == nullptr);
}
