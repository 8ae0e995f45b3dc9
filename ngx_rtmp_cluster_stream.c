
/*
 * ngx_rtmp_cluster: the stream engine.
 *
 * A stream object stands for one stream of one application in this
 * worker: its players (clients, or other workers' relays), its publisher
 * (a client), and its upstream, the one outgoing session that brings the
 * media in (a pull from an origin, a proxy pull of a coworker's stream,
 * a relay from the worker that owns the stream on this host) or takes it
 * out (a push of the publisher to an origin).  Players are ordinary
 * nginx-rtmp live subscribers, never linked to the upstream session: when
 * it fails only that session goes, players stay attached and get
 * metadata and sequence headers again from the next upstream.
 *
 * Where the upstream comes from is the role's policy: a source (the
 * edge's origins by balancer, an origin's coworker to proxy) gives the
 * targets of a round one after the other; the engine connects, watches,
 * fails over, backs off and gives up.  Ownership on the host is decided
 * in one place, ngx_rtmp_cluster_stream_round(): a stream another worker
 * owns is relayed from that worker, whatever the source.
 *
 * States (st->state, changed only by ngx_rtmp_cluster_stream_state()):
 *
 *   IDLE        no upstream: just made, or taken over by a publisher here
 *   CONNECTING  an upstream session: TCP, handshake, connect, createStream
 *   REQUESTED   play (publish) sent, no media (no confirmation) yet
 *   LIVE        media from upstream, the push confirmed, or a publisher
 *               here with nothing to forward
 *   BACKOFF     every target of the round failed: a new round later
 *   ABSENT      the round over, an origin of it did not have the stream
 *               (a pull, not a failure): a new round soon
 *               (cluster_not_found_backoff)
 *
 *   from                 event                        to
 *   IDLE                 a round, a target            CONNECTING
 *   IDLE                 a round, no target           BACKOFF
 *   IDLE                 a publisher, no source       LIVE
 *   CONNECTING           createStream answered        REQUESTED
 *   REQUESTED            media / Publish.Start        LIVE
 *   CONNECTING,          failure, time-out, 302,      CONNECTING (the
 *   REQUESTED            not found                    next target), or
 *                                                     none left: ABSENT
 *                                                     (an origin had not
 *                                                     the stream), else
 *                                                     BACKOFF
 *   LIVE                 failure, media stopped       CONNECTING or
 *                                                     BACKOFF (a new round)
 *   BACKOFF, ABSENT      timer                        CONNECTING, BACKOFF
 *                                                     or ABSENT
 *   any                  a local publisher takes      IDLE
 *                        over the pull
 *
 * "Not found" is an upstream that took the play and then closed without
 * an error (SRS), answered NetStream.Play.StreamNotFound (our origins'
 * cluster_not_found reject) or sent nothing for cluster_media_timeout:
 * the stream is not there yet, the origin is sound.  Its health does not
 * change (its not_found count does).  While the last round ended so, the
 * status shows the stream as "waiting", re-asks included.
 *
 * A stream ends (ngx_rtmp_cluster_stream_close()) when nobody needs it:
 * no player and no publisher (after cluster_linger for a pull that has
 * an upstream), a failure with no player left, no target for
 * cluster_retry_timeout (its players are ended).  "Lingering" is not a
 * state: a pull without players whose linger timer runs (the status
 * shows it as "linger").
 *
 * Lifetime: the worker's list holds a reference on a stream while it
 * lives, and every member (a player, the publisher, the upstream
 * session) one more, dropped when that session leaves; a session's close
 * that nginx-rtmp posts after the stream ended never finds it freed.
 * The zone record goes with ngx_rtmp_cluster_stream_close().
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_BACKOFF_MIN    250
#define NGX_RTMP_CLUSTER_BACKOFF_MAX    4000
#define NGX_RTMP_CLUSTER_TALLY          1000    /* ms: bytes sent counted */


struct ngx_rtmp_cluster_stream_s {
    ngx_queue_t                         queue;      /* the worker's */
    ngx_uint_t                          refs;
    unsigned                            closed:1;

    ngx_rtmp_cluster_app_conf_t        *cacf;
    ngx_rtmp_conf_ctx_t                 cctx;
    ngx_rtmp_cluster_zone_t            *zone;
    ngx_rtmp_cluster_shm_stream_t      *record;

    ngx_str_t                           app;
    ngx_str_t                           name;
    ngx_str_t                           args;
    ngx_str_t                           key;        /* "app/name" */

    ngx_uint_t                          kind;
    ngx_uint_t                          state;
    ngx_pid_t                           owner;      /* the host's puller */

    ngx_queue_t                         players;
    ngx_uint_t                          nplayers;
    ngx_uint_t                          ninner;     /* of them, relays */
    ngx_rtmp_cluster_member_t          *publisher;
    ngx_rtmp_session_t                 *upstream;

    /* of the players, the HTTP viewers, and their state (flv.c's) */
    ngx_queue_t                         viewers;
    ngx_uint_t                          nviewers;
    void                               *viewers_ctx;

    const ngx_rtmp_cluster_source_t    *source;
    void                               *source_ctx;

    /* the upstream's target, and the owner worker's, tried first */
    ngx_rtmp_cluster_target_t           target;
    ngx_rtmp_cluster_target_t           relay;
    unsigned                            has_target:1;
    unsigned                            relay_next:1;
    unsigned                            relaying:1;

    ngx_msec_t                          failing_since;  /* 0: not failing */
    ngx_msec_t                          backoff;
    ngx_msec_t                          absent_backoff;
    unsigned                            absent:1;       /* the last round */
    unsigned                            round_absent:1; /* this round */
    ngx_msec_t                          last_media;

    /* what the players were sent, across upstreams */
    ngx_rtmp_cluster_timeline_t         timeline;

    ngx_event_t                         timer;      /* the state's */
    ngx_event_t                         linger;
    ngx_connection_t                    dummy;      /* the timers' data */

    size_t                              tried_len;
    u_char                              tried[NGX_RTMP_CLUSTER_TRIED_LEN];

