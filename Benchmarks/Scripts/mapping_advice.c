// mapping_advice.c — which madvise advice (and whether to prefault) for read-only MAP_SHARED
// mappings of sealed segment files, measured on the machine it runs on.
//
// Build:  cc -O2 -o /tmp/mapping_advice Benchmarks/Scripts/mapping_advice.c
// Run:    /tmp/mapping_advice [directory=/tmp/madv] [repetitions=5]
//
// Self-contained (libc only). CRC-32C uses the SSE4.2 crc32 instruction when the CPU has it
// (compiled per function with a target attribute, so no -msse4.2 is needed), else slicing-by-8.
// Every measurement is repeated (repetitions, interleaved with the other variants of the same
// table) and the median is printed. Files (640 MiB kept for the whole run, 4 × 64 MiB for part
// 5 and 2 GiB for part 4) are created in the directory and deleted when done; the run takes
// about 2 minutes with 5 repetitions. Needs ~3.5 GiB of free memory to keep the files cached.
// Page-cache eviction (part 4) uses fsync + POSIX_FADV_DONTNEED on the benchmark's own files
// only. See mapping_advice.md for what each part measures.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

#define MiB (1024UL * 1024UL)
#define PAGE 4096UL
#define MAXREPS 32  // samples per statistic; the command line allows up to 9 repetitions

// ---------------------------------------------------------------------------------------------
// CRC-32C (Castagnoli), reflected, init/xorout 0xFFFFFFFF. crc32c("123456789") == 0xE3069283.

static uint32_t crc_table[8][256];

static void crc_sw_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc32c_sw(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= c;
        c = crc_table[7][v & 0xFF] ^ crc_table[6][(v >> 8) & 0xFF] ^ crc_table[5][(v >> 16) & 0xFF] ^
            crc_table[4][(v >> 24) & 0xFF] ^ crc_table[3][(v >> 32) & 0xFF] ^ crc_table[2][(v >> 40) & 0xFF] ^
            crc_table[1][(v >> 48) & 0xFF] ^ crc_table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    if (n >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = _mm_crc32_u32(c32, v);
        p += 4;
        n -= 4;
    }
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

static uint32_t (*crc32c)(const void *, size_t) = crc32c_sw;
static const char *crc_kind = "software slicing-by-8";

static void crc_init(void) {
    crc_sw_init();
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc32c = crc32c_hw;
        crc_kind = "SSE4.2 _mm_crc32_u64, one stream";
    }
#endif
    if (crc32c("123456789", 9) != 0xE3069283u || crc32c_sw("123456789", 9) != 0xE3069283u) {
        fprintf(stderr, "CRC-32C self-test failed\n");
        exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// CPU time of the calling thread. The machine is shared (other processes in the VM, and a host
// that does not always run both vCPUs): time the thread was not running is not counted, time
// in the kernel on its behalf (faults, page-table work, IPIs it waits for or handles) is.
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long minflt(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return r.ru_minflt;
}

static long majflt(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return r.ru_majflt;
}

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double t[MAXREPS];
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

// Random 8-aligned offsets of records of `rec` bytes lying wholly inside a file of `size` bytes.
static void make_offsets(uint64_t *out, int n, size_t size, size_t rec, uint64_t seed) {
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    uint64_t slots = (size - rec) / 8 + 1;
    for (int i = 0; i < n; i++) out[i] = (rnd() % slots) * 8;
}

static char *read_small_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) return NULL;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    return buf;
}

static long long proc_io_read_bytes(void) {
    char buf[2048];
    if (!read_small_file("/proc/self/io", buf, sizeof buf)) return -1;
    char *p = strstr(buf, "\nread_bytes:");
    return p ? atoll(p + 12) : -1;
}

// Resident pages of the file's page cache (mincore over a throwaway mapping).
static size_t resident_pages(int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap(mincore)");
    size_t pages = (size + PAGE - 1) / PAGE;
    unsigned char *vec = malloc(pages);
    if (mincore(p, size, vec) != 0) die("mincore");
    size_t n = 0;
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    free(vec);
    munmap(p, size);
    return n;
}

// FilePmdMapped (KiB) of the mapping starting at p, from /proc/self/smaps.
static long file_pmd_kib(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512], want[40];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    int in = 0;
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (!in) {
            if (strncmp(line, want, strlen(want)) == 0) in = 1;
        } else if (strncmp(line, "FilePmdMapped:", 14) == 0) {
            kib = atol(line + 14);
        } else if (strncmp(line, "VmFlags:", 8) == 0) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static void evict(int fd) {
    if (fsync(fd) != 0) die("fsync");
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) die("posix_fadvise(DONTNEED)");
}

static void fill_random(uint8_t *p, size_t n, uint64_t *state) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        x *= 0x2545F4914F6CDD1DULL;
        memcpy(p + i, &x, 8);
    }
}

// Page-cache states the benchmark can put a file in (see part 5).
enum { FILL_WRITER, FILL_WRITE, FILL_REREAD, FILL_PREAD4K };
static const char *fill_name[] = {
    "writer-style: posix_fallocate + MAP_SHARED + MADV_POPULATE_WRITE per 1 MiB + stores",
    "write(2) in 1 MiB chunks",
    "evicted, then read(2) back sequentially in 1 MiB chunks (readahead)",
    "evicted, then pread 4 KiB page by page with POSIX_FADV_RANDOM",
};
static const char *fill_short[] = {"writer mmap", "write() 1MiB", "re-read (readahead)", "pread 4K, FADV_RANDOM"};

