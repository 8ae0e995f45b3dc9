
/*
 * ngx_rtmp_cluster: the stream manager's Redis side.  Each worker keeps
 * one connection per configured Redis address, or master named to
 * sentinels, for the HTTP API of ngx_http_rtmp_cluster_manager.c: it
 * sends commands through ngx_http_rtmp_cluster_manager_command() and its
 * callbacks get the replies.
 *
 * Redis is driven through hiredis's asynchronous API on nginx's event
 * loop, polled through a borrowed nginx connection
 * (ngx_rtmp_cluster_event.c: level-triggered, the descriptor stays
 * hiredis's).  hiredis holds a small heap record for each command in
 * flight, not the request: a request that ends first (timeout, client
 * gone) only detaches from the record, and the late reply is dropped.
 * AUTH goes first when a password is configured; a new connection is
 * used only once PING (and, with sentinels, ROLE: "master") answered.
 * While Redis is unreachable, the API answers 503 at once and the
 * connection is retried every second.
 *
 * On Redis Sentinel, the master's address comes from the sentinels and
 * each worker also listens to one sentinel's +switch-master messages, to
 * move to a new master as soon as it is promoted.  Both talk to
 * sentinels on plain hiredis contexts read here (a "sentinel
 * connection"), not the asynchronous API: hiredis 0.14's asynchronous
 * subscribe mode aborts on a reply it does not expect, and a sentinel
 * that sends more than asked would make its ordinary mode abort too.
 */


#include "ngx_http_rtmp_cluster_manager.h"
#include "ngx_rtmp_cluster_event.h"


#define NGX_HTTP_RTMP_CLUSTER_MANAGER_RETRY      1000
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_SUB_MIN    250     /* ms, backoff */
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_SUB_MAX    8000

/* sentinels are taken in turns: n counts the turns */
#define ngx_http_rtmp_cluster_manager_sentinel(rd, n)                        \
    (&(rd)->sentinels[(n) % (rd)->nsentinels])