    u_char                              app_buf[NGX_RTMP_MAX_NAME];
    u_char                              name_buf[NGX_RTMP_MAX_NAME];
    u_char                              args_buf[NGX_RTMP_MAX_ARGS];
    u_char                              key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


static ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_stream_find(
    ngx_rtmp_cluster_app_conf_t *cacf, u_char *name);
static ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_stream_create(
    ngx_rtmp_conf_ctx_t *cctx, ngx_str_t *app, u_char *name, u_char *args,
    ngx_uint_t kind);
static ngx_int_t ngx_rtmp_cluster_stream_set_source(
    ngx_rtmp_cluster_stream_t *st, const ngx_rtmp_cluster_source_t *source,
    void *data);
static void ngx_rtmp_cluster_stream_close(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_release(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_join(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_member_t *m);
static void ngx_rtmp_cluster_stream_state(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t state, ngx_msec_t timeout);
static void ngx_rtmp_cluster_stream_show(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_round(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_next(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_backoff(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_give_up(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_failed(ngx_rtmp_cluster_stream_t *st,
    const char *reason, ngx_uint_t health);
static void ngx_rtmp_cluster_stream_not_found(ngx_rtmp_cluster_stream_t *st,
    const char *reason);
static void ngx_rtmp_cluster_stream_live(ngx_rtmp_cluster_stream_t *st,
    const char *what);
static void ngx_rtmp_cluster_stream_detach(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t close);
static void ngx_rtmp_cluster_stream_idle(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_drop_relays(
    ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_stream_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_stream_linger(ngx_event_t *ev);
static void ngx_rtmp_cluster_stream_tally(ngx_event_t *ev);
static size_t ngx_rtmp_cluster_stream_unsent(ngx_rtmp_cluster_member_t *m);
static void ngx_rtmp_cluster_stream_count_sent(ngx_rtmp_cluster_stream_t *st,
    size_t n);
static void ngx_rtmp_cluster_stream_tried(ngx_rtmp_cluster_stream_t *st,
    const char *reason);
static ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_stream_of_upstream(
    ngx_rtmp_session_t *s);
static ngx_int_t ngx_rtmp_cluster_stream_pull(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t);
static ngx_int_t ngx_rtmp_cluster_stream_push(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t);
static ngx_int_t ngx_rtmp_cluster_stream_play_path(
    ngx_rtmp_cluster_stream_t *st, ngx_pool_t *pool, ngx_str_t *path);
static ngx_int_t ngx_rtmp_cluster_stream_tc_url(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t, ngx_pool_t *pool, ngx_str_t *url);
static ngx_int_t ngx_rtmp_cluster_stream_peer_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_rtmp_cluster_stream_peer_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);


static ngx_queue_t  ngx_rtmp_cluster_streams;
static const ngx_rtmp_cluster_viewers_t  *ngx_rtmp_cluster_stream_http;
static ngx_uint_t   ngx_rtmp_cluster_stream_ready;
static ngx_event_t       ngx_rtmp_cluster_stream_tally_ev;
static ngx_connection_t  ngx_rtmp_cluster_stream_tally_conn;


static const char  *ngx_rtmp_cluster_states[] = {
    "idle",
    "connecting",
    "requested",
    "live",
    "backoff",
    "linger",
    "waiting"
};


const char *
ngx_rtmp_cluster_state_name(ngx_uint_t state)
{
    if (state >= sizeof(ngx_rtmp_cluster_states) / sizeof(char *)) {
        return "unknown";
    }

    return ngx_rtmp_cluster_states[state];
}


void
ngx_rtmp_cluster_stream_init(ngx_cycle_t *cycle)
{
    ngx_event_t  *ev;

    ngx_queue_init(&ngx_rtmp_cluster_streams);
    ngx_rtmp_cluster_stream_ready = 1;

    ngx_rtmp_cluster_stream_tally_conn.fd = (ngx_socket_t) -1;

    ev = &ngx_rtmp_cluster_stream_tally_ev;
    ev->data = &ngx_rtmp_cluster_stream_tally_conn;
    ev->log = cycle->log;
    ev->handler = ngx_rtmp_cluster_stream_tally;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_RTMP_CLUSTER_TALLY);
}


/* the worker exits: its records go (the memory goes with the process) */

void
ngx_rtmp_cluster_stream_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_stream_ready) {
        return;
    }

    if (ngx_rtmp_cluster_stream_tally_ev.timer_set) {
        ngx_del_timer(&ngx_rtmp_cluster_stream_tally_ev);
    }

    while (!ngx_queue_empty(&ngx_rtmp_cluster_streams)) {
        q = ngx_queue_head(&ngx_rtmp_cluster_streams);
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        ngx_rtmp_cluster_record_free(st->zone, st->record);
        st->record = NULL;

        ngx_queue_remove(q);
    }

    ngx_rtmp_cluster_stream_ready = 0;
}


/* accessors for the sources */

ngx_rtmp_cluster_app_conf_t *
ngx_rtmp_cluster_stream_conf(ngx_rtmp_cluster_stream_t *st)
{
    return st->cacf;
}


ngx_str_t *
ngx_rtmp_cluster_stream_app(ngx_rtmp_cluster_stream_t *st)
{
    return &st->app;
}


ngx_str_t *
ngx_rtmp_cluster_stream_name(ngx_rtmp_cluster_stream_t *st)
{
    return &st->name;
}


/* the upstream's name, for logs: "" between upstreams */

ngx_str_t *
ngx_rtmp_cluster_stream_origin(ngx_rtmp_cluster_stream_t *st)
{
    static ngx_str_t  none = ngx_string("");

    return st->has_target ? &st->target.name : &none;
}


void *
ngx_rtmp_cluster_stream_source_ctx(ngx_rtmp_cluster_stream_t *st)
{
    return st->source_ctx;
}


void
ngx_rtmp_cluster_stream_set_source_ctx(ngx_rtmp_cluster_stream_t *st,
    void *ctx)
{
    st->source_ctx = ctx;
}


/* targets: copies, pointing at nothing */

void
ngx_rtmp_cluster_target_origin(ngx_rtmp_cluster_target_t *t,
    ngx_rtmp_cluster_origin_t *o)
{
    ngx_memzero(t, sizeof(ngx_rtmp_cluster_target_t));

    t->origin = o;
    t->socklen = o->url.addrs[0].socklen;
    ngx_memcpy(&t->sockaddr, o->url.addrs[0].sockaddr, t->socklen);

    t->name.data = t->name_buf;
    t->name.len = ngx_min(o->name.len, sizeof(t->name_buf));
    ngx_memcpy(t->name_buf, o->name.data, t->name.len);
}


void
ngx_rtmp_cluster_target_copy(ngx_rtmp_cluster_target_t *dst,
    ngx_rtmp_cluster_target_t *src)
{
    *dst = *src;
    dst->name.data = dst->name_buf;
}


ngx_int_t
ngx_rtmp_cluster_target_inet(ngx_rtmp_cluster_target_t *t, in_addr_t inaddr,
    in_port_t port)
{
    u_char              *p;
    struct sockaddr_in  *sin;

    ngx_memzero(t, sizeof(ngx_rtmp_cluster_target_t));

    sin = &t->sockaddr.sockaddr_in;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = inaddr;
    t->socklen = sizeof(struct sockaddr_in);

    /* the canonical form, whatever a peer wrote */

    p = ngx_sprintf(t->name_buf, "%ud.%ud.%ud.%ud:%d",
                    (ngx_uint_t) (ntohl(inaddr) >> 24),
                    (ngx_uint_t) (ntohl(inaddr) >> 16) & 0xff,
                    (ngx_uint_t) (ntohl(inaddr) >> 8) & 0xff,
                    (ngx_uint_t) ntohl(inaddr) & 0xff, (int) port);

    t->name.data = t->name_buf;
    t->name.len = p - t->name_buf;

    return NGX_OK;
}


/*
 * A player (m) wants a stream: the one this worker has, or a new one of
 * "kind" whose upstreams "source" gives (NULL: none but the owner
 * worker's, for a stream published on another worker of the host).
 */

ngx_int_t
ngx_rtmp_cluster_stream_play(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name, u_char *args,
    ngx_uint_t kind, const ngx_rtmp_cluster_source_t *source, void *data)
{
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    if (!ngx_rtmp_cluster_stream_ready || m->stream) {
        /* a second play on this session: nginx-rtmp keeps the first */
        return NGX_OK;
    }

    cacf = cctx->app_conf[ngx_rtmp_cluster_module.ctx_index];

    st = ngx_rtmp_cluster_stream_find(cacf, name);

    if (st) {
        m->role = NGX_RTMP_CLUSTER_PLAYER;
        ngx_rtmp_cluster_stream_join(st, m);
        return NGX_OK;
    }

    st = ngx_rtmp_cluster_stream_create(cctx, app, name, args, kind);
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (ngx_rtmp_cluster_stream_set_source(st, source, data) != NGX_OK) {
        ngx_rtmp_cluster_stream_close(st);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: play of \"%V/%V\", not on this worker: "
                  "pulling from %s", &st->app, &st->name,
                  source ? "an origin" : "the worker that has it");

    m->role = NGX_RTMP_CLUSTER_PLAYER;
    ngx_rtmp_cluster_stream_join(st, m);
    ngx_rtmp_cluster_stream_round(st);

    return NGX_OK;
}


/*
 * A publisher here replaces this worker's pull of the stream: players
 * stay; called before nginx-rtmp's live module sees the publisher, which
 * it would refuse while the pull publishes.
 */

void
ngx_rtmp_cluster_stream_take_over(ngx_rtmp_cluster_app_conf_t *cacf,
    u_char *name)
{
    ngx_rtmp_session_t         *rs;
    ngx_rtmp_close_stream_t     cv;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_stream_ready) {
        return;
    }

    st = ngx_rtmp_cluster_stream_find(cacf, name);

    if (st == NULL || st->kind == NGX_RTMP_CLUSTER_PUBLISH) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: local publisher takes over \"%V/%V\"",
                  &st->app, &st->name);

    rs = st->upstream;

    ngx_rtmp_cluster_stream_detach(st, 0);

    if (rs) {
        /* leave the live stream now, so the publisher is not refused */
        ngx_memzero(&cv, sizeof(cv));
        ngx_rtmp_close_stream(rs, &cv);
        ngx_rtmp_finalize_session(rs);
    }

    if (st->linger.timer_set) {
        ngx_del_timer(&st->linger);
    }

    st->failing_since = 0;
    st->tried_len = 0;
    st->absent = 0;
    st->round_absent = 0;

    ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_IDLE, 0);
}


/*
 * A publisher here (m), accepted by nginx-rtmp's live module: the stream
 * is published on this worker, which owns it on the host; with a source,
 * forwarded upstream (pushed).
 */

ngx_int_t
ngx_rtmp_cluster_stream_publish(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name,
    u_char *args, const ngx_rtmp_cluster_source_t *source, void *data)
{
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    if (!ngx_rtmp_cluster_stream_ready || m->stream) {
        return NGX_OK;
    }

    cacf = cctx->app_conf[ngx_rtmp_cluster_module.ctx_index];

    st = ngx_rtmp_cluster_stream_find(cacf, name);

    if (st == NULL) {
        st = ngx_rtmp_cluster_stream_create(cctx, app, name, args,
                                            NGX_RTMP_CLUSTER_PUBLISH);
        if (st == NULL) {
            return NGX_ERROR;
        }

    } else {
        /* players were waiting for it (a pull taken over) */

        ngx_rtmp_cluster_stream_detach(st, 1);

        if (st->timer.timer_set) {
            ngx_del_timer(&st->timer);
        }

        st->kind = NGX_RTMP_CLUSTER_PUBLISH;
        st->args.len = ngx_cpystrn(st->args_buf, args, NGX_RTMP_MAX_ARGS)
                       - st->args_buf;

        ngx_rtmp_cluster_record_kind(st->record, st->kind);
    }

    if (st->source == NULL
        && ngx_rtmp_cluster_stream_set_source(st, source, data) != NGX_OK)
    {
        if (st->refs == 1 && st->nplayers == 0) {
            ngx_rtmp_cluster_stream_close(st);
        }

        return NGX_ERROR;
    }

    m->role = NGX_RTMP_CLUSTER_PUBLISHER;
    m->stream = st;
    st->refs++;
    st->publisher = m;

    /* the publisher's worker serves the stream to the others */

    st->owner = ngx_rtmp_cluster_owner(st->zone, &st->key, 1, 1);
    ngx_rtmp_cluster_record_owner(st->record, st->owner);

    st->failing_since = 0;

    if (st->source == NULL) {
        ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_LIVE, 0);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: publish of \"%V/%V\": forwarding to an origin",
                  &st->app, &st->name);

    ngx_rtmp_cluster_stream_round(st);

    return NGX_OK;
}


/* a member's session closes (or leaves the stream) */

void
ngx_rtmp_cluster_stream_leave(ngx_rtmp_cluster_member_t *m)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = m->stream;
    if (st == NULL) {
        return;
    }

    m->stream = NULL;

    switch (m->role) {

    case NGX_RTMP_CLUSTER_PLAYER:

        ngx_rtmp_cluster_stream_count_sent(st,
                                           ngx_rtmp_cluster_stream_unsent(m));

        ngx_queue_remove(&m->queue);
        st->nplayers--;
        st->ninner -= m->inner;

        ngx_rtmp_cluster_record_players(st->record, m->inner, -1);

        if (m->http) {
            ngx_queue_remove(&m->viewer);
            st->nviewers--;
            ngx_rtmp_cluster_record_flv(st->record, -1);
        }

        if (m->hls) {
            ngx_rtmp_cluster_record_hls(st->record, -1);
        }

        m->inner = 0;

        if (!st->closed) {
            ngx_rtmp_cluster_stream_idle(st);
        }

        break;

    case NGX_RTMP_CLUSTER_PUBLISHER:

        if (st->publisher != m || st->closed) {
            break;
        }

        st->publisher = NULL;

        /*
         * the relay module ends the push session with the publisher;
         * detached first, so its end is not taken for an origin failure
         */

        ngx_rtmp_cluster_stream_detach(st, 0);

        if (st->timer.timer_set) {
            ngx_del_timer(&st->timer);
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: publisher of \"%V/%V\" left",
                      &st->app, &st->name);

        if (st->nplayers && st->source) {
            /* players wait for the stream to come back to any edge */

            st->kind = NGX_RTMP_CLUSTER_PULL;
            st->failing_since = 0;
            st->tried_len = 0;

            ngx_rtmp_cluster_record_kind(st->record, st->kind);

            ngx_rtmp_cluster_stream_round(st);
            break;
        }

        ngx_rtmp_cluster_stream_idle(st);
        break;

    default: /* NGX_RTMP_CLUSTER_UPSTREAM */
        break;
    }

    m->role = 0;

    ngx_rtmp_cluster_stream_release(st);
}


static void
ngx_rtmp_cluster_stream_join(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_member_t *m)
{
    st->nplayers++;
    st->ninner += m->inner;
    st->refs++;

    ngx_queue_insert_tail(&st->players, &m->queue);
    m->stream = st;

    if (m->connection) {
        /* what it was sent before (handshake, connect) is not the stream's */
        m->sent = m->connection->sent;
    }

    ngx_rtmp_cluster_record_players(st->record, m->inner, 1);

    if (m->http) {
        ngx_queue_insert_tail(&st->viewers, &m->viewer);
        st->nviewers++;
        ngx_rtmp_cluster_record_flv(st->record, 1);
    }

    if (m->hls) {
        ngx_rtmp_cluster_record_hls(st->record, 1);
    }

    if (st->linger.timer_set) {
        /* a player is back: the pull stays */
        ngx_del_timer(&st->linger);
        ngx_rtmp_cluster_stream_show(st);
    }
}


/* nobody left: linger, or the end (an exiting worker's relays end) */

static void
ngx_rtmp_cluster_stream_idle(ngx_rtmp_cluster_stream_t *st)
{
    if (ngx_exiting && st->nplayers && st->nplayers == st->ninner
        && st->publisher == NULL)
    {
        /* only other workers' pulls are left: they re-pull elsewhere */
        ngx_rtmp_cluster_stream_drop_relays(st);
        return;
    }

    if (st->nplayers || st->publisher) {
        return;
    }

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->upstream
        && st->cacf->linger && !ngx_exiting)
    {
        /* keep the pull a while: a player zapping back finds it warm */
        ngx_add_timer(&st->linger, st->cacf->linger);
        ngx_rtmp_cluster_stream_show(st);
        return;
    }

