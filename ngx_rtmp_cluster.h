
/*
 * ngx_rtmp_cluster: edge and origin roles for nginx-rtmp.
 *
 * The files form layers; calls go down, and what must come back up goes
 * through a callback the caller registered:
 *
 *   ngx_rtmp_cluster_module.c     nginx-rtmp's hooks, directives,
 *                                 configuration, session contexts; the
 *                                 worker's watch timer
 *   ngx_rtmp_cluster_edge.c       edge policy: origins by balancer (a
 *                                 source for the engine), 302s followed,
 *                                 publishes forwarded
 *   ngx_rtmp_cluster_origin.c     origin policy: registry, lookups,
 *                                 redirect or proxy, duplicate publishes
 *   ngx_rtmp_cluster_lookup.c     where a stream is: single flight across
 *                                 workers, cached, coworkers and managers
 *   ngx_rtmp_cluster_managers.c   the stream manager client: leases and
 *                                 lookups
 *   ngx_rtmp_cluster_stream.c     the stream engine: streams, upstream
 *                                 sessions, players, state, linger
 *   ngx_rtmp_cluster_gop.c        the GOP cache      } delivery to players
 *   ngx_rtmp_cluster_merge.c      merged writes      }
 *   ngx_rtmp_cluster_timeline.c   players' timestamps across upstreams
 *   ngx_rtmp_cluster_workers.c    one upstream per stream per host:
 *                                 owners and worker sockets
 *   ngx_rtmp_cluster_zone.c       the shared zone (every write to it)
 *   ngx_rtmp_cluster_fetch.c      HTTP client (libcurl on nginx events)
 *   ngx_rtmp_cluster_parse.c      readers of what peers send, JSON out
 *
 * The http side (status, coworker API, stream manager) reads the zone
 * through zone.c and formats with parse.c; its HLS handler
 * (ngx_http_rtmp_cluster_hls.c) plays streams as a member of the engine
 * through the edge.
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

#define NGX_RTMP_CLUSTER_REDIRECT_SRS   0
#define NGX_RTMP_CLUSTER_REDIRECT_FMS   1

#define NGX_RTMP_CLUSTER_MISS_WAIT      0
#define NGX_RTMP_CLUSTER_MISS_REJECT    1

#define NGX_RTMP_CLUSTER_BALANCE_HASH   0
#define NGX_RTMP_CLUSTER_BALANCE_RR     1
#define NGX_RTMP_CLUSTER_BALANCE_ORDER  2

#define NGX_RTMP_CLUSTER_TARGETS_ANY    0
#define NGX_RTMP_CLUSTER_TARGETS_LISTED 1

#define NGX_RTMP_CLUSTER_MAX_ORIGINS    64
#define NGX_RTMP_CLUSTER_MAX_COWORKERS  64
#define NGX_RTMP_CLUSTER_MAX_REDIRECTS  16
#define NGX_RTMP_CLUSTER_MAX_HOPS       (NGX_RTMP_CLUSTER_MAX_REDIRECTS + 1)
#define NGX_RTMP_CLUSTER_MAX_WORKERS    128
#define NGX_RTMP_CLUSTER_MERGE_BYTES    (512 * 1024)
#define NGX_RTMP_CLUSTER_KEY_LEN        (2 * NGX_RTMP_MAX_NAME)
#define NGX_RTMP_CLUSTER_ERR_LEN        64
#define NGX_RTMP_CLUSTER_TRIED_LEN      512

/* a stream's state (ngx_rtmp_cluster_stream.c), as the status names it */
#define NGX_RTMP_CLUSTER_IDLE           0
#define NGX_RTMP_CLUSTER_CONNECTING     1
#define NGX_RTMP_CLUSTER_REQUESTED      2   /* play (publish) sent */
#define NGX_RTMP_CLUSTER_LIVE           3
#define NGX_RTMP_CLUSTER_BACKOFF        4
#define NGX_RTMP_CLUSTER_LINGER         5   /* shown only: no players */
#define NGX_RTMP_CLUSTER_ABSENT         6   /* no origin has it: "waiting" */

/* what a stream is */
#define NGX_RTMP_CLUSTER_PULL           0
#define NGX_RTMP_CLUSTER_PUBLISH        1
#define NGX_RTMP_CLUSTER_PROXY          2


/*
 * The shared zone (ngx_rtmp_cluster_zone.c).
 *
 * Every write to the zone goes through zone.c, under these rules, given
 * next to each field:
 *
 *   [lock]    under the slab mutex, by any worker
 *   [own]     by the record's own worker only, one machine word at a time
 *             (a reader copying under the mutex may see a field from just
 *             before or after an update, never a torn one)
 *   [atomic]  ngx_atomic_fetch_add, by any worker
 *   [once]    when the record is made, under the mutex
 *
 * Nothing is done under the mutex but reading and writing the zone: no
 * system call, no log line, no callback.  A worker's liveness (kill(2))
 * is checked out of the lock, and the entry checked again under it.
 */

