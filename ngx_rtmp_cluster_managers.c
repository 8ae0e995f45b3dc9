
/*
 * ngx_rtmp_cluster: the stream manager client, all of it: an origin's
 * leases (register, renew, release) and lookups (where is a stream), the
 * managers' URLs and secret, and their health as this host sees it.
 *
 * Leases.  An origin with "cluster_manager" registers each stream
 * published here (POST, with a token of its own, random per publish),
 * renews it at a third of the TTL the manager granted from the
 * publisher's worker, and releases it when the publisher leaves (DELETE,
 * the token in the body).  Every request carries the manager's secret
 * (cluster_manager_secret) in an Authorization header, never in the
 * URL.  The registration's first answer goes to the caller
 * (granted, held by another origin, or no manager answered); renewals
 * and retries are this file's own.
 *
 * A registration that got no answer may still be carried out: a manager
 * that gave up on a slow Redis does not take the command back.  So the
 * token is chosen here and kept: a registration is repeated with it until
 * a manager answers (the manager takes a lease holding that token as
 * ours), and a lease that ends meanwhile is still released with it,
 * retrying while the lease could live.  No lease is left behind that
 * nobody can renew or release.
 *
 * Renewals are batched: each worker keeps the leases it holds for an
 * application in one list with one timer (its "renewals"), and at each
 * tick, a third of the TTL granted, sends all of them in PUTs on the
 * manager's location, BATCH_LEASES a request (the tokens in the body);
 * the answer says for each lease what the single PUT would have said.
 * A tick's batches go out BATCHES_OUT at a time, the next when one is
 * answered (or waits to retry), not all at once.  A lease in a batch is
 * out of the list until its answer, so none is renewed twice, even when
 * the next tick comes with batches still waiting; one that ends
 * meanwhile is only taken out of the batch, and its answer is dropped.
 * A manager that does not know the batch (400, 404, 405, 413, 501 to it,
 * or a 200 without a status per lease: an older build, another
 * implementation, a proxy in front) is sent single renewals (PUT on
 * APP/NAME) from then on by this worker.  A batch renewed that way is
 * still one of the BATCHES_OUT: it sends SINGLE_OUT of its leases at a
 * time, the next when one has its first answer, and is out until each
 * has had one.
 *
 * Lookups.  One question to each manager in the configured order until
 * one answers: found (200), not found (404); no manager answering is an
 * error, for the caller to ask the coworkers.
 *
 * Answers come through callbacks, never from inside the function that
 * asks: an answer known at once is posted.
 */


#include "ngx_rtmp_cluster.h"

#if (NGX_LINUX)
#include <sys/random.h>
#endif


#define NGX_RTMP_CLUSTER_TOKEN_LEN     32          /* hex digits we make */
#define NGX_RTMP_CLUSTER_RETRY         1000

/*
 * A batched renewal's leases: 200 keep a request small (about 20 KB with
 * short names) and a manager's Redis script short (lookups on its
 * connection wait behind it, see docs/manager.md); the manager takes
 * 1000 and 256 KB at most, BATCH_BYTES keeps long names under that.
 */
#define NGX_RTMP_CLUSTER_BATCH_LEASES  200
#define NGX_RTMP_CLUSTER_BATCH_BYTES   (192 * 1024)

/*
 * Batches a worker has out at a time for an application.  A manager's
 * worker runs them one after another on its Redis connection: more at
 * once only wait there, holding connections on both sides, with lookups
 * behind them.  4 keeps the next one sent and parsed while one runs; at
 * a few ms a batch, a tick of 100000 leases (500 batches) is out in a
 * second or two, within a third of the default TTL.  A tick that lasts
 * into the next is not doubled: the next takes only the leases back.
 */
#define NGX_RTMP_CLUSTER_BATCHES_OUT   4

/*
 * Single renewals a batch has out at a time at a manager that refuses
 * batches: a tick of many leases is not that many connections at once
 * (BATCHES_OUT * SINGLE_OUT requests at most), and keep-alive
 * connections are reused from one to the next.
 */
#define NGX_RTMP_CLUSTER_SINGLE_OUT    16


typedef struct ngx_rtmp_cluster_batch_s  ngx_rtmp_cluster_batch_t;