static void ngx_http_rtmp_cluster_manager_connect(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
static redisAsyncContext *ngx_http_rtmp_cluster_manager_open(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *ip, int port,
    u_char *err, size_t len);
static void ngx_http_rtmp_cluster_manager_auth_sent(redisAsyncContext *ac,
    void *reply, void *data);
static ngx_int_t ngx_http_rtmp_cluster_manager_sconn_open(
    ngx_http_rtmp_cluster_manager_sconn_t *sc,
    ngx_http_rtmp_cluster_manager_sentinel_t *sn, ngx_uint_t keepalive,
    const char *format, ...);
static void ngx_http_rtmp_cluster_manager_sconn_event(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_manager_sconn_fail(
    ngx_http_rtmp_cluster_manager_sconn_t *sc, const char *err);
static void ngx_http_rtmp_cluster_manager_sconn_close(
    ngx_http_rtmp_cluster_manager_sconn_t *sc);
static void ngx_http_rtmp_cluster_manager_ask(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
static ngx_int_t ngx_http_rtmp_cluster_manager_ask_reply(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr);
static void ngx_http_rtmp_cluster_manager_subscribe(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
static ngx_int_t ngx_http_rtmp_cluster_manager_sub_reply(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr);
static void ngx_http_rtmp_cluster_manager_switch(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *msg);
static void ngx_http_rtmp_cluster_manager_sub_fail(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err);
static void ngx_http_rtmp_cluster_manager_sub_retry(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_manager_master(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr);
static ngx_int_t ngx_http_rtmp_cluster_manager_numeric(u_char *ip,
    size_t ip_len, u_char *port, size_t port_len, char *text);
static void ngx_http_rtmp_cluster_manager_next_sentinel(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err);
static void ngx_http_rtmp_cluster_manager_role(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_rtmp_cluster_manager_up(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
static void ngx_http_rtmp_cluster_manager_close(
    ngx_http_rtmp_cluster_manager_redis_t *rd);
static void ngx_http_rtmp_cluster_manager_retry(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_manager_connected(
    const redisAsyncContext *ac, int status);
static void ngx_http_rtmp_cluster_manager_pong(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_rtmp_cluster_manager_disconnected(
    const redisAsyncContext *ac, int status);
static void ngx_http_rtmp_cluster_manager_event(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_manager_add_read(void *data);
static void ngx_http_rtmp_cluster_manager_del_read(void *data);
static void ngx_http_rtmp_cluster_manager_add_write(void *data);
static void ngx_http_rtmp_cluster_manager_del_write(void *data);
static void ngx_http_rtmp_cluster_manager_ev_cleanup(void *data);
static char *ngx_http_rtmp_cluster_manager_reply_error(u_char *buf,
    size_t size, const char *prefix, redisReply *rr);


ngx_uint_t  ngx_http_rtmp_cluster_manager_exiting;


/* the worker exits: nothing is connected, asked or retried any more */

static ngx_inline ngx_uint_t
ngx_http_rtmp_cluster_manager_stopping(void)
{
    return ngx_http_rtmp_cluster_manager_exiting || ngx_exiting
           || ngx_terminate;
}


/* a worker starts: connects, and subscribes when there are sentinels */

void
ngx_http_rtmp_cluster_manager_redis_init(
    ngx_http_rtmp_cluster_manager_redis_t *rd, ngx_log_t *log)
{
    ngx_rtmp_cluster_event_timer(&rd->timer,
                                 ngx_http_rtmp_cluster_manager_retry, log);

    rd->ask.rd = rd;
    rd->ask.reply = ngx_http_rtmp_cluster_manager_ask_reply;
    rd->ask.fail = ngx_http_rtmp_cluster_manager_next_sentinel;

    ngx_http_rtmp_cluster_manager_connect(rd);

    if (rd->sentinels) {
        ngx_rtmp_cluster_event_timer(&rd->ptimer,
                                     ngx_http_rtmp_cluster_manager_sub_retry,
                                     log);

        rd->sub.rd = rd;
        rd->sub.reply = ngx_http_rtmp_cluster_manager_sub_reply;
        rd->sub.fail = ngx_http_rtmp_cluster_manager_sub_fail;

        /* the workers spread over the sentinels */
        rd->psentinel = ngx_worker;
        rd->pbackoff = NGX_HTTP_RTMP_CLUSTER_MANAGER_SUB_MIN;

        ngx_http_rtmp_cluster_manager_subscribe(rd);
    }
}


/* the worker exits: ngx_http_rtmp_cluster_manager_exiting is set */

void
ngx_http_rtmp_cluster_manager_redis_exit(
    ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->ac) {
        ngx_http_rtmp_cluster_manager_close(rd);
    }

    if (rd->ask.ctx) {
        ngx_http_rtmp_cluster_manager_sconn_close(&rd->ask);
    }

    if (rd->ptimer.timer_set) {
        ngx_del_timer(&rd->ptimer);
    }

    if (rd->sub.ctx) {
        ngx_http_rtmp_cluster_manager_sconn_close(&rd->sub);
    }
}


/* NGX_OK: sent, fn will be called with its reply (NULL: none came) */

ngx_int_t
ngx_http_rtmp_cluster_manager_command(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisCallbackFn *fn,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (ngx_http_rtmp_cluster_manager_usable(rd) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* hiredis copies the arguments before this returns */

    if (redisAsyncCommandArgv(rd->ac, fn, data, argc, argv, argvlen)
        != REDIS_OK)
    {
        /* the connection is going away */
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the Redis connection of this worker */

static void
ngx_http_rtmp_cluster_manager_connect(
    ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    redisAsyncContext  *ac;
    u_char              err[128];

    if (rd->sentinels && !rd->known) {
        ngx_http_rtmp_cluster_manager_ask(rd);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster: redis %V connecting", &rd->name);

    ac = ngx_http_rtmp_cluster_manager_open(rd, rd->ip, rd->port, err,
                                            sizeof(err));
    if (ac == NULL) {
        ngx_http_rtmp_cluster_manager_fail(rd, (char *) err);
        return;
    }

    rd->ac = ac;
    rd->ready = 0;

    /* AUTH before anything else: hiredis sends the queue once connected */

    if (rd->password.len
        && redisAsyncCommand(ac, ngx_http_rtmp_cluster_manager_auth_sent, rd,
                             "AUTH %b", rd->password.data, rd->password.len)
           != REDIS_OK)
    {
        ngx_http_rtmp_cluster_manager_fail(rd, "cannot send AUTH");
        return;
    }

    /* the first write event tells the connect's outcome */
    (void) redisAsyncSetConnectCallback(ac,
                                   ngx_http_rtmp_cluster_manager_connected);
    (void) redisAsyncSetDisconnectCallback(ac,
                                   ngx_http_rtmp_cluster_manager_disconnected);

    ngx_add_timer(&rd->timer, rd->connect_timeout);
}


/* a hiredis context on nginx's events; NULL with the reason in err */

static redisAsyncContext *
ngx_http_rtmp_cluster_manager_open(ngx_http_rtmp_cluster_manager_redis_t *rd,
    const char *ip, int port, u_char *err, size_t len)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    /* non-blocking; the numeric address needs no resolver */
    ac = redisAsyncConnect(ip, port);

    if (ac == NULL) {
        ngx_cpystrn(err, (u_char *) "out of memory", len);
        return NULL;
    }

    if (ac->err) {
        ngx_cpystrn(err, (u_char *) ac->c.errstr, len);
        redisAsyncFree(ac);
        return NULL;
    }

    c = ngx_rtmp_cluster_event_borrow(ac->c.fd, ngx_cycle->log,
                                      ngx_http_rtmp_cluster_manager_event, ac);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_cpystrn(err, (u_char *) "no free connection", len);
        return NULL;
    }

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_rtmp_cluster_manager_add_read;
    ac->ev.delRead = ngx_http_rtmp_cluster_manager_del_read;
    ac->ev.addWrite = ngx_http_rtmp_cluster_manager_add_write;
    ac->ev.delWrite = ngx_http_rtmp_cluster_manager_del_write;
    ac->ev.cleanup = ngx_http_rtmp_cluster_manager_ev_cleanup;

    return ac;
}


/*
 * A sentinel connection: connects without blocking (the numeric address
 * needs no resolver) and queues AUTH, when there is a sentinel_password,
 * then the command, written once connected.  NGX_ERROR: sc->err tells
 * why, sc is closed.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_sconn_open(
    ngx_http_rtmp_cluster_manager_sconn_t *sc,
    ngx_http_rtmp_cluster_manager_sentinel_t *sn, ngx_uint_t keepalive,
    const char *format, ...)
{
    int                                     rc;
    va_list                                 args;
    redisContext                           *ctx;
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    rd = sc->rd;

    ctx = redisConnectNonBlock(sn->ip, sn->port);

    if (ctx == NULL || ctx->err) {
        ngx_cpystrn(sc->err, (u_char *) (ctx ? ctx->errstr : "out of memory"),
                    sizeof(sc->err));

        if (ctx) {
            redisFree(ctx);
        }

        return NGX_ERROR;
    }

    sc->ctx = ctx;
    sc->auth = (rd->sentinel_password.len != 0);

    sc->c = ngx_rtmp_cluster_event_borrow(ctx->fd, ngx_cycle->log,
                                   ngx_http_rtmp_cluster_manager_sconn_event,
                                   sc);
    if (sc->c == NULL) {
        ngx_cpystrn(sc->err, (u_char *) "no free connection",
                    sizeof(sc->err));
        goto failed;
    }

    /* queued: written once connected, AUTH first */

    if (sc->auth
        && redisAppendCommand(ctx, "AUTH %b", rd->sentinel_password.data,
                              rd->sentinel_password.len)
           != REDIS_OK)
    {
        goto cannot_send;
    }

    va_start(args, format);
    rc = redisvAppendCommand(ctx, format, args);
    va_end(args);

    if (rc != REDIS_OK) {
        goto cannot_send;
    }

    if (keepalive) {
        /* idle: TCP keepalive notices a sentinel gone away */
        (void) redisEnableKeepAlive(ctx);
    }

    /* the first write event tells the connect's outcome */

    if (ngx_rtmp_cluster_event_watch(sc->c, 1, 1) != NGX_OK) {
        ngx_cpystrn(sc->err, (u_char *) "cannot poll", sizeof(sc->err));
        goto failed;
    }

    return NGX_OK;

cannot_send:

    ngx_cpystrn(sc->err, (u_char *) "cannot send", sizeof(sc->err));

failed:

    ngx_http_rtmp_cluster_manager_sconn_close(sc);

    return NGX_ERROR;
}


/* writes what is queued, reads the replies, one by one, to sc->reply */

static void
ngx_http_rtmp_cluster_manager_sconn_event(ngx_event_t *ev)
{
    int                                     done;
    void                                   *reply;
    ngx_int_t                               rc;
    redisContext                           *ctx;
    ngx_connection_t                       *c;
    ngx_http_rtmp_cluster_manager_sconn_t  *sc;

    c = ev->data;
    sc = c->data;
    ctx = sc->ctx;

    if (ev->write) {
        if (redisBufferWrite(ctx, &done) != REDIS_OK) {
            ngx_http_rtmp_cluster_manager_sconn_fail(sc, ctx->errstr);
            return;
        }

        if (done) {
            (void) ngx_rtmp_cluster_event_watch(c,
                                        NGX_RTMP_CLUSTER_EVENT_KEEP, 0);
        }

        return;
    }

    if (redisBufferRead(ctx) != REDIS_OK) {
        ngx_http_rtmp_cluster_manager_sconn_fail(sc, ctx->errstr);
        return;
    }

    for ( ;; ) {
        reply = NULL;

        if (redisReaderGetReply(ctx->reader, &reply) != REDIS_OK) {
            ngx_http_rtmp_cluster_manager_sconn_fail(sc, "protocol error");
            return;
        }

        if (reply == NULL) {
            return;
        }

        /* the callback may close this context: not the reply */

        rc = sc->reply(sc->rd, reply);

        freeReplyObject(reply);

        if (rc != NGX_OK) {
            return;
        }
    }
}


/* closes, then tells the owner why (err may belong to the context) */

static void
ngx_http_rtmp_cluster_manager_sconn_fail(
    ngx_http_rtmp_cluster_manager_sconn_t *sc, const char *err)
{
    if (err != (char *) sc->err) {
        ngx_cpystrn(sc->err, (u_char *) err, sizeof(sc->err));
    }

    ngx_http_rtmp_cluster_manager_sconn_close(sc);

    sc->fail(sc->rd, (char *) sc->err);
}


/* the descriptor goes with hiredis's context */

static void
ngx_http_rtmp_cluster_manager_sconn_close(
    ngx_http_rtmp_cluster_manager_sconn_t *sc)
{
    if (sc->c) {
        ngx_rtmp_cluster_event_release(sc->c);
        sc->c = NULL;
    }

    redisFree(sc->ctx);
    sc->ctx = NULL;
}


/* asks a sentinel for the master's address, under the connect timeout */

static void
ngx_http_rtmp_cluster_manager_ask(ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    if (rd->ask.ctx) {
        return;
    }

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->sentinel);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster: asking sentinel %V for the master \"%V\"",
                   &sn->name, &rd->name);

    if (ngx_http_rtmp_cluster_manager_sconn_open(&rd->ask, sn, 0,
                                       "SENTINEL get-master-addr-by-name %b",
                                       rd->name.data, rd->name.len)
        != NGX_OK)
    {
        ngx_http_rtmp_cluster_manager_next_sentinel(rd,
                                                    (char *) rd->ask.err);
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_add_timer(&rd->timer, rd->connect_timeout);
}


/* AUTH's answer, then the answer: whatever comes after it is not read */

static ngx_int_t
ngx_http_rtmp_cluster_manager_ask_reply(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr)
{
    ngx_uint_t                                 level;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    if (rd->ask.auth) {
        /* if refused, the question fails too (NOAUTH) */

        rd->ask.auth = 0;

        if (rr->type == REDIS_REPLY_ERROR) {
            sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->sentinel);
            level = rd->down ? NGX_LOG_INFO : NGX_LOG_ERR;

            ngx_log_error(level, ngx_cycle->log, 0,
                          "cluster: sentinel %V refused the "
                          "sentinel_password: %*s", &sn->name, rr->len,
                          rr->str);
        }

        return NGX_OK;
    }

    ngx_http_rtmp_cluster_manager_sconn_close(&rd->ask);
    ngx_http_rtmp_cluster_manager_master(rd, rr);

    return NGX_DONE;
}


static void
ngx_http_rtmp_cluster_manager_master(ngx_http_rtmp_cluster_manager_redis_t *rd,
    redisReply *rr)
{
    ngx_int_t                                  port;
    redisReply                                *ip;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;
    char                                       text[NGX_SOCKADDR_STRLEN + 1];
    u_char                                     err[128];

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_rtmp_cluster_manager_next_sentinel(rd,
                          ngx_http_rtmp_cluster_manager_reply_error(err,
                                                   sizeof(err), "", rr));
        return;
    }

    if (rr->type == REDIS_REPLY_NIL) {
        ngx_http_rtmp_cluster_manager_next_sentinel(rd,
                                               "it does not know the master");
        return;
    }

    /* a sentinel is not trusted further than a numeric address */

    port = NGX_ERROR;

    if (rr->type == REDIS_REPLY_ARRAY && rr->elements == 2
        && rr->element[0]->type == REDIS_REPLY_STRING
        && rr->element[1]->type == REDIS_REPLY_STRING)
    {
        ip = rr->element[0];
        port = ngx_http_rtmp_cluster_manager_numeric((u_char *) ip->str,
                                              ip->len,
                                              (u_char *) rr->element[1]->str,
                                              rr->element[1]->len, text);
    }

    if (port == NGX_ERROR) {
        ngx_http_rtmp_cluster_manager_next_sentinel(rd,
                                    "it answered something else than an "
                                    "address");
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->tried = 0;

    if (rd->port != port || ngx_strcmp(rd->ip, text) != 0) {
        sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->sentinel);

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: sentinel %V names %s port %i the master "
                      "\"%V\"", &sn->name, text, port, &rd->name);

        ngx_cpystrn((u_char *) rd->ip, (u_char *) text, sizeof(rd->ip));
        rd->port = (int) port;
    }

    rd->known = 1;

    ngx_http_rtmp_cluster_manager_connect(rd);
}


/*
 * A master's address as a sentinel sends it: a numeric IP into text
 * (NGX_SOCKADDR_STRLEN + 1 bytes, NUL-terminated) and the port, or
 * NGX_ERROR for anything else.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_numeric(u_char *ip, size_t ip_len,
    u_char *port, size_t port_len, char *text)
{
    ngx_int_t        n;
    struct in6_addr  a6;

    if (ip_len == 0 || ip_len > NGX_SOCKADDR_STRLEN) {
        return NGX_ERROR;
    }

    ngx_memcpy(text, ip, ip_len);
    text[ip_len] = '\0';

    if (inet_pton(AF_INET, text, &a6) != 1
        && inet_pton(AF_INET6, text, &a6) != 1)
    {
        return NGX_ERROR;
    }

    n = ngx_atoi(port, port_len);

    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    return n;
}


/*
 * AUTH's answer on the master's connection.  A refused password is a
 * failure as any other (logged once, retried every second); the reply is
 * Redis's text, which never repeats the password.
 */

static void
ngx_http_rtmp_cluster_manager_auth_sent(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_rtmp_cluster_manager_redis_t *rd = data;

    redisReply  *rr;
    u_char       err[160];

    rr = reply;

    if (rr == NULL || rd->ac != ac || rr->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_http_rtmp_cluster_manager_fail(rd,
                          ngx_http_rtmp_cluster_manager_reply_error(err,
                                     sizeof(err), "AUTH refused: ", rr));
}


/*
 * The +switch-master subscription: each worker listens to one sentinel
 * and moves to the announced master at once, without waiting for a
 * write to fail on the old one (a manual failover leaves it up, a master
 * that takes writes for seconds before the sentinels demote it).
 */

static void
ngx_http_rtmp_cluster_manager_subscribe(
    ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    if (rd->sub.ctx || ngx_http_rtmp_cluster_manager_stopping()) {
        return;
    }

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->psentinel);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster: subscribing to +switch-master at sentinel %V "
                   "for \"%V\"", &sn->name, &rd->name);

    if (ngx_http_rtmp_cluster_manager_sconn_open(&rd->sub, sn, 1,
                                                 "SUBSCRIBE +switch-master")
        != NGX_OK)
    {
        ngx_http_rtmp_cluster_manager_sub_fail(rd, (char *) rd->sub.err);
        return;
    }

    rd->subscribed = 0;

    /* until SUBSCRIBE is confirmed */
    ngx_add_timer(&rd->ptimer, rd->connect_timeout);
}


/*
 * AUTH's answer, then ["subscribe", channel, n], then ["message",
 * channel, text]; NGX_ERROR: the subscription was closed
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_sub_reply(
    ngx_http_rtmp_cluster_manager_redis_t *rd, redisReply *rr)
{
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;
    u_char                                     err[160];

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->psentinel);

    if (rr->type == REDIS_REPLY_ERROR) {
        /* AUTH refused, NOAUTH, an unknown command: not subscribed */

        ngx_http_rtmp_cluster_manager_sub_fail(rd,
                          ngx_http_rtmp_cluster_manager_reply_error(err,
                                     sizeof(err),
                                     rd->sub.auth ? "AUTH refused: " : "",
                                     rr));
        return NGX_ERROR;
    }

    if (rd->sub.auth) {
        rd->sub.auth = 0;
        return NGX_OK;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 3
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING)
    {
        goto ignored;
    }

    if (rr->element[0]->len == 9
        && ngx_strncmp(rr->element[0]->str, "subscribe", 9) == 0)
    {
        if (rd->ptimer.timer_set) {
            ngx_del_timer(&rd->ptimer);
        }

        rd->subscribed = 1;
        rd->pbackoff = NGX_HTTP_RTMP_CLUSTER_MANAGER_SUB_MIN;

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: listening to +switch-master at sentinel %V "
                      "for \"%V\"", &sn->name, &rd->name);
        return NGX_OK;
    }

    if (rr->element[0]->len != 7
        || ngx_strncmp(rr->element[0]->str, "message", 7) != 0
        || rr->element[1]->len != 14
        || ngx_strncmp(rr->element[1]->str, "+switch-master", 14) != 0
        || rr->element[2]->type != REDIS_REPLY_STRING)
    {
        goto ignored;
    }

    ngx_http_rtmp_cluster_manager_switch(rd, rr->element[2]);

    return NGX_OK;

ignored:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: sentinel %V sent something else than a "
                  "+switch-master message, ignored", &sn->name);

    return NGX_OK;
}


/* "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT": ours moves to the new address */

static void
ngx_http_rtmp_cluster_manager_switch(ngx_http_rtmp_cluster_manager_redis_t *rd,
    redisReply *msg)
{
    u_char                                    *p, *last, *f[5];
    size_t                                     len[5];
    ngx_int_t                                  port;
    ngx_uint_t                                 n;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;
    char                                       ip[NGX_SOCKADDR_STRLEN + 1];

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->psentinel);

    p = (u_char *) msg->str;
    last = p + msg->len;

    for (n = 0; n < 5 && p < last; n++) {
        f[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - f[n];

        if (p < last) {
            p++;
        }
    }

    port = NGX_ERROR;

    if (n == 5 && p == last) {
        port = ngx_http_rtmp_cluster_manager_numeric(f[3], len[3], f[4],
                                                     len[4], ip);
    }

    if (port == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: sentinel %V sent a malformed +switch-master "
                      "message, ignored", &sn->name);
        return;
    }

    if (len[0] != rd->name.len
        || ngx_strncmp(f[0], rd->name.data, len[0]) != 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "cluster: +switch-master of another master from "
                       "sentinel %V, ignored", &sn->name);
        return;
    }

    /* (no question to a sentinel is in flight while the master is known) */

    if (rd->known && rd->ac
        && rd->port == port && ngx_strcmp(rd->ip, ip) == 0)
    {
        /* already there: another sentinel's news, or ours was first */
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "cluster: sentinel %V announces +switch-master: "
                  "\"%V\" is now %s port %i, switching",
                  &sn->name, &rd->name, ip, port);

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->ask.ctx) {
        ngx_http_rtmp_cluster_manager_sconn_close(&rd->ask);
    }

    /* commands in flight on the old master are answered 503 */

    if (rd->ac) {
        ngx_http_rtmp_cluster_manager_close(rd);
    }

    ngx_memcpy(rd->ip, ip, len[3] + 1);
    rd->port = (int) port;
    rd->known = 1;
    rd->tried = 0;

    /* PING and ROLE before use, as any master a sentinel names */
    ngx_http_rtmp_cluster_manager_connect(rd);
}


