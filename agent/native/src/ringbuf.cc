#include "ringbuf.h"

#include <bpf/libbpf.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "args.h"
#include "errors.h"
#include "object.h"

namespace burnwatch {

namespace {

// A burst larger than this is split so one batch never holds the whole ring twice
// over in memory; the rest follows in the next batch at once.
constexpr size_t kMaxBatchRecords = 8192;
constexpr int kBatchFull = -ENOBUFS;
// Batches handed to JS and not yet handled. Past this the thread stops consuming, so a
// stalled event loop leaves records in the ring (where the producer counts drops)
// instead of growing this process's memory without bound.
constexpr int kMaxInFlight = 64;

}  // namespace

void DeliverBatch(Napi::Env env, Napi::Function callback, RingShared* shared, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  bool closed;
  {
    std::lock_guard<std::mutex> lk(shared->mu);
    shared->in_flight--;
    closed = shared->closed;
  }
  shared->cv.notify_all();
  // env is null when the TSFN is torn down with batches still queued.
  if (env == nullptr || closed || callback.IsEmpty()) return;
  Napi::Array records = Napi::Array::New(env, owned->size());
  for (size_t i = 0; i < owned->size(); i++) {
    const auto& r = (*owned)[i];
    records.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, r.data(), r.size()));
  }
  callback.Call({records});
}

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader", {InstanceMethod<&RingReader::Close>("close")});
}

RingReader::RingReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingReader>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  ObjectHandle* owner = ObjectHandle::FromValue(env, info[0]);
  std::string map_name = StringArg(info, 1, "map");
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
  uint64_t poll_ms = IndexArg(info, 3, "pollMs");
  if (poll_ms < 1 || poll_ms > 60000) throw Napi::RangeError::New(env, "pollMs must be in 1..60000");
  bool keep_alive = info[4].ToBoolean();

  bpf_map* map = owner->LoadedMap(env, map_name);
  if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF) {
    ThrowBpfError(env, EINVAL, "map '" + map_name + "' is not a ring buffer");
  }
  map_fd_ = bpf_map__fd(map);
  poll_ms_ = static_cast<int>(poll_ms);

  {
    LibbpfCapture cap;
    errno = 0;
    rb_ = ring_buffer__new(map_fd_, OnSample, this, nullptr);
    if (rb_ == nullptr) ThrowBpfError(env, errno, "open ring buffer '" + map_name + "'", &cap);
  }
  // Our own epoll set: libbpf's ring epoll fd plus an eventfd, so Stop() wakes the
  // thread immediately instead of after the next poll timeout.
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int setup_errno = (epoll_fd_ < 0 || stop_fd_ < 0) ? errno : 0;
  if (setup_errno == 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = 0;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb_), &ev) != 0) setup_errno = errno;
    ev.data.u32 = 1;
    if (setup_errno == 0 && epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) setup_errno = errno;
  }
  if (setup_errno != 0) {
    ring_buffer__free(rb_);
    rb_ = nullptr;
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
    epoll_fd_ = stop_fd_ = -1;
    ThrowBpfError(env, setup_errno, "set up ring buffer reader for '" + map_name + "'");
  }

  shared_ = new RingShared();
  tsfn_ = BatchTsfn::New(env, info[2].As<Napi::Function>(), "burnwatch.ringbuf", 0, 1, shared_,
                         [](Napi::Env, void*, RingShared* shared) { delete shared; });
  if (!keep_alive) tsfn_.Unref(env);

  owner_ = owner;
  owner_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  self_ref_ = Napi::Persistent(info.This().As<Napi::Object>());
  owner_->AddReader(this);
  // Registered after the TSFN's own hook, so it runs first at environment teardown:
  // the thread is joined before the TSFN it calls into goes away.
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  running_ = true;
  thread_ = std::thread(&RingReader::Run, this);
}

RingReader::~RingReader() { Stop(); }

void RingReader::OnEnvCleanup(void* arg) { static_cast<RingReader*>(arg)->Stop(); }

int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  self->filling_->emplace_back(p, p + size);
  // libbpf has already consumed this record when the callback returns an error.
  return self->filling_->size() >= kMaxBatchRecords ? kBatchFull : 0;
}

void RingReader::Run() {
  epoll_event events[2];
  while (!stopping_.load()) {
    {
      std::unique_lock<std::mutex> lk(shared_->mu);
      shared_->cv.wait(lk, [&] { return stopping_.load() || shared_->in_flight < kMaxInFlight; });
    }
    if (stopping_.load()) break;
    int n = epoll_wait(epoll_fd_, events, 2, poll_ms_);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "burnwatch: ring buffer epoll_wait: %s\n", strerror(errno));
      break;
    }
    if (stopping_.load()) break;
    // Consume even on timeout: producers that submit with BPF_RB_NO_WAKEUP never
    // wake us, and the poll period bounds how long their records wait.
    auto* batch = new Batch();
    filling_ = batch;
    int r = ring_buffer__consume(rb_);
    filling_ = nullptr;
    if (r < 0 && r != kBatchFull) {
      fprintf(stderr, "burnwatch: ring buffer consume: %s\n", strerror(-r));
    }
    if (batch->empty()) {
      delete batch;
      continue;
    }
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->in_flight++;
    }
    if (tsfn_.NonBlockingCall(batch) != napi_ok) {  // closing: the environment is going away
      delete batch;
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->in_flight--;
      break;
    }
  }
}

void RingReader::Stop() {
  if (!running_) return;
  running_ = false;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof(one));
  (void)ignored;
  {
    std::lock_guard<std::mutex> lk(shared_->mu);
    shared_->closed = true;
  }
  shared_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
  // shared_ now belongs to the TSFN alone; it frees it once its queue is drained.
  tsfn_.Release();
  shared_ = nullptr;
  ring_buffer__free(rb_);
  rb_ = nullptr;
  close(epoll_fd_);
  close(stop_fd_);
  epoll_fd_ = stop_fd_ = -1;
  napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  if (owner_ != nullptr) owner_->RemoveReader(this);
  owner_ = nullptr;
  owner_ref_.Reset();
  self_ref_.Reset();
}

Napi::Value RingReader::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

}  // namespace burnwatch
