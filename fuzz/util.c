
/*
 * ngx_rtmp_cluster fuzzing: checks shared by the targets.
 */


#include <arpa/inet.h>

#include "util.h"


static size_t fuzz_utf8_length(u_char c);
static ngx_int_t fuzz_utf8_viable(const u_char *p, size_t have, size_t n);
static ngx_uint_t fuzz_json_depth(yajl_val v);


void
fuzz_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "fuzz: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}


void
fuzz_init(void)
{
    ngx_fuzz_stubs_init();
}


/* an exact-size heap copy: one byte read past the input is an ASan report */

u_char *
fuzz_copy(const uint8_t *data, size_t len)
{
    u_char  *p;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        abort();
    }

    if (len) {
        memcpy(p, data, len);
    }

    return p;
}


/* small, so that requests of a few hundred bytes are large allocations */

ngx_pool_t *
fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(256, ngx_fuzz_stubs_log());
    if (pool == NULL) {
        abort();
    }

    return pool;
}


/* a NUL within the size bytes of buf */

ngx_int_t
fuzz_cstr_in(const u_char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}


/*
 * UTF-8 as RFC 3629 defines it, by decoding: the lead byte gives the
 * length, the code point must need that length (no overlong form), and
 * it must be a scalar value (no surrogate, nothing above U+10FFFF).
 */

static size_t
fuzz_utf8_length(u_char c)
{
    if ((c & 0x80) == 0x00) {
        return 1;
    }

    if ((c & 0xe0) == 0xc0) {
        return 2;
    }

    if ((c & 0xf0) == 0xe0) {
        return 3;
    }

    if ((c & 0xf8) == 0xf0) {
        return 4;
    }

    return 0;       /* a continuation byte or 0xf8-0xff */
}


/*
 * Whether the first "have" bytes of a sequence of n bytes at p can still
 * become a valid character: the code points its completions can take
 * form [lo, hi]; some of them must be scalar values needing n bytes.
 */

static ngx_int_t
fuzz_utf8_viable(const u_char *p, size_t have, size_t n)
{
    size_t    i;
    uint32_t  lo, hi, min;

    static const uint32_t  lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    static const uint32_t  smallest[] = { 0, 0, 0x80, 0x800, 0x10000 };

    lo = p[0] & lead_mask[n];
    hi = lo;

    for (i = 1; i < n; i++) {
        if (i < have) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            lo = (lo << 6) | (p[i] & 0x3f);
            hi = (hi << 6) | (p[i] & 0x3f);

        } else {
            lo = lo << 6;
            hi = (hi << 6) | 0x3f;
        }
    }

    min = smallest[n];

    if (hi < min || lo > 0x10ffff) {
        return 0;
    }

    if (lo < min) {
        lo = min;
    }

    if (hi > 0x10ffff) {
        hi = 0x10ffff;
    }

    /* all that is left a surrogate */
    if (lo >= 0xd800 && hi <= 0xdfff) {
        return 0;
    }

    return 1;
}


ngx_int_t
fuzz_utf8_valid(const u_char *p, size_t len)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        n = fuzz_utf8_length(p[i]);

        if (n == 0 || i + n > len || !fuzz_utf8_viable(p + i, n, n)) {
            return 0;
        }
    }

    return 1;
}


/*
 * What the Unicode standard recommends (3.9, U+FFFD substitution of
 * maximal subparts): at a byte where no valid character starts, the
 * longest prefix of a valid sequence (at least one byte) becomes one
 * U+FFFD.  dst has room for 3 * len bytes.
 */

size_t
fuzz_utf8_repair(u_char *dst, const u_char *p, size_t len)
{
    size_t   i, n, k;
    u_char  *d;

    d = dst;

    for (i = 0; i < len; /* void */) {
        n = fuzz_utf8_length(p[i]);

        if (n && i + n <= len && fuzz_utf8_viable(p + i, n, n)) {
            memcpy(d, p + i, n);
            d += n;
            i += n;
            continue;
        }

        k = 1;

        if (n > 1 && fuzz_utf8_viable(p + i, 1, n)) {
            while (k < n && i + k < len && fuzz_utf8_viable(p + i, k + 1, n))
            {
                k++;
            }
        }

        *d++ = 0xef;
        *d++ = 0xbf;
        *d++ = 0xbd;
        i += k;
    }

    return d - dst;
}


