#include "errors.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

// libbpf.a is position-dependent code; the build renames its one use of glibc's
// `stderr` (a copy-relocated data symbol, unusable from a shared object) to this
// hidden variable (see binding.gyp).
extern "C" {
__attribute__((visibility("hidden"))) FILE* burnwatch_libbpf_stderr = stderr;
}

namespace burnwatch {

namespace {

thread_local LibbpfCapture* current_capture = nullptr;

const char kLogBegin[] = "-- BEGIN PROG LOAD LOG --\n";
const char kLogEnd[] = "-- END PROG LOAD LOG --\n";

int PrintCallback(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !getenv("BURNWATCH_LIBBPF_DEBUG")) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), fmt, args);
  text.resize(static_cast<size_t>(n));
  if (current_capture != nullptr && level != LIBBPF_DEBUG) {
    current_capture->Append(text);
  } else if (level == LIBBPF_WARN || getenv("BURNWATCH_LIBBPF_DEBUG")) {
    // Outside a capture (e.g. on the ring-buffer thread) there is no caller to hand
    // the message to; stderr keeps it visible.
    fputs(text.c_str(), stderr);  // libbpf prefixes its own "libbpf: "
  }
  return 0;
}

struct ErrorClass {
  Napi::FunctionReference ctor;
};

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \n\t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \n\t");
  return s.substr(b, e - b + 1);
}

}  // namespace

LibbpfCapture::LibbpfCapture() : previous_(current_capture) { current_capture = this; }

LibbpfCapture::~LibbpfCapture() { current_capture = previous_; }

std::string LibbpfCapture::VerifierLog() const {
  size_t b = text_.find(kLogBegin);
  if (b == std::string::npos) return "";
  b += sizeof(kLogBegin) - 1;
  size_t e = text_.find(kLogEnd, b);
  return text_.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string LibbpfCapture::Summary() const {
  std::string rest = text_;
  size_t b = rest.find(kLogBegin);
  if (b != std::string::npos) {
    size_t e = rest.find(kLogEnd, b);
    rest.replace(b, e == std::string::npos ? std::string::npos : e + sizeof(kLogEnd) - 1 - b,
                 "[verifier log in .verifierLog]\n");
  }
  // Keep the tail: libbpf's last lines name the failing step.
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t nl = rest.find('\n', pos);
    std::string line = Trim(rest.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (line.rfind("libbpf: ", 0) == 0) line = line.substr(8);
    if (!line.empty()) lines.push_back(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  const size_t keep = 6;
  std::string out;
  for (size_t i = lines.size() > keep ? lines.size() - keep : 0; i < lines.size(); i++) {
    if (!out.empty()) out += "; ";
    out += lines[i];
  }
  return out;
}

void InstallLibbpfPrint() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(PrintCallback); });
}

void SetErrorClass(Napi::Env env, Napi::Function ctor) {
  auto* data = env.GetInstanceData<ErrorClass>();
  if (data == nullptr) {
    data = new ErrorClass();
    env.SetInstanceData(data);
  }
  data->ctor = Napi::Persistent(ctor);
}

std::string ErrnoCode(int err) {
  if (err < 0) err = -err;
  if (err == 524) return "ENOTSUPP";  // kernel-internal, no libc name
  if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END) {
    static const char* names[] = {"LIBBPF_ERRNO__LIBELF", "LIBBPF_ERRNO__FORMAT",
                                  "LIBBPF_ERRNO__KVERSION", "LIBBPF_ERRNO__ENDIAN",
                                  "LIBBPF_ERRNO__INTERNAL", "LIBBPF_ERRNO__RELOC",
                                  "LIBBPF_ERRNO__LOAD", "LIBBPF_ERRNO__VERIFY",
                                  "LIBBPF_ERRNO__PROG2BIG", "LIBBPF_ERRNO__KVER",
                                  "LIBBPF_ERRNO__PROGTYPE", "LIBBPF_ERRNO__WRNGPID",
                                  "LIBBPF_ERRNO__INVSEQ", "LIBBPF_ERRNO__NLPARSE"};
    size_t i = static_cast<size_t>(err - __LIBBPF_ERRNO__START);
    if (i < sizeof(names) / sizeof(names[0])) return names[i];
  }
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

std::string ErrnoMessage(int err) {
  if (err < 0) err = -err;
  if (err == 524) return "Operation not supported by this kernel";
  char buf[256];
  if (libbpf_strerror(err, buf, sizeof(buf)) == 0) return buf;
  return strerror(err);
}

Napi::Error MakeBpfError(Napi::Env env, int err, const std::string& what,
                         const LibbpfCapture* capture) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;  // a failure without errno still needs a code
  std::string message = what + ": " + ErrnoMessage(err);
  std::string log;
  if (capture != nullptr) {
    std::string summary = capture->Summary();
    if (!summary.empty()) message += " (libbpf: " + summary + ")";
    log = capture->VerifierLog();
  }
  Napi::Value log_value = log.empty() ? env.Undefined() : Napi::String::New(env, log);
  auto* data = env.GetInstanceData<ErrorClass>();
  if (data != nullptr && !data->ctor.IsEmpty()) {
    Napi::Object e = data->ctor.New({Napi::String::New(env, message), Napi::Number::New(env, err),
                                     Napi::String::New(env, ErrnoCode(err)), log_value});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoCode(err)));
  if (!log.empty()) e.Set("verifierLog", log_value);
  return e;
}

}  // namespace burnwatch
