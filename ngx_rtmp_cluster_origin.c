
/*
 * ngx_rtmp_cluster: the origin role's policy.
 *
 * Streams published here are kept in the zone's registry, which the
 * coworker API answers from.  A play of a stream that is not published
 * on this host is suspended while the coworkers (or stream managers) are
 * asked (ngx_rtmp_cluster_lookup.c); found elsewhere, the player gets an
 * RTMP 302 or the stream is proxied (the engine pulls it, this file is
 * its source: the one address found); found nowhere, the player waits
 * for a publisher or is told the stream does not exist.  A play of a
 * stream published on another worker of this host is relayed from that
 * worker by the engine.
 *
 * Plays that wait for a publisher (cluster_not_found wait) look again:
 * the waiting plays of a stream on this worker share one watch, which
 * asks about once a second through the lookups' single flight and cache,
 * and answers them all with the 302 (or the proxy) as soon as the stream
 * is found elsewhere; a wait ends after cluster_wait_timeout.
 *
 * A publish of a stream live on another origin may be refused: asked of
 * the stream managers (a lease, ngx_rtmp_cluster_managers.c), else of the
 * coworkers.  The answer comes through a callback; the publish waits,
 * suspended, as the header describes.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_REDIRECT_LINGER  3000   /* ms after a 302 */
#define NGX_RTMP_CLUSTER_WAIT_LOOK        1000   /* ms between lookups */
#define NGX_RTMP_CLUSTER_WAIT_CACHED      100    /* after a cached answer */


/*
 * A play or publish waiting for an answer: a copy of the command, and how
 * it goes on (the caller's: nginx-rtmp's next handler, as the module
 * chains it)
 */
typedef struct {
    ngx_rtmp_play_t                *play;
    ngx_rtmp_publish_t             *publish;
    ngx_rtmp_play_pt                resume_play;
    ngx_rtmp_publish_pt             resume_publish;
    ngx_str_t                       key;            /* a lease's stream */
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
} ngx_rtmp_cluster_suspend_t;


/* a publisher's stream in the registry, removed when it leaves */
typedef struct {
    ngx_str_t                       key;
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
    unsigned                        registered:1;
} ngx_rtmp_cluster_registration_t;


/*
 * The plays of one stream waiting for a publisher on this worker: one
 * lookup at a time for all of them.  The cache's "not found" time sets
 * how often coworkers are really asked; a cached answer is checked again
 * soon, so that a lookup starts as soon as it expires.
 */
