
/*
 * ngx_rtmp_cluster_parse_lease_request: the body of a register (POST,
 * {host, port, ttl, token}) or renew (PUT, {token, ttl}) request at the
 * stream manager.  The first input byte's bit 0 chooses renew.
 *
 * What must hold: the answer as our own reading of the JSON says; on
 * success the host (register) passes the host checks, the port is 1 to
 * 65535, the ttl 0 (not given) or 1 to 86400, the token empty (register
 * without one) or token_valid, and host and token are copies in the
 * pool (read after the JSON tree is freed: ASan sees a stale pointer);
 * on failure an error text (memory never runs out here).
 */


#include "util.h"


static ngx_int_t fuzz_lease_request_expect(const uint8_t *data, size_t size,
    ngx_uint_t renew, ngx_rtmp_cluster_lease_req_t *want, char *host,
    char *token);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *body;
    ngx_int_t                      rc, expect;
    ngx_uint_t                     renew;
    ngx_pool_t                    *pool;
    const char                    *error;
    ngx_rtmp_cluster_lease_req_t   req, want;
    char                           host[4096], token[4096];

    if (size == 0) {
        return 0;
    }

    renew = data[0] & 1;
    data++;
    size--;

    body = fuzz_copy(data, size);
    pool = fuzz_pool();

    rc = ngx_rtmp_cluster_parse_lease_request(pool, size ? body : NULL, size,
                                              renew, &req, &error);

    expect = fuzz_lease_request_expect(data, size, renew, &want, host,
                                       token);

    fuzz_assert(rc == expect);

    if (rc == NGX_OK) {
        fuzz_assert(error == NULL);

        if (renew) {
            fuzz_assert(req.host.len == 0 && req.port == 0);

        } else {
            fuzz_check_host(req.host.data, req.host.len);
            fuzz_assert(req.host.len == strlen(host));
            fuzz_assert(memcmp(req.host.data, host, req.host.len) == 0);
            fuzz_assert(req.port == want.port);
            fuzz_assert(req.port >= 1 && req.port <= 65535);
        }

        fuzz_assert(req.ttl == want.ttl && req.ttl <= 86400);

        if (req.token.len) {
            fuzz_assert(ngx_rtmp_cluster_token_valid(req.token.data,
                                                     req.token.len)
                        == NGX_OK);
            fuzz_assert(req.token.len == strlen(token));
            fuzz_assert(memcmp(req.token.data, token, req.token.len) == 0);

        } else {
            fuzz_assert(!renew && token[0] == '\0');
        }

    } else {
        fuzz_assert(rc == NGX_ERROR);
        fuzz_assert(error != NULL && *error != '\0');
    }

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}


static ngx_int_t
fuzz_lease_request_expect(const uint8_t *data, size_t size, ngx_uint_t renew,
    ngx_rtmp_cluster_lease_req_t *want, char *host, char *token)
{
    char       *s;
    yajl_val    root, v;
    ngx_int_t   rc;

    ngx_memzero(want, sizeof(ngx_rtmp_cluster_lease_req_t));
    host[0] = '\0';
    token[0] = '\0';

    root = fuzz_json(data, size);
    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (!YAJL_IS_OBJECT(root)) {
        goto done;
    }

    if (!renew) {
        v = fuzz_json_key(root, "host");
        s = (v && YAJL_IS_STRING(v)) ? YAJL_GET_STRING(v) : NULL;

        if (s == NULL
            || ngx_rtmp_cluster_host_valid((u_char *) s, strlen(s)) != NGX_OK)
        {
            goto done;
        }

        strcpy(host, s);

        v = fuzz_json_key(root, "port");
        if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
            || YAJL_GET_INTEGER(v) > 65535)
        {
            goto done;
        }

        want->port = YAJL_GET_INTEGER(v);
    }

    v = fuzz_json_key(root, "token");

    if (v == NULL) {
        if (renew) {
            goto done;
        }

    } else {
        if (!YAJL_IS_STRING(v)) {
            goto done;
        }

        s = YAJL_GET_STRING(v);

        if (ngx_rtmp_cluster_token_valid((u_char *) s, strlen(s)) != NGX_OK) {
            goto done;
        }

        strcpy(token, s);
    }

    v = fuzz_json_key(root, "ttl");

    if (v) {
        if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
            || YAJL_GET_INTEGER(v) > 86400)
        {
            goto done;
        }

        want->ttl = YAJL_GET_INTEGER(v);
    }

    rc = NGX_OK;

done:

    yajl_tree_free(root);

    return rc;
}
