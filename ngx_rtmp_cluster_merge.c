
/*
 * ngx_rtmp_cluster: merged writes to players, and Nagle for them.
 *
 * nginx-rtmp writes each message to each player as soon as it is queued,
 * one send() per chunk buffer.  At an edge that fans one stream out to
 * many players, those system calls are most of the CPU.  Here a player's
 * queued messages are written in one writev() per window instead:
 *
 *   - the stream's publisher (a client, or our pull) counts what the live
 *     module queued to its players; after "window" ms, or once "size"
 *     bytes or an eighth of the output queue are pending, every merged
 *     player of the stream is flushed;
 *   - a merged player keeps its write event in epoll (edge-triggered), so
 *     ngx_rtmp_send_message() only queues; our write handler runs on the
 *     flush and when the socket drains after EAGAIN;
 *   - a player joins the merged mode at the first flush after its media
 *     started, so the play answers and the first frames go out at once,
 *     or just before the GOP burst, which is then written at once in a
 *     few writev() calls;
 *   - when the publisher leaves, its players go back to nginx-rtmp's own
 *     writer, so the unpublish notices and a later publisher's first
 *     frames are not held.
 *
 * The output queue and the drop rules stay nginx-rtmp's: a player that
 * does not read loses frames by priority and is closed after "timeout".
 *
 * Players of cluster roles start without Nagle; those not merged get it
 * back once they play (see ngx_rtmp_cluster_merge_nagle()).
 */


#include "ngx_rtmp_cluster.h"


/* iovecs per writev(): as Linux's UIO_MAXIOV allows, bounded for stack */
#define NGX_RTMP_CLUSTER_MERGE_IOVS  256


struct ngx_rtmp_cluster_merge_s {
    ngx_rtmp_session_t             *session;    /* the publisher */
    ngx_event_t                     timer;
    size_t                          bytes;      /* queued since the flush */
    ngx_uint_t                      msgs;
};


static ngx_uint_t ngx_rtmp_cluster_merge_on(
    ngx_rtmp_cluster_app_conf_t *cacf);
static void ngx_rtmp_cluster_merge_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_merge_cleanup(void *data);
static void ngx_rtmp_cluster_merge_nagle(ngx_rtmp_live_stream_t *stream);
static void ngx_rtmp_cluster_merge_flush(ngx_rtmp_session_t *s,
    ngx_uint_t leave);
static ngx_int_t ngx_rtmp_cluster_merge_join(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_ctx_t *ctx);
static void ngx_rtmp_cluster_merge_leave(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_ctx_t *ctx);
static void ngx_rtmp_cluster_merge_write_handler(ngx_event_t *wev);
static void ngx_rtmp_cluster_merge_send(ngx_rtmp_session_t *s);
static void ngx_rtmp_cluster_merge_sent(ngx_rtmp_session_t *s, size_t n);


/* cluster_merge_writes off | window [size]; */

