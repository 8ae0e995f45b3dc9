
/*
 * ngx_rtmp_cluster: where is a stream?  An origin that lacks a stream asks
 * all its coworkers at once (SRS's /api/v1/clusters); the first positive
 * answer wins and the other requests are cancelled.
 *
 * Lookups are single-flight across the workers of a host: the zone holds
 * one entry per "app/name", pending while one worker (its owner) asks the
 * coworkers.  Players of the same stream on that worker wait on its
 * flight; on other workers they poll the entry until it is answered.  The
 * answer stays in the zone for a while (found and not found have their
 * own times), so a storm of players makes one query per coworker.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_POLL          10
#define NGX_RTMP_CLUSTER_ANSWER_MAX    65536


typedef struct {
    ngx_queue_t                     queue;
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_str_t                       tc_host;
    uint32_t                        hash;
    ngx_queue_t                     waiters;
    ngx_rtmp_cluster_fetch_t       *fetches[NGX_RTMP_CLUSTER_MAX_COWORKERS];
    ngx_rtmp_cluster_fetch_t       *manager_fetch;
    ngx_uint_t                      manager;
    ngx_uint_t                      pending;
    ngx_msec_t                      started;
    ngx_event_t                     timer;
    ngx_connection_t                dummy;
    unsigned                        owner:1;
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
    u_char                          host_buf[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_flight_t;


static ngx_rtmp_cluster_flight_t *ngx_rtmp_cluster_flight_get(
    ngx_rtmp_cluster_waiter_t *w, ngx_rtmp_cluster_zone_t *zone,
    uint32_t hash);
static ngx_int_t ngx_rtmp_cluster_flight_ask(ngx_rtmp_cluster_flight_t *fl);
static ngx_int_t ngx_rtmp_cluster_flight_ask_manager(
    ngx_rtmp_cluster_flight_t *fl);
static void ngx_rtmp_cluster_flight_manager(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static ngx_int_t ngx_rtmp_cluster_flight_ask_coworkers(
    ngx_rtmp_cluster_flight_t *fl);
static void ngx_rtmp_cluster_flight_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_flight_finish(ngx_rtmp_cluster_flight_t *fl,
    ngx_int_t rc, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_flight_notify(ngx_rtmp_cluster_flight_t *fl,
    ngx_int_t rc, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_flight_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_flight_free(ngx_rtmp_cluster_flight_t *fl);


static ngx_queue_t  ngx_rtmp_cluster_flights;


ngx_int_t
ngx_rtmp_cluster_lookup_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_rtmp_cluster_flights);

    return ngx_rtmp_cluster_fetch_init(cycle);
}


/*
 * NGX_OK: found (w->addr, w->port), NGX_DECLINED: not found, both at once
 * from the cache; NGX_AGAIN: w->handler is called later.
 */

