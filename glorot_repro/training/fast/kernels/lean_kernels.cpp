// The lean step's thin matrix products on a CPU with AVX2 and FMA, or AVX-512 where built with
// -mavx512f (glorot_repro/kernels/__init__.py builds and loads this file; glorot_repro/lean.py
// calls it).
//
// At minibatch 10 each product reads a 1000x1000 weight matrix to multiply it with 10 rows, and a
// BLAS tuned for large products runs it at a fraction of the speed of merely streaming the weights
// (docs/performance.md). Here each weight row is read from memory once per product, while the 10
// rows it meets stay in the L1/L2 caches and the partial sums in registers.
//
// Two products, on stacks of K matrices (one call per layer for the whole stack), in float32 and
// float64 (8 or 4 lanes of a 256-bit register, 16 or 8 of a 512-bit one):
//   nt:  c[k] (+)= +-a[k] b[k]^T    a (M x J), b (N x J): dot products along rows (the forward)
//   nn:  c[k] (+)= +-a[k] b[k]      a (M x J), b (J x N): rows of b scaled and added (BP2, the
//                                   rank-r writes of the weights)
// "(+)=" is "=" or "+=" (accumulate), "+-" the sign (subtract). Each element of c is summed by
// one thread in a fixed order, whatever the number of threads (torch's intra-op threads share
// out rows or columns of c, never a sum), so a run repeats itself bit for bit.
#include <torch/extension.h>

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace {

constexpr int64_t kLine = 64;  // bytes in a cache line

template <typename T>
struct Vec;

#ifdef __AVX512F__
// 512-bit registers (built with -mavx512f where the CPU has AVX-512): twice the lanes, 32
// registers, and masks that are plain bit fields.
template <>
struct Vec<float> {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int lanes = 16;
  // The tiles' sizes (nt: rows of b and of a; nn: rows of c) for 32 registers: 20 accumulators.
  static constexpr int nt_b_rows = 4, nt_a_rows = 5, nn_c_rows = 10;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  // Lanes [0, n) on, the rest off: masked loads read nothing past the end of a row.
  static Mask mask(int64_t n) { return n >= lanes ? Mask(0xFFFF) : Mask((1u << n) - 1); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(Reg v) { return _mm512_reduce_add_ps(v); }
};

template <>
struct Vec<double> {
  using Reg = __m512d;
  using Mask = __mmask8;
  static constexpr int lanes = 8;
  static constexpr int nt_b_rows = 4, nt_a_rows = 5, nn_c_rows = 10;
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg set1(double x) { return _mm512_set1_pd(x); }
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static Mask mask(int64_t n) { return n >= lanes ? Mask(0xFF) : Mask((1u << n) - 1); }
  static Reg load(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, Reg v, Mask m) { _mm512_mask_storeu_pd(p, m, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static double sum(Reg v) { return _mm512_reduce_add_pd(v); }
};
#else
template <>
struct Vec<float> {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int lanes = 8;
  // The tiles' sizes (nt: rows of b and of a; nn: rows of c) for 16 registers: 10 accumulators.
  static constexpr int nt_b_rows = 2, nt_a_rows = 5, nn_c_rows = 5;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  // Lanes [0, n) on, the rest off: masked loads read nothing past the end of a row.
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(Reg v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
  }
};

template <>
struct Vec<double> {
  using Reg = __m256d;
  using Mask = __m256i;
  static constexpr int lanes = 4;
  static constexpr int nt_b_rows = 2, nt_a_rows = 5, nn_c_rows = 5;
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg set1(double x) { return _mm256_set1_pd(x); }
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static Reg load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, Reg v, Mask m) { _mm256_maskstore_pd(p, m, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static double sum(Reg v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
  }
};

#endif

inline void prefetch_l1(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }
inline void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

// The tiles below keep their accumulators in registers only if GCC unrolls the loops over them
// (UNROLL) and does not inline the tiles into their callers: otherwise it spilled accumulators
// or row pointers to the stack inside the innermost loops, at half the speed or less.
#define UNROLL _Pragma("GCC unroll 16")

// Calls f(std::integral_constant<int, n>) for 1 <= n <= Max: the tiles are templates on their
// sizes, and the edges of a matrix need the smaller ones.
template <int Max, typename F>
void with_size(int n, const F& f) {
  if constexpr (Max > 1) {
    if (n < Max) return with_size<Max - 1>(n, f);
  }
  f(std::integral_constant<int, Max>{});
}

// ---- nt: c[m][n] (+)= +-sum_j a[m][j] b[n][j] -------------------------------------------------

// R rows of b against C rows of a: R*C accumulators, each b vector loaded once for C products.
// `ahead`, if set, is R rows of b further on, fetched into L2 while these are used.
template <typename T, int R, int C>
__attribute__((noinline)) void nt_tile(const T* a, int64_t lda, const T* b, int64_t ldb,
                                       int64_t J, T* c, int64_t ldcm, int64_t ldcn,
                                       bool accumulate, bool subtract, const T* ahead) {
  using V = Vec<T>;
  constexpr int L = V::lanes;
  constexpr int64_t per_line = kLine / sizeof(T);
  typename V::Reg acc[R][C];
  UNROLL for (int r = 0; r < R; ++r) UNROLL for (int i = 0; i < C; ++i) acc[r][i] = V::zero();
  int64_t j = 0;
  for (; j + L <= J; j += L) {
    typename V::Reg w[R];
    UNROLL for (int r = 0; r < R; ++r) w[r] = V::load(b + r * ldb + j);
    if (ahead && j % per_line == 0)
      UNROLL for (int r = 0; r < R; ++r) prefetch_l2(ahead + r * ldb + j);
    UNROLL for (int i = 0; i < C; ++i) {
      const typename V::Reg x = V::load(a + i * lda + j);
      UNROLL for (int r = 0; r < R; ++r) acc[r][i] = V::fma(w[r], x, acc[r][i]);
    }
  }
  if (j < J) {
    const typename V::Mask m = V::mask(J - j);
    typename V::Reg w[R];
    UNROLL for (int r = 0; r < R; ++r) w[r] = V::load(b + r * ldb + j, m);
    UNROLL for (int i = 0; i < C; ++i) {
      const typename V::Reg x = V::load(a + i * lda + j, m);
      UNROLL for (int r = 0; r < R; ++r) acc[r][i] = V::fma(w[r], x, acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    UNROLL for (int i = 0; i < C; ++i) {
      const T v = subtract ? -V::sum(acc[r][i]) : V::sum(acc[r][i]);
      T& out = c[i * ldcm + r * ldcn];
      out = accumulate ? out + v : v;
    }
}

// Rows of b in blocks small enough to stay in L2 while every group of rows of a meets them: a
// block is read from memory once (by the first group), and the next block is fetched meanwhile.
// Rows [n_begin, n_end) of b and columns of c: a share of the work that no other share touches.
constexpr int64_t kNtBlock = 32;

template <typename T>
void nt_matrix(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldcm, int64_t ldcn,
               int64_t M, int64_t N, int64_t J, bool accumulate, bool subtract, int64_t n_begin,
               int64_t n_end) {
  constexpr int64_t block = kNtBlock, ahead_rows = 8;
  constexpr int Rmax = Vec<T>::nt_b_rows, Cmax = Vec<T>::nt_a_rows;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += block) {
    const int64_t n1 = std::min(n_end, n0 + block);
    for (int64_t m = 0; m < M; m += Cmax) {
      const int C = static_cast<int>(std::min<int64_t>(Cmax, M - m));
      for (int64_t n = n0; n < n1; n += Rmax) {
        const int R = static_cast<int>(std::min<int64_t>(Rmax, n1 - n));
        const T* ahead = (m == 0 && n + ahead_rows + R <= N) ? b + (n + ahead_rows) * ldb : nullptr;
        const T* ai = a + m * lda;
        const T* bn = b + n * ldb;
        T* cmn = c + m * ldcm + n * ldcn;
        with_size<Rmax>(R, [&](auto r) {
          with_size<Cmax>(C, [&](auto cols) {
            nt_tile<T, decltype(r)::value, decltype(cols)::value>(
                ai, lda, bn, ldb, J, cmn, ldcm, ldcn, accumulate, subtract, ahead);
          });
        });
      }
    }
  }
}

// ---- nn: c[m][n] (+)= +-sum_j a[m][j] b[j][n] -------------------------------------------------

// C rows of c, V vectors wide (the last one masked if Masked), over rows [j0, j1) of b: each b
// vector loaded once for C products. Meanwhile, where set, the same rows' next chunk (`next`) is
// fetched into L1 and the rows `skip` further on (the next block, up to row `rows`) into L2.
template <typename T, int C, int V, bool Masked>
__attribute__((noinline)) void nn_tile(const T* a, int64_t lam, int64_t laj, const T* b,
                                       int64_t ldb, int64_t j0, int64_t j1, T* c, int64_t ldc,
                                       bool load_c, bool subtract, typename Vec<T>::Mask mask, const T* next,
                                       int64_t skip, int64_t rows) {
  using Vt = Vec<T>;
  constexpr int L = Vt::lanes;
  // A chunk's last element and those a line before it: prefetching them covers each line once
  // (the chunks are contiguous, so a line the chunk shares with the one before is already fetched).
  constexpr int last = V * L - 1, per_line = kLine / sizeof(T), lines = (V * L + per_line - 1) / per_line;
  typename Vt::Reg acc[C][V];
  UNROLL for (int i = 0; i < C; ++i) UNROLL for (int v = 0; v < V; ++v) {
    if (!load_c)
      acc[i][v] = Vt::zero();
    else if (Masked && v == V - 1)
      acc[i][v] = Vt::load(c + i * ldc + v * L, mask);
    else
      acc[i][v] = Vt::load(c + i * ldc + v * L);
  }
  for (int64_t j = j0; j < j1; ++j) {
    const T* row = b + j * ldb;
    typename Vt::Reg w[V];
    UNROLL for (int v = 0; v < V; ++v) w[v] =
        (Masked && v == V - 1) ? Vt::load(row + v * L, mask) : Vt::load(row + v * L);
    UNROLL for (int q = 0; q < lines; ++q) {
      if (next) prefetch_l1(next + j * ldb + last - q * per_line);
      if (j + skip < rows) prefetch_l2(row + skip * ldb + last - q * per_line);
    }
    UNROLL for (int i = 0; i < C; ++i) {
      const T x = a[i * lam + j * laj];
      const typename Vt::Reg y = Vt::set1(subtract ? -x : x);
      UNROLL for (int v = 0; v < V; ++v) acc[i][v] = Vt::fma(y, w[v], acc[i][v]);
    }
  }
  UNROLL for (int i = 0; i < C; ++i) UNROLL for (int v = 0; v < V; ++v) {
    if (Masked && v == V - 1)
      Vt::store(c + i * ldc + v * L, acc[i][v], mask);
    else
      Vt::store(c + i * ldc + v * L, acc[i][v]);
  }
}

template <typename T, int V, bool Masked>
void nn_rows(int C, const T* a, int64_t lam, int64_t laj, const T* b, int64_t ldb, int64_t j0,
             int64_t j1, T* c, int64_t ldc, bool load_c, bool subtract, typename Vec<T>::Mask mask,
             const T* next, int64_t skip, int64_t rows) {
  with_size<Vec<T>::nn_c_rows>(C, [&](auto rows_c) {
    nn_tile<T, decltype(rows_c)::value, V, Masked>(a, lam, laj, b, ldb, j0, j1, c, ldc, load_c,
                                                   subtract, mask, next, skip, rows);
  });
}

// A few rows of c (a minibatch, as in BP2): rows of b in blocks of 16, each read from memory once
// while the next block is fetched into L2; along each block, chunk by chunk, every group of
// rows of c meets the chunk while it is in L1. Many rows of c (a weight matrix written by a
// rank-r product): all of b at once, so that each element of c is read and written once.
// A share of the work: columns [begin, end) of c with few rows (begin a multiple of 2 vectors),
// rows [begin, end) with many (begin a multiple of nn_c_rows).
constexpr int64_t kFewRows = 16;

template <typename T>
void nn_matrix(const T* a, int64_t lam, int64_t laj, const T* b, int64_t ldb, T* c, int64_t ldc,
               int64_t M, int64_t N, int64_t J, bool accumulate, bool subtract, int64_t begin,
               int64_t end) {
  using Vt = Vec<T>;
  constexpr int64_t L = Vt::lanes;
  constexpr int Cmax = Vt::nn_c_rows;
  const bool few = M <= kFewRows;
  const int64_t block = few ? 16 : J;
  const typename Vt::Mask tail = Vt::mask(N % L);
  // One chunk of columns [n, n + width) for rows [m, m + C) of c and rows [j0, j1) of b.
  auto chunk = [&](int64_t n, int64_t width, int64_t m, int64_t j0, int64_t j1, bool first) {
    const int C = static_cast<int>(std::min<int64_t>(Cmax, M - m));
    const T* am = a + m * lam;
    T* cm = c + m * ldc + n;
    const bool load_c = accumulate || j0 > 0;
    const T* next = (first && n + width < N) ? b + n + width : nullptr;
    const int64_t skip = first ? block : J;  // j + J < J never holds: no L2 prefetch
    if (width == 2 * L)
      nn_rows<T, 2, false>(C, am, lam, laj, b + n, ldb, j0, j1, cm, ldc, load_c, subtract, tail,
                           next, skip, J);
    else if (width == L)
      nn_rows<T, 1, false>(C, am, lam, laj, b + n, ldb, j0, j1, cm, ldc, load_c, subtract, tail,
                           next, skip, J);
    else
      nn_rows<T, 1, true>(C, am, lam, laj, b + n, ldb, j0, j1, cm, ldc, load_c, subtract, tail,
                          next, skip, J);
  };
  auto width_at = [&](int64_t n) { return N - n >= 2 * L ? 2 * L : std::min<int64_t>(L, N - n); };
  if (few) {
    for (int64_t j0 = 0; j0 < J; j0 += block) {
      const int64_t j1 = std::min(J, j0 + block);
      for (int64_t n = begin; n < end; n += width_at(n))
        for (int64_t m = 0; m < M; m += Cmax) chunk(n, width_at(n), m, j0, j1, m == 0);
    }
  } else {
    for (int64_t m = begin; m < end; m += Cmax)
      for (int64_t n = 0; n < N; n += width_at(n)) chunk(n, width_at(n), m, 0, J, false);
  }
}

// ---- entry points -----------------------------------------------------------------------------

// Shares [0, shares) of a product of `work` multiply-adds over torch's intra-op threads; one
// too small to repay waking them (the deferred updates' corrections) runs on this thread.
template <typename F>
void share_out(int64_t shares, int64_t work, const F& f) {
  if (work < (int64_t{1} << 20))
    f(0, shares);
  else
    at::parallel_for(0, shares, 1, f);
}

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.dim() == 3, name, " must be 3-d (a stack of matrices), got ", t.dim(), "-d");
}

void check_rows(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.stride(2) == 1 || t.size(2) <= 1, name, "'s rows must be contiguous");
}

// c (K, M, N) (+)= +-a (K, M, J) @ b (K, N, J)^T; rows of a and b contiguous.
void nt(torch::Tensor c, torch::Tensor a, torch::Tensor b, bool accumulate, bool subtract) {
  check(c, "c");
  check(a, "a");
  check(b, "b");
  check_rows(a, "a");
  check_rows(b, "b");
  const int64_t K = c.size(0), M = c.size(1), N = c.size(2), J = a.size(2);
  TORCH_CHECK(a.size(0) == K && b.size(0) == K && a.size(1) == M && b.size(1) == N &&
                  b.size(2) == J,
              "nt: shapes do not match");
  TORCH_CHECK(a.scalar_type() == c.scalar_type() && b.scalar_type() == c.scalar_type(),
              "nt: dtypes differ");
  {
    pybind11::gil_scoped_release released;
    const int64_t blocks = (N + kNtBlock - 1) / kNtBlock;
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "nt", [&] {
      const scalar_t *ap = a.data_ptr<scalar_t>(), *bp = b.data_ptr<scalar_t>();
      scalar_t* cp = c.data_ptr<scalar_t>();
      share_out(K * blocks, K * M * N * J, [&](int64_t first, int64_t last) {
        for (int64_t t = first; t < last; ++t) {
          const int64_t k = t / blocks, n0 = (t % blocks) * kNtBlock;
          nt_matrix<scalar_t>(ap + k * a.stride(0), a.stride(1), bp + k * b.stride(0), b.stride(1),
                              cp + k * c.stride(0), c.stride(1), c.stride(2), M, N, J, accumulate,
                              subtract, n0, std::min(N, n0 + kNtBlock));
        }
      });
    });
  }
  c.unsafeGetTensorImpl()->bump_version();
}

// c (K, M, N) (+)= +-a (K, M, J) @ b (K, J, N); rows of b and c contiguous, a of any strides.
void nn(torch::Tensor c, torch::Tensor a, torch::Tensor b, bool accumulate, bool subtract) {
  check(c, "c");
  check(a, "a");
  check(b, "b");
  check_rows(b, "b");
  check_rows(c, "c");
  const int64_t K = c.size(0), M = c.size(1), N = c.size(2), J = a.size(2);
  TORCH_CHECK(a.size(0) == K && b.size(0) == K && a.size(1) == M && b.size(1) == J &&
                  b.size(2) == N,
              "nn: shapes do not match");
  TORCH_CHECK(a.scalar_type() == c.scalar_type() && b.scalar_type() == c.scalar_type(),
              "nn: dtypes differ");
  if (J == 0) {  // an empty sum
    if (!accumulate) c.zero_();
    return;
  }
  {
    pybind11::gil_scoped_release released;
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "nn", [&] {
      // Shares: strips of 5 rows of c, or with few rows, one span of columns per thread.
      constexpr int64_t pair = 2 * Vec<scalar_t>::lanes;
      constexpr int64_t strip = Vec<scalar_t>::nn_c_rows;
      int64_t span = strip, shares = (M + strip - 1) / strip, size = M;
      if (M <= kFewRows) {
        const int64_t chunks = (N + pair - 1) / pair;
        const int64_t threads = at::get_num_threads();
        const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, chunks));
        span = (chunks + parts - 1) / parts * pair;
        shares = (N + span - 1) / span;
        size = N;
      }
      const scalar_t *ap = a.data_ptr<scalar_t>(), *bp = b.data_ptr<scalar_t>();
      scalar_t* cp = c.data_ptr<scalar_t>();
      share_out(K * shares, K * M * N * J, [&](int64_t first, int64_t last) {
        for (int64_t t = first; t < last; ++t) {
          const int64_t k = t / shares, begin = (t % shares) * span;
          nn_matrix<scalar_t>(ap + k * a.stride(0), a.stride(1), a.stride(2), bp + k * b.stride(0),
                              b.stride(1), cp + k * c.stride(0), c.stride(1), M, N, J, accumulate,
                              subtract, begin, std::min(size, begin + span));
        }
      });
    });
  }
  c.unsafeGetTensorImpl()->bump_version();
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("nt", &nt, "c (+)= +-a @ b^T on stacks of matrices", pybind11::arg("c"), pybind11::arg("a"),
        pybind11::arg("b"), pybind11::arg("accumulate"), pybind11::arg("subtract"));
  m.def("nn", &nn, "c (+)= +-a @ b on stacks of matrices", pybind11::arg("c"), pybind11::arg("a"),
        pybind11::arg("b"), pybind11::arg("accumulate"), pybind11::arg("subtract"));
}
