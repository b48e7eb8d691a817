/*
 * cgk.h: the C ABI of every cgtrain kernel (cgk = CycleGAN kernels).
 *
 * One header, two backends: native/cpu/ implements it for the CPU (AVX-512 / AVX2+FMA / scalar,
 * one thread pool) and cuda/ implements it for NVIDIA GPUs. native/addon/ binds it to Node.js
 * once and is compiled into both addons (cgtrain_cpu.node, cgtrain_cuda.node).
 *
 * Conventions
 *  - float32 everywhere; tensors are NCHW and contiguous at the API.
 *  - Every `float*` is memory of the backend: host memory on the CPU, device memory on CUDA.
 *    Allocate it with cgk_alloc; move data with cgk_upload / cgk_download.
 *  - Shape names are fixed: n (batch), c (channels), h, w (height, width), hw = h*w,
 *    c_in/c_out, h_in/w_in, h_out/w_out, kh/kw (kernel), sh/sw (stride), ph/pw (padding).
 *  - Every function returns CGK_OK (0) or an error code; cgk_last_error() then holds a message
 *    naming the argument and what was expected. Kernels never abort the process.
 *  - Backward kernels OVERWRITE their gradient outputs (no accumulation); the autograd tape
 *    accumulates with cgk_axpy where a tensor is used more than once.
 *  - Scalars produced on the device (losses, reductions) are written to out[0] of a 1-float
 *    buffer, and scalar upstream gradients are read from dout[0], so nothing crosses the bus
 *    inside a training step.
 *  - CUDA: all kernels run on one stream in call order; cgk_sync() waits for them.
 */
#ifndef CGK_H
#define CGK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cgk_status {
  CGK_OK = 0,
  CGK_ERR_ARG = 1,         /* bad argument: shape, size, range */
  CGK_ERR_OOM = 2,         /* allocation failed */
  CGK_ERR_DEVICE = 3,      /* driver / device error */
  CGK_ERR_UNSUPPORTED = 4  /* not available in this build or on this machine */
};

/* ---- runtime, device, memory --------------------------------------------------------------- */

const char* cgk_last_error(void);      /* message of the last failing call on this thread */
const char* cgk_backend_name(void);    /* "cpu" or "cuda" */

/* Initialise the backend. CPU: threads = pool size (0 = all cores, or $CGTRAIN_THREADS).
 * CUDA: threads = device ordinal. Safe to call again to resize the pool. */
int cgk_init(int threads);
int cgk_num_threads(void);

/* A JSON object describing the backend: CPU features and SIMD level, thread count; for CUDA
 * the driver/runtime versions, device name, memory, compute capability, or why it cannot run. */
const char* cgk_device_info(void);

/* SIMD level of the CPU backend: 0 scalar, 1 AVX2+FMA, 2 AVX-512. cgk_set_simd forces a lower
 * level than the machine supports (for tests that compare paths); -1 restores the best. */
int cgk_simd_level(void);
int cgk_set_simd(int level);

/* Operand precision of the convolution and linear-layer GEMMs. Products always accumulate in
 * float32 and every tensor, weight and optimizer state stays float32 (the float32 master copy);
 * only the multiplier inputs are rounded.
 *   CGK_PRECISION_FP32  exact float32 products
 *   CGK_PRECISION_TF32  operands rounded to TF32 (10-bit mantissa) for the tensor cores, as
 *                       PyTorch allows for cuDNN convolutions by default
 *   CGK_PRECISION_BF16  operands rounded to bfloat16 (7-bit mantissa), tensor cores at twice the
 *                       TF32 rate
 * The CPU backend computes in FP32 and refuses the others (CGK_ERR_UNSUPPORTED). CUDA starts at
 * TF32 on compute capability 8.0+ and FP32 below; $CGTRAIN_CUDA_PRECISION=fp32|tf32|bf16 changes
 * that default ($CGTRAIN_CUDA_TF32=0 means fp32); cgk_set_precision(-1) restores it. TF32 and BF16
 * need 8.0+. GEMMs the tensor-core
 * engines do not take (at most 8 rows: exact FP32; 9-63 rows under BF16: TF32) say so in
 * docs/cuda.md. */
