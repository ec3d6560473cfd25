// y = x @ w.T (+ bias) for bf16 weights and a few rows of x, on x86-64 CPUs with AVX-512 or AVX2.
//
// Why: on a CPU without native bf16 arithmetic, oneDNN and aten convert bf16 weights slowly, so one
// row decodes below the memory bandwidth and a batch of rows costs nearly one row's work per row.
// Decoding reads every weight once per step and multiplies it by few rows, so this kernel converts
// each block of weights to fp32 in registers (a shift: bf16 is fp32's upper half) and multiplies it
// by every row of x while it is there: the weights stream from memory once per step, whatever the
// number of rows. Accumulation is in fp32. Loaded and timed against the other paths by
// compute_path.py, which uses it only for the row counts where it measures fastest.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

// Weight rows per block: their fp32 vectors and the accumulators (rows x block) stay in registers.
constexpr int64_t kBlockAvx512 = 4;
constexpr int64_t kBlockAvx2 = 2;
constexpr int64_t kRowsAvx512 = 6;  // 4 x 6 accumulators + 4 weights + 1 input of 32 zmm registers
constexpr int64_t kRowsAvx2 = 5;    // 2 x 5 accumulators + 2 weights + 1 input of 16 ymm registers

inline float bf16_to_float(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof(out));
  return out;
}

// The K tail past the last full vector, for each (weight row, input row) pair of a block.
inline float tail_dot(const uint16_t* w, const float* x, int64_t from, int64_t k) {
  float sum = 0.f;
  for (int64_t i = from; i < k; ++i) sum += bf16_to_float(w[i]) * x[i];
  return sum;
}

#if defined(__x86_64__)

