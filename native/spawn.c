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
// A small detached thread per child starts it (so the wait until the child has
// exec'd, a millisecond for a dynamically linked program, holds up that thread and not
// the JavaScript one), then blocks in waitpid() on that pid only (libuv reaps only the
// pids it spawned itself). It reports back to the JavaScript callback through a
// thread-safe function, which also keeps the event loop alive while the child runs.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
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

// Starts the thread that waits for w->pid; on failure reaps the child here (no
// zombie nobody reports) and returns the error number.
static int watch_child(waiter_t *w) {
  pthread_t t;
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&ta, 64 * 1024);
  int rc = pthread_create(&t, &ta, wait_child, w);
  if (rc != 0) {
    kill(-w->pid, SIGKILL);
    waitpid(w->pid, NULL, 0);
  }
  pthread_attr_destroy(&ta);
  return rc;
}

// A waiter whose exit callback is cb; NULL (with an error thrown) when it cannot be made.
static waiter_t *new_waiter(napi_env env, napi_value cb, const char *what) {
  waiter_t *w = calloc(1, sizeof(waiter_t));
  napi_value name;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name);
  if (w && napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, NULL, report_exit, &w->tsfn) == napi_ok) return w;
  free(w);
  char msg[64];
  snprintf(msg, sizeof msg, "%s: cannot create the exit callback", what);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// The seven arguments both spawners take; false (with a TypeError thrown) when fewer came.
static bool seven_args(napi_env env, napi_callback_info info, napi_value *a, const char *what) {
  size_t argc = 7;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc >= 7) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%s: expected 7 arguments", what);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

// What spawn_process hands to the thread that starts and waits for one child: all of
// it owned by the request (the JS strings it came from may be gone by then).
typedef struct {
  char *file, *cwd, *out, *err;
  char **argv, **envp;
  napi_threadsafe_function tsfn;
} request_t;

// One report to JavaScript: onEvent(kind, a, b).
enum { EV_STARTED = 0, EV_NOT_STARTED = 1, EV_EXITED = 2 };
typedef struct { int kind, a, b; } event_t;