enum cgk_precision_id { CGK_PRECISION_FP32 = 0, CGK_PRECISION_TF32 = 1, CGK_PRECISION_BF16 = 2 };
int cgk_set_precision(int precision);
int cgk_precision(void);

/* Measured FP32 FMA peak of this machine/device in GFLOP/s (register-only FMA loop on every
 * thread for the CPU; an FMA-chain kernel for CUDA), run for about `seconds`. */
int cgk_peak_gflops(double seconds, double* out);

float* cgk_alloc(size_t n_floats);      /* NULL on failure (see cgk_last_error); caching allocator */
void cgk_free(float* p);
int cgk_upload(float* dst, const float* host_src, size_t n);
int cgk_download(float* host_dst, const float* src, size_t n);
int cgk_sync(void);
/* Profiling marks in call order. cgk_timer_mark records one and gives its index (0, 1, ...):
 * on CUDA an event on the stream, reached when every kernel launched before it has finished;
 * on the CPU the host clock (its kernels have returned by then). So the time from the mark
 * before a call to the mark after it is what the device spent on that call's kernels, without
 * waiting for them. cgk_timer_read waits for the last mark, writes the milliseconds from mark 0
 * to each mark (at most `capacity` of them) and the count, and clears the marks. At most
 * CGK_TIMER_MARKS marks between reads. */
#define CGK_TIMER_MARKS 65536
int cgk_timer_mark(int* index);
int cgk_timer_read(double* ms, int capacity, int* count);
/* Bytes currently held by the allocator (in use, cached) and the high-water mark in use. */
int cgk_memory_stats(size_t* in_use, size_t* cached, size_t* peak);
int cgk_empty_cache(void);

/* ---- elementwise ---------------------------------------------------------------------------- */

int cgk_fill(float* y, float value, size_t n);
int cgk_copy(float* dst, const float* src, size_t n);
/* Copies `count` blocks of `block` floats: for i < count, block pairs[2 i + 1] of src to block
 * pairs[2 i] of dst (block indices, in host memory). One call where `count` cgk_copy calls would
 * each cost a launch (the image pool moves a batch image by image). The copies may run in any
 * order or at once, so the dst blocks must be distinct and, where dst and src are one buffer, no
 * dst block may also be a src block; the N-API glue checks that and the buffers' sizes. */
int cgk_copy_blocks(float* dst, const float* src, size_t block, const int32_t* pairs, int count);
int cgk_add(const float* a, const float* b, float* y, size_t n);          /* y = a + b */
int cgk_sub(const float* a, const float* b, float* y, size_t n);          /* y = a - b */
int cgk_mul(const float* a, const float* b, float* y, size_t n);          /* y = a * b */
int cgk_affine(const float* x, float alpha, float beta, float* y, size_t n); /* y = alpha*x + beta */
int cgk_axpy(float alpha, const float* x, float* y, size_t n);            /* y += alpha * x */
/* y[i] = alpha * x[i] where alpha is a device scalar (alpha[0]); used to scale by an upstream
 * scalar gradient without leaving the device. */
int cgk_scale_by(const float* x, const float* alpha, float* y, size_t n);

/* ---- activations (backward of tanh and sigmoid takes the forward OUTPUT y) ----------------- */

int cgk_relu_forward(const float* x, float* y, size_t n);
int cgk_relu_backward(const float* x, const float* dy, float* dx, size_t n);
int cgk_leaky_relu_forward(const float* x, float slope, float* y, size_t n);
int cgk_leaky_relu_backward(const float* x, float slope, const float* dy, float* dx, size_t n);
int cgk_tanh_forward(const float* x, float* y, size_t n);
int cgk_tanh_backward(const float* y, const float* dy, float* dx, size_t n);
int cgk_sigmoid_forward(const float* x, float* y, size_t n);
int cgk_sigmoid_backward(const float* y, const float* dy, float* dx, size_t n);
/* Inverted dropout: mask[i] = keep ? 1/(1-p) : 0 from a counter-based RNG (seed, i), identical
 * on every backend; y = x * mask. Backward: dx = dy * mask. */
int cgk_dropout_forward(const float* x, float p, uint64_t seed, float* mask, float* y, size_t n);

/* ---- layout: padding, upsampling, concat/slice ---------------------------------------------- */

