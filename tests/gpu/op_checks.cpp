// GPU checks of the device runtime (memory accounting, copies, streams and events) and of the
// element-wise, norm, RoPE and row kernels (attention: attention_checks.cpp). Every result is
// compared with the CPU kernels (kernels/cpu/ops.h, fp16.h) or a float64 loop written here, never
// with the device's own output. Buffers carry padding around the written region, filled with a
// sentinel, and the padding must come back bit-identical: a kernel that writes outside its rows
// fails.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ops.h"
#include "tests/gpu/check_support.h"

namespace emoe::gpucheck {
namespace {

using gpu::Device;
using gpu::GpuStatus;
using gpu::StreamId;
using kernels::RopeMode;
using kernels::RopeYarn;
using kernels::TensorType;

// ---------------------------------------------------------------- runtime

void check_runtime(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  Device& d = ctx.device;
  // allocated_bytes is exact bookkeeping of live allocations.
  const uint64_t base = d.allocated_bytes();
  {
    DevBuf a(d), b(d);
    if (!run.ok(a.alloc(1 << 20), "malloc_device 1 MiB") ||
        !run.ok(b.alloc(3 << 20), "malloc_device 3 MiB")) {
      return;
    }
    r.expect(d.allocated_bytes() == base + (4 << 20),
             "allocated_bytes after 1 + 3 MiB is " + std::to_string(d.allocated_bytes() - base));
  }
  r.expect(d.allocated_bytes() == base, "allocated_bytes did not return to its start after frees");
  void* huge = &huge;
  const GpuStatus oom = d.malloc_device(uint64_t{1} << 62, &huge);
  r.expect(!oom.ok() && !oom.message().empty(), "a 4 EiB malloc_device did not fail");
  r.expect(huge == nullptr, "a failed malloc_device left a non-null pointer");
  r.expect(d.allocated_bytes() == base, "a failed malloc_device changed allocated_bytes");

  uint64_t free0 = 0, total0 = 0;
  if (!run.ok(d.mem_info(&free0, &total0), "mem_info")) return;
  r.expect(total0 > 0 && free0 <= total0,
           "mem_info: free " + std::to_string(free0) + " > total " + std::to_string(total0));
  if (ctx.is_reference) {
    r.note("mem_info drop not checked: the reference device's figure is its own bookkeeping");
  } else {
    const uint64_t bytes = std::min<uint64_t>(uint64_t{256} << 20, free0 / 4);
    DevBuf big(d);
    if (!run.ok(big.alloc(bytes), "malloc_device for mem_info")) return;
    run.ok(d.memset_async(big.get(), 0, bytes, StreamId::Compute), "memset_async");
    run.ok(d.sync_stream(StreamId::Compute), "sync_stream");
    uint64_t free1 = 0, total1 = 0;
    run.ok(d.mem_info(&free1, &total1), "mem_info");
    r.expect(free1 + bytes <= free0,
             "mem_info free dropped by " + std::to_string(static_cast<int64_t>(free0 - free1)) +
                 " bytes after a " + std::to_string(bytes) + "-byte allocation");
  }

  // Round trips on both streams, pageable and pinned host memory.
  std::mt19937 rng(7);
  const uint64_t n = (1 << 20) + 12;
  std::vector<uint8_t> pattern(n), pattern2(n), back;
  for (auto& b : pattern) b = static_cast<uint8_t>(rng());
  for (auto& b : pattern2) b = static_cast<uint8_t>(rng());
  auto a = run.put(pattern, "pattern");
  DevBuf b(d);
  if (!a || !run.ok(b.alloc(n), "malloc_device")) return;
  run.ok(d.copy_async(b.get(), a->get(), n, StreamId::Copy), "copy_async device->device (copy)");
  run.ok(d.sync_stream(StreamId::Copy), "sync_stream(copy)");
  if (run.get(b, back, "copied pattern")) r.expect(back == pattern, "device->device copy differs");
  run.ok(d.memset_async(b.get(), 0x5A, n, StreamId::Copy), "memset_async (copy)");
  run.ok(d.sync_stream(StreamId::Copy), "sync_stream(copy)");
  if (run.get(b, back, "memset buffer")) {
    r.expect(back == std::vector<uint8_t>(n, 0x5A), "memset_async on the copy stream differs");
  }
  void* pin_in = nullptr;
  void* pin_out = nullptr;
  if (run.ok(d.malloc_pinned(n, &pin_in), "malloc_pinned") &&
      run.ok(d.malloc_pinned(n, &pin_out), "malloc_pinned")) {
    std::memcpy(pin_in, pattern2.data(), n);
    std::memset(pin_out, 0, n);
    run.ok(d.copy_async(a->get(), pin_in, n, StreamId::Copy), "copy_async pinned->device (copy)");
    run.ok(d.sync_stream(StreamId::Copy), "sync_stream(copy)");
    run.ok(d.copy_async(pin_out, a->get(), n, StreamId::Compute),
           "copy_async device->pinned (compute)");
    run.ok(d.sync_stream(StreamId::Compute), "sync_stream(compute)");
    r.expect(std::memcmp(pin_out, pattern2.data(), n) == 0, "pinned round trip differs");
  }

  // Cross-stream order, both ways. Enough queued work that an unordered copy would overlap it.
  const int64_t nf = int64_t{1} << 22;
  const int adds = 128;
  auto x = run.put(std::vector<float>(nf, 0.0f), "zeros");
  auto one = run.put(std::vector<float>(nf, 1.0f), "ones");
  gpu::Event e1 = nullptr, e2 = nullptr;
  if (x && one && run.ok(d.create_event(&e1), "create_event") &&
      run.ok(d.create_event(&e2), "create_event")) {
    run.ok(d.record(e1, StreamId::Compute), "record(start, compute)");
    GpuStatus added;
    for (int i = 0; i < adds && added.ok(); ++i) {
      added = d.add(x->as<float>(), one->as<float>(), nf, x->as<float>());
    }
    run.ok(added, "add");
    run.ok(d.record(e2, StreamId::Compute), "record(compute)");
    run.ok(d.wait(StreamId::Copy, e2), "wait(copy, compute event)");
    void* pin = nullptr;
    if (run.ok(d.malloc_pinned(nf * sizeof(float), &pin), "malloc_pinned")) {
      run.ok(d.copy_async(pin, x->get(), nf * sizeof(float), StreamId::Copy), "copy_async (copy)");
      run.ok(d.sync_stream(StreamId::Copy), "sync_stream(copy)");
      const float* got = static_cast<const float*>(pin);
      int64_t bad = 0;
      for (int64_t i = 0; i < nf; ++i) bad += got[i] != static_cast<float>(adds);
      r.expect(bad == 0, "copy stream waited on a compute event but read " + std::to_string(bad) +
                             " elements before the adds finished");
      float ms = -1.0f;
      run.ok(d.sync_event(e2), "sync_event");
      if (run.ok(d.elapsed_ms(e1, e2, &ms), "elapsed_ms")) {
        r.expect(ms >= 0.0f, "elapsed_ms is negative: " + fmt(ms));
        r.note(std::to_string(adds) + " adds of 16 MiB took " + fmt(ms) + " ms");
      }
      // The expert cache's pattern: a load on the copy stream, compute waits on its event.
      for (int64_t i = 0; i < nf; ++i) static_cast<float*>(pin)[i] = 3.0f;
      DevBuf y(d);
      if (run.ok(y.alloc(nf * sizeof(float)), "malloc_device") &&
          run.ok(d.memset_async(x->get(), 0, nf * sizeof(float), StreamId::Compute), "memset")) {
        run.ok(d.sync_stream(StreamId::Compute), "sync_stream(compute)");
        run.ok(d.copy_async(x->get(), pin, nf * sizeof(float), StreamId::Copy), "copy_async load");
        run.ok(d.record(e1, StreamId::Copy), "record(copy)");
        run.ok(d.wait(StreamId::Compute, e1), "wait(compute, copy event)");
        run.ok(d.add(x->as<float>(), one->as<float>(), nf, y.as<float>()), "add after load");
        std::vector<float> yv;
        if (run.get(y, yv, "sum after load")) {
          int64_t wrong = 0;
          for (float v : yv) wrong += v != 4.0f;
          r.expect(wrong == 0, "compute waited on a copy event but " + std::to_string(wrong) +
                                   " elements missed the load");
        }
      }
      d.free_pinned(pin);
    }
    // Zero-sized work is accepted.
    run.ok(d.add(x->as<float>(), one->as<float>(), 0, x->as<float>()), "add of 0 elements");
  }
  if (e1) d.destroy_event(e1);
  if (e2) d.destroy_event(e2);
  if (pin_in) d.free_pinned(pin_in);
  if (pin_out) d.free_pinned(pin_out);
}

// ---------------------------------------------------------------- norms and RoPE

void check_rms_norm(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(11);
  double worst = 0;
  struct Shape {
    int64_t rows, width, x_stride, y_stride;
    float amp;  // |x| <= amp; 0.003 makes mean(x^2) ~ eps, so a wrong eps shows
  };
  for (const Shape& s : {Shape{5, 1000, 1024, 1100, 3.0f}, Shape{3, 4096, 4096, 4096, 3.0f},
                         Shape{4, 300, 300, 310, 0.003f}, Shape{2, 1, 3, 2, 3.0f}}) {
    const auto x = uniform(rng, static_cast<size_t>(s.rows * s.x_stride), -s.amp, s.amp);
    const auto w = uniform(rng, static_cast<size_t>(s.width), 0.5f, 1.5f);
    auto dx = run.put(x, "x");
    auto dw = run.put(w, "w");
    if (!dx || !dw) return;
    for (int variant = 0; variant < 3; ++variant) {  // weighted, unweighted, weighted in place
      const bool in_place = variant == 2;
      const int64_t y_stride = in_place ? s.x_stride : s.y_stride;
      std::vector<float> want = in_place ? x : std::vector<float>(s.rows * y_stride, kSentinel);
      std::vector<char> mask(want.size(), 0);
      for (int64_t row = 0; row < s.rows; ++row) {
        kernels::rms_norm(x.data() + row * s.x_stride, variant == 1 ? nullptr : w.data(), 1e-5f,
                          s.width, want.data() + row * y_stride);
        for (int64_t c = 0; c < s.width; ++c) mask[row * y_stride + c] = 1;
      }
      auto dy = in_place ? run.put(x, "x (in place)")
                         : run.put(std::vector<float>(want.size(), kSentinel), "y");
      if (!dy) return;
      const float* xin = in_place ? dy->as<float>() : dx->as<float>();
      if (!run.ok(ctx.device.rms_norm(xin, s.x_stride, variant == 1 ? nullptr : dw->as<float>(),
                                      1e-5f, s.rows, s.width, dy->as<float>(), y_stride),
                  "rms_norm")) {
        return;
      }
      std::vector<float> got;
      if (!run.get(*dy, got, "y")) return;
      // The CPU sums squares in double, a GPU in float with a tree: the mean differs by a few
      // float ulps at these widths, and 1 / sqrt halves that, so ~1e-6. 1e-5 leaves margin and
      // still catches a missing weight, a wrong row stride or width, or eps misapplied in the
      // small-amplitude rows (there eps is 3x mean(x^2)).
      expect_match(r, got, want, mask, 1e-5,
                   "rows " + std::to_string(s.rows) + " x " + std::to_string(s.width) +
                       (variant == 1 ? " unweighted"
                        : in_place   ? " in place"
                                     : ""),
                   &worst);
    }
  }
  r.note("largest normalised error " + fmt(worst));
}

void check_rope(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(13);
  // Heads 88 floats apart with 80 in use, tokens padded too: strides differ from widths.
  const int64_t n_tokens = 4, n_heads = 3, head_dim = 80, head_stride = 88;
  const int64_t token_stride = n_heads * head_stride + 16;
  double worst = 0;
  const std::vector<int32_t> pos = {0, 5, 1234, 40000};
  auto dpos = run.put(pos, "pos");
  if (!dpos) return;
  struct Case {
    const char* name;
    float base, scale;
    RopeYarn yarn;
  };
  const RopeYarn yarn_on{1.0f, 1.0f, 32.0f, 1.0f, 4096};
  const RopeYarn attn_only{0.0f, 0.8f, 32.0f, 1.0f, 0};
  const Case cases[] = {
      {"plain", 10000.0f, 1.0f, RopeYarn{}},        {"base 1e6", 1e6f, 1.0f, RopeYarn{}},
      {"linear 0.25", 10000.0f, 0.25f, RopeYarn{}}, {"attn_factor 0.8", 10000.0f, 1.0f, attn_only},
      {"yarn", 10000.0f, 0.25f, yarn_on},           {"yarn 1/40", 5e5f, 1.0f / 40.0f, yarn_on}};
  for (RopeMode mode : {RopeMode::Norm, RopeMode::Neox}) {
    for (int64_t n_dims : {head_dim, int64_t{32}}) {
      for (const Case& c : cases) {
        const auto x = uniform(rng, static_cast<size_t>(n_tokens * token_stride), -2.0f, 2.0f);
        std::vector<float> want = x;
        std::vector<char> mask(x.size(), 0);
        for (int64_t t = 0; t < n_tokens; ++t) {
          kernels::rope_yarn(want.data() + t * token_stride, n_heads, head_stride, n_dims, pos[t],
                             c.base, c.scale, mode, c.yarn);
          for (int64_t h = 0; h < n_heads; ++h) {
            for (int64_t i = 0; i < n_dims; ++i) mask[t * token_stride + h * head_stride + i] = 1;
          }
        }
        const std::string what = std::string(mode == RopeMode::Neox ? "neox " : "norm ") + c.name +
                                 ", n_dims " + std::to_string(n_dims);
        auto dx = run.put(x, "x");
        if (!dx ||
            !run.ok(ctx.device.rope(dx->as<float>(), n_tokens, token_stride, n_heads, head_stride,
                                    n_dims, dpos->as<int32_t>(), c.base, c.scale, mode, c.yarn),
                    "rope " + what)) {
          return;
        }
        std::vector<float> got;
        if (!run.get(*dx, got, "x")) return;
        // Angles are computed with the CPU's float operations (kernels/cuda/rope_math.h, tested
        // bit for bit on the CPU); only the GPU's cosf/sinf differ, by up to 2 ulp (CUDA
        // programming guide), i.e. a few 1e-7 of |x| per element. A wrong angle moves elements
        // by O(1) and a missed YaRN mscale by 14%.
        expect_match(r, got, want, mask, 2e-6, what, &worst);
      }
    }
  }
  r.note("largest normalised error " + fmt(worst));
}

// ---------------------------------------------------------------- element-wise and rows

void check_add(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(17);
  const int64_t n = 100003;
  const auto a = uniform(rng, n, -10, 10), b = uniform(rng, n, -10, 10);
  std::vector<float> want(n);
  kernels::add(a.data(), b.data(), n, want.data());
  auto da = run.put(a, "a");
  auto db = run.put(b, "b");
  auto dout = run.put(std::vector<float>(n, kSentinel), "out");
  if (!da || !db || !dout) return;
  const std::vector<char> all(n, 1);
  std::vector<float> got;
  // One float addition per element, exactly rounded on both sides: bit-identical.
  if (run.ok(ctx.device.add(da->as<float>(), db->as<float>(), n, dout->as<float>()), "add") &&
      run.get(*dout, got, "out")) {
    expect_match(r, got, want, all, 0, "add");
  }
  if (run.ok(ctx.device.add(da->as<float>(), db->as<float>(), n, da->as<float>()),
             "add in place") &&
      run.get(*da, got, "a")) {
    expect_match(r, got, want, all, 0, "add in place");
  }
}

void check_add_bias(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(19);
  const int64_t rows = 7, width = 333, stride = 352;
  const auto x = uniform(rng, rows * stride, -5, 5), bias = uniform(rng, width, -1, 1);
  std::vector<float> want = x;
  std::vector<char> mask(x.size(), 0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t c = 0; c < width; ++c) {
      want[i * stride + c] += bias[c];
      mask[i * stride + c] = 1;
    }
  }
  auto dx = run.put(x, "x");
  auto db = run.put(bias, "bias");
  std::vector<float> got;
  if (dx && db &&
      run.ok(ctx.device.add_bias(dx->as<float>(), db->as<float>(), rows, width, stride),
             "add_bias") &&
      run.get(*dx, got, "x")) {
    expect_match(r, got, want, mask, 0, "add_bias (exact: one addition)");
  }
}

void check_silu_mul(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(23);
  const int64_t n = 70001;
  const auto g = uniform(rng, n, -12, 12), u = uniform(rng, n, -3, 3);
  std::vector<float> want(n);
  kernels::silu_mul(g.data(), u.data(), n, want.data());
  auto dg = run.put(g, "gate");
  auto du = run.put(u, "up");
  auto dout = run.put(std::vector<float>(n, kSentinel), "out");
  std::vector<float> got;
  if (dg && du && dout &&
      run.ok(ctx.device.silu_mul(dg->as<float>(), du->as<float>(), n, dout->as<float>()),
             "silu_mul") &&
      run.get(*dout, got, "out")) {
    // The GPU's expf is within 2 ulp of glibc's; with the division and product each element is
    // within ~4e-7 relative. Using exp(g) for exp(-g) or dropping u would be O(1).
    double err = 0;
    expect_match(r, got, want, std::vector<char>(n, 1), 1e-6, "silu_mul", &err);
    r.note("normalised error " + fmt(err));
  }
}

void check_gather_rows(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(29);
  const int64_t width = 77, src_rows = 10;
  const std::vector<int32_t> idx = {3, 0, 9, 3, 3, 7, 1, 8, 2, 9, 4, 5, 6};  // repeats allowed
  const int64_t n = static_cast<int64_t>(idx.size());
  const auto src = uniform(rng, src_rows * width, -4, 4);
  std::vector<float> want(n * width);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(&want[i * width], &src[idx[i] * width], width * sizeof(float));
  }
  auto ds = run.put(src, "src");
  auto di = run.put(idx, "idx");
  auto dd = run.put(std::vector<float>(want.size(), kSentinel), "dst");
  std::vector<float> got;
  if (ds && di && dd &&
      run.ok(ctx.device.gather_rows(ds->as<float>(), width, di->as<int32_t>(), n, dd->as<float>()),
             "gather_rows") &&
      run.get(*dd, got, "dst")) {
    expect_match(r, got, want, std::vector<char>(want.size(), 1), 0, "gather_rows (a copy)");
  }
}