struct ngx_rtmp_cluster_lease_s {
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_log_t                      *log;
    ngx_rtmp_cluster_lease_pt       handler;    /* NULL once answered */
    void                           *data;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_str_t                       host;       /* advertised */
    in_port_t                       port;
    ngx_msec_t                      ttl;        /* granted, or asked */
    ngx_event_t                     timer;      /* renew, retry */
    ngx_event_t                     answer;     /* posted: the first */
    ngx_connection_t                dummy;
    ngx_int_t                       rc;         /* the first answer's */
    in_port_t                       holder_port;
    unsigned                        held:1;
    unsigned                        unsure:1;   /* may have been carried
                                                   out, unanswered */
    unsigned                        renewing:1;
    unsigned                        queued:1;   /* in its renewals' list */
    ngx_queue_t                     queue;
    ngx_rtmp_cluster_batch_t       *batch;      /* being renewed in it */
    ngx_uint_t                      slot;       /* there */
    u_char                          token[NGX_RTMP_CLUSTER_TOKEN_MAX + 1];
    u_char                          holder[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                          key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
    u_char                          host_buf[NGX_RTMP_CLUSTER_ADDR_LEN];
};


/* a worker's held leases of an application (cacf->renewals) */

typedef struct {
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_queue_t                     held;       /* waiting for the tick */
    ngx_uint_t                      manager;    /* the last that answered */
    ngx_event_t                     tick;
    ngx_event_t                     next;       /* posted: a slot is free */
    ngx_connection_t                dummy;
    ngx_queue_t                     waiting;    /* batches not sent yet */
    ngx_uint_t                      out;        /* batches with a request */
    u_char                          single[NGX_RTMP_CLUSTER_MAX_COWORKERS];
                                                /* no batches there */
    ngx_str_t                       url[NGX_RTMP_CLUSTER_MAX_COWORKERS];
                                                /* each manager's batches */
} ngx_rtmp_cluster_renewals_t;


/* one batched renewal, until it is answered */

struct ngx_rtmp_cluster_batch_s {
    ngx_rtmp_cluster_renewals_t    *rn;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_uint_t                      tried;      /* managers this round */
    ngx_uint_t                      n;
    ngx_uint_t                      left;       /* leases not ended */
    size_t                          size;       /* its leases' JSON, at
                                                   most */
    ngx_msec_t                      ttl;        /* the shortest */
    ngx_event_t                     timer;      /* retry */
    ngx_connection_t                dummy;
    ngx_queue_t                     queue;      /* in rn->waiting */
    ngx_uint_t                      next;       /* single: to send next */
    ngx_uint_t                      asked;      /* single: unanswered */
    unsigned                        waiting:1;
    unsigned                        out:1;      /* counted in rn->out */
    unsigned                        single:1;   /* a lease a request */
    unsigned                        sending:1;
    ngx_rtmp_cluster_lease_t       *lease[NGX_RTMP_CLUSTER_BATCH_LEASES];
};


/* a lookup at the managers, in their order */

struct ngx_rtmp_cluster_mlookup_s {
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_rtmp_cluster_mlookup_pt     handler;
    void                           *data;
    ngx_rtmp_cluster_fetch_t       *fetch;
    ngx_uint_t                      manager;
    ngx_str_t                       key;
    size_t                          app_len;
    ngx_event_t                     deadline;   /* this manager's */
    ngx_event_t                     answer;     /* posted: no manager */
    ngx_connection_t                dummy;
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


static void ngx_rtmp_cluster_lease_send(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_lease_unreachable(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_lease_report(ngx_rtmp_cluster_lease_t *l,
    ngx_int_t rc, u_char *addr, in_port_t port);
static void ngx_rtmp_cluster_lease_posted(ngx_event_t *ev);
static void ngx_rtmp_cluster_lease_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_renewals_add(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_renewals_tick(ngx_event_t *ev);
static void ngx_rtmp_cluster_renewals_next(ngx_rtmp_cluster_renewals_t *rn);
static void ngx_rtmp_cluster_renewals_posted(ngx_event_t *ev);
static void ngx_rtmp_cluster_batch_done(ngx_rtmp_cluster_batch_t *b);
static void ngx_rtmp_cluster_batch_send(ngx_rtmp_cluster_batch_t *b);
static void ngx_rtmp_cluster_batch_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_batch_failed(ngx_rtmp_cluster_batch_t *b);
static void ngx_rtmp_cluster_batch_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_batch_single(ngx_rtmp_cluster_batch_t *b);
static void ngx_rtmp_cluster_batch_leave(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_batch_free(ngx_rtmp_cluster_batch_t *b);
static void ngx_rtmp_cluster_lease_lost(ngx_rtmp_cluster_lease_t *l,
    ngx_uint_t manager, long status);
static void ngx_rtmp_cluster_release(ngx_rtmp_cluster_lease_t *l);
static void ngx_rtmp_cluster_release_send(ngx_rtmp_cluster_release_t *rl);
static void ngx_rtmp_cluster_release_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_release_failed(ngx_rtmp_cluster_release_t *rl);
static void ngx_rtmp_cluster_release_timer(ngx_event_t *ev);
static void ngx_rtmp_cluster_mlookup_ask(ngx_rtmp_cluster_mlookup_t *ml);
static void ngx_rtmp_cluster_mlookup_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data);
static void ngx_rtmp_cluster_mlookup_deadline(ngx_event_t *ev);
static void ngx_rtmp_cluster_mlookup_none(ngx_event_t *ev);
static void ngx_rtmp_cluster_mlookup_next(ngx_rtmp_cluster_mlookup_t *ml);
static const char *ngx_rtmp_cluster_lease_status(long status);
static void ngx_rtmp_cluster_lease_token(u_char *dst);
static ngx_int_t ngx_rtmp_cluster_manager_url(ngx_rtmp_cluster_coworker_t *m,
    ngx_str_t *key, size_t app_len, ngx_str_t *url, u_char *buf,
    size_t size);
static void ngx_rtmp_cluster_manager_result(
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_uint_t i,
    ngx_rtmp_cluster_fetch_result_t *r, const char *err);
static void ngx_rtmp_cluster_manager_count(ngx_uint_t i, ngx_atomic_int_t n);


static void
ngx_rtmp_cluster_manager_count(ngx_uint_t i, ngx_atomic_int_t n)
{
    ngx_rtmp_cluster_zone_t  *zone;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone) {
        ngx_rtmp_cluster_count(zone, i, n);
    }
}


/*
 * A lease of "key" for host:port, in pool (the publisher's): its first
 * answer goes to handler(data, rc, addr, port), posted; NULL: no memory.
 */

ngx_rtmp_cluster_lease_t *
ngx_rtmp_cluster_lease_start(ngx_pool_t *pool, ngx_log_t *log,
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *key, size_t app_len,
    ngx_str_t *host, in_port_t port, ngx_rtmp_cluster_lease_pt handler,
    void *data)
{
    ngx_rtmp_cluster_lease_t  *l;

    l = ngx_pcalloc(pool, sizeof(ngx_rtmp_cluster_lease_t));
    if (l == NULL) {
        return NULL;
    }

    l->cacf = cacf;
    l->log = log;
    l->handler = handler;
    l->data = data;
    l->app_len = app_len;
    l->ttl = cacf->lease_ttl;
    l->port = port;

    l->key.data = l->key_buf;
    l->key.len = ngx_min(key->len, sizeof(l->key_buf));
    ngx_memcpy(l->key_buf, key->data, l->key.len);

    l->host.data = l->host_buf;
    l->host.len = ngx_min(host->len, sizeof(l->host_buf));
    ngx_memcpy(l->host_buf, host->data, l->host.len);

    ngx_rtmp_cluster_lease_token(l->token);

    l->dummy.fd = (ngx_socket_t) -1;
    l->dummy.data = l;

    l->timer.data = &l->dummy;
    l->timer.log = log;
    l->timer.handler = ngx_rtmp_cluster_lease_timer;
    l->timer.cancelable = 1;

    l->answer.data = &l->dummy;
    l->answer.log = log;
    l->answer.handler = ngx_rtmp_cluster_lease_posted;

    ngx_rtmp_cluster_lease_send(l);

    return l;
}


/* register (POST) or, with a lease held, renew (PUT) */

static void
ngx_rtmp_cluster_lease_send(ngx_rtmp_cluster_lease_t *l)
{
    u_char                       *p;
    ngx_str_t                     url, body;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];
    u_char                        json[NGX_RTMP_CLUSTER_ADDR_LEN
                                       + NGX_RTMP_CLUSTER_TOKEN_MAX + 64];

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
        p = ngx_snprintf(json, sizeof(json),
                         "{\"host\":\"%V\",\"port\":%d,\"ttl\":%M,"
                         "\"token\":\"%s\"}",
                         &l->host, (int) l->port, l->cacf->lease_ttl / 1000,
                         l->token);
    }

    body.len = p - json;

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_MANAGER_REQUESTS, 1);

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
    ngx_uint_t                    ttl;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    u_char                        token[NGX_RTMP_CLUSTER_TOKEN_MAX + 1];

