
/*
 * ngx_rtmp_cluster: where is a stream?  An origin that lacks a stream asks
 * its stream managers (ngx_rtmp_cluster_managers.c), else all its
 * coworkers at once (SRS's /api/v1/clusters); the first positive answer
 * wins and the other requests are cancelled.
 *
 * Lookups are single-flight across the workers of a host: the zone holds
 * one entry per "app/name", pending while one worker (the asker) asks.
 * Waiters on that worker wait on its flight; on other workers they poll
 * the entry until it is answered.  The answer stays in the zone for a
 * while (found and not found have their own times), so a storm of
 * players makes one query per coworker.
 *
 * A flight has two timers, one job each: the deadline of the coworkers'
 * answers (the asker), and the poll of another worker's answer.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_LOOKUP_POLL    10      /* ms between polls */
#define NGX_RTMP_CLUSTER_LOOKUP_GRACE   1000    /* ms an asker may be late */
#define NGX_RTMP_CLUSTER_ANSWER_MAX     65536   /* bytes of an answer */


typedef struct {
    ngx_queue_t                     queue;      /* the worker's flights */
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_str_t                       tc_host;
    ngx_queue_t                     waiters;
    ngx_rtmp_cluster_fetch_t       *fetches[NGX_RTMP_CLUSTER_MAX_COWORKERS];
    ngx_rtmp_cluster_mlookup_t     *mlookup;
    ngx_uint_t                      pending;    /* coworkers to answer */
    ngx_msec_t                      started;
    ngx_event_t                     deadline;   /* the asker's */
    ngx_event_t                     poll;       /* another's answer */
    ngx_connection_t                dummy;
    unsigned                        asker:1;
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
    u_char                          host_buf[NGX_RTMP_CLUSTER_ADDR_LEN];
} ngx_rtmp_cluster_lookup_flight_t;


static ngx_rtmp_cluster_lookup_flight_t *ngx_rtmp_cluster_lookup_flight_get(
    ngx_rtmp_cluster_waiter_t *w, ngx_rtmp_cluster_zone_t *zone);
static void ngx_rtmp_cluster_lookup_flight_join(
    ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_rtmp_cluster_waiter_t *w);
static ngx_int_t ngx_rtmp_cluster_lookup_flight_ask(
    ngx_rtmp_cluster_lookup_flight_t *fl);
static void ngx_rtmp_cluster_lookup_flight_manager(void *data, ngx_int_t rc,
    u_char *addr, in_port_t port);
static ngx_int_t ngx_rtmp_cluster_lookup_flight_ask_coworkers(
    ngx_rtmp_cluster_lookup_flight_t *fl);
static void ngx_rtmp_cluster_lookup_flight_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_lookup_flight_deadline(ngx_event_t *ev);
static void ngx_rtmp_cluster_lookup_flight_poll(ngx_event_t *ev);
static void ngx_rtmp_cluster_lookup_flight_finish(
    ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_int_t rc, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_lookup_flight_notify(
    ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_int_t rc, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_lookup_flight_stop(
    ngx_rtmp_cluster_lookup_flight_t *fl);
static void ngx_rtmp_cluster_lookup_flight_free(
    ngx_rtmp_cluster_lookup_flight_t *fl);


static ngx_queue_t  ngx_rtmp_cluster_lookup_flights;


ngx_int_t
ngx_rtmp_cluster_lookup_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_rtmp_cluster_lookup_flights);

    return NGX_OK;
}


/*
 * NGX_OK found (w->addr, w->port) or NGX_DECLINED not found, both at once
 * from the cache; NGX_AGAIN: w->handler answers later.
 */

