
/*
 * ngx_rtmp_cluster: the edge role.
 *
 * A play of a stream this worker lacks starts a pull from an origin: an
 * outgoing session that nginx-rtmp's relay module drives (connect,
 * createStream, play) and that publishes locally, so players are ordinary
 * live subscribers.  Players are never linked to the relay, so when an
 * origin fails only the upstream session goes: players stay attached and
 * get sequence headers and metadata again from the next origin.
 *
 * A publish on the edge is forwarded with a relay push to the origin the
 * same policy picks for players, and moved to another origin on failure
 * without touching the publisher.
 */


#include <math.h>
#include <ifaddrs.h>

#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_BACKOFF_MIN    250
#define NGX_RTMP_CLUSTER_BACKOFF_MAX    4000


struct ngx_rtmp_cluster_stream_s {
    ngx_queue_t                     queue;          /* this worker's */
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_conf_ctx_t             cctx;
    ngx_shm_zone_t                 *shm_zone;

    ngx_str_t                       app;
    ngx_str_t                       name;
    ngx_str_t                       args;
    ngx_str_t                       key;            /* "app/name" */
    ngx_pid_t                       owner;          /* the host's puller */

    ngx_queue_t                     players;
    ngx_uint_t                      nplayers;
    ngx_uint_t                      ninner;         /* of them, relays */
    ngx_rtmp_session_t             *publisher;
    ngx_rtmp_session_t             *upstream;
    ngx_rtmp_cluster_origin_t      *origin;

    ngx_uint_t                      order[NGX_RTMP_CLUSTER_MAX_ORIGINS];
    ngx_uint_t                      norder;
    ngx_uint_t                      next;

    /* tried before the order goes on: a redirect's target, a proxy's */
    ngx_rtmp_cluster_origin_t      *redirect_to;
    unsigned                        following:1;

    /* the addresses of this attempt: the first origin, then redirects */
    ngx_uint_t                      nhops;
    ngx_rtmp_cluster_hop_t          hops[NGX_RTMP_CLUSTER_MAX_HOPS];

    /* an origin not in the configuration: an address, no health record */
    ngx_rtmp_cluster_origin_t      *proxy;
    ngx_rtmp_cluster_origin_t       dyn;
    ngx_addr_t                      dyn_addr;
    struct sockaddr_in              dyn_sin;
    struct sockaddr_un              dyn_sun;
    u_char                          dyn_name[NGX_RTMP_CLUSTER_ADDR_LEN];

    ngx_uint_t                      kind;
    ngx_uint_t                      state;
    ngx_msec_t                      failing_since;
    ngx_msec_t                      backoff;
    ngx_msec_t                      last_media;
    unsigned                        failing:1;
    unsigned                        lingering:1;

    ngx_event_t                     timer;
    ngx_event_t                     linger_evt;
    ngx_connection_t                dummy;          /* timers' ev->data */
    ngx_rtmp_cluster_shm_stream_t  *shm;

    size_t                          tried_len;
    u_char                          tried[NGX_RTMP_CLUSTER_TRIED_LEN];