static void report_event(napi_env env, napi_value cb, void *ctx, void *data) {
  event_t *e = data;
  if (env && cb) {
    napi_value args[3], undef;
    napi_create_int32(env, e->kind, &args[0]);
    napi_create_int32(env, e->a, &args[1]);
    napi_create_int32(env, e->b, &args[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 3, args, NULL);
  }
  free(e);
}

static void post(napi_threadsafe_function tsfn, int kind, int a, int b) {
  event_t *e = malloc(sizeof *e);
  if (!e) abort();  // a lost report would leave the datum waiting forever
  e->kind = kind; e->a = a; e->b = b;
  napi_call_threadsafe_function(tsfn, e, napi_tsfn_blocking);
}

static void free_request(request_t *r) {
  free(r->file); free(r->cwd); free(r->out); free(r->err);
  free_strings(r->argv);
  free_strings(r->envp);
  free(r);
}

// The thread of one child: posix_spawn (the vfork-style wait until the child has
// exec'd is this thread's, not the JavaScript thread's), then waitpid on that pid.
static void *spawn_and_wait(void *arg) {
  request_t *r = arg;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addchdir_np(&fa, r->cwd);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, r->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  sigset_t all, none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, r->file, &fa, &attr, r->argv, r->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  napi_threadsafe_function tsfn = r->tsfn;
  free_request(r);  // the child has exec'd (or failed to): nothing reads these any more
  if (rc != 0) {
    post(tsfn, EV_NOT_STARTED, rc, 0);
  } else {
    post(tsfn, EV_STARTED, pid, 0);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    post(tsfn, EV_EXITED, WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

// spawn(file, argv, envp, cwd, stdoutPath, stderrPath, onEvent): returns at once; the
// child starts on a thread of its own, which reports onEvent(0, pid) when it started
// or onEvent(1, errno) when it could not, then onEvent(2, code, signal) when it ended
// (code -1 when killed by a signal). Throws only when the thread cannot be made.
napi_value spawn_process(napi_env env, napi_callback_info info) {
  napi_value a[7];
  if (!seven_args(env, info, a, "spawn")) return NULL;
  request_t *r = calloc(1, sizeof *r);
  if (!r) {
    napi_throw_error(env, NULL, "spawn: out of memory");
    return NULL;
  }
  r->file = get_string(env, a[0]); r->cwd = get_string(env, a[3]);
  r->out = get_string(env, a[4]); r->err = get_string(env, a[5]);
  r->argv = get_strings(env, a[1]); r->envp = get_strings(env, a[2]);
  if (!r->file || !r->cwd || !r->out || !r->err || !r->argv || !r->envp) {
    free_request(r);
    napi_throw_type_error(env, NULL, "spawn: expected strings and string arrays");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "spawn", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, a[6], NULL, name, 0, 1, NULL, NULL, NULL, report_event, &r->tsfn) != napi_ok) {
    free_request(r);
    napi_throw_error(env, NULL, "spawn: cannot create the exit callback");
    return NULL;
  }
  pthread_t t;
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&ta, 256 * 1024);
  napi_threadsafe_function tsfn = r->tsfn;
  int rc = pthread_create(&t, &ta, spawn_and_wait, r);
  pthread_attr_destroy(&ta);
  if (rc != 0) {
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    free_request(r);
    napi_value msg, code, e;
    napi_create_string_utf8(env, strerror(rc), NAPI_AUTO_LENGTH, &msg);
    napi_create_int32(env, rc, &code);
    napi_create_error(env, NULL, msg, &e);
    napi_set_named_property(env, e, "errno", code);
    napi_throw(env, e);
  }
  return NULL;
}
#endif  // DV_NO_SPAWN

#ifndef DV_NO_SPAWN
// The sandbox executor's per-datum start (src/pipeline/executors/sandbox-runner.cjs,
// which runs inside one bubblewrap container per batch of datums). The child gets
// its own mount namespace and builds the datum's view of the project in it with the
// ops the caller lists (a flat array of triples op, a, b), executed in order:
//   tmpfs DIR MODE | mkdir DIR | touch FILE | bind SRC DST | robind SRC DST |
//   robind-try SRC DST | remount-ro DIR | umount DIR | write FILE TEXT |
//   rlimit as|nproc N | cpus N | chdir DIR | ids UID GID | dropcaps
// Mount syscalls cost microseconds, a new bwrap milliseconds: this is what makes a
// sandboxed datum about as cheap as a plain one. Any failing op ends the child with
// status 126 and the op named on its stderr (the datum's log).
#include <sched.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>

static void say(const char *a, const char *b, int e) {
  char num[16];
  int n = 0, v = e;
  char rev[16];
  do { rev[n++] = (char)('0' + v % 10); v /= 10; } while (v && n < 15);
  for (int i = 0; i < n; i++) num[i] = rev[n - 1 - i];
  num[n] = 0;
  const char *parts[] = {"dv sandbox: ", a, " ", b, ": errno ", num, " (", strerror(e), ")\n"};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) if (write(2, parts[i], strlen(parts[i])) < 0) break;
}

static int mkdirs(const char *path, mode_t mode) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof buf) return -1;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
      buf[i] = c;
    }
  }
  return 0;
}

static long num_of(const char *s) { return strtol(s, NULL, 10); }

