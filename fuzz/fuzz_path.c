
/*
 * ngx_rtmp_cluster_parse_path: APP/NAME of a stream manager request,
 * after the location's name, as sent (escaped, the first input byte's
 * bit 0) or already unescaped.
 *
 * What must hold: NGX_DECLINED exactly when only slashes follow; else
 * the answer our own split says (NAME after the last "/", APP from the
 * first non-slash to it, each then unescaped by nginx when escaped, 1 to
 * 512 bytes, no control bytes, UTF-8 by our decoder), the same bytes as
 * that split, pointers into the input when not escaped; an error text
 * on every refusal (memory never runs out here).
 */


#include "util.h"


static ngx_int_t fuzz_path_part(u_char *p, size_t len, ngx_uint_t escaped,
    u_char *buf, ngx_str_t *part);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *start, *last, *slash, *q;
    u_char      *buf[2];
    ngx_int_t    rc, expect;
    ngx_str_t    app, name, want[2];
    ngx_uint_t   escaped;
    ngx_pool_t  *pool;
    const char  *error;

    if (size == 0) {
        return 0;
    }

    escaped = data[0] & 1;
    data++;
    size--;

    p = fuzz_copy(data, size);
    last = p + size;
    pool = fuzz_pool();

    app.len = 0;
    name.len = 0;

    rc = ngx_rtmp_cluster_parse_path(pool, p, size, escaped, &app, &name,
                                     &error);

    /* our split */

    for (start = p; start < last && *start == '/'; start++) {
        /* void */
    }

    slash = NULL;

    for (q = start; q < last; q++) {
        if (*q == '/') {
            slash = q;
        }
    }

    buf[0] = malloc(size + 1);
    buf[1] = malloc(size + 1);
    if (buf[0] == NULL || buf[1] == NULL) {
        abort();
    }

    if (start == last) {
        expect = NGX_DECLINED;

    } else if (slash == NULL || slash == last - 1) {
        expect = NGX_ERROR;

    } else if (fuzz_path_part(start, slash - start, escaped, buf[0], &want[0])
               == NGX_OK
               && fuzz_path_part(slash + 1, last - slash - 1, escaped, buf[1],
                                 &want[1])
                  == NGX_OK)
    {
        expect = NGX_OK;

    } else {
        expect = NGX_ERROR;
    }

    fuzz_assert(rc == expect);

    if (rc == NGX_OK) {
        fuzz_assert(error == NULL);

        fuzz_assert(app.len == want[0].len);
        fuzz_assert(memcmp(app.data, want[0].data, app.len) == 0);
        fuzz_assert(name.len == want[1].len);
        fuzz_assert(memcmp(name.data, want[1].data, name.len) == 0);

        if (!escaped) {
            fuzz_assert(app.data == start && name.data == slash + 1);
        }

    } else if (rc == NGX_ERROR) {
        fuzz_assert(error != NULL && *error != '\0');

    } else {
        fuzz_assert(rc == NGX_DECLINED);
    }

    free(buf[1]);
    free(buf[0]);
    ngx_destroy_pool(pool);
    free(p);

    return 0;
}


/* one part, unescaped into buf if asked, and checked */

static ngx_int_t
fuzz_path_part(u_char *p, size_t len, ngx_uint_t escaped, u_char *buf,
    ngx_str_t *part)
{
    size_t   i;
    u_char  *dst;

    if (escaped) {
        dst = buf;
        ngx_unescape_uri(&dst, &p, len, 0);
        part->data = buf;
        part->len = dst - buf;

    } else {
        part->data = p;
        part->len = len;
    }

    if (part->len == 0 || part->len > 512) {
        return NGX_ERROR;
    }

    for (i = 0; i < part->len; i++) {
        if (part->data[i] < 0x20 || part->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return fuzz_utf8_valid(part->data, part->len) ? NGX_OK : NGX_ERROR;
}
