
/*
 * ngx_rtmp_cluster: leases at the stream manager.
 *
 * An origin with "cluster_manager" registers each stream published here
 * (POST, with a token of its own, random per publish), renews it at a
 * third of the TTL the manager granted (PUT with the token) from the
 * publisher's worker, and releases it when the publisher leaves (DELETE,
 * the token in the body).  Every request carries the manager's secret
 * (cluster_manager_secret) in an Authorization header, never in the URL.
 * A lease held by another origin refuses the publish
 * (cluster_duplicate_publish reject).  When no manager answers, the
 * publish goes on (checked against the coworkers if there are any) and
 * the registration is retried.
 *
 * A registration that got no answer may still be carried out: a manager
 * that gave up on a slow Redis does not take the command back.  So the
 * token is chosen here and kept: a registration is repeated with it until
 * a manager answers (the manager takes a lease holding that token as
 * ours), and a publisher that leaves meanwhile still releases with it,
 * retrying while the lease could live.  No lease is left behind that
 * nobody can renew or release.
 *
 * The manager also hands a lease over to the same origin address with a
 * new token (an origin killed or restarted lost its token), so before
 * asking it, a publish of a stream already live on another worker of
 * this host is refused here: a takeover never makes two publishers.
 */


#include "ngx_rtmp_cluster.h"

#if (NGX_LINUX)
#include <sys/random.h>
#endif


#define NGX_RTMP_CLUSTER_TOKEN_LEN     32          /* hex digits we make */
#define NGX_RTMP_CLUSTER_RETRY         1000