template <int64_t NB, int64_t MB>
__attribute__((target("avx512f,avx512bw"))) void block_avx512(const float* x, const uint16_t* w, int64_t k,
                                                               int64_t n, float* y, int64_t ldy) {
  __m512 acc[NB][MB];
  for (int64_t i = 0; i < NB; ++i)
    for (int64_t j = 0; j < MB; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 16 <= k; kk += 16) {
    __m512 wv[NB];
    for (int64_t i = 0; i < NB; ++i) {
      __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i * k + kk));
      wv[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
    }
    for (int64_t j = 0; j < MB; ++j) {
      __m512 xv = _mm512_loadu_ps(x + j * k + kk);
      for (int64_t i = 0; i < NB; ++i) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  for (int64_t i = 0; i < NB; ++i)
    for (int64_t j = 0; j < MB; ++j)
      y[j * ldy + n + i] = _mm512_reduce_add_ps(acc[i][j]) + tail_dot(w + i * k, x + j * k, kk, k);
}

__attribute__((target("avx2,fma"))) inline float reduce_add_avx2(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

template <int64_t NB, int64_t MB>
__attribute__((target("avx2,fma"))) void block_avx2(const float* x, const uint16_t* w, int64_t k, int64_t n,
                                                    float* y, int64_t ldy) {
  __m256 acc[NB][MB];
  for (int64_t i = 0; i < NB; ++i)
    for (int64_t j = 0; j < MB; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    __m256 wv[NB];
    for (int64_t i = 0; i < NB; ++i) {
      __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i * k + kk));
      wv[i] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
    }
    for (int64_t j = 0; j < MB; ++j) {
      __m256 xv = _mm256_loadu_ps(x + j * k + kk);
      for (int64_t i = 0; i < NB; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  for (int64_t i = 0; i < NB; ++i)
    for (int64_t j = 0; j < MB; ++j)
      y[j * ldy + n + i] = reduce_add_avx2(acc[i][j]) + tail_dot(w + i * k, x + j * k, kk, k);
}

#endif  // __x86_64__

using Block = void (*)(const float*, const uint16_t*, int64_t, int64_t, float*, int64_t);

// The block functions for one weight-row count NB, indexed by the number of input rows 1 .. MB.
template <template <int64_t, int64_t> class Fn, int64_t NB, int64_t... MBs>
constexpr std::array<Block, sizeof...(MBs)> blocks(std::integer_sequence<int64_t, MBs...>) {
  return {Fn<NB, MBs + 1>::run...};
}

#if defined(__x86_64__)
template <int64_t NB, int64_t MB>
struct Avx512 {
  static void run(const float* x, const uint16_t* w, int64_t k, int64_t n, float* y, int64_t ldy) {
    block_avx512<NB, MB>(x, w, k, n, y, ldy);
  }
};
template <int64_t NB, int64_t MB>
struct Avx2 {
  static void run(const float* x, const uint16_t* w, int64_t k, int64_t n, float* y, int64_t ldy) {
    block_avx2<NB, MB>(x, w, k, n, y, ldy);
  }
};
#endif

struct Isa {
  const char* name;
  int64_t block;      // weight rows per full block
  int64_t max_rows;   // input rows per pass
  const Block* full;  // [max_rows] blocks of `block` weight rows
  const Block* one;   // [max_rows] blocks of one weight row, for the N tail
};

// The instruction sets this CPU runs the kernel with, the best first.
std::vector<const Isa*> detect() {
  std::vector<const Isa*> found;
#if defined(__x86_64__)
  static const auto avx512_full = blocks<Avx512, kBlockAvx512>(std::make_integer_sequence<int64_t, kRowsAvx512>());
  static const auto avx512_one = blocks<Avx512, 1>(std::make_integer_sequence<int64_t, kRowsAvx512>());
  static const auto avx2_full = blocks<Avx2, kBlockAvx2>(std::make_integer_sequence<int64_t, kRowsAvx2>());
  static const auto avx2_one = blocks<Avx2, 1>(std::make_integer_sequence<int64_t, kRowsAvx2>());
  static const Isa avx512{"avx512", kBlockAvx512, kRowsAvx512, avx512_full.data(), avx512_one.data()};
  static const Isa avx2{"avx2", kBlockAvx2, kRowsAvx2, avx2_full.data(), avx2_one.data()};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) found.push_back(&avx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) found.push_back(&avx2);
#endif
  return found;
}

const std::vector<const Isa*>& supported() {
  static const std::vector<const Isa*> found = detect();
  return found;
}

std::atomic<const Isa*> chosen{supported().empty() ? nullptr : supported().front()};

const Isa* isa() { return chosen.load(std::memory_order_relaxed); }

// Which instruction set the kernel runs with here, or "" where it can't run.
std::string instruction_set() {
  const Isa* found = isa();
  return found ? found->name : "";
}

std::vector<std::string> instruction_sets() {
  std::vector<std::string> names;
  for (const Isa* found : supported()) names.emplace_back(found->name);
  return names;
}

// Run with a narrower instruction set this CPU also has (to measure, say, the AVX2 code on an AVX-512 CPU).
void use_instruction_set(const std::string& name) {
  for (const Isa* found : supported()) {
    if (name == found->name) {
      chosen.store(found);
      return;
    }
  }
  TORCH_CHECK(false, "instruction set '", name, "' is not one this CPU runs the kernel with");
}

torch::Tensor bf16_linear(const torch::Tensor& input, const torch::Tensor& weight, const c10::optional<torch::Tensor>& bias) {
  const Isa* found = isa();
  TORCH_CHECK(found != nullptr, "bf16_linear needs an x86-64 CPU with AVX-512 or AVX2 and FMA");
  TORCH_CHECK(weight.scalar_type() == at::kBFloat16 && weight.dim() == 2 && weight.is_contiguous() && weight.is_cpu(),
              "bf16_linear takes a contiguous 2-D bf16 CPU weight");
  const int64_t k = weight.size(1), n_out = weight.size(0);
  TORCH_CHECK(input.size(-1) == k, "bf16_linear: input has ", input.size(-1), " features, the weight ", k);
  auto x = input.reshape({-1, k}).to(at::kFloat).contiguous();
  const int64_t m = x.size(0);
  auto y = torch::empty({m, n_out}, x.options());
  const float* xp = x.data_ptr<float>();
  const auto* wp = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
  float* yp = y.data_ptr<float>();
  const int64_t nb = found->block;
  const int64_t num_blocks = (n_out + nb - 1) / nb;
  // Threads split the weight rows: each reads its own share of the weights once.
  at::parallel_for(0, num_blocks, 16, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t n = b * nb;
      const bool full = n + nb <= n_out;
      for (int64_t i = 0; i < (full ? 1 : n_out - n); ++i) {
        const int64_t row = full ? n : n + i;
        const Block* table = full ? found->full : found->one;
        // Every pass over the input rows reuses this block of weights from L1.
        for (int64_t r = 0; r < m; r += found->max_rows) {
          const int64_t rows = std::min(found->max_rows, m - r);
          table[rows - 1](xp + r * k, wp + row * k, k, row, yp + r * n_out, n_out);
        }
      }
    }
  });
  if (bias.has_value()) y.add_(bias->to(at::kFloat));
  auto out_shape = input.sizes().vec();
  out_shape.back() = n_out;
  return y.to(input.scalar_type()).view(out_shape);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("bf16_linear", &bf16_linear, "y = x @ w.T (+ bias) for a bf16 weight, accumulated in fp32",
             pybind11::arg("input"), pybind11::arg("weight"), pybind11::arg("bias") = pybind11::none());
  module.def("instruction_set", &instruction_set, "The instruction set the kernel runs with here (\"\" if none)");
  module.def("instruction_sets", &instruction_sets, "Every instruction set this CPU runs the kernel with, the best first");
  module.def("use_instruction_set", &use_instruction_set, "Run with another of instruction_sets()", pybind11::arg("name"));
}