    u_char                          app_buf[NGX_RTMP_MAX_NAME];
    u_char                          name_buf[NGX_RTMP_MAX_NAME];
    u_char                          args_buf[NGX_RTMP_MAX_ARGS];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


static ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_find(
    ngx_rtmp_cluster_app_conf_t *cacf, u_char *name);
static ngx_rtmp_cluster_stream_t *ngx_rtmp_cluster_create(
    ngx_rtmp_session_t *s, u_char *name, u_char *args, ngx_uint_t kind);
static void ngx_rtmp_cluster_free(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_set_state(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t state, ngx_msec_t timeout);
static void ngx_rtmp_cluster_order(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_round(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_next(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_backoff(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_give_up(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_failed(ngx_rtmp_cluster_stream_t *st,
    const char *reason, ngx_uint_t health);
static void ngx_rtmp_cluster_detach_upstream(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t close);
static ngx_int_t ngx_rtmp_cluster_pull_connect(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o);
static ngx_int_t ngx_rtmp_cluster_push_connect(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o);
static ngx_int_t ngx_rtmp_cluster_play_path(ngx_rtmp_cluster_stream_t *st,
    ngx_pool_t *pool, ngx_str_t *path);
static ngx_int_t ngx_rtmp_cluster_tc_url(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o, ngx_pool_t *pool, ngx_str_t *url);
static void ngx_rtmp_cluster_check_idle(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_take_over(ngx_rtmp_cluster_stream_t *st);
static void ngx_rtmp_cluster_timer_handler(ngx_event_t *ev);
static void ngx_rtmp_cluster_linger_handler(ngx_event_t *ev);
static ngx_int_t ngx_rtmp_cluster_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_rtmp_cluster_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_rtmp_cluster_note_tried(ngx_rtmp_cluster_stream_t *st,
    const char *reason);
static void ngx_rtmp_cluster_attach_player(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_ctx_t *ctx);
static ngx_rtmp_cluster_origin_t *ngx_rtmp_cluster_target(
    ngx_rtmp_cluster_stream_t *st, u_char *host, size_t host_len,
    in_port_t port);
static void ngx_rtmp_cluster_follow(ngx_rtmp_cluster_stream_t *st,
    u_char *url);
static ngx_int_t ngx_rtmp_cluster_hop(ngx_rtmp_cluster_hop_t *hop,
    ngx_rtmp_cluster_origin_t *o);
static ngx_int_t ngx_rtmp_cluster_in_hops(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_hop_t *hop);
static ngx_int_t ngx_rtmp_cluster_own(ngx_rtmp_cluster_hop_t *hop);
static void ngx_rtmp_cluster_local_addresses(ngx_cycle_t *cycle);
static ngx_uint_t ngx_rtmp_cluster_local_address(ngx_uint_t family,
    u_char *addr);
static u_char *ngx_rtmp_cluster_hops_text(ngx_rtmp_cluster_stream_t *st,
    u_char *buf, u_char *last);
static ngx_rtmp_cluster_origin_t *ngx_rtmp_cluster_inner_target(
    ngx_rtmp_cluster_stream_t *st, ngx_pid_t pid);
static void ngx_rtmp_cluster_drop_relays(ngx_rtmp_cluster_stream_t *st);


static ngx_queue_t  ngx_rtmp_cluster_streams;
static ngx_uint_t   ngx_rtmp_cluster_ready;

/* this host's addresses, read when the worker starts */
#define NGX_RTMP_CLUSTER_LOCAL_MAX  64

static ngx_uint_t              ngx_rtmp_cluster_nlocal;
static ngx_rtmp_cluster_hop_t  ngx_rtmp_cluster_local[NGX_RTMP_CLUSTER_LOCAL_MAX];


static const char  *ngx_rtmp_cluster_states[] = {
    "idle",
    "connecting",
    "waiting",
    "live",
    "backoff",
    "linger",
    "failed"
};


const char *
ngx_rtmp_cluster_state_name(ngx_uint_t state)
{
    if (state >= sizeof(ngx_rtmp_cluster_states) / sizeof(char *)) {
        return "unknown";
    }

    return ngx_rtmp_cluster_states[state];
}


ngx_int_t
ngx_rtmp_cluster_edge_init_process(ngx_cycle_t *cycle)
{
    ngx_rtmp_conf_ctx_t           *rctx;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    ngx_queue_init(&ngx_rtmp_cluster_streams);
    ngx_rtmp_cluster_ready = 1;

    ngx_rtmp_cluster_local_addresses(cycle);

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    cmcf = rctx->main_conf[ngx_rtmp_cluster_module.ctx_index];

    ngx_rtmp_cluster_zone_sweep(cmcf->shm_zone);

    return NGX_OK;
}


void
ngx_rtmp_cluster_edge_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_ready) {
        return;
    }

    while (!ngx_queue_empty(&ngx_rtmp_cluster_streams)) {
        q = ngx_queue_head(&ngx_rtmp_cluster_streams);
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        ngx_rtmp_cluster_stream_record_free(st->shm_zone, st->shm);
        st->shm = NULL;

        ngx_queue_remove(q);
    }
}


ngx_int_t
ngx_rtmp_cluster_edge_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v)
{
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    if (!ngx_rtmp_cluster_ready) {
        return NGX_OK;
    }

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->stream) {
        /* a second play on this session: nginx-rtmp keeps the first */
        return NGX_OK;
    }

    st = ngx_rtmp_cluster_find(cacf, v->name);

    if (st == NULL) {
        st = ngx_rtmp_cluster_create(s, v->name, v->args,
                                     NGX_RTMP_CLUSTER_PULL);
        if (st == NULL) {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: play of \"%V/%V\", not on this worker: "
                      "pulling from an origin", &st->app, &st->name);

        ngx_rtmp_cluster_attach_player(st, ctx);
        ngx_rtmp_cluster_round(st);

        return NGX_OK;
    }

    ngx_rtmp_cluster_attach_player(st, ctx);

    return NGX_OK;
}


ngx_rtmp_cluster_ctx_t *
ngx_rtmp_cluster_session_ctx(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(s->connection->pool, sizeof(ngx_rtmp_cluster_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_rtmp_set_ctx(s, ctx, ngx_rtmp_cluster_module);
    ctx->session = s;

    return ctx;
}


static void
ngx_rtmp_cluster_attach_player(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_ctx_t *ctx)
{
    st->nplayers++;
    ngx_queue_insert_tail(&st->players, &ctx->queue);
    ctx->stream = st;
    ctx->player = 1;

    /* another worker's pull, through our unix socket */
    ctx->inner = ctx->session->auto_pushed;
    st->ninner += ctx->inner;

    if (st->shm) {
        (void) ngx_atomic_fetch_add(ctx->inner ? &st->shm->relays
                                               : &st->shm->players, 1);
    }

    if (st->lingering) {
        /* a player is back: the pull stays */
        st->lingering = 0;

        if (st->linger_evt.timer_set) {
            ngx_del_timer(&st->linger_evt);
        }

        ngx_rtmp_cluster_stream_record_set(st->shm_zone, st->shm, st->state,
                                           NULL);
    }
}


/* before nginx-rtmp's live module sees a local publisher */

ngx_int_t
ngx_rtmp_cluster_edge_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    if (!ngx_rtmp_cluster_ready) {
        return NGX_OK;
    }

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    st = ngx_rtmp_cluster_find(cacf, v->name);

    if (st && st->kind == NGX_RTMP_CLUSTER_PULL) {
        /* a publisher here wins over our pull of the same stream */
        ngx_rtmp_cluster_take_over(st);
    }

    return NGX_OK;
}


/* after the live module accepted a local publisher: forward it */

ngx_int_t
ngx_rtmp_cluster_edge_published(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_rtmp_live_ctx_t          *lctx;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    if (!ngx_rtmp_cluster_ready) {
        return NGX_OK;
    }

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (!cacf->forward_publish) {
        return NGX_OK;
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing) {
        /* the live module refused it (already publishing) */
        return NGX_OK;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->stream) {
        return NGX_OK;
    }

    st = ngx_rtmp_cluster_find(cacf, v->name);

    if (st == NULL) {
        st = ngx_rtmp_cluster_create(s, v->name, v->args,
                                     NGX_RTMP_CLUSTER_PUBLISH);
        if (st == NULL) {
            return NGX_ERROR;
        }

    } else {
        /* players were waiting for it (a pull taken over) */
        st->kind = NGX_RTMP_CLUSTER_PUBLISH;
        st->args.len = ngx_cpystrn(st->args_buf, v->args, NGX_RTMP_MAX_ARGS)
                       - st->args_buf;

        if (st->shm) {
            st->shm->kind = NGX_RTMP_CLUSTER_PUBLISH;
        }
    }

    st->publisher = s;
    ctx->stream = st;
    ctx->publisher = 1;
    ctx->record = st->shm;

    /* the publisher's worker serves the stream to the others */
    st->owner = ngx_rtmp_cluster_owner(st->shm_zone, &st->key, 1, 1);

    if (st->shm) {
        st->shm->owner = st->owner;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: publish of \"%V/%V\": forwarding to an origin",
                  &st->app, &st->name);

    st->failing = 0;
    ngx_rtmp_cluster_round(st);

    return NGX_OK;
}


void
ngx_rtmp_cluster_edge_close(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t     *ctx;
    ngx_rtmp_cluster_stream_t  *st;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    st = ctx->stream;
    ctx->stream = NULL;

    if (ctx->player) {
        ctx->player = 0;
        ngx_queue_remove(&ctx->queue);
        st->nplayers--;

        if (st->shm) {
            (void) ngx_atomic_fetch_add(ctx->inner ? &st->shm->relays
                                                   : &st->shm->players, -1);
        }

        st->ninner -= ctx->inner;
        ctx->inner = 0;
    }

    if (ctx->publisher) {
        ctx->publisher = 0;
        st->publisher = NULL;

        /*
         * the relay module ends the push session with the publisher;
         * detach it first so its end is not taken for an origin failure
         */
        ngx_rtmp_cluster_detach_upstream(st, 0);

        if (st->timer.timer_set) {
            ngx_del_timer(&st->timer);
        }

        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: publisher of \"%V/%V\" left",
                      &st->app, &st->name);

        if (st->nplayers) {
            /* players wait for the stream to come back to any edge */
            st->kind = NGX_RTMP_CLUSTER_PULL;
            st->failing = 0;
            st->tried_len = 0;

            if (st->shm) {
                st->shm->kind = NGX_RTMP_CLUSTER_PULL;
            }

            ngx_rtmp_cluster_round(st);
            return;
        }
    }

    ngx_rtmp_cluster_check_idle(st);
}


static void
ngx_rtmp_cluster_check_idle(ngx_rtmp_cluster_stream_t *st)
{
    if (ngx_exiting && st->nplayers && st->nplayers == st->ninner
        && st->publisher == NULL)
    {
        /* only other workers' pulls are left: they re-pull elsewhere */
        ngx_rtmp_cluster_drop_relays(st);
        return;
    }

    if (st->nplayers || st->publisher) {
        return;
    }

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->upstream
        && st->cacf->linger && !ngx_exiting)
    {
        /* keep the pull a while: a player zapping back finds it warm */
        st->lingering = 1;
        ngx_add_timer(&st->linger_evt, st->cacf->linger);

        ngx_rtmp_cluster_stream_record_set(st->shm_zone, st->shm,
                                           NGX_RTMP_CLUSTER_LINGER, NULL);
        return;
    }

    ngx_rtmp_cluster_free(st);
}


static void
ngx_rtmp_cluster_linger_handler(ngx_event_t *ev)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = ((ngx_connection_t *) ev->data)->data;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "cluster: no player of \"%V/%V\" for %Mms, "
                  "stopping the pull", &st->app, &st->name, st->cacf->linger);

    ngx_rtmp_cluster_free(st);
}


/* a local publisher replaces our pull; players stay */

static void
ngx_rtmp_cluster_take_over(ngx_rtmp_cluster_stream_t *st)
{
    ngx_rtmp_session_t       *rs;
    ngx_rtmp_close_stream_t   cv;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: local publisher takes over \"%V/%V\"",
                  &st->app, &st->name);