struct ngx_rtmp_cluster_lease_s {
    ngx_rtmp_session_t             *session;
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_msec_t                      ttl;        /* granted, or asked */
    ngx_event_t                     timer;
    ngx_connection_t                dummy;
    unsigned                        held:1;
    unsigned                        unsure:1;   /* may have been carried
                                                   out, unanswered */
    unsigned                        suspended:1;   /* the publish waits */
    unsigned                        renewing:1;
    u_char                          token[NGX_RTMP_CLUSTER_TOKEN_MAX + 1];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


/* a release that outlives its session, until a manager answers */

typedef struct {
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_uint_t                      tried;      /* managers this round */
    ngx_msec_t                      deadline;   /* the lease is gone by */
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_event_t                     timer;
    ngx_connection_t                dummy;
    u_char                          token[NGX_RTMP_CLUSTER_TOKEN_MAX + 1];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
} ngx_rtmp_cluster_release_t;


static ngx_int_t ngx_rtmp_cluster_lease_local(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_send(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_lease_unreachable(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_resume(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_release(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_release_send(ngx_rtmp_cluster_release_t *rl);
static void ngx_rtmp_cluster_release_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_release_failed(ngx_rtmp_cluster_release_t *rl);
static void ngx_rtmp_cluster_release_timer(ngx_event_t *ev);
static const char *ngx_rtmp_cluster_lease_status(long status);
static void ngx_rtmp_cluster_lease_token(u_char *dst);
static ngx_rtmp_cluster_zone_t *ngx_rtmp_cluster_lease_zone(void);


static ngx_rtmp_cluster_zone_t *
ngx_rtmp_cluster_lease_zone(void)
{
    return ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
}


/*
 * NGX_OK: the publish waits for the manager, or was refused (the session
 * is finalized); NGX_DECLINED: it goes on at once, without a lease.
 */

ngx_int_t
ngx_rtmp_cluster_lease_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_int_t                  rc;
    ngx_rtmp_cluster_ctx_t    *ctx;
    ngx_rtmp_cluster_lease_t  *l;

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->lease) {
        /* a second publish on this session: nginx-rtmp refuses it */
        return NGX_DECLINED;
    }

    l = ngx_pcalloc(s->connection->pool, sizeof(ngx_rtmp_cluster_lease_t));
    ctx->publish = ngx_palloc(s->connection->pool,
                              sizeof(ngx_rtmp_publish_t));

    if (l == NULL || ctx->publish == NULL) {
        return NGX_ERROR;
    }

    *ctx->publish = *v;

    l->session = s;
    l->cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    l->app_len = s->app.len;
    l->ttl = l->cacf->lease_ttl;

    if (ngx_rtmp_cluster_key(&s->app, v->name, &l->key, l->key_buf)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_rtmp_cluster_lease_local(l);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    ngx_rtmp_cluster_lease_token(l->token);

    l->dummy.fd = (ngx_socket_t) -1;
    l->dummy.data = l;

    l->timer.data = &l->dummy;
    l->timer.log = s->connection->log;
    l->timer.handler = ngx_rtmp_cluster_lease_timer;
    l->timer.cancelable = 1;

    ctx->lease = l;
    l->suspended = 1;

    ngx_rtmp_cluster_lease_send(l);

    return NGX_OK;
}


/*
 * The stream live on a worker of this host (its publisher registered in
 * the zone, the worker alive): refused, or with duplicates allowed, let
 * through without a lease of its own, since that worker holds the
 * host's.  NGX_AGAIN: not live here, ask the manager.
 */

static ngx_int_t
ngx_rtmp_cluster_lease_local(ngx_rtmp_cluster_lease_t *l)
{
    in_port_t                      port;
    ngx_str_t                      host;
    ngx_rtmp_session_t            *s;
    ngx_rtmp_cluster_main_conf_t  *cmcf;
    u_char                         addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    s = l->session;
    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);

    if (cmcf->shm_zone == NULL
        || ngx_rtmp_cluster_registry_find(cmcf->shm_zone, &l->key) == 0)
    {
        return NGX_AGAIN;
    }

    if (!l->cacf->reject_duplicate) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "cluster: \"%V\" is live on another worker of this "
                      "host; publishing without a lease", &l->key);
        return NGX_DECLINED;
    }

    (void) ngx_rtmp_cluster_advertised(l->cacf,
               ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module),
               NULL, &host, &port);

    ngx_cpystrn(addr, host.data, ngx_min(host.len + 1, sizeof(addr)));

    return ngx_rtmp_cluster_refuse_publish(s, &l->key, addr, port);
}


/* register (POST) or, with a lease held, renew (PUT) */

static void
ngx_rtmp_cluster_lease_send(ngx_rtmp_cluster_lease_t *l)
{
    u_char                       *p;
    in_port_t                     port;
    ngx_str_t                     url, body, host;
    ngx_rtmp_session_t           *s;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];
    u_char                        json[NGX_RTMP_CLUSTER_ADDR_LEN
                                       + NGX_RTMP_CLUSTER_TOKEN_MAX + 64];

    s = l->session;
    m = l->cacf->managers->elts;
    m = &m[l->manager];

    if (ngx_rtmp_cluster_manager_url(m, &l->key, l->app_len, &url, buf,
                                     sizeof(buf))
        != NGX_OK)
    {
        ngx_rtmp_cluster_lease_unreachable(l);
        return;
    }

    body.data = json;

    if (l->held) {
        l->renewing = 1;
        p = ngx_snprintf(json, sizeof(json), "{\"token\":\"%s\",\"ttl\":%M}",
                         l->token, l->cacf->lease_ttl / 1000);

    } else {
        l->renewing = 0;

        (void) ngx_rtmp_cluster_advertised(l->cacf,
                   ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module),
                   NULL, &host, &port);

        p = ngx_snprintf(json, sizeof(json),
                         "{\"host\":\"%V\",\"port\":%d,\"ttl\":%M,"
                         "\"token\":\"%s\"}",
                         &host, (int) port, l->cacf->lease_ttl / 1000,
                         l->token);
    }

    body.len = p - json;

    zone = ngx_rtmp_cluster_lease_zone();
    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->manager_requests, 1);
    }

    l->fetch = ngx_rtmp_cluster_fetch_start_secret(&url, &m->name,
                                            &l->cacf->manager_secret,
                                            l->held ? "PUT" : "POST", &body,
                                            l->cacf->lookup_timeout, 4096,
                                            ngx_rtmp_cluster_lease_answer, l);
    if (l->fetch == NULL) {
        ngx_rtmp_cluster_lease_unreachable(l);
    }
}