void check_scatter_scaled_rows(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(31);
  const int64_t width = 129, dst_rows = 10;
  const std::vector<int32_t> idx = {4, 9, 0, 6, 2, 7};  // distinct targets; rows 1, 3, 5, 8 kept
  const int64_t n = static_cast<int64_t>(idx.size());
  const auto src = uniform(rng, n * width, -4, 4), scale = uniform(rng, n, 0.0f, 1.0f);
  const auto dst = uniform(rng, dst_rows * width, -1, 1);
  std::vector<float> want = dst;
  std::vector<char> mask(want.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < width; ++c) {
      want[idx[i] * width + c] = src[i * width + c] * scale[i];
      mask[idx[i] * width + c] = 1;
    }
  }
  auto ds = run.put(src, "src");
  auto di = run.put(idx, "idx");
  auto dsc = run.put(scale, "scale");
  auto dd = run.put(dst, "dst");
  std::vector<float> got;
  if (ds && di && dsc && dd &&
      run.ok(ctx.device.scatter_scaled_rows(ds->as<float>(), width, di->as<int32_t>(),
                                            dsc->as<float>(), n, dd->as<float>()),
             "scatter_scaled_rows") &&
      run.get(*dd, got, "dst")) {
    expect_match(r, got, want, mask, 0, "scatter_scaled_rows (exact: one product)");
  }
}