ngx_int_t
ngx_rtmp_cluster_lookup(ngx_rtmp_cluster_waiter_t *w)
{
    ngx_uint_t                  rc;
    ngx_msec_t                  patience;
    ngx_rtmp_cluster_zone_t    *zone;
    ngx_rtmp_cluster_lookup_flight_t  *fl;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL
        || (w->cacf->coworkers == NULL && w->cacf->managers == NULL))
    {
        return NGX_DECLINED;
    }

    ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_LOOKUPS_TOTAL, 1);

    patience = w->cacf->lookup_timeout + NGX_RTMP_CLUSTER_LOOKUP_GRACE;

    rc = ngx_rtmp_cluster_lookup_begin(zone, &w->key, w->fresh, patience,
                                       w->addr, &w->port);

    switch (rc) {

    case NGX_RTMP_CLUSTER_LOOKUP_HIT:
        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_LOOKUPS_CACHED, 1);
        return NGX_OK;

    case NGX_RTMP_CLUSTER_LOOKUP_MISS:
        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_LOOKUPS_CACHED, 1);
        return NGX_DECLINED;

    case NGX_RTMP_CLUSTER_LOOKUP_NOROOM:
        return NGX_DECLINED;

    case NGX_RTMP_CLUSTER_LOOKUP_WAIT:

        /* someone asks already: wait for that answer */

        fl = ngx_rtmp_cluster_lookup_flight_get(w, zone);
        if (fl == NULL) {
            return NGX_DECLINED;
        }

        if (!fl->asker && !fl->poll.timer_set) {
            ngx_add_timer(&fl->poll, NGX_RTMP_CLUSTER_LOOKUP_POLL);
        }

        ngx_rtmp_cluster_lookup_flight_join(fl, w);

        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_LOOKUPS_JOINED, 1);
        return NGX_AGAIN;

    default: /* NGX_RTMP_CLUSTER_LOOKUP_ASK */
        break;
    }

    fl = ngx_rtmp_cluster_lookup_flight_get(w, zone);
    if (fl == NULL) {
        ngx_rtmp_cluster_lookup_answer(zone, &w->key, NGX_DECLINED, NULL, 0,
                                       w->cacf->cache_notfound);
        return NGX_DECLINED;
    }

    ngx_rtmp_cluster_lookup_flight_join(fl, w);

    if (ngx_rtmp_cluster_lookup_flight_ask(fl) != NGX_AGAIN) {
        /* no request could start: answered at once, without the handler */
        ngx_queue_remove(&w->queue);
        w->flight = NULL;

        ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_DECLINED, NULL, 0);
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


void
ngx_rtmp_cluster_lookup_cancel(ngx_rtmp_cluster_waiter_t *w)
{
    ngx_rtmp_cluster_lookup_flight_t  *fl;

    fl = w->flight;
    if (fl == NULL) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->flight = NULL;

    /* an asker goes on: its answer serves the others through the cache */

    if (!fl->asker && ngx_queue_empty(&fl->waiters)) {
        ngx_rtmp_cluster_lookup_flight_free(fl);
    }
}


static ngx_rtmp_cluster_lookup_flight_t *
ngx_rtmp_cluster_lookup_flight_get(ngx_rtmp_cluster_waiter_t *w,
    ngx_rtmp_cluster_zone_t *zone)
{
    ngx_queue_t                *q;
    ngx_rtmp_cluster_lookup_flight_t  *fl;

    for (q = ngx_queue_head(&ngx_rtmp_cluster_lookup_flights);
         q != ngx_queue_sentinel(&ngx_rtmp_cluster_lookup_flights);
         q = ngx_queue_next(q))
    {
        fl = ngx_queue_data(q, ngx_rtmp_cluster_lookup_flight_t, queue);

        if (fl->cacf == w->cacf && fl->key.len == w->key.len
            && ngx_strncmp(fl->key.data, w->key.data, w->key.len) == 0)
        {
            return fl;
        }
    }

    fl = ngx_calloc(sizeof(ngx_rtmp_cluster_lookup_flight_t), ngx_cycle->log);
    if (fl == NULL) {
        return NULL;
    }

    fl->cacf = w->cacf;
    fl->zone = zone;
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

    fl->deadline.data = &fl->dummy;
    fl->deadline.log = ngx_cycle->log;
    fl->deadline.handler = ngx_rtmp_cluster_lookup_flight_deadline;
    fl->deadline.cancelable = 1;

    fl->poll.data = &fl->dummy;
    fl->poll.log = ngx_cycle->log;
    fl->poll.handler = ngx_rtmp_cluster_lookup_flight_poll;
    fl->poll.cancelable = 1;

    ngx_queue_insert_tail(&ngx_rtmp_cluster_lookup_flights, &fl->queue);

    return fl;
}