    ngx_rtmp_cluster_stream_close(st);
}


static void
ngx_rtmp_cluster_stream_linger(ngx_event_t *ev)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = ((ngx_connection_t *) ev->data)->data;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "cluster: no player of \"%V/%V\" for %Mms, "
                  "stopping the pull", &st->app, &st->name, st->cacf->linger);

    ngx_rtmp_cluster_stream_close(st);
}


static ngx_rtmp_cluster_stream_t *
ngx_rtmp_cluster_stream_find(ngx_rtmp_cluster_app_conf_t *cacf, u_char *name)
{
    size_t                      len;
    ngx_queue_t                *q;
    ngx_rtmp_cluster_stream_t  *st;

    len = ngx_strlen(name);

    for (q = ngx_queue_head(&ngx_rtmp_cluster_streams);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_streams);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        if (st->cacf == cacf && st->name.len == len
            && ngx_strncmp(st->name.data, name, len) == 0)
        {
            return st;
        }
    }

    return NULL;
}


static ngx_rtmp_cluster_stream_t *
ngx_rtmp_cluster_stream_create(ngx_rtmp_conf_ctx_t *cctx, ngx_str_t *app,
    u_char *name, u_char *args, ngx_uint_t kind)
{
    ngx_rtmp_cluster_stream_t     *st;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    st = ngx_calloc(sizeof(ngx_rtmp_cluster_stream_t), ngx_cycle->log);
    if (st == NULL) {
        return NULL;
    }

    cmcf = cctx->main_conf[ngx_rtmp_cluster_module.ctx_index];

    st->cacf = cctx->app_conf[ngx_rtmp_cluster_module.ctx_index];
    st->cctx = *cctx;
    st->zone = cmcf->shm_zone->data;
    st->kind = kind;
    st->refs = 1;       /* the worker's list */

    st->app.data = st->app_buf;
    st->app.len = ngx_min(app->len, NGX_RTMP_MAX_NAME - 1);
    ngx_memcpy(st->app_buf, app->data, st->app.len);

    st->name.data = st->name_buf;
    st->name.len = ngx_cpystrn(st->name_buf, name, NGX_RTMP_MAX_NAME)
                   - st->name_buf;

    st->args.data = st->args_buf;

    if (st->cacf->pass_args) {
        st->args.len = ngx_cpystrn(st->args_buf, args, NGX_RTMP_MAX_ARGS)
                       - st->args_buf;
    }

    if (ngx_rtmp_cluster_key(&st->app, st->name_buf, &st->key, st->key_buf)
        != NGX_OK)
    {
        ngx_free(st);
        return NULL;
    }

    ngx_queue_init(&st->players);
    ngx_queue_init(&st->viewers);

    st->dummy.fd = (ngx_socket_t) -1;
    st->dummy.data = st;

    st->timer.data = &st->dummy;
    st->timer.log = ngx_cycle->log;
    st->timer.handler = ngx_rtmp_cluster_stream_timer;
    st->timer.cancelable = 1;

    st->linger.data = &st->dummy;
    st->linger.log = ngx_cycle->log;
    st->linger.handler = ngx_rtmp_cluster_stream_linger;
    st->linger.cancelable = 1;

    st->record = ngx_rtmp_cluster_record_create(st->zone, kind, &st->app,
                                                &st->name);

    ngx_queue_insert_tail(&ngx_rtmp_cluster_streams, &st->queue);

    return st;
}