typedef struct {
    ngx_queue_t                     queue;          /* the worker's */
    ngx_queue_t                     plays;          /* of origin ctxs */
    ngx_rtmp_cluster_waiter_t       waiter;
    ngx_event_t                     look;
    ngx_connection_t                dummy;
    unsigned                        busy:1;         /* answering */
    u_char                          host_buf[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_origin_watch_t;


struct ngx_rtmp_cluster_origin_ctx_s {
    ngx_rtmp_session_t             *session;
    ngx_rtmp_cluster_waiter_t       waiter;         /* a lookup */
    ngx_rtmp_cluster_suspend_t      suspend;
    ngx_rtmp_cluster_registration_t registration;
    ngx_rtmp_cluster_lease_t       *lease;
    ngx_event_t                     close_evt;      /* after a 302 */
    ngx_rtmp_cluster_origin_watch_t *watch;         /* waiting, in it */
    ngx_queue_t                     wait_queue;
    ngx_event_t                     wait_evt;       /* the wait's limit */
    unsigned                        played:1;       /* by nginx-rtmp */
};


/* the proxy source's state of a stream: the one address to pull from */
typedef struct {
    ngx_rtmp_cluster_target_t       target;
    unsigned                        given:1;        /* in this round */
} ngx_rtmp_cluster_proxy_ctx_t;


static ngx_rtmp_cluster_origin_ctx_t *ngx_rtmp_cluster_origin_ctx(
    ngx_rtmp_session_t *s);
static ngx_int_t ngx_rtmp_cluster_origin_ask(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_origin_ctx_t *octx, u_char *name,
    ngx_rtmp_cluster_lookup_pt handler, ngx_uint_t fresh);
static void ngx_rtmp_cluster_origin_play_answer(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_origin_play_decide(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_origin_play_relay(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, const ngx_rtmp_cluster_source_t *source,
    void *data);
static ngx_int_t ngx_rtmp_cluster_origin_wait(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_cluster_origin_ctx_t *octx);
static void ngx_rtmp_cluster_origin_wait_end(
    ngx_rtmp_cluster_origin_ctx_t *octx);
static void ngx_rtmp_cluster_origin_wait_limit(ngx_event_t *ev);
static ngx_rtmp_cluster_origin_watch_t *ngx_rtmp_cluster_origin_watch_find(
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *key);
static void ngx_rtmp_cluster_origin_watch_look(ngx_event_t *ev);
static void ngx_rtmp_cluster_origin_watch_answer(
    ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc);
static void ngx_rtmp_cluster_origin_watch_found(
    ngx_rtmp_cluster_origin_watch_t *watch);
static void ngx_rtmp_cluster_origin_watch_here(
    ngx_rtmp_cluster_origin_watch_t *watch, ngx_pid_t pid);
static void ngx_rtmp_cluster_origin_watch_free(
    ngx_rtmp_cluster_origin_watch_t *watch);
static ngx_int_t ngx_rtmp_cluster_origin_check_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_origin_ctx_t *octx);
static void ngx_rtmp_cluster_origin_publish_answer(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_origin_publish_local(ngx_rtmp_session_t *s,
    ngx_str_t *key);
static void ngx_rtmp_cluster_origin_lease_answer(void *data, ngx_int_t rc,
    u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_origin_publish_resume(
    ngx_rtmp_cluster_origin_ctx_t *octx);
static ngx_int_t ngx_rtmp_cluster_origin_refuse_publish(ngx_rtmp_session_t *s,
    ngx_str_t *key, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_origin_self(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *host, in_port_t *port,
    u_char *buf);
static ngx_int_t ngx_rtmp_cluster_origin_is_self(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_waiter_t *w);
static ngx_int_t ngx_rtmp_cluster_origin_redirect(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_cluster_waiter_t *w);
static void ngx_rtmp_cluster_origin_close_handler(ngx_event_t *ev);
static ngx_int_t ngx_rtmp_cluster_origin_proxy_init(
    ngx_rtmp_cluster_stream_t *st, void *data);
static void ngx_rtmp_cluster_origin_proxy_round(ngx_rtmp_cluster_stream_t *st);
static ngx_int_t ngx_rtmp_cluster_origin_proxy_next(
    ngx_rtmp_cluster_stream_t *st, ngx_rtmp_cluster_target_t *t);
static void ngx_rtmp_cluster_origin_proxy_free(ngx_rtmp_cluster_stream_t *st);


static ngx_queue_t  ngx_rtmp_cluster_origin_watches;


/* an origin's pull of a stream a coworker has: that address only */

static const ngx_rtmp_cluster_source_t  ngx_rtmp_cluster_origin_proxy_source = {
    ngx_rtmp_cluster_origin_proxy_init,
    ngx_rtmp_cluster_origin_proxy_round,
    ngx_rtmp_cluster_origin_proxy_next,
    NULL,                                   /* 302s are not followed */
    ngx_rtmp_cluster_origin_proxy_free
};


/*
 * The address other hosts reach this application's RTMP server at: the
 * configured one, else the listen address, else (a wildcard or loopback
 * listen) the host the asker used to reach us, as SRS answers.
 */

ngx_int_t
ngx_rtmp_cluster_advertised(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_rtmp_core_srv_conf_t *cscf, ngx_str_t *coworker, ngx_str_t *host,
    in_port_t *port)
{
    u_char                     *p;
    ngx_uint_t                  i;
    struct sockaddr_in         *sin;
    ngx_rtmp_listen_t          *ls;
    ngx_rtmp_core_main_conf_t  *cmcf;
    static u_char               text[NGX_SOCKADDR_STRLEN];

    *port = 0;
    host->len = 0;

    cmcf = ngx_rtmp_core_main_conf;
    ls = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        if (ls[i].ctx->srv_conf[ngx_rtmp_core_module.ctx_index] == cscf) {
            break;
        }
    }

    if (i < cmcf->listen.nelts) {
        *port = ngx_inet_get_port((struct sockaddr *) ls[i].sockaddr);

        sin = (struct sockaddr_in *) ls[i].sockaddr;

        if (sin->sin_family == AF_INET
            && sin->sin_addr.s_addr != INADDR_ANY
            && (ntohl(sin->sin_addr.s_addr) >> 24) != 127)
        {
            host->len = ngx_sock_ntop((struct sockaddr *) sin,
                                      sizeof(struct sockaddr_in), text,
                                      sizeof(text), 0);
            host->data = text;
        }
    }

    if (cacf->advertise.len) {
        p = ngx_strlchr(cacf->advertise.data,
                        cacf->advertise.data + cacf->advertise.len, ':');

        host->data = cacf->advertise.data;
        host->len = (p ? p : cacf->advertise.data + cacf->advertise.len)
                    - cacf->advertise.data;

        if (p) {
            *port = (in_port_t) ngx_atoi(p + 1, cacf->advertise.data
                                                + cacf->advertise.len - p - 1);
        }
    }

    if (host->len == 0 && coworker && coworker->len) {
        p = ngx_strlchr(coworker->data, coworker->data + coworker->len, ':');
        host->data = coworker->data;
        host->len = (p ? p : coworker->data + coworker->len) - coworker->data;
    }

    if (host->len == 0) {
        ngx_str_set(host, "127.0.0.1");
    }

    return *port ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_rtmp_cluster_origin_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_rtmp_cluster_origin_watches);

    return NGX_OK;
}


static ngx_rtmp_cluster_origin_ctx_t *
ngx_rtmp_cluster_origin_ctx(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t         *ctx;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->origin) {
        return ctx->origin;
    }

    octx = ngx_pcalloc(s->connection->pool,
                       sizeof(ngx_rtmp_cluster_origin_ctx_t));
    if (octx == NULL) {
        return NULL;
    }

    octx->session = s;
    ctx->origin = octx;

    return octx;
}


/*
 * Where is "app/name"?  The lookup of octx's waiter: the answer at once
 * (NGX_OK found, NGX_DECLINED not found), or NGX_AGAIN and handler()
 * later; NGX_BUSY: a command waits already.
 */

static ngx_int_t
ngx_rtmp_cluster_origin_ask(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_origin_ctx_t *octx, u_char *name,
    ngx_rtmp_cluster_lookup_pt handler, ngx_uint_t fresh)
{
    u_char                     *p, *last;
    ngx_rtmp_cluster_waiter_t  *w;

    w = &octx->waiter;

    if (w->flight) {
        return NGX_BUSY;
    }

    w->data = octx;
    w->handler = handler;
    w->cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    w->fresh = fresh;

    if (ngx_rtmp_cluster_key(&s->app, name, &w->key, w->key_buf) != NGX_OK) {
        return NGX_DECLINED;
    }

    w->app_len = s->app.len;

    /* the "ip" parameter: the host of the player's tcUrl */

    w->tc_host.len = 0;

    if (s->tc_url.len > sizeof("rtmp://") - 1) {
        p = s->tc_url.data + sizeof("rtmp://") - 1;
        last = s->tc_url.data + s->tc_url.len;

        w->tc_host.data = p;

        while (p < last && *p != ':' && *p != '/') {
            p++;
        }

        w->tc_host.len = p - w->tc_host.data;
    }

    if (w->cacf->coworkers == NULL && w->cacf->managers == NULL) {
        return NGX_DECLINED;
    }

    return ngx_rtmp_cluster_lookup(w);
}


/* a play: here, relayed from another worker, looked up, or waiting */

ngx_int_t
ngx_rtmp_cluster_origin_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_play_pt resume)
{
    ngx_pid_t                       pid, owner;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_origin_ctx_t  *octx;
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    octx = ngx_rtmp_cluster_origin_ctx(s);
    if (octx == NULL || zone == NULL) {
        return NGX_ERROR;
    }

    octx->suspend.resume_play = resume;

    if (ngx_rtmp_cluster_key(&s->app, v->name, &key, key_buf) != NGX_OK) {
        return NGX_DECLINED;
    }

    pid = ngx_rtmp_cluster_registry_find(zone, &key);

    if (pid == ngx_pid) {
        return NGX_DECLINED;
    }

    if (pid) {
        /*
         * published on another worker of this host: relayed from it, if
         * it can (relaying on, its sockets listen)
         */

        owner = ngx_rtmp_cluster_owner(zone, &key, 0, 0);

        if (owner == 0 || owner == ngx_pid) {
            return NGX_DECLINED;
        }

        return ngx_rtmp_cluster_origin_play_relay(s, v, NULL, NULL);
    }

    rc = ngx_rtmp_cluster_origin_ask(s, octx, v->name,
                                     ngx_rtmp_cluster_origin_play_answer, 0);

    if (rc == NGX_BUSY) {
        return NGX_DECLINED;
    }

    if (rc != NGX_AGAIN) {
        return ngx_rtmp_cluster_origin_play_decide(s, v, &octx->waiter, rc);
    }

    /* suspended: the play goes on when the answer comes */

    if (octx->suspend.play == NULL) {
        octx->suspend.play = ngx_palloc(s->connection->pool,
                                        sizeof(ngx_rtmp_play_t));
        if (octx->suspend.play == NULL) {
            ngx_rtmp_cluster_lookup_cancel(&octx->waiter);
            return NGX_ERROR;
        }
    }

    *octx->suspend.play = *v;

    return NGX_OK;
}


static void
ngx_rtmp_cluster_origin_play_answer(ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    ngx_rtmp_session_t             *s;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    octx = w->data;
    s = octx->session;

    rc = ngx_rtmp_cluster_origin_play_decide(s, octx->suspend.play, w, rc);

    if (rc == NGX_DECLINED) {
        rc = octx->suspend.resume_play(s, octx->suspend.play);
    }

    if (rc == NGX_ERROR) {
        ngx_rtmp_finalize_session(s);
    }
}


/*
 * The answer of a play's lookup: found elsewhere, a 302 (NGX_OK: answered
 * here) or a proxy pull (NGX_DECLINED: nginx-rtmp's play follows, the
 * player joins the pull); not found, refused (NGX_OK) or waiting for a
 * publisher (NGX_DECLINED).
 */

static ngx_int_t
ngx_rtmp_cluster_origin_play_decide(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = w->cacf;

    if (rc == NGX_OK && ngx_rtmp_cluster_origin_is_self(s, w)) {
        rc = NGX_DECLINED;
    }

    if (rc == NGX_OK) {
        if (cacf->found == NGX_RTMP_CLUSTER_FOUND_PROXY) {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "cluster: \"%V\" is on %s:%d, proxying it",
                          &w->key, w->addr, (int) w->port);

            return ngx_rtmp_cluster_origin_play_relay(s, v,
                                     &ngx_rtmp_cluster_origin_proxy_source,
                                     w);
        }

        return ngx_rtmp_cluster_origin_redirect(s, v, w);
    }

    if (cacf->not_found == NGX_RTMP_CLUSTER_MISS_REJECT) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: \"%V\" is not published in the cluster",
                      &w->key);

        (void) ngx_rtmp_send_status(s, "NetStream.Play.StreamNotFound",
                                    "error", "No such stream");
        ngx_rtmp_finalize_session(s);

        return NGX_OK;
    }

    /* as nginx-rtmp does: wait for a publisher, and look again */

    if (ngx_rtmp_cluster_origin_wait(s, v, w->data) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * A play about to wait for a publisher (nginx-rtmp's play follows): it
 * joins the watch of its stream on this worker, and is given up after
 * cluster_wait_timeout.
 */

static ngx_int_t
ngx_rtmp_cluster_origin_wait(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_cluster_origin_ctx_t *octx)
{
    ngx_rtmp_cluster_waiter_t        *w;
    ngx_rtmp_cluster_origin_watch_t  *watch;

    if (octx->suspend.play == NULL) {
        octx->suspend.play = ngx_palloc(s->connection->pool,
                                        sizeof(ngx_rtmp_play_t));
        if (octx->suspend.play == NULL) {
            return NGX_ERROR;
        }
    }

    if (v != octx->suspend.play) {
        *octx->suspend.play = *v;
    }

    /* nginx-rtmp answers the play (Play.Start) and the player waits */
    octx->played = 1;

    if (octx->watch) {
        return NGX_OK;
    }

    w = &octx->waiter;

    watch = ngx_rtmp_cluster_origin_watch_find(w->cacf, &w->key);

    if (watch == NULL) {
        watch = ngx_calloc(sizeof(ngx_rtmp_cluster_origin_watch_t),
                           s->connection->log);
        if (watch == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&watch->plays);

        /* the lookup of the first play, copied: it may leave first */

        watch->waiter.handler = ngx_rtmp_cluster_origin_watch_answer;
        watch->waiter.data = watch;
        watch->waiter.cacf = w->cacf;
        watch->waiter.app_len = w->app_len;
        watch->waiter.key.data = watch->waiter.key_buf;
        watch->waiter.key.len = w->key.len;
        ngx_memcpy(watch->waiter.key_buf, w->key.data, w->key.len);

        watch->waiter.tc_host.data = watch->host_buf;
        watch->waiter.tc_host.len = ngx_min(w->tc_host.len,
                                            sizeof(watch->host_buf));
        ngx_memcpy(watch->host_buf, w->tc_host.data,
                   watch->waiter.tc_host.len);

        watch->dummy.fd = (ngx_socket_t) -1;
        watch->dummy.data = watch;

        watch->look.data = &watch->dummy;
        watch->look.log = ngx_cycle->log;
        watch->look.handler = ngx_rtmp_cluster_origin_watch_look;
        watch->look.cancelable = 1;

        ngx_queue_insert_tail(&ngx_rtmp_cluster_origin_watches,
                              &watch->queue);

        ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_LOOK);
    }

    ngx_queue_insert_tail(&watch->plays, &octx->wait_queue);
    octx->watch = watch;

    octx->wait_evt.data = s->connection;
    octx->wait_evt.log = s->connection->log;
    octx->wait_evt.handler = ngx_rtmp_cluster_origin_wait_limit;
    octx->wait_evt.cancelable = 1;

    ngx_add_timer(&octx->wait_evt, w->cacf->wait_timeout);

    return NGX_OK;
}


/* the play waits no more: served, answered, or gone */

static void
ngx_rtmp_cluster_origin_wait_end(ngx_rtmp_cluster_origin_ctx_t *octx)
{
    ngx_rtmp_cluster_origin_watch_t  *watch;

    if (octx->wait_evt.timer_set) {
        ngx_del_timer(&octx->wait_evt);
    }

    watch = octx->watch;
    if (watch == NULL) {
        return;
    }

    ngx_queue_remove(&octx->wait_queue);
    octx->watch = NULL;

    if (ngx_queue_empty(&watch->plays) && !watch->busy) {
        ngx_rtmp_cluster_origin_watch_free(watch);
    }
}


/* cluster_wait_timeout: no publisher came, none was found */

static void
ngx_rtmp_cluster_origin_wait_limit(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_rtmp_session_t             *s;
    ngx_rtmp_cluster_ctx_t         *ctx;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    c = ev->data;
    s = c->data;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    octx = ctx->origin;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "cluster: \"%V\" was not published in the cluster "
                  "within %Mms (cluster_wait_timeout)", &octx->waiter.key,
                  octx->waiter.cacf->wait_timeout);

    ngx_rtmp_cluster_origin_wait_end(octx);

    (void) ngx_rtmp_send_status(s, "NetStream.Play.StreamNotFound",
                                "error", "No such stream");
    ngx_rtmp_finalize_session(s);
}