    l->fetch = NULL;
    m = l->cacf->managers->elts;

    /* a single renewal of a batch: its first answer frees a place there */
    ngx_rtmp_cluster_batch_leave(l);

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

            ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_LEASES_HELD, 1);

            ngx_log_error(NGX_LOG_INFO, l->log, 0,
                          "cluster: \"%V\" leased at manager \"%V\" for "
                          "%Mms", &l->key, &m[l->manager].name, l->ttl);
        }

        /* renewed from now on with the worker's other leases */
        ngx_rtmp_cluster_renewals_add(l);

        ngx_rtmp_cluster_lease_report(l, NGX_OK, NULL, 0);
        return;
    }

    if (l->renewing) {
        ngx_rtmp_cluster_lease_lost(l, l->manager, r->status);
        return;
    }

    /* 409 on a registration: another origin holds the stream */

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_LEASE_CONFLICTS, 1);

    ngx_add_timer(&l->timer, ngx_max(l->ttl / 3, 1));

    ngx_rtmp_cluster_lease_report(l, NGX_DECLINED,
                                  addr[0] ? addr : NULL, port);
}


/* our lease expired or was taken: registered again, with the same token */

static void
ngx_rtmp_cluster_lease_lost(ngx_rtmp_cluster_lease_t *l, ngx_uint_t manager,
    long status)
{
    ngx_rtmp_cluster_coworker_t  *m;

    m = l->cacf->managers->elts;

    ngx_log_error(NGX_LOG_ERR, l->log, 0,
                  "cluster: manager \"%V\" refused to renew the lease of "
                  "\"%V\" (HTTP %l), registering again",
                  &m[manager].name, &l->key, status);

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_RENEW_FAILURES, 1);
    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_LEASES_HELD, -1);

    l->held = 0;
    l->manager = manager;
    ngx_rtmp_cluster_lease_send(l);
}


/* this manager failed: the next one, else all again, later */

