// Model-level bad input for Hugging Face directories, through the CLI: each failure mode is one
// handcrafted directory, one line naming the file and the field or tensor, exit code 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <functional>
#include <map>

#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "model/synth.h"
#include "test_util.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;

std::string make_tiny(const std::string& dir) {
  SynthOptions o;
  o.arch = "openpangu-embedded-1b";
  o.layers = 2;
  o.hidden = 64;
  o.heads = 4;
  o.kv_heads = 2;
  o.intermediate = 96;
  o.vocab = 300;
  o.dtype = DType::F32;
  o.seed = 3;
  write_synthetic_checkpoint(o, dir);
  return dir;
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(read_text_file(dir + "/config.json"));
  edit(j);
  std::ofstream(dir + "/config.json") << j.dump(2);
}

// Rewrites model.safetensors with `edit` applied to a copy of its tensors (as f32 vectors).
void edit_tensors(const std::string& dir, const std::function<void(std::map<std::string, std::vector<float>>&,
                                                                     std::map<std::string, TensorView>&)>& edit) {
  std::map<std::string, std::vector<float>> data;
  std::map<std::string, TensorView> views;
  {
    TensorSet set = read_safetensors_dir(dir);
    for (const auto& [name, t] : set.tensors) {
      auto& v = data[name];
      v.resize(size_t(t.numel()));
      load_float_rows(t, 0, t.rows(), v.data());
    }
    for (const auto& [name, t] : set.tensors) {
      TensorView copy = t;
      copy.dtype = DType::F32;
      copy.data = nullptr;
      views[name] = copy;
    }
  }
  edit(data, views);
  std::vector<TensorToWrite> out;
  for (auto& [name, v] : views) {
    v.data = data[name].data();
    out.push_back(tensor_to_write(name, v));
  }
  fs::remove(dir + "/model.safetensors");
  write_safetensors(dir + "/model.safetensors", out);
}

struct Expect {
  std::string what;
  std::vector<std::string> substrings;
};

void expect_cli_error(const std::string& dir, const Expect& e) {
  const auto r = test::run_cli("info " + dir);
  EXPECT_EQ(r.exit_code, 2) << e.what << ": " << r.err << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << e.what << ": " << r.err;
  for (const auto& s : e.substrings) EXPECT_NE(r.err.find(s), std::string::npos) << e.what << ": " << r.err;
}

TEST(BadInputHf, EachModelLevelFailureIsOneLineAndExit2) {
  test::TempDir tmp;
  // Sanity: the untouched directory loads.
  EXPECT_EQ(test::run_cli("info " + make_tiny(tmp.file("ok"))).exit_code, 0);

  const std::string d1 = make_tiny(tmp.file("missing_field"));
  edit_config(d1, [](auto& j) { j.erase("num_hidden_layers"); });
  expect_cli_error(d1, {"missing config field", {"config.json", "num_hidden_layers"}});

  const std::string d2 = make_tiny(tmp.file("unknown_arch"));
  edit_config(d2, [](auto& j) {
    j["architectures"] = {"MixtralForCausalLM"};
    j["model_type"] = "mixtral";
  });
  expect_cli_error(d2, {"unknown architecture", {"config.json", "MixtralForCausalLM"}});

  const std::string d3 = make_tiny(tmp.file("shape_mismatch"));
  edit_config(d3, [](auto& j) { j["intermediate_size"] = 128; });
  expect_cli_error(d3, {"shape mismatch", {"model.safetensors", "mlp.gate_proj.weight", "[96, 64]", "[128, 64]"}});

  const std::string d4 = make_tiny(tmp.file("nan_weight"));
  edit_tensors(d4, [](auto& data, auto&) { data["model.layers.1.mlp.up_proj.weight"][5] = std::nanf(""); });
  expect_cli_error(d4, {"NaN weight", {"model.layers.1.mlp.up_proj.weight", "element 5", "non-finite"}});

  const std::string d5 = make_tiny(tmp.file("missing_tensor"));
  edit_tensors(d5, [](auto& data, auto& views) {
    data.erase("model.layers.0.self_attn.o_proj.bias");
    views.erase("model.layers.0.self_attn.o_proj.bias");
  });
  expect_cli_error(d5, {"missing tensor", {"model.layers.0.self_attn.o_proj.bias", "missing"}});

  const std::string d6 = make_tiny(tmp.file("unexpected_tensor"));
  edit_tensors(d6, [](auto& data, auto& views) {
    data["model.layers.0.mlp.extra.weight"] = {1.0f, 2.0f};
    TensorView v;
    v.shape = {2};
    views["model.layers.0.mlp.extra.weight"] = v;
  });
  expect_cli_error(d6, {"unexpected tensor", {"model.layers.0.mlp.extra.weight"}});

  const std::string d7 = make_tiny(tmp.file("int_dtype"));
  {
    // Store the final norm as I32: a full-precision checkpoint must be f32/f16/bf16.
    TensorSet set = read_safetensors_dir(d7);
    std::vector<TensorToWrite> out;
    std::vector<int32_t> ints(64, 1);
    for (const auto& [name, t] : set.tensors) {
      if (name == "model.norm.weight") {
        TensorView v = t;
        v.dtype = DType::I32;
        v.data = ints.data();
        out.push_back(tensor_to_write(name, v));
      } else {
        out.push_back(tensor_to_write(name, t));
      }
    }
    write_safetensors(d7 + "/model.safetensors.new", out);
  }
  fs::rename(d7 + "/model.safetensors.new", d7 + "/model.safetensors");
  expect_cli_error(d7, {"dtype mismatch", {"model.norm.weight", "i32"}});

  const std::string d8 = make_tiny(tmp.file("truncated"));
  fs::resize_file(d8 + "/model.safetensors", fs::file_size(d8 + "/model.safetensors") - 10);
  expect_cli_error(d8, {"truncated safetensors", {"model.safetensors", "byte"}});

  const std::string d9 = tmp.file("empty_dir");
  fs::create_directory(d9);
  expect_cli_error(d9, {"empty directory", {"empty_dir"}});
}

}  // namespace
}  // namespace quantscope
