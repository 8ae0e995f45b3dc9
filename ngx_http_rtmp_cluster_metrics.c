
/*
 * ngx_rtmp_cluster: the Prometheus metrics handler (http block).  The
 * same zone snapshot as the JSON status, in the text exposition format
 * (version 0.0.4): any worker answers for all of them, and a request
 * takes the zone's lock only for the copy.
 */


#include "ngx_http_rtmp_cluster.h"


#define NGX_HTTP_RTMP_CLUSTER_METRICS_BUF   65536

/* room for one printf: up to three lines of two names, each escaped */
#define NGX_HTTP_RTMP_CLUSTER_METRICS_LINE                                    \
    (6 * 3 * NGX_RTMP_MAX_NAME + 3 * NGX_RTMP_CLUSTER_ADDR_LEN + 1024)


typedef struct {
    ngx_flag_t                      streams;
} ngx_http_rtmp_cluster_metrics_conf_t;


/* the text being written: a chain of buffers from the request's pool */
typedef struct {
    ngx_http_request_t             *r;
    ngx_chain_t                    *out;
    ngx_chain_t                   **last;
    ngx_buf_t                      *b;
    ngx_uint_t                      error;
} ngx_http_rtmp_cluster_metrics_t;


/* one stream of the host: its records of all workers added up */
typedef struct {
    ngx_str_t                       app;        /* escaped */
    ngx_str_t                       name;       /* escaped */
    ngx_str_t                       origin;     /* escaped */
    ngx_rtmp_cluster_shm_stream_t  *up;         /* the record pulling or
                                                   holding the publisher */
    ngx_uint_t                      players;
    ngx_uint_t                      flv;
    ngx_uint_t                      hls;
    ngx_uint_t                      relays;
    ngx_atomic_uint_t               bytes;
    ngx_atomic_uint_t               sent;
    ngx_atomic_uint_t               failovers;
} ngx_http_rtmp_cluster_metrics_stream_t;


static char *ngx_http_rtmp_cluster_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_rtmp_cluster_metrics_create_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_rtmp_cluster_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_rtmp_cluster_metrics_streams(
    ngx_http_rtmp_cluster_metrics_t *m, ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids, ngx_flag_t labels);
static void ngx_http_rtmp_cluster_metrics_origins(
    ngx_http_rtmp_cluster_metrics_t *m, ngx_rtmp_cluster_snapshot_t *snap);
static void ngx_http_rtmp_cluster_metrics_counters(
    ngx_http_rtmp_cluster_metrics_t *m, ngx_rtmp_cluster_snapshot_t *snap);
static void ngx_http_rtmp_cluster_metrics_workers(
    ngx_http_rtmp_cluster_metrics_t *m, ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids);
static void ngx_http_rtmp_cluster_metrics_family(
    ngx_http_rtmp_cluster_metrics_t *m, const char *name, const char *type,
    const char *help);
static void ngx_cdecl ngx_http_rtmp_cluster_metrics_printf(
    ngx_http_rtmp_cluster_metrics_t *m, const char *fmt, ...);
static ngx_int_t ngx_http_rtmp_cluster_metrics_escape(ngx_pool_t *pool,
    ngx_str_t *dst, u_char *src, size_t len);


