// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and LevelDB.
// Swift cannot emit the CPU's crc32 instruction, and a table-driven CRC in Swift runs at about
// 1-2 GB/s: on a 256 KiB value that costs as much as the pread itself. This file is the only C in
// the library; it computes nothing else.
#include "CKVSupport.h"
#include <string.h>

static uint32_t kv_table[8][256];
static int kv_table_ready = 0;

static void kv_build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        kv_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        for (int t = 1; t < 8; t++) kv_table[t][n] = (kv_table[t - 1][n] >> 8) ^ kv_table[0][kv_table[t - 1][n] & 0xFF];
    }
    __atomic_store_n(&kv_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t kv_crc_software(uint32_t crc, const unsigned char *p, size_t n) {
    if (!__atomic_load_n(&kv_table_ready, __ATOMIC_ACQUIRE)) kv_build_table();
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = kv_table[7][w & 0xFF] ^ kv_table[6][(w >> 8) & 0xFF] ^ kv_table[5][(w >> 16) & 0xFF] ^
              kv_table[4][(w >> 24) & 0xFF] ^ kv_table[3][(w >> 32) & 0xFF] ^ kv_table[2][(w >> 40) & 0xFF] ^
              kv_table[1][(w >> 48) & 0xFF] ^ kv_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = kv_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

// Products in GF(2) modulo the CRC-32C polynomial, in the reflected bit order the CRC uses
// (x^0 is the top bit). Used to join CRCs computed over consecutive blocks independently:
// crc(A || B) = crc(A) * x^(8|B|) + crc(B) for the raw (not inverted) register.
static uint32_t kv_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 0x80000000u; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return product;
}

// shift[k] = x^(8 * 2^k) mod P: multiplying by it moves a CRC past 2^k zero bytes.
static uint32_t kv_shift[24];
static int kv_shift_ready = 0;

static void kv_build_shift(void) {
    uint32_t power = 0x40000000u;  // x^1
    for (int i = 0; i < 3; i++) power = kv_multiply(power, power);  // x^8: one byte
    for (int k = 0; k < 24; k++) {
        kv_shift[k] = power;
        power = kv_multiply(power, power);
    }
    __atomic_store_n(&kv_shift_ready, 1, __ATOMIC_RELEASE);
}

__attribute__((target("sse4.2")))
static uint64_t kv_crc_stream(uint64_t c, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t a;
        memcpy(&a, p, 8);
        c = _mm_crc32_u64(c, a);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

__attribute__((target("sse4.2")))
static uint32_t kv_crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    // The crc32 instruction takes three cycles but can start one per cycle: three independent
    // streams over three consecutive blocks keep it busy, and their CRCs are then joined.
    if (n >= 3 * 256) {
        if (!__atomic_load_n(&kv_shift_ready, __ATOMIC_ACQUIRE)) kv_build_shift();
        uint64_t c0 = crc;
        while (n >= 3 * 256) {
            int k = 8;  // block = 2^k bytes, the largest that fits three times, at most 16 KiB
            while (k < 14 && ((size_t)3 << (k + 1)) <= n) k++;
            size_t block = (size_t)1 << k;
            const unsigned char *p1 = p + block, *p2 = p + 2 * block;
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < block; i += 8) {
                uint64_t a, b, d;
                memcpy(&a, p + i, 8);
                memcpy(&b, p1 + i, 8);
                memcpy(&d, p2 + i, 8);
                c0 = _mm_crc32_u64(c0, a);
                c1 = _mm_crc32_u64(c1, b);
                c2 = _mm_crc32_u64(c2, d);
            }
            uint32_t joined = kv_multiply((uint32_t)c0, kv_shift[k]) ^ (uint32_t)c1;
            c0 = kv_multiply(joined, kv_shift[k]) ^ (uint32_t)c2;
            p += 3 * block;
            n -= 3 * block;
        }
        crc = (uint32_t)c0;
    }
    return (uint32_t)kv_crc_stream(crc, p, n);
}

static int kv_has_sse42(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

uint32_t kv_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
#if defined(__x86_64__)
    if (kv_has_sse42()) return ~kv_crc_hardware(crc, p, length);
#endif
    return ~kv_crc_software(crc, p, length);
}
