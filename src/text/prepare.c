/* The prepare pipeline. A reader thread streams every input into batches of raw documents;
 * the main thread takes each batch through: (A) markup removal and normalisation, in parallel;
 * (B) optional line-level dedup, serial; (C) length split/filter, hashes and MinHash, in
 * parallel; (D) document dedup, split and writing, serial and in input order, so the output is
 * the same for any thread count. Memory: three batches of raw text, per-thread scratch sized
 * by the largest document, and the dedup index (see dedup.h). */
#include "text/prepare.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/util.h"
#include "common/workpool.h"
#include "text/dedup.h"
#include "text/markup.h"
#include "text/split.h"
#include "text/wikitext.h"

#define BATCH_BYTES ((size_t)4 << 20)
#define BATCH_DOCS 8192
#define NUM_BATCHES 3

/* ---- inputs ---------------------------------------------------------------------------- */

typedef struct {
    char *path;
    InputFormat format;
    char columns[256];
    uint64_t bytes, decompressed;
    ReaderCounts counts;
    char *problem; /* message when (part of) the file was skipped */
} FileReport;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends `path`, or every file below it when it is a directory (sorted, hidden names skipped). */
static int expand_input(const char *path, StrList *out) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return strlist_push(out, path);
    DIR *d = opendir(path);
    if (!d) return strlist_push(out, path); /* reported when opened */
    StrList names = {0};
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') rc = strlist_push(&names, e->d_name);
    closedir(d);
    if (names.n) qsort(names.items, (size_t)names.n, sizeof names.items[0], cmp_str);
    char child[4096];
    for (int i = 0; rc == 0 && i < names.n; i++) {
        snprintf(child, sizeof child, "%s/%s", path, names.items[i]);
        rc = expand_input(child, out);
    }
    strlist_free(&names);
    return rc;
}

/* ---- batches and the reader thread ----------------------------------------------------- */

typedef struct {
    size_t off, len;
    DocKind kind;
} RawDoc;

typedef struct {
    char *text;
    size_t len, cap;
    RawDoc *docs;
    size_t n, cap_docs;
} Batch;

typedef struct {
    const PrepareOptions *opt;
    FileReport *files;
    int nfiles;
    Batch batches[NUM_BATCHES];
    Batch *free_list[NUM_BATCHES], *ready[NUM_BATCHES];
    int nfree, ready_head, nready;
    Batch *cur;
    int reader_done, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t bytes_before_current; /* input bytes of the files already finished */
    Source *src;
    int decode_threads;            /* bzip2 decoding threads per input (--num_threads) */
    uint64_t progress_bytes;       /* read with __atomic: bytes of input consumed so far */
    char fatal[512];               /* reader-side fatal error (out of memory) */
} Pipeline;