static ngx_rtmp_cluster_origin_watch_t *
ngx_rtmp_cluster_origin_watch_find(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_str_t *key)
{
    ngx_queue_t                      *q;
    ngx_rtmp_cluster_origin_watch_t  *watch;

    for (q = ngx_queue_head(&ngx_rtmp_cluster_origin_watches);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_origin_watches);
         q = ngx_queue_next(q))
    {
        watch = ngx_queue_data(q, ngx_rtmp_cluster_origin_watch_t, queue);

        if (watch->waiter.cacf == cacf && watch->waiter.key.len == key->len
            && ngx_strncmp(watch->waiter.key.data, key->data, key->len) == 0)
        {
            return watch;
        }
    }

    return NULL;
}


/*
 * A watch looks again: published on this host since (a worker's
 * registry), else where the lookup says.
 */

static void
ngx_rtmp_cluster_origin_watch_look(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    ngx_pid_t                         pid;
    ngx_rtmp_cluster_zone_t          *zone;
    ngx_rtmp_cluster_app_conf_t      *cacf;
    ngx_rtmp_cluster_origin_watch_t  *watch;

    watch = ((ngx_connection_t *) ev->data)->data;
    cacf = watch->waiter.cacf;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (zone == NULL || ngx_exiting || ngx_terminate) {
        /* a worker shutting down looks no more; the limits still hold */
        return;
    }

    pid = ngx_rtmp_cluster_registry_find(zone, &watch->waiter.key);

    if (pid) {
        ngx_rtmp_cluster_origin_watch_here(watch, pid);
        return;
    }

    if (cacf->coworkers == NULL && cacf->managers == NULL) {
        ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_LOOK);
        return;
    }

    rc = ngx_rtmp_cluster_lookup(&watch->waiter);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_OK) {
        ngx_rtmp_cluster_origin_watch_found(watch);
        return;
    }

    /* a cached "not found": a lookup starts soon after it expires */
    ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_CACHED);
}