static void
ngx_rtmp_cluster_lease_unreachable(ngx_rtmp_cluster_lease_t *l)
{
    if (l->manager + 1 < l->cacf->managers->nelts) {
        l->manager++;
        ngx_rtmp_cluster_lease_send(l);
        return;
    }

    l->manager = 0;

    /* retried on its own: its batch's place goes to the next lease */
    ngx_rtmp_cluster_batch_leave(l);

    if (l->renewing) {
        ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_RENEW_FAILURES, 1);
    }

    /* renew again well before the lease could expire, or register */
    ngx_add_timer(&l->timer, ngx_max(ngx_min(NGX_RTMP_CLUSTER_RETRY,
                                             l->ttl / 3), 1));

    ngx_rtmp_cluster_lease_report(l, NGX_ERROR, NULL, 0);
}


/* the first answer, to the caller, posted: never from inside its call */

static void
ngx_rtmp_cluster_lease_report(ngx_rtmp_cluster_lease_t *l, ngx_int_t rc,
    u_char *addr, in_port_t port)
{
    if (l->handler == NULL || l->answer.posted) {
        return;
    }

    l->rc = rc;
    l->holder[0] = '\0';
    l->holder_port = port;

    if (addr) {
        ngx_cpystrn(l->holder, addr, sizeof(l->holder));
    }

    ngx_post_event(&l->answer, &ngx_posted_events);
}


