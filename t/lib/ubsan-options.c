
/*
 * Preloaded after libasan in the sanitizer lane (make test-asan).
 *
 * UBSan reads UBSAN_OPTIONS when it reports for the first time in a
 * process, and it reads them from /proc/self/environ.  In an nginx worker
 * that is blank by then: nginx writes the process title over the original
 * environment.  So the options are copied here when the process starts,
 * with its environment whole, and handed to UBSan as its defaults.
 */

#include <stdio.h>
#include <stdlib.h>


static void ubsan_options_init(void) __attribute__((constructor));
const char *__ubsan_default_options(void);


static char  ubsan_options[4096];


static void
ubsan_options_init(void)
{
    const char  *s;

    s = getenv("UBSAN_OPTIONS");

    if (s != NULL) {
        snprintf(ubsan_options, sizeof(ubsan_options), "%s", s);
    }
}


const char *
__ubsan_default_options(void)
{
    return ubsan_options;
}
