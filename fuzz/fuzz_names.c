
/*
 * ngx_rtmp_cluster_name_valid, _host_valid, _token_valid and
 * _secret_valid on the same bytes.
 *
 * What must hold: a name is valid exactly when it is not empty and has
 * no byte below 0x20 nor 0x7f; a token exactly when it is 1 to 64 bytes
 * from 0x21 to 0x7e, a secret when 1 to 256 such bytes; a host that is
 * valid passes our own host checks (characters, length, never the
 * unspecified address however spelt), and
 * so does the host of "rtmp://HOST/" when the host has no ":".
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
    u_char      *p, *url;
    size_t       i;
    ngx_int_t    name, token, secret, rc;
    ngx_str_t    host;
    in_port_t    port;

    p = fuzz_copy(data, size);

    name = (size > 0);
    token = (size > 0 && size <= 64);
    secret = (size > 0 && size <= 256);

    for (i = 0; i < size; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            name = 0;
        }

        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            token = 0;
            secret = 0;
        }
    }

    fuzz_assert(name == (ngx_rtmp_cluster_name_valid(p, size) == NGX_OK));
    fuzz_assert(token == (ngx_rtmp_cluster_token_valid(p, size) == NGX_OK));
    fuzz_assert(secret
                == (ngx_rtmp_cluster_secret_valid(p, size) == NGX_OK));

    if (ngx_rtmp_cluster_host_valid(p, size) == NGX_OK) {
        fuzz_check_host(p, size);

        if (p[0] == '[' || memchr(p, ':', size) == NULL) {
            url = malloc(size + sizeof("rtmp:///") - 1);
            if (url == NULL) {
                abort();
            }

            ngx_memcpy(ngx_cpymem(url, "rtmp://", 7), p, size);
            url[size + 7] = '/';

            rc = ngx_rtmp_cluster_parse_url(url, size + 8, &host, &port);

            fuzz_assert(rc == NGX_OK);
            fuzz_assert(host.data == url + 7 && host.len == size);
            fuzz_assert(port == 1935);

            free(url);
        }
    }

    free(p);

    return 0;
}
