
/*
 * ngx_rtmp_cluster_stream_key and _parse_stream_key: the stream's part
 * of a Redis key at the stream manager, APP "/" NAME with "%" escaped in
 * both and "/" in NAME.  The keys the list reads come from Redis (SCAN),
 * so any bytes.
 *
 * What must hold: parsing any bytes gives what our own split (the last
 * "/", neither first nor last) and unescaping ("%25" and "%2F" only)
 * give; and APP and NAME (the input split at its first NUL, each not
 * empty) make a key of the length announced that parses back to them.
 */


#include "util.h"


static void fuzz_stream_key_unescape(u_char *p, size_t len, ngx_str_t *want);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *q, *last, *slash, *key, *nul;
    size_t       n, len;
    ngx_int_t    rc;
    ngx_str_t    app, name, want_app, want_name, in_app, in_name;
    ngx_pool_t  *pool;

    p = fuzz_copy(data, size);
    last = p + size;
    pool = fuzz_pool();

    /* any bytes */

    rc = ngx_rtmp_cluster_parse_stream_key(pool, p, size, &app, &name);

    slash = NULL;

    for (q = p; q < last; q++) {
        if (*q == '/') {
            slash = q;
        }
    }

    if (slash == NULL || slash == p || slash == last - 1) {
        fuzz_assert(rc == NGX_DECLINED);

    } else {
        fuzz_assert(rc == NGX_OK);

        fuzz_stream_key_unescape(p, slash - p, &want_app);
        fuzz_stream_key_unescape(slash + 1, last - slash - 1, &want_name);

        fuzz_assert(app.len >= 1 && app.len == want_app.len);
        fuzz_assert(memcmp(app.data, want_app.data, app.len) == 0);
        fuzz_assert(name.len >= 1 && name.len == want_name.len);
        fuzz_assert(memcmp(name.data, want_name.data, name.len) == 0);

        free(want_app.data);
        free(want_name.data);
    }

    /* APP and NAME there and back */

    nul = memchr(p, '\0', size);

    if (nul && nul > p && nul < last - 1) {
        in_app.data = p;
        in_app.len = nul - p;
        in_name.data = nul + 1;
        in_name.len = last - nul - 1;

        len = ngx_rtmp_cluster_stream_key(NULL, &in_app, &in_name);
        fuzz_assert(len > in_app.len + in_name.len);
        fuzz_assert(len <= 3 * (in_app.len + in_name.len) + 1);

        key = malloc(len);
        if (key == NULL) {
            abort();
        }

        n = ngx_rtmp_cluster_stream_key(key, &in_app, &in_name);
        fuzz_assert(n == len);

        rc = ngx_rtmp_cluster_parse_stream_key(pool, key, len, &app, &name);

        fuzz_assert(rc == NGX_OK);
        fuzz_assert(app.len == in_app.len);
        fuzz_assert(memcmp(app.data, in_app.data, app.len) == 0);
        fuzz_assert(name.len == in_name.len);
        fuzz_assert(memcmp(name.data, in_name.data, name.len) == 0);

        free(key);
    }

    ngx_destroy_pool(pool);
    free(p);

    return 0;
}


static void
fuzz_stream_key_unescape(u_char *p, size_t len, ngx_str_t *want)
{
    size_t  i;

    want->data = malloc(len ? len : 1);
    if (want->data == NULL) {
        abort();
    }

    want->len = 0;

    for (i = 0; i < len; i++) {
        if (i + 2 < len && p[i] == '%' && p[i + 1] == '2'
            && (p[i + 2] == '5' || p[i + 2] == 'F'))
        {
            want->data[want->len++] = (p[i + 2] == '5') ? '%' : '/';
            i += 2;
            continue;
        }

        want->data[want->len++] = p[i];
    }
}