static void
ngx_rtmp_cluster_origin_watch_answer(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc)
{
    ngx_rtmp_cluster_origin_watch_t *watch = w->data;

    if (rc == NGX_OK) {
        ngx_rtmp_cluster_origin_watch_found(watch);
        return;
    }

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_LOOK);
    }
}


/*
 * Found elsewhere: every waiting play gets what it would have got at
 * once, the 302 or the proxy pull (the player is nginx-rtmp's live
 * subscriber already, and gets the pull's media).
 */

static void
ngx_rtmp_cluster_origin_watch_found(ngx_rtmp_cluster_origin_watch_t *watch)
{
    ngx_int_t                       rc;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_rtmp_session_t             *s;
    ngx_rtmp_cluster_waiter_t      *w;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    q = ngx_queue_head(&watch->plays);
    octx = ngx_queue_data(q, ngx_rtmp_cluster_origin_ctx_t, wait_queue);

    if (ngx_rtmp_cluster_origin_is_self(octx->session, &watch->waiter)) {
        ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_LOOK);
        return;
    }

    n = 0;
    watch->busy = 1;

    while (!ngx_queue_empty(&watch->plays)) {
        q = ngx_queue_head(&watch->plays);
        octx = ngx_queue_data(q, ngx_rtmp_cluster_origin_ctx_t, wait_queue);
        s = octx->session;

        ngx_rtmp_cluster_origin_wait_end(octx);

        w = &octx->waiter;
        ngx_memcpy(w->addr, watch->waiter.addr, sizeof(w->addr));
        w->port = watch->waiter.port;

        if (w->cacf->found == NGX_RTMP_CLUSTER_FOUND_PROXY) {
            rc = ngx_rtmp_cluster_origin_play_relay(s, octx->suspend.play,
                                     &ngx_rtmp_cluster_origin_proxy_source,
                                     w);
        } else {
            rc = ngx_rtmp_cluster_origin_redirect(s, octx->suspend.play, w);
        }

        if (rc == NGX_ERROR) {
            ngx_rtmp_finalize_session(s);
        }

        n++;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: \"%V\" is on %s:%d now: %s %ui waiting "
                  "play(s)", &watch->waiter.key, watch->waiter.addr,
                  (int) watch->waiter.port,
                  watch->waiter.cacf->found == NGX_RTMP_CLUSTER_FOUND_PROXY
                  ? "proxying it for" : "redirecting", n);

    ngx_rtmp_cluster_origin_watch_free(watch);
}