static Batch *take_free(Pipeline *p) {
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    Batch *b = p->stop ? NULL : p->free_list[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (b) b->len = b->n = 0;
    return b;
}

static void push_ready(Pipeline *p, Batch *b) {
    pthread_mutex_lock(&p->mu);
    p->ready[(p->ready_head + p->nready) % NUM_BATCHES] = b;
    p->nready++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int batch_reserve(Batch *b, size_t text_bytes) {
    if (b->len + text_bytes > b->cap) {
        size_t cap = b->cap ? b->cap : BATCH_BYTES + (1 << 16);
        while (cap < b->len + text_bytes) cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t) return kr_error("out of memory (document of %zu bytes)", text_bytes);
        b->text = t;
        b->cap = cap;
    }
    if (b->n == b->cap_docs) {
        size_t cap = b->cap_docs ? b->cap_docs * 2 : BATCH_DOCS;
        RawDoc *d = realloc(b->docs, cap * sizeof *d);
        if (!d) return kr_error("out of memory");
        b->docs = d;
        b->cap_docs = cap;
    }
    return 0;
}

static int sink_doc(void *ctx, const char *text, size_t len, DocKind kind) {
    Pipeline *p = ctx;
    __atomic_store_n(&p->progress_bytes, p->bytes_before_current + p->src->file_offset, __ATOMIC_RELAXED);
    if (p->cur->len >= BATCH_BYTES || p->cur->n >= BATCH_DOCS) {
        push_ready(p, p->cur);
        p->cur = take_free(p);
        if (!p->cur) return kr_error("stopped");
    }
    Batch *b = p->cur;
    if (batch_reserve(b, len) != 0) return -1;
    memcpy(b->text + b->len, text, len);
    b->docs[b->n++] = (RawDoc){b->len, len, kind};
    b->len += len;
    return 0;
}

static int read_one_file(Pipeline *p, FileReport *f) {
    Source src;
    struct stat st;
    if (stat(f->path, &st) == 0 && S_ISDIR(st.st_mode)) return kr_error("%s is a directory that could not be read", f->path);
    if (source_open(&src, f->path, p->decode_threads) != 0) return -1;
    p->src = &src;
    char *head = malloc(DETECT_HEAD_BYTES);
    int rc = head ? 0 : kr_error("out of memory");
    size_t n = 0;
    while (rc == 0 && n < DETECT_HEAD_BYTES) {
        long got = source_read(&src, head + n, DETECT_HEAD_BYTES - n);
        if (got < 0) rc = -1;
        if (got <= 0) break;
        n += (size_t)got;
    }
    InputFormat fmt = p->opt->format;
    if (rc == 0 && fmt == FMT_AUTO) rc = format_detect(f->path, head, n, &fmt);
    if (rc == 0 && n == 0) rc = kr_error("%s is empty", f->path);
    if (rc == 0) rc = source_unread(&src, head, n);
    free(head);
    f->format = fmt;
    if (rc == 0) {
        ReaderContext rc_ctx = {.sink = sink_doc, .ctx = p, .counts = &f->counts, .column = p->opt->column, .keep_headings = p->opt->keep_headings};
        if (fmt == FMT_WIKI_XML) rc = read_wiki_xml(&src, &rc_ctx);
        else if (fmt == FMT_TSV || fmt == FMT_CSV) rc = read_table(&src, fmt, &rc_ctx);
        else rc = read_lines(&src, fmt, &rc_ctx);
        snprintf(f->columns, sizeof f->columns, "%s", rc_ctx.columns_used);
    }
    f->decompressed = src.out_offset;
    p->src = NULL;
    source_close(&src);
    return rc;
}

static void *reader_main(void *arg) {
    Pipeline *p = arg;
    p->cur = take_free(p);
    for (int i = 0; i < p->nfiles && p->cur; i++) {
        FileReport *f = &p->files[i];
        if (read_one_file(p, f) != 0) {
            if (!p->cur) break; /* the main thread stopped the run */
            if (strstr(kr_last_error(), "out of memory")) {
                snprintf(p->fatal, sizeof p->fatal, "%s", kr_last_error());
                break;
            }
            f->problem = strdup(kr_last_error());
            if (p->opt->progress && isatty(STDERR_FILENO)) fputs("\r\033[K", stderr); /* clear the progress bar line */
            kr_warn("%s", kr_last_error());
        }
        p->bytes_before_current += f->bytes;
        __atomic_store_n(&p->progress_bytes, p->bytes_before_current, __ATOMIC_RELAXED);
    }
    pthread_mutex_lock(&p->mu);
    if (p->cur) {
        p->ready[(p->ready_head + p->nready) % NUM_BATCHES] = p->cur;
        p->nready++;
    }
    p->reader_done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- per-thread work ------------------------------------------------------------------- */

typedef enum { PIECE_OK, PIECE_SHORT, PIECE_LOW_HANGUL } PieceStatus;

typedef struct {
    size_t off, len; /* in the clean arena of the document's phase-A thread */
    uint32_t chars, hangul, nonspace;
    PieceStatus status;
    uint64_t hash;
    uint32_t bands[LSH_MAX_BANDS];
} Piece;

typedef struct {
    uint64_t docs_in, empty, pieces, split_docs, too_short, low_hangul, exact_dup, near_dup, lines_removed;
    uint64_t kept[SPLIT_COUNT], bytes_out, chars_out, hangul_chars, nonspace_chars;
} Counters;

typedef struct {
    char *a, *b;
    size_t ab_cap;
    NormScratch ns;
    char *clean;
    size_t clean_len, clean_cap;
    Piece *pieces;
    size_t npieces, pieces_cap;
    CleanCounts cc;
    Counters cnt;
} Worker;

typedef struct {
    int thread;
    size_t off, len;
} CleanDoc;

typedef struct {
    int thread;
    size_t first, count;
} DocPieces;

static int grow_bytes(char **buf, size_t *cap, size_t need) {
    return kr_grow((void **)buf, cap, need, 1, 1 << 16, "document text");
}

/* Phase A: markup and normalisation of one document into the worker's clean arena. */
static int clean_document(const PrepareOptions *o, Worker *w, const char *text, size_t n, DocKind kind, CleanDoc *out, int thread) {
    if (n + 1 > w->ab_cap) {
        size_t cap = w->ab_cap;
        if (grow_bytes(&w->a, &cap, n + 1) != 0) return -1;
        cap = w->ab_cap;
        if (grow_bytes(&w->b, &cap, n + 1) != 0) return -1;
        w->ab_cap = cap;
    }
    size_t m;
    if (kind == DOC_WIKITEXT) {
        m = wikitext_to_text(text, n, w->a, w->b, o->keep_headings);
    } else {
        m = markup_strip_tags(text, n, w->a);
        m = markup_decode_entities(w->a, m, w->a);
        if (kind == DOC_WIKI_EXTRACTED) {
            m = wikiextractor_drop_placeholders(w->a, m, w->a);
            m = wikitext_tidy_parentheses(w->a, m, w->a);
        }
    }
    const char *clean;
    size_t clen;
    if (text_normalize(w->a, m, o->norm, &w->ns, &clean, &clen, &w->cc) != 0) return -1;
    if (grow_bytes(&w->clean, &w->clean_cap, w->clean_len + clen + 1) != 0) return -1;
    memcpy(w->clean + w->clean_len, clean, clen);
    *out = (CleanDoc){thread, w->clean_len, clen};
    w->clean_len += clen;
    return 0;
}

/* End (exclusive) of the next piece starting at `pos` and where the one after starts: the
 * longest run of whole paragraphs within max_chars, else a cut at the last space, else a cut
 * after exactly max_chars characters. */
static void next_piece(const char *s, size_t n, size_t pos, size_t max_chars, size_t *end, size_t *next) {
    size_t chars = 0, i = pos, last_nl = 0, last_sp = 0;
    while (i < n) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max_chars) break;
            chars++;
        }
        if (s[i] == '\n') last_nl = i;
        else if (s[i] == ' ') last_sp = i;
        i++;
    }
    if (i >= n) *end = *next = n;
    else if (last_nl > pos) *end = last_nl, *next = last_nl + 1;
    else if (last_sp > pos) *end = last_sp, *next = last_sp + 1;
    else *end = *next = i;
}

