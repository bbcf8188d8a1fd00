/*
 * MD5 of up to 16 messages at once, one per 32-bit lane of AVX-512 registers
 * ("multi-buffer" hashing). MD5 cannot be split within a message (each block needs the
 * previous one's state), so one message runs at one core's scalar speed, ~4.5 cycles a
 * byte (OpenSSL's assembly): 1.5 s of the 4.4 s of CPU a `dv add` of 1 GiB took. Many
 * files at once do not have that limit: the 16 lanes run the same 64 steps on 16
 * messages' blocks side by side. src/repo/md5-worker.ts hands it the small files whose
 * bytes it holds at once; everything else, and any machine without AVX-512, goes
 * through OpenSSL as before.
 *
 *   md5Many(views: Uint8Array[]) -> Buffer of 16 bytes per view (the digests), or null
 *   when this CPU has no AVX-512F or is not x86-64 (the caller hashes another way).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MD5X16 1
#include <immintrin.h>
#endif

#define LANES 16

/* floor(|sin(i + 1)| * 2^32), RFC 1321's table. */
static const uint32_t K[64] = {
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const int S[64] = {
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* The index of the message word step i reads. */
static inline int word_of(int i) {
  if (i < 16) return i;
  if (i < 32) return (5 * i + 1) & 15;
  if (i < 48) return (3 * i + 5) & 15;
  return (7 * i) & 15;
}

typedef struct {
  const uint8_t *data;
  size_t full;         /* whole 64-byte blocks of the message itself */
  size_t blocks;       /* with the padding's one or two */
  uint8_t tail[128];   /* the last partial block, the 0x80 byte, zeros and the bit length */
} lane_t;

static void lane_setup(lane_t *l, const uint8_t *data, size_t len) {
  l->data = data;
  l->full = len / 64;
  size_t rem = len % 64;
  size_t tail_blocks = rem < 56 ? 1 : 2;
  l->blocks = l->full + tail_blocks;
  memset(l->tail, 0, sizeof l->tail);
  if (rem) memcpy(l->tail, data + l->full * 64, rem);
  l->tail[rem] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) l->tail[tail_blocks * 64 - 8 + i] = (uint8_t)(bits >> (8 * i));
}

#ifdef MD5X16
static const uint8_t zero_block[64];

/* Digests of n <= 16 lanes into out (16 bytes each). */
__attribute__((target("avx512f")))
static void md5_lanes(lane_t *lanes, int n, uint8_t *out) {
  __m512i a = _mm512_set1_epi32(0x67452301), b = _mm512_set1_epi32((int)0xefcdab89);
  __m512i c = _mm512_set1_epi32((int)0x98badcfe), d = _mm512_set1_epi32(0x10325476);
  size_t most = 0;
  for (int i = 0; i < n; i++) if (lanes[i].blocks > most) most = lanes[i].blocks;
  uint64_t addr[LANES] __attribute__((aligned(64)));
  for (size_t k = 0; k < most; k++) {
    __mmask16 live = 0;
    for (int i = 0; i < LANES; i++) {
      const uint8_t *p = zero_block;
      if (i < n && k < lanes[i].blocks) {
        p = k < lanes[i].full ? lanes[i].data + k * 64 : lanes[i].tail + (k - lanes[i].full) * 64;
        live |= (__mmask16)(1u << i);
      }
      addr[i] = (uint64_t)(uintptr_t)p;
    }
    __m512i lo = _mm512_load_si512((const void *)addr), hi = _mm512_load_si512((const void *)(addr + 8));
    __m512i m[16];
    for (int w = 0; w < 16; w++) {
      __m512i off = _mm512_set1_epi64(w * 4);
      __m256i l8 = _mm512_i64gather_epi32(_mm512_add_epi64(lo, off), NULL, 1);
      __m256i h8 = _mm512_i64gather_epi32(_mm512_add_epi64(hi, off), NULL, 1);
      m[w] = _mm512_inserti64x4(_mm512_castsi256_si512(l8), h8, 1);
    }
    __m512i aa = a, bb = b, cc = c, dd = d;
    for (int i = 0; i < 64; i++) {
      __m512i f;
      if (i < 16) f = _mm512_ternarylogic_epi32(bb, cc, dd, 0xCA);       /* b ? c : d */
      else if (i < 32) f = _mm512_ternarylogic_epi32(bb, cc, dd, 0xE4);  /* d ? b : c */
      else if (i < 48) f = _mm512_ternarylogic_epi32(bb, cc, dd, 0x96);  /* b ^ c ^ d */
      else f = _mm512_ternarylogic_epi32(bb, cc, dd, 0x39);              /* c ^ (b | ~d) */
      __m512i t = _mm512_add_epi32(_mm512_add_epi32(aa, f), _mm512_add_epi32(_mm512_set1_epi32((int)K[i]), m[word_of(i)]));
      t = _mm512_rolv_epi32(t, _mm512_set1_epi32(S[i]));
      aa = dd;
      dd = cc;
      cc = bb;
      bb = _mm512_add_epi32(bb, t);
    }
    a = _mm512_mask_add_epi32(a, live, a, aa);
    b = _mm512_mask_add_epi32(b, live, b, bb);
    c = _mm512_mask_add_epi32(c, live, c, cc);
    d = _mm512_mask_add_epi32(d, live, d, dd);
  }
  uint32_t st[4][LANES] __attribute__((aligned(64)));
  _mm512_store_si512((void *)st[0], a);
  _mm512_store_si512((void *)st[1], b);
  _mm512_store_si512((void *)st[2], c);
  _mm512_store_si512((void *)st[3], d);
  for (int i = 0; i < n; i++)
    for (int r = 0; r < 4; r++)
      for (int j = 0; j < 4; j++) out[i * 16 + r * 4 + j] = (uint8_t)(st[r][i] >> (8 * j));
}

static int md5x16_supported(void) {
  return __builtin_cpu_supports("avx512f");
}
#else
/* Other CPUs: md5Many answers null and the MD5 thread hashes one file after another. */
static int md5x16_supported(void) { return 0; }
static void md5_lanes(lane_t *lanes, int n, uint8_t *out) { (void)lanes; (void)n; (void)out; }
#endif

napi_value md5_many_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  uint32_t n;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "md5Many: expected an array of Uint8Arrays");
    return NULL;
  }
  if (!md5x16_supported()) {
    napi_get_null(env, &result);
    return result;
  }
  lane_t lanes[LANES];
  uint8_t *out;
  if (napi_create_buffer(env, (size_t)n * 16, (void **)&out, &result) != napi_ok) return NULL;
  for (uint32_t at = 0; at < n; at += LANES) {
    uint32_t k = n - at < LANES ? n - at : LANES;
    for (uint32_t i = 0; i < k; i++) {
      napi_value v;
      napi_typedarray_type type;
      size_t len;
      void *data;
      if (napi_get_element(env, argv[0], at + i, &v) != napi_ok ||
          napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
        napi_throw_type_error(env, NULL, "md5Many: expected an array of Uint8Arrays");
        return NULL;
      }
      lane_setup(&lanes[i], (const uint8_t *)data, len);
    }
    md5_lanes(lanes, (int)k, out + (size_t)at * 16);
  }
  return result;
}
