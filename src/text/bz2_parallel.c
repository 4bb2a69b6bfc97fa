#include "text/bz2_parallel.h"

#include <bzlib.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define BLOCK_MAGIC 0x314159265359ULL
#define EOS_MAGIC 0x177245385090ULL
#define READ_CHUNK ((size_t)1 << 20)
#define MAX_THREADS 64
#define NOT_FOUND UINT64_MAX

static const unsigned char BLOCK_MAGIC_BYTES[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
static const unsigned char EOS_MAGIC_BYTES[6] = {0x17, 0x72, 0x45, 0x38, 0x50, 0x90};

/* The most bits a valid block of a level-L stream can take: at most 100000·L symbols of at most
 * 20 bits, plus the symbol map, selectors and code tables (< 200000 bits). No magic within that
 * span after a block's start means the data is corrupt, which bounds the memory the scanner needs. */
static uint64_t max_block_bits(int level) { return (uint64_t)level * 2000000 + 200000; }

enum { SEG_FREE, SEG_QUEUED, SEG_BUSY, SEG_DONE };
enum { DECODED_OK, DECODED_CORRUPT, DECODED_TRUNCATED, DECODED_NO_MEMORY };
enum { AT_STREAM_START, IN_BLOCK, SCAN_DONE };
enum { PROBLEM_NONE, PROBLEM_CORRUPT, PROBLEM_TRUNCATED, PROBLEM_READ, PROBLEM_NO_MEMORY };
/* What ends a block: a magic that may have occurred by chance, an end-of-stream magic followed by
 * a stream start or the end of the file, the end of the file (truncated), or max_block_bits
 * without any magic (corrupt). */
enum { END_BLOCK_MAGIC, END_STREAM, END_FILE, END_LIMIT, END_READ_ERROR };

/* One block (or, after merges, a run of blocks split at false magics) wrapped as a stream:
 * "BZh<level>", the block's bits realigned to follow it, then (when the block was complete) the
 * end-of-stream magic and the block's CRC as the combined CRC, which a one-block stream has. */
typedef struct {
    unsigned char *in;
    size_t in_cap, in_len;
    uint64_t in_bits;
    uint64_t bit_start, nbits; /* where the block's bits lie in the file */
    int level, complete, mergeable, ends_stream;
    uint32_t stream_crc; /* the combined CRC stored after the stream's end magic (ends_stream) */
    char *out;
    size_t out_cap, out_len, out_pos;
    size_t consumed; /* bytes of `in` the decoder read */
    int state, result;
} Segment;

struct Bz2Decoder {
    FILE *fp;
    const char *path;
    /* scanner: bytes [cbase, cbase + clen) of the file are in cbuf */
    unsigned char *cbuf;
    size_t ccap, clen;
    uint64_t cbase;
    int eof, scan_state, level;
    uint64_t stream_byte;          /* AT_STREAM_START: where the next stream starts */
    uint64_t seg_start, scan_bit;  /* IN_BLOCK: the block's first bit, the next candidate bit */
    int problem, read_errno;
    uint64_t problem_byte;
    uint16_t second_byte[256]; /* see magic_second_bytes */
    const uint64_t *fake;
    int nfake, fake_next;
    /* segments in file order: ring[(head + i) % nslots] for i < count */
    Segment *segs, **ring;
    int nslots, head, count;
    pthread_t workers[MAX_THREADS];
    int nworkers, stop;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    /* consumer */
    uint32_t combined_crc;
    uint64_t out_offset;
    int failed;
    char msg[768];
};

/* ---- bits ---------------------------------------------------------------------------------- */

static void put_bit(unsigned char *dst, uint64_t d, const unsigned char *src, uint64_t s) {
    unsigned bit = (src[s >> 3] >> (7 - (s & 7))) & 1;
    if ((d & 7) == 0) dst[d >> 3] = 0;
    dst[d >> 3] |= (unsigned char)(bit << (7 - (d & 7)));
}

/* Appends n bits of src, starting at bit s (most significant bit first), after the *dbits bits of
 * dst; the rest of dst's last byte is zero. */
static void bits_append(unsigned char *dst, uint64_t *dbits, const unsigned char *src, uint64_t s, uint64_t n) {
    uint64_t d = *dbits;
    for (; n > 0 && (d & 7); n--) put_bit(dst, d++, src, s++);
    size_t whole = (size_t)(n >> 3), shift = s & 7;
    const unsigned char *p = src + (s >> 3);
    unsigned char *q = dst + (d >> 3);
    if (shift == 0) memcpy(q, p, whole);
    else
        for (size_t i = 0; i < whole; i++) q[i] = (unsigned char)(p[i] << shift | p[i + 1] >> (8 - shift));
    d += (uint64_t)whole * 8, s += (uint64_t)whole * 8, n -= (uint64_t)whole * 8;
    for (; n > 0; n--) put_bit(dst, d++, src, s++);
    *dbits = d;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* For each byte value, the alignments k at which it is the second byte of a magic that starts k
 * bits into the byte before (bit k: block magic, bit 8 + k: end magic). */
static void magic_second_bytes(uint16_t table[256]) {
    memset(table, 0, 256 * sizeof *table);
    for (int k = 0; k < 8; k++) {
        table[(BLOCK_MAGIC >> (32 + k)) & 0xFF] |= (uint16_t)(1u << k);
        table[(EOS_MAGIC >> (32 + k)) & 0xFF] |= (uint16_t)(1u << (8 + k));
    }
}

/* The first bit position p in [from, to) of buf where a magic starts (*is_block says which), or
 * NOT_FOUND; the caller keeps p + 48 within buf. One table look-up per byte finds the few places
 * worth a full comparison. */
static uint64_t find_magic(const uint16_t second[256], const unsigned char *buf, size_t len, uint64_t from, uint64_t to, int *is_block) {
    for (uint64_t i = from >> 3; i * 8 < to; i++) {
        uint16_t m = second[buf[i + 1]];
        if (!m) continue;
        uint64_t w = 0;
        for (size_t k = 0; k < 8; k++) w = w << 8 | (i + k < len ? buf[i + k] : 0);
        for (unsigned k = 0; k < 8; k++) {
            uint64_t p = i * 8 + k, v = (w << k) >> 16;
            if (!(m & (0x101u << k)) || p < from || p >= to) continue;
            if (v == BLOCK_MAGIC || v == EOS_MAGIC) {
                *is_block = v == BLOCK_MAGIC;
                return p;
            }
        }
    }
    return NOT_FOUND;
}

/* How many of the n bytes at h agree with a stream start: "BZh", a level digit, then a block or
 * end-of-stream magic. */
static size_t stream_start_match(const unsigned char *h, size_t n) {
    const unsigned char *magic = n > 4 && h[4] == EOS_MAGIC_BYTES[0] ? EOS_MAGIC_BYTES : BLOCK_MAGIC_BYTES;
    for (size_t i = 0; i < n; i++) {
        int ok = i < 3 ? h[i] == (unsigned char)"BZh"[i] : i == 3 ? h[i] >= '1' && h[i] <= '9' : h[i] == magic[i - 4];
        if (!ok) return i;
    }
    return n;
}

/* ---- segments ------------------------------------------------------------------------------ */

static int segment_reserve(Segment *s, uint64_t nbits) {
    size_t need = (size_t)((32 + nbits + 80 + 7) / 8) + 8;
    if (need <= s->in_cap) return 0;
    unsigned char *p = realloc(s->in, need);
    if (!p) return -1;
    s->in = p;
    s->in_cap = need;
    return 0;
}

/* s->in = "BZh<level>" followed by n bits of src from bit `from`. */
static int segment_set_bits(Segment *s, int level, const unsigned char *src, uint64_t from, uint64_t n) {
    if (segment_reserve(s, n) != 0) return -1;
    memcpy(s->in, "BZh", 3);
    s->in[3] = (unsigned char)('0' + level);
    s->in_bits = 32;
    bits_append(s->in, &s->in_bits, src, from, n);
    s->level = level;
    s->nbits = n;
    return 0;
}

/* Ends the wrapped stream; a block cut short by the end of the file gets no trailer, so that the
 * decoder runs out of input exactly where the file does. */
static void segment_close(Segment *s) {
    if (s->complete) {
        unsigned char crc[4] = {0};
        if (s->nbits >= 80) memcpy(crc, s->in + 10, 4);
        bits_append(s->in, &s->in_bits, EOS_MAGIC_BYTES, 0, 48);
        bits_append(s->in, &s->in_bits, crc, 0, 32);
        s->in_len = (size_t)((s->in_bits + 7) / 8);
    } else {
        s->in_len = (size_t)(s->in_bits / 8); /* whole bytes only: padding bits would be decoded as data */
    }
}

static int grow_output(Segment *s) {
    size_t cap = s->out_cap ? s->out_cap * 2 : READ_CHUNK;
    char *p = realloc(s->out, cap);
    if (!p) return -1;
    s->out = p;
    s->out_cap = cap;
    return 0;
}

/* Decodes s->in into s->out (grown as needed); s->result says how it ended. */
static void decode_segment(Segment *s) {
    bz_stream bz;
    memset(&bz, 0, sizeof bz);
    s->out_len = s->out_pos = s->consumed = 0;
    s->result = DECODED_CORRUPT;
    if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) {
        s->result = DECODED_NO_MEMORY;
        return;
    }
    bz.next_in = (char *)s->in;
    bz.avail_in = (unsigned)s->in_len;
    for (;;) {
        if (s->out_len == s->out_cap && grow_output(s) != 0) {
            s->result = DECODED_NO_MEMORY;
            break;
        }
        bz.next_out = s->out + s->out_len;
        bz.avail_out = (unsigned)(s->out_cap - s->out_len);
        int rc = BZ2_bzDecompress(&bz);
        s->out_len = s->out_cap - bz.avail_out;
        if (rc == BZ_STREAM_END) { /* input left over: the block held an end magic of its own */
            s->result = bz.avail_in == 0 ? DECODED_OK : DECODED_CORRUPT;
            break;
        }
        if (rc != BZ_OK) break;
        if (bz.avail_out > 0) { /* the decoder used up the input and wants more */
            s->result = s->complete ? DECODED_CORRUPT : DECODED_TRUNCATED;
            break;
        }
    }
    s->consumed = s->in_len - bz.avail_in;
    BZ2_bzDecompressEnd(&bz);
}

/* The file byte where decoding of s stopped. */
static uint64_t segment_failure_byte(const Segment *s) {
    uint64_t bits = s->consumed * 8 > 32 ? s->consumed * 8 - 32 : 0;
    if (bits > s->nbits) bits = s->nbits;
    return (s->bit_start + bits + 7) / 8;
}

/* ---- worker threads ------------------------------------------------------------------------ */

static Segment *next_queued(Bz2Decoder *d) {
    for (int i = 0; i < d->count; i++) {
        Segment *s = d->ring[(d->head + i) % d->nslots];
        if (s->state == SEG_QUEUED) return s;
    }
    return NULL;
}

static void *worker_main(void *arg) {
    Bz2Decoder *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        Segment *s = NULL;
        while (!d->stop && !(s = next_queued(d))) pthread_cond_wait(&d->work_cv, &d->mu);
        if (d->stop) break;
        s->state = SEG_BUSY;
        pthread_mutex_unlock(&d->mu);
        decode_segment(s);
        pthread_mutex_lock(&d->mu);
        s->state = SEG_DONE;
        pthread_cond_broadcast(&d->done_cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static void wait_done(Bz2Decoder *d, Segment *s) {
    if (d->nworkers == 0) {
        if (s->state == SEG_QUEUED) {
            decode_segment(s);
            s->state = SEG_DONE;
        }
        return;
    }
    pthread_mutex_lock(&d->mu);
    while (s->state != SEG_DONE) pthread_cond_wait(&d->done_cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
}

/* ---- scanner ------------------------------------------------------------------------------- */

static void set_problem(Bz2Decoder *d, int problem, uint64_t byte) {
    d->problem = problem;
    d->problem_byte = byte;
    d->scan_state = SCAN_DONE;
}

/* Reads on until cbuf holds the file up to byte `want` or the end; bytes before `keep` may go. */
static int load(Bz2Decoder *d, uint64_t keep, uint64_t want) {
    while (d->cbase + d->clen < want && !d->eof) {
        if (d->ccap - d->clen < READ_CHUNK) {
            size_t drop = (size_t)(keep - d->cbase);
            memmove(d->cbuf, d->cbuf + drop, d->clen - drop);
            d->clen -= drop;
            d->cbase = keep;
        }
        /* room for a chunk: the callers never keep more than max_block_bits(9) / 8 + 64 bytes */
        size_t got = fread(d->cbuf + d->clen, 1, READ_CHUNK, d->fp);
        if (got == 0 && ferror(d->fp)) {
            d->read_errno = errno;
            set_problem(d, PROBLEM_READ, d->cbase + d->clen);
            return -1;
        }
        d->eof = got < READ_CHUNK;
        d->clen += got;
    }
    return 0;
}

static uint64_t loaded_end(const Bz2Decoder *d) { return d->cbase + d->clen; }

/* Reads the header of the stream at d->stream_byte: a stream with blocks starts IN_BLOCK, an
 * empty one is skipped; the clean end of the file or damage ends the scan. */
static void start_stream(Bz2Decoder *d) {
    uint64_t q = d->stream_byte;
    if (load(d, q, q + 14) != 0) return;
    uint64_t have = loaded_end(d) - q;
    const unsigned char *h = d->cbuf + (q - d->cbase);
    size_t n = have < 10 ? (size_t)have : 10;
    size_t match = stream_start_match(h, n);
    if (have == 0) d->scan_state = SCAN_DONE;
    else if (match < n) set_problem(d, PROBLEM_CORRUPT, q + match + 1);
    else if (have < 10) set_problem(d, PROBLEM_TRUNCATED, loaded_end(d));
    else if (h[4] == BLOCK_MAGIC_BYTES[0]) {
        d->level = h[3] - '0';
        d->seg_start = (q + 4) * 8;
        d->scan_bit = d->seg_start + 48;
        d->scan_state = IN_BLOCK;
    } else if (have < 14) set_problem(d, PROBLEM_TRUNCATED, loaded_end(d));
    else if (be32(h + 10) != 0) set_problem(d, PROBLEM_CORRUPT, q + 14); /* an empty stream's CRC is 0 */
    else d->stream_byte = q + 14;
}

/* 1 when the end-of-stream magic at bit e is followed by its CRC and then the end of the file or
 * the start of another stream (possibly cut short by the end of the file); 0 when it cannot be a
 * real one; -1 on a read error. */
static int real_stream_end(Bz2Decoder *d, uint64_t e) {
    uint64_t q = (e + 80 + 7) / 8;
    if (load(d, d->seg_start >> 3, q + 10) != 0) return -1;
    uint64_t end = loaded_end(d);
    if (end < q) return 0;
    size_t n = end - q < 10 ? (size_t)(end - q) : 10;
    return stream_start_match(d->cbuf + (q - d->cbase), n) == n;
}

/* Finds where the current block ends (*end, a file bit offset) and what ends it. */
static int find_block_end(Bz2Decoder *d, uint64_t *end) {
    uint64_t limit = d->seg_start + max_block_bits(d->level);
    for (;;) {
        if (load(d, d->seg_start >> 3, (d->scan_bit >> 3) + 64) != 0) return END_READ_ERROR;
        uint64_t avail = loaded_end(d) * 8, base = d->cbase * 8;
        uint64_t to = avail >= 48 ? avail - 47 : 0;
        if (to > limit) to = limit;
        while (d->fake_next < d->nfake && d->fake[d->fake_next] < d->scan_bit) d->fake_next++;
        int fake_first = d->fake_next < d->nfake && d->fake[d->fake_next] < to;
        if (fake_first) to = d->fake[d->fake_next];
        int is_block = 0;
        uint64_t p = d->scan_bit < to ? find_magic(d->second_byte, d->cbuf, d->clen, d->scan_bit - base, to - base, &is_block) : NOT_FOUND;
        if (p != NOT_FOUND) {
            *end = p + base;
            if (is_block) return END_BLOCK_MAGIC;
            /* an end magic followed by anything else may be a chance match inside the block (joined
             * back when both sides fail) or a real end followed by garbage (reported there) */
            int real = real_stream_end(d, *end);
            return real < 0 ? END_READ_ERROR : real ? END_STREAM : END_BLOCK_MAGIC;
        }
        if (d->scan_bit < to) d->scan_bit = to;
        *end = to;
        if (fake_first) {
            d->fake_next++;
            return END_BLOCK_MAGIC;
        }
        if (to == limit) return END_LIMIT;
        if (d->eof) {
            *end = avail;
            return END_FILE;
        }
    }
}

/* Fills s with the next block of the file: 1, or 0 when the scan is over. */
static int scan_segment(Bz2Decoder *d, Segment *s) {
    while (d->scan_state == AT_STREAM_START) start_stream(d);
    if (d->scan_state != IN_BLOCK) return 0;
    uint64_t end;
    int kind = find_block_end(d, &end);
    if (kind == END_READ_ERROR) return 0;
    if (segment_set_bits(s, d->level, d->cbuf, d->seg_start - d->cbase * 8, end - d->seg_start) != 0) {
        set_problem(d, PROBLEM_NO_MEMORY, d->seg_start / 8);
        return 0;
    }
    s->bit_start = d->seg_start;
    s->complete = kind != END_FILE;
    s->mergeable = kind == END_BLOCK_MAGIC;
    s->ends_stream = kind == END_STREAM;
    if (s->ends_stream) {
        unsigned char crc[4];
        uint64_t nb = 0;
        bits_append(crc, &nb, d->cbuf, end + 48 - d->cbase * 8, 32);
        s->stream_crc = be32(crc);
    }
    segment_close(s);
    if (kind == END_BLOCK_MAGIC) {
        d->seg_start = end;
        d->scan_bit = end + 48; /* not end + 80: a chance match can start inside the CRC */
    } else if (kind == END_STREAM) {
        d->stream_byte = (end + 80 + 7) / 8;
        d->scan_state = AT_STREAM_START;
    } else if (kind == END_FILE) {
        d->scan_state = SCAN_DONE;
    } else {
        set_problem(d, PROBLEM_CORRUPT, end / 8);
    }
    return 1;
}

/* Queues blocks for decoding while there is room. */
static void fill(Bz2Decoder *d) {
    while (d->count < d->nslots && d->scan_state != SCAN_DONE) {
        Segment *s = d->ring[(d->head + d->count) % d->nslots];
        if (!scan_segment(d, s)) break;
        pthread_mutex_lock(&d->mu);
        s->state = SEG_QUEUED;
        d->count++;
        pthread_cond_signal(&d->work_cv);
        pthread_mutex_unlock(&d->mu);
    }
}

/* ---- consumer ------------------------------------------------------------------------------ */

static long fail(Bz2Decoder *d, int problem, uint64_t byte, uint64_t decompressed) {
    const char *what = d->path;
    unsigned long long b = (unsigned long long)byte, m = (unsigned long long)decompressed;
    if (problem == PROBLEM_CORRUPT)
        snprintf(d->msg, sizeof d->msg, "%s: corrupt bzip2 data near compressed byte %llu (decompressed byte %llu); the rest of this file is skipped", what, b, m);
    else if (problem == PROBLEM_TRUNCATED)
        snprintf(d->msg, sizeof d->msg, "%s: bzip2 data ends unexpectedly at compressed byte %llu (file truncated?); the rest of this file is skipped", what, b);
    else if (problem == PROBLEM_READ)
        snprintf(d->msg, sizeof d->msg, "%s: read error at byte %llu: %s", what, b, strerror(d->read_errno));
    else
        snprintf(d->msg, sizeof d->msg, "out of memory decompressing %s", what);
    d->failed = 1;
    return kr_error("%s", d->msg);
}

/* The head block failed to decode: when the magic that ended it may have occurred by chance and
 * the next block fails too, joins them and queues the head again. 1 when joined. */
static int merge_with_next(Bz2Decoder *d) {
    Segment *h = d->ring[d->head];
    if (!h->mergeable) return 0;
    fill(d);
    if (d->count < 2) return 0;
    Segment *n = d->ring[(d->head + 1) % d->nslots];
    wait_done(d, n);
    if (n->result == DECODED_OK || h->nbits + n->nbits > max_block_bits(h->level) || segment_reserve(h, h->nbits + n->nbits) != 0)
        return 0;
    h->in_bits = 32 + h->nbits;
    if (h->in_bits & 7) h->in[h->in_bits >> 3] &= (unsigned char)(0xFF << (8 - (h->in_bits & 7)));
    bits_append(h->in, &h->in_bits, n->in, 32, n->nbits);
    h->nbits += n->nbits;
    h->complete = n->complete;
    h->mergeable = n->mergeable;
    h->ends_stream = n->ends_stream;
    h->stream_crc = n->stream_crc;
    segment_close(h);
    pthread_mutex_lock(&d->mu);
    for (int i = 1; i < d->count - 1; i++) d->ring[(d->head + i) % d->nslots] = d->ring[(d->head + i + 1) % d->nslots];
    d->ring[(d->head + d->count - 1) % d->nslots] = n;
    n->state = SEG_FREE;
    d->count--;
    h->state = SEG_QUEUED;
    pthread_cond_signal(&d->work_cv);
    pthread_mutex_unlock(&d->mu);
    return 1;
}

/* Done with the head block: checks the stream's combined CRC when it was the stream's last. */
static int release_head(Bz2Decoder *d) {
    Segment *h = d->ring[d->head];
    d->combined_crc = (d->combined_crc << 1 | d->combined_crc >> 31) ^ be32(h->in + 10);
    if (h->ends_stream) {
        uint32_t want = h->stream_crc, got = d->combined_crc;
        d->combined_crc = 0;
        if (want != got) return (int)fail(d, PROBLEM_CORRUPT, (h->bit_start + h->nbits + 80 + 7) / 8, d->out_offset);
    }
    pthread_mutex_lock(&d->mu);
    h->state = SEG_FREE;
    d->head = (d->head + 1) % d->nslots;
    d->count--;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

long bz2_read(Bz2Decoder *d, char *buf, size_t cap) {
    if (d->failed) return kr_error("%s", d->msg);
    for (;;) {
        fill(d);
        if (d->count == 0) return d->problem ? fail(d, d->problem, d->problem_byte, d->out_offset) : 0;
        Segment *h = d->ring[d->head];
        wait_done(d, h);
        if (h->result == DECODED_OK || h->result == DECODED_TRUNCATED) {
            if (h->out_pos < h->out_len) {
                size_t n = h->out_len - h->out_pos;
                if (n > cap) n = cap;
                memcpy(buf, h->out + h->out_pos, n);
                h->out_pos += n;
                d->out_offset += n;
                return (long)n;
            }
            if (h->result == DECODED_TRUNCATED) return fail(d, PROBLEM_TRUNCATED, loaded_end(d), d->out_offset);
            if (release_head(d) != 0) return -1;
        } else if (h->result == DECODED_NO_MEMORY) {
            return fail(d, PROBLEM_NO_MEMORY, 0, 0);
        } else if (!merge_with_next(d)) {
            return fail(d, PROBLEM_CORRUPT, segment_failure_byte(h), d->out_offset + h->out_len);
        }
    }
}

uint64_t bz2_compressed_offset(const Bz2Decoder *d) { return loaded_end(d); }

void bz2_inject_false_boundaries(Bz2Decoder *d, const uint64_t *bits, int n) {
    d->fake = bits;
    d->nfake = n;
    d->fake_next = 0;
}

Bz2Decoder *bz2_open(FILE *fp, const char *path, int threads) {
    Bz2Decoder *d = calloc(1, sizeof *d);
    if (!d) {
        kr_error("out of memory opening %s", path);
        return NULL;
    }
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    d->fp = fp;
    d->path = path;
    off_t at = ftello(fp);
    d->cbase = at > 0 ? (uint64_t)at : 0;
    d->stream_byte = d->cbase;
    magic_second_bytes(d->second_byte);
    d->nslots = threads > 1 ? 2 * threads : 2; /* two even on one thread: a failed block may be joined to the next */
    d->ccap = (size_t)(max_block_bits(9) / 8) + READ_CHUNK + 4096;
    d->cbuf = malloc(d->ccap);
    d->segs = calloc((size_t)d->nslots, sizeof *d->segs);
    d->ring = calloc((size_t)d->nslots, sizeof *d->ring);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->work_cv, NULL);
    pthread_cond_init(&d->done_cv, NULL);
    if (!d->cbuf || !d->segs || !d->ring) {
        bz2_close(d);
        kr_error("out of memory opening %s", path);
        return NULL;
    }
    for (int i = 0; i < d->nslots; i++) d->ring[i] = &d->segs[i];
    for (; threads > 1 && d->nworkers < threads; d->nworkers++)
        if (pthread_create(&d->workers[d->nworkers], NULL, worker_main, d) != 0) {
            bz2_close(d);
            kr_error("cannot start bzip2 decoding threads for %s", path);
            return NULL;
        }
    return d;
}

void bz2_close(Bz2Decoder *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->work_cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->nworkers; i++) pthread_join(d->workers[i], NULL);
    for (int i = 0; d->segs && i < d->nslots; i++) {
        free(d->segs[i].in);
        free(d->segs[i].out);
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->work_cv);
    pthread_cond_destroy(&d->done_cv);
    free(d->segs);
    free(d->ring);
    free(d->cbuf);
    free(d);
}