    rs = st->upstream;

    ngx_rtmp_cluster_detach_upstream(st, 0);

    if (rs) {
        /* leave the live stream now, so the publisher is not refused */
        ngx_memzero(&cv, sizeof(cv));
        ngx_rtmp_close_stream(rs, &cv);
        ngx_rtmp_finalize_session(rs);
    }

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (st->linger_evt.timer_set) {
        ngx_del_timer(&st->linger_evt);
    }

    st->lingering = 0;
    st->failing = 0;
    st->tried_len = 0;
    st->state = NGX_RTMP_CLUSTER_IDLE;
}


static ngx_rtmp_cluster_stream_t *
ngx_rtmp_cluster_find(ngx_rtmp_cluster_app_conf_t *cacf, u_char *name)
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
ngx_rtmp_cluster_create(ngx_rtmp_session_t *s, u_char *name, u_char *args,
    ngx_uint_t kind)
{
    ngx_rtmp_cluster_stream_t     *st;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    st = ngx_calloc(sizeof(ngx_rtmp_cluster_stream_t), s->connection->log);
    if (st == NULL) {
        return NULL;
    }

    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);

    st->cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    st->cctx.main_conf = s->main_conf;
    st->cctx.srv_conf = s->srv_conf;
    st->cctx.app_conf = s->app_conf;
    st->shm_zone = cmcf->shm_zone;
    st->kind = kind;

    st->app.data = st->app_buf;
    st->app.len = ngx_min(s->app.len, NGX_RTMP_MAX_NAME - 1);
    ngx_memcpy(st->app_buf, s->app.data, st->app.len);

    st->name.data = st->name_buf;
    st->name.len = ngx_cpystrn(st->name_buf, name, NGX_RTMP_MAX_NAME)
                   - st->name_buf;

    st->args.data = st->args_buf;

    if (st->cacf->pass_args) {
        if (args[0] == '\0' && s->args.len) {
            /* no play arguments: take connect's (tcUrl's) */
            st->args.len = ngx_min(s->args.len, NGX_RTMP_MAX_ARGS - 1);
            ngx_memcpy(st->args_buf, s->args.data, st->args.len);

        } else {
            st->args.len = ngx_cpystrn(st->args_buf, args, NGX_RTMP_MAX_ARGS)
                           - st->args_buf;
        }
    }

    if (ngx_rtmp_cluster_key(&st->app, st->name_buf, &st->key, st->key_buf)
        != NGX_OK)
    {
        ngx_free(st);
        return NULL;
    }

    ngx_queue_init(&st->players);

    st->dummy.fd = (ngx_socket_t) -1;
    st->dummy.data = st;

    st->timer.data = &st->dummy;
    st->timer.log = ngx_cycle->log;
    st->timer.handler = ngx_rtmp_cluster_timer_handler;
    st->timer.cancelable = 1;

    st->linger_evt.data = &st->dummy;
    st->linger_evt.log = ngx_cycle->log;
    st->linger_evt.handler = ngx_rtmp_cluster_linger_handler;
    st->linger_evt.cancelable = 1;

    st->shm = ngx_rtmp_cluster_stream_record(st->shm_zone, kind, &st->app,
                                             &st->name);

    ngx_queue_insert_tail(&ngx_rtmp_cluster_streams, &st->queue);

    return st;
}


static void
ngx_rtmp_cluster_free(ngx_rtmp_cluster_stream_t *st)
{
    ngx_queue_t             *q;
    ngx_rtmp_cluster_ctx_t  *ctx;

    ngx_rtmp_cluster_detach_upstream(st, 1);

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (st->linger_evt.timer_set) {
        ngx_del_timer(&st->linger_evt);
    }

    /* players still attached (a give-up) forget the stream */

    while (!ngx_queue_empty(&st->players)) {
        q = ngx_queue_head(&st->players);
        ctx = ngx_queue_data(q, ngx_rtmp_cluster_ctx_t, queue);
        ngx_queue_remove(q);
        ctx->stream = NULL;
        ctx->player = 0;
        ctx->inner = 0;
    }

    if (st->publisher) {
        ctx = ngx_rtmp_get_module_ctx(st->publisher,
                                      ngx_rtmp_cluster_module);
        if (ctx) {
            ctx->stream = NULL;
            ctx->publisher = 0;
            ctx->record = NULL;
        }

        st->publisher = NULL;
    }

    if (st->owner == ngx_pid) {
        /* the other workers' pulls from us end; one of them takes over */
        ngx_rtmp_cluster_owner_release(st->shm_zone, &st->key);
    }

    ngx_rtmp_cluster_stream_record_free(st->shm_zone, st->shm);
    st->shm = NULL;

    ngx_queue_remove(&st->queue);
    ngx_free(st);
}


static void
ngx_rtmp_cluster_set_state(ngx_rtmp_cluster_stream_t *st, ngx_uint_t state,
    ngx_msec_t timeout)
{
    ngx_str_t  *origin;

    st->state = state;

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    if (timeout) {
        ngx_add_timer(&st->timer, timeout);
    }

    origin = (state == NGX_RTMP_CLUSTER_CONNECTING && st->origin)
             ? &st->origin->name : NULL;

    ngx_rtmp_cluster_stream_record_set(st->shm_zone, st->shm,
                                       st->lingering ? NGX_RTMP_CLUSTER_LINGER
                                                     : state,
                                       origin);
}


/*
 * The order origins are tried in for this stream: usable primaries, then
 * usable backups; origins whose circuit is open are left out, so no
 * stream hammers a dead origin.
 */