static ngx_command_t  ngx_http_rtmp_cluster_metrics_commands[] = {

    { ngx_string("cluster_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_rtmp_cluster_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_rtmp_cluster_metrics_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    ngx_http_rtmp_cluster_metrics_create_conf,
                                            /* create location configuration */
    NULL                                    /* merge location configuration */
};


ngx_module_t  ngx_http_rtmp_cluster_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_metrics_module_ctx, /* module context */
    ngx_http_rtmp_cluster_metrics_commands, /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    NULL,                                   /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    NULL,                                   /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_rtmp_cluster_metrics_create_conf(ngx_conf_t *cf)
{
    ngx_http_rtmp_cluster_metrics_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_rtmp_cluster_metrics_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->streams = NGX_CONF_UNSET;

    return mcf;
}


/* cluster_metrics [streams=on|off] */

static char *
ngx_http_rtmp_cluster_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_rtmp_cluster_metrics_conf_t *mcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (mcf->streams != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mcf->streams = 1;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "streams=off") == 0) {
            mcf->streams = 0;

        } else if (ngx_strcmp(value[1].data, "streams=on") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_metrics\": invalid parameter "
                               "\"%V\", expected \"streams=on\" or "
                               "\"streams=off\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_rtmp_cluster_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_rtmp_cluster_metrics_handler(ngx_http_request_t *r)
{
    off_t                                  len;
    ngx_int_t                              rc;
    ngx_chain_t                           *cl;
    ngx_rtmp_cluster_zone_t               *zone;
    ngx_http_rtmp_cluster_pids_t           pids;
    ngx_rtmp_cluster_snapshot_t            snap;
    ngx_http_rtmp_cluster_metrics_t        m;
    ngx_http_rtmp_cluster_metrics_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_loc_conf(r, ngx_http_rtmp_cluster_metrics_module);

    ngx_memzero(&snap, sizeof(ngx_rtmp_cluster_snapshot_t));
    pids.n = 0;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (zone
        && ngx_rtmp_cluster_zone_snapshot(zone, r->pool, &snap, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&m, sizeof(ngx_http_rtmp_cluster_metrics_t));
    m.r = r;
    m.last = &m.out;

    ngx_http_rtmp_cluster_metrics_family(&m, "rtmp_cluster_info", "gauge",
        "The module's version.");
    ngx_http_rtmp_cluster_metrics_printf(&m,
        "rtmp_cluster_info{version=\"%s\"} 1\n", NGX_RTMP_CLUSTER_VERSION);

    if (ngx_http_rtmp_cluster_metrics_streams(&m, &snap, &pids, mcf->streams)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_rtmp_cluster_metrics_origins(&m, &snap);
    ngx_http_rtmp_cluster_metrics_counters(&m, &snap);
    ngx_http_rtmp_cluster_metrics_workers(&m, &snap, &pids);

    if (zone) {
        ngx_http_rtmp_cluster_metrics_family(&m, "rtmp_cluster_zone_pages",
            "gauge", "Pages of the cluster zone.");
        ngx_http_rtmp_cluster_metrics_printf(&m,
            "rtmp_cluster_zone_pages %ui\n", snap.pages);
        ngx_http_rtmp_cluster_metrics_family(&m,
            "rtmp_cluster_zone_free_pages", "gauge",
            "Free pages of the cluster zone.");
        ngx_http_rtmp_cluster_metrics_printf(&m,
            "rtmp_cluster_zone_free_pages %ui\n", snap.free_pages);
    }

    if (m.error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = m.out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    m.b->last_buf = (r == r->main) ? 1 : 0;
    m.b->last_in_chain = 1;

    return ngx_http_output_filter(r, m.out);
}


/*
 * The streams: the records of one stream (one per worker that has it)
 * added up, so a series names a stream of the host whichever worker
 * serves it.  The host's totals always; per stream with labels unless
 * "streams=off" (a host of very many streams).
 */

static ngx_int_t
ngx_http_rtmp_cluster_metrics_streams(ngx_http_rtmp_cluster_metrics_t *m,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids,
    ngx_flag_t labels)
{
    ngx_uint_t                               i, j, n, ns, end, players,
                                             flv, hls;
    ngx_pool_t                              *pool;
    ngx_rtmp_cluster_shm_stream_t          **live, *x;
    ngx_http_rtmp_cluster_metrics_stream_t  *st, *s, sum;

    pool = m->r->pool;

    live = ngx_http_rtmp_cluster_live_streams(pool, snap, pids, &n);
    if (live == NULL) {
        return NGX_ERROR;
    }

    /* each stream's sums kept for its series; for the totals, one at a time */
    st = NULL;

    if (labels) {
        st = ngx_pcalloc(pool, (snap->nstreams + 1)
                              * sizeof(ngx_http_rtmp_cluster_metrics_stream_t));
        if (st == NULL) {
            return NGX_ERROR;
        }
    }

    ns = 0;
    players = 0;
    flv = 0;
    hls = 0;

    for (i = 0; i < n; i = end) {
        end = ngx_http_rtmp_cluster_stream_end(live, i, n);

        if (labels) {
            s = &st[ns];

        } else {
            s = &sum;
            ngx_memzero(s, sizeof(ngx_http_rtmp_cluster_metrics_stream_t));
        }

        ns++;

        for (j = i; j < end; j++) {
            x = live[j];

            /* upstream: the publisher's record, else the one that read */
            if (s->up == NULL
                || (s->up->kind != NGX_RTMP_CLUSTER_PUBLISH
                    && (x->kind == NGX_RTMP_CLUSTER_PUBLISH
                        || x->bytes > s->up->bytes)))
            {
                s->up = x;
            }

            s->players += x->players;
            s->flv += x->flv;
            s->hls += x->hls;
            s->relays += x->relays;
            s->bytes += x->bytes;
            s->sent += x->sent;
            s->failovers += x->failovers;
        }

        players += s->players;
        flv += s->flv;
        hls += s->hls;

        if (labels
            && (ngx_http_rtmp_cluster_metrics_escape(pool, &s->app,
                    live[i]->app, ngx_strlen(live[i]->app)) != NGX_OK
                || ngx_http_rtmp_cluster_metrics_escape(pool, &s->name,
                    live[i]->name, ngx_strlen(live[i]->name)) != NGX_OK
                || ngx_http_rtmp_cluster_metrics_escape(pool, &s->origin,
                    s->up->origin, ngx_strlen(s->up->origin)) != NGX_OK))
        {
            return NGX_ERROR;
        }
    }

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_streams", "gauge",
        "Streams on this host (pulled, published or proxied).");
    ngx_http_rtmp_cluster_metrics_printf(m, "rtmp_cluster_streams %ui\n", ns);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_players", "gauge",
        "Players on this host by protocol.");
    ngx_http_rtmp_cluster_metrics_printf(m,
        "rtmp_cluster_players{protocol=\"rtmp\"} %ui\n"
        "rtmp_cluster_players{protocol=\"flv\"} %ui\n"
        "rtmp_cluster_players{protocol=\"hls\"} %ui\n",
        players - flv - hls, flv, hls);

    if (!labels) {
        return NGX_OK;
    }

#define ngx_http_rtmp_cluster_metrics_each(fmt, ...)                          \
    for (i = 0; i < ns; i++) {                                                \
        s = &st[i];                                                           \
        ngx_http_rtmp_cluster_metrics_printf(m, fmt, __VA_ARGS__);            \
    }

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_stream_players",
        "gauge", "Players of a stream by protocol.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_players{app=\"%V\",stream=\"%V\","
        "protocol=\"rtmp\"} %ui\n"
        "rtmp_cluster_stream_players{app=\"%V\",stream=\"%V\","
        "protocol=\"flv\"} %ui\n"
        "rtmp_cluster_stream_players{app=\"%V\",stream=\"%V\","
        "protocol=\"hls\"} %ui\n",
        &s->app, &s->name, s->players - s->flv - s->hls,
        &s->app, &s->name, s->flv, &s->app, &s->name, s->hls);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_stream_relays",
        "gauge", "Other workers of this host relaying a stream.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_relays{app=\"%V\",stream=\"%V\"} %ui\n",
        &s->app, &s->name, s->relays);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_stream_received_bytes_total", "counter",
        "Bytes of a stream received from upstream or its publisher.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_received_bytes_total{app=\"%V\",stream=\"%V\"}"
        " %uA\n", &s->app, &s->name, s->bytes);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_stream_sent_bytes_total", "counter",
        "Bytes sent to a stream's players and viewers (RTMP, HTTP-FLV, HLS"
        " answers).");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_sent_bytes_total{app=\"%V\",stream=\"%V\"}"
        " %uA\n", &s->app, &s->name, s->sent);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_stream_failovers_total", "counter",
        "Times a stream moved to another origin.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_failovers_total{app=\"%V\",stream=\"%V\"}"
        " %uA\n", &s->app, &s->name, s->failovers);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_stream_upstream",
        "gauge", "A stream's upstream: kind, state and origin (always 1).");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_upstream{app=\"%V\",stream=\"%V\",kind=\"%s\","
        "state=\"%s\",origin=\"%V\"} 1\n", &s->app, &s->name,
        ngx_http_rtmp_cluster_kind_name(s->up->kind),
        ngx_rtmp_cluster_state_name(s->up->state), &s->origin);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_stream_gop_frames",
        "gauge", "Frames in a stream's GOP cache.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_gop_frames{app=\"%V\",stream=\"%V\"} %uA\n",
        &s->app, &s->name, s->up->gop_frames);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_stream_gop_bytes",
        "gauge", "Bytes in a stream's GOP cache.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_stream_gop_bytes{app=\"%V\",stream=\"%V\"} %uA\n",
        &s->app, &s->name, s->up->gop_bytes);

