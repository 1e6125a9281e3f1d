{
  # libbpf is linked statically from Debian's libbpf-dev so the addon does not depend on
  # the host's libbpf.so version; libelf, zlib and libdw stay dynamic.
  "targets": [
    {
      "target_name": "burnwatch_bpf",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/object.cc",
        "src/ringbuf.cc",
        "src/dwarf.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      # Debian's libbpf.a is built as PIE, not PIC: its single reference to glibc's
      # `stderr` data symbol (R_X86_64_PC32) cannot be relocated in a shared object.
      # A copy with that symbol renamed to a hidden variable the addon defines
      # (errors.cc) links cleanly; nothing else in the archive needs it.
      "actions": [
        {
          "action_name": "libbpf_for_shared_object",
          "inputs": ["/usr/lib/<!(gcc -print-multiarch)/libbpf.a"],
          "outputs": ["<(PRODUCT_DIR)/libbpf/libbpf.a"],
          "action": ["objcopy", "--redefine-sym", "stderr=burnwatch_libbpf_stderr", "<@(_inputs)", "<@(_outputs)"]
        }
      ],
      "libraries": [
        "<(PRODUCT_DIR)/libbpf/libbpf.a",
        "-lelf",
        "-lz",
        "-ldw",
        # libbpf's symbols stay private to the addon: no clash with another libbpf in
        # the process, and PIE-built archive objects link into a shared object.
        "-Wl,--exclude-libs,libbpf.a"
      ]
    }
  ]
}
