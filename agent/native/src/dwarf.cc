// Struct member offsets from an ELF file's DWARF, read with elfutils libdw (which
// decompresses SHF_COMPRESSED debug sections, as Go writes them).
#include "dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace burnwatch {

namespace {

struct Wanted {
  // struct name -> member name -> byte offset (nullopt: member absent or not a constant)
  std::map<std::string, std::map<std::string, std::optional<uint64_t>>> structs;
  std::set<std::string> resolved;  // structs whose definition was found
  bool Done() const { return resolved.size() == structs.size(); }
};

std::optional<uint64_t> MemberLocation(Dwarf_Die* member) {
  Dwarf_Attribute attr;
  if (dwarf_attr(member, DW_AT_data_member_location, &attr) == nullptr) return std::nullopt;
  switch (dwarf_whatform(&attr)) {
    case DW_FORM_data1:
    case DW_FORM_data2:
    case DW_FORM_data4:
    case DW_FORM_data8:
    case DW_FORM_udata:
    case DW_FORM_sdata:
    case DW_FORM_implicit_const: {
      Dwarf_Word v;
      if (dwarf_formudata(&attr, &v) == 0) return v;
      return std::nullopt;
    }
    default: {
      // DWARF 2 style: a location expression, which for a member is DW_OP_plus_uconst.
      Dwarf_Op* ops = nullptr;
      size_t n = 0;
      if (dwarf_getlocation(&attr, &ops, &n) == 0 && n == 1 && ops[0].atom == DW_OP_plus_uconst) {
        return ops[0].number;
      }
      return std::nullopt;
    }
  }
}

bool IsDeclaration(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  bool flag = false;
  return dwarf_attr(die, DW_AT_declaration, &attr) != nullptr && dwarf_formflag(&attr, &flag) == 0 && flag;
}

void ResolveStruct(Dwarf_Die* st, std::map<std::string, std::optional<uint64_t>>& members) {
  Dwarf_Die child;
  if (dwarf_child(st, &child) != 0) return;
  do {
    if (dwarf_tag(&child) != DW_TAG_member) continue;
    const char* name = dwarf_diename(&child);
    if (name == nullptr) continue;
    auto it = members.find(name);
    if (it != members.end()) it->second = MemberLocation(&child);
  } while (dwarf_siblingof(&child, &child) == 0);
}

// Types sit at the top of a CU (Go, C) or inside namespaces/classes (C++); function
// bodies are not searched.
void Walk(Dwarf_Die* parent, Wanted& wanted, int depth) {
  if (depth > 16) return;
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    if (tag == DW_TAG_structure_type || tag == DW_TAG_class_type) {
      const char* name = dwarf_diename(&child);
      if (name != nullptr && !IsDeclaration(&child)) {
        auto it = wanted.structs.find(name);
        if (it != wanted.structs.end() && wanted.resolved.count(name) == 0) {
          ResolveStruct(&child, it->second);
          wanted.resolved.insert(name);
          if (wanted.Done()) return;
        }
      }
      Walk(&child, wanted, depth + 1);
    } else if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
      Walk(&child, wanted, depth + 1);
    }
    if (wanted.Done()) return;
  } while (dwarf_siblingof(&child, &child) == 0);
}

}  // namespace

// dwarfMemberOffsets(path, structNames[], memberNames[]) -> (number | null)[]
Napi::Value DwarfMemberOffsets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "binaryPath");
  if (!info[1].IsArray() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, "struct and member names must be arrays");
  }
  Napi::Array structs = info[1].As<Napi::Array>(), members = info[2].As<Napi::Array>();
  if (structs.Length() != members.Length()) {
    throw Napi::TypeError::New(env, "struct and member name arrays must have the same length");
  }
  std::vector<std::pair<std::string, std::string>> queries;
  Wanted wanted;
  for (uint32_t i = 0; i < structs.Length(); i++) {
    Napi::Value s = structs[i], m = members[i];
    if (!s.IsString() || !m.IsString()) throw Napi::TypeError::New(env, "struct and member names must be strings");
    queries.emplace_back(s.As<Napi::String>(), m.As<Napi::String>());
    wanted.structs[queries.back().first][queries.back().second] = std::nullopt;
  }

  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowBpfError(env, errno, "open " + path);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    if (elf != nullptr) elf_end(elf);
    close(fd);
    ThrowBpfError(env, ENOEXEC, path + " is not an ELF file");
  }
  // No DWARF (a stripped binary) is an answer, not an error: every offset is unknown.
  Dwarf* dw = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
  if (dw != nullptr && !queries.empty()) {
    Dwarf_Off off = 0, next = 0;
    size_t header_size = 0;
    while (!wanted.Done() && dwarf_nextcu(dw, off, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
      Dwarf_Die cu;
      if (dwarf_offdie(dw, off + header_size, &cu) != nullptr) Walk(&cu, wanted, 0);
      off = next;
    }
  }
  if (dw != nullptr) dwarf_end(dw);
  elf_end(elf);
  close(fd);

  Napi::Array out = Napi::Array::New(env, queries.size());
  for (uint32_t i = 0; i < queries.size(); i++) {
    const auto& v = wanted.structs[queries[i].first][queries[i].second];
    out.Set(i, v ? Napi::Value(Napi::Number::New(env, static_cast<double>(*v))) : env.Null());
  }
  return out;
}

}  // namespace burnwatch
