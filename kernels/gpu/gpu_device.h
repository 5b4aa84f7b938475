// The GPU backend's interface: one device with a compute stream, a copy stream, events, memory
// and the kernels the engine's GPU forward pass needs. Plain C++ (no CUDA types), so core/ uses
// it without #ifdef: builds with nvcc implement it in kernels/cuda/, builds without it in
// kernels/gpu_none/, where open_device() says the backend was not built.
//
// Every call returns a GpuStatus naming the failing CUDA call ("cudaMalloc: out of memory");
// nothing aborts. Pointers passed to kernels are device pointers unless a parameter says host.
// Every method may be called from any thread (the expert cache's copy thread uses the copy
// stream while the engine thread computes); implementations select the device per call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels::gpu {

// Empty message: success.
class GpuStatus {
 public:
  GpuStatus() = default;
  static GpuStatus error(std::string message) {
    GpuStatus s;
    s.message_ = message.empty() ? std::string("unknown GPU error") : std::move(message);
    return s;
  }
  bool ok() const { return message_.empty(); }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

struct DeviceInfo {
  int index = 0;
  std::string name;
  uint64_t total_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
};

struct RuntimeProbe {
  bool built = false;  // the CUDA backend was compiled into this binary
  int runtime_version = 0;
  int driver_version = 0;  // 0 without a driver
  std::vector<DeviceInfo> devices;
  std::string message;  // why `devices` is empty ("cudaGetDeviceCount: ..."), else empty
};

// Never fails; cheap after the first call.
RuntimeProbe probe_runtime();

enum class StreamId { Compute, Copy };

// An event owned by the Device that created it (opaque; a cudaEvent_t in the CUDA build).
struct EventTag;
using Event = EventTag*;

// Weights and activations of the kernels below: MatrixView::data is a device pointer, laid out
// exactly as in the GGUF file (blocks along cols, rows row_stride bytes apart).

// Attention of a batch's tokens over a device KV cache. Token t, query head h reads
// q + t * q_token_stride + h * head_dim_k and attends to positions 0..n_pos[t]-1 of sequence
// seq[t]; key head kh = h / (n_head / n_head_kv) of position p is at
// k + seq * k_seq_stride + p * k_row_stride + kh * head_dim_k (elements of kv_type), values
// likewise with v, head_dim_v. Latent attention (MLA) passes n_head_kv 1, v == k and
// head_dim_v = the latent width, so the value is the leading part of the key row. Output head
// h of token t goes to out + t * out_token_stride + h * head_dim_v. With an F16 cache the
// query and the normalised probabilities are rounded to F16 before their products, as the
// CPU engine and ggml do.
struct AttentionArgs {
  const float* q = nullptr;
  int64_t q_token_stride = 0;
  int64_t n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim_k = 0, head_dim_v = 0;
  float scale = 1.0f;
  const void* k = nullptr;
  const void* v = nullptr;
  TensorType kv_type = TensorType::F32;  // F32 or F16
  int64_t k_seq_stride = 0, k_row_stride = 0, v_seq_stride = 0, v_row_stride = 0;  // elements
  const int32_t* seq = nullptr;    // [n_tokens]
  const int32_t* n_pos = nullptr;  // [n_tokens], >= 1
  float* out = nullptr;
  int64_t out_token_stride = 0;
};

// The longest context attention() supports (its scores live in shared memory).
constexpr int64_t kMaxAttentionContext = 32768;

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceInfo& info() const = 0;

  // --- memory. allocated_bytes() is the sum of this Device's live device allocations.
  virtual GpuStatus malloc_device(uint64_t bytes, void** out) = 0;
  virtual void free_device(void* p) = 0;
  virtual GpuStatus malloc_pinned(uint64_t bytes, void** out) = 0;  // page-locked host memory
  virtual void free_pinned(void* p) = 0;
  virtual uint64_t allocated_bytes() const = 0;
  virtual GpuStatus mem_info(uint64_t* free_bytes, uint64_t* total_bytes) = 0;  // cudaMemGetInfo

