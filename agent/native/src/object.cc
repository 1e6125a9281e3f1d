#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "args.h"
#include "errors.h"
#include "ringbuf.h"

namespace burnwatch {

namespace {

// Marks JS objects created by ObjectHandle so FromValue never unwraps a foreign object.
const napi_type_tag kObjectHandleTag = {0x6275726e77617463ULL, 0x685f6f626a656374ULL};

bool IsPerCpu(bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// User-space value size of one map element: per-CPU maps return one 8-byte-aligned
// slot per possible CPU.
size_t ValueBufSize(const bpf_map* map) {
  size_t vs = bpf_map__value_size(map);
  if (!IsPerCpu(bpf_map__type(map))) return vs;
  int ncpus = libbpf_num_possible_cpus();
  return ((vs + 7) / 8 * 8) * static_cast<size_t>(ncpus > 0 ? ncpus : 1);
}

// libbpf names internal maps "<obj prefix>.rodata"; JS sees the section name.
std::string FriendlyMapName(const bpf_map* map) {
  std::string name = bpf_map__name(map);
  if (bpf_map__is_internal(map)) {
    size_t dot = name.find('.');
    if (dot != std::string::npos) return name.substr(dot);
  }
  return name;
}

// Strips typedefs and qualifiers so `const volatile u32` reads as an int.
const btf_type* SkipModifiers(const btf* b, const btf_type* t) {
  for (int i = 0; t != nullptr && i < 32; i++) {
    switch (btf_kind(t)) {
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        t = btf__type_by_id(b, t->type);
        break;
      default:
        return t;
    }
  }
  return t;
}

// Puts a map into a slot of a map-in-map on a libuv worker thread. The syscall returns
// only after an RCU grace period (maybe_wait_bpf_programs in kernel/bpf/syscall.c),
// milliseconds that must not stall the event loop. The fds are duplicated so that
// closing the object meanwhile cannot hand their numbers to another file.
class MapSetInnerWorker : public Napi::AsyncWorker {
 public:
  MapSetInnerWorker(Napi::Env env, int outer_fd, std::vector<uint8_t> key, int inner_fd, std::string what)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        outer_fd_(outer_fd),
        inner_fd_(inner_fd),
        key_(std::move(key)),
        what_(std::move(what)) {}
  ~MapSetInnerWorker() override {
    if (outer_fd_ >= 0) close(outer_fd_);
    if (inner_fd_ >= 0) close(inner_fd_);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    uint32_t value = static_cast<uint32_t>(inner_fd_);
    if (bpf_map_update_elem(outer_fd_, key_.data(), &value, BPF_ANY) != 0) err_ = errno;
  }
  void OnOK() override {
    if (err_ == 0) {
      deferred_.Resolve(Env().Undefined());
    } else {
      deferred_.Reject(MakeBpfError(Env(), err_, what_).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int outer_fd_;
  int inner_fd_;
  std::vector<uint8_t> key_;
  std::string what_;
  int err_ = 0;
};

}  // namespace

Napi::Function ObjectHandle::Init(Napi::Env env) {
  return DefineClass(
      env, "ObjectHandle",
      {
          InstanceMethod<&ObjectHandle::ProgramNames>("programNames"),
          InstanceMethod<&ObjectHandle::MapNames>("mapNames"),
          InstanceMethod<&ObjectHandle::ProgramInfo>("programInfo"),
          InstanceMethod<&ObjectHandle::MapInfo>("mapInfo"),
          InstanceMethod<&ObjectHandle::DatasecVars>("datasecVars"),
          InstanceMethod<&ObjectHandle::WriteInitialValue>("writeInitialValue"),
          InstanceMethod<&ObjectHandle::SetMapMaxEntries>("setMapMaxEntries"),
          InstanceMethod<&ObjectHandle::ReuseMap>("reuseMap"),
          InstanceMethod<&ObjectHandle::SetAutoload>("setAutoload"),
          InstanceMethod<&ObjectHandle::Load>("load"),
          InstanceMethod<&ObjectHandle::AttachTracepoint>("attachTracepoint"),
          InstanceMethod<&ObjectHandle::AttachRawTracepoint>("attachRawTracepoint"),
          InstanceMethod<&ObjectHandle::AttachUprobe>("attachUprobe"),
          InstanceMethod<&ObjectHandle::Attach>("attach"),
          InstanceMethod<&ObjectHandle::Detach>("detach"),
          InstanceMethod<&ObjectHandle::TestRun>("testRun"),
          InstanceMethod<&ObjectHandle::MapLookup>("mapLookup"),
          InstanceMethod<&ObjectHandle::MapUpdate>("mapUpdate"),
          InstanceMethod<&ObjectHandle::MapDelete>("mapDelete"),
          InstanceMethod<&ObjectHandle::MapGetNextKey>("mapGetNextKey"),
          InstanceMethod<&ObjectHandle::MapLookupAndDeleteBatch>("mapLookupAndDeleteBatch"),
          InstanceMethod<&ObjectHandle::MapSetInner>("mapSetInner"),
          InstanceMethod<&ObjectHandle::Close>("close"),
          InstanceMethod<&ObjectHandle::IsClosed>("isClosed"),
      });
}

ObjectHandle* ObjectHandle::FromValue(Napi::Env env, Napi::Value value) {
  bool tagged = false;
  if (value.IsObject()) {
    napi_check_object_type_tag(env, value, &kObjectHandleTag, &tagged);
  }
  if (!tagged) throw Napi::TypeError::New(env, "expected a native ObjectHandle");
  return Unwrap(value.As<Napi::Object>());
}

ObjectHandle::ObjectHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectHandle>(info) {
  Napi::Env env = info.Env();
  path_ = StringArg(info, 0, "path");
  napi_type_tag_object(env, info.This(), &kObjectHandleTag);
  LibbpfCapture cap;
  errno = 0;
  obj_ = bpf_object__open_file(path_.c_str(), nullptr);
  if (obj_ == nullptr) ThrowBpfError(env, errno, "open BPF object " + path_, &cap);
}

ObjectHandle::~ObjectHandle() { CloseAll(); }

void ObjectHandle::CloseAll() {
  // Readers first: their threads read maps that bpf_object__close unmaps.
  std::vector<RingReader*> readers(readers_.begin(), readers_.end());
  for (RingReader* r : readers) r->Stop();
  readers_.clear();
  for (bpf_link*& l : links_) {
    if (l != nullptr) bpf_link__destroy(l);
    l = nullptr;
  }
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
}

void ObjectHandle::CheckOpen(Napi::Env env) const {
  if (obj_ == nullptr) ThrowBpfError(env, EBADF, "BPF object " + path_ + " is closed");
}

void ObjectHandle::CheckLoaded(Napi::Env env, const char* op) const {
  CheckOpen(env);
  if (!loaded_) {
    ThrowBpfError(env, EINVAL, std::string(op) + ": BPF object " + path_ + " is not loaded");
  }
}

void ObjectHandle::CheckNotLoaded(Napi::Env env, const char* op) const {
  CheckOpen(env);
  if (loaded_) {
    ThrowBpfError(env, EBUSY, std::string(op) + " must be called before load()");
  }
}

bpf_program* ObjectHandle::Program(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) throw Napi::TypeError::New(env, "program name must be a string");
  std::string name = v.As<Napi::String>();
  bpf_program* p = bpf_object__find_program_by_name(obj_, name.c_str());
  if (p == nullptr) {
    std::string have;
    bpf_program* it;
    bpf_object__for_each_program(it, obj_) { have += std::string(have.empty() ? "" : ", ") + bpf_program__name(it); }
    ThrowBpfError(env, ENOENT, "no program named '" + name + "' in " + path_ + " (has: " + have + ")");
  }
  return p;
}

bpf_map* ObjectHandle::Map(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) throw Napi::TypeError::New(env, "map name must be a string");
  std::string name = v.As<Napi::String>();
  bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
  if (m == nullptr) {
    std::string have;
    bpf_map* it;
    bpf_object__for_each_map(it, obj_) { have += (have.empty() ? "" : ", ") + FriendlyMapName(it); }
    ThrowBpfError(env, ENOENT, "no map named '" + name + "' in " + path_ + " (has: " + have + ")");
  }
  return m;
}

int ObjectHandle::MapFd(Napi::Env env, bpf_map* map) {
  int fd = bpf_map__fd(map);
  if (fd < 0) ThrowBpfError(env, EBADF, "map '" + FriendlyMapName(map) + "' has no fd (not created)");
  return fd;
}

bpf_map* ObjectHandle::LoadedMap(Napi::Env env, const std::string& name) {
  CheckLoaded(env, "map access");
  bpf_map* m = Map(env, Napi::String::New(env, name));
  MapFd(env, m);
  return m;
}

Napi::Value ObjectHandle::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  bpf_program* p;
  uint32_t i = 0;
  bpf_object__for_each_program(p, obj_) { out.Set(i++, bpf_program__name(p)); }
  return out;
}

Napi::Value ObjectHandle::MapNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  bpf_map* m;
  uint32_t i = 0;
  bpf_object__for_each_map(m, obj_) { out.Set(i++, FriendlyMapName(m)); }
  return out;
}

Napi::Value ObjectHandle::ProgramInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  bpf_program* p = Program(env, info[0]);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", bpf_program__name(p));
  out.Set("type", static_cast<double>(bpf_program__type(p)));
  out.Set("section", bpf_program__section_name(p));
  out.Set("autoload", bpf_program__autoload(p));
  return out;
}

