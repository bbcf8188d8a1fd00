// Process spawning for the pipeline executor (src/pipeline/native-spawn.ts).
//
// Node forks its whole address space to spawn a child; from a dv process holding the
// workspace index and the pipeline state (~200 MB) that costs milliseconds per datum.
// glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK): no page tables are copied,
// whatever our size. The child gets /dev/null as stdin, its stdout and stderr go to
// the files named by the caller (the executor keeps their tails as the datum's log),
// it starts in its own session (so a whole process group can be killed), with default
// signal dispositions (Node ignores SIGPIPE) and an empty signal mask.
//
// Exit is awaited by a small detached thread per child blocking in waitpid() on that
// pid only (libuv reaps only the pids it spawned itself), which reports back to the
// JavaScript callback through a thread-safe function; that also keeps the event loop
// alive while the child runs.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dvspawn.h"

#ifndef DV_NO_SPAWN

typedef struct {
  pid_t pid;
  int status;
  napi_threadsafe_function tsfn;
} waiter_t;

static void *wait_child(void *arg) {
  waiter_t *w = arg;
  int status = 0;
  while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {}
  w->status = status;
  // report_exit frees w on the JS thread, possibly before the call below returns.
  napi_threadsafe_function tsfn = w->tsfn;
  napi_call_threadsafe_function(tsfn, w, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

// Runs on the JS thread: onExit(code, signal); code -1 when killed by a signal.
static void report_exit(napi_env env, napi_value cb, void *ctx, void *data) {
  waiter_t *w = data;
  if (env && cb) {
    int code = WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1;
    int sig = WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0;
    napi_value args[2], undef;
    napi_create_int32(env, code, &args[0]);
    napi_create_int32(env, sig, &args[1]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 2, args, NULL);
  }
  free(w);
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) { free(s); return NULL; }
  return s;
}

// A NULL-terminated copy of a JS string array; NULL on a type error.
static char **get_strings(napi_env env, napi_value arr) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof(char *));
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok || !(out[i] = get_string(env, v))) {
      for (uint32_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_strings(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

// spawn(file, argv, envp, cwd, stdoutPath, stderrPath, onExit) -> pid; throws with errno text.
napi_value spawn_process(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "spawn: expected 7 arguments");
    return NULL;
  }
  char *file = get_string(env, a[0]), *cwd = get_string(env, a[3]);
  char *out = get_string(env, a[4]), *err = get_string(env, a[5]);
  char **argv = get_strings(env, a[1]), **envp = get_strings(env, a[2]);
  napi_value result = NULL;
  if (!file || !cwd || !out || !err || !argv || !envp) {
    napi_throw_type_error(env, NULL, "spawn: expected strings and string arrays");
    goto done;
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  sigset_t all, none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

  waiter_t *w = calloc(1, sizeof(waiter_t));
  napi_value name;
  napi_create_string_utf8(env, "dv-spawn", NAPI_AUTO_LENGTH, &name);
  if (!w || napi_create_threadsafe_function(env, a[6], NULL, name, 0, 1, NULL, NULL, NULL, report_exit, &w->tsfn) != napi_ok) {
    free(w);
    napi_throw_error(env, NULL, "spawn: cannot create the exit callback");
  } else {
    int rc = posix_spawn(&w->pid, file, &fa, &attr, argv, envp);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&ta, 64 * 1024);
    if (rc == 0 && (rc = pthread_create(&t, &ta, wait_child, w)) != 0) {
      // No waiter: reap it here rather than leave a zombie nobody reports.
      kill(-w->pid, SIGKILL);
      waitpid(w->pid, NULL, 0);
    }
    pthread_attr_destroy(&ta);
    if (rc != 0) {
      napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
      free(w);
      napi_value msg, code, e;
      napi_create_string_utf8(env, strerror(rc), NAPI_AUTO_LENGTH, &msg);
      napi_create_int32(env, rc, &code);
      napi_create_error(env, NULL, msg, &e);
      napi_set_named_property(env, e, "errno", code);
      napi_throw(env, e);
    } else {
      napi_create_int32(env, w->pid, &result);
    }
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
done:
  free(file); free(cwd); free(out); free(err);
  free_strings(argv);
  free_strings(envp);
  return result;
}
#endif  // DV_NO_SPAWN
