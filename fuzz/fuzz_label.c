
/*
 * ngx_rtmp_cluster_label_escape: a stream's or an origin's name as a
 * label value of the metrics (Prometheus' text format).  Stream names
 * are the client's bytes, so any bytes.
 *
 * What must hold: the value is at most 3 bytes per input byte, valid
 * UTF-8, with no line feed and no double quote that is not escaped; a
 * backslash always starts one of the format's three escapes (\\, \", \n);
 * and unescaped it is the input with each maximal invalid subpart made
 * one U+FFFD (our own repair, written apart), as the JSON status writes
 * the same name.
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
    u_char  *p, *out, *back, *want;
    size_t   n, i, nback, nwant;

    p = fuzz_copy(data, size);

    /* exactly 3 * size: ASan reports a byte written past it */
    out = malloc(3 * size + 1);
    back = malloc(3 * size + 1);
    want = malloc(3 * size + 1);
    if (out == NULL || back == NULL || want == NULL) {
        abort();
    }

    n = ngx_rtmp_cluster_label_escape(out, p, size);

    fuzz_assert(n <= 3 * size);
    fuzz_assert(fuzz_utf8_valid(out, n));

    /* unescaped by the format's rules */

    nback = 0;

    for (i = 0; i < n; i++) {
        fuzz_assert(out[i] != '\n' && out[i] != '"');

        if (out[i] != '\\') {
            back[nback++] = out[i];
            continue;
        }

        fuzz_assert(i + 1 < n);
        i++;

        fuzz_assert(out[i] == '\\' || out[i] == '"' || out[i] == 'n');
        back[nback++] = (out[i] == 'n') ? '\n' : out[i];
    }

    nwant = fuzz_utf8_repair(want, p, size);

    fuzz_assert(nback == nwant);
    fuzz_assert(memcmp(back, want, nwant) == 0);

    free(want);
    free(back);
    free(out);
    free(p);

    return 0;
}