/* the next sentinel, after a backoff that doubles up to 8 s */

static void
ngx_http_rtmp_cluster_manager_sub_fail(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err)
{
    ngx_uint_t                                 level;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->psentinel);

    /* an error when a working subscription is lost, else a note */
    level = rd->subscribed ? NGX_LOG_ERR : NGX_LOG_INFO;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "cluster: no +switch-master subscription at sentinel %V "
                  "for \"%V\": %s, next sentinel in %Mms",
                  &sn->name, &rd->name, err, rd->pbackoff);

    rd->subscribed = 0;

    if (rd->ptimer.timer_set) {
        ngx_del_timer(&rd->ptimer);
    }

    if (rd->sub.ctx) {
        ngx_http_rtmp_cluster_manager_sconn_close(&rd->sub);
    }

    rd->psentinel++;

    if (ngx_http_rtmp_cluster_manager_stopping()) {
        return;
    }

    ngx_add_timer(&rd->ptimer, rd->pbackoff);

    rd->pbackoff = ngx_min(rd->pbackoff * 2,
                           NGX_HTTP_RTMP_CLUSTER_MANAGER_SUB_MAX);
}


/* the subscription's connect timeout, else its reconnect */

static void
ngx_http_rtmp_cluster_manager_sub_retry(ngx_event_t *ev)
{
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    rd = (ngx_http_rtmp_cluster_manager_redis_t *)
             ((u_char *) ev
              - offsetof(ngx_http_rtmp_cluster_manager_redis_t, ptimer));

    if (rd->sub.ctx) {
        ngx_http_rtmp_cluster_manager_sub_fail(rd, "timed out");
        return;
    }

    ngx_http_rtmp_cluster_manager_subscribe(rd);
}