// Creates a file of `size` bytes of pseudo-random data and leaves it in the page cache as `how`
// says. Returns a read-only descriptor.
static int make_file(const char *path, size_t size, int how, uint64_t seed) {
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path);
    uint64_t st = seed | 1;
    if (how == FILL_WRITER) {
        // What KVStore's writer does with the active segment: preallocate, map read-write,
        // populate for writing 1 MiB ahead, store the records.
        int rc = posix_fallocate(fd, 0, (off_t)size);
        if (rc != 0) { errno = rc; die("posix_fallocate"); }
        uint8_t *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (w == MAP_FAILED) die("mmap(writer)");
        for (size_t off = 0; off < size; off += MiB) {
            size_t n = size - off < MiB ? size - off : MiB;
            madvise(w + off, n, MADV_POPULATE_WRITE);
            fill_random(w + off, n, &st);
        }
        munmap(w, size);
        if (ftruncate(fd, (off_t)size) != 0) die("ftruncate");  // sealing truncates to the end
        if (fsync(fd) != 0) die("fsync");
    } else {
        uint8_t *b = malloc(MiB);
        for (size_t off = 0; off < size; off += MiB) {
            size_t n = size - off < MiB ? size - off : MiB;
            fill_random(b, n, &st);
            if (write(fd, b, n) != (ssize_t)n) die("write");
        }
        if (fsync(fd) != 0) die("fsync");
        if (how == FILL_REREAD) {
            evict(fd);
            for (size_t off = 0; off < size; off += MiB)
                if (pread(fd, b, MiB, (off_t)off) < 0) die("pread");
        } else if (how == FILL_PREAD4K) {
            evict(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
            for (size_t off = 0; off < size; off += PAGE)
                if (pread(fd, b, PAGE, (off_t)off) < 0) die("pread");
        }
        free(b);
    }
    close(fd);
    fd = open(path, O_RDONLY);
    if (fd < 0) die(path);
    return fd;
}

// Reads the whole file once with pread, so that every page is in the page cache.
static void warm(int fd, size_t size) {
    uint8_t *b = malloc(MiB);
    for (size_t off = 0; off < size; off += MiB)
        if (pread(fd, b, MiB, (off_t)off) < 0) die("pread");
    free(b);
}

// Re-reads the file if any of its pages left the page cache (this VM runs a DAMON "pageout"
// scheme for cold unmapped page cache, which takes pages of idle benchmark files). Counts how often.
static int rewarms;
static void ensure_warm(int fd, size_t size) {
    if (resident_pages(fd, size) < size / PAGE) {
        warm(fd, size);
        rewarms++;
    }
}

// ---------------------------------------------------------------------------------------------
// Read loops. Each read computes the CRC-32C of the record; the CRCs are xor-ed together so the
// work cannot be optimised away and so that every method can be checked to have read the same
// bytes.

static uint32_t read_mapped(const uint8_t *base, const uint64_t *offs, int n, size_t rec) {
    uint32_t x = 0;
    for (int i = 0; i < n; i++) x ^= crc32c(base + offs[i], rec);
    return x;
}

static uint32_t read_pread(int fd, uint8_t *buf, const uint64_t *offs, int n, size_t rec) {
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        if (pread(fd, buf, rec, (off_t)offs[i]) != (ssize_t)rec) die("pread");
        x ^= crc32c(buf, rec);
    }
    return x;
}

static volatile uint64_t sink;
static void touch_all(const uint8_t *p, size_t size) {
    uint64_t s = 0;
    for (size_t i = 0; i < size; i += PAGE) s += p[i];
    sink += s;
}

// ---------------------------------------------------------------------------------------------
// Parts 1 and 2: warm page cache, one method per run.

enum { M_PREAD, M_NONE, M_RANDOM, M_WILLNEED, M_SEQUENTIAL, M_HUGEPAGE, M_MAP_POPULATE, M_POPULATE_READ,
       M_RANDOM_POPULATE_READ, NMETHODS };
static const char *method_name[] = {"pread + CRC", "mmap, no advice", "MADV_RANDOM", "MADV_WILLNEED",
                                    "MADV_SEQUENTIAL", "MADV_HUGEPAGE", "MAP_POPULATE", "MADV_POPULATE_READ",
                                    "MADV_RANDOM+POPULATE_READ"};

typedef struct {
    double setup_us;    // mmap + madvise (+ populate)
    double fresh_rps;   // n_fresh reads / (setup + reads) on a new mapping
    double fresh_flt;   // minor faults during setup + fresh reads
    double touch_flt;   // minor faults to touch every page afterwards
    double steady_rps;  // n_steady reads on the same, fully faulted mapping
    double steady_flt;
    double pmd_mib;     // FilePmdMapped after touching every page
    double munmap_us;   // munmap of the fully faulted mapping
    uint32_t xf, xs;
} result_t;

// Steady-state rate: the reads are timed in STEADY_CHUNKS consecutive chunks and the median chunk
// rate is returned, so that a chunk in which the vCPU was preempted does not decide the result.
// mapped > 0: read through the mapping at p; else pread from fd into p.
#define STEADY_CHUNKS 10
static double steady_rate(int mapped, int fd, uint8_t *p, const uint64_t *os, int ns, size_t rec, uint32_t *x) {
    double rates[STEADY_CHUNKS];
    int per = ns / STEADY_CHUNKS;
    uint32_t acc = 0;
    for (int c = 0; c < STEADY_CHUNKS; c++) {
        double t0 = cpu_now();
        acc ^= mapped > 0 ? read_mapped(p, os + c * per, per, rec) : read_pread(fd, p, os + c * per, per, rec);
        rates[c] = per / (cpu_now() - t0);
    }
    *x = acc;
    qsort(rates, STEADY_CHUNKS, sizeof(double), cmp_double);
    return 0.5 * (rates[STEADY_CHUNKS / 2 - 1] + rates[STEADY_CHUNKS / 2]);
}