#undef ngx_http_rtmp_cluster_metrics_each

    return NGX_OK;
}


static void
ngx_http_rtmp_cluster_metrics_origins(ngx_http_rtmp_cluster_metrics_t *m,
    ngx_rtmp_cluster_snapshot_t *snap)
{
    uint64_t                        now;
    ngx_str_t                      *name;
    ngx_uint_t                      i;
    ngx_rtmp_cluster_shm_origin_t  *o;

    if (snap->norigins == 0) {
        return;
    }

    name = ngx_palloc(m->r->pool, snap->norigins * sizeof(ngx_str_t));
    if (name == NULL) {
        m->error = 1;
        return;
    }

    for (i = 0; i < snap->norigins; i++) {
        o = &snap->origins[i];

        if (ngx_http_rtmp_cluster_metrics_escape(m->r->pool, &name[i],
                                                 o->name, o->name_len)
            != NGX_OK)
        {
            m->error = 1;
            return;
        }
    }

    now = ngx_rtmp_cluster_now();

#define ngx_http_rtmp_cluster_metrics_each(metric, value)                     \
    for (i = 0; i < snap->norigins; i++) {                                    \
        o = &snap->origins[i];                                                \
        ngx_http_rtmp_cluster_metrics_printf(m,                               \
            metric "{origin=\"%V\"} %ui\n", &name[i], (ngx_uint_t) (value));  \
    }

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_origin_up", "gauge",
        "1 when an origin's last attempt succeeded and its circuit is"
        " closed.");
    ngx_http_rtmp_cluster_metrics_each("rtmp_cluster_origin_up",
        ngx_http_rtmp_cluster_origin_health(o, now)
        == NGX_HTTP_RTMP_CLUSTER_ORIGIN_UP);

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_origin_circuit_open",
        "gauge", "1 while an origin's circuit is open (not tried).");
    ngx_http_rtmp_cluster_metrics_each("rtmp_cluster_origin_circuit_open",
        ngx_http_rtmp_cluster_origin_health(o, now)
        == NGX_HTTP_RTMP_CLUSTER_ORIGIN_DOWN);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_origin_consecutive_failures", "gauge",
        "Failures of an origin since its last success.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_origin_consecutive_failures", o->fails);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_origin_failures_total", "counter",
        "Failed attempts at an origin.");
    ngx_http_rtmp_cluster_metrics_each("rtmp_cluster_origin_failures_total",
        o->total_fails);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_origin_successes_total", "counter",
        "Successful pulls from an origin.");
    ngx_http_rtmp_cluster_metrics_each("rtmp_cluster_origin_successes_total",
        o->successes);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_origin_circuit_opens_total", "counter",
        "Times an origin's circuit opened.");
    ngx_http_rtmp_cluster_metrics_each(
        "rtmp_cluster_origin_circuit_opens_total", o->circuit_opens);

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_origin_not_found_total", "counter",
        "Times an origin answered that it lacks a stream.");
    ngx_http_rtmp_cluster_metrics_each("rtmp_cluster_origin_not_found_total",
        o->not_found);