/* origin health: one per origin address, for every worker's balancer */
typedef struct {
    ngx_queue_t                     queue;          /* [lock] */
    u_char                          name[NGX_RTMP_CLUSTER_ADDR_LEN];
    size_t                          name_len;       /* [once] both */
    ngx_uint_t                      fails;          /* [lock] consecutive */
    ngx_uint_t                      total_fails;    /* [lock] */
    ngx_uint_t                      successes;      /* [lock] */
    ngx_uint_t                      circuit_opens;  /* [lock] */
    ngx_uint_t                      not_found;      /* [lock] answered
                                                       "not here": no
                                                       failure */
    uint64_t                        open_until;     /* [lock] wall ms */
    time_t                          last_failure;   /* [lock] */
    u_char                          last_error[NGX_RTMP_CLUSTER_ERR_LEN];
                                                    /* [lock] */
} ngx_rtmp_cluster_shm_origin_t;


/* a stream of one worker, for the status */
typedef struct {
    ngx_queue_t                     queue;          /* [lock] */
    ngx_pid_t                       pid;            /* [once] its worker */
    u_char                          app[NGX_RTMP_MAX_NAME];     /* [once] */
    u_char                          name[NGX_RTMP_MAX_NAME];    /* [once] */
    time_t                          started;        /* [once] */
    ngx_uint_t                      kind;           /* [own] */
    ngx_uint_t                      state;          /* [own] */
    ngx_pid_t                       owner;          /* [own] */
    u_char                          origin[NGX_RTMP_CLUSTER_ADDR_LEN];
                                                    /* [lock] */
    time_t                          origin_since;   /* [lock] */
    ngx_atomic_t                    players;        /* [atomic] */
    ngx_atomic_t                    relays;         /* [atomic] */
    ngx_atomic_t                    flv;            /* [atomic] of the
                                                       players */
    ngx_atomic_t                    bytes;          /* [atomic] */
    ngx_atomic_t                    failovers;      /* [atomic] */
    ngx_atomic_t                    gop_frames;     /* [own] */
    ngx_atomic_t                    gop_bytes;      /* [own] */
    ngx_atomic_t                    gop_ms;         /* [own] */
    ngx_atomic_t                    hls;            /* [atomic] HLS viewers
                                                       (of players) */
    ngx_atomic_t                    sent;           /* [atomic] bytes to
                                                       clients */
} ngx_rtmp_cluster_shm_stream_t;


/*
 * The head of a node of the three keyed tables (registry, lookups,
 * owners), each with a node type of its own that starts with it; the key
 * ("app/name") follows the node's fields.  All [lock].
 */
typedef struct {
    ngx_rbtree_node_t               node;       /* key: crc32 of the key */
    ngx_queue_t                     queue;      /* oldest first */
    u_char                         *key;
    u_short                         len;
} ngx_rtmp_cluster_shm_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
} ngx_rtmp_cluster_shm_table_t;


