#include "core/experts/device_slot_arena.h"

#include <utility>

namespace emoe::experts {

namespace gpu = kernels::gpu;

Result<std::unique_ptr<DeviceSlotArena>> DeviceSlotArena::create(
    const ExpertStore& store, std::shared_ptr<gpu::Device> device, int32_t n_slots,
    uint64_t slot_bytes) {
  if (!device) return invalid_argument("expert cache: no GPU device for the device slot arena");
  if (n_slots < 0) return invalid_argument("expert cache: negative slot count");
  std::unique_ptr<DeviceSlotArena> a(
      new DeviceSlotArena(store, std::move(device), n_slots, slot_bytes));
  Status st = a->init();
  if (!st) return st;  // the destructor frees what init() allocated
  return a;
}

DeviceSlotArena::DeviceSlotArena(const ExpertStore& store, std::shared_ptr<gpu::Device> device,
                                 int32_t n_slots, uint64_t slot_bytes)
    : store_(store), device_(std::move(device)), n_slots_(n_slots), slot_bytes_(slot_bytes) {}

Status DeviceSlotArena::init() {
  gpu::Device& d = *device_;
  const uint64_t need = slot_bytes_total();
  if (need > 0) {
    uint64_t free_bytes = 0, total_bytes = 0;
    gpu::GpuStatus s = d.mem_info(&free_bytes, &total_bytes);
    if (!s.ok()) return failed(s, "querying free memory for the expert slots");
    if (free_bytes < need) {
      return out_of_memory("expert cache: the expert slots need " + describe_bytes(need) +
                           " of GPU memory, but " + d.info().name + " has " +
                           describe_bytes(free_bytes) + " free of " + describe_bytes(total_bytes));
    }
    void* p = nullptr;
    s = d.malloc_device(need, &p);
    if (!s.ok()) {
      return out_of_memory("expert cache: " + s.message() + " (expert slots of " +
                           describe_bytes(need) + ", " + describe_bytes(free_bytes) + " free)");
    }
    base_ = static_cast<uint8_t*>(p);
    n_staging_ = kStagingBuffers;
    for (int i = 0; i < n_staging_; ++i) {
      s = d.malloc_pinned(slot_bytes_, &p);
      if (!s.ok()) {
        return out_of_memory("expert cache: " + s.message() + " (pinned staging buffer of " +
                             describe_bytes(slot_bytes_) + ")");
      }
      staging_[static_cast<size_t>(i)].host = static_cast<uint8_t*>(p);
    }
  }
  // Every event is recorded once up front, so a first wait or sync never meets an event that
  // was never recorded (whose meaning differs between runtimes).
  auto make = [&](gpu::StreamId stream, gpu::Event* out) -> Status {
    gpu::GpuStatus s = d.create_event(out);
    if (!s.ok()) return failed(s, "creating an event");
    s = d.record(*out, stream);
    if (!s.ok()) return failed(s, "recording a first event");
    return Status::ok();
  };
  last_read_.assign(static_cast<size_t>(n_slots_), nullptr);
  for (gpu::Event& e : last_read_) {
    Status st = make(gpu::StreamId::Compute, &e);
    if (!st) return st;
  }
  layer_ready_.assign(static_cast<size_t>(store_.n_layer()), nullptr);
  for (gpu::Event& e : layer_ready_) {
    Status st = make(gpu::StreamId::Copy, &e);
    if (!st) return st;
  }
  for (int i = 0; i < n_staging_; ++i) {
    Status st = make(gpu::StreamId::Copy, &staging_[static_cast<size_t>(i)].copied);
    if (!st) return st;
  }
  return Status::ok();
}

DeviceSlotArena::~DeviceSlotArena() {
  gpu::Device& d = *device_;
  // Queued copies read the staging buffers and write the slots; queued kernels may still read
  // the slots. Errors are ignored: the memory goes back either way.
  (void)d.sync_stream(gpu::StreamId::Copy);
  (void)d.sync_stream(gpu::StreamId::Compute);
  for (Staging& s : staging_) {
    if (s.host) d.free_pinned(s.host);
    if (s.copied) d.destroy_event(s.copied);
  }
  for (gpu::Event e : last_read_) {
    if (e) d.destroy_event(e);
  }
  for (gpu::Event e : layer_ready_) {
    if (e) d.destroy_event(e);
  }
  if (base_) d.free_device(base_);
}

uint64_t DeviceSlotArena::slot_bytes_total() const {
  return static_cast<uint64_t>(n_slots_) * slot_bytes_;
}

uint64_t DeviceSlotArena::staging_bytes() const {
  return static_cast<uint64_t>(n_staging_) * slot_bytes_;
}

uint8_t* DeviceSlotArena::slot_data(int32_t slot) const {
  return base_ + static_cast<size_t>(slot) * static_cast<size_t>(slot_bytes_);
}

const uint8_t* DeviceSlotArena::slot_address(int32_t slot) const { return slot_data(slot); }

Status DeviceSlotArena::failed(const gpu::GpuStatus& s, const std::string& what) const {
  return internal_error("expert cache: " + s.message() + " (" + what + ")");
}

void DeviceSlotArena::keep_error(const gpu::GpuStatus& s, const std::string& what) {
  std::lock_guard<std::mutex> g(error_mu_);
  if (kept_error_.empty()) kept_error_ = "expert cache: " + s.message() + " (" + what + ")";
}

Status DeviceSlotArena::copy_in(int32_t slot, int32_t layer, int32_t expert) {
  {
    std::lock_guard<std::mutex> g(error_mu_);
    if (!kept_error_.empty()) return internal_error(kept_error_);
  }
  auto fail = [&](const gpu::GpuStatus& s) {
    return failed(s, "loading layer " + std::to_string(layer) + " expert " +
                         std::to_string(expert) + " into slot " + std::to_string(slot));
  };
  gpu::Device& d = *device_;
  Staging& stage =
      staging_[next_staging_.fetch_add(1, std::memory_order_relaxed) % kStagingBuffers];
  std::lock_guard<std::mutex> g(stage.mu);
  // Its previous copy must have read the buffer before the host overwrites it.
  gpu::GpuStatus s = d.sync_event(stage.copied);
  if (!s.ok()) return fail(s);
  store_.copy_to(layer, expert, stage.host);
  // The copy stream, not the host, waits for the slot's previous readers.
  s = d.wait(gpu::StreamId::Copy, last_read_[static_cast<size_t>(slot)]);
  if (!s.ok()) return fail(s);
  s = d.copy_async(slot_data(slot), stage.host, store_.layout(layer).total, gpu::StreamId::Copy);
  if (!s.ok()) return fail(s);
  s = d.record(stage.copied, gpu::StreamId::Copy);
  if (!s.ok()) return fail(s);
  s = d.record(layer_ready_[static_cast<size_t>(layer)], gpu::StreamId::Copy);
  if (!s.ok()) return fail(s);
  return Status::ok();
}

void DeviceSlotArena::poison(int32_t slot) {
  gpu::Device& d = *device_;
  gpu::GpuStatus s = d.wait(gpu::StreamId::Copy, last_read_[static_cast<size_t>(slot)]);
  if (s.ok()) s = d.memset_async(slot_data(slot), 0xFF, slot_bytes_, gpu::StreamId::Copy);
  if (!s.ok()) keep_error(s, "poisoning slot " + std::to_string(slot));
}

void DeviceSlotArena::released(int32_t slot) {
  gpu::GpuStatus s = device_->record(last_read_[static_cast<size_t>(slot)], gpu::StreamId::Compute);
  if (!s.ok()) keep_error(s, "recording the last read of slot " + std::to_string(slot));
}

Status DeviceSlotArena::make_layer_ready(int32_t layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= layer_ready_.size()) {
    return invalid_argument("expert cache: make_layer_ready: no layer " + std::to_string(layer));
  }
  gpu::GpuStatus s =
      device_->wait(gpu::StreamId::Compute, layer_ready_[static_cast<size_t>(layer)]);
  if (!s.ok()) return failed(s, "making layer " + std::to_string(layer) + " wait for its loads");
  return Status::ok();
}

}  // namespace emoe::experts