/* this sentinel failed: the next one at once, once each in a round */

static void
ngx_http_rtmp_cluster_manager_next_sentinel(
    ngx_http_rtmp_cluster_manager_redis_t *rd, const char *err)
{
    ngx_uint_t                                 level;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    sn = ngx_http_rtmp_cluster_manager_sentinel(rd, rd->sentinel);

    /* an error once, while the master is not known to be down */
    level = rd->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "cluster: sentinel %V did not name the master \"%V\": %s",
                  &sn->name, &rd->name, err);

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->sentinel++;

    if (++rd->tried < rd->nsentinels
        && !ngx_http_rtmp_cluster_manager_stopping())
    {
        ngx_http_rtmp_cluster_manager_ask(rd);
        return;
    }

    rd->tried = 0;

    ngx_http_rtmp_cluster_manager_fail(rd, "no sentinel named the master");
}


/* frees our context: commands in flight are answered with no reply */

static void
ngx_http_rtmp_cluster_manager_close(ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    redisAsyncContext  *ac;

    ac = rd->ac;
    rd->ac = NULL;
    rd->ready = 0;

    redisAsyncFree(ac);
}


void
ngx_http_rtmp_cluster_manager_fail(ngx_http_rtmp_cluster_manager_redis_t *rd,
    const char *err)
{
    /* err may belong to the context: used before it is freed */

    if (!rd->down) {
        rd->down = 1;
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: redis %V is down: %s", &rd->name, err);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "cluster: redis %V is still down: %s",
                       &rd->name, err);
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->ac) {
        ngx_http_rtmp_cluster_manager_close(rd);
    }

    /* with sentinels, every failure asks them again */
    rd->known = 0;

    if (!ngx_http_rtmp_cluster_manager_stopping()) {
        ngx_add_timer(&rd->timer, NGX_HTTP_RTMP_CLUSTER_MANAGER_RETRY);
    }
}


