{
  "targets": [
    {
      "target_name": "tapio_native",
      "sources": [
        "native/core/cosine.cc",
        "native/core/cosine_avx2.cc",
        "native/core/cosine_avx512.cc",
        "native/core/cosine_neon.cc",
        "native/core/cosine_serial.cc",
        "native/core/cpu_features.cc",
        "native/core/direct_reader.cc",
        "native/core/sequential_writer.cc",
        "native/core/crc32c.cc",
        "native/core/crc32c_sse42.cc",
        "native/core/crc32c_arm.cc",
        "native/core/file_layer.cc",
        "native/core/file_lock.cc",
        "native/core/json.cc",
        "native/core/json_check.cc",
        "native/core/merge_order.cc",
        "native/core/ring_buffer.cc",
        "native/core/salvage_file.cc",
        "native/core/select_kernels.cc",
        "native/core/sync_probe.cc",
        "native/core/wal_codec.cc",
        "native/core/wal_dir.cc",
        "native/core/wal_file.cc",
        "native/core/wal_scan.cc",
        "native/core/wal_recovery.cc",
        "native/core/wal_writer.cc",
        "native/binding/addon.cc",
        "native/binding/errors.cc",
        "native/binding/crc32c_binding.cc",
        "native/binding/wal_shared.cc",
        "native/binding/wal_binding.cc",
        "native/binding/ring_binding.cc",
        "native/binding/sync_probe_binding.cc",
        "native/binding/file_lock_binding.cc",
        "native/binding/merge_binding.cc",
        "native/binding/cosine_binding.cc",
        "native/binding/select_binding.cc",
        "native/binding/json_check_binding.cc",
        "native/binding/direct_reader_binding.cc",
        "native/binding/sequential_writer_binding.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-fvisibility=hidden", "-O3", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fno-exceptions", "-ffp-contract=off", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-std=gnu++1y", "-std=gnu++17"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off"]
      }
    }
  ]
}