/*
 * Published on this host meanwhile.  On this worker, nginx-rtmp's live
 * module gives the waiting players the stream; on another, they are
 * relayed from it, as a play is when it comes (if that worker relays).
 */

static void
ngx_rtmp_cluster_origin_watch_here(ngx_rtmp_cluster_origin_watch_t *watch,
    ngx_pid_t pid)
{
    ngx_pid_t                       owner;
    ngx_queue_t                    *q;
    ngx_rtmp_session_t             *s;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    if (pid != ngx_pid) {
        zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
        owner = ngx_rtmp_cluster_owner(zone, &watch->waiter.key, 0, 0);

        if (owner == 0 || owner == ngx_pid) {
            /* that worker does not relay: they wait, as nginx-rtmp's */
            ngx_add_timer(&watch->look, NGX_RTMP_CLUSTER_WAIT_LOOK);
            return;
        }
    }

    watch->busy = 1;

    while (!ngx_queue_empty(&watch->plays)) {
        q = ngx_queue_head(&watch->plays);
        octx = ngx_queue_data(q, ngx_rtmp_cluster_origin_ctx_t, wait_queue);
        s = octx->session;

        ngx_rtmp_cluster_origin_wait_end(octx);

        if (pid != ngx_pid
            && ngx_rtmp_cluster_origin_play_relay(s, octx->suspend.play,
                                                  NULL, NULL)
               == NGX_ERROR)
        {
            ngx_rtmp_finalize_session(s);
        }
    }

    ngx_rtmp_cluster_origin_watch_free(watch);
}


static void
ngx_rtmp_cluster_origin_watch_free(ngx_rtmp_cluster_origin_watch_t *watch)
{
    if (watch->waiter.flight) {
        ngx_rtmp_cluster_lookup_cancel(&watch->waiter);
    }

    if (watch->look.timer_set) {
        ngx_del_timer(&watch->look);
    }

    ngx_queue_remove(&watch->queue);
    ngx_free(watch);
}


/*
 * The engine pulls the stream for this player: from the worker that has
 * it (source NULL) or from a coworker (the proxy source).  NGX_DECLINED:
 * nginx-rtmp's play follows; the player is a live subscriber.
 */

static ngx_int_t
ngx_rtmp_cluster_origin_play_relay(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    const ngx_rtmp_cluster_source_t *source, void *data)
{
    u_char                  *args;
    ngx_int_t                rc;
    ngx_rtmp_conf_ctx_t      cctx;
    ngx_rtmp_cluster_ctx_t  *ctx;
    u_char                   buf[NGX_RTMP_MAX_ARGS];

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    args = v->args;

    if (args[0] == '\0' && s->args.len) {
        /* no play arguments: connect's (the tcUrl's) */
        ngx_cpystrn(buf, s->args.data,
                    ngx_min(s->args.len + 1, sizeof(buf)));
        args = buf;
    }

    cctx.main_conf = s->main_conf;
    cctx.srv_conf = s->srv_conf;
    cctx.app_conf = s->app_conf;

    ctx->member.inner = s->auto_pushed;

    rc = ngx_rtmp_cluster_stream_play(&cctx, &ctx->member, &s->app, v->name,
                                      args,
                                      source ? NGX_RTMP_CLUSTER_PROXY
                                             : NGX_RTMP_CLUSTER_PULL,
                                      source, data);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
}


/*
 * An HTTP viewer (m) at an origin: a stream published on this host, here
 * or relayed from the worker that has it.  NGX_DECLINED: not published on
 * this host (lookups, 302s and proxying are for RTMP plays and edges).
 */

ngx_int_t
ngx_rtmp_cluster_origin_attach(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name, u_char *args)
{
    ngx_pid_t                     pid, owner;
    ngx_str_t                     key;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_app_conf_t  *cacf;
    u_char                        key_buf[NGX_RTMP_CLUSTER_KEY_LEN];

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    if (ngx_rtmp_cluster_key(app, name, &key, key_buf) != NGX_OK) {
        return NGX_DECLINED;
    }

    cacf = cctx->app_conf[ngx_rtmp_cluster_module.ctx_index];

    pid = ngx_rtmp_cluster_registry_find(zone, &key);

    if (pid == 0 || (pid == ngx_pid
                     && ngx_rtmp_cluster_stream_lookup(cacf, name) == NULL))
    {
        return NGX_DECLINED;
    }

    if (pid != ngx_pid) {
        owner = ngx_rtmp_cluster_owner(zone, &key, 0, 0);

        if (owner == 0 || owner == ngx_pid) {
            /* no relay from the publisher's worker */
            return NGX_DECLINED;
        }
    }

    return ngx_rtmp_cluster_stream_play(cctx, m, app, name, args,
                                        NGX_RTMP_CLUSTER_PULL, NULL, NULL);
}


/* the proxy source */