/* NGX_OK: a command may be sent now (queued while connecting) */

ngx_int_t
ngx_http_rtmp_cluster_manager_usable(ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    if (ngx_http_rtmp_cluster_manager_exiting) {
        return NGX_DECLINED;
    }

    if (rd->ac == NULL) {
        if (rd->down || ngx_http_rtmp_cluster_manager_stopping()) {
            return NGX_DECLINED;
        }

        ngx_http_rtmp_cluster_manager_connect(rd);

        if (rd->ac == NULL) {
            return NGX_DECLINED;
        }
    }

    /* after a failure, only an answered PING lets commands in again */

    if (!rd->ready && (rd->down || rd->sentinels)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the connect timeout while connecting, else the retry */

static void
ngx_http_rtmp_cluster_manager_retry(ngx_event_t *ev)
{
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    rd = (ngx_http_rtmp_cluster_manager_redis_t *)
             ((u_char *) ev
              - offsetof(ngx_http_rtmp_cluster_manager_redis_t, timer));

    if (rd->ask.ctx) {
        ngx_http_rtmp_cluster_manager_sconn_close(&rd->ask);
        ngx_http_rtmp_cluster_manager_next_sentinel(rd, "timed out");
        return;
    }

    if (rd->ac) {
        ngx_http_rtmp_cluster_manager_fail(rd, "connection timed out");
        return;
    }

    if (ngx_http_rtmp_cluster_manager_stopping()) {
        return;
    }

    ngx_http_rtmp_cluster_manager_connect(rd);
}


static void
ngx_http_rtmp_cluster_manager_connected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        rd->ac = NULL;

        ngx_http_rtmp_cluster_manager_fail(rd, ac->c.errstr[0]
                                               ? ac->c.errstr
                                               : "cannot connect");
        return;
    }

    /*
     * The context must not be freed from here, hiredis still uses it:
     * if PING cannot be sent, the connect timer ends the attempt.
     */

    if (redisAsyncCommand(rd->ac, ngx_http_rtmp_cluster_manager_pong, rd,
                          "PING")
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: redis %V: cannot send PING", &rd->name);
    }
}