static void
ngx_rtmp_cluster_lease_posted(ngx_event_t *ev)
{
    ngx_rtmp_cluster_lease_t   *l;
    ngx_rtmp_cluster_lease_pt   handler;

    l = ((ngx_connection_t *) ev->data)->data;

    handler = l->handler;
    l->handler = NULL;

    if (handler) {
        handler(l->data, l->rc, l->holder, l->holder_port);
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
 * The lease ends (its publisher left, or it is let go): released, as is
 * one whose registration is still unanswered (it may be carried out yet).
 * The release is on its own from here: tried on each manager in turn,
 * every second, until one answers or the lease would have expired anyway.
 */

void
ngx_rtmp_cluster_lease_end(ngx_rtmp_cluster_lease_t *l)
{
    l->handler = NULL;

    if (l->answer.posted) {
        ngx_delete_posted_event(&l->answer);
    }

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

    if (l->queued) {
        ngx_queue_remove(&l->queue);
        l->queued = 0;
    }

    /* its batch's answer, whatever it says, is not for this lease now */
    ngx_rtmp_cluster_batch_leave(l);

    if (l->held || l->unsure) {
        ngx_rtmp_cluster_release(l);
    }
}


/*
 * A lease held (registered or renewed) joins its worker's renewals of
 * the application; the tick comes a third of its TTL from now at the
 * latest.  Without memory for the list, it is renewed alone.
 */

static void
ngx_rtmp_cluster_renewals_add(ngx_rtmp_cluster_lease_t *l)
{
    u_char                       *p;
    size_t                        size;
    ngx_uint_t                    i;
    ngx_msec_t                    period;
    ngx_rtmp_cluster_coworker_t  *m;
    ngx_rtmp_cluster_renewals_t  *rn;

    if (l->queued) {
        return;
    }

    rn = l->cacf->renewals;

    if (rn == NULL) {
        m = l->cacf->managers->elts;
        size = sizeof(ngx_rtmp_cluster_renewals_t);

        for (i = 0; i < l->cacf->managers->nelts; i++) {
            size += m[i].url.len + 1;
        }

        rn = ngx_pcalloc(ngx_cycle->pool, size);
        if (rn == NULL) {
            ngx_add_timer(&l->timer, ngx_max(l->ttl / 3, 1));
            return;
        }

        /* the batches' URLs, the location's: each manager's URL and "/" */

        p = (u_char *) (rn + 1);

        for (i = 0; i < l->cacf->managers->nelts; i++) {
            rn->url[i].data = p;
            p = ngx_cpymem(p, m[i].url.data, m[i].url.len);
            *p++ = '/';
            rn->url[i].len = p - rn->url[i].data;
        }

        rn->cacf = l->cacf;
        ngx_queue_init(&rn->held);
        ngx_queue_init(&rn->waiting);

        rn->dummy.fd = (ngx_socket_t) -1;
        rn->dummy.data = rn;

        rn->tick.data = &rn->dummy;
        rn->tick.log = ngx_cycle->log;
        rn->tick.handler = ngx_rtmp_cluster_renewals_tick;
        rn->tick.cancelable = 1;

        rn->next.data = &rn->dummy;
        rn->next.log = ngx_cycle->log;
        rn->next.handler = ngx_rtmp_cluster_renewals_posted;

        l->cacf->renewals = rn;
    }

    ngx_queue_insert_tail(&rn->held, &l->queue);
    l->queued = 1;

    period = ngx_max(l->ttl / 3, 1);

    if (!rn->tick.timer_set
        || (ngx_msec_int_t) (rn->tick.timer.key - ngx_current_msec - period)
           > 0)
    {
        ngx_add_timer(&rn->tick, period);
    }
}


/* every lease the worker holds here, in batches, BATCHES_OUT at a time */

static void
ngx_rtmp_cluster_renewals_tick(ngx_event_t *ev)
{
    size_t                        size, len;
    ngx_queue_t                  *q;
    ngx_rtmp_cluster_batch_t     *b;
    ngx_rtmp_cluster_lease_t     *l;
    ngx_rtmp_cluster_renewals_t  *rn;

    rn = ((ngx_connection_t *) ev->data)->data;

    while (!ngx_queue_empty(&rn->held)) {

        b = ngx_calloc(sizeof(ngx_rtmp_cluster_batch_t), ngx_cycle->log);
        if (b == NULL) {
            ngx_add_timer(&rn->tick, NGX_RTMP_CLUSTER_RETRY);
            break;
        }

        b->rn = rn;
        b->manager = rn->manager;
        b->ttl = rn->cacf->lease_ttl;

        b->dummy.fd = (ngx_socket_t) -1;
        b->dummy.data = b;

        b->timer.data = &b->dummy;
        b->timer.log = ngx_cycle->log;
        b->timer.handler = ngx_rtmp_cluster_batch_timer;
        b->timer.cancelable = 1;

        size = 0;

        while (b->n < NGX_RTMP_CLUSTER_BATCH_LEASES
               && !ngx_queue_empty(&rn->held))
        {
            q = ngx_queue_head(&rn->held);
            l = ngx_queue_data(q, ngx_rtmp_cluster_lease_t, queue);

            /* its JSON with every byte escaped, at worst */
            len = 6 * l->key.len + NGX_RTMP_CLUSTER_TOKEN_MAX + 64;

            if (b->n && size + len > NGX_RTMP_CLUSTER_BATCH_BYTES) {
                break;
            }

            size += len;

            ngx_queue_remove(q);
            l->queued = 0;

            l->batch = b;
            l->slot = b->n;
            b->lease[b->n++] = l;
            b->ttl = ngx_min(b->ttl, l->ttl);
        }

        b->left = b->n;
        b->size = size;

        ngx_queue_insert_tail(&rn->waiting, &b->queue);
        b->waiting = 1;
    }

    ngx_rtmp_cluster_renewals_next(rn);
}


/*
 * Batches waiting go out while fewer than BATCHES_OUT have a request
 * out.  A batch that stops having one (answered, ended, waiting to
 * retry) only posts this: no recursion however many fail at once.
 */

static void
ngx_rtmp_cluster_renewals_next(ngx_rtmp_cluster_renewals_t *rn)
{
    ngx_queue_t               *q;
    ngx_rtmp_cluster_batch_t  *b;

    while (rn->out < NGX_RTMP_CLUSTER_BATCHES_OUT
           && !ngx_queue_empty(&rn->waiting))
    {
        q = ngx_queue_head(&rn->waiting);
        b = ngx_queue_data(q, ngx_rtmp_cluster_batch_t, queue);

        ngx_queue_remove(q);
        b->waiting = 0;

        b->out = 1;
        rn->out++;

        ngx_rtmp_cluster_batch_send(b);
    }
}


static void
ngx_rtmp_cluster_renewals_posted(ngx_event_t *ev)
{
    ngx_rtmp_cluster_renewals_next(((ngx_connection_t *) ev->data)->data);
}


/* its request is over: the next batch waiting takes its place */

static void
ngx_rtmp_cluster_batch_done(ngx_rtmp_cluster_batch_t *b)
{
    ngx_rtmp_cluster_renewals_t  *rn;

    rn = b->rn;

    if (b->waiting) {
        ngx_queue_remove(&b->queue);
        b->waiting = 0;
    }

    if (!b->out) {
        return;
    }

    b->out = 0;
    rn->out--;

    if (!ngx_queue_empty(&rn->waiting) && !rn->next.posted) {
        ngx_post_event(&rn->next, &ngx_posted_events);
    }
}


/* PUT on the location: {"ttl":N,"leases":[{"app","name","token"},...]} */

static void
ngx_rtmp_cluster_batch_send(ngx_rtmp_cluster_batch_t *b)
{
    u_char                       *p, *json;
    size_t                        len;
    ngx_str_t                     body, app, name;
    ngx_uint_t                    i;
    ngx_rtmp_cluster_lease_t     *l;
    ngx_rtmp_cluster_coworker_t  *m;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = b->rn->cacf;

    if (b->rn->single[b->manager]) {
        ngx_rtmp_cluster_batch_single(b);
        return;
    }

    /* a retry: the leases ended since are left out; the answer is for
     * those sent, in their order */

    for (len = 0, i = 0; i < b->n; i++) {
        if (b->lease[i]) {
            b->lease[len] = b->lease[i];
            b->lease[len]->slot = len;
            len++;
        }
    }

    b->n = len;

    m = cacf->managers->elts;
    m = &m[b->manager];

    /* the tick's bound, still one with fewer leases */
    len = sizeof("{\"ttl\":,\"leases\":[]}") - 1 + NGX_INT_T_LEN + b->size;

    json = ngx_alloc(len, ngx_cycle->log);
    if (json == NULL) {
        ngx_rtmp_cluster_batch_failed(b);
        return;
    }

    p = ngx_sprintf(json, "{\"ttl\":%M,\"leases\":[", cacf->lease_ttl / 1000);

    for (i = 0; i < b->n; i++) {
        l = b->lease[i];

        app.data = l->key.data;
        app.len = l->app_len;
        name.data = l->key.data + l->app_len + 1;
        name.len = l->key.len - l->app_len - 1;

        p = ngx_cpymem(p, "{\"app\":\"", sizeof("{\"app\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, app.data, app.len);
        p = ngx_cpymem(p, "\",\"name\":\"", sizeof("\",\"name\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, name.data, name.len);
        p = ngx_sprintf(p, "\",\"token\":\"%s\"},", l->token);
    }

    p[-1] = ']';
    *p++ = '}';

    body.data = json;
    body.len = p - json;

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_MANAGER_REQUESTS, 1);

    b->fetch = ngx_rtmp_cluster_fetch_start_secret(&b->rn->url[b->manager],
                                            &m->name,
                                            &cacf->manager_secret, "PUT",
                                            &body, cacf->lookup_timeout,
                                            16 * NGX_RTMP_CLUSTER_BATCH_LEASES
                                            + 1024,
                                            ngx_rtmp_cluster_batch_answer, b);
    ngx_free(json);

    if (b->fetch == NULL) {
        ngx_rtmp_cluster_batch_failed(b);
    }
}


static void
ngx_rtmp_cluster_batch_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_batch_t *b = data;

    ngx_int_t                     rc;
    ngx_uint_t                    i, ttl, renewed;
    ngx_rtmp_cluster_lease_t     *l;
    ngx_rtmp_cluster_coworker_t  *m;
    ngx_rtmp_cluster_renewals_t  *rn;
    ngx_uint_t                    status[NGX_RTMP_CLUSTER_BATCH_LEASES];

    b->fetch = NULL;
    rn = b->rn;
    m = rn->cacf->managers->elts;

    /* a status for each lease sent, those ended since included */

    rc = NGX_ERROR;

    if (r->error == NULL && r->status == 200) {
        rc = ngx_rtmp_cluster_parse_renew_answer(r->body, r->len, b->n, &ttl,
                                                 status);
    }

    if (rc != NGX_OK && r->error == NULL
        && (r->status == 200 || r->status == 400 || r->status == 404
            || r->status == 405 || r->status == 413 || r->status == 501))
    {
        /*
         * It answers, but not batches (an older build, another
         * implementation, a proxy in front): single renewals there from
         * now on.  413: a smaller body limit than ours; 200: an answer
         * without a status per lease.
         */

        ngx_rtmp_cluster_manager_result(rn->cacf, b->manager, r, NULL);

        /* said by the first of the batches out there to be refused */

        if (!rn->single[b->manager]) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "cluster: stream manager \"%V\" refused a "
                          "batched renewal (HTTP %l%s), renewing each lease "
                          "with a request of its own there",
                          &m[b->manager].name, r->status,
                          r->status == 200 ? ", unreadable" : "");

            rn->single[b->manager] = 1;
        }

        ngx_rtmp_cluster_batch_single(b);
        return;
    }

    if (rc != NGX_OK) {
        ngx_rtmp_cluster_manager_result(rn->cacf, b->manager, r,
                                        r->error ? r->error
                                        : ngx_rtmp_cluster_lease_status(
                                                                r->status));
        ngx_rtmp_cluster_batch_failed(b);
        return;
    }

    ngx_rtmp_cluster_manager_result(rn->cacf, b->manager, r, NULL);

    /* the next tick starts where this one was answered */
    rn->manager = b->manager;

    renewed = 0;

    for (i = 0; i < b->n; i++) {
        l = b->lease[i];

        if (l == NULL) {
            /* ended while asked: released, never registered again */
            continue;
        }

        l->batch = NULL;

        if (status[i] == 200) {
            /* the next renewal at a third of what was granted */
            l->ttl = ttl ? ttl * 1000 : rn->cacf->lease_ttl;
            l->manager = b->manager;
            ngx_rtmp_cluster_renewals_add(l);
            renewed++;
            continue;
        }

        /* 404, 409: as the single renewal's answer */
        ngx_rtmp_cluster_lease_lost(l, b->manager, (long) status[i]);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_RTMP, ngx_cycle->log, 0,
                   "cluster: %ui of %ui leases renewed at manager \"%V\" "
                   "in one request, %ui ended meanwhile", renewed, b->n,
                   &m[b->manager].name, b->n - b->left);

    ngx_rtmp_cluster_batch_free(b);
}


/* the next manager, else all again a second later (a third of the TTL) */

static void
ngx_rtmp_cluster_batch_failed(ngx_rtmp_cluster_batch_t *b)
{
    ngx_uint_t  n;

    n = b->rn->cacf->managers->nelts;

    b->manager = (b->manager + 1) % n;

    if (++b->tried < n) {
        ngx_rtmp_cluster_batch_send(b);
        return;
    }

    b->tried = 0;

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_RENEW_FAILURES,
                                   (ngx_atomic_int_t) b->left);

    ngx_add_timer(&b->timer, ngx_max(ngx_min(NGX_RTMP_CLUSTER_RETRY,
                                             b->ttl / 3), 1));

    /* no request out while it waits: another batch may go */
    ngx_rtmp_cluster_batch_done(b);
}


/* a retry goes out before the batches waiting: its leases are older */

static void
ngx_rtmp_cluster_batch_timer(ngx_event_t *ev)
{
    ngx_rtmp_cluster_batch_t  *b;

    b = ((ngx_connection_t *) ev->data)->data;

    ngx_queue_insert_head(&b->rn->waiting, &b->queue);
    b->waiting = 1;

    ngx_rtmp_cluster_renewals_next(b->rn);
}


/*
 * A manager that does not take batches: each lease renewed on its own,
 * SINGLE_OUT at a time.  A lease leaves the batch at its first answer
 * (or when it ends, or is retried on its own), and the next goes; the
 * batch is freed, and its place among the BATCHES_OUT with it, when the
 * last has left.  A lease that fails at once leaves from inside the loop
 * below: it only frees a place for the loop, and the batch is kept.
 */

static void
ngx_rtmp_cluster_batch_single(ngx_rtmp_cluster_batch_t *b)
{
    ngx_rtmp_cluster_lease_t  *l;

    if (!b->single) {
        b->single = 1;
        b->next = 0;
        b->asked = 0;
    }

    b->sending = 1;
    b->left++;

    while (b->asked < NGX_RTMP_CLUSTER_SINGLE_OUT && b->next < b->n) {
        l = b->lease[b->next++];

        if (l == NULL) {
            continue;
        }

        b->asked++;
        l->manager = b->manager;
        ngx_rtmp_cluster_lease_send(l);
    }

    b->sending = 0;

    if (--b->left == 0) {
        ngx_rtmp_cluster_batch_free(b);
    }
}


static void
ngx_rtmp_cluster_batch_leave(ngx_rtmp_cluster_lease_t *l)
{
    ngx_rtmp_cluster_batch_t  *b;

    b = l->batch;

    if (b == NULL) {
        return;
    }

    b->lease[l->slot] = NULL;
    l->batch = NULL;

    if (b->single && l->slot < b->next) {
        b->asked--;
    }

    if (--b->left == 0) {
        ngx_rtmp_cluster_batch_free(b);
        return;
    }

    if (b->single && !b->sending) {
        ngx_rtmp_cluster_batch_single(b);
    }
}


static void
ngx_rtmp_cluster_batch_free(ngx_rtmp_cluster_batch_t *b)
{
    if (b->fetch) {
        ngx_rtmp_cluster_fetch_cancel(b->fetch);
    }

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    ngx_rtmp_cluster_batch_done(b);

    ngx_free(b);
}


static void
ngx_rtmp_cluster_release(ngx_rtmp_cluster_lease_t *l)
{
    ngx_rtmp_cluster_release_t  *rl;

    if (l->held) {
        l->held = 0;
        ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_LEASES_HELD, -1);
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

    /* nothing refers to the lease: its session is going */

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

static ngx_int_t
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

static void
ngx_rtmp_cluster_manager_result(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_uint_t i, ngx_rtmp_cluster_fetch_result_t *r, const char *err)
{
    ngx_rtmp_cluster_zone_t      *zone;
    ngx_rtmp_cluster_coworker_t  *m;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
    if (zone == NULL) {
        return;
    }

    m = cacf->managers->elts;

    if (err) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cluster: stream manager \"%V\" failed (HTTP %l after "
                      "%Mms): %s", &m[i].name, r->status, r->elapsed, err);

        ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_MANAGER_ERRORS, 1);
    }

    ngx_rtmp_cluster_manager_health(zone, &m[i].name, err);
}