static ngx_int_t
ngx_rtmp_cluster_stream_set_source(ngx_rtmp_cluster_stream_t *st,
    const ngx_rtmp_cluster_source_t *source, void *data)
{
    st->source = source;

    if (source && source->init && source->init(st, data) != NGX_OK) {
        st->source = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The stream ends: its upstream is closed, its players forget it (a
 * give-up has ended them already), the host's ownership and the zone
 * record go.  The object goes with its last reference.
 */

static void
ngx_rtmp_cluster_stream_close(ngx_rtmp_cluster_stream_t *st)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_member_t  *m;

    if (st->closed) {
        return;
    }

    st->closed = 1;

    ngx_rtmp_cluster_stream_detach(st, 1);

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (st->linger.timer_set) {
        ngx_del_timer(&st->linger);
    }

    while (!ngx_queue_empty(&st->players)) {
        q = ngx_queue_head(&st->players);
        m = ngx_queue_data(q, ngx_rtmp_cluster_member_t, queue);

        ngx_rtmp_cluster_stream_count_sent(st,
                                           ngx_rtmp_cluster_stream_unsent(m));

        ngx_queue_remove(q);
        m->stream = NULL;
        m->role = 0;
        m->inner = 0;

        if (m->http) {
            ngx_queue_remove(&m->viewer);
        }

        st->refs--;
    }

    st->nplayers = 0;
    st->ninner = 0;
    st->nviewers = 0;

    if (st->viewers_ctx && ngx_rtmp_cluster_stream_http) {
        ngx_rtmp_cluster_stream_http->gone(st, st->viewers_ctx);
        st->viewers_ctx = NULL;
    }

    if (st->publisher) {
        st->publisher->stream = NULL;
        st->publisher->role = 0;
        st->publisher = NULL;
        st->refs--;
    }

    if (st->owner == ngx_pid) {
        /* the other workers' pulls from us end; one of them takes over */
        ngx_rtmp_cluster_owner_release(st->zone, &st->key);
    }

    ngx_rtmp_cluster_record_free(st->zone, st->record);
    st->record = NULL;

    if (st->source && st->source->free) {
        st->source->free(st);
    }

    st->source = NULL;

    ngx_queue_remove(&st->queue);

    ngx_rtmp_cluster_stream_release(st);
}


/*
 * Bytes sent to players: their connections' c->sent, which every writer
 * keeps (nginx-rtmp's, merge.c's, HTTP's send_chain), counted from the
 * join, every NGX_RTMP_CLUSTER_TALLY and when a player leaves: one
 * subtraction per player and second instead of an atomic per write.
 * Other workers' relays are not clients: their bytes are not counted.
 */

static void
ngx_rtmp_cluster_stream_tally(ngx_event_t *ev)
{
    size_t                      n;
    ngx_queue_t                *q, *p;
    ngx_rtmp_cluster_stream_t  *st;

    for (q = ngx_queue_head(&ngx_rtmp_cluster_streams);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_streams);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        n = 0;

        for (p = ngx_queue_head(&st->players);
             p != ngx_queue_sentinel(&st->players);
             p = ngx_queue_next(p))
        {
            n += ngx_rtmp_cluster_stream_unsent(
                     ngx_queue_data(p, ngx_rtmp_cluster_member_t, queue));
        }

        ngx_rtmp_cluster_stream_count_sent(st, n);
    }

    /* cancelable: an exiting worker does not wait for it */
    ngx_add_timer(ev, NGX_RTMP_CLUSTER_TALLY);
}


/* a player's bytes sent since they were last counted */

static size_t
ngx_rtmp_cluster_stream_unsent(ngx_rtmp_cluster_member_t *m)
{
    size_t  n;

    if (m->connection == NULL || m->inner) {
        return 0;
    }

    n = (size_t) (m->connection->sent - m->sent);
    m->sent = m->connection->sent;

    return n;
}


/* bytes sent for a member without a counted connection (HLS answers) */

void
ngx_rtmp_cluster_stream_sent(ngx_rtmp_cluster_member_t *m, off_t n)
{
    if (m->stream && n > 0) {
        ngx_rtmp_cluster_stream_count_sent(m->stream, (size_t) n);
    }
}


/* the stream's count and the host's, which never goes down */

static void
ngx_rtmp_cluster_stream_count_sent(ngx_rtmp_cluster_stream_t *st, size_t n)
{
    if (n) {
        ngx_rtmp_cluster_record_sent(st->record, n);
        ngx_rtmp_cluster_count(st->zone, NGX_RTMP_CLUSTER_BYTES_SENT, n);
    }
}


static void
ngx_rtmp_cluster_stream_release(ngx_rtmp_cluster_stream_t *st)
{
    if (--st->refs == 0) {
        ngx_free(st);
    }
}


/* the one place a stream's state changes; the state's timer with it */

static void
ngx_rtmp_cluster_stream_state(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t state, ngx_msec_t timeout)
{
    st->state = state;

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (timeout) {
        ngx_add_timer(&st->timer, timeout);
    }

    if (state == NGX_RTMP_CLUSTER_CONNECTING && st->has_target) {
        ngx_rtmp_cluster_record_origin(st->zone, st->record,
                                       &st->target.name);
    }

    ngx_rtmp_cluster_stream_show(st);
}


/*
 * the state as the status shows it: a lingering pull as "linger", the
 * re-asks of a stream no origin had as "waiting"
 */

