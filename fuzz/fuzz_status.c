
/*
 * A peer's onStatus or _error, after the command name, as nginx-rtmp
 * hands it over: an ngx_chain_t of chunks.  The first input byte lays the
 * body out: bits 0-6 the chunk size (0: one link), bit 7 an empty link
 * first (the command name took all of the first chunk).  Each link's
 * buffer is its own allocation of exactly its size.
 *
 * What must hold: the same answer however the body is chunked; the
 * chain left as it was; level, code, description and redirect are
 * NUL-terminated within their arrays; a redirect that parse_url takes
 * gives a host inside it that passes the host checks again.
 */


#include "util.h"


#define FUZZ_LINKS_MAX  4200


static ngx_chain_t *fuzz_chain(const u_char *p, size_t len, size_t chunk,
    ngx_uint_t empty_first, ngx_chain_t *cl, ngx_buf_t *b);
static void fuzz_chain_free(ngx_chain_t *in, const u_char *p, size_t len);
static void fuzz_status_check(ngx_rtmp_cluster_status_t *st);


static ngx_chain_t  fuzz_links[FUZZ_LINKS_MAX];
static ngx_buf_t    fuzz_bufs[FUZZ_LINKS_MAX];
static ngx_uint_t   fuzz_show;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    fuzz_show = (getenv("FUZZ_LOG") != NULL);
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                      chunk;
    ngx_int_t                   rc1, rc2;
    ngx_uint_t                  empty_first;
    ngx_chain_t                 one, *in;
    ngx_buf_t                   b;
    ngx_rtmp_cluster_status_t   st1, st2;

    if (size == 0 || size > 4096) {
        return 0;
    }

    chunk = data[0] & 0x7f;
    empty_first = data[0] >> 7;
    data++;
    size--;

    /* one link */

    in = fuzz_chain(data, size, 0, 0, &one, &b);

    memset(&st1, 0xaa, sizeof(st1));
    rc1 = ngx_rtmp_cluster_read_status(in, ngx_fuzz_stubs_log(), &st1);
    fuzz_chain_free(in, data, size);

    fuzz_assert(rc1 == NGX_OK || rc1 == NGX_ERROR);

    /* chunks */

    in = fuzz_chain(data, size, chunk, empty_first, fuzz_links, fuzz_bufs);

    memset(&st2, 0x55, sizeof(st2));
    rc2 = ngx_rtmp_cluster_read_status(in, ngx_fuzz_stubs_log(), &st2);
    fuzz_chain_free(in, data, size);

    fuzz_assert(rc1 == rc2);

    if (rc1 != NGX_OK) {
        return 0;
    }

    fuzz_assert(memcmp(&st1, &st2, sizeof(st1)) == 0);

    fuzz_status_check(&st1);

    if (fuzz_show) {
        fprintf(stderr, "status: level \"%s\" code \"%s\" desc \"%s\" "
                "redirect \"%s\"\n", st1.level, st1.code, st1.desc,
                st1.redirect);
    }

    return 0;
}


static ngx_chain_t *
fuzz_chain(const u_char *p, size_t len, size_t chunk, ngx_uint_t empty_first,
    ngx_chain_t *cl, ngx_buf_t *b)
{
    size_t      n;
    ngx_uint_t  i;

    if (chunk == 0) {
        chunk = len;
    }

    i = 0;

    do {
        n = empty_first ? 0 : ngx_min(chunk, len);
        empty_first = 0;

        fuzz_assert(i < FUZZ_LINKS_MAX);

        ngx_memzero(&b[i], sizeof(ngx_buf_t));
        b[i].start = fuzz_copy(p, n);
        b[i].end = b[i].start + n;
        b[i].pos = b[i].start;
        b[i].last = b[i].end;

        cl[i].buf = &b[i];
        cl[i].next = NULL;

        if (i) {
            cl[i - 1].next = &cl[i];
        }

        p += n;
        len -= n;
        i++;

    } while (len);

    return cl;
}


/* the reader must neither move the buffers nor write into them */

static void
fuzz_chain_free(ngx_chain_t *in, const u_char *p, size_t len)
{
    size_t        n;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        n = cl->buf->end - cl->buf->start;

        fuzz_assert(cl->buf->pos == cl->buf->start);
        fuzz_assert(cl->buf->last == cl->buf->end);
        fuzz_assert(n <= len && memcmp(cl->buf->start, p, n) == 0);

        free(cl->buf->start);

        p += n;
        len -= n;
    }

    fuzz_assert(len == 0);
}


static void
fuzz_status_check(ngx_rtmp_cluster_status_t *st)
{
    size_t      len;
    u_char     *last;
    ngx_str_t   host;
    in_port_t   port;

    fuzz_assert(fuzz_cstr_in(st->level, sizeof(st->level)));
    fuzz_assert(fuzz_cstr_in(st->code, sizeof(st->code)));
    fuzz_assert(fuzz_cstr_in(st->desc, sizeof(st->desc)));
    fuzz_assert(fuzz_cstr_in(st->redirect, sizeof(st->redirect)));

    len = ngx_strlen(st->redirect);

    if (len == 0) {
        return;
    }

    host.data = NULL;
    host.len = 0;
    port = 0;

    if (ngx_rtmp_cluster_parse_url(st->redirect, len, &host, &port)
        != NGX_OK)
    {
        return;
    }

    last = st->redirect + len;

    fuzz_assert(host.data >= st->redirect && host.data + host.len <= last);
    fuzz_assert(port >= 1);

    fuzz_check_host(host.data, host.len);
}
