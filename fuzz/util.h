
/*
 * ngx_rtmp_cluster fuzzing: what the targets share.  The checks here are
 * written apart from ngx_rtmp_cluster_parse.c on purpose (a UTF-8
 * decoder by code point arithmetic, not by the parser's byte ranges), so
 * a target compares two readings instead of trusting one.
 */


#ifndef _FUZZ_UTIL_H_INCLUDED_
#define _FUZZ_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_rtmp_cluster_parse.h"


#define fuzz_assert(expr)                                                     \
    ((expr) ? (void) 0 : fuzz_fail(#expr, __FILE__, __LINE__))


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void ngx_fuzz_stubs_init(void);
ngx_log_t *ngx_fuzz_stubs_log(void);

void fuzz_fail(const char *expr, const char *file, int line);
void fuzz_init(void);
u_char *fuzz_copy(const uint8_t *data, size_t len);
ngx_pool_t *fuzz_pool(void);

ngx_int_t fuzz_utf8_valid(const u_char *p, size_t len);
size_t fuzz_utf8_repair(u_char *dst, const u_char *p, size_t len);
ngx_int_t fuzz_cstr_in(const u_char *buf, size_t size);
void fuzz_check_host(u_char *host, size_t len);

yajl_val fuzz_json(const uint8_t *data, size_t len);
yajl_val fuzz_json_key(yajl_val obj, const char *key);


#endif /* _FUZZ_UTIL_H_INCLUDED_ */