static int add_piece(const PrepareOptions *o, const LshParams *lsh, Worker *w, char *s, size_t off, size_t len) {
    if (w->npieces == w->pieces_cap) {
        size_t cap = w->pieces_cap ? w->pieces_cap * 2 : 1024;
        Piece *p = realloc(w->pieces, cap * sizeof *p);
        if (!p) return kr_error("out of memory");
        w->pieces = p;
        w->pieces_cap = cap;
    }
    Piece *pc = &w->pieces[w->npieces++];
    memset(pc, 0, sizeof *pc);
    pc->off = off;
    pc->len = len;
    const unsigned char *t = (const unsigned char *)s + off;
    for (size_t i = 0; i < len;) {
        size_t l = 1;
        uint32_t cp = t[i] < 0x80 ? t[i] : text_utf8_decode(t + i, &l);
        if (cp == '\n') ((char *)t)[i] = ' ', cp = ' ';
        pc->chars++;
        pc->nonspace += cp != ' ';
        pc->hangul += text_is_hangul(cp);
        i += l;
    }
    if (pc->chars < (uint32_t)o->min_length) pc->status = PIECE_SHORT;
    else if (o->min_hangul_ratio > 0 && pc->hangul < o->min_hangul_ratio * pc->nonspace) pc->status = PIECE_LOW_HANGUL;
    if (pc->status != PIECE_OK) return 0;
    pc->hash = kr_hash64(t, len, o->seed);
    if (o->near_dedup) minhash_band_keys((const char *)t, len, lsh, o->seed, pc->bands);
    return 0;
}