static void
ngx_rtmp_cluster_order(ngx_rtmp_cluster_stream_t *st)
{
    double                        score[NGX_RTMP_CLUSTER_MAX_ORIGINS], u, t;
    uint32_t                      h;
    ngx_uint_t                    i, j, n, backup, start, pick, w;
    ngx_rtmp_cluster_origin_t    *o;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = st->cacf;

    st->norder = 0;
    st->next = 0;
    st->nhops = 0;
    st->following = 0;

    st->redirect_to = NULL;

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH) {
        /* one worker of the host pulls from upstream, the others from it */

        st->owner = ngx_rtmp_cluster_owner(st->shm_zone, &st->key, 1, 0);

        if (st->shm) {
            st->shm->owner = st->owner;
        }

        if (st->owner != ngx_pid) {
            st->redirect_to = ngx_rtmp_cluster_inner_target(st, st->owner);
            return;
        }
    }

    if (st->kind == NGX_RTMP_CLUSTER_PROXY || cacf->origins == NULL) {
        /* the origin a coworker named, or none: an origin waits */
        st->redirect_to = st->proxy;
        return;
    }

    o = cacf->origins->elts;
    n = cacf->origins->nelts;

    start = 0;

    if (cacf->balance == NGX_RTMP_CLUSTER_BALANCE_RR) {
        /* the weighted slot of a host-wide counter */
        pick = ngx_rtmp_cluster_zone_next_rr(st->shm_zone)
               % cacf->total_weight;

        for (i = 0, w = 0; i < n; i++) {
            if (o[i].backup) {
                continue;
            }

            w += o[i].weight;

            if (pick < w) {
                start = i;
                break;
            }
        }
    }

    for (i = 0; i < n; i++) {
        score[i] = 0;

        if (cacf->balance != NGX_RTMP_CLUSTER_BALANCE_HASH) {
            continue;
        }

        /*
         * weighted rendezvous hashing: every edge ranks the origins of a
         * stream the same way, and losing one moves only its streams
         */

        ngx_crc32_init(h);
        ngx_crc32_update(&h, st->app.data, st->app.len);
        ngx_crc32_update(&h, (u_char *) "/", 1);
        ngx_crc32_update(&h, st->name.data, st->name.len);
        ngx_crc32_update(&h, (u_char *) "@", 1);
        ngx_crc32_update(&h, o[i].name.data, o[i].name.len);
        ngx_crc32_final(h);

        /* spread the bits: crc32 of similar strings is close */
        h ^= h >> 16;
        h *= 0x85ebca6b;
        h ^= h >> 13;
        h *= 0xc2b2ae35;
        h ^= h >> 16;

        u = ((double) h + 1.0) / 4294967297.0;
        score[i] = -(double) o[i].weight / log(u);
    }

    for (backup = 0; backup < 2; backup++) {
        j = st->norder;

        for (i = 0; i < n; i++) {
            pick = (start + i) % n;

            if (o[pick].backup != backup
                || !ngx_rtmp_cluster_origin_usable(&o[pick]))
            {
                continue;
            }

            st->order[st->norder++] = pick;
        }

        if (cacf->balance != NGX_RTMP_CLUSTER_BALANCE_HASH) {
            continue;
        }

        /* sort this group by score, highest first */

        for (i = j + 1; i < st->norder; i++) {
            pick = st->order[i];
            t = score[pick];

            for (w = i; w > j && score[st->order[w - 1]] < t; w--) {
                st->order[w] = st->order[w - 1];
            }

            st->order[w] = pick;
        }
    }
}


/* start a round over the origins */

static void
ngx_rtmp_cluster_round(ngx_rtmp_cluster_stream_t *st)
{
    ngx_rtmp_cluster_order(st);
    ngx_rtmp_cluster_next(st);
}


static void
ngx_rtmp_cluster_next(ngx_rtmp_cluster_stream_t *st)
{
    ngx_int_t                   rc;
    ngx_rtmp_cluster_origin_t  *o;

    while (st->redirect_to || st->next < st->norder) {

        if (st->redirect_to) {
            o = st->redirect_to;
            st->redirect_to = NULL;

        } else {
            o = st->cacf->origins->elts;
            o = &o[st->order[st->next++]];
        }

        st->origin = o;

        /* a redirect goes on with this attempt's addresses; else anew */

        if (!st->following) {
            st->nhops = 0;
        }

        st->following = 0;

        if (st->nhops < NGX_RTMP_CLUSTER_MAX_HOPS
            && ngx_rtmp_cluster_hop(&st->hops[st->nhops], o) == NGX_OK)
        {
            st->nhops++;
        }

        if (st->kind != NGX_RTMP_CLUSTER_PUBLISH) {
            rc = ngx_rtmp_cluster_pull_connect(st, o);

        } else {
            rc = ngx_rtmp_cluster_push_connect(st, o);
        }

        if (rc == NGX_OK) {
            ngx_rtmp_cluster_set_state(st, NGX_RTMP_CLUSTER_CONNECTING,
                                       st->cacf->connect_timeout);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: cannot connect to origin \"%V\" "
                      "for \"%V/%V\"", &o->name, &st->app, &st->name);

        ngx_rtmp_cluster_origin_failure(o, "connect failed");
        ngx_rtmp_cluster_note_tried(st, "connect failed");

        if (!st->failing) {
            st->failing = 1;
            st->failing_since = ngx_current_msec;
        }
    }

    st->origin = NULL;

    ngx_rtmp_cluster_backoff(st);
}


static void
ngx_rtmp_cluster_backoff(ngx_rtmp_cluster_stream_t *st)
{
    ngx_msec_t  elapsed;

    if (!st->failing) {
        st->failing = 1;
        st->failing_since = ngx_current_msec;
    }

    elapsed = ngx_current_msec - st->failing_since;

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH
        && !(st->kind == NGX_RTMP_CLUSTER_PULL
             && st->cacf->role == NGX_RTMP_CLUSTER_ORIGIN)
        && elapsed >= st->cacf->retry_timeout)
    {
        /* an origin's players wait for their publisher to come back */
        ngx_rtmp_cluster_give_up(st);
        return;
    }

    st->backoff = st->backoff ? ngx_min(st->backoff * 2,
                                        NGX_RTMP_CLUSTER_BACKOFF_MAX)
                              : NGX_RTMP_CLUSTER_BACKOFF_MIN;

    if (elapsed < st->cacf->retry_timeout) {
        st->backoff = ngx_min(st->backoff,
                              st->cacf->retry_timeout - elapsed);
    }

    ngx_rtmp_cluster_set_state(st, NGX_RTMP_CLUSTER_BACKOFF,
                               ngx_max(st->backoff, 1));
}


static void
ngx_rtmp_cluster_give_up(ngx_rtmp_cluster_stream_t *st)
{
    u_char                  *p;
    ngx_queue_t             *q;
    ngx_rtmp_cluster_ctx_t  *ctx;
    u_char                   desc[NGX_RTMP_MAX_NAME * 2 + 64];

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

    for (q = ngx_queue_head(&st->players);
         q != ngx_queue_sentinel(&st->players);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_rtmp_cluster_ctx_t, queue);

        /* level "error" ends the play in common players */
        (void) ngx_rtmp_send_status(ctx->session, "NetStream.Play.Failed",
                                    "error", (char *) desc);
        ngx_rtmp_finalize_session(ctx->session);
    }

    ngx_rtmp_cluster_free(st);
}