void check_sum_slots(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(37);
  const int64_t n = 9, width = 257;
  for (int64_t k : {1, 2, 6}) {
    const auto slots = uniform(rng, n * k * width, -100, 100);
    std::vector<float> want(n * width);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < width; ++c) {
        float acc = slots[(t * k) * width + c];
        for (int64_t j = 1; j < k; ++j) acc += slots[(t * k + j) * width + c];
        want[t * width + c] = acc;
      }
    }
    auto ds = run.put(slots, "slots");
    auto dout = run.put(std::vector<float>(want.size(), kSentinel), "out");
    std::vector<float> got;
    if (ds && dout &&
        run.ok(ctx.device.sum_slots(ds->as<float>(), n, k, width, dout->as<float>()),
               "sum_slots") &&
        run.get(*dout, got, "out")) {
      // Float additions in slot order are deterministic: bit-identical (a different order
      // would differ in the last bits of these +-100 values).
      expect_match(r, got, want, std::vector<char>(want.size(), 1), 0,
                   "sum_slots k " + std::to_string(k));
    }
  }
}

void check_add_gated(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(41);
  const int64_t n = 6, width = 300;
  const std::vector<float> logit = {-30.0f, -2.0f, 0.0f, 0.5f, 3.0f, 40.0f};
  const auto out = uniform(rng, n * width, -1, 1), src = uniform(rng, n * width, -2, 2);
  std::vector<float> want = out;
  for (int64_t t = 0; t < n; ++t) {
    const double g = 1.0 / (1.0 + std::exp(-static_cast<double>(logit[t])));
    for (int64_t c = 0; c < width; ++c) {
      want[t * width + c] = static_cast<float>(out[t * width + c] + src[t * width + c] * g);
    }
  }
  auto dout = run.put(out, "out");
  auto ds = run.put(src, "src");
  auto dl = run.put(logit, "logit");
  std::vector<float> got;
  if (dout && ds && dl &&
      run.ok(ctx.device.add_gated(dout->as<float>(), ds->as<float>(), dl->as<float>(), n, width),
             "add_gated") &&
      run.get(*dout, got, "out")) {
    // Float64 reference; the GPU's sigmoid is a few ulp off and the sum rounds once: 1e-6 of
    // max |out|. A gate of exp(l) instead of exp(-l) or a missing gate is O(1).
    double err = 0;
    expect_match(r, got, want, std::vector<char>(want.size(), 1), 1e-6, "add_gated", &err);
    r.note("normalised error " + fmt(err));
  }
}

