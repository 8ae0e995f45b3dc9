
/*
 * ngx_rtmp_cluster: what the http handlers share.
 */


#ifndef _NGX_HTTP_RTMP_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_RTMP_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_gen.h>

#include "ngx_rtmp_cluster.h"


/* NGX_RTMP_CLUSTER_VERSION: debian/changelog's, made by ./config */
#include "ngx_rtmp_cluster_version.h"


typedef struct {
    ngx_str_t                       vhost;
    ngx_str_t                       ip;
    ngx_str_t                       app;
    ngx_str_t                       stream;
    ngx_str_t                       coworker;
    ngx_str_t                       advertise;  /* host[:port], or empty */
} ngx_http_rtmp_cluster_srs_query_t;


/*
 * Liveness of the workers named in the zone, asked once per pid and
 * request: a status of thousands of streams makes a few kill() calls.
 */
#define NGX_HTTP_RTMP_CLUSTER_PIDS  64

typedef struct {
    ngx_pid_t                       pid[NGX_HTTP_RTMP_CLUSTER_PIDS];
    u_char                          alive[NGX_HTTP_RTMP_CLUSTER_PIDS];
    ngx_uint_t                      n;
} ngx_http_rtmp_cluster_pids_t;


/* ngx_http_rtmp_cluster_origin_health() */
#define NGX_HTTP_RTMP_CLUSTER_ORIGIN_UP       0
#define NGX_HTTP_RTMP_CLUSTER_ORIGIN_FAILING  1   /* its last attempt */
#define NGX_HTTP_RTMP_CLUSTER_ORIGIN_DOWN     2   /* its circuit is open */


ngx_int_t ngx_http_rtmp_cluster_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_rtmp_cluster_srs_answer(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_srs_query_t *q, ngx_str_t *host, in_port_t port);
ngx_int_t ngx_http_rtmp_cluster_send_json(ngx_http_request_t *r,
    ngx_uint_t status, yajl_gen g);
ngx_int_t ngx_http_rtmp_cluster_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_rtmp_cluster_app_conf_t *ngx_http_rtmp_cluster_rtmp_app(
    ngx_uint_t server, ngx_str_t *app, ngx_rtmp_conf_ctx_t *cctx);
ngx_uint_t ngx_http_rtmp_cluster_alive(ngx_http_rtmp_cluster_pids_t *pids,
    ngx_pid_t pid);
const char *ngx_http_rtmp_cluster_kind_name(ngx_uint_t kind);
ngx_uint_t ngx_http_rtmp_cluster_origin_health(
    ngx_rtmp_cluster_shm_origin_t *o, uint64_t now);
ngx_rtmp_cluster_shm_stream_t **ngx_http_rtmp_cluster_live_streams(
    ngx_pool_t *pool, ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids, ngx_uint_t *n);
ngx_uint_t ngx_http_rtmp_cluster_stream_end(
    ngx_rtmp_cluster_shm_stream_t **live, ngx_uint_t i, ngx_uint_t n);


#endif /* _NGX_HTTP_RTMP_CLUSTER_H_INCLUDED_ */
