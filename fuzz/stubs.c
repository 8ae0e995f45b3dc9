
/*
 * ngx_rtmp_cluster fuzzing: the nginx globals that the readers and the
 * nginx core files linked with them touch.  Logging formats each message
 * with nginx's own ngx_vslprintf (so a bad format or argument shows under
 * the sanitizers) and prints it only when FUZZ_LOG is set.
 */


#include <ngx_config.h>
#include <ngx_core.h>


static ngx_log_t     ngx_fuzz_log;
static ngx_cycle_t   ngx_fuzz_cycle;
static ngx_uint_t    ngx_fuzz_print;

volatile ngx_cycle_t  *ngx_cycle = &ngx_fuzz_cycle;


void
ngx_fuzz_stubs_init(void)
{
    /* every debug level but the pool's, which would log each allocation */
    ngx_fuzz_log.log_level = NGX_LOG_DEBUG_ALL & ~NGX_LOG_DEBUG_ALLOC;
    ngx_fuzz_cycle.log = &ngx_fuzz_log;

    ngx_pagesize = getpagesize();
    for (ngx_pagesize_shift = 0; (ngx_pagesize >> ngx_pagesize_shift) > 1;
         ngx_pagesize_shift++)
    {
        /* void */
    }

    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    ngx_fuzz_print = (getenv("FUZZ_LOG") != NULL);
}


ngx_log_t *
ngx_fuzz_stubs_log(void)
{
    return &ngx_fuzz_log;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + sizeof(errstr), fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, errstr + sizeof(errstr), " (%d)", err);
    }

    if (ngx_fuzz_print) {
        fprintf(stderr, "log[%u]: %.*s\n", (unsigned) level,
                (int) (p - errstr), errstr);
    }
}