static void
ngx_rtmp_cluster_lease_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_lease_t *l = data;

    in_port_t                     port;
    ngx_int_t                     rc;
    ngx_uint_t                    ttl;
    ngx_rtmp_session_t           *s;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                        token[NGX_RTMP_CLUSTER_TOKEN_MAX + 1];

    l->fetch = NULL;
    s = l->session;
    zone = ngx_rtmp_cluster_lease_zone();
    m = l->cacf->managers->elts;

    if (r->error
        || (l->renewing ? (r->status != 200 && r->status != 404
                           && r->status != 409)
                        : (r->status != 201 && r->status != 200
                           && r->status != 409)))
    {
        if (!l->renewing && (r->error || r->status >= 500)) {
            /* it may have reached Redis: repeated with the same token */
            l->unsure = 1;
        }

        ngx_rtmp_cluster_manager_result(l->cacf, l->manager, r,
                                        r->error ? r->error
                                        : ngx_rtmp_cluster_lease_status(
                                                                r->status));
        ngx_rtmp_cluster_lease_unreachable(l);
        return;
    }

    ngx_rtmp_cluster_manager_result(l->cacf, l->manager, r, NULL);

    addr[0] = '\0';
    port = 0;
    token[0] = '\0';

    (void) ngx_rtmp_cluster_parse_lease(r->body, r->len, addr, sizeof(addr),
                                        &port, token, sizeof(token));

    if (r->status == 200 || r->status == 201) {

        /* renewed at a third of what was granted, not of what we asked */

        ttl = ngx_rtmp_cluster_parse_lease_ttl(r->body, r->len);
        l->ttl = ttl ? ttl * 1000 : l->cacf->lease_ttl;

        if (!l->renewing) {
            if (token[0]) {
                /* ours, or one a manager made if it ignored ours */
                ngx_cpystrn(l->token, token, sizeof(l->token));
            }

            l->held = 1;
            l->unsure = 0;

            if (zone) {
                (void) ngx_atomic_fetch_add(&zone->sh->leases_held, 1);
            }

            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "cluster: \"%V\" leased at manager \"%V\" for "
                          "%Mms", &l->key, &m[l->manager].name, l->ttl);

            /*
             * Another worker of this host may have published it while we
             * asked, its lease taken over by ours: refused (the lease is
             * released as the session closes), or let through without
             * one.  That worker registers again when its renewal finds no
             * lease.
             */

            rc = l->suspended ? ngx_rtmp_cluster_lease_local(l) : NGX_AGAIN;

            if (rc == NGX_OK) {
                return;
            }

            if (rc == NGX_DECLINED) {
                ngx_rtmp_cluster_release(l);
                ngx_rtmp_cluster_lease_resume(l);
                return;
            }
        }

        ngx_add_timer(&l->timer, ngx_max(l->ttl / 3, 1));

        if (l->suspended) {
            ngx_rtmp_cluster_lease_resume(l);
        }

        return;
    }

    if (l->renewing) {
        /* our lease expired or was taken: register again, same token */

        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "cluster: manager \"%V\" refused to renew the lease of "
                      "\"%V\" (HTTP %l), registering again",
                      &m[l->manager].name, &l->key, r->status);

        if (zone) {
            (void) ngx_atomic_fetch_add(&zone->sh->renew_failures, 1);
            (void) ngx_atomic_fetch_add(&zone->sh->leases_held, -1);
        }

        l->held = 0;
        ngx_rtmp_cluster_lease_send(l);
        return;
    }

    /* 409 on a registration: another origin holds the stream */

    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->lease_conflicts, 1);
    }

    if (l->suspended && l->cacf->reject_duplicate) {
        l->suspended = 0;
        (void) ngx_rtmp_cluster_refuse_publish(s, &l->key,
                                               addr[0] ? addr
                                                       : (u_char *) "?",
                                               port);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                  "cluster: \"%V\" is leased by %s:%d at manager \"%V\"; "
                  "publishing here anyway", &l->key, addr, (int) port,
                  &m[l->manager].name);

    ngx_add_timer(&l->timer, ngx_max(l->ttl / 3, 1));

    if (l->suspended) {
        ngx_rtmp_cluster_lease_resume(l);
    }
}