ngx_int_t
ngx_rtmp_cluster_lookup(ngx_rtmp_cluster_waiter_t *w)
{
    uint32_t                       hash;
    uint64_t                       now;
    ngx_int_t                      rc;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_flight_t     *fl;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL
        || (w->cacf->coworkers == NULL && w->cacf->managers == NULL))
    {
        return NGX_DECLINED;
    }

    (void) ngx_atomic_fetch_add(&zone->sh->lookups_total, 1);

    hash = ngx_crc32_short(w->key.data, w->key.len);
    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&zone->sh->lookups, &w->key, hash);

    if (e && e->state == NGX_RTMP_CLUSTER_LOOKUP_FOUND && now < e->expires
        && !w->fresh)
    {
        ngx_memcpy(w->addr, e->addr, sizeof(w->addr));
        w->port = e->port;

        ngx_queue_remove(&e->queue);
        ngx_queue_insert_tail(&zone->sh->lookups.queue, &e->queue);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        (void) ngx_atomic_fetch_add(&zone->sh->lookups_cached, 1);
        return NGX_OK;
    }

    if (e && e->state == NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND && now < e->expires)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        (void) ngx_atomic_fetch_add(&zone->sh->lookups_cached, 1);
        return NGX_DECLINED;
    }

    if (e && e->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING
        && now < e->since + w->cacf->lookup_timeout + 1000
        && (e->pid == ngx_pid || ngx_rtmp_cluster_pid_alive(e->pid)))
    {
        /* someone is asking already: wait for that answer */

        ngx_shmtx_unlock(&zone->shpool->mutex);

        fl = ngx_rtmp_cluster_flight_get(w, zone, hash);
        if (fl == NULL) {
            return NGX_DECLINED;
        }

        if (!fl->owner && !fl->timer.timer_set) {
            ngx_add_timer(&fl->timer, NGX_RTMP_CLUSTER_POLL);
        }

        ngx_queue_insert_tail(&fl->waiters, &w->queue);
        w->flight = fl;

        (void) ngx_atomic_fetch_add(&zone->sh->lookups_joined, 1);
        return NGX_AGAIN;
    }

    /* nobody asked, the answer expired, or its owner died: ask */

    if (e == NULL) {
        e = ngx_rtmp_cluster_table_add(zone, &zone->sh->lookups, &w->key,
                                       hash);
    }

    if (e) {
        e->state = NGX_RTMP_CLUSTER_LOOKUP_PENDING;
        e->pid = ngx_pid;
        e->since = now;
        e->expires = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (e == NULL) {
        ngx_rtmp_cluster_zone_full(zone->shm_zone, "cannot be looked up",
                                   &w->key);
        return NGX_DECLINED;
    }

    fl = ngx_rtmp_cluster_flight_get(w, zone, hash);
    if (fl == NULL) {
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&fl->waiters, &w->queue);
    w->flight = fl;

    rc = ngx_rtmp_cluster_flight_ask(fl);

    if (rc != NGX_AGAIN) {
        /* no request could start: answer at once, without the handler */
        ngx_queue_remove(&w->queue);
        w->flight = NULL;

        ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


void
ngx_rtmp_cluster_lookup_cancel(ngx_rtmp_cluster_waiter_t *w)
{
    ngx_rtmp_cluster_flight_t  *fl;

    fl = w->flight;
    if (fl == NULL) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->flight = NULL;

    /* an owner goes on: its answer serves the others through the cache */

    if (!fl->owner && ngx_queue_empty(&fl->waiters)) {
        ngx_rtmp_cluster_flight_free(fl);
    }
}


/* a published stream makes earlier answers about it wrong */

void
ngx_rtmp_cluster_lookup_forget(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    ngx_rtmp_cluster_table_remove(shm_zone,
        &((ngx_rtmp_cluster_zone_t *) shm_zone->data)->sh->lookups, key, 0);
}


static ngx_rtmp_cluster_flight_t *
ngx_rtmp_cluster_flight_get(ngx_rtmp_cluster_waiter_t *w,
    ngx_rtmp_cluster_zone_t *zone, uint32_t hash)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_flight_t  *fl;

    for (q = ngx_queue_head(&ngx_rtmp_cluster_flights);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_flights);
         q = ngx_queue_next(q))
    {
        fl = ngx_queue_data(q, ngx_rtmp_cluster_flight_t, queue);

        if (fl->hash == hash && fl->cacf == w->cacf
            && fl->key.len == w->key.len
            && ngx_strncmp(fl->key.data, w->key.data, w->key.len) == 0)
        {
            return fl;
        }
    }

    fl = ngx_calloc(sizeof(ngx_rtmp_cluster_flight_t), ngx_cycle->log);
    if (fl == NULL) {
        return NULL;
    }

    fl->cacf = w->cacf;
    fl->zone = zone;
    fl->hash = hash;
    fl->started = ngx_current_msec;

    fl->app_len = w->app_len;
    fl->key.data = fl->key_buf;
    fl->key.len = w->key.len;
    ngx_memcpy(fl->key_buf, w->key.data, w->key.len);

    fl->tc_host.data = fl->host_buf;
    fl->tc_host.len = ngx_min(w->tc_host.len, sizeof(fl->host_buf));
    ngx_memcpy(fl->host_buf, w->tc_host.data, fl->tc_host.len);

    ngx_queue_init(&fl->waiters);

    fl->dummy.fd = (ngx_socket_t) -1;
    fl->dummy.data = fl;

    fl->timer.data = &fl->dummy;
    fl->timer.log = ngx_cycle->log;
    fl->timer.handler = ngx_rtmp_cluster_flight_timer;
    fl->timer.cancelable = 1;

    ngx_queue_insert_tail(&ngx_rtmp_cluster_flights, &fl->queue);

    return fl;
}


/* become the owner: ask the stream manager, else every coworker */

static ngx_int_t
ngx_rtmp_cluster_flight_ask(ngx_rtmp_cluster_flight_t *fl)
{
    fl->owner = 1;
    fl->started = ngx_current_msec;
    fl->manager = 0;

    if (fl->timer.timer_set) {
        ngx_del_timer(&fl->timer);
    }

    if (fl->cacf->managers) {
        return ngx_rtmp_cluster_flight_ask_manager(fl);
    }

    return ngx_rtmp_cluster_flight_ask_coworkers(fl);
}


