// burnwatch_bpf: a thin N-API binding over libbpf (linked statically) and libdw.
// It exposes primitives; agent/bpf.ts builds the typed API, validation and policy.
#include <bpf/libbpf.h>
#include <napi.h>
#include <sys/mount.h>

#include <cerrno>

#include "args.h"
#include "dwarf.h"
#include "errors.h"
#include "object.h"
#include "ringbuf.h"

namespace burnwatch {

namespace {

Napi::Value SetErrorClassJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "error class must be a function");
  SetErrorClass(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowBpfError(info.Env(), n, "count possible CPUs");
  return Napi::Number::New(info.Env(), n);
}

// mount -t tracefs nodev <path>: perf-event tracepoints find their ids in tracefs.
Napi::Value MountTracefs(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  if (mount("nodev", path.c_str(), "tracefs", 0, nullptr) != 0) {
    ThrowBpfError(info.Env(), errno, "mount tracefs at " + path);
  }
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  exports.Set("ObjectHandle", ObjectHandle::Init(env));
  exports.Set("RingReader", RingReader::Init(env));
  exports.Set("setErrorClass", Napi::Function::New<SetErrorClassJs>(env, "setErrorClass"));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env, "possibleCpus"));
  exports.Set("mountTracefs", Napi::Function::New<MountTracefs>(env, "mountTracefs"));
  exports.Set("dwarfMemberOffsets", Napi::Function::New<DwarfMemberOffsets>(env, "dwarfMemberOffsets"));
  return exports;
}

}  // namespace burnwatch

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return burnwatch::Init(env, exports); }

NODE_API_MODULE(burnwatch_bpf, InitModule)