void check_store_rows(const CheckContext& ctx, CheckResult& r) {
  Run run{ctx.device, r};
  std::mt19937 rng(43);
  const int64_t n = 5, width = 130, src_stride = 150, cache_row = 160, cache_rows = 8;
  const std::vector<int64_t> offset = {3 * cache_row + 7, 0, 7 * cache_row + 30, cache_row + 1,
                                       5 * cache_row + 30};
  auto src = uniform(rng, n * src_stride, -3, 3);
  // Rounding corner cases for F16: the largest half, overflow to inf, subnormals, signed zero
  // and ties that round to even (1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9).
  const float special[] = {65504.0f,
                           65519.0f,
                           65520.0f,
                           -70000.0f,
                           1e-5f,
                           6e-8f,
                           2.9802322e-8f,
                           -0.0f,
                           1.0f + 1.0f / 2048,
                           1.0f + 3.0f / 2048,
                           -1.0f - 1.0f / 2048};
  for (size_t i = 0; i < std::size(special); ++i) src[i] = special[i];
  auto dsrc = run.put(src, "src");
  auto doff = run.put(offset, "dst_offset");
  if (!dsrc || !doff) return;
  const size_t cache_n = static_cast<size_t>(cache_rows * cache_row);
  {  // F32: a copy.
    std::vector<float> want(cache_n, kSentinel);
    std::vector<char> mask(cache_n, 0);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < width; ++c) {
        want[offset[t] + c] = src[t * src_stride + c];
        mask[offset[t] + c] = 1;
      }
    }
    auto dc = run.put(std::vector<float>(cache_n, kSentinel), "cache");
    std::vector<float> got;
    if (dc &&
        run.ok(ctx.device.store_rows(dsrc->as<float>(), n, width, src_stride, dc->get(),
                                     TensorType::F32, doff->as<int64_t>()),
               "store_rows f32") &&
        run.get(*dc, got, "cache")) {
      expect_match(r, got, want, mask, 0, "store_rows f32");
    }
  }
  {  // F16: round to nearest even, bit for bit with the CPU's conversion.
    const uint16_t sentinel = 0xBEEF;
    std::vector<uint16_t> want(cache_n, sentinel);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < width; ++c) {
        want[offset[t] + c] = kernels::fp32_to_fp16(src[t * src_stride + c]);
      }
    }
    auto dc = run.put(std::vector<uint16_t>(cache_n, sentinel), "cache");
    std::vector<uint16_t> got;
    if (dc &&
        run.ok(ctx.device.store_rows(dsrc->as<float>(), n, width, src_stride, dc->get(),
                                     TensorType::F16, doff->as<int64_t>()),
               "store_rows f16") &&
        run.get(*dc, got, "cache")) {
      for (size_t i = 0; i < cache_n; ++i) {
        if (got[i] != want[i]) {
          char buf[96];
          std::snprintf(buf, sizeof buf, "store_rows f16: element %zu is 0x%04x, want 0x%04x", i,
                        got[i], want[i]);
          r.expect(false, buf);
          break;
        }
      }
    }
  }
  r.expect(!ctx.device
                .store_rows(dsrc->as<float>(), n, width, src_stride, dsrc->get(), TensorType::Q8_0,
                            doff->as<int64_t>())
                .ok(),
           "store_rows accepted a q8_0 cache");
}

}  // namespace

std::vector<NamedCheck> op_checks() {
  return {
      {"ops.runtime", check_runtime},
      {"ops.rms_norm", check_rms_norm},
      {"ops.rope", check_rope},
      {"ops.add", check_add},
      {"ops.add_bias", check_add_bias},
      {"ops.silu_mul", check_silu_mul},
      {"ops.gather_rows", check_gather_rows},
      {"ops.scatter_scaled_rows", check_scatter_scaled_rows},
      {"ops.sum_slots", check_sum_slots},
      {"ops.add_gated", check_add_gated},
      {"ops.store_rows", check_store_rows},
      {"ops.attention", check_attention},
  };
}

}  // namespace emoe::gpucheck
