
/*
 * ngx_rtmp_cluster: edge and origin roles for nginx-rtmp.
 */


#ifndef _NGX_RTMP_CLUSTER_H_INCLUDED_
#define _NGX_RTMP_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include <sys/un.h>

#include "ngx_rtmp.h"
#include "ngx_rtmp_cmd_module.h"
#include "ngx_rtmp_live_module.h"
#include "ngx_rtmp_relay_module.h"

#include "ngx_rtmp_cluster_parse.h"


#define NGX_RTMP_CLUSTER_OFF            0
#define NGX_RTMP_CLUSTER_EDGE           1
#define NGX_RTMP_CLUSTER_ORIGIN         2

#define NGX_RTMP_CLUSTER_FOUND_REDIRECT 0
#define NGX_RTMP_CLUSTER_FOUND_PROXY    1

#define NGX_RTMP_CLUSTER_DIALECT_SRS    0
#define NGX_RTMP_CLUSTER_DIALECT_FMS    1

#define NGX_RTMP_CLUSTER_MISS_WAIT      0
#define NGX_RTMP_CLUSTER_MISS_REJECT    1

/* lookup states, in the zone */
#define NGX_RTMP_CLUSTER_LOOKUP_PENDING   0
#define NGX_RTMP_CLUSTER_LOOKUP_FOUND     1
#define NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND  2

#define NGX_RTMP_CLUSTER_MAX_COWORKERS  64
#define NGX_RTMP_CLUSTER_MERGE_BYTES    (512 * 1024)
#define NGX_RTMP_CLUSTER_KEY_LEN        (2 * NGX_RTMP_MAX_NAME)

#define NGX_RTMP_CLUSTER_BALANCE_HASH   0
#define NGX_RTMP_CLUSTER_BALANCE_RR     1
#define NGX_RTMP_CLUSTER_BALANCE_ORDER  2

#define NGX_RTMP_CLUSTER_MAX_ORIGINS    64
#define NGX_RTMP_CLUSTER_MAX_REDIRECTS  16
#define NGX_RTMP_CLUSTER_MAX_HOPS       (NGX_RTMP_CLUSTER_MAX_REDIRECTS + 1)

#define NGX_RTMP_CLUSTER_TARGETS_ANY    0
#define NGX_RTMP_CLUSTER_TARGETS_LISTED 1
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

/* who owns a stream (the owners table's state) */
#define NGX_RTMP_CLUSTER_OWNER_PULL     0
#define NGX_RTMP_CLUSTER_OWNER_PUBLISH  1

#define NGX_RTMP_CLUSTER_MAX_WORKERS    128

/* what a stream record describes */
#define NGX_RTMP_CLUSTER_PULL           0
#define NGX_RTMP_CLUSTER_PUBLISH        1
#define NGX_RTMP_CLUSTER_PROXY          2


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
    ngx_atomic_t                    relays;     /* other workers' pulls */
    ngx_pid_t                       owner;
    ngx_atomic_t                    bytes;
    ngx_atomic_t                    failovers;
    ngx_uint_t                      gop_frames;
    size_t                          gop_bytes;
    ngx_msec_t                      gop_ms;
    time_t                          started;
    time_t                          origin_since;
} ngx_rtmp_cluster_shm_stream_t;


/*
 * A stream published on this host (the registry), or the answer of a
 * coworker lookup (single-flight and cache): keyed by "app/name".
 */
typedef struct {
    ngx_rbtree_node_t               node;       /* key: crc32 of the key */
    ngx_queue_t                     queue;
    ngx_uint_t                      state;
    ngx_uint_t                      generation; /* an owner's cycle */
    ngx_pid_t                       pid;        /* publisher's or owner's */
    uint64_t                        since;      /* wall-clock ms */
    uint64_t                        expires;
    in_port_t                       port;
    u_char                          addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_short                         len;
    u_char                          key[1];
} ngx_rtmp_cluster_shm_entry_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;      /* LRU first */
} ngx_rtmp_cluster_shm_table_t;


