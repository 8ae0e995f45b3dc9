
/*
 * ngx_rtmp_cluster_arg: a query argument of the coworker API
 * (?vhost=V&ip=H&app=A&stream=S&coworker=C, values sent unencoded).
 * The first input byte chooses the name (those the API asks for, and
 * "a", a prefix of "app"), the rest is the query string.
 *
 * What must hold: the value of the first "&"-separated argument whose
 * name (up to "=") is that name without regard to case, unescaped as
 * nginx does; "" (not NULL) when there is none; never longer than the
 * query.
 */


#include "util.h"


static const char  *fuzz_arg_names[] = {
    "vhost", "ip", "app", "stream", "coworker", "a"
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *q, *last, *end, *eq, *buf, *dst, *src;
    size_t       len;
    ngx_int_t    rc;
    ngx_str_t    args, value, want;
    ngx_pool_t  *pool;
    const char  *name;

    if (size == 0) {
        return 0;
    }

    name = fuzz_arg_names[data[0] % (sizeof(fuzz_arg_names)
                                     / sizeof(fuzz_arg_names[0]))];
    data++;
    size--;

    p = fuzz_copy(data, size);
    pool = fuzz_pool();

    args.data = p;
    args.len = size;

    rc = ngx_rtmp_cluster_arg(pool, &args, name, &value);

    fuzz_assert(rc == NGX_OK);
    fuzz_assert(args.data == p && args.len == size);

    /* our reading */

    buf = malloc(size + 1);
    if (buf == NULL) {
        abort();
    }

    want.data = (u_char *) "";
    want.len = 0;
    len = strlen(name);
    last = p + size;

    for (q = p; q < last; q = end + 1) {
        end = memchr(q, '&', last - q);
        if (end == NULL) {
            end = last;
        }

        eq = memchr(q, '=', end - q);
        if (eq == NULL) {
            eq = end;
        }

        if ((size_t) (eq - q) == len
            && ngx_strncasecmp(q, (u_char *) name, len) == 0)
        {
            src = (eq < end) ? eq + 1 : end;
            dst = buf;
            ngx_unescape_uri(&dst, &src, end - src, 0);

            want.data = buf;
            want.len = dst - buf;
            break;
        }
    }

    fuzz_assert(value.data != NULL);
    fuzz_assert(value.len <= size);
    fuzz_assert(value.len == want.len);
    fuzz_assert(memcmp(value.data, want.data, want.len) == 0);

    free(buf);
    ngx_destroy_pool(pool);
    free(p);

    return 0;
}