static result_t run_warm(int fd, size_t size, size_t rec, int method, const uint64_t *of, int nf,
                         const uint64_t *os, int ns, uint8_t *buf) {
    result_t r = {0};
    if (method == M_PREAD) {
        long f0 = minflt();
        double t0 = cpu_now();
        r.xf = read_pread(fd, buf, of, nf, rec);
        double t1 = cpu_now();
        r.fresh_flt = (double)(minflt() - f0);
        r.fresh_rps = nf / (t1 - t0);
        f0 = minflt();
        r.steady_rps = steady_rate(-1, fd, buf, os, ns, rec, &r.xs);
        r.steady_flt = (double)(minflt() - f0);
        r.setup_us = r.touch_flt = r.pmd_mib = r.munmap_us = 0;
        return r;
    }
    long f0 = minflt();
    double t0 = cpu_now();
    int flags = MAP_SHARED | (method == M_MAP_POPULATE ? MAP_POPULATE : 0);
    uint8_t *p = mmap(NULL, size, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    int rc = 0;
    switch (method) {
    case M_RANDOM: rc = madvise(p, size, MADV_RANDOM); break;
    case M_WILLNEED: rc = madvise(p, size, MADV_WILLNEED); break;
    case M_SEQUENTIAL: rc = madvise(p, size, MADV_SEQUENTIAL); break;
    case M_HUGEPAGE: rc = madvise(p, size, MADV_HUGEPAGE); break;
    case M_POPULATE_READ: rc = madvise(p, size, MADV_POPULATE_READ); break;
    case M_RANDOM_POPULATE_READ:
        rc = madvise(p, size, MADV_RANDOM);
        if (rc == 0) rc = madvise(p, size, MADV_POPULATE_READ);
        break;
    }
    if (rc != 0) die(method_name[method]);
    double t1 = cpu_now();
    r.xf = read_mapped(p, of, nf, rec);
    double t2 = cpu_now();
    r.fresh_flt = (double)(minflt() - f0);
    r.setup_us = (t1 - t0) * 1e6;
    r.fresh_rps = nf / (t2 - t0);
    f0 = minflt();
    touch_all(p, size);
    r.touch_flt = (double)(minflt() - f0);
    r.pmd_mib = file_pmd_kib(p) / 1024.0;
    f0 = minflt();
    r.steady_rps = steady_rate(1, -1, p, os, ns, rec, &r.xs);
    r.steady_flt = (double)(minflt() - f0);
    t0 = cpu_now();
    munmap(p, size);
    r.munmap_us = (cpu_now() - t0) * 1e6;
    return r;
}

static void fmt_rate(char *out, size_t cap, double rps) {
    if (rps >= 1e6) snprintf(out, cap, "%.2f M", rps / 1e6);
    else if (rps >= 1e3) snprintf(out, cap, "%.0f k", rps / 1e3);
    else snprintf(out, cap, "%.0f", rps);
}

static void part_warm(int fd64, int fd512, int reps) {
    const size_t sizes[2] = {64 * MiB, 512 * MiB};
    const int fds[2] = {fd64, fd512};
    const size_t recs[3] = {132, 4096, 256 * 1024};
    const int nfresh[3] = {20000, 20000, 1000};
    const int nsteady[3] = {200000, 50000, 1000};
    static result_t res[2][3][NMETHODS][MAXREPS];
    uint8_t *buf = aligned_alloc(4096, 256 * 1024);
    uint64_t *of = malloc(sizeof(uint64_t) * 20000), *os = malloc(sizeof(uint64_t) * 200000);
    int mismatch = 0;
    double t_start = now();
    long maj0 = majflt();
    rewarms = 0;
    long long io0 = proc_io_read_bytes();
    for (int rep = 0; rep < reps; rep++) {
        for (int s = 0; s < 2; s++) {
            for (int k = 0; k < 3; k++) {
                make_offsets(of, nfresh[k], sizes[s], recs[k], 1000 + rep);
                make_offsets(os, nsteady[k], sizes[s], recs[k], 2000 + rep);
                for (int j = 0; j < NMETHODS; j++) {
                    int m = (j + rep) % NMETHODS;  // rotate the order from one repetition to the next
                    ensure_warm(fds[s], sizes[s]);
                    res[s][k][m][rep] = run_warm(fds[s], sizes[s], recs[k], m, of, nfresh[k], os, nsteady[k], buf);
                }
                for (int m = 1; m < NMETHODS; m++)
                    if (res[s][k][m][rep].xf != res[s][k][0][rep].xf || res[s][k][m][rep].xs != res[s][k][0][rep].xs)
                        mismatch = 1;
            }
        }
    }
    long majors = majflt() - maj0;
    long long io_bytes = proc_io_read_bytes() - io0;
    printf("\n## Parts 1-2: random reads, warm page cache (median of %d, %.1f s)\n\n", reps, now() - t_start);
    printf("Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID). Check that the cache stayed warm: %ld major faults,\n"
           "%.1f MiB read from disk during parts 1-2; before %d of the %d runs the file was not wholly cached and was read again.\n",
           majors, io_bytes / (double)MiB, rewarms, reps * 2 * 3 * NMETHODS);
    printf("fresh = new mapping per run: mmap + advice (+ populate) + N reads, all timed (N = 20,000 for 132 B and 4 KiB,\n"
           "1,000 for 256 KiB); steady = the same mapping after every page was touched (N = 200,000 / 50,000 / 1,000,\n"
           "timed in 10 chunks, median chunk).\n"
           "flt = minor faults (getrusage). touch flt = faults to touch every remaining page after the fresh reads.\n"
           "spread = (max - min) / median of steady reads/s over the repetitions. PMD = FilePmdMapped of the mapping\n"
           "after touching. munmap = munmap of the fully faulted mapping.\n"
           "CRCs identical across methods: %s\n\n",
           mismatch ? "NO (bug)" : "yes");
    printf("| file | record | method | setup µs | fresh reads/s | fresh flt | touch flt | steady reads/s | spread | steady flt | PMD MiB | munmap µs |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const char *recname[3] = {"132 B", "4 KiB", "256 KiB"};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++)
            for (int m = 0; m < NMETHODS; m++) {
                double v[9][MAXREPS];
                for (int r = 0; r < reps; r++) {
                    result_t *x = &res[s][k][m][r];
                    v[0][r] = x->setup_us; v[1][r] = x->fresh_rps; v[2][r] = x->fresh_flt; v[3][r] = x->touch_flt;
                    v[4][r] = x->steady_rps; v[5][r] = x->steady_flt; v[6][r] = x->pmd_mib; v[7][r] = x->munmap_us;
                }
                char fr[32], sr[32], sp[16];
                double lo = v[4][0], hi = v[4][0];
                for (int r = 1; r < reps; r++) { if (v[4][r] < lo) lo = v[4][r]; if (v[4][r] > hi) hi = v[4][r]; }
                snprintf(sp, sizeof sp, "%.0f%%", 100 * (hi - lo) / median(v[4], reps));
                fmt_rate(fr, sizeof fr, median(v[1], reps));
                fmt_rate(sr, sizeof sr, median(v[4], reps));
                if (m == M_PREAD)
                    printf("| %s | %s | %s | – | %s | %.0f | – | %s | %s | %.0f | – | – |\n", s ? "512 MiB" : "64 MiB", recname[k],
                           method_name[m], fr, median(v[2], reps), sr, sp, median(v[5], reps));
                else
                    printf("| %s | %s | %s | %.0f | %s | %.0f | %.0f | %s | %s | %.0f | %.0f | %.0f |\n", s ? "512 MiB" : "64 MiB",
                           recname[k], method_name[m], median(v[0], reps), fr, median(v[2], reps), median(v[3], reps), sr, sp,
                           median(v[5], reps), median(v[6], reps), median(v[7], reps));
            }
    free(buf);
    free(of);
    free(os);
}

// ---------------------------------------------------------------------------------------------
// Part 3: set-up and tear-down, and munmap while another thread reads.

#define NMAPS 16
#define HBINS 1001

typedef struct {
    const uint8_t *m;
    size_t size;
    atomic_int state;   // rep * 4 + phase; -1 = stop
    atomic_int ready;
    atomic_uint beat;  // batches completed, so the other thread can see the reader is running
    double ns[MAXREPS][4];
    double n[MAXREPS][4];
    // Histogram of ns per read for each batch of 64 reads, 5 ns bins; the last bin is overflow.
    unsigned hist[MAXREPS][4][HBINS];
} reader_t;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *reader_main(void *arg) {
    reader_t *rd = arg;
    pin(0);
    uint64_t offs[4096];
    make_offsets(offs, 4096, rd->size, 132, 77);
    atomic_store(&rd->ready, 1);
    uint32_t x = 0;
    int i = 0;
    for (;;) {
        int s0 = atomic_load_explicit(&rd->state, memory_order_acquire);
        if (s0 < 0) break;
        double t0 = cpu_now();
        for (int k = 0; k < 64; k++, i = (i + 1) & 4095) x ^= crc32c(rd->m + offs[i], 132);
        double t1 = cpu_now();
        int s1 = atomic_load_explicit(&rd->state, memory_order_acquire);
        if (s0 == s1) {
            int rep = s0 / 4, ph = s0 % 4;
            rd->ns[rep][ph] += (t1 - t0) * 1e9;
            rd->n[rep][ph] += 64;
            int bin = (int)((t1 - t0) * 1e9 / 64 / 5);
            rd->hist[rep][ph][bin < HBINS - 1 ? bin : HBINS - 1]++;
        }
        atomic_fetch_add_explicit(&rd->beat, 1, memory_order_release);
    }
    sink += x;
    return NULL;
}

// TLB-shootdown interrupts taken by CPU 0 so far ("TLB:" line of /proc/interrupts), or -1.
static long long tlb_interrupts_cpu0(void) {
    FILE *f = fopen("/proc/interrupts", "r");
    if (!f) return -1;
    char line[4096];
    long long v = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ') p++;
        if (strncmp(p, "TLB:", 4) == 0) { v = atoll(p + 4); break; }
    }
    fclose(f);
    return v;
}

// Quantile q of a histogram of 5 ns bins (bin centre), in ns.
static double hist_quantile(const unsigned *h, double q) {
    double total = 0, acc = 0;
    for (int i = 0; i < HBINS; i++) total += h[i];
    if (total == 0) return 0;
    for (int i = 0; i < HBINS; i++) {
        acc += h[i];
        if (acc >= q * total) return i * 5 + 2.5;
    }
    return (HBINS - 1) * 5;
}

// Waits (up to 100 ms) until the reader completes a batch, i.e. until it is running right now:
// the machine is shared, and a reader that is not on its CPU cannot be disturbed by an munmap.
static void wait_for_reader(reader_t *rd) {
    unsigned b0 = atomic_load_explicit(&rd->beat, memory_order_acquire);
    double t0 = now();
    while (atomic_load_explicit(&rd->beat, memory_order_acquire) == b0 && now() - t0 < 0.1) {}
}

static void sleep_ms(double ms) {
    long ns = (long)(ms * 1e6);
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&t, NULL);
}