static void
ngx_rtmp_cluster_failed(ngx_rtmp_cluster_stream_t *st, const char *reason,
    ngx_uint_t health)
{
    ngx_uint_t                  was_live;
    ngx_rtmp_cluster_origin_t  *o;

    o = st->origin;

    if (o) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: origin \"%V\" failed for %s of \"%V/%V\": %s",
                      &o->name,
                      st->kind == NGX_RTMP_CLUSTER_PUBLISH ? "publish" : "pull",
                      &st->app, &st->name, reason);

        if (health) {
            ngx_rtmp_cluster_origin_failure(o, reason);
        }

        ngx_rtmp_cluster_note_tried(st, reason);
    }

    ngx_rtmp_cluster_detach_upstream(st, 1);

    was_live = (st->state == NGX_RTMP_CLUSTER_LIVE);

    if (st->kind != NGX_RTMP_CLUSTER_PUBLISH && st->nplayers == 0) {
        ngx_rtmp_cluster_free(st);
        return;
    }

    if (st->kind == NGX_RTMP_CLUSTER_PUBLISH && st->publisher == NULL) {
        ngx_rtmp_cluster_check_idle(st);
        return;
    }

    if (was_live) {
        /* fail over: a fresh round, the failed origin is tried last */
        if (st->shm) {
            (void) ngx_atomic_fetch_add(&st->shm->failovers, 1);
        }

        st->failing = 1;
        st->failing_since = ngx_current_msec;
        st->backoff = 0;

        ngx_rtmp_cluster_order(st);
        ngx_rtmp_cluster_next(st);
        return;
    }

    if (!st->failing) {
        st->failing = 1;
        st->failing_since = ngx_current_msec;
    }

    ngx_rtmp_cluster_next(st);
}


static void
ngx_rtmp_cluster_detach_upstream(ngx_rtmp_cluster_stream_t *st,
    ngx_uint_t close)
{
    ngx_rtmp_session_t      *rs;
    ngx_rtmp_relay_ctx_t    *rctx;
    ngx_rtmp_cluster_ctx_t  *ctx;

    rs = st->upstream;
    if (rs == NULL) {
        return;
    }

    st->upstream = NULL;

    rctx = ngx_rtmp_get_module_ctx(rs, ngx_rtmp_relay_module);
    if (rctx) {
        rctx->data = NULL;
    }

    /* the stream's record may go before the session's posted close */

    ctx = ngx_rtmp_get_module_ctx(rs, ngx_rtmp_cluster_module);
    if (ctx && ctx->record) {
        ctx->record->gop_frames = 0;
        ctx->record->gop_bytes = 0;
        ctx->record->gop_ms = 0;
        ctx->record = NULL;
    }

    if (close) {
        ngx_rtmp_finalize_session(rs);
    }
}


static void
ngx_rtmp_cluster_timer_handler(ngx_event_t *ev)
{
    ngx_msec_t                  idle;
    ngx_rtmp_cluster_stream_t  *st;

    st = ((ngx_connection_t *) ev->data)->data;

    switch (st->state) {

    case NGX_RTMP_CLUSTER_CONNECTING:
        ngx_rtmp_cluster_failed(st, "timed out connecting", 1);
        return;

    case NGX_RTMP_CLUSTER_WAITING:
        ngx_rtmp_cluster_failed(st, st->kind != NGX_RTMP_CLUSTER_PUBLISH
                                    ? "no media in time"
                                    : "publish not confirmed in time", 0);
        return;

    case NGX_RTMP_CLUSTER_LIVE:
        if (st->kind == NGX_RTMP_CLUSTER_PUBLISH) {
            return;
        }

        idle = ngx_current_msec - st->last_media;

        if (idle >= st->cacf->media_timeout) {
            ngx_rtmp_cluster_failed(st, "media stopped", 1);
            return;
        }

        ngx_add_timer(&st->timer, st->cacf->media_timeout - idle);
        return;

    case NGX_RTMP_CLUSTER_BACKOFF:
        ngx_rtmp_cluster_round(st);
        return;

    default:
        return;
    }
}


static ngx_int_t
ngx_rtmp_cluster_play_path(ngx_rtmp_cluster_stream_t *st, ngx_pool_t *pool,
    ngx_str_t *path)
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
ngx_rtmp_cluster_tc_url(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o, ngx_pool_t *pool, ngx_str_t *url)
{
    u_char  *p;

    url->len = sizeof("rtmp://") - 1 + o->name.len + 1 + st->app.len;
    url->data = ngx_pnalloc(pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(url->data, "rtmp://%V/%V", &o->name, &st->app);
    url->len = p - url->data;

    return NGX_OK;
}


/*
 * The outgoing session of a pull: as the relay module's own, but with
 * no player linked to it, so its end leaves players attached.
 */

static ngx_int_t
ngx_rtmp_cluster_pull_connect(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o)
{
    ngx_int_t                rc;
    ngx_str_t               *name;
    ngx_pool_t              *pool;
    ngx_connection_t        *c;
    struct sockaddr         *sockaddr;
    ngx_rtmp_session_t      *rs;
    ngx_rtmp_conf_ctx_t     *addr_ctx;
    ngx_rtmp_addr_conf_t    *addr_conf;
    ngx_rtmp_relay_ctx_t    *rctx;
    ngx_peer_connection_t   *pc;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rctx = ngx_pcalloc(pool, sizeof(ngx_rtmp_relay_ctx_t));
    pc = ngx_pcalloc(pool, sizeof(ngx_peer_connection_t));
    addr_conf = ngx_pcalloc(pool, sizeof(ngx_rtmp_addr_conf_t));
    addr_ctx = ngx_pcalloc(pool, sizeof(ngx_rtmp_conf_ctx_t));

    if (rctx == NULL || pc == NULL || addr_conf == NULL || addr_ctx == NULL) {
        goto failed;
    }

    /*
     * The session outlives the stream object (its close is posted), and
     * an origin made up at run time (a redirect's, a proxy's, the owner
     * worker's socket) lives in that object: the session keeps copies.
     */

    name = ngx_palloc(pool, sizeof(ngx_str_t));
    sockaddr = ngx_palloc(pool, o->url.addrs[0].socklen);

    rctx->name.data = ngx_pstrdup(pool, &st->name);
    rctx->name.len = st->name.len;
    rctx->app.data = ngx_pstrdup(pool, &st->app);
    rctx->app.len = st->app.len;
    rctx->url.data = ngx_pstrdup(pool, &o->name);
    rctx->url.len = o->name.len;

    if (name == NULL || sockaddr == NULL
        || rctx->name.data == NULL || rctx->app.data == NULL
        || rctx->url.data == NULL
        || ngx_rtmp_cluster_play_path(st, pool, &rctx->play_path) != NGX_OK
        || ngx_rtmp_cluster_tc_url(st, o, pool, &rctx->tc_url) != NGX_OK)
    {
        goto failed;
    }

    *name = rctx->url;
    ngx_memcpy(sockaddr, o->url.addrs[0].sockaddr, o->url.addrs[0].socklen);

    rctx->live = 1;
    rctx->tag = &ngx_rtmp_cluster_module;
    rctx->data = st;
    rctx->publish = rctx;       /* a pull, for the relay module */
    rctx->log = *ngx_cycle->log;

    pc->log = &rctx->log;
    pc->get = ngx_rtmp_cluster_get_peer;
    pc->free = ngx_rtmp_cluster_free_peer;
    pc->name = name;
    pc->socklen = o->url.addrs[0].socklen;
    pc->sockaddr = sockaddr;

    rc = ngx_event_connect_peer(pc);

    if (rc != NGX_OK && rc != NGX_AGAIN) {
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
    ngx_str_set(&rs->flashver, "ngx-cluster-edge");

    rctx->session = rs;
    ngx_rtmp_set_ctx(rs, rctx, ngx_rtmp_relay_module);

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    st->upstream = rs;

    ngx_rtmp_client_handshake(rs, 1);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);
    return NGX_ERROR;
}


/* a push of the local publisher, through the relay module */

static ngx_int_t
ngx_rtmp_cluster_push_connect(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_origin_t *o)
{
    ngx_pool_t               *pool;
    ngx_int_t                 rc;
    ngx_rtmp_relay_ctx_t     *rctx;
    ngx_rtmp_relay_target_t   target;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&target, sizeof(target));

    target.url = o->url;
    target.app = st->app;
    target.tag = &ngx_rtmp_cluster_module;
    target.data = st;

    if (ngx_rtmp_cluster_play_path(st, pool, &target.play_path) != NGX_OK
        || ngx_rtmp_cluster_tc_url(st, o, pool, &target.tc_url) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the relay copies what it keeps */
    rc = ngx_rtmp_relay_push(st->publisher, &st->name, &target);

    ngx_destroy_pool(pool);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the newest push session heads the publisher's list */

    rctx = ngx_rtmp_get_module_ctx(st->publisher, ngx_rtmp_relay_module);
    if (rctx == NULL || rctx->play == NULL
        || rctx->play->data != st || rctx->play->session == NULL)
    {
        return NGX_ERROR;
    }

    st->upstream = rctx->play->session;

    return NGX_OK;
}


static ngx_int_t
ngx_rtmp_cluster_get_peer(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_rtmp_cluster_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
}


static void
ngx_rtmp_cluster_note_tried(ngx_rtmp_cluster_stream_t *st,
    const char *reason)
{
    u_char  *p, *last;

    if (st->origin == NULL) {
        return;
    }

    p = st->tried + st->tried_len;
    last = st->tried + sizeof(st->tried);

    if (st->tried_len) {
        p = ngx_slprintf(p, last, ", ");
    }

    p = ngx_slprintf(p, last, "%V (%s)", &st->origin->name, reason);

    st->tried_len = p - st->tried;
}


void
ngx_rtmp_cluster_edge_media(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx, ngx_rtmp_header_t *h)
{
    ngx_rtmp_cluster_stream_t  *st;

    st = rctx->data;

    if (st->kind == NGX_RTMP_CLUSTER_PUBLISH || st->upstream != s) {
        return;
    }

    st->last_media = ngx_current_msec;

    if (st->shm) {
        (void) ngx_atomic_fetch_add(&st->shm->bytes, h->mlen);
    }

    if (st->state == NGX_RTMP_CLUSTER_LIVE) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: \"%V/%V\" is live from origin \"%V\"",
                  &st->app, &st->name, &st->origin->name);

    ngx_rtmp_cluster_origin_success(st->origin);

    st->failing = 0;
    st->backoff = 0;
    st->tried_len = 0;

    ngx_rtmp_cluster_set_state(st, NGX_RTMP_CLUSTER_LIVE,
                               st->cacf->media_timeout);
}