static ngx_int_t
ngx_rtmp_cluster_origin_proxy_init(ngx_rtmp_cluster_stream_t *st, void *data)
{
    ngx_rtmp_cluster_waiter_t *w = data;

    in_addr_t                      inaddr;
    ngx_rtmp_cluster_proxy_ctx_t  *pctx;

    inaddr = ngx_inet_addr(w->addr, ngx_strlen(w->addr));

    if (inaddr == INADDR_NONE) {
        /* a host name would need a blocking lookup */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: cannot proxy \"%V\" from \"%s\": "
                      "not an IPv4 address", &w->key, w->addr);
        return NGX_ERROR;
    }

    pctx = ngx_calloc(sizeof(ngx_rtmp_cluster_proxy_ctx_t), ngx_cycle->log);
    if (pctx == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_rtmp_cluster_target_inet(&pctx->target, inaddr, w->port);

    ngx_rtmp_cluster_stream_set_source_ctx(st, pctx);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_origin_proxy_round(ngx_rtmp_cluster_stream_t *st)
{
    ngx_rtmp_cluster_proxy_ctx_t  *pctx;

    pctx = ngx_rtmp_cluster_stream_source_ctx(st);
    pctx->given = 0;
}


static ngx_int_t
ngx_rtmp_cluster_origin_proxy_next(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t)
{
    ngx_rtmp_cluster_proxy_ctx_t  *pctx;

    pctx = ngx_rtmp_cluster_stream_source_ctx(st);

    if (pctx->given) {
        return NGX_DONE;
    }

    pctx->given = 1;
    ngx_rtmp_cluster_target_copy(t, &pctx->target);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_origin_proxy_free(ngx_rtmp_cluster_stream_t *st)
{
    ngx_free(ngx_rtmp_cluster_stream_source_ctx(st));
    ngx_rtmp_cluster_stream_set_source_ctx(st, NULL);
}


/*
 * This origin's address for a session of it (a lease, a refusal, a
 * coworker naming us): the advertised one, else the listen address, else
 * (a wildcard listen) the address the session reached us at, which other
 * hosts reach too: never 127.0.0.1 when the peer is on another host.
 */

static void
ngx_rtmp_cluster_origin_self(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *host, in_port_t *port,
    u_char *buf)
{
    ngx_str_t   local;

    local.len = NGX_SOCKADDR_STRLEN;
    local.data = buf;

    /* IPv4 only, as listen addresses are read (a relay's unix socket) */

    if (ngx_connection_local_sockaddr(s->connection, &local, 0) != NGX_OK
        || s->connection->local_sockaddr == NULL
        || s->connection->local_sockaddr->sa_family != AF_INET)
    {
        local.len = 0;
    }

    (void) ngx_rtmp_cluster_advertised(cacf,
               ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module),
               &local, host, port);
}


/* a coworker naming ourselves (a shared or stale entry) is no answer */

static ngx_int_t
ngx_rtmp_cluster_origin_is_self(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_waiter_t *w)
{
    in_port_t   port;
    in_addr_t   a, b;
    ngx_str_t   host;
    u_char      buf[NGX_SOCKADDR_STRLEN];

    ngx_rtmp_cluster_origin_self(s, w->cacf, &host, &port, buf);

    if (port == 0 || port != w->port) {
        return 0;
    }

    /* as numbers when both are addresses: "127.0.0.001" is 127.0.0.1 */

    a = ngx_inet_addr(host.data, host.len);
    b = ngx_inet_addr(w->addr, ngx_strlen(w->addr));

    if (a != INADDR_NONE || b != INADDR_NONE) {
        return a == b;
    }

    return host.len == ngx_strlen(w->addr)
           && ngx_strncasecmp(host.data, w->addr, host.len) == 0;
}


/*
 * RTMP 302.  SRS dialect: after play is answered, on message stream 0,
 * ex.redirect the tcUrl and ex.redirect2 the full URL with the player's
 * arguments.  FMS dialect: ex.redirect the full URL, no play answer.
 * The address is one the lookup's reader accepted (an IP address or a
 * host name, never the unspecified address); the names were checked when
 * the play came.
 */

static ngx_int_t
ngx_rtmp_cluster_origin_redirect(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_cluster_waiter_t *w)
{
    u_char                         *p;
    ngx_str_t                       tc_url, full;
    ngx_rtmp_header_t               h;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    static double  trans;
    static double  code = 302;

    static ngx_rtmp_amf_elt_t  out_ex[] = {

        { NGX_RTMP_AMF_NUMBER,
          ngx_string("code"),
          &code, 0 },

        { NGX_RTMP_AMF_STRING,
          ngx_string("redirect"),
          NULL, 0 },

        { NGX_RTMP_AMF_STRING,
          ngx_string("redirect2"),
          NULL, 0 },
    };

    static ngx_rtmp_amf_elt_t  out_inf[] = {

        { NGX_RTMP_AMF_STRING,
          ngx_string("level"),
          "error", 0 },

        { NGX_RTMP_AMF_STRING,
          ngx_string("code"),
          "NetConnection.Connect.Rejected", 0 },

        { NGX_RTMP_AMF_STRING,
          ngx_string("description"),
          "RTMP 302 Redirect", 0 },

        { NGX_RTMP_AMF_OBJECT,
          ngx_string("ex"),
          out_ex, sizeof(out_ex) },
    };

    static ngx_rtmp_amf_elt_t  out_elts[] = {

        { NGX_RTMP_AMF_STRING,
          ngx_null_string,
          "onStatus", 0 },

        { NGX_RTMP_AMF_NUMBER,
          ngx_null_string,
          &trans, 0 },

        { NGX_RTMP_AMF_NULL,
          ngx_null_string,
          NULL, 0 },

        { NGX_RTMP_AMF_OBJECT,
          ngx_null_string,
          out_inf, sizeof(out_inf) },
    };

    octx = w->data;

    tc_url.len = sizeof("rtmp://:65535/") - 1 + ngx_strlen(w->addr)
                 + s->app.len;
    full.len = tc_url.len + 1 + ngx_strlen(v->name) + 1 + ngx_strlen(v->args);

    tc_url.data = ngx_pnalloc(s->connection->pool, tc_url.len + full.len);
    if (tc_url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(tc_url.data, "rtmp://%s:%d/%V", w->addr, (int) w->port,
                    &s->app);
    tc_url.len = p - tc_url.data;

    full.data = p;
    p = ngx_sprintf(p, "%V/%s", &tc_url, v->name);

    if (v->args[0]) {
        p = ngx_sprintf(p, "?%s", v->args);
    }

    full.len = p - full.data;

    /* three small messages: Nagle would hold the later ones for an ack */
    (void) ngx_tcp_nodelay(s->connection);

    if (w->cacf->redirect == NGX_RTMP_CLUSTER_REDIRECT_SRS) {

        /* a play that waited was answered by nginx-rtmp already */

        if (!octx->played
            && (ngx_rtmp_send_status(s, "NetStream.Play.Reset", "status",
                                     "Playing and resetting") != NGX_OK
                || ngx_rtmp_send_status(s, "NetStream.Play.Start", "status",
                                        "Started playing") != NGX_OK))
        {
            return NGX_ERROR;
        }

        out_ex[1].data = tc_url.data;
        out_ex[1].len = tc_url.len;
        out_ex[2].data = full.data;
        out_ex[2].len = full.len;
        out_inf[3].len = sizeof(out_ex);

    } else {
        out_ex[1].data = full.data;
        out_ex[1].len = full.len;
        out_inf[3].len = sizeof(out_ex) - sizeof(out_ex[0]);
    }

    ngx_memzero(&h, sizeof(h));
    h.csid = NGX_RTMP_CSID_AMF;
    h.msid = 0;
    h.type = NGX_RTMP_MSG_AMF_CMD;

    if (ngx_rtmp_send_amf(s, &h, out_elts,
                          sizeof(out_elts) / sizeof(out_elts[0]))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone) {
        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_REDIRECTS_SENT, 1);
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: redirecting the play of \"%V\" to \"%V\"",
                  &w->key, &full);

    /* the player reconnects elsewhere; closed if it lingers */

    octx->close_evt.data = s->connection;
    octx->close_evt.log = s->connection->log;
    octx->close_evt.handler = ngx_rtmp_cluster_origin_close_handler;

    ngx_add_timer(&octx->close_evt, NGX_RTMP_CLUSTER_REDIRECT_LINGER);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_origin_close_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_rtmp_finalize_session(c->data);
}


/*
 * A publish: with stream managers, a lease first (the coworkers only if
 * no manager answers); else the coworkers, if duplicates are refused.
 */

ngx_int_t
ngx_rtmp_cluster_origin_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v,
    ngx_rtmp_publish_pt resume)
{
    in_port_t                       port;
    ngx_int_t                       rc;
    ngx_str_t                      *key, host;
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_origin_ctx_t  *octx;
    u_char                          buf[NGX_SOCKADDR_STRLEN];

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    octx = ngx_rtmp_cluster_origin_ctx(s);
    if (octx == NULL) {
        return NGX_ERROR;
    }

    if (octx->suspend.publish == NULL) {
        octx->suspend.publish = ngx_palloc(s->connection->pool,
                                           sizeof(ngx_rtmp_publish_t));
        if (octx->suspend.publish == NULL) {
            return NGX_ERROR;
        }
    }

    *octx->suspend.publish = *v;
    octx->suspend.resume_publish = resume;

    if (cacf->managers == NULL) {
        return ngx_rtmp_cluster_origin_check_publish(s, octx);
    }

    if (octx->lease) {
        /* a second publish on this session: nginx-rtmp refuses it */
        return NGX_DECLINED;
    }

    key = &octx->suspend.key;

    if (ngx_rtmp_cluster_key(&s->app, v->name, key, octx->suspend.key_buf)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /*
     * The manager hands a lease over to the same origin address (one
     * killed or restarted lost its token), so a stream live on another
     * worker of this host is refused here, before it is asked.
     */

    rc = ngx_rtmp_cluster_origin_publish_local(s, key);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    ngx_rtmp_cluster_origin_self(s, cacf, &host, &port, buf);

    octx->lease = ngx_rtmp_cluster_lease_start(s->connection->pool,
                                    s->connection->log, cacf, key,
                                    s->app.len, &host, port,
                                    ngx_rtmp_cluster_origin_lease_answer,
                                    octx);
    if (octx->lease == NULL) {
        return NGX_ERROR;
    }

    /* suspended until the manager answers */
    return NGX_OK;
}


/*
 * The stream live on a worker of this host (its publisher registered in
 * the zone, the worker alive): refused, or with duplicates allowed, let
 * through without a lease of its own, since that worker holds the
 * host's.  NGX_AGAIN: not live here.
 */

static ngx_int_t
ngx_rtmp_cluster_origin_publish_local(ngx_rtmp_session_t *s, ngx_str_t *key)
{
    in_port_t                     port;
    ngx_str_t                     host;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_app_conf_t  *cacf;
    u_char                        addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                        buf[NGX_SOCKADDR_STRLEN];

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (zone == NULL || ngx_rtmp_cluster_registry_find(zone, key) == 0) {
        return NGX_AGAIN;
    }

    if (!cacf->duplicate_publish) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: \"%V\" is live on another worker of this "
                      "host; publishing without a lease", key);
        return NGX_DECLINED;
    }

    ngx_rtmp_cluster_origin_self(s, cacf, &host, &port, buf);

    ngx_cpystrn(addr, host.data, ngx_min(host.len + 1, sizeof(addr)));

    return ngx_rtmp_cluster_origin_refuse_publish(s, key, addr, port);
}


