/* test-strbuf: string builder appends, formatting, growth and ownership. */
#include "strbuf.h"
#include "tap.h"

int main(void) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;

        is_str(strbuf_str(&sb), "", "empty builder reads as empty string");
        strbuf_append(&sb, "hello");
        strbuf_append_char(&sb, ' ');
        strbuf_appendf(&sb, "%s #%d", "world", 42);
        is_str(strbuf_str(&sb), "hello world #42", "append, char and printf-style append");
        is_int(sb.len, 15, "length tracks content");

        for (int i = 0; i < 1000; i++)
                strbuf_appendf(&sb, "%04d", i);
        is_int(sb.len, 15 + 4000, "grows past the initial capacity");
        ok(memcmp(sb.buf + 15 + 4 * 999, "0999", 4) == 0, "content intact after growth");

        strbuf_truncate(&sb, 5);
        is_str(strbuf_str(&sb), "hello", "truncate");
        strbuf_append_repeat(&sb, '-', 3);
        is_str(strbuf_str(&sb), "hello---", "repeat");

        char big[600];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        strbuf_truncate(&sb, 0);
        strbuf_appendf(&sb, "[%s]", big);
        is_int(sb.len, 601, "printf longer than the small stack buffer");

        _cleanup_free_ char *s = strbuf_steal(&sb);
        ok(s && s[0] == '[' && s[600] == ']', "steal hands over the buffer");
        ok(sb.buf == NULL && sb.len == 0, "builder is reset after steal");

        StrBuf e = STRBUF_INIT;
        _cleanup_free_ char *empty = strbuf_steal(&e);
        is_str(empty, "", "steal of an untouched builder gives an empty string, not NULL");

        StrBuf z = STRBUF_INIT;
        ok(strbuf_append_n(&z, NULL, 0) == 0 && streq(strbuf_str(&z), ""), "appending nothing from NULL is allowed");
        strbuf_done(&z);

        StrBuf f = STRBUF_INIT;
        f.error = -ENOMEM;
        is_int(strbuf_append(&f, "x"), -ENOMEM, "sticky error short-circuits appends");
        ok(strbuf_steal(&f) == NULL, "steal reports the sticky error as NULL");
        return tap_done();
}