  // --- transfers. copy_async copies in any direction, ordered on the stream; the source must
  // stay valid until the stream reaches it, and only pinned host memory overlaps with compute.
  virtual GpuStatus copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) = 0;
  virtual GpuStatus memset_async(void* dst, int value, uint64_t bytes, StreamId s) = 0;
  // Blocking copies on the compute stream: upload from pageable host memory (src host),
  // download after every kernel queued before it (dst host).
  virtual GpuStatus upload(void* dst, const void* src, uint64_t bytes) = 0;
  virtual GpuStatus download(void* dst, const void* src, uint64_t bytes) = 0;

  // --- events and streams. wait() makes stream s wait for the work `e` captured at its last
  // record(); the host does not block. sync_* block the host.
  virtual GpuStatus create_event(Event* out) = 0;
  virtual void destroy_event(Event e) = 0;
  virtual GpuStatus record(Event e, StreamId s) = 0;
  virtual GpuStatus wait(StreamId s, Event e) = 0;
  virtual GpuStatus sync_event(Event e) = 0;
  virtual GpuStatus sync_stream(StreamId s) = 0;
  virtual GpuStatus elapsed_ms(Event start, Event end, float* ms) = 0;  // both recorded, done

  // --- kernels, on the compute stream; F32 activations.
  // y[t][r] = sum_c W[r][c] x'[t][c] for t < n_tokens, where x' is x rounded to
  // vec_dot_type(w.type) and back (Q8_0, Q8_1, Q8_K, F16 or BF16; x itself for F32 weights),
  // the values the CPU engine's dot products see (kernels::quantize_activation_row,
  // kernels/cuda/activation_round.h): a quantized matrix-vector kernel that dequantizes in
  // registers for small n_tokens (decode, expert groups), cuBLAS for larger ones. Types: F32,
  // F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K.
  virtual GpuStatus matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride,
                           float* y, int64_t y_stride) = 0;
  // Per head: y_h = W_h x_h with W_h rows [h * rows_per_head, (h + 1) * rows_per_head) of w
  // and x_h of w.cols floats at x + t * x_token_stride + h * x_head_stride (y likewise).
  virtual GpuStatus matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                                 const float* x, int64_t n_tokens, int64_t x_token_stride,
                                 int64_t x_head_stride, float* y, int64_t y_token_stride,
                                 int64_t y_head_stride) = 0;
  // dst[r][c] = W[r][c] as floats (rows [0, w.rows)).
  virtual GpuStatus dequantize(const MatrixView& w, float* dst) = 0;

  // Row r of `rows` at x + r * x_stride, width floats: y = x / sqrt(mean(x^2) + eps) * w (w may
  // be null); y may alias x.
  virtual GpuStatus rms_norm(const float* x, int64_t x_stride, const float* w, float eps,
                             int64_t rows, int64_t width, float* y, int64_t y_stride) = 0;
  // Rotates the first n_dims of each of n_heads heads of each token in place: head h of token
  // t starts at x + t * token_stride + h * head_stride; pos[t] its position. Same formulas as
  // kernels::rope_yarn (yarn.ext_factor 0 is plain rope).
  virtual GpuStatus rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                         int64_t head_stride, int64_t n_dims, const int32_t* pos, float freq_base,
                         float freq_scale, RopeMode mode, const RopeYarn& yarn) = 0;
  virtual GpuStatus add(const float* a, const float* b, int64_t n, float* out) = 0;  // may alias
  // x[r][c] += bias[c] for rows at x + r * stride.
  virtual GpuStatus add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                             int64_t stride) = 0;
  virtual GpuStatus silu_mul(const float* gate, const float* up, int64_t n, float* out) = 0;
  // dst row i = src row idx[i] (rows of width floats).
  virtual GpuStatus gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                                float* dst) = 0;
  // dst row idx[i] = src row i * scale[i].
  virtual GpuStatus scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                        const float* scale, int64_t n, float* dst) = 0;
  // out row t = sum over j < k of slots row t * k + j, added in j order (ggml's order).
  virtual GpuStatus sum_slots(const float* slots, int64_t n, int64_t k, int64_t width,
                              float* out) = 0;
  // out row t += src row t / (1 + exp(-logit[t])).
  virtual GpuStatus add_gated(float* out, const float* src, const float* logit, int64_t n,
                              int64_t width) = 0;
  // Row t of src (width floats, src_stride apart) is written to cache + dst_offset[t]
  // (elements) as cache_type (F32, or F16 rounded to nearest even).
  virtual GpuStatus store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride,
                               void* cache, TensorType cache_type,
                               const int64_t* dst_offset) = 0;
  virtual GpuStatus attention(const AttentionArgs& args) = 0;
};

struct OpenResult {
  std::shared_ptr<Device> device;  // null on failure
  GpuStatus status;
};

// Opens device `index` (creates its streams and cuBLAS handle). Fails with a message when the
// backend is not built, no driver or GPU is present, or the index is out of range.
OpenResult open_device(int index);

}  // namespace emoe::kernels::gpu