void
ngx_rtmp_cluster_edge_upstream_status(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx, u_char *level, u_char *code, u_char *desc,
    u_char *redirect)
{
    u_char                     *p;
    ngx_rtmp_cluster_stream_t  *st;
    u_char                      reason[256];

    st = rctx->data;

    if (st->upstream != s) {
        return;
    }

    if (code == NULL) {
        ngx_rtmp_cluster_failed(st, "malformed status message", 1);
        return;
    }

    if (st->kind == NGX_RTMP_CLUSTER_PUBLISH
        && ngx_strcmp(code, "NetStream.Publish.Start") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: \"%V/%V\" is forwarded to origin \"%V\"",
                      &st->app, &st->name, &st->origin->name);

        ngx_rtmp_cluster_origin_success(st->origin);

        st->failing = 0;
        st->backoff = 0;
        st->tried_len = 0;

        ngx_rtmp_cluster_set_state(st, NGX_RTMP_CLUSTER_LIVE, 0);
        return;
    }

    if (ngx_strcmp(level, "error") != 0) {
        return;
    }

    if (redirect && st->kind != NGX_RTMP_CLUSTER_PUBLISH) {
        ngx_rtmp_cluster_follow(st, redirect);
        return;
    }

    p = ngx_snprintf(reason, sizeof(reason) - 1, "rejected with \"%s\" (%s)",
                     code, desc);
    *p = '\0';

    ngx_rtmp_cluster_failed(st, (char *) reason, 0);
}


void
ngx_rtmp_cluster_edge_upstream_published(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx)
{
    ngx_rtmp_cluster_ctx_t     *ctx;
    ngx_rtmp_cluster_stream_t  *st;

    st = rctx->data;

    if (st->upstream != s || st->state != NGX_RTMP_CLUSTER_CONNECTING) {
        return;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx) {
        /* the GOP this pull caches shows in the stream's record */
        ctx->record = st->shm;
    }

    /* play is sent: now the origin has media_timeout to deliver */

    ngx_rtmp_cluster_set_state(st, NGX_RTMP_CLUSTER_WAITING,
                               st->cacf->media_timeout);
}


void
ngx_rtmp_cluster_edge_upstream_closed(ngx_rtmp_session_t *s,
    ngx_rtmp_relay_ctx_t *rctx)
{
    const char                 *reason;
    ngx_rtmp_cluster_stream_t  *st;

    st = rctx->data;
    rctx->data = NULL;

    if (st->upstream != s) {
        return;
    }

    st->upstream = NULL;

    switch (st->state) {

    case NGX_RTMP_CLUSTER_CONNECTING:
        reason = "connection refused or closed during connect";
        break;

    case NGX_RTMP_CLUSTER_WAITING:
        reason = "connection closed before media";
        break;

    default:
        reason = "connection closed";
    }

    ngx_rtmp_cluster_failed(st, reason, 1);
}


/*
 * An origin for an address: the configured origin at that address (with
 * its health record), compared as numbers ("127.0.0.001" is 127.0.0.1)
 * or, for a name, as text; else the stream's dynamic one, for an IPv4
 * address: a host name would need a blocking lookup, so it is refused.
 */

