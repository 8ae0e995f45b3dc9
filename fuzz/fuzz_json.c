
/*
 * The JSON writer: ngx_rtmp_cluster_utf8_repair and, through it,
 * ngx_rtmp_cluster_json_value.  Whatever the bytes of a string, the
 * document must be one that yajl generates without error and parses
 * back, valid UTF-8 by our own decoder; valid UTF-8 comes out as it
 * went in (read back by yajl's parser callbacks, which keep NULs); the
 * repair is the Unicode standard's (each maximal subpart of
 * an ill-formed sequence becomes one U+FFFD), as fuzz_utf8_repair
 * computes it apart.  The first byte chooses beautify.
 */


#include "util.h"

#include <yajl/yajl_parse.h>


typedef struct {
    ngx_uint_t   n;
    u_char      *out;
    size_t       len;
} fuzz_json_strings_t;


static int fuzz_json_string(void *ctx, const unsigned char *s, size_t len);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  errbuf[128];
    u_char               *in, *out, *ref, *text;
    size_t                n, len, gen_len;
    yajl_gen              g;
    yajl_val              root, v;
    yajl_handle           h;
    ngx_int_t             valid;
    ngx_uint_t            beautify;
    yajl_callbacks        cb;
    fuzz_json_strings_t   strings;
    const unsigned char  *gen;

    if (size == 0) {
        return 0;
    }

    beautify = data[0] & 1;
    data++;
    size--;

    in = fuzz_copy(data, size);
    valid = fuzz_utf8_valid(in, size);

    fuzz_assert(valid == (ngx_rtmp_cluster_utf8_valid(in, size) == NGX_OK));

    /* the repair alone, into exactly the room it is promised */

    out = malloc(3 * size + 1);
    ref = malloc(3 * size + 1);
    if (out == NULL || ref == NULL) {
        abort();
    }

    n = ngx_rtmp_cluster_utf8_repair(out, in, size);

    fuzz_assert(n <= 3 * size);
    fuzz_assert(fuzz_utf8_valid(out, n));
    fuzz_assert(!valid || (n == size && memcmp(out, in, size) == 0));

    len = fuzz_utf8_repair(ref, in, size);
    fuzz_assert(n == len && memcmp(out, ref, n) == 0);

    /* a document: {"k": value, "k2": [value]} */

    g = ngx_rtmp_cluster_json_gen(beautify);
    fuzz_assert(g != NULL);

    fuzz_assert(yajl_gen_map_open(g) == yajl_gen_status_ok);
    ngx_rtmp_cluster_json_str(g, "k", in, size);
    ngx_rtmp_cluster_json_key(g, "k2");
    fuzz_assert(yajl_gen_array_open(g) == yajl_gen_status_ok);
    ngx_rtmp_cluster_json_value(g, in, size);
    fuzz_assert(yajl_gen_array_close(g) == yajl_gen_status_ok);
    ngx_rtmp_cluster_json_int(g, "n", (long long) size);
    fuzz_assert(yajl_gen_map_close(g) == yajl_gen_status_ok);

    fuzz_assert(yajl_gen_get_buf(g, &gen, &gen_len) == yajl_gen_status_ok);

    fuzz_assert(fuzz_utf8_valid(gen, gen_len));
    fuzz_assert(memchr(gen, '\0', gen_len) == NULL);

    text = fuzz_copy(gen, gen_len + 1);
    text[gen_len] = '\0';

    root = yajl_tree_parse((char *) text, errbuf, sizeof(errbuf));
    fuzz_assert(root != NULL && YAJL_IS_OBJECT(root));
    fuzz_assert(root->u.object.len == 3);

    /* yajl_tree's strings end at the first NUL (written as \u0000) */

    v = fuzz_json_key(root, "k");
    fuzz_assert(v != NULL && YAJL_IS_STRING(v));
    len = strlen(YAJL_GET_STRING(v));
    fuzz_assert(len <= n && memcmp(YAJL_GET_STRING(v), out, len) == 0);
    fuzz_assert(len == n || out[len] == '\0');

    v = fuzz_json_key(root, "k2");
    fuzz_assert(v != NULL && YAJL_IS_ARRAY(v) && v->u.array.len == 1);
    v = v->u.array.values[0];
    fuzz_assert(YAJL_IS_STRING(v));
    fuzz_assert(strlen(YAJL_GET_STRING(v)) == len);
    fuzz_assert(memcmp(YAJL_GET_STRING(v), out, len) == 0);

    v = fuzz_json_key(root, "n");
    fuzz_assert(v != NULL && YAJL_IS_INTEGER(v));
    fuzz_assert(YAJL_GET_INTEGER(v) == (long long) size);

    yajl_tree_free(root);

    /* every byte back: the two values are the repair ("k", "k2", "n") */

    ngx_memzero(&cb, sizeof(yajl_callbacks));
    cb.yajl_string = fuzz_json_string;

    strings.n = 0;
    strings.out = out;
    strings.len = n;

    h = yajl_alloc(&cb, NULL, &strings);
    fuzz_assert(h != NULL);
    fuzz_assert(yajl_parse(h, gen, gen_len) == yajl_status_ok);
    fuzz_assert(yajl_complete_parse(h) == yajl_status_ok);
    fuzz_assert(strings.n == 2);
    yajl_free(h);

    yajl_gen_free(g);
    free(text);
    free(ref);
    free(out);
    free(in);

    return 0;
}


/* string values (not keys) of the document, each the repair */

static int
fuzz_json_string(void *ctx, const unsigned char *s, size_t len)
{
    fuzz_json_strings_t  *strings = ctx;

    fuzz_assert(len == strings->len);
    fuzz_assert(len == 0 || memcmp(s, strings->out, len) == 0);

    strings->n++;

    return 1;
}