static void
ngx_http_rtmp_cluster_manager_pong(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_rtmp_cluster_manager_redis_t *rd = data;

    redisReply  *rr;
    u_char       err[128];

    rr = reply;

    if (rr == NULL || rd->ac != ac) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        /* e.g. NOAUTH, LOADING: not usable yet */
        ngx_http_rtmp_cluster_manager_fail(rd,
                          ngx_http_rtmp_cluster_manager_reply_error(err,
                                                   sizeof(err), "", rr));
        return;
    }

    if (rd->sentinels) {
        /* a sentinel's answer may be out of date: the master says */

        if (redisAsyncCommand(rd->ac, ngx_http_rtmp_cluster_manager_role, rd,
                              "ROLE")
            != REDIS_OK)
        {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "cluster: redis %V: cannot send ROLE", &rd->name);
        }

        return;
    }

    ngx_http_rtmp_cluster_manager_up(rd);
}


static void
ngx_http_rtmp_cluster_manager_role(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_rtmp_cluster_manager_redis_t *rd = data;

    redisReply  *rr;

    rr = reply;

    if (rr == NULL || rd->ac != ac) {
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements == 0
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[0]->len != 6
        || ngx_strncmp(rr->element[0]->str, "master", 6) != 0)
    {
        /* told each time: sentinels that keep naming a replica */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: redis %V: %s port %d is not the master "
                      "(ROLE)", &rd->name, rd->ip, rd->port);

        ngx_http_rtmp_cluster_manager_fail(rd, "not the master (ROLE)");
        return;
    }

    ngx_http_rtmp_cluster_manager_up(rd);
}