Napi::Value ObjectHandle::MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  bpf_map* m = Map(env, info[0]);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", FriendlyMapName(m));
  out.Set("type", static_cast<double>(bpf_map__type(m)));
  out.Set("keySize", static_cast<double>(bpf_map__key_size(m)));
  out.Set("valueSize", static_cast<double>(bpf_map__value_size(m)));
  out.Set("maxEntries", static_cast<double>(bpf_map__max_entries(m)));
  out.Set("perCpu", IsPerCpu(bpf_map__type(m)));
  out.Set("valueBufSize", static_cast<double>(ValueBufSize(m)));
  return out;
}

// Every variable of every BTF DATASEC (.rodata, .data, .bss, custom sections) with its
// offset inside the section's map value; libbpf fills the offsets in at open.
Napi::Value ObjectHandle::DatasecVars(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  const btf* b = bpf_object__btf(obj_);
  if (b == nullptr) return out;
  uint32_t n = 0;
  for (uint32_t id = 1; id < btf__type_cnt(b); id++) {
    const btf_type* sec = btf__type_by_id(b, id);
    if (!btf_is_datasec(sec)) continue;
    const char* sec_name = btf__name_by_offset(b, sec->name_off);
    const btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (uint16_t i = 0; i < btf_vlen(sec); i++, vs++) {
      const btf_type* var = btf__type_by_id(b, vs->type);
      if (var == nullptr || !btf_is_var(var)) continue;
      const btf_type* t = SkipModifiers(b, btf__type_by_id(b, var->type));
      std::string kind = "other";
      bool is_signed = false;
      if (t != nullptr && btf_is_int(t)) {
        uint8_t enc = btf_int_encoding(t);
        kind = (enc & BTF_INT_BOOL) ? "bool" : "int";
        is_signed = (enc & BTF_INT_SIGNED) != 0;
      } else if (t != nullptr && (btf_is_enum(t) || btf_is_enum64(t))) {
        kind = "enum";
        is_signed = btf_kflag(t);
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("section", sec_name != nullptr ? sec_name : "");
      o.Set("name", btf__name_by_offset(b, var->name_off));
      o.Set("offset", static_cast<double>(vs->offset));
      o.Set("size", static_cast<double>(vs->size));
      o.Set("kind", kind);
      o.Set("signed", is_signed);
      out.Set(n++, o);
    }
  }
  return out;
}

// Writes bytes into an internal map's initial value (the mmap libbpf copies into
// the kernel at load); .rodata is frozen at load, so this is strictly before it.
Napi::Value ObjectHandle::WriteInitialValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckNotLoaded(env, "setRodata");
  bpf_map* m = Map(env, info[0]);
  uint64_t offset = IndexArg(info, 1, "offset");
  auto data = BufferArg(info, 2, "value");
  size_t size = 0;
  void* init = const_cast<void*>(bpf_map__initial_value(m, &size));
  if (init == nullptr) {
    ThrowBpfError(env, EINVAL, "map '" + FriendlyMapName(m) + "' has no initial value (not a global data section)");
  }
  if (offset > size || data.Length() > size - offset) {
    ThrowBpfError(env, ERANGE, "write of " + std::to_string(data.Length()) + " bytes at offset " +
                                   std::to_string(offset) + " exceeds map '" + FriendlyMapName(m) +
                                   "' value of " + std::to_string(size) + " bytes");
  }
  memcpy(static_cast<uint8_t*>(init) + offset, data.Data(), data.Length());
  return env.Undefined();
}

