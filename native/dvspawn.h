// Whether this platform gets the native spawner (native/spawn.c). It needs
// posix_spawn_file_actions_addchdir_np (glibc 2.29+, musl 1.1.24+); without it the addon
// exports no `spawn` (the rest of it still loads) and the executor uses Node's spawn.
// Include after a libc header, so that __GLIBC__ is known.
#ifndef DV_DVSPAWN_H
#define DV_DVSPAWN_H
#include <node_api.h>

#if !defined(__linux__) || (defined(__GLIBC__) && !(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29)))
#define DV_NO_SPAWN 1
#else
napi_value spawn_process(napi_env env, napi_callback_info info);
napi_value spawn_isolated(napi_env env, napi_callback_info info);
#endif

#endif
