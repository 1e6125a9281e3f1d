// Error reporting for the addon: every failure becomes a JS BpfError carrying the
// errno, its symbolic code and, for program loads, the verifier log.
#pragma once

#include <napi.h>

#include <string>

namespace burnwatch {

// Collects what libbpf prints while it is in scope on this thread, so an error can
// carry libbpf's own explanation (and the verifier log) instead of it going to stderr.
class LibbpfCapture {
 public:
  LibbpfCapture();
  ~LibbpfCapture();
  LibbpfCapture(const LibbpfCapture&) = delete;
  LibbpfCapture& operator=(const LibbpfCapture&) = delete;

  void Append(const std::string& text) { text_ += text; }
  // The verifier log of the failed program (libbpf prints it between markers).
  std::string VerifierLog() const;
  // libbpf's messages without the verifier log, trimmed to the last few lines.
  std::string Summary() const;

 private:
  std::string text_;
  LibbpfCapture* previous_;
};

// Installs the libbpf print callback (once per process).
void InstallLibbpfPrint();

// Remembers the JS BpfError constructor used to build thrown errors.
void SetErrorClass(Napi::Env env, Napi::Function ctor);

// Symbolic name of an errno value ("ENOENT"); libbpf's own codes and the kernel's
// ENOTSUPP (524), which has no libc name, are named too.
std::string ErrnoCode(int err);
std::string ErrnoMessage(int err);

// Builds a BpfError: message "<what>: <strerror>" plus libbpf's explanation.
Napi::Error MakeBpfError(Napi::Env env, int err, const std::string& what,
                         const LibbpfCapture* capture = nullptr);

[[noreturn]] inline void ThrowBpfError(Napi::Env env, int err, const std::string& what,
                                       const LibbpfCapture* capture = nullptr) {
  throw MakeBpfError(env, err, what, capture);
}

}  // namespace burnwatch