static ngx_rtmp_cluster_origin_t *
ngx_rtmp_cluster_target(ngx_rtmp_cluster_stream_t *st, u_char *host,
    size_t host_len, in_port_t port)
{
    u_char                     *p;
    in_addr_t                   inaddr;
    ngx_uint_t                  i;
    struct sockaddr_in         *sin;
    ngx_rtmp_cluster_origin_t  *o, *dyn;
    u_char                      name[NGX_RTMP_CLUSTER_ADDR_LEN];

    if (host_len == 0 || host_len + sizeof(":65535") > sizeof(name)) {
        return NULL;
    }

    inaddr = ngx_inet_addr(host, host_len);

    if (st->cacf->origins) {
        o = st->cacf->origins->elts;

        for (i = 0; i < st->cacf->origins->nelts; i++) {
            if (o[i].port != port) {
                continue;
            }

            sin = (struct sockaddr_in *) o[i].url.addrs[0].sockaddr;

            if (inaddr != INADDR_NONE
                ? (sin->sin_family == AF_INET
                   && sin->sin_addr.s_addr == inaddr)
                : (o[i].host.len == host_len
                   && ngx_strncasecmp(o[i].host.data, host, host_len) == 0))
            {
                return &o[i];
            }
        }
    }

    if (inaddr == INADDR_NONE) {
        return NULL;
    }

    /* the canonical form, whatever the peer wrote */

    p = ngx_sprintf(name, "%ud.%ud.%ud.%ud",
                    (ngx_uint_t) (ntohl(inaddr) >> 24),
                    (ngx_uint_t) (ntohl(inaddr) >> 16) & 0xff,
                    (ngx_uint_t) (ntohl(inaddr) >> 8) & 0xff,
                    (ngx_uint_t) ntohl(inaddr) & 0xff);
    host_len = p - name;
    p = ngx_sprintf(p, ":%d", (int) port);

    dyn = &st->dyn;
    ngx_memzero(dyn, sizeof(ngx_rtmp_cluster_origin_t));

    ngx_memcpy(st->dyn_name, name, p - name);
    dyn->name.data = st->dyn_name;
    dyn->name.len = p - name;
    dyn->host.data = st->dyn_name;
    dyn->host.len = host_len;
    dyn->port = port;
    dyn->weight = 1;
    dyn->max_fails = 1;

    ngx_memzero(&st->dyn_sin, sizeof(struct sockaddr_in));
    st->dyn_sin.sin_family = AF_INET;
    st->dyn_sin.sin_port = htons(port);
    st->dyn_sin.sin_addr.s_addr = inaddr;

    st->dyn_addr.sockaddr = (struct sockaddr *) &st->dyn_sin;
    st->dyn_addr.socklen = sizeof(struct sockaddr_in);
    st->dyn_addr.name = dyn->name;

    dyn->url.url = dyn->name;
    dyn->url.host = dyn->host;
    dyn->url.port = port;
    dyn->url.addrs = &st->dyn_addr;
    dyn->url.naddrs = 1;

    return dyn;
}


/* an origin's address as a hop of a redirect chain */

static ngx_int_t
ngx_rtmp_cluster_hop(ngx_rtmp_cluster_hop_t *hop,
    ngx_rtmp_cluster_origin_t *o)
{
    struct sockaddr      *sa;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    sa = o->url.addrs[0].sockaddr;

    ngx_memzero(hop, sizeof(ngx_rtmp_cluster_hop_t));
    hop->family = sa->sa_family;

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        ngx_memcpy(hop->addr, &sin->sin_addr, 4);
        hop->port = ntohs(sin->sin_port);
        return NGX_OK;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        ngx_memcpy(hop->addr, &sin6->sin6_addr, 16);
        hop->port = ntohs(sin6->sin6_port);
        return NGX_OK;
#endif

    default:
        /* another worker's socket is no hop of a redirect */
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_rtmp_cluster_in_hops(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_hop_t *hop)
{
    ngx_uint_t  i;

    for (i = 0; i < st->nhops; i++) {
        if (ngx_memcmp(&st->hops[i], hop, sizeof(ngx_rtmp_cluster_hop_t))
            == 0)
        {
            return 1;
        }
    }

    return 0;
}


static u_char *
ngx_rtmp_cluster_hops_text(ngx_rtmp_cluster_stream_t *st, u_char *buf,
    u_char *last)
{
    u_char      *p;
    ngx_uint_t   i;
    u_char       text[NGX_INET6_ADDRSTRLEN];

    p = buf;

    for (i = 0; i < st->nhops; i++) {
        text[0] = '\0';
        (void) ngx_inet_ntop(st->hops[i].family, st->hops[i].addr, text,
                             sizeof(text));
        p = ngx_slprintf(p, last, "%s%s:%d", i ? " -> " : "", text,
                         (int) st->hops[i].port);
    }

    return p;
}


/*
 * This host's own RTMP listen addresses: a redirect there would have the
 * edge pull from itself.  A wildcard listen is any local address.
 */

static ngx_int_t
ngx_rtmp_cluster_own(ngx_rtmp_cluster_hop_t *hop)
{
    ngx_uint_t                  i, local;
    struct sockaddr_in         *sin;
    ngx_rtmp_listen_t          *ls;
    ngx_rtmp_cluster_hop_t      lh;
    ngx_rtmp_core_main_conf_t  *cmcf;

    cmcf = ngx_rtmp_core_main_conf;
    ls = cmcf->listen.elts;

    local = (hop->family == AF_INET && hop->addr[0] == 127)
            || ngx_rtmp_cluster_local_address(hop->family, hop->addr);

    for (i = 0; i < cmcf->listen.nelts; i++) {
        sin = (struct sockaddr_in *) ls[i].sockaddr;

        if (ngx_inet_get_port((struct sockaddr *) sin) != hop->port) {
            continue;
        }

        if (ls[i].wildcard && local) {
            return 1;
        }

        ngx_memzero(&lh, sizeof(ngx_rtmp_cluster_hop_t));
        lh.family = sin->sin_family;
        lh.port = hop->port;

        if (sin->sin_family == AF_INET) {
            ngx_memcpy(lh.addr, &sin->sin_addr, 4);

#if (NGX_HAVE_INET6)
        } else if (sin->sin_family == AF_INET6) {
            ngx_memcpy(lh.addr,
                       &((struct sockaddr_in6 *) ls[i].sockaddr)->sin6_addr,
                       16);
#endif
        }

        if (ngx_memcmp(&lh, hop, sizeof(ngx_rtmp_cluster_hop_t)) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_rtmp_cluster_local_addresses(ngx_cycle_t *cycle)
{
    struct ifaddrs          *ifa, *i;
    ngx_rtmp_cluster_hop_t  *hop;

    ngx_rtmp_cluster_nlocal = 0;

    if (getifaddrs(&ifa) == -1) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "cluster: getifaddrs() failed, redirects to this "
                      "host are recognised on loopback only");
        return;
    }

    for (i = ifa; i; i = i->ifa_next) {

        if (i->ifa_addr == NULL
            || ngx_rtmp_cluster_nlocal == NGX_RTMP_CLUSTER_LOCAL_MAX)
        {
            continue;
        }

        hop = &ngx_rtmp_cluster_local[ngx_rtmp_cluster_nlocal];
        ngx_memzero(hop, sizeof(ngx_rtmp_cluster_hop_t));

        if (i->ifa_addr->sa_family == AF_INET) {
            hop->family = AF_INET;
            ngx_memcpy(hop->addr,
                       &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
            ngx_rtmp_cluster_nlocal++;

#if (NGX_HAVE_INET6)
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            hop->family = AF_INET6;
            ngx_memcpy(hop->addr,
                       &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
            ngx_rtmp_cluster_nlocal++;
#endif
        }
    }

    freeifaddrs(ifa);
}


static ngx_uint_t
ngx_rtmp_cluster_local_address(ngx_uint_t family, u_char *addr)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_rtmp_cluster_nlocal; i++) {
        if (ngx_rtmp_cluster_local[i].family == family
            && ngx_memcmp(ngx_rtmp_cluster_local[i].addr, addr,
                          family == AF_INET ? 4 : 16)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * RTMP 302 from an origin: reconnect there, players stay attached.  Only
 * host:port is taken, as SRS does: application, name and arguments stay
 * ours.  Refused: a bad URL, a host name that is not a configured origin,
 * the unspecified address, this host's own listen address, a loop, one
 * redirect too many, and with "cluster_redirect_targets listed" any
 * address that is not a configured origin's.
 */

static void
ngx_rtmp_cluster_follow(ngx_rtmp_cluster_stream_t *st, u_char *url)
{
    u_char                     *p;
    in_port_t                   port;
    ngx_str_t                   host;
    const char                 *why;
    ngx_rtmp_cluster_hop_t      hop;
    ngx_rtmp_cluster_zone_t    *zone;
    ngx_rtmp_cluster_origin_t  *o;
    u_char                      chain[NGX_RTMP_CLUSTER_MAX_HOPS
                                      * (NGX_INET6_ADDRSTRLEN + 12)];

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    o = NULL;
    why = NULL;

    if (ngx_rtmp_cluster_parse_url(url, ngx_strlen(url), &host, &port)
        != NGX_OK)
    {
        why = "invalid URL or address";

    } else if (st->nhops > st->cacf->redirect_depth) {
        why = "too many redirects";

    } else {
        o = ngx_rtmp_cluster_target(st, host.data, host.len, port);

        if (o == NULL) {
            why = "not an IPv4 address nor a configured origin";

        } else if (o == &st->dyn
                   && st->cacf->redirect_targets
                      == NGX_RTMP_CLUSTER_TARGETS_LISTED)
        {
            why = "not a configured origin (cluster_redirect_targets "
                  "listed)";

        } else if (ngx_rtmp_cluster_hop(&hop, o) != NGX_OK) {
            why = "not an address";

        } else if (ngx_rtmp_cluster_in_hops(st, &hop)) {
            why = "a loop";

        } else if (ngx_rtmp_cluster_own(&hop)) {
            why = "this host's own address";
        }
    }

    if (why) {
        if (zone) {
            (void) ngx_atomic_fetch_add(&zone->sh->redirects_refused, 1);
        }

        p = ngx_rtmp_cluster_hops_text(st, chain, chain + sizeof(chain));

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: refusing the redirect of \"%V/%V\" to "
                      "\"%s\": %s; chain: %*s", &st->app, &st->name,
                      url, why, p - chain, chain);

        ngx_rtmp_cluster_failed(st, "redirect refused", 0);
        return;
    }

    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->redirects_followed, 1);
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: \"%V/%V\" redirected from \"%V\" to \"%V\"",
                  &st->app, &st->name, &st->origin->name, &o->name);

    ngx_rtmp_cluster_detach_upstream(st, 1);

    st->redirect_to = o;
    st->following = 1;

    ngx_rtmp_cluster_next(st);
}


/* an origin's play of a stream a coworker has: pull it from there */

ngx_int_t
ngx_rtmp_cluster_edge_proxy(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    u_char *addr, in_port_t port)
{
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_stream_t    *st;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->stream) {
        return NGX_OK;
    }

    st = ngx_rtmp_cluster_find(cacf, v->name);

    if (st) {
        ngx_rtmp_cluster_attach_player(st, ctx);
        return NGX_OK;
    }

    st = ngx_rtmp_cluster_create(s, v->name, v->args, NGX_RTMP_CLUSTER_PROXY);
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->proxy = ngx_rtmp_cluster_target(st, addr, ngx_strlen(addr), port);

    if (st->proxy == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "cluster: cannot proxy \"%V/%V\" from \"%s\": "
                      "not an IPv4 address", &st->app, &st->name, addr);
        ngx_rtmp_cluster_free(st);
        return NGX_OK;
    }

    ngx_rtmp_cluster_attach_player(st, ctx);
    ngx_rtmp_cluster_round(st);

    return NGX_OK;
}