static void
ngx_rtmp_cluster_stream_show(ngx_rtmp_cluster_stream_t *st)
{
    ngx_uint_t  state;

    state = st->state;

    if (st->linger.timer_set) {
        state = NGX_RTMP_CLUSTER_LINGER;

    } else if (st->absent && (state == NGX_RTMP_CLUSTER_CONNECTING
                              || state == NGX_RTMP_CLUSTER_REQUESTED))
    {
        /* asking again for a stream no origin had: still waiting */
        state = NGX_RTMP_CLUSTER_ABSENT;
    }

    ngx_rtmp_cluster_record_state(st->record, state);
}


/*
 * A round over the upstreams.  Ownership on the host is decided here,
 * once per round: a pull another worker owns is relayed from it; else
 * the source gives the targets.
 */

static void
ngx_rtmp_cluster_stream_round(ngx_rtmp_cluster_stream_t *st)
{
    st->relaying = 0;
    st->relay_next = 0;

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH) {

        st->owner = ngx_rtmp_cluster_owner(st->zone, &st->key, 1, 0);
        ngx_rtmp_cluster_record_owner(st->record, st->owner);

        if (st->owner != ngx_pid) {
            st->relaying = 1;
            st->relay_next =
                (ngx_rtmp_cluster_worker_target(&st->relay, st->owner,
                                                st->cctx.srv_conf)
                 == NGX_OK);

            ngx_rtmp_cluster_stream_next(st);
            return;
        }
    }

    if (st->source && st->source->round) {
        st->source->round(st);
    }

    ngx_rtmp_cluster_stream_next(st);
}


static void
ngx_rtmp_cluster_stream_next(ngx_rtmp_cluster_stream_t *st)
{
    ngx_int_t                   rc;
    ngx_rtmp_cluster_target_t   t;

    for ( ;; ) {

        if (st->relay_next) {
            st->relay_next = 0;
            ngx_rtmp_cluster_target_copy(&t, &st->relay);

        } else if (st->relaying || st->source == NULL
                   || st->source->next(st, &t) != NGX_OK)
        {
            break;
        }

        ngx_rtmp_cluster_target_copy(&st->target, &t);
        st->has_target = 1;

        if (st->kind != NGX_RTMP_CLUSTER_PUBLISH) {
            rc = ngx_rtmp_cluster_stream_pull(st, &st->target);

        } else {
            rc = ngx_rtmp_cluster_stream_push(st, &st->target);
        }

        if (rc == NGX_OK) {
            ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_CONNECTING,
                                          st->cacf->connect_timeout);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: cannot connect to origin \"%V\" "
                      "for \"%V/%V\"", &st->target.name, &st->app,
                      &st->name);

        if (st->target.origin) {
            ngx_rtmp_cluster_origin_failure(st->target.origin,
                                            "connect failed");
        }

        ngx_rtmp_cluster_stream_tried(st, "connect failed");

        if (st->failing_since == 0) {
            st->failing_since = ngx_current_msec;
        }
    }

    st->has_target = 0;

    ngx_rtmp_cluster_stream_backoff(st);
}


static void
ngx_rtmp_cluster_stream_backoff(ngx_rtmp_cluster_stream_t *st)
{
    ngx_msec_t  elapsed, timeout;

    if (st->failing_since == 0) {
        st->failing_since = ngx_current_msec;
    }

    elapsed = ngx_current_msec - st->failing_since;

    /*
     * the players of a source's stream are ended after retry_timeout; a
     * relay of a stream published on another worker of an origin, and a
     * forwarded publish, wait (the publisher may come back)
     */

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->source
        && elapsed >= st->cacf->retry_timeout)
    {
        ngx_rtmp_cluster_stream_give_up(st);
        return;
    }

    st->absent = st->round_absent;
    st->round_absent = 0;

    if (st->absent) {
        /* not published yet: players wait, ask again soon */

        st->absent_backoff = st->absent_backoff
                             ? ngx_min(st->absent_backoff * 2,
                                       st->cacf->not_found_max)
                             : st->cacf->not_found_min;

        timeout = st->absent_backoff;

        if (elapsed < st->cacf->retry_timeout) {
            timeout = ngx_min(timeout, st->cacf->retry_timeout - elapsed);
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: no origin has \"%V/%V\" yet, asking again "
                      "in %Mms", &st->app, &st->name, timeout);

        ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_ABSENT,
                                      ngx_max(timeout, 1));
        return;
    }

    /* a round of failures only: a later "not found" starts from min */
    st->absent_backoff = 0;

    st->backoff = st->backoff ? ngx_min(st->backoff * 2,
                                        NGX_RTMP_CLUSTER_BACKOFF_MAX)
                              : NGX_RTMP_CLUSTER_BACKOFF_MIN;

    if (elapsed < st->cacf->retry_timeout) {
        st->backoff = ngx_min(st->backoff,
                              st->cacf->retry_timeout - elapsed);
    }

    ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_BACKOFF,
                                  ngx_max(st->backoff, 1));
}


static void
ngx_rtmp_cluster_stream_give_up(ngx_rtmp_cluster_stream_t *st)
{
    u_char                     *p;
    ngx_queue_t                *q;
    ngx_rtmp_cluster_member_t  *m;
    u_char                      desc[NGX_RTMP_MAX_NAME * 2 + 64];

    if (st->tried_len == 0) {
        p = ngx_cpymem(st->tried, "none usable (circuits open)",
                       sizeof("none usable (circuits open)") - 1);
        st->tried_len = p - st->tried;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: no origin could serve \"%V/%V\" within %Mms, "
                  "ending %ui players; origins tried: %*s",
                  &st->app, &st->name, st->cacf->retry_timeout,
                  st->nplayers, st->tried_len, st->tried);

    p = ngx_snprintf(desc, sizeof(desc) - 1,
                     "cluster: no origin could serve \"%V/%V\"",
                     &st->app, &st->name);
    *p = '\0';

    /* ending a player only posts its close: the list stays intact */

    for (q = ngx_queue_head(&st->players);
         q != ngx_queue_sentinel(&st->players);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_rtmp_cluster_member_t, queue);

        if (m->end) {
            m->end(m, (char *) desc);
        }
    }

    ngx_rtmp_cluster_stream_close(st);
}


/*
 * The upstream failed: "health" counts it against the origin.  A live
 * stream starts a new round (failover: the order anew, the failed origin
 * tried last); a stream still trying goes on with the round.
 */

static void
ngx_rtmp_cluster_stream_failed(ngx_rtmp_cluster_stream_t *st,
    const char *reason, ngx_uint_t health)
{
    ngx_uint_t  was_live;

    if (st->has_target) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: origin \"%V\" failed for %s of \"%V/%V\": %s",
                      &st->target.name,
                      st->kind == NGX_RTMP_CLUSTER_PUBLISH ? "publish"
                                                           : "pull",
                      &st->app, &st->name, reason);

        if (health && st->target.origin) {
            ngx_rtmp_cluster_origin_failure(st->target.origin, reason);
        }

        ngx_rtmp_cluster_stream_tried(st, reason);
    }

    ngx_rtmp_cluster_stream_detach(st, 1);

    was_live = (st->state == NGX_RTMP_CLUSTER_LIVE);

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->nplayers == 0) {
        ngx_rtmp_cluster_stream_close(st);
        return;
    }

    if (st->kind == NGX_RTMP_CLUSTER_PUBLISH && st->publisher == NULL) {
        ngx_rtmp_cluster_stream_idle(st);
        return;
    }

    if (was_live) {
        ngx_rtmp_cluster_record_failover(st->record);

        st->failing_since = ngx_current_msec;
        st->backoff = 0;

        ngx_rtmp_cluster_stream_round(st);
        return;
    }

    if (st->failing_since == 0) {
        st->failing_since = ngx_current_msec;
    }

    ngx_rtmp_cluster_stream_next(st);
}


/*
 * The upstream answered the play but has no such stream (yet): not a
 * failure of the origin, so its health stays; the round goes on, and
 * ends in ABSENT (a short backoff) rather than BACKOFF.
 */