static void part_setup(int fd64, const char *path64b, int reps_in) {
    const size_t size = 64 * MiB;
    const int n1 = 3 * reps_in;  // cheap: three samples per repetition
    int reps = reps_in;
    double mmap_us[MAXREPS], munmap_untouched_us[MAXREPS], pop_ms[MAXREPS], mappop_ms[MAXREPS], munmap_full_us[MAXREPS],
        munmap_full_mappop_us[MAXREPS];
    for (int r = 0; r < n1; r++) {
        ensure_warm(fd64, size);
        double t0 = cpu_now();
        void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd64, 0);
        double t1 = cpu_now();
        munmap(p, size);
        double t2 = cpu_now();
        mmap_us[r] = (t1 - t0) * 1e6;
        munmap_untouched_us[r] = (t2 - t1) * 1e6;

        t0 = cpu_now();
        p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd64, 0);
        if (madvise(p, size, MADV_POPULATE_READ) != 0) die("MADV_POPULATE_READ");
        t1 = cpu_now();
        munmap(p, size);
        t2 = cpu_now();
        pop_ms[r] = (t1 - t0) * 1e3;
        munmap_full_us[r] = (t2 - t1) * 1e6;

        t0 = cpu_now();
        p = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd64, 0);
        t1 = cpu_now();
        munmap(p, size);
        t2 = cpu_now();
        mappop_ms[r] = (t1 - t0) * 1e3;
        munmap_full_mappop_us[r] = (t2 - t1) * 1e6;
    }
    printf("\n## Part 3: set-up and tear-down of a mapping of a cached 64 MiB file (single thread, thread CPU time, median of %d)\n\n", n1);
    printf("| operation | median |\n|---|---:|\n");
    printf("| mmap, no populate | %.1f µs |\n", median(mmap_us, n1));
    printf("| munmap, never touched | %.1f µs |\n", median(munmap_untouched_us, n1));
    printf("| mmap + MADV_POPULATE_READ | %.2f ms (%.1f µs/MiB) |\n", median(pop_ms, n1), median(pop_ms, n1) * 1e3 / 64);
    printf("| mmap(MAP_POPULATE) | %.2f ms (%.1f µs/MiB) |\n", median(mappop_ms, n1), median(mappop_ms, n1) * 1e3 / 64);
    printf("| munmap, fully faulted (after POPULATE_READ) | %.0f µs |\n", median(munmap_full_us, n1));
    printf("| munmap, fully faulted (after MAP_POPULATE) | %.0f µs |\n", median(munmap_full_mappop_us, n1));

    // Two threads: the reader (CPU 0) reads 132 B records with CRC from a populated mapping of
    // a second 64 MiB file. The other thread (CPU 1) first maps + populates NMAPS mappings of the
    // first file (phase 2), then NMAPS times: spins 2 ms doing nothing (phase 0, the baseline),
    // munmaps one of them (phase 1). TLB-shootdown interrupts taken by CPU 0 come from the "TLB:"
    // line of /proc/interrupts.
    int fdb = open(path64b, O_RDONLY);
    if (fdb < 0) die(path64b);
    reader_t *rd = calloc(1, sizeof *rd);
    rd->size = size;
    rd->m = mmap(NULL, size, PROT_READ, MAP_SHARED, fdb, 0);
    if (rd->m == MAP_FAILED) die("mmap(reader)");
    madvise((void *)rd->m, size, MADV_POPULATE_READ);
    atomic_store(&rd->state, 3);
    pin(1);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, rd);
    while (!atomic_load(&rd->ready)) sched_yield();
    double un_us[MAXREPS], popc_ms[MAXREPS], tlb_ipis[MAXREPS];
    void *maps[NMAPS];
    for (int r = 0; r < reps; r++) {
        atomic_store(&rd->state, r * 4 + 3);
        ensure_warm(fd64, size);
        sleep_ms(5);
        atomic_store(&rd->state, r * 4 + 2);  // other thread: mmap + MADV_POPULATE_READ
        double t0 = cpu_now();
        for (int k = 0; k < NMAPS; k++) {
            maps[k] = mmap(NULL, size, PROT_READ, MAP_SHARED, fd64, 0);
            if (maps[k] == MAP_FAILED) die("mmap");
            madvise(maps[k], size, MADV_POPULATE_READ);
        }
        popc_ms[r] = (cpu_now() - t0) * 1e3 / NMAPS;
        atomic_store(&rd->state, r * 4 + 3);
        long long tlb0 = tlb_interrupts_cpu0();
        double un = 0;
        for (int k = 0; k < NMAPS; k++) {
            wait_for_reader(rd);
            atomic_store(&rd->state, r * 4 + 0);  // other thread: spinning, no system call
            double ts = now();
            while (now() - ts < 2e-3) {}
            wait_for_reader(rd);
            atomic_store(&rd->state, r * 4 + 1);  // other thread: munmap
            t0 = cpu_now();
            munmap(maps[k], size);
            un += cpu_now() - t0;
        }
        atomic_store(&rd->state, r * 4 + 3);
        long long tlb1 = tlb_interrupts_cpu0();
        un_us[r] = un * 1e6 / NMAPS;
        tlb_ipis[r] = (tlb0 >= 0 && tlb1 >= 0) ? (double)(tlb1 - tlb0) / NMAPS : -1;
    }
    atomic_store(&rd->state, -1);
    pthread_join(th, NULL);
    // Per phase: median, p90, p99 of the per-batch ns/read, and the mean.
    double q[3][4][MAXREPS], mean[3][MAXREPS];
    const int phases[3] = {0, 2, 1};
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < 3; i++) {
            int ph = phases[i];
            q[i][0][r] = hist_quantile(rd->hist[r][ph], 0.5);
            q[i][1][r] = hist_quantile(rd->hist[r][ph], 0.9);
            q[i][2][r] = hist_quantile(rd->hist[r][ph], 0.99);
            mean[i][r] = rd->n[r][ph] > 0 ? rd->ns[r][ph] / rd->n[r][ph] : 0;
        }
    }
    printf("\nTwo threads, pinned: reader on CPU 0 (132 B records + CRC from a populated 64 MiB mapping of another file);\n"
           "the other thread on CPU 1 maps+populates %d × 64 MiB, then %d times spins 2 ms / munmaps one, each started only\n"
           "once the reader was seen running (it completed a batch). Reader cost is\n"
           "thread CPU ns per read over batches of 64 reads (median of %d repetitions of each statistic):\n\n",
           NMAPS, NMAPS, reps);
    printf("| other thread (CPU 1) is doing | its time per 64 MiB | reader median | p90 | p99 | mean |\n|---|---:|---:|---:|---:|---:|\n");
    const char *what[3] = {"spinning, no system call (baseline)", "mmap + MADV_POPULATE_READ", "munmap of a fully faulted mapping"};
    for (int i = 0; i < 3; i++) {
        char cost[32] = "–";
        if (i == 1) snprintf(cost, sizeof cost, "%.2f ms", median(popc_ms, reps));
        if (i == 2) snprintf(cost, sizeof cost, "%.0f µs", median(un_us, reps));
        printf("| %s | %s | %.0f | %.0f | %.0f | %.0f |\n", what[i], cost, median(q[i][0], reps), median(q[i][1], reps),
               median(q[i][2], reps), median(mean[i], reps));
    }
    double rdn[MAXREPS], lost[MAXREPS];
    for (int r = 0; r < reps; r++) {
        rdn[r] = rd->n[r][1] / NMAPS;
        // Reader CPU time added per munmap: (mean ns/read during munmap - while spinning) x reads.
        lost[r] = (mean[2][r] - mean[0][r]) * rdn[r] / 1e3;
    }
    printf("\nPer munmap with the reader running (median of %d): TLB-shootdown interrupts taken by the reader's CPU\n"
           "(/proc/interrupts): %.1f; reads the reader completed during one munmap: %.0f; reader CPU time added per munmap\n"
           "((mean during munmap - mean while spinning) × reads): %.0f µs (per repetition:",
           reps, median(tlb_ipis, reps), median(rdn, reps), median(lost, reps));
    for (int r = 0; r < reps; r++) printf(" %.0f", lost[r]);
    printf(").\n");
    munmap((void *)rd->m, size);
    close(fdb);
    free(rd);
}

