
/*
 * ngx_rtmp_cluster: edge and origin roles for nginx-rtmp.
 */


#ifndef _NGX_RTMP_CLUSTER_H_INCLUDED_
#define _NGX_RTMP_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_rtmp.h"
#include "ngx_rtmp_cmd_module.h"
#include "ngx_rtmp_live_module.h"
#include "ngx_rtmp_relay_module.h"


#define NGX_RTMP_CLUSTER_OFF            0
#define NGX_RTMP_CLUSTER_EDGE           1
#define NGX_RTMP_CLUSTER_ORIGIN         2

#define NGX_RTMP_CLUSTER_BALANCE_HASH   0
#define NGX_RTMP_CLUSTER_BALANCE_RR     1
#define NGX_RTMP_CLUSTER_BALANCE_ORDER  2

#define NGX_RTMP_CLUSTER_MAX_ORIGINS    64
#define NGX_RTMP_CLUSTER_ADDR_LEN       64
#define NGX_RTMP_CLUSTER_ERR_LEN        64
#define NGX_RTMP_CLUSTER_TRIED_LEN      512

/* stream states, as the status handler names them */
#define NGX_RTMP_CLUSTER_IDLE           0
#define NGX_RTMP_CLUSTER_CONNECTING     1
#define NGX_RTMP_CLUSTER_WAITING        2
#define NGX_RTMP_CLUSTER_LIVE           3
#define NGX_RTMP_CLUSTER_BACKOFF        4
#define NGX_RTMP_CLUSTER_LINGER         5
#define NGX_RTMP_CLUSTER_FAILED         6

/* what a stream record describes */
#define NGX_RTMP_CLUSTER_PULL           0
#define NGX_RTMP_CLUSTER_PUBLISH        1


/* origin health, one record per origin address, shared by all workers */
typedef struct {
    ngx_queue_t                     queue;
    u_char                          name[NGX_RTMP_CLUSTER_ADDR_LEN];
    size_t                          name_len;
    ngx_uint_t                      fails;          /* consecutive */
    ngx_uint_t                      total_fails;
    ngx_uint_t                      successes;
    ngx_uint_t                      circuit_opens;
    uint64_t                        open_until;     /* wall-clock ms */
    time_t                          last_failure;
    u_char                          last_error[NGX_RTMP_CLUSTER_ERR_LEN];
} ngx_rtmp_cluster_shm_origin_t;


/* one stream handled by one worker, for the status handler */
typedef struct {
    ngx_queue_t                     queue;
    ngx_pid_t                       pid;
    ngx_uint_t                      kind;
    ngx_uint_t                      state;
    u_char                          app[NGX_RTMP_MAX_NAME];
    u_char                          name[NGX_RTMP_MAX_NAME];
    u_char                          origin[NGX_RTMP_CLUSTER_ADDR_LEN];
    ngx_atomic_t                    players;
    ngx_atomic_t                    bytes;
    ngx_atomic_t                    failovers;
    time_t                          started;
    time_t                          origin_since;
} ngx_rtmp_cluster_shm_stream_t;


typedef struct {
    ngx_queue_t                     origins;
    ngx_queue_t                     streams;
    ngx_atomic_t                    rr;
} ngx_rtmp_cluster_shm_t;


typedef struct {
    ngx_rtmp_cluster_shm_t         *sh;
    ngx_slab_pool_t                *shpool;
    ngx_array_t                    *origins;    /* of the configuration */
} ngx_rtmp_cluster_zone_t;


typedef struct {
    ngx_str_t                       name;       /* host:port */
    ngx_str_t                       host;
    in_port_t                       port;
    ngx_url_t                       url;
    ngx_uint_t                      weight;
    ngx_uint_t                      max_fails;
    ngx_msec_t                      fail_timeout;
    unsigned                        backup:1;
    ngx_rtmp_cluster_shm_origin_t  *shm;
} ngx_rtmp_cluster_origin_t;


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_array_t                     origins;    /* ngx_rtmp_cluster_origin_t *,
                                                   all applications */
    ngx_uint_t                      roles;      /* applications with a role */
    ngx_flag_t                      reuseport;
} ngx_rtmp_cluster_main_conf_t;


typedef struct {
    ngx_uint_t                      role;
    ngx_array_t                    *origins;    /* ngx_rtmp_cluster_origin_t */
    ngx_uint_t                      balance;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      media_timeout;
    ngx_msec_t                      retry_timeout;
    ngx_msec_t                      linger;
    ngx_flag_t                      pass_args;
    ngx_flag_t                      forward_publish;
    ngx_uint_t                      total_weight;
} ngx_rtmp_cluster_app_conf_t;


typedef struct ngx_rtmp_cluster_stream_s  ngx_rtmp_cluster_stream_t;


/* per session */
typedef struct {
    ngx_rtmp_session_t             *session;
    ngx_rtmp_cluster_stream_t      *stream;
    ngx_queue_t                     queue;      /* in stream->players */
    unsigned                        player:1;
    unsigned                        publisher:1;
} ngx_rtmp_cluster_ctx_t;


extern ngx_module_t  ngx_rtmp_cluster_module;
extern ngx_module_t  ngx_rtmp_module;


/* the shared zone */
ngx_int_t ngx_rtmp_cluster_zone_init(ngx_shm_zone_t *shm_zone, void *data);
ngx_rtmp_cluster_zone_t *ngx_rtmp_cluster_zone_get(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_origin_usable(ngx_rtmp_cluster_origin_t *o);
void ngx_rtmp_cluster_origin_failure(ngx_rtmp_cluster_origin_t *o,
    const char *reason);
void ngx_rtmp_cluster_origin_success(ngx_rtmp_cluster_origin_t *o);
ngx_uint_t ngx_rtmp_cluster_zone_next_rr(ngx_shm_zone_t *shm_zone);
ngx_rtmp_cluster_shm_stream_t *ngx_rtmp_cluster_stream_record(
    ngx_shm_zone_t *shm_zone, ngx_uint_t kind, ngx_str_t *app,
    ngx_str_t *name);
void ngx_rtmp_cluster_stream_record_set(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_stream_t *r, ngx_uint_t state, ngx_str_t *origin);
void ngx_rtmp_cluster_stream_record_free(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_stream_t *r);
void ngx_rtmp_cluster_zone_sweep(ngx_shm_zone_t *shm_zone);
uint64_t ngx_rtmp_cluster_now(void);

/* the edge role */
ngx_int_t ngx_rtmp_cluster_edge_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
ngx_int_t ngx_rtmp_cluster_edge_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
ngx_int_t ngx_rtmp_cluster_edge_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
void ngx_rtmp_cluster_edge_close(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_edge_media(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx, ngx_rtmp_header_t *h);
void ngx_rtmp_cluster_edge_upstream_status(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx, u_char *level, u_char *code,
    u_char *desc);
void ngx_rtmp_cluster_edge_upstream_published(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx);
void ngx_rtmp_cluster_edge_upstream_closed(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx);
ngx_int_t ngx_rtmp_cluster_edge_init_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_edge_exit_process(ngx_cycle_t *cycle);
const char *ngx_rtmp_cluster_state_name(ngx_uint_t state);


#endif /* _NGX_RTMP_CLUSTER_H_INCLUDED_ */
