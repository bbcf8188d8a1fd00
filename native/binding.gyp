{
  "targets": [
    {
      "target_name": "dvscan",
      "sources": ["scan.c", "cdc.c", "spawn.c", "md5x16.c"],
      "cflags": ["-O2", "-std=gnu11", "-ffp-contract=off", "-pthread", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O2", "-ffp-contract=off"]
      }
    },
    {
      "target_name": "dvsqlite",
      "type": "loadable_module",
      "sources": ["sqlite-ext.c"],
      "include_dirs": ["<!(node -p \"require('path').join(require('path').dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3')\")"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