/* x [n*c, h, w] -> y [n*c, h+top+bottom, w+left+right]. Reflection needs pad < size. */
int cgk_reflection_pad_forward(const float* x, float* y, int nc, int h, int w,
                               int top, int bottom, int left, int right);
int cgk_reflection_pad_backward(const float* dy, float* dx, int nc, int h, int w,
                                int top, int bottom, int left, int right);
int cgk_zero_pad_forward(const float* x, float* y, int nc, int h, int w,
                         int top, int bottom, int left, int right);
int cgk_zero_pad_backward(const float* dy, float* dx, int nc, int h, int w,
                          int top, int bottom, int left, int right);
/* Nearest-neighbour upsampling by 2: [nc, h, w] -> [nc, 2h, 2w]. */
int cgk_upsample_nearest2x_forward(const float* x, float* y, int nc, int h, int w);
int cgk_upsample_nearest2x_backward(const float* dy, float* dx, int nc, int h, int w);
/* Channel concat of a [n, ca, hw] and b [n, cb, hw] into y [n, ca+cb, hw], and its inverse
 * (the backward: split dy into da, db). Batch concat/slice is cgk_copy at offsets. */
int cgk_concat_channels(const float* a, const float* b, float* y, int n, int ca, int cb, int hw);
int cgk_split_channels(const float* y, float* a, float* b, int n, int ca, int cb, int hw);

/* ---- convolution ---------------------------------------------------------------------------- */

/* One description for conv2d and conv-transpose2d. For conv2d: x [n, c_in, h_in, w_in],
 * w [c_out, c_in, kh, kw], y [n, c_out, h_out, w_out], h_out = (h_in + 2ph - kh)/sh + 1.
 * For conv-transpose2d (PyTorch's definition): x [n, c_in, h_in, w_in], w [c_in, c_out, kh, kw],
 * y [n, c_out, h_out, w_out], h_out = (h_in - 1)*sh - 2ph + kh + output_padding_h.
 * h_out/w_out are given explicitly and checked against the formulas. Padding is zeros, or for
 * conv2d reflection (pad_mode CGK_PAD_REFLECT: the result of ReflectionPad2d(ph, pw) followed by
 * the unpadded conv, with ph < h_in and pw < w_in; dx is the gradient of the unpadded x). */
typedef struct cgk_conv {
  int n, c_in, h_in, w_in;
  int c_out, h_out, w_out;
  int kh, kw, sh, sw, ph, pw;
  int oph, opw; /* output_padding, conv-transpose only (0 for conv2d) */
  int pad_mode; /* enum cgk_pad_mode; CGK_PAD_ZEROS when zero-initialised */
} cgk_conv;

enum cgk_pad_mode { CGK_PAD_ZEROS = 0, CGK_PAD_REFLECT = 1 };

/* Algorithm for 3x3 stride-1 convolutions (padding 0..2) on the CPU at the AVX2 and AVX-512
 * levels: CGK_CONV_AUTO (default) uses Winograd F(4x4, 3x3) where it pays (>= 32 channels each
 * way, little tile waste; at AVX2 a forward needs enough tiles too), CGK_CONV_DIRECT never,
 * CGK_CONV_WINOGRAD always (for tests). Winograd differs from the direct product by about 1e-6
 * relative. The CUDA backend accepts the setting
 * and runs its direct kernels. */
enum cgk_conv_algo_id { CGK_CONV_DIRECT = 0, CGK_CONV_AUTO = 1, CGK_CONV_WINOGRAD = 2 };
int cgk_set_conv_algo(int algo);
int cgk_conv_algo(void);

/* Convolution tuning, as cudnn.benchmark does it (CUDA): the first time a convolution GEMM of a
 * given kind, geometry and precision runs, every engine, tile height and reduction split that
 * computes it at that precision is timed on the real operands, and the fastest is kept for the
 * rest of the process. The candidates differ only in the order of the float32 sums. On by
 * default ($CGTRAIN_CUDA_TUNE=0 turns the default off, for bitwise-repeatable runs); -1 restores
 * the default. $CGTRAIN_CUDA_CONV (a forced engine) bypasses it. cgk_conv_tuning_report returns
 * a JSON array, one object per tuned GEMM: kind, precision, M/N/K, geometry, chosen and
 * heuristic ({engine, bm, splits, ms}) and every candidate's time. The CPU backend picks its
 * kernels by rule: it refuses 1, reports 0 and []. */
