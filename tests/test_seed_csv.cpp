// `fa-bench report --seed-format`: seed 004's CSV files, their columns checked against the seed's
// own lists (copied below from the assignment text), nullable fields empty.
#include <catch2/catch.hpp>

#include "report/seed_csv.hpp"

using namespace fabench;

namespace {

// Seed 004, part 1.B, "The format of your CSV should have the following columns".
const std::vector<std::string> kSeedSoftmaxMatmulColumns = {
    "batch_size", "d1", "d2", "d3", "triton", "BLOCK", "forward_ms_mean", "forward_ms_std", "forward_peak_MiB"};
// Seed 004, part 3.B, "3.5.1.4 CSV Output Format".
const std::vector<std::string> kSeedAttentionColumns = {
    "implementation", "d_model", "seq_len", "forward_ms", "forward_peak_MiB", "backward_ms", "backward_peak_MiB",
    "saved_activations_MiB", "status", "gpu"};

TextRow softmax_matmul_row(const std::string& variant, const std::string& params, const std::string& status,
                           const std::string& d2 = "64") {
  return {{"key", "softmax_matmul/fp32/b16/d1_2048/d2_" + d2 + "/d3_512/" + variant + "/" + params},
          {"op", "softmax_matmul"},
          {"variant", variant},
          {"dtype", "fp32"},
          {"batch", "16"},
          {"rows", "2048"},
          {"cols", d2},
          {"d3", "512"},
          {"params", params},
          {"status", status},
          {"time_ms_median", "0.29"},
          {"time_ms_mean", "0.3"},
          {"time_ms_std", "0.01"},
          {"peak_mem_mib", "82"},
          {"gpu", "NVIDIA H200"}};
}

TextRow fwd_bwd_row(const std::string& variant, const std::string& seq, const std::string& status,
                    const std::string& backward_ms) {
  return {{"key", "attention_fwd_bwd/fp32/b8/h1/s" + seq + "/" + variant},
          {"op", "attention_fwd_bwd"},
          {"variant", variant},
          {"dtype", "fp32"},
          {"batch", "8"},
          {"heads", "1"},
          {"kv_heads", "1"},
          {"seq_q", seq},
          {"seq_k", seq},
          {"head_dim", "64"},
          {"params", ""},
          {"status", status == "ok" ? "ok" : "oom"},
          {"forward_ms", "1.5"},
          {"forward_peak_MiB", "10"},
          {"backward_ms", backward_ms},
          {"backward_peak_MiB", backward_ms.empty() ? "" : "30"},
          {"saved_activations_MiB", "2.5"},
          {"fwd_bwd_status", status},
          {"gpu", "NVIDIA H200"}};
}

}  // namespace

TEST_CASE("seed 004's formats have the seed's columns in its order", "[seed-csv]") {
  CHECK(seed_columns(SeedFormat::softmax_matmul_004) == kSeedSoftmaxMatmulColumns);
  CHECK(seed_columns(SeedFormat::attention_004) == kSeedAttentionColumns);
  CHECK(parse_seed_format("004-softmax-matmul") == SeedFormat::softmax_matmul_004);
  CHECK(parse_seed_format("004-attention") == SeedFormat::attention_004);
  CHECK_FALSE(parse_seed_format("004"));
}