Napi::Value ObjectHandle::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckNotLoaded(env, "setMapMaxEntries");
  bpf_map* m = Map(env, info[0]);
  uint64_t n = IndexArg(info, 1, "maxEntries");
  if (n == 0 || n > UINT32_MAX) throw Napi::RangeError::New(env, "maxEntries must be in 1..2^32-1");
  LibbpfCapture cap;
  int err = bpf_map__set_max_entries(m, static_cast<uint32_t>(n));
  if (err) ThrowBpfError(env, err, "set max_entries of map '" + FriendlyMapName(m) + "'", &cap);
  return env.Undefined();
}

// Makes this (not yet loaded) object's map `name` the very map `otherName` of another, loaded
// object: two objects' programs then share state (bpf_map__reuse_fd dups the fd).
Napi::Value ObjectHandle::ReuseMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckNotLoaded(env, "reuseMap");
  bpf_map* m = Map(env, info[0]);
  ObjectHandle* other = FromValue(env, info[1]);
  other->CheckLoaded(env, "reuseMap (the other object)");
  bpf_map* from = other->Map(env, info[2]);
  int fd = other->MapFd(env, from);
  LibbpfCapture cap;
  int err = bpf_map__reuse_fd(m, fd);
  if (err) ThrowBpfError(env, err, "reuse of map '" + FriendlyMapName(from) + "' as '" + FriendlyMapName(m) + "'", &cap);
  return env.Undefined();
}