/* the registry: a stream published on this host */
typedef struct {
    ngx_rtmp_cluster_shm_node_t     sn;
    ngx_pid_t                       pid;        /* the publisher's worker */
    uint64_t                        since;      /* wall-clock ms */
    u_char                          publisher[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_shm_published_t;


/* a lookup: asked by one worker for all, then its answer, cached */
#define NGX_RTMP_CLUSTER_LOOKUP_PENDING   0
#define NGX_RTMP_CLUSTER_LOOKUP_FOUND     1
#define NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND  2

typedef struct {
    ngx_rtmp_cluster_shm_node_t     sn;
    ngx_uint_t                      state;
    ngx_pid_t                       pid;        /* the asking worker */
    uint64_t                        since;      /* asked or answered */
    uint64_t                        expires;    /* an answer's */
    in_port_t                       port;       /* FOUND: where */
    u_char                          addr[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_shm_lookup_t;


/* an owner: the worker that pulls a stream for the host or holds its
 * publisher */
#define NGX_RTMP_CLUSTER_OWNER_PULL     0
#define NGX_RTMP_CLUSTER_OWNER_PUBLISH  1

typedef struct {
    ngx_rtmp_cluster_shm_node_t     sn;
    ngx_uint_t                      kind;
    ngx_uint_t                      generation; /* the owner's cycle */
    ngx_pid_t                       pid;
    uint64_t                        since;
} ngx_rtmp_cluster_shm_owner_t;


/* a worker, in the slot of its process */
typedef struct {
    ngx_pid_t                       pid;        /* [lock] 0: none */
    ngx_uint_t                      generation; /* [lock] */
    time_t                          started;    /* [lock] */
    unsigned                        relay:1;    /* [lock] sockets listen */
    unsigned                        exiting:1;  /* [lock] */
} ngx_rtmp_cluster_shm_worker_t;


/* the bounds of the lookup latency histogram, ms (the metrics print
 * them in seconds) */
#define NGX_RTMP_CLUSTER_LOOKUP_BOUNDS  5, 10, 25, 50, 100, 250, 500, 1000, \
                                        2500, 5000
#define NGX_RTMP_CLUSTER_LOOKUP_NBOUNDS  10


/* the host's counters, all [atomic] */
enum {
    NGX_RTMP_CLUSTER_LOOKUPS_TOTAL = 0,
    NGX_RTMP_CLUSTER_LOOKUPS_CACHED,
    NGX_RTMP_CLUSTER_LOOKUPS_JOINED,
    NGX_RTMP_CLUSTER_LOOKUPS_FOUND,
    NGX_RTMP_CLUSTER_LOOKUP_QUERIES,
    NGX_RTMP_CLUSTER_LOOKUP_ERRORS,
    NGX_RTMP_CLUSTER_LOOKUP_MS_TOTAL,
    NGX_RTMP_CLUSTER_LOOKUP_MS_MAX,         /* a maximum, not a sum */
    NGX_RTMP_CLUSTER_REDIRECTS_SENT,
    NGX_RTMP_CLUSTER_REDIRECTS_FOLLOWED,
    NGX_RTMP_CLUSTER_REDIRECTS_REFUSED,
    NGX_RTMP_CLUSTER_PUBLISHES_REJECTED,
    NGX_RTMP_CLUSTER_ZONE_FULL,
    NGX_RTMP_CLUSTER_MANAGER_REQUESTS,
    NGX_RTMP_CLUSTER_MANAGER_ERRORS,
    NGX_RTMP_CLUSTER_LEASES_HELD,
    NGX_RTMP_CLUSTER_LEASE_CONFLICTS,
    NGX_RTMP_CLUSTER_RENEW_FAILURES,
    NGX_RTMP_CLUSTER_BYTES_SENT,            /* to clients, of all streams */
    NGX_RTMP_CLUSTER_LOOKUP_MS_BUCKETS,     /* one per bound below, then
                                               the slower ones */
    NGX_RTMP_CLUSTER_NCOUNTERS = NGX_RTMP_CLUSTER_LOOKUP_MS_BUCKETS
                                 + NGX_RTMP_CLUSTER_LOOKUP_NBOUNDS + 1
};


typedef struct {
    ngx_queue_t                     origins;    /* [lock] */
    ngx_queue_t                     streams;    /* [lock] */
    ngx_rtmp_cluster_shm_table_t    registry;   /* [lock] */
    ngx_rtmp_cluster_shm_table_t    lookups;    /* [lock] */
    ngx_rtmp_cluster_shm_table_t    owners;     /* [lock] */
    ngx_rtmp_cluster_shm_worker_t   workers[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_uint_t                      generation; /* [lock] reloads */
    ngx_atomic_t                    rr;         /* [atomic] round robin */
    ngx_atomic_t                    counters[NGX_RTMP_CLUSTER_NCOUNTERS];

    /* the stream manager, as this host sees it: all [lock] */
    ngx_uint_t                      manager_down;   /* the last failed */
    time_t                          manager_failed;
    u_char                          manager_error[NGX_RTMP_CLUSTER_ERR_LEN];
} ngx_rtmp_cluster_shm_t;


typedef struct {
    ngx_rtmp_cluster_shm_t         *sh;
    ngx_slab_pool_t                *shpool;
    ngx_shm_zone_t                 *shm_zone;
    ngx_array_t                    *origins;    /* of the configuration */
} ngx_rtmp_cluster_zone_t;


/* the zone copied under the lock, for the status and the metrics */
typedef struct {
    ngx_uint_t                      norigins;
    ngx_uint_t                      nstreams;
    ngx_uint_t                      npublished; /* 0 unless asked */
    ngx_uint_t                      nlookups;
    ngx_uint_t                      nowners;
    ngx_uint_t                      pages;
    ngx_uint_t                      free_pages;
    ngx_uint_t                      generation;
    ngx_rtmp_cluster_shm_origin_t  *origins;
    ngx_rtmp_cluster_shm_stream_t  *streams;
    ngx_rtmp_cluster_shm_published_t  *published;
    u_char                        (*published_keys)[NGX_RTMP_CLUSTER_KEY_LEN];
    ngx_rtmp_cluster_shm_worker_t   workers[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_atomic_uint_t               counters[NGX_RTMP_CLUSTER_NCOUNTERS];
    ngx_uint_t                      manager_down;
    time_t                          manager_failed;
    u_char                          manager_error[NGX_RTMP_CLUSTER_ERR_LEN];
} ngx_rtmp_cluster_snapshot_t;


/* lookup_begin() and lookup_poll(): what the zone says of a lookup */
#define NGX_RTMP_CLUSTER_LOOKUP_ASK     0   /* ask: the entry is ours */
#define NGX_RTMP_CLUSTER_LOOKUP_WAIT    1   /* another worker asks */
#define NGX_RTMP_CLUSTER_LOOKUP_HIT     2   /* found (addr, port) */
#define NGX_RTMP_CLUSTER_LOOKUP_MISS    3   /* not found */
#define NGX_RTMP_CLUSTER_LOOKUP_NOROOM  4   /* the zone is full */


/* configuration */

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
    ngx_flag_t                      worker_relay;
    ngx_str_t                       socket_dir;
} ngx_rtmp_cluster_main_conf_t;


typedef struct {
    ngx_str_t                       name;       /* host:port, as configured */
    ngx_str_t                       url;        /* of the API, resolved */
} ngx_rtmp_cluster_coworker_t;


/* field names are the directives' without "cluster_" */
typedef struct {
    ngx_uint_t                      role;           /* cluster */
    ngx_array_t                    *origins;        /* cluster_origin */
    ngx_uint_t                      balance;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      media_timeout;
    ngx_msec_t                      retry_timeout;
    ngx_msec_t                      not_found_min;  /* cluster_not_found_ */
    ngx_msec_t                      not_found_max;  /* backoff */
    ngx_msec_t                      linger;
    ngx_flag_t                      pass_args;
    ngx_flag_t                      forward_publish;
    ngx_uint_t                      redirect_depth;
    ngx_uint_t                      redirect_targets;
    ngx_array_t                    *coworkers;      /* of coworker_t */
    ngx_array_t                    *managers;       /* cluster_manager */
    ngx_str_t                       manager_secret;
    ngx_msec_t                      lease_ttl;
    ngx_str_t                       advertise;      /* host[:port] */
    ngx_msec_t                      lookup_timeout;
    ngx_msec_t                      cache_found;    /* cluster_lookup_cache */
    ngx_msec_t                      cache_notfound;
    ngx_uint_t                      found;
    ngx_uint_t                      redirect;       /* srs, fms */
    ngx_uint_t                      not_found;
    ngx_msec_t                      wait_timeout;   /* of not_found wait */
    ngx_uint_t                      duplicate_publish;  /* 1: reject */
    ngx_flag_t                      gop_cache;
    ngx_uint_t                      gop_max_frames;
    size_t                          gop_max_bytes;
    ngx_msec_t                      gop_max_duration;
    ngx_msec_t                      merge_window;   /* cluster_merge_writes;
                                                       0: off */
    size_t                          merge_bytes;
    ngx_uint_t                      total_weight;   /* of the origins */
    void                           *renewals;       /* this worker's, see
                                                       managers.c */
} ngx_rtmp_cluster_app_conf_t;


/*
 * A stream's timeline across its upstreams (ngx_rtmp_cluster_timeline.c):
 * what its players were last sent, and the current upstream's offset.
 */
typedef struct {
    uint32_t                        last[2];    /* sent: video, audio */
    uint32_t                        step[2];    /* their last intervals */
    uint32_t                        offset;     /* the upstream's, mod 2^32 */
    uint32_t                        in[2];      /* the upstream's last */
    ngx_msec_t                      sent;       /* when the last one went */
    ngx_msec_t                      at[2];      /* and of each track */
    ngx_uint_t                      rebases;
    ngx_uint_t                      clamped;    /* messages moved up */
    unsigned                        seen:2;     /* tracks sent */
    unsigned                        in_seen:2;  /* tracks of the upstream */
    unsigned                        pending:1;  /* the next frame sets
                                                   the offset */
} ngx_rtmp_cluster_timeline_t;


typedef struct ngx_rtmp_cluster_stream_s   ngx_rtmp_cluster_stream_t;
typedef struct ngx_rtmp_cluster_member_s   ngx_rtmp_cluster_member_t;
typedef struct ngx_rtmp_cluster_fetch_s    ngx_rtmp_cluster_fetch_t;
typedef struct ngx_rtmp_cluster_waiter_s   ngx_rtmp_cluster_waiter_t;
typedef struct ngx_rtmp_cluster_lease_s    ngx_rtmp_cluster_lease_t;
typedef struct ngx_rtmp_cluster_mlookup_s  ngx_rtmp_cluster_mlookup_t;
typedef struct ngx_rtmp_cluster_gop_s      ngx_rtmp_cluster_gop_t;
typedef struct ngx_rtmp_cluster_merge_s    ngx_rtmp_cluster_merge_t;
typedef struct ngx_rtmp_cluster_origin_ctx_s  ngx_rtmp_cluster_origin_ctx_t;


/*
 * Return codes, the same everywhere in this module:
 *
 *   play and publish, from the hooks through the role decisions:
 *     NGX_DECLINED  go on with nginx-rtmp's handler now
 *     NGX_OK        handled here: suspended, answered or refused
 *     NGX_ERROR     the session ends
 *   answers of lookups and leases (callbacks, and the immediate result
 *   of the function that asks):
 *     NGX_OK        found (where) / granted
 *     NGX_DECLINED  not found / refused by a holder (who)
 *     NGX_ERROR     nobody answered (peers down, time-outs, bad answers)
 *     NGX_AGAIN     (immediate only) the callback answers later
 *
 * A play or publish that waits for an answer is suspended: its hook keeps
 * a copy of the command and returns NGX_OK without calling nginx-rtmp's
 * next handler; the answer's callback goes on with it, refuses it or ends
 * the session.  A session that closes first cancels what it waits for,
 * and no callback comes after a cancel.
 */


/*
 * What a session is to a stream of the engine.  The member holds a
 * reference on the stream while it points at it; end() is how the
 * engine ends a player it gives up on (and other workers' relays at
 * shutdown): an RTMP session is told and finalized, an HTTP viewer would
 * be closed.
 */

#define NGX_RTMP_CLUSTER_PLAYER         1
#define NGX_RTMP_CLUSTER_PUBLISHER      2
#define NGX_RTMP_CLUSTER_UPSTREAM       3

typedef void (*ngx_rtmp_cluster_end_pt)(ngx_rtmp_cluster_member_t *m,
    const char *why);

struct ngx_rtmp_cluster_member_s {
    ngx_rtmp_cluster_stream_t      *stream;     /* NULL: none */
    ngx_queue_t                     queue;      /* in its players */
    ngx_rtmp_cluster_end_pt         end;
    void                           *data;       /* the session */
    unsigned                        role:2;
    unsigned                        inner:1;    /* another worker's relay */
    unsigned                        http:1;     /* an HTTP-FLV viewer */
    unsigned                        hls:1;      /* an HLS viewer (http) */
    ngx_queue_t                     viewer;     /* in its HTTP viewers */
    ngx_connection_t               *connection; /* a client's, whose bytes
                                                   sent are counted */
    off_t                           sent;       /* its c->sent counted */
};


/*
 * HTTP viewers (ngx_http_rtmp_cluster_flv.c) get a stream's media from
 * the engine: media() for each audio or video message of the session that
 * feeds the stream (its upstream or its publisher), with the timestamp on
 * the stream's timeline; gone() when the stream ends with the viewers'
 * state (ctx) still set.
 */
typedef struct {
    void        (*media)(ngx_rtmp_cluster_stream_t *st, ngx_queue_t *viewers,
                         ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
                         ngx_chain_t *in);
    void        (*gone)(ngx_rtmp_cluster_stream_t *st, void *ctx);
} ngx_rtmp_cluster_viewers_t;


/* per RTMP session, owned by ngx_rtmp_cluster_module.c; a part per user */
typedef struct {
    ngx_rtmp_session_t             *session;

    /* the stream engine: a player, publisher or upstream of a stream */
    ngx_rtmp_cluster_member_t       member;

    /* the origin role: a command waiting, a registration, a lease */
    ngx_rtmp_cluster_origin_ctx_t  *origin;

    /* delivery: a publisher's GOP and merge window; a merged player */
    ngx_rtmp_cluster_gop_t         *gop;
    ngx_rtmp_cluster_merge_t       *merge;
    ngx_event_handler_pt            write_handler;  /* nginx-rtmp's */
    unsigned                        merged:1;
} ngx_rtmp_cluster_ctx_t;


/*
 * Where a stream's upstream is: a configured origin (with its health
 * record), an address a peer named, or the owner worker's socket.  A
 * target is copied wherever it is kept (ngx_rtmp_cluster_target_copy():
 * its name points into itself), and points at nothing else.
 */
typedef struct {
    ngx_rtmp_cluster_origin_t      *origin;     /* configured, or NULL */
    ngx_pid_t                       worker;     /* a worker's socket */
    socklen_t                       socklen;
    ngx_sockaddr_t                  sockaddr;
    ngx_str_t                       name;       /* in name_buf */
    u_char                          name_buf[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_target_t;


/*
 * A source of upstreams: the role's policy for a stream, registered when
 * the stream is made.  The engine asks it for the targets of a round, one
 * after the other, and tells it of 302s.
 *   init()      the stream is made (data: the caller's), or the source
 *               is set on a stream that has none: its per-stream state
 *   round()     a round starts: the first target next
 *   next()      the next target of the round: NGX_OK, or NGX_DONE
 *   redirect()  an upstream's RTMP 302 (url): NGX_OK follow it (next()
 *               gives the target), else refused (*why)
 *   free()      the stream is gone
 */
typedef struct {
    ngx_int_t   (*init)(ngx_rtmp_cluster_stream_t *st, void *data);
    void        (*round)(ngx_rtmp_cluster_stream_t *st);
    ngx_int_t   (*next)(ngx_rtmp_cluster_stream_t *st,
                        ngx_rtmp_cluster_target_t *t);
    ngx_int_t   (*redirect)(ngx_rtmp_cluster_stream_t *st, u_char *url,
                            const char **why);
    void        (*free)(ngx_rtmp_cluster_stream_t *st);
} ngx_rtmp_cluster_source_t;


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

/* a lookup's answer: NGX_OK found (w->addr, w->port), else not found */
typedef void (*ngx_rtmp_cluster_lookup_pt)(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);

/* a manager's lookup: rc as above; addr and port when found */
typedef void (*ngx_rtmp_cluster_mlookup_pt)(void *data, ngx_int_t rc,
    u_char *addr, in_port_t port);

/* a lease's registration: NGX_OK granted, NGX_DECLINED held by addr:port,
 * NGX_ERROR no manager answered (the registration is retried) */
typedef void (*ngx_rtmp_cluster_lease_pt)(void *data, ngx_int_t rc,
    u_char *addr, in_port_t port);


/* a lookup of "app/name", and the one who waits for its answer */
struct ngx_rtmp_cluster_waiter_s {
    ngx_queue_t                     queue;
    ngx_rtmp_cluster_lookup_pt      handler;
    void                           *data;
    void                           *flight;     /* NULL: not waiting */
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_str_t                       key;        /* "app/name" */
    size_t                          app_len;
    ngx_str_t                       tc_host;    /* the "ip" parameter */
    unsigned                        fresh:1;    /* no cached "found" */
    in_port_t                       port;       /* the answer */
    u_char                          addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


extern ngx_module_t  ngx_rtmp_cluster_module;
extern ngx_module_t  ngx_rtmp_module;


/* the module's configuration of a cycle, or NULL (no rtmp{} block) */
#define ngx_rtmp_cluster_main_conf(cycle)                                     \
    (ngx_get_conf((cycle)->conf_ctx, ngx_rtmp_module) == NULL ? NULL         \
     : (ngx_rtmp_cluster_main_conf_t *)                                       \
       ((ngx_rtmp_conf_ctx_t *) ngx_get_conf((cycle)->conf_ctx,              \
                                             ngx_rtmp_module))               \
       ->main_conf[ngx_rtmp_cluster_module.ctx_index])

/* the module (ngx_rtmp_cluster_module.c) */
ngx_rtmp_cluster_ctx_t *ngx_rtmp_cluster_session_ctx(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_session_end(ngx_rtmp_cluster_member_t *m,
    const char *why);

/* the shared zone (ngx_rtmp_cluster_zone.c) */
ngx_int_t ngx_rtmp_cluster_zone_init(ngx_shm_zone_t *shm_zone, void *data);
ngx_rtmp_cluster_zone_t *ngx_rtmp_cluster_zone_get(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_zone_sweep(ngx_rtmp_cluster_zone_t *zone);
ngx_int_t ngx_rtmp_cluster_key(ngx_str_t *app, u_char *name, ngx_str_t *key,
    u_char *buf);
void ngx_rtmp_cluster_zone_full(ngx_rtmp_cluster_zone_t *zone,
    const char *what, ngx_str_t *key);
ngx_int_t ngx_rtmp_cluster_zone_snapshot(ngx_rtmp_cluster_zone_t *zone,
    ngx_pool_t *pool, ngx_rtmp_cluster_snapshot_t *snap,
    ngx_uint_t published);
void ngx_rtmp_cluster_count(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t i,
    ngx_atomic_int_t n);
void ngx_rtmp_cluster_count_max(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t i,
    ngx_atomic_uint_t n);
ngx_uint_t ngx_rtmp_cluster_next_rr(ngx_rtmp_cluster_zone_t *zone);
ngx_uint_t ngx_rtmp_cluster_pid_alive(ngx_pid_t pid);
uint64_t ngx_rtmp_cluster_now(void);

ngx_int_t ngx_rtmp_cluster_origin_usable(ngx_rtmp_cluster_origin_t *o);
void ngx_rtmp_cluster_origin_failure(ngx_rtmp_cluster_origin_t *o,
    const char *reason);
void ngx_rtmp_cluster_origin_success(ngx_rtmp_cluster_origin_t *o);
void ngx_rtmp_cluster_origin_not_found(ngx_rtmp_cluster_origin_t *o);

ngx_rtmp_cluster_shm_stream_t *ngx_rtmp_cluster_record_create(
    ngx_rtmp_cluster_zone_t *zone, ngx_uint_t kind, ngx_str_t *app,
    ngx_str_t *name);
void ngx_rtmp_cluster_record_free(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_stream_t *r);
void ngx_rtmp_cluster_record_state(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t state);
void ngx_rtmp_cluster_record_kind(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t kind);
void ngx_rtmp_cluster_record_owner(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_pid_t owner);
void ngx_rtmp_cluster_record_origin(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_stream_t *r, ngx_str_t *origin);
void ngx_rtmp_cluster_record_players(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t inner, ngx_atomic_int_t n);
void ngx_rtmp_cluster_record_flv(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_atomic_int_t n);
void ngx_rtmp_cluster_record_bytes(ngx_rtmp_cluster_shm_stream_t *r,
    size_t n);
void ngx_rtmp_cluster_record_hls(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_atomic_int_t n);
void ngx_rtmp_cluster_record_sent(ngx_rtmp_cluster_shm_stream_t *r,
    size_t n);
void ngx_rtmp_cluster_record_failover(ngx_rtmp_cluster_shm_stream_t *r);
void ngx_rtmp_cluster_record_gop(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t frames, size_t bytes, ngx_msec_t ms);

ngx_int_t ngx_rtmp_cluster_registry_add(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_str_t *publisher);
void ngx_rtmp_cluster_registry_remove(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key);
ngx_pid_t ngx_rtmp_cluster_registry_find(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key);

ngx_uint_t ngx_rtmp_cluster_lookup_begin(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_uint_t fresh, ngx_msec_t patience, u_char *addr,
    in_port_t *port);
ngx_uint_t ngx_rtmp_cluster_lookup_poll(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_msec_t patience, u_char *addr, in_port_t *port);
void ngx_rtmp_cluster_lookup_answer(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_int_t rc, u_char *addr, in_port_t port,
    ngx_msec_t ttl);
void ngx_rtmp_cluster_lookup_forget(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key);

ngx_pid_t ngx_rtmp_cluster_owner_find(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_uint_t *kind, ngx_uint_t *generation,
    ngx_uint_t *relays);
ngx_pid_t ngx_rtmp_cluster_owner_take(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_uint_t kind, ngx_uint_t generation, ngx_pid_t was,
    ngx_uint_t force);
void ngx_rtmp_cluster_owner_release(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key);

ngx_uint_t ngx_rtmp_cluster_zone_generation(ngx_rtmp_cluster_zone_t *zone);
void ngx_rtmp_cluster_worker_set(ngx_rtmp_cluster_zone_t *zone,
    ngx_uint_t slot, ngx_uint_t generation, ngx_uint_t relay,
    ngx_uint_t exiting);
void ngx_rtmp_cluster_worker_gone(ngx_rtmp_cluster_zone_t *zone,
    ngx_uint_t slot);

void ngx_rtmp_cluster_manager_health(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *manager, const char *err);

/* HTTP requests through libcurl on nginx events (ngx_rtmp_cluster_fetch.c) */
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

/* one upstream per stream per host (ngx_rtmp_cluster_workers.c) */
ngx_int_t ngx_rtmp_cluster_workers_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_workers_init_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_workers_exit_process(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_workers_check(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_workers_exiting(ngx_cycle_t *cycle);
ngx_pid_t ngx_rtmp_cluster_owner(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key, ngx_uint_t take, ngx_uint_t force);
ngx_int_t ngx_rtmp_cluster_worker_target(ngx_rtmp_cluster_target_t *t,
    ngx_pid_t pid, void **srv_conf);

/* the stream engine (ngx_rtmp_cluster_stream.c) */
void ngx_rtmp_cluster_stream_init(ngx_cycle_t *cycle);
void ngx_rtmp_cluster_stream_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_stream_play(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name,
    u_char *args, ngx_uint_t kind, const ngx_rtmp_cluster_source_t *source,
    void *data);
void ngx_rtmp_cluster_stream_take_over(ngx_rtmp_cluster_app_conf_t *cacf,
    u_char *name);
ngx_int_t ngx_rtmp_cluster_stream_publish(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name,
    u_char *args, const ngx_rtmp_cluster_source_t *source, void *data);
void ngx_rtmp_cluster_stream_leave(ngx_rtmp_cluster_member_t *m);
void ngx_rtmp_cluster_stream_sent(ngx_rtmp_cluster_member_t *m, off_t n);
void ngx_rtmp_cluster_stream_upstream_published(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_stream_upstream_media(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h);
uint32_t ngx_rtmp_cluster_stream_upstream_time(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_uint_t header);
void ngx_rtmp_cluster_stream_upstream_status(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_status_t *status);
void ngx_rtmp_cluster_stream_upstream_closed(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_stream_gop(ngx_rtmp_cluster_member_t *m,
    ngx_uint_t frames, size_t bytes, ngx_msec_t ms);
void ngx_rtmp_cluster_stream_media(ngx_rtmp_cluster_member_t *m,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
void ngx_rtmp_cluster_stream_viewers(const ngx_rtmp_cluster_viewers_t *v);
void *ngx_rtmp_cluster_stream_viewers_ctx(ngx_rtmp_cluster_stream_t *st);
void ngx_rtmp_cluster_stream_set_viewers_ctx(ngx_rtmp_cluster_stream_t *st,
    void *ctx);
ngx_uint_t ngx_rtmp_cluster_stream_nviewers(ngx_rtmp_cluster_stream_t *st);
ngx_rtmp_session_t *ngx_rtmp_cluster_stream_feed(
    ngx_rtmp_cluster_stream_t *st);
ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_stream_lookup(
    ngx_rtmp_cluster_app_conf_t *cacf, u_char *name);
void ngx_rtmp_cluster_stream_shutdown(void);
void ngx_rtmp_cluster_stream_exiting(void);
ngx_rtmp_cluster_app_conf_t *ngx_rtmp_cluster_stream_conf(
    ngx_rtmp_cluster_stream_t *st);
ngx_str_t *ngx_rtmp_cluster_stream_app(ngx_rtmp_cluster_stream_t *st);
ngx_str_t *ngx_rtmp_cluster_stream_name(ngx_rtmp_cluster_stream_t *st);
ngx_str_t *ngx_rtmp_cluster_stream_origin(ngx_rtmp_cluster_stream_t *st);
void *ngx_rtmp_cluster_stream_source_ctx(ngx_rtmp_cluster_stream_t *st);
void ngx_rtmp_cluster_stream_set_source_ctx(ngx_rtmp_cluster_stream_t *st,
    void *ctx);
void ngx_rtmp_cluster_target_origin(ngx_rtmp_cluster_target_t *t,
    ngx_rtmp_cluster_origin_t *o);
void ngx_rtmp_cluster_target_copy(ngx_rtmp_cluster_target_t *dst,
    ngx_rtmp_cluster_target_t *src);
ngx_int_t ngx_rtmp_cluster_target_inet(ngx_rtmp_cluster_target_t *t,
    in_addr_t inaddr, in_port_t port);
const char *ngx_rtmp_cluster_state_name(ngx_uint_t state);

/* a stream's timeline (ngx_rtmp_cluster_timeline.c) */
void ngx_rtmp_cluster_timeline_restart(ngx_rtmp_cluster_timeline_t *tl);
uint32_t ngx_rtmp_cluster_timeline_map(ngx_rtmp_cluster_timeline_t *tl,
    ngx_uint_t video, ngx_uint_t header, uint32_t timestamp);

/* the GOP cache (ngx_rtmp_cluster_gop.c) */
void ngx_rtmp_cluster_gop_add(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in);
void ngx_rtmp_cluster_gop_send(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_gop_free(ngx_rtmp_cluster_ctx_t *ctx);
ngx_int_t ngx_rtmp_cluster_gop_frame(ngx_rtmp_session_t *s, ngx_uint_t i,
    ngx_chain_t **pkt, ngx_uint_t *video);

/* merged writes to players (ngx_rtmp_cluster_merge.c) */
char *ngx_rtmp_cluster_merge_writes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_rtmp_cluster_merge_av(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in);
void ngx_rtmp_cluster_merge_close(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_merge_player(ngx_rtmp_session_t *s);
void ngx_rtmp_cluster_merge_push(ngx_rtmp_session_t *s);

/* the stream manager client (ngx_rtmp_cluster_managers.c) */
char *ngx_rtmp_cluster_manager_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_rtmp_cluster_lease_t *ngx_rtmp_cluster_lease_start(ngx_pool_t *pool,
    ngx_log_t *log, ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *key,
    size_t app_len, ngx_str_t *host, in_port_t port,
    ngx_rtmp_cluster_lease_pt handler, void *data);
void ngx_rtmp_cluster_lease_end(ngx_rtmp_cluster_lease_t *l);
ngx_rtmp_cluster_mlookup_t *ngx_rtmp_cluster_manager_lookup(
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *key, size_t app_len,
    ngx_rtmp_cluster_mlookup_pt handler, void *data);
void ngx_rtmp_cluster_manager_lookup_cancel(ngx_rtmp_cluster_mlookup_t *ml);

/* where a stream is: lookups (ngx_rtmp_cluster_lookup.c) */
ngx_int_t ngx_rtmp_cluster_lookup_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_lookup(ngx_rtmp_cluster_waiter_t *w);
void ngx_rtmp_cluster_lookup_cancel(ngx_rtmp_cluster_waiter_t *w);

/* the edge role (ngx_rtmp_cluster_edge.c) */
ngx_int_t ngx_rtmp_cluster_edge_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_edge_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
ngx_int_t ngx_rtmp_cluster_edge_attach(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name,
    u_char *args);
void ngx_rtmp_cluster_edge_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
ngx_int_t ngx_rtmp_cluster_edge_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);

/* the origin role (ngx_rtmp_cluster_origin.c) */
ngx_int_t ngx_rtmp_cluster_origin_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_rtmp_cluster_origin_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_play_pt resume);
ngx_int_t ngx_rtmp_cluster_origin_attach(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name,
    u_char *args);
ngx_int_t ngx_rtmp_cluster_origin_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v, ngx_rtmp_publish_pt resume);
void ngx_rtmp_cluster_origin_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
void ngx_rtmp_cluster_origin_close(ngx_rtmp_session_t *s);
ngx_int_t ngx_rtmp_cluster_advertised(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_rtmp_core_srv_conf_t *cscf, ngx_str_t *coworker, ngx_str_t *host,
    in_port_t *port);


#endif /* _NGX_RTMP_CLUSTER_H_INCLUDED_ */
