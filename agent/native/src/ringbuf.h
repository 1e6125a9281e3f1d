// RingReader: consumes a BPF ring buffer on a background thread and hands the
// records to JS in batches, one ThreadSafeFunction call per batch (never per event).
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

struct ring_buffer;

namespace burnwatch {

class ObjectHandle;

using Batch = std::vector<std::vector<uint8_t>>;

// State shared by the reader thread and the JS-thread callback. It is owned by the
// ThreadSafeFunction (freed in its finalizer) because batches still queued when the
// reader closes are delivered (and dropped) after the reader may be gone.
struct RingShared {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;    // batches queued to JS and not yet handled
  bool closed = false;  // set on the JS thread by Stop(); later batches are dropped
};

void DeliverBatch(Napi::Env env, Napi::Function callback, RingShared* shared, Batch* batch);

using BatchTsfn = Napi::TypedThreadSafeFunction<RingShared, Batch, DeliverBatch>;

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::Function Init(Napi::Env env);

  // JS: new RingReader(objectHandle, mapName, onBatch, pollMs, keepAlive)
  explicit RingReader(const Napi::CallbackInfo& info);
  ~RingReader() override;

  // Stops the thread, joins it and frees the ring; idempotent; JS thread only.
  void Stop();

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnEnvCleanup(void* arg);
  void Run();

  Napi::Value Close(const Napi::CallbackInfo& info);

  napi_env env_ = nullptr;
  ObjectHandle* owner_ = nullptr;
  Napi::ObjectReference owner_ref_;  // keeps the object (and its map) alive while reading
  Napi::ObjectReference self_ref_;   // an open reader is not garbage-collected
  ring_buffer* rb_ = nullptr;
  int map_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread at once on Stop()
  int poll_ms_ = 100;
  BatchTsfn tsfn_;
  RingShared* shared_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool running_ = false;
  Batch* filling_ = nullptr;  // batch OnSample appends to (reader thread only)
};

}  // namespace burnwatch