Napi::Value ObjectHandle::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckNotLoaded(env, "setAutoload");
  bpf_program* p = Program(env, info[0]);
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(env, "autoload must be a boolean");
  LibbpfCapture cap;
  int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>());
  if (err) ThrowBpfError(env, err, std::string("set autoload of program '") + bpf_program__name(p) + "'", &cap);
  return env.Undefined();
}

Napi::Value ObjectHandle::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (loaded_) ThrowBpfError(env, EALREADY, "BPF object " + path_ + " is already loaded");
  LibbpfCapture cap;
  int err = bpf_object__load(obj_);
  if (err) {
    // libbpf refuses a second load of the same object: close it so later calls get
    // a clear "closed" error instead of libbpf's.
    Napi::Error e = MakeBpfError(env, err, "load BPF object " + path_, &cap);
    CloseAll();
    throw e;
  }
  loaded_ = true;
  return env.Undefined();
}

Napi::Value ObjectHandle::AddLink(Napi::Env env, bpf_link* link, int err, const std::string& what,
                                  const LibbpfCapture& cap) {
  if (link == nullptr) ThrowBpfError(env, err, what, &cap);
  links_.push_back(link);
  return Napi::Number::New(env, static_cast<double>(links_.size() - 1));
}

Napi::Value ObjectHandle::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "attachTracepoint");
  bpf_program* p = Program(env, info[0]);
  std::string category = StringArg(info, 1, "category");
  std::string name = StringArg(info, 2, "name");
  LibbpfCapture cap;
  errno = 0;
  bpf_link* link = bpf_program__attach_tracepoint(p, category.c_str(), name.c_str());
  int err = errno;
  return AddLink(env, link, err,
                 std::string("attach program '") + bpf_program__name(p) + "' to tracepoint " + category + ":" + name,
                 cap);
}