static void
ngx_http_rtmp_cluster_manager_up(ngx_http_rtmp_cluster_manager_redis_t *rd)
{
    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->ready = 1;
    rd->ready_at = ngx_current_msec;

    if (rd->down) {
        rd->down = 0;
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: redis %V is up", &rd->name);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "cluster: redis %V connected", &rd->name);
    }
}


/* a connection we did not close: it failed, or Redis closed it */

static void
ngx_http_rtmp_cluster_manager_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_uint_t                              ready;
    const char                             *err;
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    rd->ac = NULL;
    ready = rd->ready;
    rd->ready = 0;

    err = ac->c.err ? ac->c.errstr : "connection closed";

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    /*
     * A connection that served a while is tried again at once, so an
     * idle close or a quick restart costs nothing; one that dies young
     * is a failure, retried later.
     */

    if (ready
        && ngx_current_msec - rd->ready_at
           >= NGX_HTTP_RTMP_CLUSTER_MANAGER_RETRY
        && !ngx_http_rtmp_cluster_manager_stopping())
    {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: redis %V closed the connection (%s), "
                      "reconnecting", &rd->name, err);

        rd->known = 0;
        ngx_http_rtmp_cluster_manager_connect(rd);
        return;
    }

    ngx_http_rtmp_cluster_manager_fail(rd, err);
}