/* a worker, in the slot of its process: for the status */
typedef struct {
    ngx_pid_t                       pid;        /* 0: none */
    ngx_uint_t                      generation;
    time_t                          started;
    unsigned                        relay:1;    /* its sockets listen */
    unsigned                        exiting:1;
} ngx_rtmp_cluster_shm_worker_t;


typedef struct {
    ngx_queue_t                     origins;
    ngx_queue_t                     streams;
    ngx_atomic_t                    rr;
    ngx_uint_t                      generation; /* configuration cycles */
    ngx_rtmp_cluster_shm_worker_t   workers[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_rtmp_cluster_shm_table_t    registry;
    ngx_rtmp_cluster_shm_table_t    lookups;
    ngx_rtmp_cluster_shm_table_t    owners;

    /* counters for the status handler */
    ngx_atomic_t                    lookups_total;
    ngx_atomic_t                    lookups_cached;
    ngx_atomic_t                    lookups_joined;
    ngx_atomic_t                    lookups_found;
    ngx_atomic_t                    lookup_queries;
    ngx_atomic_t                    lookup_errors;
    ngx_atomic_t                    lookup_ms_total;
    ngx_atomic_t                    lookup_ms_max;
    ngx_atomic_t                    redirects_sent;
    ngx_atomic_t                    redirects_followed;
    ngx_atomic_t                    redirects_refused;
    ngx_atomic_t                    publishes_rejected;
    ngx_atomic_t                    zone_full;      /* allocations failed */

    /* the stream manager, as this host sees it */
    ngx_atomic_t                    manager_requests;
    ngx_atomic_t                    manager_errors;
    ngx_atomic_t                    leases_held;
    ngx_atomic_t                    lease_conflicts;
    ngx_atomic_t                    renew_failures;
    ngx_atomic_t                    manager_down;   /* the last failed */
    time_t                          manager_failed;
    u_char                          manager_error[NGX_RTMP_CLUSTER_ERR_LEN];
} ngx_rtmp_cluster_shm_t;


typedef struct {
    ngx_rtmp_cluster_shm_t         *sh;
    ngx_slab_pool_t                *shpool;
    ngx_shm_zone_t                 *shm_zone;
    ngx_array_t                    *origins;    /* of the configuration */
} ngx_rtmp_cluster_zone_t;


/* an address of a redirect chain, compared as numbers */
typedef struct {
    u_char                          addr[16];
    in_port_t                       port;
    u_short                         family;
} ngx_rtmp_cluster_hop_t;


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
    ngx_flag_t                      share;
    ngx_str_t                       socket_dir;
} ngx_rtmp_cluster_main_conf_t;


typedef struct {
    ngx_str_t                       name;       /* host:port, as configured */
    ngx_str_t                       url;        /* of the API, resolved */
} ngx_rtmp_cluster_coworker_t;