static void
ngx_rtmp_cluster_lookup_flight_join(ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_rtmp_cluster_waiter_t *w)
{
    ngx_queue_insert_tail(&fl->waiters, &w->queue);
    w->flight = fl;
}


/* this worker asks (its zone entry is pending): managers, else coworkers */

static ngx_int_t
ngx_rtmp_cluster_lookup_flight_ask(ngx_rtmp_cluster_lookup_flight_t *fl)
{
    fl->asker = 1;
    fl->started = ngx_current_msec;

    if (fl->poll.timer_set) {
        ngx_del_timer(&fl->poll);
    }

    if (fl->cacf->managers) {
        fl->mlookup = ngx_rtmp_cluster_manager_lookup(fl->cacf, &fl->key,
                                    fl->app_len,
                                    ngx_rtmp_cluster_lookup_flight_manager,
                                    fl);
        if (fl->mlookup) {
            return NGX_AGAIN;
        }
    }

    return ngx_rtmp_cluster_lookup_flight_ask_coworkers(fl);
}


/* the managers' answer: found or not; none answered: the coworkers */

static void
ngx_rtmp_cluster_lookup_flight_manager(void *data, ngx_int_t rc, u_char *addr,
    in_port_t port)
{
    ngx_rtmp_cluster_lookup_flight_t *fl = data;

    /* the manager lookup is over */
    fl->mlookup = NULL;

    if (rc != NGX_ERROR) {
        ngx_rtmp_cluster_lookup_flight_finish(fl, rc, addr, port);
        return;
    }

    if (ngx_rtmp_cluster_lookup_flight_ask_coworkers(fl) != NGX_AGAIN) {
        ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_DECLINED, NULL, 0);
    }
}


static ngx_int_t
ngx_rtmp_cluster_lookup_flight_ask_coworkers(
    ngx_rtmp_cluster_lookup_flight_t *fl)
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
                                     NULL, NULL, fl->cacf->lookup_timeout,
                                     NGX_RTMP_CLUSTER_ANSWER_MAX,
                                     ngx_rtmp_cluster_lookup_flight_answer,
                                     fl);
        if (fl->fetches[i] == NULL) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "cluster: cannot ask coworker \"%V\" about \"%V\"",
                          &cw[i].name, &fl->key);
            continue;
        }

        fl->pending++;

        ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_QUERIES, 1);
    }

    if (fl->pending == 0) {
        return NGX_ERROR;
    }

    ngx_add_timer(&fl->deadline, fl->cacf->lookup_timeout);

    return NGX_AGAIN;
}


static void
ngx_rtmp_cluster_lookup_flight_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_lookup_flight_t *fl = data;

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
        ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_ERRORS, 1);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: coworker \"%V\" failed the lookup of \"%V\" "
                      "(HTTP %l after %Mms): %s",
                      &cw[i].name, &fl->key, r->status, r->elapsed, err);

    } else if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: coworker \"%V\" has \"%V\" on %s:%d "
                      "(%Mms)", &cw[i].name, &fl->key, addr, (int) port,
                      r->elapsed);

        ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_OK, addr, port);
        return;
    }

    if (fl->pending == 0) {
        ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_DECLINED, NULL, 0);
    }
}


/* the coworkers that did not answer in time: not found, by them */

static void
ngx_rtmp_cluster_lookup_flight_deadline(ngx_event_t *ev)
{
    ngx_uint_t                    i;
    ngx_rtmp_cluster_lookup_flight_t    *fl;
    ngx_rtmp_cluster_coworker_t  *cw;

    fl = ((ngx_connection_t *) ev->data)->data;
    cw = fl->cacf->coworkers->elts;

    for (i = 0; i < fl->cacf->coworkers->nelts; i++) {
        if (fl->fetches[i]) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "cluster: coworker \"%V\" did not answer the "
                          "lookup of \"%V\" within %Mms",
                          &cw[i].name, &fl->key, fl->cacf->lookup_timeout);

            ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_ERRORS,
                                   1);
        }
    }

    ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_DECLINED, NULL, 0);
}


/* another worker asks: has it answered, died, or taken too long? */