// ---------------------------------------------------------------------------------------------
// Part 4: cold page cache, 20,000 random 132 B reads.

enum { C_PREAD, C_NORMAL, C_RANDOM, NCOLD };
static const char *cold_name[] = {"pread", "mmap MADV_NORMAL", "mmap MADV_RANDOM"};

static void part_cold(const char *dir, const char *p64, const char *p512, int reps) {
    enum { N = 20000, N1 = 1000, NF = 3 };
    char p2g[512];
    snprintf(p2g, sizeof p2g, "%s/index2g.seg", dir);
    double tc = now();
    close(make_file(p2g, 2048 * MiB, FILL_WRITE, 9));  // contents only; evicted before every run
    double create_s = now() - tc;
    const size_t sizes[NF] = {64 * MiB, 512 * MiB, 2048 * MiB};
    const char *paths[NF] = {p64, p512, p2g};
    const char *names[NF] = {"64 MiB", "512 MiB", "2 GiB"};
    double ms[NF][NCOLD][MAXREPS], rb[NF][NCOLD][MAXREPS], ms1[NF][NCOLD][MAXREPS], rb1[NF][NCOLD][MAXREPS],
        cached[NF][NCOLD][MAXREPS], maj[NF][NCOLD][MAXREPS], mnr[NF][NCOLD][MAXREPS];
    size_t left_max = 0;
    uint64_t *offs = malloc(sizeof(uint64_t) * N);
    uint8_t *buf = malloc(4096);
    double t_start = now();
    for (int rep = 0; rep < reps; rep++)
        for (int s = 0; s < NF; s++) {
            make_offsets(offs, N, sizes[s], 132, 3000 + rep);
            for (int j = 0; j < NCOLD; j++) {
                int m = (j + rep) % NCOLD;
                // A new descriptor per run: the readahead state (file->f_ra, incl. mmap_miss) lives
                // in the open file, and would otherwise carry over from run to run.
                int fd = open(paths[s], O_RDONLY);
                if (fd < 0) die(paths[s]);
                evict(fd);
                size_t left = resident_pages(fd, sizes[s]);
                if (left > left_max) left_max = left;
                long long b0 = proc_io_read_bytes(), b1;
                long f0 = minflt(), j0 = majflt();
                double t0 = now(), t1;
                if (m == C_PREAD) {
                    sink += read_pread(fd, buf, offs, N1, 132);
                    t1 = now();
                    b1 = proc_io_read_bytes();
                    sink += read_pread(fd, buf, offs + N1, N - N1, 132);
                } else {
                    uint8_t *p = mmap(NULL, sizes[s], PROT_READ, MAP_SHARED, fd, 0);
                    if (p == MAP_FAILED) die("mmap");
                    if (m == C_RANDOM) madvise(p, sizes[s], MADV_RANDOM);
                    sink += read_mapped(p, offs, N1, 132);
                    t1 = now();
                    b1 = proc_io_read_bytes();
                    sink += read_mapped(p, offs + N1, N - N1, 132);
                    munmap(p, sizes[s]);
                }
                double t2 = now();
                ms1[s][m][rep] = (t1 - t0) * 1e3;
                rb1[s][m][rep] = (double)(b1 - b0) / MiB;
                ms[s][m][rep] = (t2 - t0) * 1e3;
                rb[s][m][rep] = (double)(proc_io_read_bytes() - b0) / MiB;
                maj[s][m][rep] = (double)(majflt() - j0);
                mnr[s][m][rep] = (double)(minflt() - f0);
                cached[s][m][rep] = (double)resident_pages(fd, sizes[s]) * PAGE / MiB;
                close(fd);
            }
        }
    printf("\n## Part 4: cold page cache, %d random 132 B reads (+CRC), median of %d (%.1f s, + %.1f s to make the 2 GiB file)\n\n",
           N, reps, now() - t_start, create_s);
    printf("Evicted before each run with fsync + POSIX_FADV_DONTNEED (new descriptor per run); at most %zu pages were still resident.\n", left_max);
    printf("disk = /proc/self/io read_bytes; cached after = the file's resident pages after the run (mincore).\n"
           "64 and 512 MiB files: writer-style; 2 GiB file: write(2) (stands in for a large index file).\n\n");
    printf("| file | method | first 1,000 reads: ms | disk MiB | all %d reads: ms | µs/read | disk MiB | cached after MiB | major flt | minor flt |\n", N);
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int s = 0; s < NF; s++)
        for (int m = 0; m < NCOLD; m++)
            printf("| %s | %s | %.0f | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f | %.0f |\n", names[s], cold_name[m],
                   median(ms1[s][m], reps), median(rb1[s][m], reps), median(ms[s][m], reps), median(ms[s][m], reps) * 1e3 / N,
                   median(rb[s][m], reps), median(cached[s][m], reps), median(maj[s][m], reps), median(mnr[s][m], reps));
    free(offs);
    free(buf);
    unlink(p2g);

    // Prefaulting a mapping whose file is not cached: MADV_POPULATE_READ after MADV_NORMAL vs
    // after MADV_RANDOM, 64 MiB file.
    double pms[2][MAXREPS], prb[2][MAXREPS], pmaj[2][MAXREPS];
    for (int rep = 0; rep < reps; rep++)
        for (int j = 0; j < 2; j++) {
            int adv = (j + rep) % 2;
            int fd = open(p64, O_RDONLY);
            if (fd < 0) die(p64);
            evict(fd);
            long long b0 = proc_io_read_bytes();
            long j0 = majflt();
            double t0 = now();
            uint8_t *p = mmap(NULL, 64 * MiB, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) die("mmap");
            if (adv) madvise(p, 64 * MiB, MADV_RANDOM);
            if (madvise(p, 64 * MiB, MADV_POPULATE_READ) != 0) die("MADV_POPULATE_READ");
            pms[adv][rep] = (now() - t0) * 1e3;
            prb[adv][rep] = (double)(proc_io_read_bytes() - b0) / MiB;
            pmaj[adv][rep] = (double)(majflt() - j0);
            munmap(p, 64 * MiB);
            close(fd);
        }
    printf("\nmmap + MADV_POPULATE_READ of the 64 MiB file with a cold page cache (median of %d):\n\n", reps);
    printf("| advice before populating | ms | disk MiB | major flt |\n|---|---:|---:|---:|\n");
    for (int a = 0; a < 2; a++)
        printf("| %s | %.0f | %.1f | %.0f |\n", a ? "MADV_RANDOM" : "none (MADV_NORMAL)", median(pms[a], reps), median(prb[a], reps),
               median(pmaj[a], reps));
}

