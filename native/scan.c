/*
 * dvscan: the workspace scan of src/repo/scan.ts (scanItems) in C, with a small
 * pthread pool for the readdir and stat calls. Results must be identical to the JS
 * path, which is the fallback; see src/repo/native-scan.ts.
 *
 *   scan(root: string, items: {rel: string, dir: boolean}[], threads: number)
 *     -> { paths: string ('\0'-separated), nums: Float64Array (size, mtimeMs, ino, mode) }
 *        or null when the JS path must decide (see "bail" below).
 *
 * Rules copied from the JS:
 *  - a dir item is read like fs.readdirSync(`${root}/${rel}`, {withFileTypes: true}):
 *    ENOENT/ENOTDIR give no entries; "." and ".." are dropped; entries are sorted by
 *    strcmp (libuv's scandir does that); a DT_UNKNOWN entry is typed by lstat (Node's
 *    getDirents does that). Directories other than .dv/.git are walked, regular files
 *    and symlinks are lstat'ed, everything else is ignored.
 *  - a file item is lstat'ed like fs.lstatSync(`${root}/${rel}`, {throwIfNoEntry: false}):
 *    ENOENT skips the file; regular files and symlinks (mode 0120000, never followed)
 *    are kept.
 *  - output order is the JS walk's: depth first, entries in sorted order.
 *  - mtimeMs is computed as Node's msFromTimeSpec does, in doubles:
 *    sec * 1e3 + nsec / 1e6 (built with -ffp-contract=off so it is never fused).
 *
 * "Bail" (return null) wherever the JS would throw or could see something different:
 * any other errno, a name that is not valid UTF-8 (Node would decode it lossily), or
 * out of memory. The caller then runs the JS path, which throws the same error the
 * dv user always got.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "dvspawn.h"
#include <sys/types.h>

#define DVSCAN_ABI 2
#define STAT_CHUNK 256
#define MAX_THREADS 16

enum { E_FILE = 1, E_DIR = 2 };

struct node;

typedef struct {
  const char *name; /* into the node's name arena */
  size_t name_len;
  int kind;         /* E_FILE or E_DIR */
  int ok;           /* E_FILE: stat succeeded and it is a regular file */
  struct node *child; /* E_DIR */
  double nums[4];
} entry_t;

typedef struct node {
  char *rel;  /* path relative to root, as the JS builds it */
  size_t rel_len;
  char *full; /* `${root}/${rel}` */
  size_t full_len;
  entry_t *entries;
  size_t n_entries;
  char *arena;
  DIR *dir;       /* open while its entries are being stat'ed */
  int pending;    /* stat jobs (and the dir job itself) still using `dir` */
} node_t;

typedef struct {
  int type; /* 0: read dir, 1: stat entries [begin, end) of node */
  node_t *node;
  size_t begin, end;
} job_t;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job_t *jobs;
  size_t n_jobs, cap_jobs;
  size_t active; /* jobs queued or running */
  int bail;
  /* every node allocated, for freeing */
  node_t **nodes;
  size_t n_nodes, cap_nodes;
} ctx_t;