static void
ngx_rtmp_cluster_lookup_flight_poll(ngx_event_t *ev)
{
    in_port_t                   port;
    ngx_uint_t                  rc;
    ngx_rtmp_cluster_lookup_flight_t  *fl;
    u_char                      addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    fl = ((ngx_connection_t *) ev->data)->data;

    port = 0;

    rc = ngx_rtmp_cluster_lookup_poll(fl->zone, &fl->key,
                                      fl->cacf->lookup_timeout
                                      + NGX_RTMP_CLUSTER_LOOKUP_GRACE,
                                      addr, &port);

    switch (rc) {

    case NGX_RTMP_CLUSTER_LOOKUP_WAIT:
        ngx_add_timer(&fl->poll, NGX_RTMP_CLUSTER_LOOKUP_POLL);
        return;

    case NGX_RTMP_CLUSTER_LOOKUP_ASK:

        /* the asker died or hangs: the lookup is ours now */

        if (ngx_rtmp_cluster_lookup_flight_ask(fl) != NGX_AGAIN) {
            ngx_rtmp_cluster_lookup_flight_finish(fl, NGX_DECLINED, NULL, 0);
        }

        return;

    case NGX_RTMP_CLUSTER_LOOKUP_HIT:
        ngx_rtmp_cluster_lookup_flight_notify(fl, NGX_OK, addr, port);
        break;

    default: /* MISS */
        ngx_rtmp_cluster_lookup_flight_notify(fl, NGX_DECLINED, NULL, 0);
    }

    ngx_rtmp_cluster_lookup_flight_free(fl);
}


/* the asker's answer: into the zone for everyone, then to our waiters */

static void
ngx_rtmp_cluster_lookup_flight_finish(ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_int_t rc,
    u_char *addr, in_port_t port)
{
    ngx_uint_t  i;
    ngx_msec_t  elapsed;

    static const ngx_msec_t  bounds[] = { NGX_RTMP_CLUSTER_LOOKUP_BOUNDS };

    ngx_rtmp_cluster_lookup_flight_stop(fl);

    ngx_rtmp_cluster_lookup_answer(fl->zone, &fl->key, rc, addr, port,
                                   rc == NGX_OK ? fl->cacf->cache_found
                                                : fl->cacf->cache_notfound);

    elapsed = ngx_current_msec - fl->started;

    ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_MS_TOTAL,
                           elapsed);
    ngx_rtmp_cluster_count_max(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_MS_MAX,
                               elapsed);

    /* the histogram's bucket (not cumulative: the metrics add them up) */
    for (i = 0; i < NGX_RTMP_CLUSTER_LOOKUP_NBOUNDS; i++) {
        if (elapsed <= bounds[i]) {
            break;
        }
    }

    ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUP_MS_BUCKETS + i,
                           1);

    if (rc == NGX_OK) {
        ngx_rtmp_cluster_count(fl->zone, NGX_RTMP_CLUSTER_LOOKUPS_FOUND, 1);

    } else {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "cluster: no coworker has \"%V\" (%Mms)",
                      &fl->key, elapsed);
    }

    ngx_rtmp_cluster_lookup_flight_notify(fl, rc, addr, port);
    ngx_rtmp_cluster_lookup_flight_free(fl);
}


static void
ngx_rtmp_cluster_lookup_flight_notify(ngx_rtmp_cluster_lookup_flight_t *fl,
    ngx_int_t rc,
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


/* no request, no timer left */

static void
ngx_rtmp_cluster_lookup_flight_stop(ngx_rtmp_cluster_lookup_flight_t *fl)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_COWORKERS; i++) {
        if (fl->fetches[i]) {
            ngx_rtmp_cluster_fetch_cancel(fl->fetches[i]);
            fl->fetches[i] = NULL;
        }
    }

    if (fl->mlookup) {
        ngx_rtmp_cluster_manager_lookup_cancel(fl->mlookup);
        fl->mlookup = NULL;
    }

    fl->pending = 0;

    if (fl->deadline.timer_set) {
        ngx_del_timer(&fl->deadline);
    }

    if (fl->poll.timer_set) {
        ngx_del_timer(&fl->poll);
    }
}


static void
ngx_rtmp_cluster_lookup_flight_free(ngx_rtmp_cluster_lookup_flight_t *fl)
{
    ngx_rtmp_cluster_lookup_flight_stop(fl);

    ngx_queue_remove(&fl->queue);
    ngx_free(fl);
}
