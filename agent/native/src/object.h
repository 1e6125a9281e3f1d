// ObjectHandle: one libbpf bpf_object and everything hanging off it (links, ring
// buffer readers). Primitives only; names, validation and policy live in agent/bpf.ts.
#pragma once

#include <napi.h>

#include <set>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;

namespace burnwatch {

class RingReader;

class ObjectHandle : public Napi::ObjectWrap<ObjectHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Returns the handle behind a JS ObjectHandle, or throws a TypeError.
  static ObjectHandle* FromValue(Napi::Env env, Napi::Value value);

  explicit ObjectHandle(const Napi::CallbackInfo& info);
  ~ObjectHandle() override;

  // For RingReader: the map must exist and the object be loaded.
  bpf_map* LoadedMap(Napi::Env env, const std::string& name);
  void AddReader(RingReader* r) { readers_.insert(r); }
  void RemoveReader(RingReader* r) { readers_.erase(r); }

 private:
  void CloseAll();
  void CheckOpen(Napi::Env env) const;
  void CheckLoaded(Napi::Env env, const char* op) const;
  void CheckNotLoaded(Napi::Env env, const char* op) const;
  bpf_program* Program(Napi::Env env, const Napi::Value& name);
  bpf_map* Map(Napi::Env env, const Napi::Value& name);
  int MapFd(Napi::Env env, bpf_map* map);
  Napi::Value AddLink(Napi::Env env, bpf_link* link, int err, const std::string& what,
                      const class LibbpfCapture& cap);

  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value MapNames(const Napi::CallbackInfo& info);
  Napi::Value ProgramInfo(const Napi::CallbackInfo& info);
  Napi::Value MapInfo(const Napi::CallbackInfo& info);
  Napi::Value DatasecVars(const Napi::CallbackInfo& info);
  Napi::Value WriteInitialValue(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value ReuseMap(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapGetNextKey(const Napi::CallbackInfo& info);
  Napi::Value MapLookupAndDeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value MapSetInner(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);

  bpf_object* obj_ = nullptr;
  std::string path_;
  bool loaded_ = false;
  // Index = link id handed to JS; a detached slot becomes nullptr so ids stay valid.
  std::vector<bpf_link*> links_;
  std::set<RingReader*> readers_;
};

}  // namespace burnwatch