static void set_bail(ctx_t *c) {
  pthread_mutex_lock(&c->mu);
  c->bail = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static int push_job(ctx_t *c, job_t j) {
  pthread_mutex_lock(&c->mu);
  if (c->n_jobs == c->cap_jobs) {
    size_t cap = c->cap_jobs ? c->cap_jobs * 2 : 64;
    job_t *nj = realloc(c->jobs, cap * sizeof(job_t));
    if (!nj) { c->bail = 1; pthread_cond_broadcast(&c->cv); pthread_mutex_unlock(&c->mu); return -1; }
    c->jobs = nj;
    c->cap_jobs = cap;
  }
  c->jobs[c->n_jobs++] = j;
  c->active++;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

static char *join3(const char *a, size_t al, const char *b, size_t bl, size_t *out_len) {
  char *s = malloc(al + 1 + bl + 1);
  if (!s) return NULL;
  memcpy(s, a, al);
  s[al] = '/';
  memcpy(s + al + 1, b, bl);
  s[al + 1 + bl] = 0;
  if (out_len) *out_len = al + 1 + bl;
  return s;
}

static node_t *new_node(ctx_t *c, const char *root, size_t root_len, const char *rel, size_t rel_len) {
  node_t *n = calloc(1, sizeof(node_t));
  if (!n) return NULL;
  n->rel = malloc(rel_len + 1);
  n->full = join3(root, root_len, rel, rel_len, &n->full_len);
  if (!n->rel || !n->full) { free(n->rel); free(n->full); free(n); return NULL; }
  memcpy(n->rel, rel, rel_len);
  n->rel[rel_len] = 0;
  n->rel_len = rel_len;
  pthread_mutex_lock(&c->mu);
  if (c->n_nodes == c->cap_nodes) {
    size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 64;
    node_t **nn = realloc(c->nodes, cap * sizeof(node_t *));
    if (!nn) { pthread_mutex_unlock(&c->mu); free(n->rel); free(n->full); free(n); return NULL; }
    c->nodes = nn;
    c->cap_nodes = cap;
  }
  c->nodes[c->n_nodes++] = n;
  pthread_mutex_unlock(&c->mu);
  return n;
}

static void free_ctx(ctx_t *c) {
  for (size_t i = 0; i < c->n_nodes; i++) {
    node_t *n = c->nodes[i];
    free(n->rel);
    free(n->full);
    free(n->entries);
    free(n->arena);
    if (n->dir) closedir(n->dir);
    free(n);
  }
  free(c->nodes);
  free(c->jobs);
}

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char b = s[i];
    if (b < 0x80) { i++; continue; }
    size_t len;
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; }
    else return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    i += len;
  }
  return 1;
}

static double ms_from_timespec(double sec, double nsec) {
  /* Node: sec * kMsPerSec + nsec / kNsPerMs, both operands doubles. */
  double a = sec * 1000.0;
  double b = nsec / 1000000.0;
  return a + b;
}

/* fs.lstatSync(path, {throwIfNoEntry: false}) + (isFile() || isSymbolicLink()), for `path`
 * relative to `dirfd` (AT_FDCWD for an absolute one). 1: keep, 0: skip, -1: bail. */