char *
ngx_rtmp_cluster_merge_writes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_cluster_app_conf_t *cacf = conf;

    ssize_t      size;
    ngx_str_t   *value;
    ngx_msec_t   window;

    if (cacf->merge_window != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no size when \"off\"";
        }

        cacf->merge_window = 0;
        cacf->merge_bytes = 0;
        return NGX_CONF_OK;
    }

    window = (ngx_msec_t) ngx_parse_time(&value[1], 0);

    if (window == (ngx_msec_t) NGX_ERROR || window == 0 || window > 5000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_merge_writes\": window \"%V\" must be "
                           "\"off\" or a time from 1ms to 5s", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = NGX_RTMP_CLUSTER_MERGE_BYTES;

    if (cf->args->nelts == 3) {
        size = ngx_parse_size(&value[2]);

        if (size == NGX_ERROR || size < 4096 || size > 64 * 1024 * 1024) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_merge_writes\": size \"%V\" must "
                               "be from 4k to 64m", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    cacf->merge_window = window;
    cacf->merge_bytes = (size_t) size;

    return NGX_CONF_OK;
}


/* edge-triggered events keep a merged player's write event in epoll */

static ngx_uint_t
ngx_rtmp_cluster_merge_on(ngx_rtmp_cluster_app_conf_t *cacf)
{
    return cacf->role != NGX_RTMP_CLUSTER_OFF && cacf->merge_window
           && (ngx_event_flags & NGX_USE_CLEAR_EVENT);
}


/*
 * After the live module queued a publisher's message to its players
 * (called from the audio/video handler, for every publishing session).
 */

void
ngx_rtmp_cluster_merge_av(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_pool_cleanup_t           *cln;
    ngx_rtmp_live_ctx_t          *lctx;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_merge_t     *m;
    ngx_rtmp_core_srv_conf_t     *cscf;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    if (cacf == NULL || cacf->role == NGX_RTMP_CLUSTER_OFF) {
        return;
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing || lctx->stream == NULL) {
        return;
    }

    if (h->type == NGX_RTMP_MSG_VIDEO
        && ngx_rtmp_get_video_frame_type(in) == NGX_RTMP_VIDEO_KEY_FRAME
        && !ngx_rtmp_is_codec_header(in))
    {
        ngx_rtmp_cluster_merge_nagle(lctx->stream);
    }

    if (!ngx_rtmp_cluster_merge_on(cacf)) {
        return;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return;
    }

    m = ctx->merge;

    if (m == NULL) {
        m = ngx_pcalloc(s->connection->pool, sizeof(ngx_rtmp_cluster_merge_t));
        if (m == NULL) {
            return;
        }

        cln = ngx_pool_cleanup_add(s->connection->pool, 0);
        if (cln == NULL) {
            return;
        }

        cln->handler = ngx_rtmp_cluster_merge_cleanup;
        cln->data = m;

        m->session = s;

        /*
         * the publisher's connection: nginx's timer code takes a timer's
         * data for a connection (its debug log prints the descriptor)
         */

        m->timer.data = s->connection;
        m->timer.log = s->connection->log;
        m->timer.handler = ngx_rtmp_cluster_merge_timer;
        ctx->merge = m;
    }

    m->bytes += h->mlen;
    m->msgs++;

    cscf = ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module);

    /*
     * the count bound keeps a window's messages far below the point where
     * nginx-rtmp starts dropping inter frames (half the queue)
     */

    if (m->bytes >= cacf->merge_bytes
        || m->msgs >= ngx_max(cscf->out_queue / 8, 1))
    {
        ngx_rtmp_cluster_merge_flush(s, 0);
        return;
    }

    if (!m->timer.timer_set) {
        ngx_add_timer(&m->timer, cacf->merge_window);
    }
}


/*
 * Players start without Nagle (from the connect answer, through the GOP
 * burst and a cold edge's first frames), so nothing small waits for a
 * delayed ack.  Once they play, one message per send() with Nagle off is
 * a TCP segment each: half again as much CPU at an edge as nginx-rtmp's
 * default.  So at each keyframe, players past their first second that
 * are not merged (a merged write is large, its tail must not wait) get
 * Nagle back.
 */

static void
ngx_rtmp_cluster_merge_nagle(ngx_rtmp_live_stream_t *stream)
{
    int                      off;
    ngx_connection_t        *c;
    ngx_rtmp_session_t      *ps;
    ngx_rtmp_live_ctx_t     *pctx;
    ngx_rtmp_cluster_ctx_t  *pcctx;

    for (pctx = stream->ctx; pctx; pctx = pctx->next) {
        ps = pctx->session;
        c = ps->connection;

        if (pctx->publishing || ps->relay || c->destroyed
            || c->tcp_nodelay != NGX_TCP_NODELAY_SET
            || (!pctx->cs[0].active && !pctx->cs[1].active)
            || ngx_current_msec - ps->epoch < 1000)
        {
            continue;
        }

        pcctx = ngx_rtmp_get_module_ctx(ps, ngx_rtmp_cluster_module);
        if (pcctx && pcctx->merged) {
            continue;
        }

        off = 0;

        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, (const void *) &off,
                       sizeof(int))
            == -1)
        {
            ngx_log_error(NGX_LOG_INFO, c->log, ngx_socket_errno,
                          "setsockopt(!TCP_NODELAY) failed");
            continue;
        }

        c->tcp_nodelay = NGX_TCP_NODELAY_UNSET;
    }
}


/*
 * A player is about to get the cached GOP: it joins now, so the burst
 * goes out in a few writev() calls instead of a send() per chunk.
 */

void
ngx_rtmp_cluster_merge_player(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    if (cacf == NULL || !ngx_rtmp_cluster_merge_on(cacf)) {
        return;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL || ctx->merged) {
        return;
    }

    (void) ngx_rtmp_cluster_merge_join(s, ctx);
}


/* what is queued to a merged player, now */