/* this manager failed: the next one, else go on without and retry */

static void
ngx_rtmp_cluster_lease_unreachable(ngx_rtmp_cluster_lease_t *l)
{
    ngx_int_t                 rc;
    ngx_rtmp_session_t       *s;
    ngx_rtmp_cluster_zone_t  *zone;

    s = l->session;

    if (l->manager + 1 < l->cacf->managers->nelts) {
        l->manager++;
        ngx_rtmp_cluster_lease_send(l);
        return;
    }

    l->manager = 0;

    if (l->renewing) {
        zone = ngx_rtmp_cluster_lease_zone();
        if (zone) {
            (void) ngx_atomic_fetch_add(&zone->sh->renew_failures, 1);
        }
    }

    /* renew again well before the lease could expire, or register */
    ngx_add_timer(&l->timer, ngx_max(ngx_min(NGX_RTMP_CLUSTER_RETRY,
                                             l->ttl / 3), 1));

    if (!l->suspended) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                  "cluster: no stream manager answered the registration of "
                  "\"%V\"; publishing, registration retried", &l->key);

    /* the coworkers can still tell whether it is live elsewhere */

    l->suspended = 0;

    rc = ngx_rtmp_cluster_origin_check_publish(s,
             ((ngx_rtmp_cluster_ctx_t *)
              ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module))->publish);

    if (rc == NGX_DECLINED) {
        l->suspended = 1;
        ngx_rtmp_cluster_lease_resume(l);

    } else if (rc == NGX_ERROR) {
        ngx_rtmp_finalize_session(s);
    }
}


static void
ngx_rtmp_cluster_lease_resume(ngx_rtmp_cluster_lease_t *l)
{
    ngx_rtmp_session_t      *s;
    ngx_rtmp_cluster_ctx_t  *ctx;

    l->suspended = 0;

    s = l->session;
    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (ngx_rtmp_cluster_next_publish(s, ctx->publish) != NGX_OK) {
        ngx_rtmp_finalize_session(s);
    }
}


static void
ngx_rtmp_cluster_lease_timer(ngx_event_t *ev)
{
    ngx_rtmp_cluster_lease_t  *l;

    l = ((ngx_connection_t *) ev->data)->data;

    if (l->fetch == NULL) {
        ngx_rtmp_cluster_lease_send(l);
    }
}


/*
 * The publisher left: the lease is released, as is one whose
 * registration is still unanswered (it may be carried out yet).  The
 * release is on its own from here: tried on each manager in turn, every
 * second, until one answers or the lease would have expired anyway.
 */

void
ngx_rtmp_cluster_lease_close(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t    *ctx;
    ngx_rtmp_cluster_lease_t  *l;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    l = ctx->lease;
    ctx->lease = NULL;

    if (l->fetch) {
        ngx_rtmp_cluster_fetch_cancel(l->fetch);
        l->fetch = NULL;

        if (!l->held) {
            /* a registration in flight */
            l->unsure = 1;
        }
    }

    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    if (l->held || l->unsure) {
        ngx_rtmp_cluster_release(l);
    }
}