#undef ngx_http_rtmp_cluster_metrics_each
}


static void
ngx_http_rtmp_cluster_metrics_counters(ngx_http_rtmp_cluster_metrics_t *m,
    ngx_rtmp_cluster_snapshot_t *snap)
{
    u_char              le[NGX_INT_T_LEN + sizeof(".000")], *p;
    ngx_uint_t          i;
    ngx_atomic_uint_t  *c, n, ms;

    static const ngx_msec_t  bounds[] = { NGX_RTMP_CLUSTER_LOOKUP_BOUNDS };

    c = snap->counters;

#define ngx_http_rtmp_cluster_metrics_one(metric, type, help, value)          \
    ngx_http_rtmp_cluster_metrics_family(m, metric, type, help);              \
    ngx_http_rtmp_cluster_metrics_printf(m, metric " %uA\n",                  \
                                         (ngx_atomic_uint_t) (value))

    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_sent_bytes_total",
        "counter", "Bytes sent to players and viewers of all streams.",
        c[NGX_RTMP_CLUSTER_BYTES_SENT]);

    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookups_total", "counter",
        "Streams looked up at coworkers or the stream manager.",
        c[NGX_RTMP_CLUSTER_LOOKUPS_TOTAL]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookup_cache_hits_total",
        "counter", "Lookups answered from the cache.",
        c[NGX_RTMP_CLUSTER_LOOKUPS_CACHED]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookups_joined_total",
        "counter", "Lookups that joined another worker's.",
        c[NGX_RTMP_CLUSTER_LOOKUPS_JOINED]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookups_found_total",
        "counter", "Lookups that found the stream.",
        c[NGX_RTMP_CLUSTER_LOOKUPS_FOUND]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookup_queries_total",
        "counter", "Queries sent to coworkers or the stream manager.",
        c[NGX_RTMP_CLUSTER_LOOKUP_QUERIES]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_lookup_errors_total",
        "counter", "Queries that failed.",
        c[NGX_RTMP_CLUSTER_LOOKUP_ERRORS]);

    /* the zone counts each bucket alone: added up here, so that in one
     * answer every bucket holds at least the one before it */
    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_lookup_duration_seconds", "histogram",
        "Time to answer a lookup this host asked.");

    n = 0;

    for (i = 0; i < NGX_RTMP_CLUSTER_LOOKUP_NBOUNDS; i++) {
        n += c[NGX_RTMP_CLUSTER_LOOKUP_MS_BUCKETS + i];

        /* the lookups' own bound (ms) in seconds, without trailing
         * zeros: 5 is "0.005", 100 "0.1", 1000 "1" */
        p = ngx_sprintf(le, "%M", bounds[i] / 1000);

        if (bounds[i] % 1000) {
            p = ngx_sprintf(p, ".%03M", bounds[i] % 1000);

            while (p[-1] == '0') {
                p--;
            }
        }

        ngx_http_rtmp_cluster_metrics_printf(m,
            "rtmp_cluster_lookup_duration_seconds_bucket{le=\"%*s\"} %uA\n",
            (size_t) (p - le), le, n);
    }

    n += c[NGX_RTMP_CLUSTER_LOOKUP_MS_BUCKETS + i];
    ms = c[NGX_RTMP_CLUSTER_LOOKUP_MS_TOTAL];

    ngx_http_rtmp_cluster_metrics_printf(m,
        "rtmp_cluster_lookup_duration_seconds_bucket{le=\"+Inf\"} %uA\n"
        "rtmp_cluster_lookup_duration_seconds_sum %uA.%03uA\n"
        "rtmp_cluster_lookup_duration_seconds_count %uA\n",
        n, ms / 1000, ms % 1000, n);

    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_redirects_sent_total",
        "counter", "RTMP 302 redirects this host sent.",
        c[NGX_RTMP_CLUSTER_REDIRECTS_SENT]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_redirects_followed_total",
        "counter", "RTMP 302 redirects this host followed.",
        c[NGX_RTMP_CLUSTER_REDIRECTS_FOLLOWED]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_redirects_refused_total",
        "counter", "RTMP 302 redirects this host refused to follow.",
        c[NGX_RTMP_CLUSTER_REDIRECTS_REFUSED]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_publishes_rejected_total",
        "counter", "Publishes refused (the stream is live elsewhere).",
        c[NGX_RTMP_CLUSTER_PUBLISHES_REJECTED]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_zone_full_total",
        "counter", "Records the cluster zone had no room for.",
        c[NGX_RTMP_CLUSTER_ZONE_FULL]);

    if (c[NGX_RTMP_CLUSTER_MANAGER_REQUESTS]) {
        ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_manager_up", "gauge",
            "1 when the stream manager's last request succeeded.",
            !snap->manager_down);
    }

    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_manager_requests_total",
        "counter", "Requests to the stream manager.",
        c[NGX_RTMP_CLUSTER_MANAGER_REQUESTS]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_manager_errors_total",
        "counter", "Failed requests to the stream manager.",
        c[NGX_RTMP_CLUSTER_MANAGER_ERRORS]);
    ngx_http_rtmp_cluster_metrics_one("rtmp_cluster_manager_leases", "gauge",
        "Stream leases this host holds at the stream manager.",
        (ngx_atomic_int_t) c[NGX_RTMP_CLUSTER_LEASES_HELD] < 0
        ? 0 : c[NGX_RTMP_CLUSTER_LEASES_HELD]);
    ngx_http_rtmp_cluster_metrics_one(
        "rtmp_cluster_manager_lease_conflicts_total", "counter",
        "Leases refused: another host holds the stream.",
        c[NGX_RTMP_CLUSTER_LEASE_CONFLICTS]);
    ngx_http_rtmp_cluster_metrics_one(
        "rtmp_cluster_manager_renew_failures_total", "counter",
        "Lease renewals that failed.",
        c[NGX_RTMP_CLUSTER_RENEW_FAILURES]);