/* hiredis's event hooks: its socket polled through a borrowed connection */

static void
ngx_http_rtmp_cluster_manager_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    /* c may be freed inside */

    if (ev->write) {
        redisAsyncHandleWrite(c->data);

    } else {
        redisAsyncHandleRead(c->data);
    }
}


static void
ngx_http_rtmp_cluster_manager_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (ngx_rtmp_cluster_event_watch(c, 1, NGX_RTMP_CLUSTER_EVENT_KEEP)
        != NGX_OK)
    {
        /* the command timeout will close the connection */
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "cluster: cannot poll the redis connection");
    }
}


static void
ngx_http_rtmp_cluster_manager_del_read(void *data)
{
    (void) ngx_rtmp_cluster_event_watch(data, 0,
                                        NGX_RTMP_CLUSTER_EVENT_KEEP);
}


static void
ngx_http_rtmp_cluster_manager_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (ngx_rtmp_cluster_event_watch(c, NGX_RTMP_CLUSTER_EVENT_KEEP, 1)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "cluster: cannot poll the redis connection");
    }
}


static void
ngx_http_rtmp_cluster_manager_del_write(void *data)
{
    (void) ngx_rtmp_cluster_event_watch(data, NGX_RTMP_CLUSTER_EVENT_KEEP,
                                        0);
}


/* hiredis frees its context: give the connection back, not the socket */

static void
ngx_http_rtmp_cluster_manager_ev_cleanup(void *data)
{
    ngx_rtmp_cluster_event_release(data);
}


/* a reply's error text after prefix, cut to fit buf: for a log line */

static char *
ngx_http_rtmp_cluster_manager_reply_error(u_char *buf, size_t size,
    const char *prefix, redisReply *rr)
{
    u_char  *p;

    p = ngx_cpymem(buf, prefix, ngx_strlen(prefix));
    ngx_cpystrn(p, (u_char *) rr->str,
                ngx_min((size_t) (buf + size - p), rr->len + 1));

    return (char *) buf;
}
