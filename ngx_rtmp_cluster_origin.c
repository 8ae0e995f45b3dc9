
/*
 * ngx_rtmp_cluster: the origin role.
 *
 * Streams published here are kept in the zone's registry, which the
 * coworker API answers from.  A play of a stream that is not published
 * on this host is suspended while the coworkers are asked (see
 * ngx_rtmp_cluster_lookup.c); found elsewhere, the player gets an RTMP 302
 * or the stream is proxied; found nowhere, the player waits for a
 * publisher or is told the stream does not exist.  A publish of a stream
 * live on another origin may be refused.
 */


#include "ngx_rtmp_cluster.h"


static ngx_rtmp_cluster_waiter_t *ngx_rtmp_cluster_waiter(
    ngx_rtmp_session_t *s, ngx_rtmp_cluster_ctx_t *ctx, u_char *name);
static void ngx_rtmp_cluster_play_found(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);
static void ngx_rtmp_cluster_publish_found(ngx_rtmp_cluster_waiter_t *w,
    ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_play_decide(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_publish_decide(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc);
static ngx_int_t ngx_rtmp_cluster_is_self(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_waiter_t *w);
static ngx_int_t ngx_rtmp_cluster_redirect(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v, ngx_rtmp_cluster_waiter_t *w);
static void ngx_rtmp_cluster_close_handler(ngx_event_t *ev);


ngx_int_t
ngx_rtmp_cluster_key(ngx_str_t *app, u_char *name, ngx_str_t *key,
    u_char *buf)
{
    size_t  len;

    len = ngx_strlen(name);

    if (app->len + 1 + len > NGX_RTMP_CLUSTER_KEY_LEN) {
        return NGX_ERROR;
    }

    key->data = buf;
    key->len = ngx_sprintf(buf, "%V/%s", app, name) - buf;

    return NGX_OK;
}


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


static ngx_rtmp_cluster_waiter_t *
ngx_rtmp_cluster_waiter(ngx_rtmp_session_t *s, ngx_rtmp_cluster_ctx_t *ctx,
    u_char *name)
{
    u_char                     *p, *last;
    ngx_rtmp_cluster_waiter_t  *w;

    w = ctx->waiter;

    if (w == NULL) {
        w = ngx_pcalloc(s->connection->pool,
                        sizeof(ngx_rtmp_cluster_waiter_t));
        if (w == NULL) {
            return NULL;
        }

        ctx->waiter = w;
    }

    if (w->flight) {
        /* a command is suspended already */
        return NULL;
    }

    w->data = s;
    w->cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    w->fresh = 0;

    if (ngx_rtmp_cluster_key(&s->app, name, &w->key, w->key_buf) != NGX_OK) {
        return NULL;
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

    return w;
}


/* NGX_DECLINED: go on with nginx-rtmp's play; NGX_OK: handled here */

ngx_int_t
ngx_rtmp_cluster_origin_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v)
{
    ngx_pid_t                      pid, owner;
    ngx_int_t                      rc;
    ngx_rtmp_cluster_ctx_t        *ctx;
    ngx_rtmp_cluster_waiter_t     *w;
    ngx_rtmp_cluster_app_conf_t   *cacf;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    w = ngx_rtmp_cluster_waiter(s, ctx, v->name);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    pid = ngx_rtmp_cluster_registry_find(cmcf->shm_zone, &w->key);

    if (pid == ngx_pid) {
        return NGX_DECLINED;
    }

    if (pid) {
        /*
         * published on another worker of this host: relayed from it, if
         * it can (relaying on, its sockets listen)
         */

        owner = ngx_rtmp_cluster_owner(cmcf->shm_zone, &w->key, 0, 0);

        if (owner == 0 || owner == ngx_pid) {
            return NGX_DECLINED;
        }

        return ngx_rtmp_cluster_edge_play(s, v) == NGX_OK ? NGX_DECLINED
                                                          : NGX_ERROR;
    }

    if (cacf->coworkers == NULL && cacf->managers == NULL) {
        return ngx_rtmp_cluster_play_decide(s, v, w, NGX_DECLINED);
    }

    w->handler = ngx_rtmp_cluster_play_found;

    rc = ngx_rtmp_cluster_lookup(w);

    if (rc != NGX_AGAIN) {
        return ngx_rtmp_cluster_play_decide(s, v, w, rc);
    }

    /* suspended: play goes on when the coworkers have answered */

    ctx->play = ngx_palloc(s->connection->pool, sizeof(ngx_rtmp_play_t));
    if (ctx->play == NULL) {
        ngx_rtmp_cluster_lookup_cancel(w);
        return NGX_ERROR;
    }

    *ctx->play = *v;

    return NGX_OK;
}


static void
ngx_rtmp_cluster_play_found(ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    ngx_rtmp_session_t      *s;
    ngx_rtmp_cluster_ctx_t  *ctx;

    s = w->data;
    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    rc = ngx_rtmp_cluster_play_decide(s, ctx->play, w, rc);

    if (rc == NGX_DECLINED) {
        rc = ngx_rtmp_cluster_next_play(s, ctx->play);
    }

    if (rc == NGX_ERROR) {
        ngx_rtmp_finalize_session(s);
    }
}


static ngx_int_t
ngx_rtmp_cluster_play_decide(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = w->cacf;

    if (rc == NGX_OK && ngx_rtmp_cluster_is_self(s, w)) {
        rc = NGX_DECLINED;
    }

    if (rc == NGX_OK) {
        if (cacf->found == NGX_RTMP_CLUSTER_FOUND_PROXY) {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "cluster: \"%V\" is on %s:%d, proxying it",
                          &w->key, w->addr, (int) w->port);

            if (ngx_rtmp_cluster_edge_proxy(s, v, w->addr, w->port)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            return NGX_DECLINED;
        }

        return ngx_rtmp_cluster_redirect(s, v, w);
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

    /* as nginx-rtmp does: wait for a publisher */
    return NGX_DECLINED;
}


/* a coworker naming ourselves (a shared or stale entry) is no answer */

static ngx_int_t
ngx_rtmp_cluster_is_self(ngx_rtmp_session_t *s, ngx_rtmp_cluster_waiter_t *w)
{
    in_port_t   port;
    in_addr_t   a, b;
    ngx_str_t   host;

    if (ngx_rtmp_cluster_advertised(w->cacf,
            ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module),
            NULL, &host, &port)
        != NGX_OK)
    {
        return 0;
    }

    if (port != w->port) {
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
 */

static ngx_int_t
ngx_rtmp_cluster_redirect(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v,
    ngx_rtmp_cluster_waiter_t *w)
{
    u_char                  *p;
    ngx_str_t                tc_url, full;
    ngx_rtmp_header_t        h;
    ngx_rtmp_cluster_ctx_t  *ctx;
    ngx_rtmp_cluster_zone_t *zone;

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

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

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

    if (w->cacf->dialect == NGX_RTMP_CLUSTER_DIALECT_SRS) {
        if (ngx_rtmp_send_status(s, "NetStream.Play.Reset", "status",
                                 "Playing and resetting") != NGX_OK
            || ngx_rtmp_send_status(s, "NetStream.Play.Start", "status",
                                    "Started playing") != NGX_OK)
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
        (void) ngx_atomic_fetch_add(&zone->sh->redirects_sent, 1);
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: redirecting the play of \"%V\" to \"%V\"",
                  &w->key, &full);

    /* the player reconnects elsewhere; close if it lingers */

    ctx->close_evt.data = s->connection;
    ctx->close_evt.log = s->connection->log;
    ctx->close_evt.handler = ngx_rtmp_cluster_close_handler;

    ngx_add_timer(&ctx->close_evt, 3000);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_close_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_rtmp_finalize_session(c->data);
}


/* NGX_DECLINED: go on with nginx-rtmp's publish; NGX_OK: handled here */

ngx_int_t
ngx_rtmp_cluster_origin_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (cacf->managers) {
        /* a lease first; the coworkers only if no manager answers */
        return ngx_rtmp_cluster_lease_publish(s, v);
    }

    return ngx_rtmp_cluster_origin_check_publish(s, v);
}


/* is the stream live on another origin?  ask the coworkers */

ngx_int_t
ngx_rtmp_cluster_origin_check_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v)
{
    ngx_int_t                     rc;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_waiter_t    *w;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (!cacf->reject_duplicate || cacf->coworkers == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    w = ngx_rtmp_cluster_waiter(s, ctx, v->name);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    /* a cached "found" may be the stream this publisher comes back with */
    w->fresh = 1;
    w->handler = ngx_rtmp_cluster_publish_found;

    rc = ngx_rtmp_cluster_lookup(w);

    if (rc != NGX_AGAIN) {
        return ngx_rtmp_cluster_publish_decide(s, w, rc);
    }

    if (ctx->publish == NULL) {
        ctx->publish = ngx_palloc(s->connection->pool,
                                  sizeof(ngx_rtmp_publish_t));
        if (ctx->publish == NULL) {
            ngx_rtmp_cluster_lookup_cancel(w);
            return NGX_ERROR;
        }

        *ctx->publish = *v;
    }

    return NGX_OK;
}


static void
ngx_rtmp_cluster_publish_found(ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    ngx_rtmp_session_t      *s;
    ngx_rtmp_cluster_ctx_t  *ctx;

    s = w->data;
    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    rc = ngx_rtmp_cluster_publish_decide(s, w, rc);

    if (rc == NGX_DECLINED) {
        rc = ngx_rtmp_cluster_next_publish(s, ctx->publish);
    }

    if (rc == NGX_ERROR) {
        ngx_rtmp_finalize_session(s);
    }
}


static ngx_int_t
ngx_rtmp_cluster_publish_decide(ngx_rtmp_session_t *s,
    ngx_rtmp_cluster_waiter_t *w, ngx_int_t rc)
{
    if (rc != NGX_OK || ngx_rtmp_cluster_is_self(s, w)) {
        return NGX_DECLINED;
    }

    return ngx_rtmp_cluster_refuse_publish(s, &w->key, w->addr, w->port);
}


ngx_int_t
ngx_rtmp_cluster_refuse_publish(ngx_rtmp_session_t *s, ngx_str_t *key,
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
        (void) ngx_atomic_fetch_add(&zone->sh->publishes_rejected, 1);
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


/* after the live module accepted the publisher: register the stream */

void
ngx_rtmp_cluster_origin_published(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v)
{
    ngx_str_t                      name;
    ngx_rtmp_live_ctx_t           *lctx;
    ngx_rtmp_cluster_ctx_t        *ctx;
    ngx_rtmp_cluster_waiter_t     *w;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing) {
        return;
    }

    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return;
    }

    w = ngx_rtmp_cluster_waiter(s, ctx, v->name);
    if (w == NULL) {
        return;
    }

    if (ngx_rtmp_cluster_registry_add(cmcf->shm_zone, &w->key,
                                      &s->connection->addr_text)
        != NGX_OK)
    {
        return;
    }

    ngx_rtmp_cluster_lookup_forget(cmcf->shm_zone, &w->key);
    ctx->registered = 1;

    /* listed in the status, with its GOP */
    name.data = v->name;
    name.len = ngx_strlen(v->name);

    ctx->published = ngx_rtmp_cluster_stream_record(cmcf->shm_zone,
                                                    NGX_RTMP_CLUSTER_PUBLISH,
                                                    &s->app, &name);
    if (ctx->published) {
        ctx->published->state = NGX_RTMP_CLUSTER_LIVE;
        ctx->published->owner = ngx_pid;
        ctx->record = ctx->published;
    }

    /* this worker serves the stream to the host's other workers */
    (void) ngx_rtmp_cluster_owner(cmcf->shm_zone, &w->key, 1, 1);

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: \"%V\" registered on this origin", &w->key);
}


void
ngx_rtmp_cluster_origin_close(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t        *ctx;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx == NULL) {
        return;
    }

    if (ctx->waiter && ctx->waiter->flight) {
        ngx_rtmp_cluster_lookup_cancel(ctx->waiter);
    }

    if (ctx->lease) {
        ngx_rtmp_cluster_lease_close(s);
    }

    if (ctx->close_evt.timer_set) {
        ngx_del_timer(&ctx->close_evt);
    }

    if (ctx->registered) {
        ctx->registered = 0;

        cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);
        ngx_rtmp_cluster_registry_remove(cmcf->shm_zone, &ctx->waiter->key);
        ngx_rtmp_cluster_owner_release(cmcf->shm_zone, &ctx->waiter->key);

        ngx_rtmp_cluster_stream_record_free(cmcf->shm_zone, ctx->published);
        ctx->published = NULL;
    }
}