typedef struct {
    ngx_uint_t                      role;
    ngx_array_t                    *origins;    /* ngx_rtmp_cluster_origin_t */
    ngx_array_t                    *coworkers;  /* of coworker_t */
    ngx_array_t                    *managers;   /* of coworker_t */
    ngx_str_t                       manager_secret;
    ngx_msec_t                      lease_ttl;
    ngx_str_t                       advertise;  /* host[:port] */
    ngx_msec_t                      lookup_timeout;
    ngx_msec_t                      cache_found;
    ngx_msec_t                      cache_notfound;
    ngx_uint_t                      found;
    ngx_uint_t                      dialect;
    ngx_uint_t                      not_found;
    ngx_uint_t                      reject_duplicate;
    ngx_uint_t                      redirect_depth;
    ngx_uint_t                      redirect_targets;
    ngx_flag_t                      gop_cache;
    ngx_uint_t                      gop_max_frames;
    size_t                          gop_max_bytes;
    ngx_msec_t                      gop_max_duration;
    ngx_msec_t                      merge_window;   /* 0: off */
    size_t                          merge_bytes;
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
typedef struct ngx_rtmp_cluster_fetch_s  ngx_rtmp_cluster_fetch_t;
typedef struct ngx_rtmp_cluster_waiter_s  ngx_rtmp_cluster_waiter_t;
typedef struct ngx_rtmp_cluster_lease_s  ngx_rtmp_cluster_lease_t;
typedef struct ngx_rtmp_cluster_gop_s  ngx_rtmp_cluster_gop_t;
typedef struct ngx_rtmp_cluster_merge_s  ngx_rtmp_cluster_merge_t;


typedef struct {
    long                            status;
    const char                     *error;      /* NULL on success */
    u_char                         *body;
    size_t                          len;
    size_t                          size;
    ngx_msec_t                      elapsed;
    unsigned                        too_big:1;
} ngx_rtmp_cluster_fetch_result_t;

typedef void (*ngx_rtmp_cluster_fetch_pt)(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);

/* rc: NGX_OK found (addr, port), NGX_DECLINED not found */
typedef void (*ngx_rtmp_cluster_lookup_pt)(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);


struct ngx_rtmp_cluster_waiter_s {
    ngx_queue_t                     queue;
    ngx_rtmp_cluster_lookup_pt      handler;
    void                           *data;
    void                           *flight;
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_str_t                       key;        /* "app/name" */
    size_t                          app_len;
    ngx_str_t                       tc_host;    /* the "ip" parameter */
    ngx_uint_t                      fresh;      /* ignore a cached "found" */
    in_port_t                       port;       /* result */
    u_char                          addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


/* per session */
typedef struct {
    ngx_rtmp_session_t             *session;
    ngx_rtmp_cluster_waiter_t      *waiter;     /* a suspended command */
    ngx_rtmp_cluster_lease_t       *lease;      /* at the stream manager */
    ngx_rtmp_cluster_gop_t         *gop;        /* a publisher's */
    ngx_rtmp_cluster_shm_stream_t  *record;     /* where its GOP shows */
    ngx_rtmp_cluster_shm_stream_t  *published;  /* an origin's publisher */
    ngx_rtmp_play_t                *play;
    ngx_rtmp_publish_t             *publish;
    ngx_event_t                     close_evt;  /* after a redirect */
    ngx_rtmp_cluster_merge_t       *merge;      /* a publisher's */
    ngx_event_handler_pt            write_handler;  /* nginx-rtmp's */
    unsigned                        merged:1;   /* a player's writes */
    unsigned                        registered:1;
    ngx_rtmp_cluster_stream_t      *stream;
    ngx_queue_t                     queue;      /* in stream->players */
    unsigned                        player:1;
    unsigned                        publisher:1;
    unsigned                        inner:1;
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
void ngx_rtmp_cluster_zone_full(ngx_shm_zone_t *shm_zone, const char *what,
    ngx_str_t *key);
ngx_uint_t ngx_rtmp_cluster_pid_alive(ngx_pid_t pid);
uint64_t ngx_rtmp_cluster_now(void);

/* the module */
ngx_int_t ngx_rtmp_cluster_next_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
ngx_int_t ngx_rtmp_cluster_next_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
ngx_rtmp_cluster_ctx_t *ngx_rtmp_cluster_session_ctx(ngx_rtmp_session_t *s);

/* the registry of streams published on this host */
ngx_int_t ngx_rtmp_cluster_registry_add(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *publisher);
void ngx_rtmp_cluster_registry_remove(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);
ngx_pid_t ngx_rtmp_cluster_registry_find(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);
ngx_rtmp_cluster_shm_entry_t *ngx_rtmp_cluster_table_find(
    ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key, uint32_t hash);
ngx_rtmp_cluster_shm_entry_t *ngx_rtmp_cluster_table_add(
    ngx_rtmp_cluster_zone_t *zone, ngx_rtmp_cluster_shm_table_t *t,
    ngx_str_t *key, uint32_t hash);
void ngx_rtmp_cluster_table_delete(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_rtmp_cluster_shm_entry_t *e);
void ngx_rtmp_cluster_table_remove(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key, ngx_uint_t own);
void ngx_rtmp_cluster_counter_max(ngx_atomic_t *a, ngx_atomic_uint_t v);

/* HTTP requests through libcurl on nginx events */
ngx_int_t ngx_rtmp_cluster_fetch_init(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_fetch_exit(ngx_cycle_t *cycle);
ngx_rtmp_cluster_fetch_t *ngx_rtmp_cluster_fetch_start(ngx_str_t *url,
    ngx_str_t *host, const char *method, ngx_str_t *body, ngx_msec_t timeout,
    size_t max, ngx_rtmp_cluster_fetch_pt handler, void *data);
ngx_rtmp_cluster_fetch_t *ngx_rtmp_cluster_fetch_start_secret(ngx_str_t *url,
    ngx_str_t *host, ngx_str_t *secret, const char *method, ngx_str_t *body,
    ngx_msec_t timeout, size_t max, ngx_rtmp_cluster_fetch_pt handler,
    void *data);
void ngx_rtmp_cluster_fetch_cancel(ngx_rtmp_cluster_fetch_t *f);

/* coworker lookups: single-flight across workers, cached */
ngx_int_t ngx_rtmp_cluster_lookup(ngx_rtmp_cluster_waiter_t *w);
void ngx_rtmp_cluster_lookup_cancel(ngx_rtmp_cluster_waiter_t *w);
ngx_int_t ngx_rtmp_cluster_lookup_init_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_lookup_forget(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);

/* leases at the stream manager */
ngx_int_t ngx_rtmp_cluster_lease_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
void ngx_rtmp_cluster_lease_close(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_manager_result(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_uint_t i, ngx_rtmp_cluster_fetch_result_t *r, const char *err);
ngx_int_t ngx_rtmp_cluster_manager_url(ngx_rtmp_cluster_coworker_t *m,
    ngx_str_t *key, size_t app_len, ngx_str_t *url, u_char *buf,
    size_t size);
char *ngx_rtmp_cluster_manager_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the GOP cache */
void ngx_rtmp_cluster_gop_add(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in);
void ngx_rtmp_cluster_gop_send(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_gop_free(ngx_rtmp_cluster_ctx_t *ctx);

/* merged writes to players */
char *ngx_rtmp_cluster_merge_writes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_rtmp_cluster_merge_av(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in);
void ngx_rtmp_cluster_merge_close(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_merge_player(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_merge_push(ngx_rtmp_session_t *s);

/* the origin role */
ngx_int_t ngx_rtmp_cluster_origin_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
ngx_int_t ngx_rtmp_cluster_origin_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
ngx_int_t ngx_rtmp_cluster_origin_check_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
ngx_int_t ngx_rtmp_cluster_refuse_publish(ngx_rtmp_session_t *s,
    ngx_str_t *key, u_char *addr, in_port_t port);
void ngx_rtmp_cluster_origin_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
void ngx_rtmp_cluster_origin_close(ngx_rtmp_session_t *s);
ngx_int_t ngx_rtmp_cluster_key(ngx_str_t *app, u_char *name, ngx_str_t *key,
    u_char *buf);
ngx_int_t ngx_rtmp_cluster_advertised(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_rtmp_core_srv_conf_t *cscf, ngx_str_t *coworker, ngx_str_t *host,
    in_port_t *port);

/* one upstream per stream per host */
ngx_int_t ngx_rtmp_cluster_workers_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_workers_init_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_workers_exit_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_socket_path(ngx_rtmp_cluster_main_conf_t *cmcf,
    ngx_pid_t pid, ngx_uint_t server, struct sockaddr_un *sun);
ngx_int_t ngx_rtmp_cluster_server_index(void **srv_conf);
ngx_pid_t ngx_rtmp_cluster_owner(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t take, ngx_uint_t force);
void ngx_rtmp_cluster_owner_release(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);
void ngx_rtmp_cluster_note_session(ngx_rtmp_session_t *s);

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
    u_char *desc, u_char *redirect);
void ngx_rtmp_cluster_edge_upstream_published(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx);
void ngx_rtmp_cluster_edge_upstream_closed(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx);
ngx_int_t ngx_rtmp_cluster_edge_init_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_edge_exit_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_edge_shutdown(void);
void ngx_rtmp_cluster_edge_exiting(void);
ngx_int_t ngx_rtmp_cluster_edge_proxy(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, u_char *addr, in_port_t port);
const char *ngx_rtmp_cluster_state_name(ngx_uint_t state);


#endif /* _NGX_RTMP_CLUSTER_H_INCLUDED_ */
