#pragma once

#include <napi.h>

namespace burnwatch {

// JS: dwarfMemberOffsets(path, structNames: string[], memberNames: string[]) -> (number | null)[]
Napi::Value DwarfMemberOffsets(const Napi::CallbackInfo& info);

}  // namespace burnwatch