Napi::Value ObjectHandle::AttachRawTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "attachRawTracepoint");
  bpf_program* p = Program(env, info[0]);
  std::string name = StringArg(info, 1, "name");
  LibbpfCapture cap;
  errno = 0;
  bpf_link* link = bpf_program__attach_raw_tracepoint(p, name.c_str());
  int err = errno;
  return AddLink(env, link, err,
                 std::string("attach program '") + bpf_program__name(p) + "' to raw tracepoint " + name, cap);
}

// Entry uprobe at a raw file offset. There is deliberately no return-probe variant:
// Return probes crash Go programs (design §4).
Napi::Value ObjectHandle::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "attachUprobe");
  bpf_program* p = Program(env, info[0]);
  std::string path = StringArg(info, 1, "binaryPath");
  uint64_t offset = IndexArg(info, 2, "fileOffset");
  if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "pid must be a number");
  double pid = info[3].As<Napi::Number>().DoubleValue();
  if (pid != std::floor(pid) || pid < -1 || pid > INT32_MAX) {
    throw Napi::RangeError::New(env, "pid must be -1 (all processes) or a process id");
  }
  if (!info[4].IsBigInt()) throw Napi::TypeError::New(env, "cookie must be a bigint");
  bool lossless = false;
  uint64_t cookie = info[4].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(env, "cookie must fit in 64 unsigned bits");
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = false, .func_name = nullptr);
  LibbpfCapture cap;
  errno = 0;
  bpf_link* link = bpf_program__attach_uprobe_opts(p, static_cast<pid_t>(pid), path.c_str(),
                                                   static_cast<size_t>(offset), &opts);
  int err = errno;
  char where[64];
  snprintf(where, sizeof(where), "+0x%llx", static_cast<unsigned long long>(offset));
  std::string what = std::string("attach program '") + bpf_program__name(p) + "' as uprobe to " + path + where;
  if (pid >= 0) what += " (pid " + std::to_string(static_cast<int>(pid)) + ")";
  return AddLink(env, link, err, what, cap);
}

Napi::Value ObjectHandle::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "attach");
  bpf_program* p = Program(env, info[0]);
  LibbpfCapture cap;
  errno = 0;
  bpf_link* link = bpf_program__attach(p);
  int err = errno;
  return AddLink(env, link, err,
                 std::string("auto-attach program '") + bpf_program__name(p) + "' (SEC(\"" +
                     bpf_program__section_name(p) + "\"))",
                 cap);
}

Napi::Value ObjectHandle::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = IndexArg(info, 0, "link id");
  if (id >= links_.size()) throw Napi::RangeError::New(env, "unknown link id");
  bpf_link* l = links_[id];
  if (l == nullptr) return Napi::Boolean::New(env, false);  // already detached or closed
  links_[id] = nullptr;
  LibbpfCapture cap;
  int err = bpf_link__destroy(l);
  if (err) ThrowBpfError(env, err, "detach link", &cap);
  return Napi::Boolean::New(env, true);
}