/*
 * Where is "key"?  Asked of each manager in turn: the answer through
 * handler(data, rc, addr, port), never from inside this call; the lookup
 * is over with its handler (freed after it): cancel it only before.
 * NULL: no memory.
 */

ngx_rtmp_cluster_mlookup_t *
ngx_rtmp_cluster_manager_lookup(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_str_t *key, size_t app_len, ngx_rtmp_cluster_mlookup_pt handler,
    void *data)
{
    ngx_rtmp_cluster_mlookup_t  *ml;

    ml = ngx_calloc(sizeof(ngx_rtmp_cluster_mlookup_t), ngx_cycle->log);
    if (ml == NULL) {
        return NULL;
    }

    ml->cacf = cacf;
    ml->handler = handler;
    ml->data = data;
    ml->app_len = app_len;

    ml->key.data = ml->key_buf;
    ml->key.len = ngx_min(key->len, sizeof(ml->key_buf));
    ngx_memcpy(ml->key_buf, key->data, ml->key.len);

    ml->dummy.fd = (ngx_socket_t) -1;
    ml->dummy.data = ml;

    ml->deadline.data = &ml->dummy;
    ml->deadline.log = ngx_cycle->log;
    ml->deadline.handler = ngx_rtmp_cluster_mlookup_deadline;
    ml->deadline.cancelable = 1;

    ml->answer.data = &ml->dummy;
    ml->answer.log = ngx_cycle->log;
    ml->answer.handler = ngx_rtmp_cluster_mlookup_none;

    ngx_rtmp_cluster_mlookup_ask(ml);

    return ml;
}