static int run_op(const char *op, const char *a, const char *b) {
  if (!strcmp(op, "tmpfs")) {
    char opts[32] = "mode=";
    strncat(opts, b, sizeof opts - 6);
    return mount("tmpfs", a, "tmpfs", MS_NOSUID | MS_NODEV, opts);
  }
  if (!strcmp(op, "mkdir")) return access(a, F_OK) == 0 ? 0 : mkdirs(a, 0755);
  if (!strcmp(op, "touch")) {
    if (access(a, F_OK) == 0) return 0;
    const char *slash = strrchr(a, '/');
    if (slash && slash != a) {
      char dir[4096];
      size_t n = (size_t)(slash - a);
      if (n >= sizeof dir) return -1;
      memcpy(dir, a, n);
      dir[n] = 0;
      if (mkdirs(dir, 0755) < 0) return -1;
    }
    int fd = open(a, O_WRONLY | O_CREAT, 0644);
    return fd < 0 ? -1 : close(fd);
  }
  if (!strcmp(op, "bind")) return mount(a, b, NULL, MS_BIND | MS_REC, NULL);
  if (!strcmp(op, "robind") || !strcmp(op, "robind-try")) {
    if (!strcmp(op, "robind-try") && access(a, F_OK) < 0) return 0;
    if (mount(a, b, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    return mount(NULL, b, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
  }
  if (!strcmp(op, "remount-ro")) return mount(NULL, a, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
  if (!strcmp(op, "umount")) return umount2(a, MNT_DETACH);
  if (!strcmp(op, "write")) {
    int fd = open(a, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t w = write(fd, b, strlen(b));
    close(fd);
    return w < 0 ? -1 : 0;
  }
  if (!strcmp(op, "rlimit")) {
    struct rlimit rl = {(rlim_t)num_of(b), (rlim_t)num_of(b)};
    return setrlimit(!strcmp(a, "as") ? RLIMIT_AS : RLIMIT_NPROC, &rl);
  }
  if (!strcmp(op, "cpus")) {
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = num_of(a);
    for (long i = 0; i < n && i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    return sched_setaffinity(0, sizeof set, &set);
  }
  if (!strcmp(op, "chdir")) return chdir(a);
  if (!strcmp(op, "dropcaps") || !strcmp(op, "ids")) {
    for (int c = 0; c <= 63; c++) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (!strcmp(op, "ids")) {
      gid_t g = (gid_t)num_of(b);
      // Raw syscalls: glibc's set*id would signal the threads of the process this child shares memory with.
      uid_t u = (uid_t)num_of(a);
      if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, g, g, g) < 0 || syscall(SYS_setresuid, u, u, u) < 0) return -1;
    }
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) < 0) return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  }
  errno = EINVAL;
  return -1;
}

typedef struct { char *file, *out, *err; char **argv, **envp, **ops; size_t nops; } iso_args_t;

// The child, on its own stack but sharing the caller's memory until it execs (as
// posix_spawn does): a fork would copy the page tables of the whole runner first.
static int iso_child(void *arg) {
  iso_args_t *x = arg;
  char *out = x->out, *err = x->err, *file = x->file;
  char **ops = x->ops, **argv = x->argv, **envp = x->envp;
  size_t nops = x->nops;
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || o < 0 || e < 0) _exit(126);
  dup2(in, 0); dup2(o, 1); dup2(e, 2);
  if (in > 2) close(in);
  if (o > 2) close(o);
  if (e > 2) close(e);
  if (unshare(CLONE_NEWNS) < 0) { say("unshare", "mount namespace", errno); _exit(126); }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { say("mount", "private /", errno); _exit(126); }
  for (size_t i = 0; i < nops; i += 3) {
    if (run_op(ops[i], ops[i + 1], ops[i + 2]) < 0) { say(ops[i], ops[i + 1], errno); _exit(126); }
  }
  execve(file, argv, envp);
  say("exec", file, errno);
  _exit(127);
  return 0;
}

// spawnIsolated(file, argv, envp, stdoutPath, stderrPath, ops, onExit) -> pid.
napi_value spawn_isolated(napi_env env, napi_callback_info info) {
  napi_value a[7];
  if (!seven_args(env, info, a, "spawnIsolated")) return NULL;
  char *file = get_string(env, a[0]), *out = get_string(env, a[3]), *err = get_string(env, a[4]);
  char **argv = get_strings(env, a[1]), **envp = get_strings(env, a[2]), **ops = get_strings(env, a[5]);
  napi_value result = NULL;
  size_t nops = 0;
  if (ops) while (ops[nops]) nops++;
  if (!file || !out || !err || !argv || !envp || !ops || nops % 3) {
    napi_throw_type_error(env, NULL, "spawnIsolated: expected strings, string arrays and op triples");
    goto done;
  }
  waiter_t *w = new_waiter(env, a[6], "spawnIsolated");
  if (!w) goto done;
  iso_args_t x = {file, out, err, argv, envp, ops, nops};
  size_t stack_size = 256 * 1024;
  char *stack = malloc(stack_size);
  pid_t pid = stack ? clone(iso_child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &x) : -1;
  free(stack);
  int rc = pid < 0 ? errno : 0;
  w->pid = pid;
  if (rc == 0) rc = watch_child(w);
  if (rc != 0) {
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    free(w);
    napi_throw_error(env, NULL, strerror(rc));
  } else {
    napi_create_int32(env, pid, &result);
  }
done:
  free(file); free(out); free(err);
  free_strings(argv);
  free_strings(envp);
  free_strings(ops);
  return result;
}
#endif  // DV_NO_SPAWN