#undef ngx_http_rtmp_cluster_metrics_one
}


/*
 * Per worker: whether it relays to the others, its relays, its streams.
 * One walk of the slots and the records, then the three families.
 */

static void
ngx_http_rtmp_cluster_metrics_workers(ngx_http_rtmp_cluster_metrics_t *m,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids)
{
    ngx_uint_t                      i, j;
    ngx_uint_t                      live[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_uint_t                      relays[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_uint_t                      owned[NGX_RTMP_CLUSTER_MAX_WORKERS];
    ngx_rtmp_cluster_shm_worker_t  *w;
    ngx_rtmp_cluster_shm_stream_t  *s;

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        w = &snap->workers[i];

        live[i] = w->pid && ngx_http_rtmp_cluster_alive(pids, w->pid);
        relays[i] = 0;
        owned[i] = 0;

        if (!live[i]) {
            continue;
        }

        for (j = 0; j < snap->nstreams; j++) {
            s = &snap->streams[j];

            if (s->pid != w->pid) {
                continue;
            }

            relays[i] += s->relays;

            if (s->kind == NGX_RTMP_CLUSTER_PUBLISH
                || s->owner == 0 || s->owner == s->pid)
            {
                owned[i]++;
            }
        }
    }

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_worker_relay_listening", "gauge",
        "1 when this worker's relay socket listens: other workers can relay"
        " from it.");

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        if (live[i]) {
            ngx_http_rtmp_cluster_metrics_printf(m,
                "rtmp_cluster_worker_relay_listening{pid=\"%P\"} %ui\n",
                snap->workers[i].pid, (ngx_uint_t) snap->workers[i].relay);
        }
    }

    ngx_http_rtmp_cluster_metrics_family(m, "rtmp_cluster_worker_relays",
        "gauge", "Relays other workers take from this worker's streams.");

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        if (live[i]) {
            ngx_http_rtmp_cluster_metrics_printf(m,
                "rtmp_cluster_worker_relays{pid=\"%P\"} %ui\n",
                snap->workers[i].pid, relays[i]);
        }
    }

    ngx_http_rtmp_cluster_metrics_family(m,
        "rtmp_cluster_worker_owned_streams", "gauge",
        "Streams a worker pulls for the host or holds the publisher of.");

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        if (live[i]) {
            ngx_http_rtmp_cluster_metrics_printf(m,
                "rtmp_cluster_worker_owned_streams{pid=\"%P\"} %ui\n",
                snap->workers[i].pid, owned[i]);
        }
    }
}