static void
ngx_rtmp_cluster_stream_not_found(ngx_rtmp_cluster_stream_t *st,
    const char *reason)
{
    if (st->has_target) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: origin \"%V\" does not have \"%V/%V\": %s",
                      &st->target.name, &st->app, &st->name, reason);

        if (st->target.origin) {
            ngx_rtmp_cluster_origin_not_found(st->target.origin);
        }

        ngx_rtmp_cluster_stream_tried(st, "not found");
    }

    ngx_rtmp_cluster_stream_detach(st, 1);

    if (st->nplayers == 0) {
        ngx_rtmp_cluster_stream_close(st);
        return;
    }

    st->round_absent = 1;

    if (st->failing_since == 0) {
        st->failing_since = ngx_current_msec;
    }

    ngx_rtmp_cluster_stream_next(st);
}


/* the upstream works: media in, or the push confirmed */

static void
ngx_rtmp_cluster_stream_live(ngx_rtmp_cluster_stream_t *st, const char *what)
{
    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: \"%V/%V\" is %s origin \"%V\"",
                  &st->app, &st->name, what, &st->target.name);

    if (st->target.origin) {
        ngx_rtmp_cluster_origin_success(st->target.origin);
    }

    st->failing_since = 0;
    st->backoff = 0;
    st->tried_len = 0;
    st->absent = 0;
    st->round_absent = 0;
    st->absent_backoff = 0;

    ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_LIVE,
                                  st->kind != NGX_RTMP_CLUSTER_PUBLISH
                                  ? st->cacf->media_timeout : 0);
}


/* the upstream session is no longer the stream's (closed with "close") */

static void
ngx_rtmp_cluster_stream_detach(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t close)
{
    ngx_rtmp_session_t  *rs;

    rs = st->upstream;
    if (rs == NULL) {
        return;
    }

    st->upstream = NULL;

    /* its events are ignored from now on (its member still counts) */

    if (close) {
        ngx_rtmp_finalize_session(rs);
    }
}


/* an exiting worker's stream whose only players are other workers' */

static void
ngx_rtmp_cluster_stream_drop_relays(ngx_rtmp_cluster_stream_t *st)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_member_t  *m;

    for (q = ngx_queue_head(&st->players);
         q != ngx_queue_sentinel(&st->players);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_rtmp_cluster_member_t, queue);

        if (m->end) {
            m->end(m, NULL);
        }
    }

    ngx_rtmp_cluster_stream_close(st);
}


static void
ngx_rtmp_cluster_stream_timer(ngx_event_t *ev)
{
    ngx_msec_t                  idle;
    ngx_rtmp_cluster_stream_t  *st;

    st = ((ngx_connection_t *) ev->data)->data;

    switch (st->state) {

    case NGX_RTMP_CLUSTER_CONNECTING:
        ngx_rtmp_cluster_stream_failed(st, "timed out connecting", 1);
        return;

    case NGX_RTMP_CLUSTER_REQUESTED:
        if (st->kind != NGX_RTMP_CLUSTER_PUBLISH) {
            /* the play was taken and held: nothing there yet */
            ngx_rtmp_cluster_stream_not_found(st, "no media in time");
            return;
        }

        ngx_rtmp_cluster_stream_failed(st, "publish not confirmed in time",
                                       0);
        return;

    case NGX_RTMP_CLUSTER_LIVE:
        if (st->kind == NGX_RTMP_CLUSTER_PUBLISH) {
            return;
        }

        idle = ngx_current_msec - st->last_media;

        if (idle >= st->cacf->media_timeout) {
            ngx_rtmp_cluster_stream_failed(st, "media stopped", 1);
            return;
        }

        ngx_add_timer(&st->timer, st->cacf->media_timeout - idle);
        return;

    case NGX_RTMP_CLUSTER_BACKOFF:
    case NGX_RTMP_CLUSTER_ABSENT:
        ngx_rtmp_cluster_stream_round(st);
        return;

    default:
        return;
    }
}


static void
ngx_rtmp_cluster_stream_tried(ngx_rtmp_cluster_stream_t *st,
    const char *reason)
{
    u_char  *p, *last;

    p = st->tried + st->tried_len;
    last = st->tried + sizeof(st->tried);

    if (st->tried_len) {
        p = ngx_slprintf(p, last, ", ");
    }

    p = ngx_slprintf(p, last, "%V (%s)", &st->target.name, reason);

    st->tried_len = p - st->tried;
}


/* the upstream sessions' events, from the module's hooks */

static ngx_rtmp_cluster_stream_t *
ngx_rtmp_cluster_stream_of_upstream(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t     *ctx;
    ngx_rtmp_cluster_stream_t  *st;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (ctx == NULL || ctx->member.role != NGX_RTMP_CLUSTER_UPSTREAM) {
        return NULL;
    }

    st = ctx->member.stream;

    /* an upstream the stream let go: its events no longer count */
    if (st == NULL || st->closed || st->upstream != s) {
        return NULL;
    }

    return st;
}


/* our pull got createStream's answer and now plays upstream */

void
ngx_rtmp_cluster_stream_upstream_published(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = ngx_rtmp_cluster_stream_of_upstream(s);

    if (st == NULL || st->state != NGX_RTMP_CLUSTER_CONNECTING) {
        return;
    }

    /* play is sent: now the origin has media_timeout to deliver */

    ngx_rtmp_cluster_stream_state(st, NGX_RTMP_CLUSTER_REQUESTED,
                                  st->cacf->media_timeout);
}


void
ngx_rtmp_cluster_stream_upstream_media(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = ngx_rtmp_cluster_stream_of_upstream(s);

    if (st == NULL || st->kind == NGX_RTMP_CLUSTER_PUBLISH) {
        return;
    }

    st->last_media = ngx_current_msec;

    ngx_rtmp_cluster_record_bytes(st->record, h->mlen);

    if (st->state != NGX_RTMP_CLUSTER_LIVE) {
        ngx_rtmp_cluster_stream_live(st, "live from");
    }
}


/*
 * The timestamp an upstream's audio or video message goes on with to the
 * players (before nginx-rtmp's live module sees it): on the stream's
 * timeline, whichever upstream it comes from.
 */

uint32_t
ngx_rtmp_cluster_stream_upstream_time(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_uint_t header)
{
    uint32_t                    out;
    ngx_uint_t                  rebases;
    ngx_rtmp_cluster_stream_t  *st;

    st = ngx_rtmp_cluster_stream_of_upstream(s);

    if (st == NULL || st->kind == NGX_RTMP_CLUSTER_PUBLISH) {
        return h->timestamp;
    }

    rebases = st->timeline.rebases;

    out = ngx_rtmp_cluster_timeline_map(&st->timeline,
                                        h->type == NGX_RTMP_MSG_VIDEO,
                                        header, h->timestamp);

    if (st->timeline.rebases != rebases) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: \"%V/%V\" from origin \"%V\": timestamps "
                      "rebased by %D ms (%uD goes on as %uD)",
                      &st->app, &st->name, &st->target.name,
                      (int32_t) st->timeline.offset, h->timestamp, out);
    }

    return out;
}


/*
 * onStatus and _error from the upstream: a push confirmed, an RTMP 302
 * (the source decides whether it is followed), or a refusal.
 */