static void
ngx_rtmp_cluster_release(ngx_rtmp_cluster_lease_t *l)
{
    ngx_rtmp_cluster_zone_t     *zone;
    ngx_rtmp_cluster_release_t  *rl;

    if (l->held) {
        l->held = 0;

        zone = ngx_rtmp_cluster_lease_zone();
        if (zone) {
            (void) ngx_atomic_fetch_add(&zone->sh->leases_held, -1);
        }
    }

    l->unsure = 0;

    rl = ngx_calloc(sizeof(ngx_rtmp_cluster_release_t), ngx_cycle->log);
    if (rl == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: cannot release the lease of \"%V\"",
                      &l->key);
        return;
    }

    rl->cacf = l->cacf;
    rl->manager = l->manager;
    rl->deadline = ngx_current_msec + ngx_max(l->ttl, l->cacf->lease_ttl);
    rl->app_len = l->app_len;
    rl->key.data = rl->key_buf;
    rl->key.len = l->key.len;
    ngx_memcpy(rl->key_buf, l->key.data, l->key.len);
    ngx_memcpy(rl->token, l->token, sizeof(rl->token));

    /* nothing refers to the session: it is going */

    rl->dummy.fd = (ngx_socket_t) -1;
    rl->dummy.data = rl;

    rl->timer.data = &rl->dummy;
    rl->timer.log = ngx_cycle->log;
    rl->timer.handler = ngx_rtmp_cluster_release_timer;
    rl->timer.cancelable = 1;

    ngx_rtmp_cluster_release_send(rl);
}


/* DELETE with {"token":...}: the token stays out of URLs and logs */

static void
ngx_rtmp_cluster_release_send(ngx_rtmp_cluster_release_t *rl)
{
    u_char                       *p;
    ngx_str_t                     url, body;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];
    u_char                        json[NGX_RTMP_CLUSTER_TOKEN_MAX + 16];

    m = rl->cacf->managers->elts;
    m = &m[rl->manager];

    if (ngx_rtmp_cluster_manager_url(m, &rl->key, rl->app_len, &url, buf,
                                     sizeof(buf))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: cannot release the lease of \"%V\"",
                      &rl->key);
        ngx_free(rl);
        return;
    }

    p = ngx_snprintf(json, sizeof(json), "{\"token\":\"%s\"}", rl->token);

    body.data = json;
    body.len = p - json;

    rl->fetch = ngx_rtmp_cluster_fetch_start_secret(&url, &m->name,
                                         &rl->cacf->manager_secret, "DELETE",
                                         &body, rl->cacf->lookup_timeout,
                                         4096,
                                         ngx_rtmp_cluster_release_answer, rl);
    if (rl->fetch == NULL) {
        ngx_rtmp_cluster_release_failed(rl);
    }
}


static void
ngx_rtmp_cluster_release_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_release_t *rl = data;

    rl->fetch = NULL;

    /* 404: no lease (expired, or never carried out); 409: not ours now */

    if (r->error
        || (r->status != 200 && r->status != 404 && r->status != 409))
    {
        ngx_rtmp_cluster_manager_result(rl->cacf, rl->manager, r,
                                        r->error ? r->error
                                        : ngx_rtmp_cluster_lease_status(
                                                                r->status));
        ngx_rtmp_cluster_release_failed(rl);
        return;
    }

    ngx_rtmp_cluster_manager_result(rl->cacf, rl->manager, r, NULL);

    ngx_log_debug2(NGX_LOG_DEBUG_RTMP, ngx_cycle->log, 0,
                   "cluster: lease of \"%V\" released (HTTP %l)",
                   &rl->key, r->status);

    ngx_free(rl);
}


/* the next manager, else all again in a second, while the lease lives */

static void
ngx_rtmp_cluster_release_failed(ngx_rtmp_cluster_release_t *rl)
{
    rl->manager = (rl->manager + 1) % rl->cacf->managers->nelts;

    if (++rl->tried < rl->cacf->managers->nelts) {
        ngx_rtmp_cluster_release_send(rl);
        return;
    }

    rl->tried = 0;

    if ((ngx_msec_int_t) (rl->deadline - ngx_current_msec)
        <= NGX_RTMP_CLUSTER_RETRY
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: the lease of \"%V\" could not be released; "
                      "it expires by itself", &rl->key);
        ngx_free(rl);
        return;
    }

    ngx_add_timer(&rl->timer, NGX_RTMP_CLUSTER_RETRY);
}


