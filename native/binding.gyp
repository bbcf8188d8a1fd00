{
  "targets": [
    {
      "target_name": "dvscan",
      "sources": ["scan.c", "cdc.c", "spawn.c"],
      "cflags": ["-O2", "-std=gnu11", "-ffp-contract=off", "-pthread", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O2", "-ffp-contract=off"]
      }
    }
  ]
}
