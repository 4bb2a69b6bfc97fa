#include "data/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static void encode_header(const ShardHeader *h, uint8_t out[SHARD_HEADER_SIZE]) {
    memset(out, 0, SHARD_HEADER_SIZE);
    memcpy(out, SHARD_MAGIC, 8);
    memcpy(out + 8, &h->version, 4);
    memcpy(out + 12, &h->token_bytes, 4);
    memcpy(out + 16, &h->vocab_size, 4);
    memcpy(out + 20, &h->separator_id, 4);
    memcpy(out + 24, &h->num_tokens, 8);
    memcpy(out + 32, &h->num_docs, 8);
    memcpy(out + 40, &h->payload_crc, 4);
    uint32_t hcrc = kr_crc32(0, out, 44);
    memcpy(out + 44, &hcrc, 4);
}

int shard_writer_open(ShardWriter *w, const char *path, uint32_t vocab_size, uint32_t separator_id) {
    memset(w, 0, sizeof *w);
    if (separator_id >= vocab_size) return kr_error("separator id %u is outside the vocabulary (%u)", separator_id, vocab_size);
    w->hdr.version = SHARD_VERSION;
    w->hdr.token_bytes = vocab_size <= 65536 ? 2 : 4;
    w->hdr.vocab_size = vocab_size;
    w->hdr.separator_id = separator_id;
    if (kr_atomic_open(&w->file, path) != 0) return -1;
    uint8_t blank[SHARD_HEADER_SIZE] = {0};
    if (kr_fwrite(blank, sizeof blank, w->file.fp, path) != 0) {
        kr_atomic_abort(&w->file);
        return -1;
    }
    return 0;
}

int shard_writer_append(ShardWriter *w, const uint32_t *ids, size_t n) {
    uint8_t buf[8192];
    size_t per = w->hdr.token_bytes, chunk = sizeof buf / per;
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        for (size_t j = 0; j < m; j++) {
            uint32_t id = ids[i + j];
            if (id >= w->hdr.vocab_size) return kr_error("token id %u is outside the vocabulary (%u)", id, w->hdr.vocab_size);
            if (per == 2) {
                uint16_t v = (uint16_t)id;
                memcpy(buf + j * 2, &v, 2);
            } else {
                memcpy(buf + j * 4, &id, 4);
            }
        }
        w->crc = kr_crc32(w->crc, buf, m * per);
        if (kr_fwrite(buf, m * per, w->file.fp, "token shard") != 0) return -1;
    }
    w->hdr.num_tokens += n;
    return 0;
}

int shard_writer_append_doc(ShardWriter *w, const uint32_t *ids, size_t n) {
    if (shard_writer_append(w, ids, n) != 0) return -1;
    if (shard_writer_append(w, &w->hdr.separator_id, 1) != 0) return -1;
    w->hdr.num_docs++;
    return 0;
}

int shard_writer_close(ShardWriter *w) {
    uint8_t hdr[SHARD_HEADER_SIZE];
    w->hdr.payload_crc = w->crc;
    encode_header(&w->hdr, hdr);
    if (fseek(w->file.fp, 0, SEEK_SET) != 0 || kr_fwrite(hdr, sizeof hdr, w->file.fp, "token shard header") != 0) {
        kr_atomic_abort(&w->file);
        return -1;
    }
    return kr_atomic_commit(&w->file);
}

void shard_writer_abort(ShardWriter *w) { kr_atomic_abort(&w->file); }

int shard_open(Shard *s, const char *path, int verify_payload) {
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kr_error("cannot open token shard %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < SHARD_HEADER_SIZE) {
        close(fd);
        return kr_error("%s is not a token shard (too short; run `krllm tokenize` to make one)", path);
    }
    void *map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return kr_error("cannot map %s: %s", path, strerror(errno));
    const uint8_t *b = map;
    ShardHeader h;
    uint32_t hcrc;
    memcpy(&h.version, b + 8, 4);
    memcpy(&h.token_bytes, b + 12, 4);
    memcpy(&h.vocab_size, b + 16, 4);
    memcpy(&h.separator_id, b + 20, 4);
    memcpy(&h.num_tokens, b + 24, 8);
    memcpy(&h.num_docs, b + 32, 8);
    memcpy(&h.payload_crc, b + 40, 4);
    memcpy(&hcrc, b + 44, 4);
    int rc = 0;
    if (memcmp(b, SHARD_MAGIC, 8) != 0) rc = kr_error("%s is not a token shard (bad magic)", path);
    else if (hcrc != kr_crc32(0, b, 44)) rc = kr_error("%s: token shard header is corrupt (checksum mismatch)", path);
    else if (h.version != SHARD_VERSION) rc = kr_error("%s: unsupported token shard version %u", path, h.version);
    else if (h.token_bytes != 2 && h.token_bytes != 4) rc = kr_error("%s: bad token width %u", path, h.token_bytes);
    else if ((uint64_t)st.st_size != SHARD_HEADER_SIZE + h.num_tokens * h.token_bytes)
        rc = kr_error("%s: token shard is truncated or has trailing bytes (%lld bytes, header says %llu tokens)", path,
                      (long long)st.st_size, (unsigned long long)h.num_tokens);
    else if (verify_payload && kr_crc32(0, b + SHARD_HEADER_SIZE, h.num_tokens * h.token_bytes) != h.payload_crc)
        rc = kr_error("%s: token data is corrupt (checksum mismatch)", path);
    if (rc != 0) {
        munmap(map, st.st_size);
        return rc;
    }
    s->hdr = h;
    s->map = map;
    s->map_size = st.st_size;
    s->tokens = b + SHARD_HEADER_SIZE;
    return 0;
}

void shard_close(Shard *s) {
    if (s->map) munmap(s->map, s->map_size);
    memset(s, 0, sizeof *s);
}
