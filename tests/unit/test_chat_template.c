/* Chat prompt rendering in both formats. */
#include <string.h>

#include "infer/chat_template.h"
#include "test.h"

int main(void) {
    ChatTemplate special = {1, 1, {5, 6, 7}, 3, NULL}, plain = {0, 0, {0}, 0, "\n사용자:"};
    const char *turns[3] = {"안녕", "반가워요", "서울은?"};
    char *s = chat_template_render(&special, "도우미", turns, 3);
    CHECK(s && !strcmp(s, "<|system|>\n도우미\n<|user|>\n안녕\n<|assistant|>\n반가워요\n<|user|>\n서울은?\n<|assistant|>\n"));
    free(s);
    s = chat_template_render(&special, NULL, turns, 1);
    CHECK(s && !strcmp(s, "<|user|>\n안녕\n<|assistant|>\n"));
    free(s);
    special.has_system_piece = 0;
    s = chat_template_render(&special, "도우미", turns, 1);
    CHECK(s && !strcmp(s, "도우미\n<|user|>\n안녕\n<|assistant|>\n"));
    free(s);
    s = chat_template_render(&plain, "도우미", turns, 3);
    CHECK(s && !strcmp(s, "도우미\n\n사용자: 안녕\n어시스턴트: 반가워요\n사용자: 서울은?\n어시스턴트:"));
    free(s);
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const char *one[1] = {big};
    s = chat_template_render(&plain, "", one, 1);
    CHECK(s && strlen(s) == strlen(big) + strlen("사용자: \n어시스턴트:"));
    free(s);
    return test_summary("test_chat_template");
}
