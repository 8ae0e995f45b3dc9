
/*
 * ngx_rtmp_cluster: leases at the stream manager.
 *
 * An origin with "cluster_manager" registers each stream published here
 * (POST, a lease with a TTL and a token), renews it at a third of the TTL
 * (PUT with the token) from the publisher's worker, and releases it when
 * the publisher leaves (DELETE with the token).  A lease held by another
 * origin refuses the publish (cluster_duplicate_publish reject).  When no
 * manager answers, the publish goes on (checked against the coworkers if
 * there are any) and the registration is retried.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_TOKEN_LEN     64
#define NGX_RTMP_CLUSTER_RETRY         1000


struct ngx_rtmp_cluster_lease_s {
    ngx_rtmp_session_t             *session;
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_event_t                     timer;
    ngx_connection_t                dummy;
    unsigned                        held:1;
    unsigned                        suspended:1;   /* the publish waits */
    unsigned                        renewing:1;
    u_char                          token[NGX_RTMP_CLUSTER_TOKEN_LEN];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
};


static void ngx_rtmp_cluster_lease_send(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_lease_unreachable(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_resume(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_lease_released(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static ngx_rtmp_cluster_zone_t *ngx_rtmp_cluster_lease_zone(void);


static ngx_rtmp_cluster_zone_t *
ngx_rtmp_cluster_lease_zone(void)
{
    return ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
}


/* suspends the publish until the manager has answered: NGX_OK */

ngx_int_t
ngx_rtmp_cluster_lease_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
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

    if (ngx_rtmp_cluster_key(&s->app, v->name, &l->key, l->key_buf)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

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
                                       + NGX_RTMP_CLUSTER_TOKEN_LEN + 64];

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
                         "{\"host\":\"%V\",\"port\":%d,\"ttl\":%M}",
                         &host, (int) port, l->cacf->lease_ttl / 1000);
    }

    body.len = p - json;

    zone = ngx_rtmp_cluster_lease_zone();
    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->manager_requests, 1);
    }

    l->fetch = ngx_rtmp_cluster_fetch_start(&url, &m->name,
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
    ngx_rtmp_session_t           *s;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                        token[NGX_RTMP_CLUSTER_TOKEN_LEN];

    l->fetch = NULL;
    s = l->session;
    zone = ngx_rtmp_cluster_lease_zone();
    m = l->cacf->managers->elts;

    if (r->error || (r->status != 200 && r->status != 201
                     && r->status != 404 && r->status != 409))
    {
        ngx_rtmp_cluster_manager_result(l->cacf, l->manager, r,
                                        r->error ? r->error
                                                 : "unexpected HTTP status");
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

        if (!l->renewing) {
            if (token[0] == '\0') {
                ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                              "cluster: manager \"%V\" answered a "
                              "registration of \"%V\" without a token",
                              &m[l->manager].name, &l->key);
                ngx_rtmp_cluster_lease_unreachable(l);
                return;
            }

            ngx_cpystrn(l->token, token, sizeof(l->token));
            l->held = 1;

            if (zone) {
                (void) ngx_atomic_fetch_add(&zone->sh->leases_held, 1);
            }

            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "cluster: \"%V\" leased at manager \"%V\"",
                          &l->key, &m[l->manager].name);
        }

        ngx_add_timer(&l->timer, l->cacf->lease_ttl / 3);

        if (l->suspended) {
            ngx_rtmp_cluster_lease_resume(l);
        }

        return;
    }

    if (l->renewing) {
        /* our lease expired or was taken: register again */

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

    ngx_add_timer(&l->timer, l->cacf->lease_ttl / 3);

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
    ngx_add_timer(&l->timer, ngx_min(NGX_RTMP_CLUSTER_RETRY,
                                     l->cacf->lease_ttl / 3));

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


/* the publisher left: release the lease, without waiting for the answer */

void
ngx_rtmp_cluster_lease_close(ngx_rtmp_session_t *s)
{
    u_char                       *p;
    ngx_str_t                     url;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_lease_t     *l;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    l = ctx->lease;
    ctx->lease = NULL;

    if (l->fetch) {
        ngx_rtmp_cluster_fetch_cancel(l->fetch);
        l->fetch = NULL;
    }

    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    if (!l->held) {
        return;
    }

    zone = ngx_rtmp_cluster_lease_zone();
    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->leases_held, -1);
    }

    m = l->cacf->managers->elts;
    m = &m[l->manager];

    if (ngx_rtmp_cluster_manager_url(m, &l->key, l->app_len, &url, buf,
                                     sizeof(buf) - NGX_RTMP_CLUSTER_TOKEN_LEN
                                     - 8)
        != NGX_OK)
    {
        return;
    }

    p = ngx_sprintf(url.data + url.len, "?token=%s", l->token);
    url.len = p - url.data;

    /* nothing refers to the session: it is going */
    if (ngx_rtmp_cluster_fetch_start(&url, &m->name, "DELETE", NULL,
                                     l->cacf->lookup_timeout, 4096,
                                     ngx_rtmp_cluster_lease_released, NULL)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "cluster: cannot release the lease of \"%V\"",
                      &l->key);
    }
}


static void
ngx_rtmp_cluster_lease_released(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    if (r->error || (r->status != 200 && r->status != 404)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: a lease release failed (HTTP %l): %s; "
                      "it expires by itself", r->status,
                      r->error ? r->error : "unexpected status");
    }
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