static void
ngx_http_rtmp_cluster_metrics_family(ngx_http_rtmp_cluster_metrics_t *m,
    const char *name, const char *type, const char *help)
{
    ngx_http_rtmp_cluster_metrics_printf(m, "# HELP %s %s\n# TYPE %s %s\n",
                                         name, help, name, type);
}


/* appends to the text; a new buffer when the last has no room for a line */

static void ngx_cdecl
ngx_http_rtmp_cluster_metrics_printf(ngx_http_rtmp_cluster_metrics_t *m,
    const char *fmt, ...)
{
    va_list       args;
    ngx_chain_t  *cl;

    if (m->error) {
        return;
    }

    if (m->b == NULL
        || (size_t) (m->b->end - m->b->last)
           < NGX_HTTP_RTMP_CLUSTER_METRICS_LINE)
    {
        cl = ngx_alloc_chain_link(m->r->pool);
        if (cl == NULL) {
            m->error = 1;
            return;
        }

        m->b = ngx_create_temp_buf(m->r->pool,
                                   NGX_HTTP_RTMP_CLUSTER_METRICS_BUF);
        if (m->b == NULL) {
            m->error = 1;
            return;
        }

        cl->buf = m->b;
        cl->next = NULL;
        *m->last = cl;
        m->last = &cl->next;
    }

    va_start(args, fmt);
    m->b->last = ngx_vslprintf(m->b->last, m->b->end, fmt, args);
    va_end(args);
}


/* a label value, escaped (ngx_rtmp_cluster_label_escape()) */

static ngx_int_t
ngx_http_rtmp_cluster_metrics_escape(ngx_pool_t *pool, ngx_str_t *dst,
    u_char *src, size_t len)
{
    dst->data = ngx_pnalloc(pool, 3 * len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    dst->len = ngx_rtmp_cluster_label_escape(dst->data, src, len);

    return NGX_OK;
}