int cgk_set_conv_tuning(int on);
int cgk_conv_tuning(void);
const char* cgk_conv_tuning_report(void);

/* bias may be NULL. */
int cgk_conv2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y);
int cgk_conv2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx);
int cgk_conv2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw);
/* Both of the above in one call, the same results: the CPU's Winograd path transforms dy once
 * for the two. */
int cgk_conv2d_backward(const cgk_conv* p, const float* x, const float* dy, const float* w, float* dx, float* dw);
/* db[c] = sum over n, h, w of dy[n, c, h, w]; dy [n, c, hw]. Shared by conv, conv-transpose. */
int cgk_bias_backward(const float* dy, float* db, int n, int c, int hw);

int cgk_conv_transpose2d_forward(const cgk_conv* p, const float* x, const float* w, const float* bias, float* y);
int cgk_conv_transpose2d_backward_data(const cgk_conv* p, const float* dy, const float* w, float* dx);
int cgk_conv_transpose2d_backward_weight(const cgk_conv* p, const float* x, const float* dy, float* dw);

/* ---- fully connected: x [n, in], w [out, in], bias [out] (nullable), y [n, out] -------------- */

int cgk_linear_forward(const float* x, const float* w, const float* bias, float* y, int n, int in, int out);
int cgk_linear_backward_data(const float* dy, const float* w, float* dx, int n, int in, int out);
/* dw [out, in]; db [out] may be NULL. */
int cgk_linear_backward_weight(const float* x, const float* dy, float* dw, float* db, int n, int in, int out);

/* ---- normalisation (x [n, c, hw]) ---------------------------------------------------------- */

/* Instance norm over each (n, c) plane with biased variance. gamma/beta [c] may be NULL
 * (affine=False). Saves mean and rstd = 1/sqrt(var + eps) per plane ([n*c] each). */
int cgk_instance_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                              float* mean, float* rstd, int n, int c, int hw, float eps);
/* dgamma/dbeta may be NULL (and must be when gamma is NULL). */
int cgk_instance_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                               const float* gamma, float* dx, float* dgamma, float* dbeta,
                               int n, int c, int hw);
/* Instance norm followed by ReLU, y = max(IN(x), 0), one pass each way: the backward takes the
 * gradient of y and recomputes the ReLU's mask from x, mean, rstd, gamma and beta, so only x is
 * kept. */
int cgk_instance_norm_relu_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                   float* rstd, int n, int c, int hw, float eps);
int cgk_instance_norm_relu_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                                    const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta, int n,
                                    int c, int hw);
/* Batch norm, training mode: batch statistics (biased variance for normalising), and running
 * statistics updated as PyTorch does: r = (1-momentum) r + momentum * stat, with the unbiased
 * variance for running_var. running_* may be NULL. Saves mean and rstd per channel ([c]). */
int cgk_batch_norm_forward_train(const float* x, const float* gamma, const float* beta, float* y,
                                 float* mean, float* rstd, float* running_mean, float* running_var,
                                 int n, int c, int hw, float eps, float momentum);
/* Eval mode: normalise with the running statistics. */
int cgk_batch_norm_forward_eval(const float* x, const float* gamma, const float* beta, float* y,
                                const float* running_mean, const float* running_var,
                                int n, int c, int hw, float eps);
int cgk_batch_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd,
                            const float* gamma, float* dx, float* dgamma, float* dbeta,
                            int n, int c, int hw);

/* ---- pooling and reductions ----------------------------------------------------------------- */

/* Max pooling, kernel k, stride s, padding p (padding never wins). argmax [n*c*h_out*w_out]
 * stores the flat index within the input plane, as float (exact below 2^24). */
int cgk_max_pool2d_forward(const float* x, float* y, float* argmax, int nc, int h, int w,
                           int k, int s, int p, int h_out, int w_out);
int cgk_max_pool2d_backward(const float* dy, const float* argmax, float* dx, int nc, int h, int w,
                            int h_out, int w_out);