void
ngx_rtmp_cluster_manager_lookup_cancel(ngx_rtmp_cluster_mlookup_t *ml)
{
    if (ml->fetch) {
        ngx_rtmp_cluster_fetch_cancel(ml->fetch);
    }

    if (ml->deadline.timer_set) {
        ngx_del_timer(&ml->deadline);
    }

    if (ml->answer.posted) {
        ngx_delete_posted_event(&ml->answer);
    }

    ngx_free(ml);
}


/* one question to one manager, in the configured order */

static void
ngx_rtmp_cluster_mlookup_ask(ngx_rtmp_cluster_mlookup_t *ml)
{
    ngx_str_t                     url;
    ngx_rtmp_cluster_coworker_t  *m;
    u_char                        buf[4 * NGX_RTMP_CLUSTER_KEY_LEN + 256];

    m = ml->cacf->managers->elts;

    for ( /* void */ ; ml->manager < ml->cacf->managers->nelts; ml->manager++)
    {
        if (ngx_rtmp_cluster_manager_url(&m[ml->manager], &ml->key,
                                         ml->app_len, &url, buf, sizeof(buf))
            != NGX_OK)
        {
            continue;
        }

        ml->fetch = ngx_rtmp_cluster_fetch_start_secret(&url,
                                    &m[ml->manager].name,
                                    &ml->cacf->manager_secret, "GET", NULL,
                                    ml->cacf->lookup_timeout, 4096,
                                    ngx_rtmp_cluster_mlookup_answer, ml);
        if (ml->fetch) {
            ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_MANAGER_REQUESTS,
                                           1);
            ngx_add_timer(&ml->deadline, ml->cacf->lookup_timeout);
            return;
        }
    }

    /* no manager to ask: posted, the caller is still in its call */
    ngx_post_event(&ml->answer, &ngx_posted_events);
}