/* one question to one manager, in the configured order */

static ngx_int_t
ngx_rtmp_cluster_flight_ask_manager(ngx_rtmp_cluster_flight_t *fl)
{
    ngx_str_t                     url;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];

    m = fl->cacf->managers->elts;

    for ( ;; ) {
        if (fl->manager == fl->cacf->managers->nelts) {
            /* no manager answered: the coworkers, if any */
            return ngx_rtmp_cluster_flight_ask_coworkers(fl);
        }

        if (ngx_rtmp_cluster_manager_url(&m[fl->manager], &fl->key,
                                         fl->app_len, &url, buf, sizeof(buf))
            == NGX_OK)
        {
            fl->manager_fetch = ngx_rtmp_cluster_fetch_start(&url,
                                       &m[fl->manager].name, "GET", NULL,
                                       fl->cacf->lookup_timeout, 4096,
                                       ngx_rtmp_cluster_flight_manager, fl);
            if (fl->manager_fetch) {
                break;
            }
        }

        fl->manager++;
    }

    (void) ngx_atomic_fetch_add(&fl->zone->sh->manager_requests, 1);

    ngx_add_timer(&fl->timer, fl->cacf->lookup_timeout);

    return NGX_AGAIN;
}


static void
ngx_rtmp_cluster_flight_manager(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_flight_t *fl = data;

    in_port_t   port;
    ngx_int_t   rc;
    u_char      addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    fl->manager_fetch = NULL;

    rc = NGX_ERROR;

    if (r->error == NULL && r->status == 200) {
        rc = ngx_rtmp_cluster_parse_lease(r->body, r->len, addr,
                                          sizeof(addr), &port, NULL, 0);
        if (rc != NGX_OK) {
            rc = NGX_ERROR;
        }

    } else if (r->error == NULL && r->status == 404) {
        rc = NGX_DECLINED;
    }

    ngx_rtmp_cluster_manager_result(fl->cacf, fl->manager, r,
                                    rc == NGX_ERROR
                                    ? (r->error ? r->error
                                                : "unexpected answer")
                                    : NULL);

    if (rc == NGX_OK) {
        ngx_rtmp_cluster_flight_finish(fl, NGX_OK, addr, port);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
        return;
    }

    if (fl->timer.timer_set) {
        ngx_del_timer(&fl->timer);
    }

    fl->manager++;

    if (ngx_rtmp_cluster_flight_ask_manager(fl) != NGX_AGAIN) {
        ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
    }
}


static ngx_int_t
ngx_rtmp_cluster_flight_ask_coworkers(ngx_rtmp_cluster_flight_t *fl)
{
    u_char                       *p, *last;
    size_t                        len;
    ngx_str_t                     url, app, name;
    ngx_uint_t                    i;
    ngx_rtmp_cluster_coworker_t  *cw;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];

    if (fl->cacf->coworkers == NULL) {
        return NGX_ERROR;
    }

    /* the key is "app/name"; either may hold a '/' */

    app.data = fl->key.data;
    app.len = fl->app_len;
    name.data = fl->key.data + fl->app_len + 1;
    name.len = fl->key.len - fl->app_len - 1;

    cw = fl->cacf->coworkers->elts;

    for (i = 0; i < fl->cacf->coworkers->nelts; i++) {

        last = buf + sizeof(buf);

        p = ngx_slprintf(buf, last, "%V/api/v1/clusters?vhost="
                         "__defaultVhost__&ip=", &cw[i].url);

        len = ngx_escape_uri(NULL, fl->tc_host.data, fl->tc_host.len,
                             NGX_ESCAPE_ARGS);
        if (p + fl->tc_host.len + 2 * len >= last) {
            continue;
        }
        p = (u_char *) ngx_escape_uri(p, fl->tc_host.data, fl->tc_host.len,
                                      NGX_ESCAPE_ARGS);

        p = ngx_slprintf(p, last, "&app=");
        len = ngx_escape_uri(NULL, app.data, app.len, NGX_ESCAPE_ARGS);
        if (p + app.len + 2 * len >= last) {
            continue;
        }
        p = (u_char *) ngx_escape_uri(p, app.data, app.len, NGX_ESCAPE_ARGS);

        p = ngx_slprintf(p, last, "&stream=");
        len = ngx_escape_uri(NULL, name.data, name.len, NGX_ESCAPE_ARGS);
        if (p + name.len + 2 * len >= last) {
            continue;
        }
        p = (u_char *) ngx_escape_uri(p, name.data, name.len,
                                      NGX_ESCAPE_ARGS);

        p = ngx_slprintf(p, last, "&coworker=%V", &cw[i].name);

        url.data = buf;
        url.len = p - buf;

        fl->fetches[i] = ngx_rtmp_cluster_fetch_start(&url, &cw[i].name,
                                                NULL, NULL,
                                                fl->cacf->lookup_timeout,
                                                NGX_RTMP_CLUSTER_ANSWER_MAX,
                                                ngx_rtmp_cluster_flight_answer,
                                                fl);
        if (fl->fetches[i] == NULL) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "cluster: cannot ask coworker \"%V\" about \"%V\"",
                          &cw[i].name, &fl->key);
            continue;
        }

        fl->pending++;

        (void) ngx_atomic_fetch_add(&fl->zone->sh->lookup_queries, 1);
    }

    if (fl->pending == 0) {
        return NGX_ERROR;
    }

    ngx_add_timer(&fl->timer, fl->cacf->lookup_timeout);

    return NGX_AGAIN;
}


