
/*
 * ngx_rtmp_cluster: readers of what comes from the network, and the JSON
 * writer.  Only nginx's core, nginx-rtmp's AMF reader and yajl are used,
 * so the fuzz targets (fuzz/) link ngx_rtmp_cluster_parse.c alone.
 */


#ifndef _NGX_RTMP_CLUSTER_PARSE_H_INCLUDED_
#define _NGX_RTMP_CLUSTER_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "ngx_rtmp_amf.h"


#define NGX_RTMP_CLUSTER_ADDR_LEN       64
#define NGX_RTMP_CLUSTER_TOKEN_MAX      64
#define NGX_RTMP_CLUSTER_SECRET_MAX     256
#define NGX_RTMP_CLUSTER_NAME_MAX       512     /* the manager's APP, NAME */
#define NGX_RTMP_CLUSTER_TTL_MAX        86400   /* seconds */


/* what an onStatus or _error command of a peer says */
typedef struct {
    u_char                          level[32];
    u_char                          code[128];
    u_char                          desc[256];
    u_char                          redirect[512];  /* RTMP 302, or "" */
} ngx_rtmp_cluster_status_t;


/* a lease request at the stream manager (register or renew) */
typedef struct {
    ngx_str_t                       host;
    ngx_uint_t                      port;
    ngx_uint_t                      ttl;            /* 0: not given */
    ngx_str_t                       token;
} ngx_rtmp_cluster_lease_req_t;


/* one lease of a batched renewal */
typedef struct {
    ngx_str_t                       app;
    ngx_str_t                       name;
    ngx_str_t                       token;
} ngx_rtmp_cluster_renew_item_t;

#define NGX_RTMP_CLUSTER_RENEW_BATCH_MAX  1000


/* names and addresses */
ngx_int_t ngx_rtmp_cluster_name_valid(u_char *p, size_t len);
ngx_int_t ngx_rtmp_cluster_host_valid(u_char *p, size_t len);
ngx_int_t ngx_rtmp_cluster_token_valid(u_char *p, size_t len);
ngx_int_t ngx_rtmp_cluster_secret_valid(u_char *p, size_t len);
ngx_int_t ngx_rtmp_cluster_parse_url(u_char *url, size_t len,
    ngx_str_t *host, in_port_t *port);

/* RTMP: a peer's status message */
ngx_int_t ngx_rtmp_cluster_read_status(ngx_chain_t *in, ngx_log_t *log,
    ngx_rtmp_cluster_status_t *st);

/* HTTP: query arguments, the stream manager's requests */
ngx_int_t ngx_rtmp_cluster_arg(ngx_pool_t *pool, ngx_str_t *args,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_rtmp_cluster_parse_path(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_uint_t escaped, ngx_str_t *app, ngx_str_t *name,
    const char **error);
ngx_int_t ngx_rtmp_cluster_parse_lease_request(ngx_pool_t *pool,
    u_char *body, size_t len, ngx_uint_t renew,
    ngx_rtmp_cluster_lease_req_t *req, const char **error);
ngx_int_t ngx_rtmp_cluster_parse_renew_batch(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_array_t **items, ngx_uint_t *ttl, const char **error);
ngx_int_t ngx_rtmp_cluster_parse_lease_value(u_char *data, size_t len,
    ngx_str_t *token, ngx_str_t *host, ngx_uint_t *port);
size_t ngx_rtmp_cluster_stream_key(u_char *dst, ngx_str_t *app,
    ngx_str_t *name);
ngx_int_t ngx_rtmp_cluster_parse_stream_key(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *app, ngx_str_t *name);

/* JSON: peers' answers */
yajl_val ngx_rtmp_cluster_json_parse(u_char *body, size_t len);
ngx_int_t ngx_rtmp_cluster_parse_answer(u_char *body, size_t len,
    u_char *addr, size_t addr_size, in_port_t *port, const char **err);
ngx_int_t ngx_rtmp_cluster_parse_lease(u_char *body, size_t len,
    u_char *addr, size_t addr_size, in_port_t *port, u_char *token,
    size_t token_size);
ngx_uint_t ngx_rtmp_cluster_parse_lease_ttl(u_char *body, size_t len);
ngx_int_t ngx_rtmp_cluster_parse_renew_answer(u_char *body, size_t len,
    ngx_uint_t n, ngx_uint_t *ttl, ngx_uint_t *status);

/* JSON: writing, strings as valid UTF-8 whatever the bytes */
ngx_int_t ngx_rtmp_cluster_utf8_valid(u_char *p, size_t len);
size_t ngx_rtmp_cluster_utf8_repair(u_char *dst, u_char *src, size_t len);
yajl_gen ngx_rtmp_cluster_json_gen(ngx_uint_t beautify);
void ngx_rtmp_cluster_json_key(yajl_gen g, const char *key);
void ngx_rtmp_cluster_json_value(yajl_gen g, u_char *p, size_t len);
void ngx_rtmp_cluster_json_str(yajl_gen g, const char *key, u_char *p,
    size_t len);
void ngx_rtmp_cluster_json_int(yajl_gen g, const char *key, long long n);

/* Prometheus' text format: a label value */
size_t ngx_rtmp_cluster_label_escape(u_char *dst, u_char *src, size_t len);


#endif /* _NGX_RTMP_CLUSTER_PARSE_H_INCLUDED_ */