static void
ngx_rtmp_cluster_release_timer(ngx_event_t *ev)
{
    ngx_rtmp_cluster_release_send(((ngx_connection_t *) ev->data)->data);
}


/* why an answer does not count */

static const char *
ngx_rtmp_cluster_lease_status(long status)
{
    switch (status) {

    case 401:
        return "HTTP 401: the secret was refused, "
               "see cluster_manager_secret";

    case 503:
    case 504:
        return "the manager cannot reach redis";

    default:
        return "unexpected HTTP status";
    }
}


/* TOKEN_LEN hex digits and a NUL, from the kernel's random source */

static void
ngx_rtmp_cluster_lease_token(u_char *dst)
{
    ngx_uint_t  i;
    u_char      rnd[NGX_RTMP_CLUSTER_TOKEN_LEN / 2];

#if (NGX_LINUX)
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
#endif
    {
        for (i = 0; i < sizeof(rnd); i++) {
            rnd[i] = (u_char) (ngx_random() >> 8);
        }
    }

    *ngx_hex_dump(dst, rnd, sizeof(rnd)) = '\0';
}


/* BASE/APP/NAME, each escaped */

ngx_int_t
ngx_rtmp_cluster_manager_url(ngx_rtmp_cluster_coworker_t *m, ngx_str_t *key,
    size_t app_len, ngx_str_t *url, u_char *buf, size_t size)
{
    u_char  *p, *last;
    size_t   len, nlen;

    last = buf + size;
    nlen = key->len - app_len - 1;

    len = ngx_escape_uri(NULL, key->data, app_len, NGX_ESCAPE_URI_COMPONENT)
          + ngx_escape_uri(NULL, key->data + app_len + 1, nlen,
                           NGX_ESCAPE_URI_COMPONENT);

    if (m->url.len + 2 + key->len + 2 * len >= size) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, m->url.data, m->url.len);
    *p++ = '/';
    p = (u_char *) ngx_escape_uri(p, key->data, app_len,
                                  NGX_ESCAPE_URI_COMPONENT);
    *p++ = '/';
    p = (u_char *) ngx_escape_uri(p, key->data + app_len + 1, nlen,
                                  NGX_ESCAPE_URI_COMPONENT);

    if (p >= last) {
        return NGX_ERROR;
    }

    url->data = buf;
    url->len = p - buf;

    return NGX_OK;
}


/* the cluster_manager_secret directive: kept as given, checked here */

char *
ngx_rtmp_cluster_manager_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_rtmp_cluster_app_conf_t *cacf = conf;

    ngx_str_t  *value;

    if (cacf->manager_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_rtmp_cluster_secret_valid(value[1].data, value[1].len)
        != NGX_OK)
    {
        /* the secret itself is not repeated in the log */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_manager_secret\": invalid secret, "
                           "expected 1 to 256 printable ASCII characters "
                           "without spaces");
        return NGX_CONF_ERROR;
    }

    cacf->manager_secret = value[1];

    return NGX_CONF_OK;
}


/* the manager's health, for the status handler */

void
ngx_rtmp_cluster_manager_result(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_uint_t i, ngx_rtmp_cluster_fetch_result_t *r, const char *err)
{
    u_char                       *p;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_coworker_t  *m;

    zone = ngx_rtmp_cluster_lease_zone();
    if (zone == NULL) {
        return;
    }

    if (err == NULL) {
        zone->sh->manager_down = 0;
        return;
    }

    m = cacf->managers->elts;

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: stream manager \"%V\" failed (HTTP %l after "
                  "%Mms): %s", &m[i].name, r->status, r->elapsed, err);

    (void) ngx_atomic_fetch_add(&zone->sh->manager_errors, 1);

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->manager_down = 1;
    zone->sh->manager_failed = ngx_time();
    p = ngx_snprintf(zone->sh->manager_error,
                     sizeof(zone->sh->manager_error) - 1, "%V: %s",
                     &m[i].name, err);
    *p = '\0';

    ngx_shmtx_unlock(&zone->shpool->mutex);
}