void
ngx_rtmp_cluster_stream_upstream_status(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_status_t *status)
{
    u_char                     *p;
    const char                 *why;
    ngx_rtmp_cluster_zone_t    *zone;
    ngx_rtmp_cluster_stream_t  *st;
    u_char                      reason[256];

    st = ngx_rtmp_cluster_stream_of_upstream(s);
    if (st == NULL) {
        return;
    }

    if (status == NULL) {
        ngx_rtmp_cluster_stream_failed(st, "malformed status message", 1);
        return;
    }

    if (st->kind == NGX_RTMP_CLUSTER_PUBLISH
        && ngx_strcmp(status->code, "NetStream.Publish.Start") == 0)
    {
        ngx_rtmp_cluster_stream_live(st, "forwarded to");
        return;
    }

    if (ngx_strcmp(status->level, "error") != 0) {
        return;
    }

    if (status->redirect[0] && st->kind != NGX_RTMP_CLUSTER_PUBLISH) {

        zone = st->zone;
        why = "not followed here";

        if (st->source && st->source->redirect
            && !st->relaying
            && st->source->redirect(st, status->redirect, &why) == NGX_OK)
        {
            ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_REDIRECTS_FOLLOWED,
                                   1);

            /* the players stay; the source gives the target next */

            ngx_rtmp_cluster_stream_detach(st, 1);
            ngx_rtmp_cluster_stream_next(st);
            return;
        }

        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_REDIRECTS_REFUSED, 1);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: refusing the redirect of \"%V/%V\" to "
                      "\"%s\": %s", &st->app, &st->name, status->redirect,
                      why);

        ngx_rtmp_cluster_stream_failed(st, "redirect refused", 0);
        return;
    }

    p = ngx_snprintf(reason, sizeof(reason) - 1, "rejected with \"%s\" (%s)",
                     status->code, status->desc);
    *p = '\0';

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH
        && st->state == NGX_RTMP_CLUSTER_REQUESTED
        && ngx_strcmp(status->code, "NetStream.Play.StreamNotFound") == 0)
    {
        ngx_rtmp_cluster_stream_not_found(st, (char *) reason);
        return;
    }

    ngx_rtmp_cluster_stream_failed(st, (char *) reason, 0);
}


void
ngx_rtmp_cluster_stream_upstream_closed(ngx_rtmp_session_t *s)
{
    const char                 *reason;
    ngx_connection_t           *c;
    ngx_rtmp_cluster_stream_t  *st;

    st = ngx_rtmp_cluster_stream_of_upstream(s);
    if (st == NULL) {
        return;
    }

    st->upstream = NULL;
    c = s->connection;

    if (ngx_exiting && c->close) {
        /*
         * worker_shutdown_timeout closed it here: no fault of the origin,
         * whose circuit, shared by the host, the other workers still need
         */
        ngx_rtmp_cluster_stream_failed(st, "closed by worker shutdown", 0);
        return;
    }

    switch (st->state) {

    case NGX_RTMP_CLUSTER_CONNECTING:
        reason = "connection refused or closed during connect";
        break;

    case NGX_RTMP_CLUSTER_REQUESTED:

        if (st->kind != NGX_RTMP_CLUSTER_PUBLISH
            && c->read->eof && !c->read->error && !c->write->error)
        {
            /* the peer closed after the play, no error: SRS's "not here" */
            ngx_rtmp_cluster_stream_not_found(st, "closed after play");
            return;
        }

        reason = "connection closed before media";
        break;

    default:
        reason = "connection closed";
    }

    ngx_rtmp_cluster_stream_failed(st, reason, 1);
}


/* the GOP a member's session caches shows in the stream's record */

void
ngx_rtmp_cluster_stream_gop(ngx_rtmp_cluster_member_t *m, ngx_uint_t frames,
    size_t bytes, ngx_msec_t ms)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = m->stream;

    if (st == NULL || st->closed) {
        return;
    }

    if (m->role == NGX_RTMP_CLUSTER_UPSTREAM
        && ((ngx_rtmp_session_t *) m->data != st->upstream
            || st->state == NGX_RTMP_CLUSTER_CONNECTING))
    {
        return;
    }

    if (m->role == NGX_RTMP_CLUSTER_PLAYER) {
        return;
    }

    ngx_rtmp_cluster_record_gop(st->record, frames, bytes, ms);
}


/*
 * Audio or video of a session (m) after every handler: if the session
 * feeds its stream and the stream has HTTP viewers, they get it too, with
 * the timestamp the live module sent the RTMP players (h, rebased).
 */

void
ngx_rtmp_cluster_stream_media(ngx_rtmp_cluster_member_t *m,
    ngx_rtmp_header_t *h, ngx_chain_t *in)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = m->stream;

    if (st == NULL || st->closed || st->nviewers == 0
        || ngx_rtmp_cluster_stream_http == NULL)
    {
        return;
    }

    if (ngx_rtmp_cluster_stream_feed(st) != m->data) {
        return;
    }

    ngx_rtmp_cluster_stream_http->media(st, &st->viewers, m->data, h, in);
}


/* the HTTP side registers its handlers once */

void
ngx_rtmp_cluster_stream_viewers(const ngx_rtmp_cluster_viewers_t *v)
{
    ngx_rtmp_cluster_stream_http = v;
}


void *
ngx_rtmp_cluster_stream_viewers_ctx(ngx_rtmp_cluster_stream_t *st)
{
    return st->viewers_ctx;
}


void
ngx_rtmp_cluster_stream_set_viewers_ctx(ngx_rtmp_cluster_stream_t *st,
    void *ctx)
{
    st->viewers_ctx = ctx;
}


ngx_uint_t
ngx_rtmp_cluster_stream_nviewers(ngx_rtmp_cluster_stream_t *st)
{
    return st->nviewers;
}


/* the session whose media the stream's players get now, or NULL */

ngx_rtmp_session_t *
ngx_rtmp_cluster_stream_feed(ngx_rtmp_cluster_stream_t *st)
{
    if (st->publisher) {
        return st->publisher->data;
    }

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->upstream
        && st->state == NGX_RTMP_CLUSTER_LIVE)
    {
        return st->upstream;
    }

    return NULL;
}


ngx_rtmp_cluster_stream_t *
ngx_rtmp_cluster_stream_lookup(ngx_rtmp_cluster_app_conf_t *cacf,
    u_char *name)
{
    if (!ngx_rtmp_cluster_stream_ready) {
        return NULL;
    }

    return ngx_rtmp_cluster_stream_find(cacf, name);
}


/*
 * A worker shutting down: its streams whose only players are other
 * workers' relays end at once (those workers pull elsewhere).
 */

void
ngx_rtmp_cluster_stream_shutdown(void)
{
    ngx_queue_t                *q, *next;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_stream_ready) {
        return;
    }

    for (q = ngx_queue_head(&ngx_rtmp_cluster_streams);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_streams);
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        if (st->nplayers == st->ninner && st->publisher == NULL) {
            ngx_rtmp_cluster_stream_drop_relays(st);
        }
    }
}


/*
 * While a worker shuts down after a reload, it keeps its players: each
 * stream it pulls for them moves to the owner a worker of the new cycle
 * has become (see ngx_rtmp_cluster_owner()), so the host pulls it once
 * again, and a failure upstream is the new owner's to recover from.
 */

void
ngx_rtmp_cluster_stream_exiting(void)
{
    ngx_pid_t                   owner;
    ngx_queue_t                *q, *next;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_stream_ready) {
        return;
    }

    for (q = ngx_queue_head(&ngx_rtmp_cluster_streams);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_streams);
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        if (st->kind == NGX_RTMP_CLUSTER_PUBLISH || st->owner != ngx_pid
            || st->nplayers == 0)
        {
            continue;
        }

        owner = ngx_rtmp_cluster_owner(st->zone, &st->key, 0, 0);

        if (owner == 0 || owner == ngx_pid
            || ngx_rtmp_cluster_worker_target(&st->relay, owner,
                                              st->cctx.srv_conf)
               != NGX_OK)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: \"%V/%V\" now relayed from worker %P, its "
                      "new owner", &st->app, &st->name, owner);

        ngx_rtmp_cluster_stream_detach(st, 1);

        st->owner = owner;
        ngx_rtmp_cluster_record_owner(st->record, owner);

        st->relaying = 1;
        st->relay_next = 1;

        ngx_rtmp_cluster_stream_next(st);
    }
}