void
ngx_rtmp_cluster_merge_push(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (ctx && ctx->merged) {
        ngx_rtmp_cluster_merge_send(s);
    }
}


/*
 * A stream closes (before the live module's close): a publisher's players,
 * or a player leaving its stream, go back to nginx-rtmp's writer.
 */

void
ngx_rtmp_cluster_merge_close(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx == NULL) {
        return;
    }

    if (ctx->merged) {
        ngx_rtmp_cluster_merge_send(s);
        ngx_rtmp_cluster_merge_leave(s, ctx);
    }

    if (ctx->merge) {
        ngx_rtmp_cluster_merge_flush(s, 1);
        ctx->merge->session = NULL;
        ctx->merge = NULL;
    }
}


static void
ngx_rtmp_cluster_merge_timer(ngx_event_t *ev)
{
    ngx_rtmp_cluster_merge_t  *m;

    m = (ngx_rtmp_cluster_merge_t *)
            ((u_char *) ev - offsetof(ngx_rtmp_cluster_merge_t, timer));

    if (m->session) {
        ngx_rtmp_cluster_merge_flush(m->session, 0);
    }
}


/* the publisher's connection is gone: its pool holds the timer */

static void
ngx_rtmp_cluster_merge_cleanup(void *data)
{
    ngx_rtmp_cluster_merge_t  *m = data;

    if (m->timer.timer_set) {
        ngx_del_timer(&m->timer);
    }
}


/* write to every merged player of the publisher's stream */

static void
ngx_rtmp_cluster_merge_flush(ngx_rtmp_session_t *s, ngx_uint_t leave)
{
    ngx_rtmp_session_t        *ps;
    ngx_rtmp_live_ctx_t       *lctx, *pctx;
    ngx_rtmp_cluster_ctx_t    *ctx, *pcctx;
    ngx_rtmp_cluster_merge_t  *m;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    m = ctx->merge;

    if (m->timer.timer_set) {
        ngx_del_timer(&m->timer);
    }

    m->bytes = 0;
    m->msgs = 0;

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || lctx->stream == NULL) {
        return;
    }

    /* finalizing a player only posts its close: the list stays intact */

    for (pctx = lctx->stream->ctx; pctx; pctx = pctx->next) {
        ps = pctx->session;

        if (pctx->publishing || ps->connection->destroyed) {
            continue;
        }

        pcctx = ngx_rtmp_get_module_ctx(ps, ngx_rtmp_cluster_module);

        if (leave) {
            if (pcctx && pcctx->merged) {
                ngx_rtmp_cluster_merge_send(ps);
                ngx_rtmp_cluster_merge_leave(ps, pcctx);
            }

            continue;
        }

        if (pcctx == NULL || !pcctx->merged) {

            /* not before its media started: the first frames go at once */
            if (!pctx->cs[0].active && !pctx->cs[1].active) {
                continue;
            }

            pcctx = ngx_rtmp_cluster_session_ctx(ps);
            if (pcctx == NULL
                || ngx_rtmp_cluster_merge_join(ps, pcctx) != NGX_OK)
            {
                continue;
            }
        }

        ngx_rtmp_cluster_merge_send(ps);
    }
}


static ngx_int_t
ngx_rtmp_cluster_merge_join(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_ctx_t *ctx)
{
    ngx_event_t  *wev;

    /*
     * not our pushes upstream nor other workers' pulls: one connection
     * each, where a window would only add latency to every player
     */

    if (s->relay || s->auto_pushed) {
        return NGX_DECLINED;
    }

    wev = s->connection->write;

    /* an active write event makes ngx_rtmp_send_message() only queue */

    if (!wev->active
        && ngx_add_event(wev, NGX_WRITE_EVENT, NGX_CLEAR_EVENT) != NGX_OK)
    {
        ngx_rtmp_finalize_session(s);
        return NGX_ERROR;
    }

    ctx->write_handler = wev->handler;
    wev->handler = ngx_rtmp_cluster_merge_write_handler;
    ctx->merged = 1;

    if (s->connection->sockaddr->sa_family != AF_UNIX) {
        (void) ngx_tcp_nodelay(s->connection);
    }

    return NGX_OK;
}


static void
ngx_rtmp_cluster_merge_leave(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_ctx_t *ctx)
{
    ngx_event_t  *wev;

    wev = s->connection->write;

    wev->handler = ctx->write_handler;
    ctx->merged = 0;

    if (s->connection->destroyed) {
        return;
    }

    /* as nginx-rtmp's writer leaves it once the queue is written */

    if (s->out_chain == NULL && s->out_pos == s->out_last && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_rtmp_finalize_session(s);
        }
    }
}