/* the registration's answer (the first only: renewals are the client's) */

static void
ngx_rtmp_cluster_origin_lease_answer(void *data, ngx_int_t rc, u_char *addr,
    in_port_t port)
{
    ngx_rtmp_cluster_origin_ctx_t *octx = data;

    ngx_int_t                     lrc;
    ngx_rtmp_session_t           *s;
    ngx_rtmp_cluster_lease_t     *l;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    s = octx->session;
    l = octx->lease;
    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    switch (rc) {

    case NGX_OK:

        /*
         * Another worker of this host may have published it while we
         * asked, its lease taken over by ours: refused (the lease is
         * released as the session closes), or let through without one;
         * that worker registers again when its renewal finds no lease.
         */

        lrc = ngx_rtmp_cluster_origin_publish_local(s, &octx->suspend.key);

        if (lrc == NGX_OK) {
            return;
        }

        if (lrc == NGX_DECLINED) {
            octx->lease = NULL;
            ngx_rtmp_cluster_lease_end(l);
        }

        ngx_rtmp_cluster_origin_publish_resume(octx);
        return;

    case NGX_DECLINED:

        /* another origin holds the stream */

        if (cacf->duplicate_publish) {
            (void) ngx_rtmp_cluster_origin_refuse_publish(s, &octx->suspend.key,
                                                   addr[0] ? addr
                                                       : (u_char *) "?",
                                                   port);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "cluster: \"%V\" is leased by %s:%d; publishing here "
                      "anyway", &octx->suspend.key, addr, (int) port);

        ngx_rtmp_cluster_origin_publish_resume(octx);
        return;

    default: /* NGX_ERROR */

        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "cluster: no stream manager answered the registration "
                      "of \"%V\"; publishing, registration retried",
                      &octx->suspend.key);

        /* the coworkers can still tell whether it is live elsewhere */

        lrc = ngx_rtmp_cluster_origin_check_publish(s, octx);

        if (lrc == NGX_DECLINED) {
            ngx_rtmp_cluster_origin_publish_resume(octx);

        } else if (lrc == NGX_ERROR) {
            ngx_rtmp_finalize_session(s);
        }
    }
}


