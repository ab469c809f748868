/* id.c: random base62 identifiers. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "id.h"
#include "macro.h"

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int id_new(char buf[static ID_MAX]) {
        unsigned __int128 v = 0;
        uint8_t raw[16];
        size_t got = 0;

        while (got < sizeof raw) {
                ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        memcpy(&v, raw, sizeof v);
        /* 62^22 > 2^128, so 22 digits hold every value; fixed width keeps ids sortable-free but uniform. */
        for (int i = ID_LEN - 1; i >= 0; i--) {
                buf[i] = alphabet[v % 62];
                v /= 62;
        }
        buf[ID_LEN] = 0;
        return 0;
}

bool id_is_valid(const char *s) {
        if (!s || strlen(s) != ID_LEN)
                return false;
        return strspn(s, alphabet) == ID_LEN;
}