/* Phase C: split a cleaned document into pieces of at most max_length characters. */
static int piece_document(const PrepareOptions *o, const LshParams *lsh, Worker *w, Worker *owner, const CleanDoc *cd, DocPieces *dp, int thread) {
    char *s = owner->clean + cd->off;
    dp->thread = thread;
    dp->first = w->npieces;
    for (size_t pos = 0, end, next; pos < cd->len; pos = next) {
        next_piece(s, cd->len, pos, (size_t)o->max_length, &end, &next);
        if (add_piece(o, lsh, w, owner->clean, cd->off + pos, end - pos) != 0) return -1;
    }
    dp->count = w->npieces - dp->first;
    return 0;
}

/* Phase B: drops lines (paragraphs) already seen anywhere before; compacts in place. */
static int dedup_lines(KeySet *lines, char *s, size_t *len, uint64_t seed, uint64_t *removed) {
    size_t o = 0, n = *len;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        int seen = keyset_insert(lines, kr_hash64(s + i, e - i, seed ^ 0x4c494e45ULL));
        if (seen < 0) return -1;
        if (seen) {
            (*removed)++;
        } else {
            if (o) s[o++] = '\n';
            memmove(s + o, s + i, e - i);
            o += e - i;
        }
        i = e + 1;
    }
    *len = o;
    return 0;
}

/* ---- the run --------------------------------------------------------------------------- */

typedef struct {
    AtomicFile out[SPLIT_COUNT];
    int open[SPLIT_COUNT];
    KeySet exact, lines;
    LshIndex lsh;
    Worker *workers;
    int nthreads;
    WorkPool *pool;    /* nthreads threads, the caller included */
    char failure[512]; /* the message of a failed parallel phase */
    CleanDoc *cdocs;
    DocPieces *dpieces;
    size_t docs_cap;
    Counters total;
} Run;

/* Phase D for one piece. */
static int emit_piece(const PrepareOptions *o, Run *r, const char *text, const Piece *pc) {
    Counters *t = &r->total;
    if (pc->status == PIECE_SHORT) {
        t->too_short++;
        return 0;
    }
    if (pc->status == PIECE_LOW_HANGUL) {
        t->low_hangul++;
        return 0;
    }
    if (keyset_contains(&r->exact, pc->hash)) {
        t->exact_dup++;
        return 0;
    }
    if (o->near_dedup) {
        int dup = lsh_check_insert(&r->lsh, pc->bands);
        if (dup < 0) return -1;
        if (dup) {
            t->near_dup++;
            return 0;
        }
    }
    if (keyset_insert(&r->exact, pc->hash) < 0) return -1;
    SplitPart part = split_of(text, pc->len, o->seed);
    if (kr_fwrite(text, pc->len, r->out[part].fp, r->out[part].final_path) != 0 || kr_fwrite("\n", 1, r->out[part].fp, r->out[part].final_path) != 0)
        return -1;
    t->kept[part]++;
    t->bytes_out += pc->len + 1;
    t->chars_out += pc->chars;
    t->hangul_chars += pc->hangul;
    t->nonspace_chars += pc->nonspace;
    return 0;
}

/* The two parallel phases of a batch run on the work pool, DOCS_PER_CHUNK documents a chunk: a
 * document is cleaned by, and its text kept in the arena of, the thread that took its chunk. */
