
/*
 * ngx_rtmp_cluster_parse_lease and _parse_lease_ttl: the stream
 * manager's answer (a new lease's "token" and "ttl", a holder's "origin"
 * {host, port}).  Input: a byte for
 * the address buffer's size (1 to 128), a byte for the token buffer's
 * (bits 0-6: 1 to 128; bit 7: no token wanted), then the body.
 *
 * What must hold: the answer as our own reading of the JSON says; the
 * address and the token NUL-terminated in their buffers and written
 * only when valid (the host checks, token_valid), the address only on
 * NGX_OK; the ttl an integer from 1 to 86400, else 0.
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
    u_char      *body, *addr, *token;
    char        *s, *want_token, *want_host;
    size_t       addr_size, token_size;
    yajl_val     root, v;
    in_port_t    port;
    ngx_int_t    rc, expect;
    ngx_uint_t   no_token, ttl, want_ttl;
    long long    want_port;

    if (size < 2) {
        return 0;
    }

    addr_size = (data[0] & 0x7f) + 1;
    token_size = (data[1] & 0x7f) + 1;
    no_token = data[1] >> 7;
    data += 2;
    size -= 2;

    body = fuzz_copy(data, size);
    addr = malloc(addr_size);
    token = malloc(token_size);
    if (addr == NULL || token == NULL) {
        abort();
    }

    memset(addr, 0xaa, addr_size);
    memset(token, 0xaa, token_size);
    port = 0;

    rc = ngx_rtmp_cluster_parse_lease(size ? body : NULL, size, addr,
                                      addr_size, &port,
                                      no_token ? NULL : token, token_size);

    ttl = ngx_rtmp_cluster_parse_lease_ttl(size ? body : NULL, size);

    /* our reading */

    root = fuzz_json(data, size);

    want_token = NULL;
    want_host = NULL;
    want_port = 0;
    want_ttl = 0;
    expect = NGX_ERROR;

    if (root) {
        expect = NGX_DECLINED;

        v = fuzz_json_key(root, "token");
        s = (v && YAJL_IS_STRING(v)) ? YAJL_GET_STRING(v) : NULL;

        if (s && strlen(s) < token_size
            && ngx_rtmp_cluster_token_valid((u_char *) s, strlen(s))
               == NGX_OK)
        {
            want_token = s;
        }

        v = fuzz_json_key(fuzz_json_key(root, "origin"), "host");
        s = (v && YAJL_IS_STRING(v)) ? YAJL_GET_STRING(v) : NULL;

        v = fuzz_json_key(fuzz_json_key(root, "origin"), "port");

        if (s && strlen(s) < addr_size
            && ngx_rtmp_cluster_host_valid((u_char *) s, strlen(s)) == NGX_OK
            && v && YAJL_IS_INTEGER(v)
            && YAJL_GET_INTEGER(v) >= 1 && YAJL_GET_INTEGER(v) <= 65535)
        {
            want_host = s;
            want_port = YAJL_GET_INTEGER(v);
            expect = NGX_OK;
        }

        v = fuzz_json_key(root, "ttl");

        if (v && YAJL_IS_INTEGER(v)
            && YAJL_GET_INTEGER(v) >= 1 && YAJL_GET_INTEGER(v) <= 86400)
        {
            want_ttl = YAJL_GET_INTEGER(v);
        }
    }

    fuzz_assert(ttl == want_ttl);

    fuzz_assert(rc == expect);

    if (rc == NGX_OK) {
        fuzz_assert(fuzz_cstr_in(addr, addr_size));
        fuzz_assert(strcmp((char *) addr, want_host) == 0);
        fuzz_assert(port == want_port);

        fuzz_check_host(addr, ngx_strlen(addr));

    } else {
        fuzz_assert(addr[0] == 0xaa && port == 0);
    }

    if (want_token && !no_token) {
        fuzz_assert(fuzz_cstr_in(token, token_size));
        fuzz_assert(strcmp((char *) token, want_token) == 0);
        fuzz_assert(ngx_rtmp_cluster_token_valid(token, ngx_strlen(token))
                    == NGX_OK);

    } else {
        fuzz_assert(token[0] == 0xaa);
    }

    if (root) {
        yajl_tree_free(root);
    }

    free(token);
    free(addr);
    free(body);

    return 0;
}