// ---------------------------------------------------------------------------------------------
// Part 5: fault-around, per page-cache state.

static void part_faultaround(const char *dir, int fd_writer, int reps) {
    const size_t size = 64 * MiB;
    char path[512];
    int fds[4];
    fds[FILL_WRITER] = fd_writer;
    double t_start = now();
    for (int h = FILL_WRITE; h <= FILL_PREAD4K; h++) {
        snprintf(path, sizeof path, "%s/state%d.seg", dir, h);
        fds[h] = make_file(path, size, h, 500 + (uint64_t)h);
    }
    double create_s = now() - t_start;
    enum { NRD = 1000 };
    double f_norm[4][MAXREPS], f_rand[4][MAXREPS], t_norm[4][MAXREPS], t_rand[4][MAXREPS], pop_ms[4][MAXREPS],
        pmd[4][MAXREPS], touch_ms[4][MAXREPS];
    uint64_t offs[NRD];
    for (int rep = 0; rep < reps; rep++) {
        make_offsets(offs, NRD, size, 132, 4000 + rep);
        for (int h = 0; h < 4; h++) {
            for (int adv = 0; adv < 2; adv++) {
                uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fds[h], 0);
                if (p == MAP_FAILED) die("mmap");
                if (adv) madvise(p, size, MADV_RANDOM);
                long f0 = minflt();
                sink += read_mapped(p, offs, NRD, 132);
                double fr = (double)(minflt() - f0);
                munmap(p, size);
                p = mmap(NULL, size, PROT_READ, MAP_SHARED, fds[h], 0);
                if (adv) madvise(p, size, MADV_RANDOM);
                f0 = minflt();
                double t0 = cpu_now();
                touch_all(p, size);
                double tt = (cpu_now() - t0) * 1e3;
                double ft = (double)(minflt() - f0);
                munmap(p, size);
                if (adv) { f_rand[h][rep] = fr; t_rand[h][rep] = ft; }
                else { f_norm[h][rep] = fr; t_norm[h][rep] = ft; touch_ms[h][rep] = tt; }
            }
            double t0 = cpu_now();
            uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fds[h], 0);
            madvise(p, size, MADV_POPULATE_READ);
            pop_ms[h][rep] = (cpu_now() - t0) * 1e3;
            pmd[h][rep] = file_pmd_kib(p) / 1024.0;
            munmap(p, size);
        }
    }
    printf("\n## Part 5: fault-around on a fresh mapping of a cached 64 MiB file, by how the page cache was filled "
           "(median of %d; files made in %.1f s; times are thread CPU time)\n\n", reps, create_s);
    for (int h = 0; h < 4; h++) printf("- %s: %s\n", fill_short[h], fill_name[h]);
    printf("\n| page cache filled by | flt / 1,000 reads NORMAL | flt / 1,000 reads RANDOM | flt to touch all 16,384 pages NORMAL | same, RANDOM | lazy: touch every page, ms (NORMAL) | mmap+POPULATE_READ ms | PMD-mapped MiB after populate |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int h = 0; h < 4; h++)
        printf("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f |\n", fill_short[h], median(f_norm[h], reps),
               median(f_rand[h], reps), median(t_norm[h], reps), median(t_rand[h], reps), median(touch_ms[h], reps),
               median(pop_ms[h], reps), median(pmd[h], reps));
    printf("\nResident pages of the four files after the measurements (of 16384):");
    for (int h = 0; h < 4; h++) printf(" %zu", resident_pages(fds[h], size));
    printf("\n");
    for (int h = FILL_WRITE; h <= FILL_PREAD4K; h++) {
        close(fds[h]);
        snprintf(path, sizeof path, "%s/state%d.seg", dir, h);
        unlink(path);
    }
}