// bpf_prog_test_run_opts. SEC("syscall") programs get their ctx copied back into the
// input buffer by the kernel (ctx_out is rejected for them), so that copy is ctxOut.
Napi::Value ObjectHandle::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "testRun");
  bpf_program* p = Program(env, info[0]);
  std::vector<uint8_t> ctx, ctx_out, data, data_out;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    auto b = BufferArg(info, 1, "ctxIn");
    ctx.assign(b.Data(), b.Data() + b.Length());
  }
  if (!info[2].IsUndefined() && !info[2].IsNull()) {
    auto b = BufferArg(info, 2, "dataIn");
    data.assign(b.Data(), b.Data() + b.Length());
  }
  uint64_t repeat = IndexArg(info, 3, "repeat");
  if (repeat > UINT32_MAX) throw Napi::RangeError::New(env, "repeat must fit in 32 bits");
  bool is_syscall = bpf_program__type(p) == BPF_PROG_TYPE_SYSCALL;
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.repeat = static_cast<int>(repeat);
  if (!ctx.empty()) {
    opts.ctx_in = ctx.data();
    opts.ctx_size_in = static_cast<uint32_t>(ctx.size());
    if (!is_syscall) {
      ctx_out.resize(ctx.size());
      opts.ctx_out = ctx_out.data();
      opts.ctx_size_out = static_cast<uint32_t>(ctx_out.size());
    }
  }
  if (!data.empty()) {
    opts.data_in = data.data();
    opts.data_size_in = static_cast<uint32_t>(data.size());
    data_out.resize(data.size() + 512);  // room for programs that grow the packet
    opts.data_out = data_out.data();
    opts.data_size_out = static_cast<uint32_t>(data_out.size());
  }
  int fd = bpf_program__fd(p);
  if (fd < 0) ThrowBpfError(env, EBADF, std::string("program '") + bpf_program__name(p) + "' is not loaded");
  LibbpfCapture cap;
  int err = bpf_prog_test_run_opts(fd, &opts);
  if (err) ThrowBpfError(env, err, std::string("test run of program '") + bpf_program__name(p) + "'", &cap);
  Napi::Object out = Napi::Object::New(env);
  out.Set("retval", Napi::Number::New(env, static_cast<double>(static_cast<int32_t>(opts.retval))));
  out.Set("durationNs", Napi::Number::New(env, opts.duration));
  if (!ctx.empty()) {
    if (is_syscall) {
      out.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, ctx.data(), ctx.size()));
    } else {
      out.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, ctx_out.data(), std::min<size_t>(opts.ctx_size_out, ctx_out.size())));
    }
  }
  if (!data.empty()) {
    out.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, data_out.data(), std::min<size_t>(opts.data_size_out, data_out.size())));
  }
  return out;
}

namespace {

void CheckSize(Napi::Env env, const std::string& map, const char* what, size_t got, size_t want) {
  if (got != want) {
    ThrowBpfError(env, EINVAL, "map '" + map + "': " + what + " must be " + std::to_string(want) +
                                   " bytes, got " + std::to_string(got));
  }
}

}  // namespace

Napi::Value ObjectHandle::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "lookup");
  bpf_map* m = Map(env, info[0]);
  int fd = MapFd(env, m);
  auto key = BufferArg(info, 1, "key");
  CheckSize(env, FriendlyMapName(m), "key", key.Length(), bpf_map__key_size(m));
  std::vector<uint8_t> value(ValueBufSize(m));
  if (bpf_map_lookup_elem(fd, key.Data(), value.data()) != 0) {
    int e = errno;
    if (e == ENOENT) return env.Undefined();
    ThrowBpfError(env, e, "lookup in map '" + FriendlyMapName(m) + "'");
  }
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

Napi::Value ObjectHandle::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "update");
  bpf_map* m = Map(env, info[0]);
  int fd = MapFd(env, m);
  auto key = BufferArg(info, 1, "key");
  auto value = BufferArg(info, 2, "value");
  uint64_t flags = IndexArg(info, 3, "flags");
  CheckSize(env, FriendlyMapName(m), "key", key.Length(), bpf_map__key_size(m));
  CheckSize(env, FriendlyMapName(m), "value", value.Length(), ValueBufSize(m));
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0) {
    ThrowBpfError(env, errno, "update in map '" + FriendlyMapName(m) + "'");
  }
  return env.Undefined();
}

Napi::Value ObjectHandle::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "delete");
  bpf_map* m = Map(env, info[0]);
  int fd = MapFd(env, m);
  auto key = BufferArg(info, 1, "key");
  CheckSize(env, FriendlyMapName(m), "key", key.Length(), bpf_map__key_size(m));
  if (bpf_map_delete_elem(fd, key.Data()) != 0) {
    int e = errno;
    if (e == ENOENT) return Napi::Boolean::New(env, false);
    ThrowBpfError(env, e, "delete in map '" + FriendlyMapName(m) + "'");
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value ObjectHandle::MapGetNextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "getNextKey");
  bpf_map* m = Map(env, info[0]);
  int fd = MapFd(env, m);
  size_t ks = bpf_map__key_size(m);
  const void* prev = nullptr;
  Napi::Buffer<uint8_t> prev_buf;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    prev_buf = BufferArg(info, 1, "key");
    CheckSize(env, FriendlyMapName(m), "key", prev_buf.Length(), ks);
    prev = prev_buf.Data();
  }
  std::vector<uint8_t> next(ks);
  if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
    int e = errno;
    if (e == ENOENT) return env.Undefined();
    ThrowBpfError(env, e, "get next key in map '" + FriendlyMapName(m) + "'");
  }
  return Napi::Buffer<uint8_t>::Copy(env, next.data(), next.size());
}