/* is the stream live on another origin?  The coworkers are asked */

static ngx_int_t
ngx_rtmp_cluster_origin_check_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_origin_ctx_t *octx)
{
    ngx_int_t                     rc;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (!cacf->duplicate_publish || cacf->coworkers == NULL) {
        return NGX_DECLINED;
    }

    /* a cached "found" may be the stream this publisher comes back with */

    rc = ngx_rtmp_cluster_origin_ask(s, octx, octx->suspend.publish->name,
                                     ngx_rtmp_cluster_origin_publish_answer, 1);

    if (rc == NGX_AGAIN) {
        return NGX_OK;
    }

    if (rc != NGX_OK || ngx_rtmp_cluster_origin_is_self(s, &octx->waiter)) {
        return NGX_DECLINED;
    }

    return ngx_rtmp_cluster_origin_refuse_publish(s, &octx->waiter.key,
                                           octx->waiter.addr,
                                           octx->waiter.port);
}


static void
ngx_rtmp_cluster_origin_publish_answer(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc)
{
    ngx_rtmp_cluster_origin_ctx_t *octx = w->data;

    if (rc == NGX_OK && !ngx_rtmp_cluster_origin_is_self(octx->session, w)) {
        (void) ngx_rtmp_cluster_origin_refuse_publish(octx->session, &w->key,
                                               w->addr, w->port);
        return;
    }

    ngx_rtmp_cluster_origin_publish_resume(octx);
}


/* the suspended publish goes on with nginx-rtmp's */

static void
ngx_rtmp_cluster_origin_publish_resume(ngx_rtmp_cluster_origin_ctx_t *octx)
{
    ngx_rtmp_session_t  *s;

    s = octx->session;

    if (octx->suspend.resume_publish(s, octx->suspend.publish) != NGX_OK) {
        ngx_rtmp_finalize_session(s);
    }
}


static ngx_int_t
ngx_rtmp_cluster_origin_refuse_publish(ngx_rtmp_session_t *s, ngx_str_t *key,
    u_char *addr, in_port_t port)
{
    u_char                   *p;
    ngx_rtmp_cluster_zone_t  *zone;
    u_char                    desc[NGX_RTMP_CLUSTER_ADDR_LEN + 64];

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: publish of \"%V\" refused: live on %s:%d",
                  key, addr, (int) port);

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone) {
        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_PUBLISHES_REJECTED, 1);
    }

    p = ngx_snprintf(desc, sizeof(desc) - 1,
                     "cluster: already published on %s:%d",
                     addr, (int) port);
    *p = '\0';

    (void) ngx_rtmp_send_status(s, "NetStream.Publish.BadName", "error",
                                (char *) desc);
    ngx_rtmp_finalize_session(s);

    return NGX_OK;
}


/*
 * After the live module accepted the publisher: the stream is in the
 * registry (the registration holds its key), earlier answers about it are
 * forgotten, and the engine knows it (this worker owns it on the host).
 */

void
ngx_rtmp_cluster_origin_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v)
{
    ngx_rtmp_conf_ctx_t              cctx;
    ngx_rtmp_live_ctx_t             *lctx;
    ngx_rtmp_cluster_ctx_t          *ctx;
    ngx_rtmp_cluster_zone_t         *zone;
    ngx_rtmp_cluster_origin_ctx_t   *octx;
    ngx_rtmp_cluster_origin_watch_t *watch;
    ngx_rtmp_cluster_registration_t *reg;

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing) {
        return;
    }

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    ctx = ngx_rtmp_cluster_session_ctx(s);
    octx = ngx_rtmp_cluster_origin_ctx(s);

    if (zone == NULL || ctx == NULL || octx == NULL) {
        return;
    }

    reg = &octx->registration;

    if (reg->registered
        || ngx_rtmp_cluster_key(&s->app, v->name, &reg->key, reg->key_buf)
           != NGX_OK)
    {
        return;
    }

    if (ngx_rtmp_cluster_registry_add(zone, &reg->key,
                                      &s->connection->addr_text)
        != NGX_OK)
    {
        return;
    }

    ngx_rtmp_cluster_lookup_forget(zone, &reg->key);
    reg->registered = 1;

    /* plays waiting on this worker: the live module serves them now */

    watch = ngx_rtmp_cluster_origin_watch_find(
                ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module),
                &reg->key);
    if (watch) {
        ngx_rtmp_cluster_origin_watch_here(watch, ngx_pid);
    }

    /* listed in the status, with its GOP; other workers relay from us */

    cctx.main_conf = s->main_conf;
    cctx.srv_conf = s->srv_conf;
    cctx.app_conf = s->app_conf;

    (void) ngx_rtmp_cluster_stream_publish(&cctx, &ctx->member, &s->app,
                                           v->name, v->args, NULL, NULL);

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: \"%V\" registered on this origin", &reg->key);
}


/* the session closes: what it waits for is cancelled, what it holds ends */

void
ngx_rtmp_cluster_origin_close(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t         *ctx;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_origin_ctx_t  *octx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx == NULL || ctx->origin == NULL) {
        return;
    }

    octx = ctx->origin;

    if (octx->waiter.flight) {
        ngx_rtmp_cluster_lookup_cancel(&octx->waiter);
    }

    if (octx->lease) {
        ngx_rtmp_cluster_lease_end(octx->lease);
        octx->lease = NULL;
    }

    if (octx->close_evt.timer_set) {
        ngx_del_timer(&octx->close_evt);
    }

    ngx_rtmp_cluster_origin_wait_end(octx);

    if (octx->registration.registered) {
        octx->registration.registered = 0;

        zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
        if (zone) {
            ngx_rtmp_cluster_registry_remove(zone, &octx->registration.key);
        }
    }
}