// ---------------------------------------------------------------------------------------------

static void print_environment(const char *dir) {
    struct utsname u;
    uname(&u);
    char buf[512];
    printf("# mapping_advice\n\n");
    printf("- kernel: %s %s %s, CPUs online: %ld, page size %ld\n", u.sysname, u.release, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_PAGESIZE));
    printf("- /sys/kernel/mm/transparent_hugepage/enabled: %s\n",
           read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) ? buf : "(unreadable)");
    printf("- /sys/kernel/mm/transparent_hugepage/defrag: %s\n",
           read_small_file("/sys/kernel/mm/transparent_hugepage/defrag", buf, sizeof buf) ? buf : "(unreadable)");
    const char *far = read_small_file("/sys/kernel/debug/fault_around_bytes", buf, sizeof buf);
    printf("- fault_around_bytes (/sys/kernel/debug/fault_around_bytes): %s\n", far ? far : "(not readable: debugfs not mounted or no permission)");
    struct stat st;
    if (stat(dir, &st) == 0) {
        char p[128];
        snprintf(p, sizeof p, "/sys/dev/block/%u:%u/queue/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
        const char *ra = read_small_file(p, buf, sizeof buf);
        if (!ra) {
            snprintf(p, sizeof p, "/sys/dev/block/%u:%u/../queue/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
            ra = read_small_file(p, buf, sizeof buf);
        }
        printf("- %s is on device %u:%u, read_ahead_kb: %s\n", dir, major(st.st_dev), minor(st.st_dev), ra ? ra : "(unreadable)");
    }
    printf("- CRC-32C: %s\n", crc_kind);
    // CRC throughput on a hot 256 KiB buffer, for reading the tables.
    uint8_t *b = malloc(256 * 1024);
    uint64_t s = 7;
    fill_random(b, 256 * 1024, &s);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = cpu_now();
        for (int i = 0; i < 200; i++) sink += crc32c(b, 256 * 1024);
        double gbps = 200.0 * 256 * 1024 / (cpu_now() - t0) / 1e9;
        if (gbps > best) best = gbps;
    }
    printf("- CRC-32C throughput on a hot 256 KiB buffer: %.1f GB/s of thread CPU time (best of 5)\n", best);
    printf("- load average at start: %s\n", read_small_file("/proc/loadavg", buf, sizeof buf) ? buf : "?");
    free(b);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/madv";
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1) reps = 1;
    if (reps > 9) reps = 9;
    setvbuf(stdout, NULL, _IOLBF, 0);
    crc_init();
    mkdir(dir, 0755);
    double t_all = now();
    print_environment(dir);

    char p64[512], p64b[512], p512[512];
    snprintf(p64, sizeof p64, "%s/seg64.seg", dir);
    snprintf(p64b, sizeof p64b, "%s/seg64b.seg", dir);
    snprintf(p512, sizeof p512, "%s/seg512.seg", dir);
    double t0 = now();
    int fd64 = make_file(p64, 64 * MiB, FILL_WRITER, 1);
    int fd64b = make_file(p64b, 64 * MiB, FILL_WRITER, 2);
    int fd512 = make_file(p512, 512 * MiB, FILL_WRITER, 3);
    warm(fd64, 64 * MiB);
    warm(fd64b, 64 * MiB);
    warm(fd512, 512 * MiB);
    printf("- files (%s; %s) made and read once in %.1f s; resident: %zu/%zu, %zu/%zu pages\n", dir, fill_name[FILL_WRITER],
           now() - t0, resident_pages(fd64, 64 * MiB), (size_t)(64 * MiB / PAGE), resident_pages(fd512, 512 * MiB),
           (size_t)(512 * MiB / PAGE));

    part_warm(fd64, fd512, reps);
    part_setup(fd64, p64b, reps);
    part_faultaround(dir, fd64, reps);
    part_cold(dir, p64, p512, reps < 3 ? reps : 3);

    close(fd64);
    close(fd64b);
    close(fd512);
    unlink(p64);
    unlink(p64b);
    unlink(p512);
    printf("\nTotal run time: %.0f s\n", now() - t_all);
    return 0;
}