static int stat_file(int dirfd, const char *path, double nums[4]) {
  struct stat st;
  if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -1;
  if (S_ISLNK(st.st_mode)) {
    nums[0] = (double)st.st_size;
    nums[1] = ms_from_timespec((double)st.st_mtim.tv_sec, (double)st.st_mtim.tv_nsec);
    nums[2] = (double)st.st_ino;
    nums[3] = 0120000;
    return 1;
  }
  if (!S_ISREG(st.st_mode)) return 0;
  nums[0] = (double)st.st_size;
  nums[1] = ms_from_timespec((double)st.st_mtim.tv_sec, (double)st.st_mtim.tv_nsec);
  nums[2] = (double)st.st_ino;
  nums[3] = (st.st_mode & 0111) ? 0755 : 0644;
  return 1;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

static void release_dir(node_t *n) {
  if (__atomic_sub_fetch(&n->pending, 1, __ATOMIC_ACQ_REL) == 0) {
    closedir(n->dir);
    n->dir = NULL;
  }
}

/* Stats entries [begin, end) relative to the open directory: the same files the JS
 * stats as `${root}/${rel}/${name}` (each path component was a directory, not a
 * symlink, when read), with less path walking. */
static void run_stat(ctx_t *c, node_t *n, size_t begin, size_t end) {
  int fd = dirfd(n->dir);
  for (size_t i = begin; i < end; i++) {
    entry_t *e = &n->entries[i];
    if (e->kind != E_FILE) continue;
    int r = stat_file(fd, e->name, e->nums);
    if (r < 0) { set_bail(c); break; }
    e->ok = r;
  }
  release_dir(n);
}

static void run_dir(ctx_t *c, node_t *n, const char *root, size_t root_len) {
  DIR *d = opendir(n->full);
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return; /* no entries, like readDir() */
    set_bail(c);
    return;
  }
  n->dir = d;
  n->pending = 1;
  size_t cap = 0, arena_cap = 0, arena_len = 0;
  entry_t *ents = NULL;
  unsigned char *types = NULL;
  size_t *offs = NULL;
  char *arena = NULL;
  size_t count = 0;
  int failed = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) { if (errno) failed = 1; break; }
    const char *nm = de->d_name;
    if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
    size_t len = strlen(nm);
    if (count == cap) {
      size_t nc = cap ? cap * 2 : 64;
      entry_t *ne = realloc(ents, nc * sizeof(entry_t));
      if (ne) ents = ne;
      unsigned char *nt = realloc(types, nc);
      if (nt) types = nt;
      size_t *no = realloc(offs, nc * sizeof(size_t));
      if (no) offs = no;
      if (!ne || !nt || !no) { failed = 1; break; }
      cap = nc;
    }
    if (arena_len + len + 1 > arena_cap) {
      size_t nc = arena_cap ? arena_cap * 2 : 4096;
      while (nc < arena_len + len + 1) nc *= 2;
      char *na = realloc(arena, nc);
      if (!na) { failed = 1; break; }
      arena = na;
      arena_cap = nc;
    }
    memcpy(arena + arena_len, nm, len + 1);
    offs[count] = arena_len;
    types[count] = de->d_type;
    memset(&ents[count], 0, sizeof(entry_t));
    ents[count].name_len = len;
    arena_len += len + 1;
    count++;
  }
  n->arena = arena; /* owned by the node from here on, freed with it */
  if (failed) { free(ents); free(types); free(offs); set_bail(c); return; }

  /* Type each entry; keep only dirs to walk and regular files to stat. */
  size_t kept = 0;
  for (size_t i = 0; i < count; i++) {
    entry_t e = ents[i];
    e.name = arena + offs[i];
    int t = types[i];
    /* Node decodes names lossily; the JS would then stat or read a different path. */
    if ((t == DT_UNKNOWN || t == DT_DIR || t == DT_REG || t == DT_LNK) && !valid_utf8((const unsigned char *)e.name, e.name_len)) { failed = 1; break; }
    if (t == DT_UNKNOWN) {
      /* getDirents: lstatSync(join(path, name)); an error there throws. */
      struct stat st;
      if (fstatat(dirfd(d), e.name, &st, AT_SYMLINK_NOFOLLOW) != 0) { failed = 1; break; }
      t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    if (t == DT_DIR) {
      if (strcmp(e.name, ".dv") == 0 || strcmp(e.name, ".git") == 0) continue;
      e.kind = E_DIR;
    } else if (t == DT_REG || t == DT_LNK) {
      e.kind = E_FILE;
    } else {
      continue;
    }
    /* The JS's paths are `${root}/${rel}/${name}`; one too long for the kernel makes its
     * stat (or readdir) throw ENAMETOOLONG, which ours, relative to the dir, would not. */
    if (n->full_len + 1 + e.name_len + 1 > PATH_MAX) { failed = 1; break; }
    ents[kept++] = e;
  }
  free(types);
  free(offs);
  if (failed) { free(ents); set_bail(c); return; }
  qsort(ents, kept, sizeof(entry_t), cmp_entry);
  n->entries = ents;
  n->n_entries = kept;

  size_t n_files = 0;
  for (size_t i = 0; i < kept; i++) {
    entry_t *e = &ents[i];
    if (e->kind == E_DIR) {
      char *rel = NULL;
      size_t rel_len;
      rel = join3(n->rel, n->rel_len, e->name, e->name_len, &rel_len);
      if (!rel) { set_bail(c); return; }
      e->child = new_node(c, root, root_len, rel, rel_len);
      free(rel);
      if (!e->child) { set_bail(c); return; }
      if (push_job(c, (job_t){ 0, e->child, 0, 0 }) != 0) return;
    } else {
      n_files++;
    }
  }
  /* Share big directories' stat calls out in chunks; stat the first chunk here. */
  size_t first_end = kept;
  if (n_files > STAT_CHUNK) {
    first_end = STAT_CHUNK;
    for (size_t b = STAT_CHUNK; b < kept; b += STAT_CHUNK) {
      size_t e = b + STAT_CHUNK < kept ? b + STAT_CHUNK : kept;
      __atomic_add_fetch(&n->pending, 1, __ATOMIC_ACQ_REL);
      if (push_job(c, (job_t){ 1, n, b, e }) != 0) { release_dir(n); break; }
    }
  }
  run_stat(c, n, 0, first_end);
}

typedef struct {
  ctx_t *ctx;
  const char *root;
  size_t root_len;
} worker_arg_t;

