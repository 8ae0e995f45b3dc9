
/*
 * ngx_rtmp_cluster_parse_url: "rtmp://HOST[:PORT][/...]" or
 * "HOST[:PORT]...", from a peer's 302.
 *
 * What must hold: a host that is a part of the input, right after the
 * scheme if any, and that passes the host checks again; a port from 1 to
 * 65535, 1935 when none is written; after the host nothing but the end,
 * ":PORT", "/" or "?"; the same answer with "rtmp://" put in front (when
 * the input has no scheme); and a URL made of the answer,
 * "rtmp://HOST:PORT/", parses to the same host and port.
 */


#include "util.h"


static ngx_int_t fuzz_url_parse(const u_char *data, size_t size,
    u_char **copy, ngx_str_t *host, in_port_t *port);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *url, *url2, *p, *last;
    size_t      skip;
    ngx_int_t   rc, rc2;
    ngx_str_t   host, host2;
    in_port_t   port, port2;
    u_char      buf[sizeof("rtmp://") - 1 + 253 + sizeof(":65535/")];

    rc = fuzz_url_parse(data, size, &url, &host, &port);

    skip = 0;

    if (size >= 7 && ngx_strncasecmp(url, (u_char *) "rtmp://", 7) == 0) {
        skip = 7;
    }

    if (rc == NGX_OK) {
        last = url + size;

        fuzz_assert(host.data == url + skip);
        fuzz_assert(host.data + host.len <= last);
        fuzz_assert(port >= 1);

        fuzz_check_host(host.data, host.len);

        p = host.data + host.len;

        if (p < last && *p == ':') {
            for (p++; p < last && *p != '/' && *p != '?'; p++) {
                fuzz_assert(*p >= '0' && *p <= '9');
            }

        } else {
            fuzz_assert(port == 1935);
        }

        fuzz_assert(p == last || *p == '/' || *p == '?');

        /* made again from the answer */

        p = ngx_sprintf(buf, "rtmp://%*s:%d/", host.len, host.data,
                        (int) port);

        host2.len = 0;
        port2 = 0;

        rc2 = fuzz_url_parse(buf, p - buf, &url2, &host2, &port2);

        fuzz_assert(rc2 == NGX_OK);
        fuzz_assert(host2.len == host.len);
        fuzz_assert(memcmp(host2.data, host.data, host.len) == 0);
        fuzz_assert(port2 == port);

        free(url2);

    } else {
        fuzz_assert(rc == NGX_DECLINED);
    }

    /* with a scheme in front */

    if (skip == 0 && size <= 4096) {
        p = malloc(size + 7);
        if (p == NULL) {
            abort();
        }

        ngx_memcpy(ngx_cpymem(p, "rtmp://", 7), data, size);

        rc2 = fuzz_url_parse(p, size + 7, &url2, &host2, &port2);

        fuzz_assert(rc2 == rc);

        if (rc == NGX_OK) {
            fuzz_assert(host2.data == url2 + 7);
            fuzz_assert(host2.len == host.len && port2 == port);
        }

        free(url2);
        free(p);
    }

    free(url);

    return 0;
}


/* the URL in its own allocation of exactly its size */

static ngx_int_t
fuzz_url_parse(const u_char *data, size_t size, u_char **copy,
    ngx_str_t *host, in_port_t *port)
{
    *copy = fuzz_copy(data, size);

    return ngx_rtmp_cluster_parse_url(*copy, size, host, port);
}