#define DOCS_PER_CHUNK 4
typedef enum { PHASE_CLEAN, PHASE_PIECE } Phase;
typedef struct {
    const PrepareOptions *o;
    Run *r;
    Batch *b;
    Phase phase;
    int failed; /* set by the first failing thread, whose kr_last_error() holds the message */
} BatchJob;

static void batch_chunk(void *ctx, int chunk, int t) {
    BatchJob *j = ctx;
    Run *r = j->r;
    size_t i1 = (size_t)(chunk + 1) * DOCS_PER_CHUNK < j->b->n ? (size_t)(chunk + 1) * DOCS_PER_CHUNK : j->b->n;
    for (size_t i = (size_t)chunk * DOCS_PER_CHUNK; i < i1; i++) {
        if (__atomic_load_n(&j->failed, __ATOMIC_RELAXED)) return;
        const RawDoc *d = &j->b->docs[i];
        CleanDoc *cd = &r->cdocs[i];
        int rc = j->phase == PHASE_CLEAN
                     ? clean_document(j->o, &r->workers[t], j->b->text + d->off, d->len, d->kind, cd, t)
                     : piece_document(j->o, &r->lsh.params, &r->workers[t], &r->workers[cd->thread], cd, &r->dpieces[i], t);
        if (rc != 0) {
            int expected = 0;
            if (__atomic_compare_exchange_n(&j->failed, &expected, t + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                snprintf(r->failure, sizeof r->failure, "%s", kr_last_error());
            return;
        }
    }
}

static int run_phase(Run *r, BatchJob *j) {
    workpool_run(r->pool, batch_chunk, j, (int)((j->b->n + DOCS_PER_CHUNK - 1) / DOCS_PER_CHUNK));
    return j->failed ? kr_error("%s", r->failure) : 0;
}

static int process_batch(const PrepareOptions *o, Run *r, Batch *b) {
    if (b->n > r->docs_cap) {
        CleanDoc *c = realloc(r->cdocs, b->n * sizeof *c);
        if (c) r->cdocs = c;
        DocPieces *d = realloc(r->dpieces, b->n * sizeof *d);
        if (d) r->dpieces = d;
        if (!c || !d) return kr_error("out of memory");
        r->docs_cap = b->n;
    }
    for (int t = 0; t < r->nthreads; t++) r->workers[t].clean_len = r->workers[t].npieces = 0;
    BatchJob job = {o, r, b, PHASE_CLEAN, 0};
    if (run_phase(r, &job) != 0) return -1;
    if (o->line_dedup)
        for (size_t i = 0; i < b->n; i++) {
            CleanDoc *cd = &r->cdocs[i];
            if (dedup_lines(&r->lines, r->workers[cd->thread].clean + cd->off, &cd->len, o->seed, &r->total.lines_removed) != 0) return -1;
        }
    job.phase = PHASE_PIECE;
    if (run_phase(r, &job) != 0) return -1;
    for (size_t i = 0; i < b->n; i++) {
        DocPieces *dp = &r->dpieces[i];
        const char *arena = r->workers[r->cdocs[i].thread].clean;
        r->total.docs_in++;
        r->total.pieces += dp->count;
        if (dp->count == 0) r->total.empty++;
        if (dp->count > 1) r->total.split_docs++;
        for (size_t k = 0; k < dp->count; k++) {
            const Piece *pc = &r->workers[dp->thread].pieces[dp->first + k];
            if (emit_piece(o, r, arena + pc->off, pc) != 0) return -1;
        }
    }
    return 0;
}

void prepare_default_options(PrepareOptions *o) {
    memset(o, 0, sizeof *o);
    o->min_length = 10;
    o->max_length = 2048;
    o->format = FMT_AUTO;
    o->norm = NORM_NFC;
    o->near_dup_threshold = 0.8;
    o->near_dedup = 1;
    o->seed = 1234;
    o->progress = 1;
}

static void add_u64(cJSON *obj, const char *key, uint64_t v) { cJSON_AddNumberToObject(obj, key, (double)v); }

static char *stats_json(const PrepareOptions *o, const Run *r, const FileReport *files, int nfiles, double seconds, double cpu_seconds, int problems) {
    const Counters *t = &r->total;
    CleanCounts cc = {0};
    for (int k = 0; k < r->nthreads; k++) {
        cc.invalid_utf8 += r->workers[k].cc.invalid_utf8;
        cc.control_removed += r->workers[k].cc.control_removed;
        cc.normalized_docs += r->workers[k].cc.normalized_docs;
    }
    uint64_t bytes = 0, decompressed = 0, raw_docs = 0, ns = 0, redirects = 0, bad_rows = 0;
    cJSON *root = cJSON_CreateObject(), *jf = cJSON_AddArrayToObject(root, "files");
    for (int i = 0; i < nfiles; i++) {
        const FileReport *f = &files[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", f->path);
        cJSON_AddStringToObject(e, "format", format_name(f->format));
        if (f->columns[0]) cJSON_AddStringToObject(e, "columns", f->columns);
        add_u64(e, "bytes", f->bytes);
        add_u64(e, "decompressed_bytes", f->decompressed);
        add_u64(e, "documents", f->counts.docs);
        if (f->counts.skipped_namespace) add_u64(e, "skipped_namespace", f->counts.skipped_namespace);
        if (f->counts.skipped_redirect) add_u64(e, "skipped_redirect", f->counts.skipped_redirect);
        if (f->counts.bad_rows) add_u64(e, "rows_without_column", f->counts.bad_rows);
        if (f->problem) cJSON_AddStringToObject(e, "problem", f->problem);
        cJSON_AddItemToArray(jf, e);
        bytes += f->bytes;
        decompressed += f->decompressed;
        raw_docs += f->counts.docs;
        ns += f->counts.skipped_namespace;
        redirects += f->counts.skipped_redirect;
        bad_rows += f->counts.bad_rows;
    }
    add_u64(root, "problems", (uint64_t)problems);
    add_u64(root, "bytes_in", bytes);
    add_u64(root, "bytes_decompressed", decompressed);
    add_u64(root, "documents_in", raw_docs);
    add_u64(root, "pieces", t->pieces);
    add_u64(root, "documents_split", t->split_docs);
    uint64_t kept = t->kept[0] + t->kept[1] + t->kept[2];
    add_u64(root, "kept", kept);
    cJSON *split = cJSON_AddObjectToObject(root, "split");
    for (int k = 0; k < SPLIT_COUNT; k++) add_u64(split, split_name((SplitPart)k), t->kept[k]);
    cJSON *drop = cJSON_AddObjectToObject(root, "dropped");
    add_u64(drop, "non_article_namespace", ns);
    add_u64(drop, "redirect", redirects);
    add_u64(drop, "empty", t->empty);
    add_u64(drop, "too_short", t->too_short);
    add_u64(drop, "low_hangul", t->low_hangul);
    add_u64(drop, "exact_duplicate", t->exact_dup);
    add_u64(drop, "near_duplicate", t->near_dup);
    add_u64(drop, "rows_without_column", bad_rows);
    add_u64(root, "duplicate_lines_removed", t->lines_removed);
    add_u64(root, "invalid_utf8_replaced", cc.invalid_utf8);
    add_u64(root, "control_chars_removed", cc.control_removed);
    add_u64(root, "bytes_out", t->bytes_out);
    add_u64(root, "chars_out", t->chars_out);
    cJSON_AddNumberToObject(root, "hangul_share", t->nonspace_chars ? (double)t->hangul_chars / (double)t->nonspace_chars : 0.0);
    cJSON_AddNumberToObject(root, "seconds", seconds);
    cJSON_AddNumberToObject(root, "cpu_seconds", cpu_seconds);
    cJSON_AddNumberToObject(root, "peak_rss_mb", kr_peak_rss_mb());
    add_u64(root, "dedup_index_bytes", keyset_bytes(&r->exact) + keyset_bytes(&r->lsh.bands) + keyset_bytes(&r->lines));
    cJSON *cfg = cJSON_AddObjectToObject(root, "options");
    cJSON_AddNumberToObject(cfg, "min_length", o->min_length);
    cJSON_AddNumberToObject(cfg, "max_length", o->max_length);
    cJSON_AddStringToObject(cfg, "normalize", o->norm == NORM_NFKC ? "nfkc" : "nfc");
    cJSON_AddBoolToObject(cfg, "keep_headings", o->keep_headings);
    cJSON_AddBoolToObject(cfg, "near_dedup", o->near_dedup);
    cJSON_AddNumberToObject(cfg, "near_dup_threshold", o->near_dup_threshold);
    cJSON_AddNumberToObject(cfg, "lsh_bands", r->lsh.params.bands);
    cJSON_AddNumberToObject(cfg, "lsh_rows", r->lsh.params.rows);
    cJSON_AddBoolToObject(cfg, "line_dedup", o->line_dedup);
    cJSON_AddNumberToObject(cfg, "min_hangul_ratio", o->min_hangul_ratio);
    cJSON_AddNumberToObject(cfg, "num_threads", r->nthreads);
    cJSON_AddNumberToObject(cfg, "seed", (double)o->seed);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static int open_outputs(const PrepareOptions *o, Run *r) {
    if (kr_mkdir_p(o->output_dir) != 0) return -1;
    char path[4096];
    for (int k = 0; k < SPLIT_COUNT; k++) {
        snprintf(path, sizeof path, "%s/%s.txt", o->output_dir, split_name((SplitPart)k));
        if (kr_atomic_open(&r->out[k], path) != 0) return -1;
        r->open[k] = 1;
    }
    return 0;
}

static void run_free(Run *r) {
    for (int k = 0; k < SPLIT_COUNT; k++)
        if (r->open[k]) kr_atomic_abort(&r->out[k]);
    keyset_free(&r->exact);
    keyset_free(&r->lines);
    lsh_free(&r->lsh);
    for (int t = 0; t < r->nthreads && r->workers; t++) {
        Worker *w = &r->workers[t];
        free(w->a);
        free(w->b);
        free(w->clean);
        free(w->pieces);
        norm_scratch_free(&w->ns);
    }
    free(r->workers);
    workpool_free(r->pool);
    free(r->cdocs);
    free(r->dpieces);
}

/* Main-thread loop: process batches as the reader fills them. */
static int consume(const PrepareOptions *o, Run *r, Pipeline *p, uint64_t total_bytes) {
    Progress prog;
    if (o->progress) progress_begin(&prog, "prepare", (double)total_bytes, "MB", 1e6);
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->nready == 0 && !p->reader_done) pthread_cond_wait(&p->cv, &p->mu);
        Batch *b = NULL;
        if (p->nready) {
            b = p->ready[p->ready_head];
            p->ready_head = (p->ready_head + 1) % NUM_BATCHES;
            p->nready--;
        }
        pthread_mutex_unlock(&p->mu);
        if (!b) break;
        if (rc == 0) rc = process_batch(o, r, b);
        pthread_mutex_lock(&p->mu);
        p->free_list[p->nfree++] = b;
        if (rc != 0) p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (o->progress) progress_update(&prog, (double)__atomic_load_n(&p->progress_bytes, __ATOMIC_RELAXED));
    }
    if (o->progress) progress_end(&prog, (double)__atomic_load_n(&p->progress_bytes, __ATOMIC_RELAXED));
    return rc;
}

int prepare_run(const PrepareOptions *o, int *problems) {
    double t0 = kr_now(), c0 = cpu_seconds();
    *problems = 0;
    if (o->min_length < 0 || o->max_length < 1 || o->min_length > o->max_length)
        return kr_error("--min_length (%d) and --max_length (%d) must satisfy 0 <= min <= max, max >= 1", o->min_length, o->max_length);
    if (o->near_dup_threshold <= 0 || o->near_dup_threshold > 1) return kr_error("--near_dup_threshold must be in (0, 1], got %g", o->near_dup_threshold);
    StrList paths = {0};
    for (int i = 0; i < o->ninputs; i++)
        if (expand_input(o->inputs[i], &paths) != 0) {
            strlist_free(&paths);
            return -1;
        }
    if (paths.n == 0) {
        strlist_free(&paths);
        return kr_error("no input files (give --input FILE... or a directory)");
    }
    Run r = {0};
    Pipeline p = {.opt = o, .nfiles = paths.n};
    p.files = calloc((size_t)paths.n, sizeof *p.files);
    r.nthreads = o->num_threads > 0 ? o->num_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (r.nthreads < 1) r.nthreads = 1;
    if (r.nthreads > 256) r.nthreads = 256;
    p.decode_threads = r.nthreads;
    r.workers = calloc((size_t)r.nthreads, sizeof *r.workers);
    r.pool = workpool_create(r.nthreads);
    int rc = p.files && r.workers && r.pool ? 0 : kr_error("out of memory");
    uint64_t total_bytes = 0;
    for (int i = 0; rc == 0 && i < paths.n; i++) {
        struct stat st;
        p.files[i].path = paths.items[i];
        if (stat(paths.items[i], &st) == 0) p.files[i].bytes = (uint64_t)st.st_size;
        total_bytes += p.files[i].bytes;
    }
    if (rc == 0) rc = keyset_init(&r.exact, 1);
    if (rc == 0) rc = keyset_init(&r.lines, 1);
    if (rc == 0) rc = lsh_init(&r.lsh, o->near_dup_threshold);
    if (rc == 0) rc = open_outputs(o, &r);
    pthread_t reader;
    int started = 0;
    if (rc == 0) {
        pthread_mutex_init(&p.mu, NULL);
        pthread_cond_init(&p.cv, NULL);
        for (int k = 0; k < NUM_BATCHES; k++) p.free_list[p.nfree++] = &p.batches[k];
        if (pthread_create(&reader, NULL, reader_main, &p) != 0) rc = kr_error("cannot start the reader thread");
        else started = 1;
    }
    if (started) {
        rc = consume(o, &r, &p, total_bytes);
        pthread_join(reader, NULL);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        if (rc == 0 && p.fatal[0]) rc = kr_error("%s", p.fatal);
    }
    for (int i = 0; i < p.nfiles && p.files; i++) *problems += p.files[i].problem != NULL;
    if (rc == 0) {
        char *json = stats_json(o, &r, p.files, p.nfiles, kr_now() - t0, cpu_seconds() - c0, *problems);
        char path[4096];
        snprintf(path, sizeof path, "%s/stats.json", o->output_dir);
        for (int k = 0; rc == 0 && k < SPLIT_COUNT; k++) {
            r.open[k] = 0;
            rc = kr_atomic_commit(&r.out[k]);
        }
        if (rc == 0) rc = json ? kr_write_file_atomic(path, json, strlen(json)) : kr_error("out of memory");
        if (rc == 0 && o->progress) {
            uint64_t kept = r.total.kept[0] + r.total.kept[1] + r.total.kept[2];
            fprintf(stderr, "prepare: %llu documents in, %llu kept (train %llu, val %llu, test %llu), %llu exact and %llu near duplicates, %.1f s; see %s\n",
                    (unsigned long long)r.total.docs_in, (unsigned long long)kept, (unsigned long long)r.total.kept[0], (unsigned long long)r.total.kept[1],
                    (unsigned long long)r.total.kept[2], (unsigned long long)r.total.exact_dup, (unsigned long long)r.total.near_dup, kr_now() - t0, path);
        }
        free(json);
    }
    for (int i = 0; i < p.nfiles && p.files; i++) free(p.files[i].problem);
    for (int k = 0; k < NUM_BATCHES; k++) {
        free(p.batches[k].text);
        free(p.batches[k].docs);
    }
    free(p.files);
    run_free(&r);
    strlist_free(&paths);
    return rc;
}