static void *worker(void *p) {
  worker_arg_t *a = p;
  ctx_t *c = a->ctx;
  for (;;) {
    pthread_mutex_lock(&c->mu);
    while (!c->bail && c->n_jobs == 0 && c->active > 0) pthread_cond_wait(&c->cv, &c->mu);
    if (c->bail || c->n_jobs == 0) {
      pthread_cond_broadcast(&c->cv);
      pthread_mutex_unlock(&c->mu);
      return NULL;
    }
    job_t j = c->jobs[--c->n_jobs]; /* LIFO: depth first, keeps the queue short */
    pthread_mutex_unlock(&c->mu);
    if (j.type == 0) run_dir(c, j.node, a->root, a->root_len);
    else run_stat(c, j.node, j.begin, j.end);
    pthread_mutex_lock(&c->mu);
    if (--c->active == 0) pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
}

/* ---- output ---- */

typedef struct {
  char *paths;
  size_t len, cap;
  double *nums;
  size_t n_files;
  int failed;
} out_t;

static void out_path(out_t *o, const char *a, size_t al, const char *b, size_t bl) {
  size_t need = o->len + al + 1 + bl + 1;
  if (need > o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 1 << 16;
    while (nc < need) nc *= 2;
    char *np = realloc(o->paths, nc);
    if (!np) { o->failed = 1; return; }
    o->paths = np;
    o->cap = nc;
  }
  if (o->n_files > 0) o->paths[o->len++] = 0;
  memcpy(o->paths + o->len, a, al);
  o->len += al;
  if (b) {
    o->paths[o->len++] = '/';
    memcpy(o->paths + o->len, b, bl);
    o->len += bl;
  }
}

static size_t count_files(const node_t *n) {
  size_t k = 0;
  for (size_t i = 0; i < n->n_entries; i++) {
    const entry_t *e = &n->entries[i];
    if (e->kind == E_DIR) k += count_files(e->child);
    else if (e->ok) k++;
  }
  return k;
}

static void emit_node(out_t *o, const node_t *n) {
  for (size_t i = 0; i < n->n_entries && !o->failed; i++) {
    const entry_t *e = &n->entries[i];
    if (e->kind == E_DIR) { emit_node(o, e->child); continue; }
    if (!e->ok) continue;
    out_path(o, n->rel, n->rel_len, e->name, e->name_len);
    memcpy(o->nums + o->n_files * 4, e->nums, sizeof(e->nums));
    o->n_files++;
  }
}

/* ---- N-API ---- */

static char *get_string(napi_env env, napi_value v, size_t *len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok) { free(s); return NULL; }
  *len = n;
  return s;
}

typedef struct {
  char *rel;
  size_t rel_len;
  int dir;
  node_t *node;  /* dir items */
  int ok;        /* file items */
  double nums[4];
} item_t;