/* [nc, hw] -> [nc] mean, and its backward. */
int cgk_global_avg_pool_forward(const float* x, float* y, int nc, int hw);
int cgk_global_avg_pool_backward(const float* dy, float* dx, int nc, int hw);
/* out[0] = sum (or mean) of x[0..n). */
int cgk_sum(const float* x, float* out, size_t n);
int cgk_mean(const float* x, float* out, size_t n);
/* Backward of sum/mean: dx[i] = dout[0] (sum) or dout[0]/n (mean). */
int cgk_sum_backward(const float* dout, float* dx, size_t n);
int cgk_mean_backward(const float* dout, float* dx, size_t n);

/* ---- losses: out[0] = loss (mean over n elements); backward: dx = dout[0] * dloss/dx -------- */

int cgk_l1_loss_forward(const float* x, const float* t, float* out, size_t n);
int cgk_l1_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n);
int cgk_mse_loss_forward(const float* x, const float* t, float* out, size_t n);
int cgk_mse_loss_backward(const float* x, const float* t, const float* dout, float* dx, size_t n);
/* Numerically stable: max(x,0) - x t + log(1 + exp(-|x|)). */
int cgk_bce_logits_forward(const float* x, const float* t, float* out, size_t n);
int cgk_bce_logits_backward(const float* x, const float* t, const float* dout, float* dx, size_t n);
/* Binary focal loss on logits (Lin et al. 2017): p_t = p if t=1 else 1-p, alpha_t likewise,
 * loss = mean(-alpha_t (1 - p_t)^gamma log p_t), for soft targets by linear interpolation
 * of the two terms. alpha < 0 disables alpha weighting. */
int cgk_focal_loss_forward(const float* x, const float* t, float alpha, float gamma, float* out, size_t n);
int cgk_focal_loss_backward(const float* x, const float* t, float alpha, float gamma,
                            const float* dout, float* dx, size_t n);
/* GHM-C (Li et al. 2019): gradient norm g = |sigmoid(x) - t| falls into one of `bins` equal
 * bins; acc[bins] holds the (momentum-averaged) count per bin and is updated in place
 * (momentum 0: plain counts of this batch). Weight w_i = n / (acc[bin_i] * nonempty_bins);
 * loss = sum(w_i * bce_i) / n. `weights` [n] receives w_i for the backward, which treats the
 * weights as constants. */
int cgk_ghmc_loss_forward(const float* x, const float* t, int bins, float momentum, float* acc,
                          float* weights, float* out, size_t n);
int cgk_ghmc_loss_backward(const float* x, const float* t, const float* weights,
                           const float* dout, float* dx, size_t n);
/* Softmax cross-entropy: logits [n, k], labels [n] (class index as float); mean over n.
 * probs [n, k] receives the softmax for the backward. */
int cgk_softmax_xent_forward(const float* logits, const float* labels, float* probs, float* out, int n, int k);
int cgk_softmax_xent_backward(const float* probs, const float* labels, const float* dout, float* dlogits, int n, int k);
/* Row softmax, for inference: [n, k]. */
int cgk_softmax_forward(const float* logits, float* probs, int n, int k);

/* ---- optimiser ------------------------------------------------------------------------------ */

/* Adam over `count` parameter tensors in one call (PyTorch semantics): with t = step (1-based),
 * g = grad + weight_decay * p (L2, as torch.optim.Adam), m = b1 m + (1-b1) g,
 * v = b2 v + (1-b2) g^2, p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). */
int cgk_adam_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                  const size_t* sizes, int count, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int step);

/* ---- host memory (the same code in both addons) ------------------------------------------ */

/* Decoded image bytes to float32 through a 256-entry table, over a 3-D strided view:
 * dst[i*ds0 + j*ds1 + k*ds2] = table[src[i*ss0 + j*ss1 + k*ss2]] for i < shape[0], j < shape[1],
 * k < shape[2]. Strides may be negative (a mirrored view); src and dst point at element
 * (0, 0, 0). Host pointers (JavaScript typed arrays); the glue checks every index is in range. */
int cgk_host_bytes_to_float(const uint8_t* src, const int64_t src_strides[3], const int64_t shape[3],
                            float* dst, const int64_t dst_strides[3], const float* table);

#ifdef __cplusplus
}
#endif

#endif /* CGK_H */