TEST_CASE("softmax_matmul rows become softmax_matmul_benchmark.csv", "[seed-csv]") {
  const std::vector<TextRow> rows = {
      softmax_matmul_row("torch.softmax_matmul", "", "ok"),
      softmax_matmul_row("triton.softmax_matmul", "BLOCK=32", "ok"),
      softmax_matmul_row("triton.softmax_matmul", "BLOCK=64", "oom"),
      softmax_matmul_row("softmax_matmul.fused", "block=16", "ok"),  // fa-bench's own: left out by default
      softmax_matmul_row("softmax_matmul.naive", "", "ok"),
  };
  const SeedTable t = to_seed_table(SeedFormat::softmax_matmul_004, rows);
  CHECK(seed_csv_text(t) ==
        "batch_size,d1,d2,d3,triton,BLOCK,forward_ms_mean,forward_ms_std,forward_peak_MiB\n"
        "16,2048,64,512,False,,0.3,0.01,82\n"
        "16,2048,64,512,True,32,0.3,0.01,82\n"
        "16,2048,64,512,True,64,,,\n");  // the oom row: nullable fields empty, as pandas writes <NA>
  REQUIRE(t.notes.size() == 1);
  CHECK(t.notes[0] ==
        "left out (seed 004 names only fused_softmax and softmax_mult; add one with --seed-name "
        "VARIANT=fused_softmax): softmax_matmul.fused, softmax_matmul.naive");

  // fa-bench's fused kernel in the Triton kernel's place.
  const SeedTable ours = to_seed_table(SeedFormat::softmax_matmul_004, {rows[0], rows[3]},
                                       {{"softmax_matmul.fused", "fused_softmax"}});
  CHECK(ours.rows.at(1) == std::vector<std::string>{"16", "2048", "64", "512", "True", "16", "0.3", "0.01", "82"});
  CHECK_THROWS_WITH(to_seed_table(SeedFormat::softmax_matmul_004, rows, {{"softmax_matmul.fused", "cuda"}}),
                    Catch::Contains("knows fused_softmax (triton True) and softmax_mult (triton False)"));
}

TEST_CASE("rows the seed's columns cannot tell apart are refused", "[seed-csv]") {
  TextRow bf16 = softmax_matmul_row("torch.softmax_matmul", "", "ok");
  bf16["dtype"] = "bf16";
  CHECK_THROWS_WITH(to_seed_table(SeedFormat::softmax_matmul_004, {softmax_matmul_row("torch.softmax_matmul", "", "ok"), bf16}),
                    Catch::Contains("two rows become the same row of the seed's table") &&
                        Catch::Contains("keep one with --where dtype=fp32"));
  CHECK_THROWS_WITH(to_seed_table(SeedFormat::softmax_matmul_004, {fwd_bwd_row("fwd_bwd.fa2", "256", "ok", "2")}),
                    Catch::Contains("no softmax_matmul rows to write"));
}

TEST_CASE("attention_fwd_bwd rows become attention_benchmark.csv", "[seed-csv]") {
  TextRow uneven = fwd_bwd_row("fwd_bwd.naive", "256", "ok", "3");
  uneven["seq_k"] = "512";
  const std::vector<TextRow> rows = {
      fwd_bwd_row("fwd_bwd.fa2", "256", "ok", "4.5"),
      fwd_bwd_row("fwd_bwd.naive", "16384", "oom(backward)", ""),
      fwd_bwd_row("fwd_bwd.naive", "32768", "oom(forward)", ""),
      uneven,
      softmax_matmul_row("torch.softmax_matmul", "", "ok"),  // another op: not this table's
  };
  const SeedTable t = to_seed_table(SeedFormat::attention_004, rows);
  CHECK(seed_csv_text(t) ==
        "implementation,d_model,seq_len,forward_ms,forward_peak_MiB,backward_ms,backward_peak_MiB,"
        "saved_activations_MiB,status,gpu\n"
        "flash_triton,64,256,1.5,10,4.5,30,2.5,ok,NVIDIA H200\n"
        "fwd_bwd.naive,64,16384,1.5,10,,,2.5,OOM(backward),NVIDIA H200\n"
        "fwd_bwd.naive,64,32768,1.5,10,,,2.5,OOM,NVIDIA H200\n");
  CHECK(t.notes == std::vector<std::string>{"left out 1 case(s) with seq_q != seq_k (the seed has one seq_len)"});
  const SeedTable renamed = to_seed_table(SeedFormat::attention_004, {rows[1]}, {{"fwd_bwd.naive", "naive_autograd"}});
  CHECK(renamed.rows.at(0).at(0) == "naive_autograd");
}