static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result = NULL, null_value;
  napi_get_null(env, &null_value);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "scan(root, items, threads)");
    return NULL;
  }
  int32_t threads = 1;
  if (argc >= 3) napi_get_value_int32(env, argv[2], &threads);
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;

  size_t root_len = 0;
  char *root = get_string(env, argv[0], &root_len);
  uint32_t n_items = 0;
  if (!root || napi_get_array_length(env, argv[1], &n_items) != napi_ok) {
    free(root);
    napi_throw_type_error(env, NULL, "scan: root must be a string and items an array");
    return NULL;
  }
  item_t *items = calloc(n_items ? n_items : 1, sizeof(item_t));
  ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  pthread_mutex_init(&ctx.mu, NULL);
  pthread_cond_init(&ctx.cv, NULL);
  int bad_args = !items;
  for (uint32_t i = 0; i < n_items && !bad_args; i++) {
    napi_value it, rel, dir;
    bool isdir = false;
    if (napi_get_element(env, argv[1], i, &it) != napi_ok ||
        napi_get_named_property(env, it, "rel", &rel) != napi_ok ||
        napi_get_named_property(env, it, "dir", &dir) != napi_ok ||
        napi_get_value_bool(env, dir, &isdir) != napi_ok ||
        !(items[i].rel = get_string(env, rel, &items[i].rel_len))) {
      bad_args = 1;
      break;
    }
    items[i].dir = isdir;
  }
  if (bad_args) {
    if (items) for (uint32_t i = 0; i < n_items; i++) free(items[i].rel);
    free(items);
    free(root);
    napi_throw_type_error(env, NULL, "scan: items must be {rel: string, dir: boolean}[]");
    return NULL;
  }

  /* Queue the dir items; stat the file items here. */
  for (uint32_t i = 0; i < n_items && !ctx.bail; i++) {
    item_t *it = &items[i];
    if (it->dir) {
      it->node = new_node(&ctx, root, root_len, it->rel, it->rel_len);
      if (!it->node) { ctx.bail = 1; break; }
      push_job(&ctx, (job_t){ 0, it->node, 0, 0 });
    } else {
      char *p = join3(root, root_len, it->rel, it->rel_len, NULL);
      int r = p ? stat_file(AT_FDCWD, p, it->nums) : -1;
      free(p);
      if (r < 0) ctx.bail = 1;
      else it->ok = r;
    }
  }

  worker_arg_t wa = { &ctx, root, root_len };
  pthread_t tids[MAX_THREADS];
  int started = 0;
  if (!ctx.bail) {
    for (int t = 1; t < threads; t++) {
      if (pthread_create(&tids[started], NULL, worker, &wa) != 0) break;
      started++;
    }
    worker(&wa);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
  }

  if (!ctx.bail) {
    out_t o;
    memset(&o, 0, sizeof o);
    size_t total = 0;
    for (uint32_t i = 0; i < n_items; i++) total += items[i].dir ? count_files(items[i].node) : (size_t)items[i].ok;
    napi_value ab, nums, paths;
    void *ab_data = NULL;
    if (napi_create_arraybuffer(env, total * 4 * sizeof(double), &ab_data, &ab) == napi_ok) {
      o.nums = ab_data;
      for (uint32_t i = 0; i < n_items && !o.failed; i++) {
        item_t *it = &items[i];
        if (it->dir) emit_node(&o, it->node);
        else if (it->ok) {
          out_path(&o, it->rel, it->rel_len, NULL, 0);
          memcpy(o.nums + o.n_files * 4, it->nums, sizeof(it->nums));
          o.n_files++;
        }
      }
      if (!o.failed && o.n_files == total &&
          napi_create_typedarray(env, napi_float64_array, total * 4, ab, 0, &nums) == napi_ok &&
          napi_create_string_utf8(env, o.paths ? o.paths : "", o.len, &paths) == napi_ok &&
          napi_create_object(env, &result) == napi_ok) {
        napi_value count;
        napi_create_uint32(env, (uint32_t)total, &count);
        napi_set_named_property(env, result, "count", count);
        napi_set_named_property(env, result, "paths", paths);
        napi_set_named_property(env, result, "nums", nums);
      } else {
        result = NULL;
      }
    }
    free(o.paths);
  }

  free_ctx(&ctx);
  pthread_mutex_destroy(&ctx.mu);
  pthread_cond_destroy(&ctx.cv);
  for (uint32_t i = 0; i < n_items; i++) free(items[i].rel);
  free(items);
  free(root);
  return result ? result : null_value;
}

napi_value cdc_set_gear(napi_env env, napi_callback_info info);
napi_value cdc_cut(napi_env env, napi_callback_info info);
napi_value page_offset(napi_env env, napi_callback_info info);
napi_value copy_bytes(napi_env env, napi_callback_info info);
napi_value md5_many_js(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  napi_value fn, abi;
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan, NULL, &fn);
  napi_set_named_property(env, exports, "scan", fn);
  napi_create_function(env, "cdcSetGear", NAPI_AUTO_LENGTH, cdc_set_gear, NULL, &fn);
  napi_set_named_property(env, exports, "cdcSetGear", fn);
  napi_create_function(env, "cdcCut", NAPI_AUTO_LENGTH, cdc_cut, NULL, &fn);
  napi_set_named_property(env, exports, "cdcCut", fn);
  napi_create_function(env, "pageOffset", NAPI_AUTO_LENGTH, page_offset, NULL, &fn);
  napi_set_named_property(env, exports, "pageOffset", fn);
  napi_create_function(env, "copyBytes", NAPI_AUTO_LENGTH, copy_bytes, NULL, &fn);
  napi_set_named_property(env, exports, "copyBytes", fn);
  napi_create_function(env, "md5Many", NAPI_AUTO_LENGTH, md5_many_js, NULL, &fn);
  napi_set_named_property(env, exports, "md5Many", fn);
#ifndef DV_NO_SPAWN
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, spawn_process, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  napi_create_function(env, "spawnIsolated", NAPI_AUTO_LENGTH, spawn_isolated, NULL, &fn);
  napi_set_named_property(env, exports, "spawnIsolated", fn);
#endif
  napi_create_uint32(env, DVSCAN_ABI, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  return exports;
}
