// burnwatch_bpf: a thin N-API binding over libbpf (linked statically) and libdw.
// It exposes primitives; agent/bpf.ts builds the typed API, validation and policy.
#include <bpf/libbpf.h>
#include <napi.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

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

// An array of strings from JS, kept alive for execve's char* array.
std::vector<std::string> StringsArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array of strings");
  auto a = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array of strings");
    out.push_back(v.As<Napi::String>());
  }
  return out;
}

// execve(2): the same process (pid, cgroup, systemd's view of it) runs `path` instead. Node
// has no execve before v23; the agent uses it to restart itself with V8 flags that
// NODE_OPTIONS does not accept. Returns only by throwing.
Napi::Value ReplaceProcess(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  std::vector<std::string> args = StringsArg(info, 1, "argv");
  std::vector<std::string> env = StringsArg(info, 2, "env");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // The signal mask survives execve, and Node's main thread blocks SIGUSR1 (its inspector's
  // signal): the new image starts with the empty mask of a freshly started process.
  // Node marks its stdio close-on-exec: the new image must keep the same stdin, stdout, stderr.
  int stdio_flags[3];
  for (int fd = 0; fd <= 2; fd++) {
    stdio_flags[fd] = fcntl(fd, F_GETFD);
    if (stdio_flags[fd] >= 0 && (stdio_flags[fd] & FD_CLOEXEC)) fcntl(fd, F_SETFD, stdio_flags[fd] & ~FD_CLOEXEC);
  }
  sigset_t none, old;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, &old);
  execve(path.c_str(), argv.data(), envp.data());
  int err = errno;
  // The process goes on as it was: children it spawns later must not inherit its stdio.
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  for (int fd = 0; fd <= 2; fd++)
    if (stdio_flags[fd] >= 0) fcntl(fd, F_SETFD, stdio_flags[fd]);
  ThrowBpfError(info.Env(), err, "execve " + path);
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
  exports.Set("replaceProcess", Napi::Function::New<ReplaceProcess>(env, "replaceProcess"));
  return exports;
}

}  // namespace burnwatch

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return burnwatch::Init(env, exports); }

NODE_API_MODULE(burnwatch_bpf, InitModule)