static void
ngx_rtmp_cluster_flight_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_flight_t *fl = data;

    ngx_int_t                     rc;
    in_port_t                     port;
    ngx_uint_t                    i;
    const char                   *err;
    ngx_rtmp_cluster_coworker_t  *cw;
    u_char                        addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    cw = fl->cacf->coworkers->elts;

    for (i = 0; i < fl->cacf->coworkers->nelts; i++) {
        if (fl->fetches[i] == f) {
            break;
        }
    }

    if (i == fl->cacf->coworkers->nelts) {
        return;
    }

    fl->fetches[i] = NULL;
    fl->pending--;

    rc = NGX_ERROR;
    err = NULL;

    if (r->error) {
        err = r->error;

    } else if (r->status != 200 && r->status != 201) {
        err = "unexpected HTTP status";

    } else {
        rc = ngx_rtmp_cluster_parse_answer(r->body, r->len, addr,
                                           sizeof(addr), &port, &err);
    }

    if (rc == NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&fl->zone->sh->lookup_errors, 1);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: coworker \"%V\" failed the lookup of \"%V\" "
                      "(HTTP %l after %Mms): %s",
                      &cw[i].name, &fl->key, r->status, r->elapsed, err);

    } else if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: coworker \"%V\" has \"%V\" on %s:%d "
                      "(%Mms)", &cw[i].name, &fl->key, addr, (int) port,
                      r->elapsed);

        ngx_rtmp_cluster_flight_finish(fl, NGX_OK, addr, port);
        return;
    }

    if (fl->pending == 0) {
        ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
    }
}


static void
ngx_rtmp_cluster_flight_timer(ngx_event_t *ev)
{
    ngx_int_t                      rc;
    uint64_t                       now;
    in_port_t                      port;
    ngx_uint_t                     i;
    ngx_rtmp_cluster_flight_t     *fl;
    ngx_rtmp_cluster_coworker_t   *cw;
    ngx_rtmp_cluster_shm_entry_t  *e;
    u_char                         addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    fl = ((ngx_connection_t *) ev->data)->data;

    if (fl->owner && fl->manager_fetch) {
        ngx_rtmp_cluster_fetch_cancel(fl->manager_fetch);
        fl->manager_fetch = NULL;

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: stream manager did not answer the lookup of "
                      "\"%V\" within %Mms", &fl->key,
                      fl->cacf->lookup_timeout);

        fl->manager++;

        if (ngx_rtmp_cluster_flight_ask_manager(fl) != NGX_AGAIN) {
            ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
        }

        return;
    }

    if (fl->owner) {
        cw = fl->cacf->coworkers->elts;

        for (i = 0; i < fl->cacf->coworkers->nelts; i++) {
            if (fl->fetches[i]) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "cluster: coworker \"%V\" did not answer the "
                              "lookup of \"%V\" within %Mms",
                              &cw[i].name, &fl->key,
                              fl->cacf->lookup_timeout);

                (void) ngx_atomic_fetch_add(&fl->zone->sh->lookup_errors, 1);
            }
        }

        ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
        return;
    }

    /* another worker asks: has it answered? */

    now = ngx_rtmp_cluster_now();
    rc = NGX_AGAIN;
    port = 0;

    ngx_shmtx_lock(&fl->zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&fl->zone->sh->lookups, &fl->key,
                                    fl->hash);

    if (e == NULL) {
        rc = NGX_DECLINED;

    } else if (e->state == NGX_RTMP_CLUSTER_LOOKUP_FOUND) {
        ngx_memcpy(addr, e->addr, sizeof(addr));
        port = e->port;
        rc = NGX_OK;

    } else if (e->state == NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND) {
        rc = NGX_DECLINED;

    } else if (now >= e->since + fl->cacf->lookup_timeout + 1000
               || !ngx_rtmp_cluster_pid_alive(e->pid))
    {
        /* its owner died or hangs: take the lookup over */
        e->pid = ngx_pid;
        e->since = now;
        rc = NGX_BUSY;
    }

    ngx_shmtx_unlock(&fl->zone->shpool->mutex);

    switch (rc) {

    case NGX_AGAIN:
        ngx_add_timer(&fl->timer, NGX_RTMP_CLUSTER_POLL);
        return;

    case NGX_BUSY:
        if (ngx_rtmp_cluster_flight_ask(fl) != NGX_AGAIN) {
            ngx_rtmp_cluster_flight_finish(fl, NGX_DECLINED, NULL, 0);
        }
        return;

    default:
        ngx_rtmp_cluster_flight_notify(fl, rc, addr, port);
        ngx_rtmp_cluster_flight_free(fl);
    }
}


