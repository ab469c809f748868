/* test-strutil: string vectors, joining, strict number parsing, trimming, edit distance. */
#include <stdint.h>

#include "strutil.h"
#include "tap.h"

int main(void) {
        _cleanup_strv_free_ char **l = NULL;
        ok(strv_split("a, b,,c ", ", ", &l) == 0, "split");
        is_int(strv_length(l), 3, "split drops empty fields");
        is_str(l[2], "c", "split third field");
        ok(strv_contains(l, "b") && !strv_contains(l, "d"), "contains");
        _cleanup_free_ char *j = strv_join(l, "|");
        is_str(j, "a|b|c", "join");
        ok(strv_extend(&l, "d") == 0 && strv_length(l) == 4, "extend");

        _cleanup_free_ char *s = strjoin("x", "y", "z");
        is_str(s, "xyz", "strjoin");
        _cleanup_free_ char *p = strdup_printf("%d-%s", 7, "q");
        is_str(p, "7-q", "strdup_printf");

        int64_t i64;
        uint64_t u64;
        int i;
        double d;
        ok(safe_atoi64("-42", &i64) == 0 && i64 == -42, "atoi64 negative");
        is_int(safe_atoi64("12a", &i64), -EINVAL, "atoi64 rejects trailing garbage");
        is_int(safe_atoi64("", &i64), -EINVAL, "atoi64 rejects empty");
        is_int(safe_atoi64(" 1", &i64), -EINVAL, "atoi64 rejects leading space");
        is_int(safe_atoi64("99999999999999999999", &i64), -ERANGE, "atoi64 range");
        is_int(safe_atou64("-1", &u64), -EINVAL, "atou64 rejects sign");
        ok(safe_atou64("18446744073709551615", &u64) == 0 && u64 == UINT64_MAX, "atou64 max");
        is_int(safe_atoi("4294967296", &i), -ERANGE, "atoi range");
        ok(safe_atod("1.5e3", &d) == 0 && d == 1500.0, "atod");
        is_int(safe_atod("nan", &d), -EINVAL, "atod rejects nan");

        char t[] = "  \tpadded \n";
        is_str(strstrip(t), "padded", "strstrip");

        ok(string_is_printable_utf8("héllo", strlen("héllo")), "utf8 ok");
        ok(!string_is_printable_utf8("\xc3", 1), "truncated utf8 rejected");
        ok(!string_is_printable_utf8("a\x01", 2), "control char rejected");

        is_int(str_edit_distance("Sequental", "Sequential", 3), 1, "edit distance one insertion");
        is_int(str_edit_distance("log", "Log", 3), 0, "edit distance ignores case");
        is_int(str_edit_distance("abc", "xyzxyzxyz", 2), 3, "edit distance capped");
        return tap_done();
}
