
/*
 * ngx_rtmp_cluster_parse_lease_value: a lease as Redis holds it,
 * "TOKEN HOST PORT".  The first input byte's bit 0 asks for no token.
 *
 * What must hold: success exactly when our own split says (a token of at
 * least one byte up to the first space, a host up to the next space that
 * host_valid takes, then only digits making 1 to 65535); the token and
 * host are the parts of the input where we split it; the host passes the
 * host checks again.
 */


#include "util.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p, *sp1, *sp2, *last, *d;
    ngx_int_t    rc, expect;
    ngx_str_t    token, host;
    ngx_uint_t   port, want_port, no_token;

    if (size == 0) {
        return 0;
    }

    no_token = data[0] & 1;
    data++;
    size--;

    p = fuzz_copy(data, size);
    last = p + size;

    token.data = NULL;
    token.len = 0;
    port = 0;

    rc = ngx_rtmp_cluster_parse_lease_value(p, size, no_token ? NULL : &token,
                                            &host, &port);

    /* our split */

    expect = NGX_ERROR;
    want_port = 0;

    sp1 = memchr(p, ' ', size);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', last - sp1 - 1) : NULL;

    if (sp1 && sp1 > p && sp2 && sp2 > sp1 + 1 && sp2 + 1 < last
        && ngx_rtmp_cluster_host_valid(sp1 + 1, sp2 - sp1 - 1) == NGX_OK)
    {
        expect = NGX_OK;

        for (d = sp2 + 1; d < last; d++) {
            if (*d < '0' || *d > '9') {
                expect = NGX_ERROR;
                break;
            }

            want_port = want_port * 10 + (*d - '0');

            if (want_port > 65535) {
                expect = NGX_ERROR;
                break;
            }
        }

        if (want_port == 0) {
            expect = NGX_ERROR;
        }
    }

    fuzz_assert(rc == expect);

    if (rc == NGX_OK) {
        if (!no_token) {
            fuzz_assert(token.data == p && token.data + token.len == sp1);
        }

        fuzz_assert(host.data == sp1 + 1 && host.data + host.len == sp2);
        fuzz_assert(port == want_port);

        fuzz_check_host(host.data, host.len);

    } else {
        fuzz_assert(rc == NGX_ERROR);
        fuzz_assert(token.data == NULL && port == 0);
    }

    free(p);

    return 0;
}