/* the owner's answer: into the zone for everyone, then to our waiters */

static void
ngx_rtmp_cluster_flight_finish(ngx_rtmp_cluster_flight_t *fl, ngx_int_t rc,
    u_char *addr, in_port_t port)
{
    uint64_t                       now;
    ngx_msec_t                     elapsed;
    ngx_uint_t                     i;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = fl->zone;

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_COWORKERS; i++) {
        if (fl->fetches[i]) {
            ngx_rtmp_cluster_fetch_cancel(fl->fetches[i]);
            fl->fetches[i] = NULL;
        }
    }

    if (fl->manager_fetch) {
        ngx_rtmp_cluster_fetch_cancel(fl->manager_fetch);
        fl->manager_fetch = NULL;
    }

    fl->pending = 0;

    if (fl->timer.timer_set) {
        ngx_del_timer(&fl->timer);
    }

    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&zone->sh->lookups, &fl->key, fl->hash);

    if (e && e->pid == ngx_pid
        && e->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING)
    {
        if (rc == NGX_OK) {
            e->state = NGX_RTMP_CLUSTER_LOOKUP_FOUND;
            e->expires = now + fl->cacf->cache_found;
            ngx_memcpy(e->addr, addr, sizeof(e->addr));
            e->port = port;

        } else {
            e->state = NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND;
            e->expires = now + fl->cacf->cache_notfound;
        }

        e->since = now;

        ngx_queue_remove(&e->queue);
        ngx_queue_insert_tail(&zone->sh->lookups.queue, &e->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    elapsed = ngx_current_msec - fl->started;

    (void) ngx_atomic_fetch_add(&zone->sh->lookup_ms_total, elapsed);
    ngx_rtmp_cluster_counter_max(&zone->sh->lookup_ms_max, elapsed);

    if (rc == NGX_OK) {
        (void) ngx_atomic_fetch_add(&zone->sh->lookups_found, 1);

    } else {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: no coworker has \"%V\" (%Mms)",
                      &fl->key, elapsed);
    }

    ngx_rtmp_cluster_flight_notify(fl, rc, addr, port);
    ngx_rtmp_cluster_flight_free(fl);
}


static void
ngx_rtmp_cluster_flight_notify(ngx_rtmp_cluster_flight_t *fl, ngx_int_t rc,
    u_char *addr, in_port_t port)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_waiter_t  *w;

    /* a handler may end its session or start another lookup */

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        w = ngx_queue_data(q, ngx_rtmp_cluster_waiter_t, queue);

        ngx_queue_remove(q);
        w->flight = NULL;

        if (rc == NGX_OK) {
            ngx_memcpy(w->addr, addr, sizeof(w->addr));
            w->port = port;
        }

        w->handler(w, rc);
    }
}


static void
ngx_rtmp_cluster_flight_free(ngx_rtmp_cluster_flight_t *fl)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_COWORKERS; i++) {
        if (fl->fetches[i]) {
            ngx_rtmp_cluster_fetch_cancel(fl->fetches[i]);
        }
    }

    if (fl->manager_fetch) {
        ngx_rtmp_cluster_fetch_cancel(fl->manager_fetch);
    }

    if (fl->timer.timer_set) {
        ngx_del_timer(&fl->timer);
    }

    ngx_queue_remove(&fl->queue);
    ngx_free(fl);
}