/*
 * A host that a reader returned: it must pass host_valid again, and, by
 * checks of our own, be 1 to 253 bytes of letters, digits, "-", "_", "."
 * (and ":", "[", "]" of an IPv6 literal), never the unspecified address,
 * and read as the same address by nginx and by the C library (what
 * getaddrinfo, so a peer, takes for a numeric host: inet_aton reads
 * "0x0" as 0.0.0.0 and "010.0.0.1" as 8.0.0.1; inet_pton for IPv6).
 */

void
fuzz_check_host(u_char *host, size_t len)
{
    size_t           i;
    in_addr_t        inaddr;
    struct in_addr   in;
    struct in6_addr  in6;
    u_char           inaddr6[16];
    char             text[256];

    fuzz_assert(ngx_rtmp_cluster_host_valid(host, len) == NGX_OK);
    fuzz_assert(len >= 1 && len <= 253);

    for (i = 0; i < len; i++) {
        fuzz_assert(isalnum(host[i]) || host[i] == '-' || host[i] == '_'
                    || host[i] == '.' || host[i] == ':'
                    || (host[i] == '[' && i == 0)
                    || (host[i] == ']' && i == len - 1 && host[0] == '['));
    }

    if (host[0] == '[') {
        fuzz_assert(len >= 3 && host[len - 1] == ']');
        host++;
        len -= 2;
    }

    memcpy(text, host, len);
    text[len] = '\0';

    if (memchr(text, ':', len)) {
        fuzz_assert(inet_pton(AF_INET6, text, &in6) == 1);
        fuzz_assert(!IN6_IS_ADDR_UNSPECIFIED(&in6));
        fuzz_assert(ngx_inet6_addr(host, len, inaddr6) == NGX_OK);
        fuzz_assert(memcmp(inaddr6, &in6, 16) == 0);
        return;
    }

    if (inet_aton(text, &in)) {
        inaddr = ngx_inet_addr(host, len);
        fuzz_assert(in.s_addr == inaddr);
        fuzz_assert(in.s_addr != htonl(INADDR_ANY));
    }
}


/*
 * A peer's JSON as the readers must see it: NULL where they must refuse
 * it (empty, a NUL inside, not JSON for yajl, nested deeper than 64).
 */

yajl_val
fuzz_json(const uint8_t *data, size_t len)
{
    char      *text;
    yajl_val   root;

    if (len == 0 || memchr(data, '\0', len) != NULL) {
        return NULL;
    }

    text = malloc(len + 1);
    if (text == NULL) {
        abort();
    }

    memcpy(text, data, len);
    text[len] = '\0';

    root = yajl_tree_parse(text, NULL, 0);

    free(text);

    if (root && fuzz_json_depth(root) > 64) {
        yajl_tree_free(root);
        return NULL;
    }

    return root;
}


static ngx_uint_t
fuzz_json_depth(yajl_val v)
{
    size_t      i, n;
    yajl_val   *items;
    ngx_uint_t  d, max;

    if (YAJL_IS_OBJECT(v)) {
        items = v->u.object.values;
        n = v->u.object.len;

    } else if (YAJL_IS_ARRAY(v)) {
        items = v->u.array.values;
        n = v->u.array.len;

    } else {
        return 0;
    }

    max = 0;

    for (i = 0; i < n; i++) {
        d = fuzz_json_depth(items[i]);
        if (d > max) {
            max = d;
        }
    }

    return max + 1;
}


/* the first member of that name, as yajl_tree_get finds it */

yajl_val
fuzz_json_key(yajl_val obj, const char *key)
{
    size_t  i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}
