
/*
 * ngx_rtmp_cluster_parse_answer: an SRS coworker's answer to
 * /api/v1/clusters.  The first input byte is the size of the address
 * buffer (1 to 128; the module's is 64), the rest the body.
 *
 * What must hold: the answer as our own reading of the same JSON says
 * (yajl's tree, walked here: integer "code" 0, "data.origin" null for
 * "not here", else an object with a string "ip" that is a host and
 * shorter than the buffer and an integer "port" from 1 to 65535;
 * bodies with a NUL or nested deeper than 64 refused); an address that
 * is NUL-terminated in its buffer, passes the host checks again and is
 * written only on success; an error text on failure.
 */


#include "util.h"


static ngx_int_t fuzz_answer_expect(const uint8_t *data, size_t size,
    size_t addr_size, char *ip, long long *port);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *body, *addr;
    size_t       addr_size;
    in_port_t    port;
    ngx_int_t    rc, expect;
    long long    expect_port;
    const char  *err;
    char         ip[256];

    if (size == 0) {
        return 0;
    }

    addr_size = (data[0] & 0x7f) + 1;
    data++;
    size--;

    body = fuzz_copy(data, size);
    addr = malloc(addr_size);
    if (addr == NULL) {
        abort();
    }

    memset(addr, 0xaa, addr_size);
    port = 0;
    err = NULL;

    rc = ngx_rtmp_cluster_parse_answer(size ? body : NULL, size, addr,
                                       addr_size, &port, &err);

    expect = fuzz_answer_expect(data, size, addr_size, ip, &expect_port);

    fuzz_assert(rc == expect);

    if (rc == NGX_OK) {
        fuzz_assert(fuzz_cstr_in(addr, addr_size));
        fuzz_assert(strcmp((char *) addr, ip) == 0);
        fuzz_assert(port == expect_port);

        fuzz_check_host(addr, ngx_strlen(addr));

    } else {
        fuzz_assert(addr[0] == 0xaa && port == 0);
        fuzz_assert(rc == NGX_DECLINED || (err != NULL && *err != '\0'));
    }

    free(addr);
    free(body);

    return 0;
}


static ngx_int_t
fuzz_answer_expect(const uint8_t *data, size_t size, size_t addr_size,
    char *ip, long long *port)
{
    char       *s;
    yajl_val    root, v, origin;
    ngx_int_t   rc;

    root = fuzz_json(data, size);
    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    v = fuzz_json_key(root, "code");
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != 0) {
        goto done;
    }

    origin = fuzz_json_key(fuzz_json_key(root, "data"), "origin");

    if (origin == NULL) {
        goto done;
    }

    if (YAJL_IS_NULL(origin)) {
        rc = NGX_DECLINED;
        goto done;
    }

    v = fuzz_json_key(origin, "ip");
    if (v == NULL || !YAJL_IS_STRING(v)) {
        goto done;
    }

    s = YAJL_GET_STRING(v);

    if (strlen(s) >= addr_size
        || ngx_rtmp_cluster_host_valid((u_char *) s, strlen(s)) != NGX_OK)
    {
        goto done;
    }

    v = fuzz_json_key(origin, "port");
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
        || YAJL_GET_INTEGER(v) > 65535)
    {
        goto done;
    }

    strcpy(ip, s);
    *port = YAJL_GET_INTEGER(v);
    rc = NGX_OK;

done:

    yajl_tree_free(root);

    return rc;
}
