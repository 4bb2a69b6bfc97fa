/* Dedup building blocks: key sets, LSH banding, MinHash near-duplicates (perturbed copies
 * found, distinct texts kept), and the hash split (98/1/1, independent of order). */
#include <stdint.h>
#include <string.h>

#include "common/rng.h"
#include "test.h"
#include "text/dedup.h"
#include "text/split.h"

/* A Korean text of `sentences` sentences drawn from word lists and numbers by rng: texts share
 * most of their vocabulary but have a Jaccard similarity of 5-grams well below 0.5. */
static size_t make_text(Rng *r, int sentences, char *out, size_t cap) {
    static const char *const subj[] = {"학생들은", "정부는", "회사가", "우리 가족은", "그 작가는", "시민들이", "연구진은", "선수들은"};
    static const char *const obj[] = {"새로운 계획을", "오래된 책을", "작은 집을", "긴 편지를", "맛있는 음식을", "중요한 문제를", "아름다운 노래를", "낯선 도시를"};
    static const char *const verb[] = {"발표했다.", "읽었다.", "지었다.", "보냈다.", "만들었다.", "논의했다.", "불렀다.", "방문했다."};
    static const char *const when[] = {"어제", "오늘 아침", "지난주에", "작년 여름", "밤늦게", "주말마다", "새해 첫날", "비 오는 날"};
    size_t n = 0;
    for (int s = 0; s < sentences; s++)
        n += (size_t)snprintf(out + n, cap - n, "%s %s %u번째 %s %s ", when[rng_below(r, 8)], subj[rng_below(r, 8)], (unsigned)rng_below(r, 100000), obj[rng_below(r, 8)], verb[rng_below(r, 8)]);
    return n;
}

int main(void) {
    /* key sets: 32- and 64-bit, growth, duplicates, the zero key */
    for (int wide = 0; wide <= 1; wide++) {
        KeySet s;
        CHECK(keyset_init(&s, wide) == 0);
        int bad = 0;
        for (uint64_t k = 0; k < 50000; k++) bad += keyset_insert(&s, k * 0x9E3779B97F4A7C15ULL) != 0;
        for (uint64_t k = 0; k < 50000; k++) bad += keyset_insert(&s, k * 0x9E3779B97F4A7C15ULL) != 1;
        CHECK(bad == 0);
        CHECK(keyset_contains(&s, 0));
        CHECK(!keyset_contains(&s, 12345));
        CHECK(s.n == 50000);
        CHECK(keyset_bytes(&s) <= (size_t)(50000 * (wide ? 8 : 4) * 8 / 3 + 64));
        keyset_free(&s);
    }

    /* banding for 0.8: within the memory bound, steep around the threshold */
    LshParams p = lsh_params(0.8);
    CHECK(p.bands >= 1 && p.bands <= LSH_MAX_BANDS && p.bands * p.rows <= MINHASH_BINS);
    CHECK_MSG(lsh_collision_probability(&p, 0.95) > 0.95, "P(0.95) = %g", lsh_collision_probability(&p, 0.95));
    CHECK_MSG(lsh_collision_probability(&p, 0.5) < 0.02, "P(0.5) = %g", lsh_collision_probability(&p, 0.5));
    LshParams loose = lsh_params(0.5);
    CHECK(lsh_collision_probability(&loose, 0.6) > lsh_collision_probability(&p, 0.6));

    /* near duplicates: a long text and a copy with a few characters changed collide;
     * many distinct texts built from the same vocabulary do not */
    Rng r;
    rng_seed(&r, 7);
    LshIndex ix;
    CHECK(lsh_init(&ix, 0.8) == 0);
    static char a[8192], b[8192];
    int distinct = test_sanitized() ? 200 : 2000, false_hits = 0;
    for (int i = 0; i < distinct; i++) {
        size_t n = make_text(&r, 12, a, sizeof a);
        uint32_t keys[LSH_MAX_BANDS];
        minhash_band_keys(a, n, &ix.params, 1, keys);
        false_hits += lsh_check_insert(&ix, keys) == 1;
    }
    CHECK_MSG(false_hits <= distinct / 200, "%d of %d distinct texts flagged as near duplicates", false_hits, distinct);
    int found = 0, trials = 50;
    for (int t = 0; t < trials; t++) {
        size_t n = make_text(&r, 30, a, sizeof a);
        memcpy(b, a, n);
        /* perturb: swap two ASCII spaces for dots and drop the last few bytes of a word */
        b[n / 3] = b[n / 3] == ' ' ? '.' : b[n / 3];
        b[n / 2] = b[n / 2] == ' ' ? ',' : b[n / 2];
        size_t m = n - 9; /* three Hangul syllables shorter */
        while (((unsigned char)b[m] & 0xC0) == 0x80) m--;
        uint32_t ka[LSH_MAX_BANDS], kb[LSH_MAX_BANDS];
        minhash_band_keys(a, n, &ix.params, 1, ka);
        minhash_band_keys(b, m, &ix.params, 1, kb);
        LshIndex pair;
        CHECK(lsh_init(&pair, 0.8) == 0);
        CHECK(lsh_check_insert(&pair, ka) == 0);
        found += lsh_check_insert(&pair, kb) == 1;
        lsh_free(&pair);
    }
    CHECK_MSG(found >= trials - 2, "%d of %d perturbed copies found", found, trials);
    /* identical short texts (one-line reviews) collide, different ones do not */
    uint32_t k1[LSH_MAX_BANDS], k2[LSH_MAX_BANDS], k3[LSH_MAX_BANDS];
    minhash_band_keys("정말 재미있는 영화", strlen("정말 재미있는 영화"), &p, 1, k1);
    minhash_band_keys("정말 재미있는 영화", strlen("정말 재미있는 영화"), &p, 1, k2);
    minhash_band_keys("지루하고 뻔한 영화", strlen("지루하고 뻔한 영화"), &p, 1, k3);
    CHECK(memcmp(k1, k2, sizeof k1) == 0);
    CHECK(memcmp(k1, k3, sizeof k1) != 0);
    lsh_free(&ix);

    /* split: 98/1/1 on many documents, the same for a text wherever it appears */
    int counts[SPLIT_COUNT] = {0}, total = test_sanitized() ? 20000 : 200000;
    char doc[64];
    for (int i = 0; i < total; i++) {
        int n = snprintf(doc, sizeof doc, "문서 번호 %d", i);
        counts[split_of(doc, (size_t)n, 1234)]++;
    }
    CHECK_NEAR(counts[SPLIT_VAL] / (double)total, 0.01, 0.002);
    CHECK_NEAR(counts[SPLIT_TEST] / (double)total, 0.01, 0.002);
    CHECK(split_of("같은 문서", strlen("같은 문서"), 1234) == split_of("같은 문서", strlen("같은 문서"), 1234));
    return test_summary("test_dedup");
}