/* the owner worker's unix socket for this stream's server block */

static ngx_rtmp_cluster_origin_t *
ngx_rtmp_cluster_inner_target(ngx_rtmp_cluster_stream_t *st, ngx_pid_t pid)
{
    u_char                        *p;
    ngx_int_t                      n;
    ngx_rtmp_cluster_origin_t     *dyn;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    n = ngx_rtmp_cluster_server_index(st->cctx.srv_conf);
    if (n == NGX_ERROR) {
        return NULL;
    }

    cmcf = st->cctx.main_conf[ngx_rtmp_cluster_module.ctx_index];

    ngx_rtmp_cluster_socket_path(cmcf, pid, n, &st->dyn_sun);

    dyn = &st->dyn;
    ngx_memzero(dyn, sizeof(ngx_rtmp_cluster_origin_t));

    p = ngx_sprintf(st->dyn_name, "worker:%P", pid);
    dyn->name.data = st->dyn_name;
    dyn->name.len = p - st->dyn_name;
    dyn->host = dyn->name;
    dyn->weight = 1;
    dyn->max_fails = 1;

    st->dyn_addr.sockaddr = (struct sockaddr *) &st->dyn_sun;
    st->dyn_addr.socklen = sizeof(struct sockaddr_un);
    st->dyn_addr.name = dyn->name;

    dyn->url.url = dyn->name;
    dyn->url.host = dyn->host;
    dyn->url.addrs = &st->dyn_addr;
    dyn->url.naddrs = 1;

    return dyn;
}


/* a worker shutting down ends its pulls without players at once */

void
ngx_rtmp_cluster_edge_shutdown(void)
{
    ngx_queue_t                *q, *next;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_ready) {
        return;
    }

    for (q = ngx_queue_head(&ngx_rtmp_cluster_streams);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_streams);
         q = next)
    {
        next = ngx_queue_next(q);
        st = ngx_queue_data(q, ngx_rtmp_cluster_stream_t, queue);

        if (st->nplayers == st->ninner && st->publisher == NULL) {
            ngx_rtmp_cluster_drop_relays(st);
        }
    }
}


/*
 * A worker shutting down after a reload keeps its players: each stream it
 * pulls for them moves to the owner a worker of the new cycle has become
 * (see ngx_rtmp_cluster_owner()), so the host pulls it once again, and a
 * failure upstream is the new owner's to recover from.
 */

void
ngx_rtmp_cluster_edge_exiting(void)
{
    ngx_pid_t                   owner;
    ngx_queue_t                *q, *next;
    ngx_rtmp_cluster_stream_t  *st;

    if (!ngx_rtmp_cluster_ready) {
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

        owner = ngx_rtmp_cluster_owner(st->shm_zone, &st->key, 0, 0);

        if (owner == 0 || owner == ngx_pid) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: \"%V/%V\" now relayed from worker %P, its "
                      "new owner", &st->app, &st->name, owner);

        ngx_rtmp_cluster_detach_upstream(st, 1);

        st->owner = owner;

        if (st->shm) {
            st->shm->owner = owner;
        }

        st->norder = 0;
        st->next = 0;
        st->nhops = 0;
        st->following = 0;
        st->redirect_to = ngx_rtmp_cluster_inner_target(st, owner);

        ngx_rtmp_cluster_next(st);
    }
}


/* end a stream whose only players are other workers' pulls */

static void
ngx_rtmp_cluster_drop_relays(ngx_rtmp_cluster_stream_t *st)
{
    ngx_queue_t             *q;
    ngx_rtmp_cluster_ctx_t  *ctx;

    for (q = ngx_queue_head(&st->players);
         q != ngx_queue_sentinel(&st->players);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_rtmp_cluster_ctx_t, queue);
        ngx_rtmp_finalize_session(ctx->session);
    }

    ngx_rtmp_cluster_free(st);
}