static void
ngx_rtmp_cluster_merge_write_handler(ngx_event_t *wev)
{
    ngx_connection_t    *c;
    ngx_rtmp_session_t  *s;

    c = wev->data;
    s = c->data;

    if (c->destroyed) {
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        c->timedout = 1;
        ngx_rtmp_finalize_session(s);
        return;
    }

    ngx_rtmp_cluster_merge_send(s);
}


/* everything queued, in as few writev() calls as the socket takes */

static void
ngx_rtmp_cluster_merge_send(ngx_rtmp_session_t *s)
{
    size_t             len;
    ssize_t            n;
    ngx_uint_t         pos;
    ngx_chain_t       *cl;
    ngx_iovec_t        vec;
    ngx_event_t       *wev;
    ngx_connection_t  *c;
    u_char            *p;
    struct iovec       iovs[NGX_RTMP_CLUSTER_MERGE_IOVS];

    c = s->connection;
    wev = c->write;

    /* a full socket is written when epoll says it drained */
    if (c->destroyed || !wev->ready) {
        return;
    }

    if (s->out_chain == NULL && s->out_pos != s->out_last) {
        s->out_chain = s->out[s->out_pos];
        s->out_bpos = s->out_chain->buf->pos;
    }

    vec.iovs = iovs;
    vec.nalloc = NGX_RTMP_CLUSTER_MERGE_IOVS;

    while (s->out_chain) {

        vec.count = 0;
        vec.size = 0;
        cl = s->out_chain;
        p = s->out_bpos;
        pos = s->out_pos;

        for ( ;; ) {
            len = cl->buf->last - p;

            if (len) {
                iovs[vec.count].iov_base = (void *) p;
                iovs[vec.count].iov_len = len;
                vec.count++;
                vec.size += len;
            }

            if (vec.count == vec.nalloc) {
                break;
            }

            cl = cl->next;

            if (cl == NULL) {
                pos = (pos + 1) % s->out_queue;

                if (pos == s->out_last) {
                    break;
                }

                cl = s->out[pos];
            }

            p = cl->buf->pos;
        }

        if (vec.size == 0) {
            ngx_rtmp_cluster_merge_sent(s, 0);
            continue;
        }

        /*
         * nginx's writev(): it tries again after EINTR, and logs an error
         * as any connection's (a reset or a closed pipe at "info", as
         * nginx-rtmp's sessions set c->log_error)
         */

        n = ngx_writev(c, &vec);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            c->error = 1;
            ngx_rtmp_finalize_session(s);
            return;
        }

        ngx_rtmp_cluster_merge_sent(s, n);

        if ((size_t) n < vec.size) {
            break;
        }
    }

    if (s->out_chain) {
        /* the socket is full: epoll tells when it drains */
        wev->ready = 0;

        if (!wev->timer_set) {
            ngx_add_timer(wev, s->timeout);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_event_process_posted((ngx_cycle_t *) ngx_cycle,
                             &s->posted_dry_events);
}


/* n bytes are out: advance the queue as nginx-rtmp's writer does */

static void
ngx_rtmp_cluster_merge_sent(ngx_rtmp_session_t *s, size_t n)
{
    size_t                     avail;
    ngx_rtmp_core_srv_conf_t  *cscf;

    if (n) {
        /* ngx_writev() leaves it to its callers, as ngx_writev_chain() */
        s->connection->sent += n;
        s->out_bytes += n;
        s->ping_reset = 1;
        ngx_rtmp_update_bandwidth(&ngx_rtmp_bw_out, n);
    }

    cscf = ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module);

    while (s->out_chain) {
        avail = s->out_chain->buf->last - s->out_bpos;

        if (n < avail) {
            s->out_bpos += n;
            return;
        }

        n -= avail;
        s->out_chain = s->out_chain->next;

        if (s->out_chain == NULL) {
            ngx_rtmp_free_shared_chain(cscf, s->out[s->out_pos]);
            s->out_pos = (s->out_pos + 1) % s->out_queue;

            if (s->out_pos == s->out_last) {
                return;
            }

            s->out_chain = s->out[s->out_pos];
        }

        s->out_bpos = s->out_chain->buf->pos;
    }
}