static void
ngx_rtmp_cluster_mlookup_answer(ngx_rtmp_cluster_fetch_t *f,
    ngx_rtmp_cluster_fetch_result_t *r, void *data)
{
    ngx_rtmp_cluster_mlookup_t *ml = data;

    in_port_t   port;
    ngx_int_t   rc;
    u_char      addr[NGX_RTMP_CLUSTER_ADDR_LEN];

    ml->fetch = NULL;

    if (ml->deadline.timer_set) {
        ngx_del_timer(&ml->deadline);
    }

    rc = NGX_ERROR;

    if (r->error == NULL && r->status == 200) {
        if (ngx_rtmp_cluster_parse_lease(r->body, r->len, addr,
                                         sizeof(addr), &port, NULL, 0)
            == NGX_OK)
        {
            rc = NGX_OK;
        }

    } else if (r->error == NULL && r->status == 404) {
        rc = NGX_DECLINED;
    }

    ngx_rtmp_cluster_manager_result(ml->cacf, ml->manager, r,
                                    rc == NGX_ERROR
                                    ? (r->error ? r->error
                                       : ngx_rtmp_cluster_lease_status(
                                                                 r->status))
                                    : NULL);

    if (rc == NGX_ERROR) {
        ngx_rtmp_cluster_mlookup_next(ml);
        return;
    }

    ml->handler(ml->data, rc, addr, port);
    ngx_free(ml);
}


static void
ngx_rtmp_cluster_mlookup_deadline(ngx_event_t *ev)
{
    ngx_rtmp_cluster_mlookup_t   *ml;
    ngx_rtmp_cluster_coworker_t  *m;

    ml = ((ngx_connection_t *) ev->data)->data;
    m = ml->cacf->managers->elts;

    if (ml->fetch) {
        ngx_rtmp_cluster_fetch_cancel(ml->fetch);
        ml->fetch = NULL;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: stream manager \"%V\" did not answer the lookup "
                  "of \"%V\" within %Mms", &m[ml->manager].name, &ml->key,
                  ml->cacf->lookup_timeout);

    ngx_rtmp_cluster_manager_count(NGX_RTMP_CLUSTER_MANAGER_ERRORS, 1);

    ngx_rtmp_cluster_mlookup_next(ml);
}


static void
ngx_rtmp_cluster_mlookup_next(ngx_rtmp_cluster_mlookup_t *ml)
{
    ml->manager++;

    if (ml->manager < ml->cacf->managers->nelts) {
        ngx_rtmp_cluster_mlookup_ask(ml);
        return;
    }

    ml->handler(ml->data, NGX_ERROR, NULL, 0);
    ngx_free(ml);
}


static void
ngx_rtmp_cluster_mlookup_none(ngx_event_t *ev)
{
    ngx_rtmp_cluster_mlookup_t  *ml;

    ml = ((ngx_connection_t *) ev->data)->data;

    ml->handler(ml->data, NGX_ERROR, NULL, 0);
    ngx_free(ml);
}