// Drains a hash map with BPF_MAP_LOOKUP_AND_DELETE_BATCH. Returns what was drained
// plus the errno that stopped it (0 when the map was emptied): entries already
// deleted are returned even when a later batch fails, so nothing is lost.
Napi::Value ObjectHandle::MapLookupAndDeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "drain");
  bpf_map* m = Map(env, info[0]);
  int fd = MapFd(env, m);
  const size_t ks = bpf_map__key_size(m), vs = ValueBufSize(m);
  uint32_t chunk = std::max<uint32_t>(1, std::min<uint32_t>(bpf_map__max_entries(m), 1024));
  std::vector<uint8_t> keys, values;
  // The batch cursor is opaque (a bucket index for hash maps); key size is enough.
  std::vector<uint8_t> in_batch(std::max<size_t>(ks, 8)), out_batch(std::max<size_t>(ks, 8));
  bool first = true;
  size_t total = 0;
  int stop_errno = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    keys.resize((total + chunk) * ks);
    values.resize((total + chunk) * vs);
    uint32_t count = chunk;
    int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : in_batch.data(), out_batch.data(),
                                              keys.data() + total * ks, values.data() + total * vs, &count,
                                              &opts);
    int e = err ? errno : 0;
    if (err && e == ENOSPC && count == 0 && chunk < (1u << 20)) {
      chunk *= 2;  // one hash bucket holds more entries than fit: retry bigger
      continue;
    }
    total += count;
    if (err) {
      if (e != ENOENT) stop_errno = e;  // ENOENT: the map is empty now
      break;
    }
    in_batch = out_batch;
    first = false;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", static_cast<double>(total));
  out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), total * ks));
  out.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), total * vs));
  out.Set("errno", static_cast<double>(stop_errno));
  if (stop_errno != 0) out.Set("code", ErrnoCode(stop_errno));
  return out;
}

// mapSetInner(outer, key, inner) → Promise: slot `key` of map-in-map `outer` := map `inner`.
Napi::Value ObjectHandle::MapSetInner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLoaded(env, "mapSetInner");
  bpf_map* outer = Map(env, info[0]);
  auto key = BufferArg(info, 1, "key");
  bpf_map* inner = Map(env, info[2]);
  bpf_map_type t = bpf_map__type(outer);
  if (t != BPF_MAP_TYPE_ARRAY_OF_MAPS && t != BPF_MAP_TYPE_HASH_OF_MAPS) {
    ThrowBpfError(env, EINVAL, "mapSetInner: map '" + FriendlyMapName(outer) + "' is not a map-in-map");
  }
  CheckSize(env, FriendlyMapName(outer), "key", key.Length(), bpf_map__key_size(outer));
  int outer_fd = dup(MapFd(env, outer));
  if (outer_fd < 0) ThrowBpfError(env, errno, "mapSetInner: dup");
  int inner_fd = dup(MapFd(env, inner));
  if (inner_fd < 0) {
    int e = errno;
    close(outer_fd);
    ThrowBpfError(env, e, "mapSetInner: dup");
  }
  auto* worker = new MapSetInnerWorker(env, outer_fd, std::vector<uint8_t>(key.Data(), key.Data() + key.Length()),
                                       inner_fd,
                                       "update of map-in-map '" + FriendlyMapName(outer) + "' with '" +
                                           FriendlyMapName(inner) + "'");
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ObjectHandle::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

Napi::Value ObjectHandle::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), obj_ == nullptr);
}

}  // namespace burnwatch