static ngx_int_t
ngx_rtmp_cluster_stream_play_path(ngx_rtmp_cluster_stream_t *st,
    ngx_pool_t *pool, ngx_str_t *path)
{
    u_char  *p;

    path->len = st->name.len + (st->args.len ? 1 + st->args.len : 0);
    path->data = ngx_pnalloc(pool, path->len);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path->data, st->name.data, st->name.len);

    if (st->args.len) {
        *p++ = '?';
        ngx_memcpy(p, st->args.data, st->args.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_rtmp_cluster_stream_tc_url(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t, ngx_pool_t *pool, ngx_str_t *url)
{
    u_char  *p;

    url->len = sizeof("rtmp://") - 1 + t->name.len + 1 + st->app.len;
    url->data = ngx_pnalloc(pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(url->data, "rtmp://%V/%V", &t->name, &st->app);
    url->len = p - url->data;

    return NGX_OK;
}


/*
 * The outgoing session of a pull: as the relay module's own, but with
 * no player linked to it, so its end leaves players attached.  It is a
 * member of the stream (its upstream), and keeps copies of everything
 * it refers to: it may close after the stream went.
 */

static ngx_int_t
ngx_rtmp_cluster_stream_pull(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t)
{
    ngx_int_t                 rc;
    ngx_err_t                 err;
    ngx_str_t                *name;
    ngx_pool_t               *pool;
    ngx_connection_t         *c;
    ngx_rtmp_session_t       *rs;
    struct sockaddr          *sockaddr;
    ngx_rtmp_conf_ctx_t      *addr_ctx;
    ngx_rtmp_addr_conf_t     *addr_conf;
    ngx_rtmp_relay_ctx_t     *rctx;
    ngx_rtmp_cluster_ctx_t   *ctx;
    ngx_peer_connection_t    *pc;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rctx = ngx_pcalloc(pool, sizeof(ngx_rtmp_relay_ctx_t));
    pc = ngx_pcalloc(pool, sizeof(ngx_peer_connection_t));
    addr_conf = ngx_pcalloc(pool, sizeof(ngx_rtmp_addr_conf_t));
    addr_ctx = ngx_pcalloc(pool, sizeof(ngx_rtmp_conf_ctx_t));
    name = ngx_palloc(pool, sizeof(ngx_str_t));
    sockaddr = ngx_palloc(pool, t->socklen);

    if (rctx == NULL || pc == NULL || addr_conf == NULL || addr_ctx == NULL
        || name == NULL || sockaddr == NULL)
    {
        goto failed;
    }

    rctx->name.data = ngx_pstrdup(pool, &st->name);
    rctx->name.len = st->name.len;
    rctx->app.data = ngx_pstrdup(pool, &st->app);
    rctx->app.len = st->app.len;
    rctx->url.data = ngx_pstrdup(pool, &t->name);
    rctx->url.len = t->name.len;

    if (rctx->name.data == NULL || rctx->app.data == NULL
        || rctx->url.data == NULL
        || ngx_rtmp_cluster_stream_play_path(st, pool, &rctx->play_path)
           != NGX_OK
        || ngx_rtmp_cluster_stream_tc_url(st, t, pool, &rctx->tc_url) != NGX_OK)
    {
        goto failed;
    }

    *name = rctx->url;
    ngx_memcpy(sockaddr, &t->sockaddr, t->socklen);

    rctx->live = 1;
    rctx->tag = &ngx_rtmp_cluster_module;
    rctx->publish = rctx;       /* a pull, for the relay module */
    rctx->log = *ngx_cycle->log;

    pc->log = &rctx->log;
    pc->get = ngx_rtmp_cluster_stream_peer_get;
    pc->free = ngx_rtmp_cluster_stream_peer_free;
    pc->name = name;
    pc->socklen = t->socklen;
    pc->sockaddr = sockaddr;

    if (t->worker) {
        /*
         * Another worker's socket: it may be gone by now (the worker
         * exited after we read it as the owner), and nginx logs a
         * connect() to a missing path at "crit".  That is no fault of
         * the host: said here at "info", and the caller logs the failure.
         */
        rctx->log.log_level = NGX_LOG_ALERT;
    }

    rc = ngx_event_connect_peer(pc);
    err = ngx_socket_errno;

    rctx->log.log_level = ngx_cycle->log->log_level;

    if (rc != NGX_OK && rc != NGX_AGAIN) {

        if (t->worker && rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, err,
                          "cluster: connect() to the socket of worker %P "
                          "failed", t->worker);
        }

        goto failed;
    }

    c = pc->connection;
    c->pool = pool;
    c->addr_text = *name;

    if (pc->sockaddr->sa_family != AF_UNIX) {
        /* connect, createStream and play are small writes in a row */
        (void) ngx_tcp_nodelay(c);
    }

    addr_conf->ctx = addr_ctx;
    addr_ctx->main_conf = st->cctx.main_conf;
    addr_ctx->srv_conf = st->cctx.srv_conf;
    ngx_str_set(&addr_conf->addr_text, "ngx-cluster");

    rs = ngx_rtmp_init_session(c, addr_conf);
    if (rs == NULL) {
        /* the connection and its pool are gone */
        return NGX_ERROR;
    }

    rs->app_conf = st->cctx.app_conf;
    rs->relay = 1;

    /*
     * a relay from the owner worker publishes here as nginx-rtmp's
     * auto-pushed sessions do: the hls (and exec) modules leave it
     * alone, so only the worker with the real upstream writes segments
     */
    rs->auto_pushed = (t->worker != 0);
    ngx_str_set(&rs->flashver, "ngx-cluster-edge");

    rctx->session = rs;
    ngx_rtmp_set_ctx(rs, rctx, ngx_rtmp_relay_module);

    ctx = ngx_rtmp_cluster_session_ctx(rs);
    if (ctx == NULL) {
        ngx_rtmp_finalize_session(rs);
        return NGX_ERROR;
    }

    /* the session is a member of the stream until it closes */

    ctx->member.role = NGX_RTMP_CLUSTER_UPSTREAM;
    ctx->member.stream = st;
    st->refs++;

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    st->upstream = rs;

    /* a new upstream under the players: its timestamps are rebased */
    ngx_rtmp_cluster_timeline_restart(&st->timeline);

    ngx_rtmp_client_handshake(rs, 1);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);
    return NGX_ERROR;
}


/* a push of the local publisher, through the relay module */

static ngx_int_t
ngx_rtmp_cluster_stream_push(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t)
{
    ngx_int_t                  rc;
    ngx_pool_t                *pool;
    ngx_rtmp_session_t        *ps, *rs;
    ngx_rtmp_relay_ctx_t      *rctx;
    ngx_rtmp_cluster_ctx_t    *ctx;
    ngx_rtmp_relay_target_t    target;

    if (t->origin == NULL || st->publisher == NULL) {
        /* pushes go to configured origins only */
        return NGX_ERROR;
    }

    ps = st->publisher->data;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&target, sizeof(target));

    target.url = t->origin->url;
    target.app = st->app;
    target.tag = &ngx_rtmp_cluster_module;

    if (ngx_rtmp_cluster_stream_play_path(st, pool, &target.play_path) != NGX_OK
        || ngx_rtmp_cluster_stream_tc_url(st, t, pool, &target.tc_url)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the relay copies what it keeps */
    rc = ngx_rtmp_relay_push(ps, &st->name, &target);

    ngx_destroy_pool(pool);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the newest push session heads the publisher's list */

    rctx = ngx_rtmp_get_module_ctx(ps, ngx_rtmp_relay_module);
    if (rctx == NULL || rctx->play == NULL || rctx->play->session == NULL) {
        return NGX_ERROR;
    }

    rs = rctx->play->session;

    ctx = ngx_rtmp_cluster_session_ctx(rs);
    if (ctx == NULL) {
        ngx_rtmp_finalize_session(rs);
        return NGX_ERROR;
    }

    ctx->member.role = NGX_RTMP_CLUSTER_UPSTREAM;
    ctx->member.stream = st;
    st->refs++;

    st->upstream = rs;

    return NGX_OK;
}


static ngx_int_t
ngx_rtmp_cluster_stream_peer_get(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_rtmp_cluster_stream_peer_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
}
