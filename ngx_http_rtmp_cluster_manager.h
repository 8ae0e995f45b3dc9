
/*
 * ngx_rtmp_cluster: what the stream manager's two files share, the HTTP
 * API (ngx_http_rtmp_cluster_manager.c) above, the Redis connection and
 * the sentinels (ngx_http_rtmp_cluster_manager_redis.c) below.
 */


#ifndef _NGX_HTTP_RTMP_CLUSTER_MANAGER_H_INCLUDED_
#define _NGX_HTTP_RTMP_CLUSTER_MANAGER_H_INCLUDED_


#include "ngx_http_rtmp_cluster.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_RTMP_CLUSTER_MANAGER_SENTINELS  16


/* a sentinel, asked for the master's address */

typedef struct {
    ngx_str_t                                  name;
    int                                        port;
    char                                       ip[NGX_SOCKADDR_STRLEN + 1];
} ngx_http_rtmp_cluster_manager_sentinel_t;


typedef struct ngx_http_rtmp_cluster_manager_redis_s
    ngx_http_rtmp_cluster_manager_redis_t;

/* NGX_OK: the next reply may be read; else the connection was closed */
typedef ngx_int_t (*ngx_http_rtmp_cluster_manager_sconn_reply_pt)(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr);
typedef void (*ngx_http_rtmp_cluster_manager_sconn_fail_pt)(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err);


/*
 * A connection to a sentinel: a plain hiredis context, read here, polled
 * through a borrowed nginx connection.  Not hiredis's asynchronous API:
 * a sentinel sending more than asked, or garbage, would make it abort.
 */

typedef struct {
    redisContext                              *ctx;    /* NULL: closed */
    ngx_connection_t                          *c;
    ngx_http_rtmp_cluster_manager_redis_t     *rd;
    ngx_uint_t                                 auth;  /* AUTH's answer due */
    ngx_http_rtmp_cluster_manager_sconn_reply_pt  reply;
    ngx_http_rtmp_cluster_manager_sconn_fail_pt   fail;
    u_char                                     err[128];  /* the reason */
} ngx_http_rtmp_cluster_manager_sconn_t;


/*
 * One Redis address, or a master named to sentinels; in each worker, its
 * connection.  With sentinels, ip and port are the master's last known
 * address: known is cleared by every failure, so that the next connect
 * asks the sentinels again (one at a time, the next one on a failure).
 */

struct ngx_http_rtmp_cluster_manager_redis_s {
    ngx_str_t                                  name;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sentinels;  /* NULL: none */
    ngx_uint_t                                 nsentinels;
    ngx_uint_t                                 sentinel;   /* next asked */
    ngx_uint_t                                 tried;      /* this round */
    ngx_http_rtmp_cluster_manager_sconn_t      ask;        /* asking */
    struct sockaddr                           *sockaddr;
    socklen_t                                  socklen;
    int                                        port;
    ngx_msec_t                                 connect_timeout;
    ngx_msec_t                                 ready_at;
    redisAsyncContext                         *ac;
    ngx_event_t                                timer;  /* connect, retry */
    ngx_str_t                                  password;  /* "": none */
    ngx_str_t                                  sentinel_password;

    /* the +switch-master subscription: one sentinel, the next on failure */
    ngx_http_rtmp_cluster_manager_sconn_t      sub;
    ngx_uint_t                                 psentinel;
    ngx_msec_t                                 pbackoff;
    ngx_event_t                                ptimer;  /* connect, retry */

    unsigned                                   ready:1;
    unsigned                                   down:1;
    unsigned                                   known:1;
    unsigned                                   subscribed:1;
    char                                       ip[NGX_SOCKADDR_STRLEN + 1];
};


/* set while the worker exits: replies still owed touch no request */
extern ngx_uint_t  ngx_http_rtmp_cluster_manager_exiting;


void ngx_http_rtmp_cluster_manager_redis_init(
    ngx_http_rtmp_cluster_manager_redis_t *rd, ngx_log_t *log);
void ngx_http_rtmp_cluster_manager_redis_exit(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
ngx_int_t ngx_http_rtmp_cluster_manager_usable(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
ngx_int_t ngx_http_rtmp_cluster_manager_command(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisCallbackFn *fn,
    void *data, int argc, const char **argv, const size_t *argvlen);
void ngx_http_rtmp_cluster_manager_fail(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err);


#endif /* _NGX_HTTP_RTMP_CLUSTER_MANAGER_H_INCLUDED_ */
