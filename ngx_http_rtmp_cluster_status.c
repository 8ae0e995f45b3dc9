
/*
 * ngx_rtmp_cluster: the JSON status handler (http block).  It reads the
 * cluster zone only, so any worker answers for all of them.
 */


#include "ngx_http_rtmp_cluster.h"


static char *ngx_http_rtmp_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_rtmp_cluster_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_rtmp_cluster_status_handler(ngx_http_request_t *r);
static void ngx_http_rtmp_cluster_gen_streams(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids);
static ngx_int_t ngx_http_rtmp_cluster_gen_hosted(ngx_http_request_t *r,
    yajl_gen g, ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids);
static int ngx_libc_cdecl ngx_http_rtmp_cluster_cmp_stream(const void *one,
    const void *two);
static void ngx_http_rtmp_cluster_gen_published(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids, uint64_t now);
static void ngx_http_rtmp_cluster_gen_workers(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap,
    ngx_http_rtmp_cluster_pids_t *pids);
static void ngx_http_rtmp_cluster_gen_origins(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, uint64_t now);
static void ngx_http_rtmp_cluster_gen_zone(yajl_gen g,
    ngx_rtmp_cluster_zone_t *zone, ngx_rtmp_cluster_snapshot_t *snap);
static void ngx_http_rtmp_cluster_gen_counters(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap);
static void ngx_http_rtmp_cluster_gen_apps(yajl_gen g, ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_rtmp_cluster_commands[] = {

    { ngx_string("cluster_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_rtmp_cluster_status,
      0,
      0,
      NULL },

    { ngx_string("cluster_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_rtmp_cluster_api,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_rtmp_cluster_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    NULL,                                   /* create location configuration */
    NULL                                    /* merge location configuration */
};


ngx_module_t  ngx_http_rtmp_cluster_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_module_ctx,      /* module context */
    ngx_http_rtmp_cluster_commands,         /* module directives */
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


static char *
ngx_http_rtmp_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_rtmp_cluster_status_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_rtmp_cluster_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_rtmp_cluster_api_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_rtmp_cluster_status_handler(ngx_http_request_t *r)
{
    uint64_t                           now;
    ngx_int_t                          rc;
    yajl_gen                           g;
    ngx_rtmp_cluster_zone_t           *zone;
    ngx_http_rtmp_cluster_pids_t       pids;
    ngx_rtmp_cluster_snapshot_t   snap;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&snap, sizeof(ngx_rtmp_cluster_snapshot_t));
    pids.n = 0;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (zone
        && ngx_rtmp_cluster_zone_snapshot(zone, r->pool, &snap, 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = ngx_rtmp_cluster_json_gen(1);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_rtmp_cluster_now();

    yajl_gen_map_open(g);

    ngx_rtmp_cluster_json_str(g, "version",
                              (u_char *) NGX_RTMP_CLUSTER_VERSION,
                              sizeof(NGX_RTMP_CLUSTER_VERSION) - 1);
    ngx_rtmp_cluster_json_int(g, "pid", ngx_pid);
    ngx_rtmp_cluster_json_int(g, "time", ngx_time());

    ngx_http_rtmp_cluster_gen_apps(g, (ngx_cycle_t *) ngx_cycle);
    ngx_http_rtmp_cluster_gen_streams(g, &snap, &pids);

    if (ngx_http_rtmp_cluster_gen_hosted(r, g, &snap, &pids) != NGX_OK) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_rtmp_cluster_gen_published(g, &snap, &pids, now);
    ngx_http_rtmp_cluster_gen_workers(g, &snap, &pids);
    ngx_http_rtmp_cluster_gen_counters(g, &snap);
    ngx_http_rtmp_cluster_gen_origins(g, &snap, now);

    if (zone) {
        ngx_http_rtmp_cluster_gen_zone(g, zone, &snap);
    }

    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_OK, g);
}


static void
ngx_http_rtmp_cluster_gen_streams(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids)
{
    const char                     *text;
    ngx_uint_t                      i;
    ngx_rtmp_cluster_shm_stream_t  *s;

    ngx_rtmp_cluster_json_key(g, "streams");
    yajl_gen_array_open(g);

    for (i = 0; i < snap->nstreams; i++) {
        s = &snap->streams[i];

        if (!ngx_http_rtmp_cluster_alive(pids, s->pid)) {
            /* a dead worker's; its successor sweeps it */
            continue;
        }

        yajl_gen_map_open(g);

        ngx_rtmp_cluster_json_str(g, "app", s->app, ngx_strlen(s->app));
        ngx_rtmp_cluster_json_str(g, "name", s->name, ngx_strlen(s->name));

        text = ngx_http_rtmp_cluster_kind_name(s->kind);
        ngx_rtmp_cluster_json_str(g, "kind", (u_char *) text,
                                  ngx_strlen(text));

        text = ngx_rtmp_cluster_state_name(s->state);
        ngx_rtmp_cluster_json_str(g, "state", (u_char *) text,
                                  ngx_strlen(text));

        if (s->origin[0]) {
            ngx_rtmp_cluster_json_str(g, "origin", s->origin,
                                      ngx_strlen(s->origin));
            ngx_rtmp_cluster_json_int(g, "origin_time",
                                      ngx_time() - s->origin_since);

        } else {
            ngx_rtmp_cluster_json_key(g, "origin");
            yajl_gen_null(g);
        }

        ngx_rtmp_cluster_json_int(g, "players", (long) s->players);
        ngx_rtmp_cluster_json_int(g, "relays", (long) s->relays);

        /* the players by protocol */
        ngx_rtmp_cluster_json_int(g, "rtmp",
                                  (long) (s->players - s->flv - s->hls));
        ngx_rtmp_cluster_json_int(g, "flv", (long) s->flv);
        ngx_rtmp_cluster_json_int(g, "hls", (long) s->hls);

        if (s->owner) {
            ngx_rtmp_cluster_json_int(g, "owner", s->owner);
        }

        ngx_rtmp_cluster_json_int(g, "bytes_in", s->bytes);
        ngx_rtmp_cluster_json_int(g, "bytes_out", s->sent);
        ngx_rtmp_cluster_json_int(g, "uptime", ngx_time() - s->started);
        ngx_rtmp_cluster_json_int(g, "failovers", s->failovers);

        ngx_rtmp_cluster_json_key(g, "gop");
        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_int(g, "frames", s->gop_frames);
        ngx_rtmp_cluster_json_int(g, "bytes", s->gop_bytes);
        ngx_rtmp_cluster_json_int(g, "duration_ms", s->gop_ms);
        yajl_gen_map_close(g);

        ngx_rtmp_cluster_json_int(g, "worker", s->pid);

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
}


/*
 * The same streams, one entry each for the host: the owner worker (the
 * one pulling from upstream or holding the publisher), the workers with
 * players, and the players in all.  Sorted by name, so each stream's
 * records are neighbours: linear after the sort.
 */

static ngx_int_t
ngx_http_rtmp_cluster_gen_hosted(ngx_http_request_t *r, yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids)
{
    ngx_pid_t                        owner;
    ngx_uint_t                       i, j, n, end, players, flv, hls;
    ngx_rtmp_cluster_shm_stream_t   *s, *x, **live;

    live = ngx_http_rtmp_cluster_live_streams(r->pool, snap, pids, &n);
    if (live == NULL) {
        return NGX_ERROR;
    }

    ngx_rtmp_cluster_json_key(g, "hosted");
    yajl_gen_array_open(g);

    for (i = 0; i < n; i = end) {
        s = live[i];
        end = ngx_http_rtmp_cluster_stream_end(live, i, n);

        players = 0;
        flv = 0;
        hls = 0;
        owner = 0;

        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_str(g, "app", s->app, ngx_strlen(s->app));
        ngx_rtmp_cluster_json_str(g, "name", s->name, ngx_strlen(s->name));

        ngx_rtmp_cluster_json_key(g, "workers");
        yajl_gen_array_open(g);

        for (j = i; j < end; j++) {
            x = live[j];

            if (x->owner) {
                owner = x->owner;
            }

            if (x->kind == NGX_RTMP_CLUSTER_PUBLISH) {
                owner = x->pid;
            }

            players += x->players;
            flv += x->flv;
            hls += x->hls;

            if (x->players) {
                yajl_gen_integer(g, x->pid);
            }
        }

        yajl_gen_array_close(g);

        ngx_rtmp_cluster_json_int(g, "players", players);
        ngx_rtmp_cluster_json_int(g, "rtmp", players - flv - hls);
        ngx_rtmp_cluster_json_int(g, "flv", flv);
        ngx_rtmp_cluster_json_int(g, "hls", hls);

        ngx_rtmp_cluster_json_key(g, "owner");

        if (owner) {
            yajl_gen_integer(g, owner);

        } else {
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    return NGX_OK;
}


/*
 * The records of live workers, sorted by app and name, the copies of one
 * stream (one per worker that has it) next to each other in the zone's
 * order: the status's and the metrics' per-stream sums.
 */

ngx_rtmp_cluster_shm_stream_t **
ngx_http_rtmp_cluster_live_streams(ngx_pool_t *pool,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids,
    ngx_uint_t *n)
{
    ngx_uint_t                       i;
    ngx_rtmp_cluster_shm_stream_t  **live;

    live = ngx_palloc(pool, (snap->nstreams + 1)
                            * sizeof(ngx_rtmp_cluster_shm_stream_t *));
    if (live == NULL) {
        return NULL;
    }

    *n = 0;

    for (i = 0; i < snap->nstreams; i++) {
        if (ngx_http_rtmp_cluster_alive(pids, snap->streams[i].pid)) {
            live[(*n)++] = &snap->streams[i];
        }
    }

    ngx_qsort(live, *n, sizeof(ngx_rtmp_cluster_shm_stream_t *),
              ngx_http_rtmp_cluster_cmp_stream);

    return live;
}


/* the end of live[i]'s stream among the sorted records: the next other */

ngx_uint_t
ngx_http_rtmp_cluster_stream_end(ngx_rtmp_cluster_shm_stream_t **live,
    ngx_uint_t i, ngx_uint_t n)
{
    ngx_uint_t  j;

    for (j = i + 1; j < n; j++) {
        if (ngx_strcmp(live[j]->app, live[i]->app) != 0
            || ngx_strcmp(live[j]->name, live[i]->name) != 0)
        {
            break;
        }
    }

    return j;
}


static int ngx_libc_cdecl
ngx_http_rtmp_cluster_cmp_stream(const void *one, const void *two)
{
    int                                   rc;
    ngx_rtmp_cluster_shm_stream_t *const *a, *const *b;

    a = one;
    b = two;

    rc = ngx_strcmp((*a)->app, (*b)->app);

    if (rc == 0) {
        rc = ngx_strcmp((*a)->name, (*b)->name);
    }

    if (rc == 0) {
        /* a stable sort: the copies lie in the zone's order */
        rc = (*a > *b) - (*a < *b);
    }

    return rc;
}


static void
ngx_http_rtmp_cluster_gen_published(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids,
    uint64_t now)
{
    ngx_uint_t                         i;
    ngx_rtmp_cluster_shm_published_t  *pub;

    ngx_rtmp_cluster_json_key(g, "published");
    yajl_gen_array_open(g);

    for (i = 0; i < snap->npublished; i++) {
        pub = &snap->published[i];

        if (!ngx_http_rtmp_cluster_alive(pids, pub->pid)) {
            continue;
        }

        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_str(g, "stream", pub->sn.key, pub->sn.len);
        ngx_rtmp_cluster_json_str(g, "publisher", pub->publisher,
                                  ngx_strlen(pub->publisher));
        ngx_rtmp_cluster_json_int(g, "uptime", (now - pub->since) / 1000);
        ngx_rtmp_cluster_json_int(g, "worker", pub->pid);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
}


/*
 * The workers, from their slots: whether other workers can relay from
 * them (their sockets listen), whether they are shutting down, and their
 * configuration cycle (reloads count up).
 */

static void
ngx_http_rtmp_cluster_gen_workers(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, ngx_http_rtmp_cluster_pids_t *pids)
{
    ngx_uint_t                      i;
    ngx_rtmp_cluster_shm_worker_t  *w;

    ngx_rtmp_cluster_json_key(g, "workers");
    yajl_gen_array_open(g);

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        w = &snap->workers[i];

        if (w->pid == 0 || !ngx_http_rtmp_cluster_alive(pids, w->pid)) {
            continue;
        }

        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_int(g, "pid", w->pid);
        ngx_rtmp_cluster_json_key(g, "relay");
        yajl_gen_bool(g, w->relay);
        ngx_rtmp_cluster_json_key(g, "exiting");
        yajl_gen_bool(g, w->exiting);
        ngx_rtmp_cluster_json_int(g, "generation", w->generation);
        ngx_rtmp_cluster_json_int(g, "uptime", ngx_time() - w->started);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_rtmp_cluster_json_int(g, "generation", snap->generation);
}


static void
ngx_http_rtmp_cluster_gen_origins(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap, uint64_t now)
{
    ngx_uint_t                      i, health;
    ngx_rtmp_cluster_shm_origin_t  *o;

    static ngx_str_t  healths[] = {
        ngx_string("up"), ngx_string("failing"), ngx_string("down")
    };

    ngx_rtmp_cluster_json_key(g, "origins");
    yajl_gen_array_open(g);

    for (i = 0; i < snap->norigins; i++) {
        o = &snap->origins[i];

        yajl_gen_map_open(g);

        ngx_rtmp_cluster_json_str(g, "address", o->name, o->name_len);

        health = ngx_http_rtmp_cluster_origin_health(o, now);
        ngx_rtmp_cluster_json_str(g, "health", healths[health].data,
                                  healths[health].len);

        if (health == NGX_HTTP_RTMP_CLUSTER_ORIGIN_DOWN) {
            ngx_rtmp_cluster_json_str(g, "circuit", (u_char *) "open", 4);
            ngx_rtmp_cluster_json_int(g, "retry_in_ms", o->open_until - now);

        } else {
            ngx_rtmp_cluster_json_str(g, "circuit", (u_char *) "closed", 6);
        }

        ngx_rtmp_cluster_json_int(g, "fails", o->fails);
        ngx_rtmp_cluster_json_int(g, "total_fails", o->total_fails);
        ngx_rtmp_cluster_json_int(g, "successes", o->successes);
        ngx_rtmp_cluster_json_int(g, "circuit_opens", o->circuit_opens);
        ngx_rtmp_cluster_json_int(g, "not_found", o->not_found);

        if (o->last_failure) {
            ngx_rtmp_cluster_json_int(g, "last_failure", o->last_failure);
            ngx_rtmp_cluster_json_str(g, "last_error", o->last_error,
                                      ngx_strlen(o->last_error));
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
}


/*
 * An origin's health, for the status and the metrics: down while its
 * circuit is open (it is not tried), failing when its last attempt
 * failed, else up.
 */

ngx_uint_t
ngx_http_rtmp_cluster_origin_health(ngx_rtmp_cluster_shm_origin_t *o,
    uint64_t now)
{
    if (o->open_until > now) {
        return NGX_HTTP_RTMP_CLUSTER_ORIGIN_DOWN;
    }

    return o->fails ? NGX_HTTP_RTMP_CLUSTER_ORIGIN_FAILING
                    : NGX_HTTP_RTMP_CLUSTER_ORIGIN_UP;
}


/* a stream record's kind, for the status and the metrics */

const char *
ngx_http_rtmp_cluster_kind_name(ngx_uint_t kind)
{
    static const char  *kinds[] = { "pull", "publish", "proxy" };

    if (kind >= sizeof(kinds) / sizeof(char *)) {
        return "unknown";
    }

    return kinds[kind];
}


/* how full the zone is: when it is full, streams go unlisted */

static void
ngx_http_rtmp_cluster_gen_zone(yajl_gen g, ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_snapshot_t *snap)
{
    ngx_str_t  *name;

    name = &zone->shm_zone->shm.name;

    ngx_rtmp_cluster_json_key(g, "zone");
    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_str(g, "name", name->data, name->len);
    ngx_rtmp_cluster_json_int(g, "size", zone->shm_zone->shm.size);
    ngx_rtmp_cluster_json_int(g, "pages", snap->pages);
    ngx_rtmp_cluster_json_int(g, "free_pages", snap->free_pages);
    ngx_rtmp_cluster_json_int(g, "stream_records", snap->nstreams);
    ngx_rtmp_cluster_json_int(g, "registry_entries", snap->npublished);
    ngx_rtmp_cluster_json_int(g, "lookup_entries", snap->nlookups);
    ngx_rtmp_cluster_json_int(g, "owner_entries", snap->nowners);
    ngx_rtmp_cluster_json_int(g, "full",
                              snap->counters[NGX_RTMP_CLUSTER_ZONE_FULL]);
    yajl_gen_map_close(g);
}


/* the liveness of pid, from this request's cache */

ngx_uint_t
ngx_http_rtmp_cluster_alive(ngx_http_rtmp_cluster_pids_t *pids, ngx_pid_t pid)
{
    ngx_uint_t  i, alive;

    if (pid == ngx_pid) {
        return 1;
    }

    for (i = 0; i < pids->n; i++) {
        if (pids->pid[i] == pid) {
            return pids->alive[i];
        }
    }

    alive = ngx_rtmp_cluster_pid_alive(pid);

    if (pids->n < NGX_HTTP_RTMP_CLUSTER_PIDS) {
        pids->pid[pids->n] = pid;
        pids->alive[pids->n] = (u_char) alive;
        pids->n++;
    }

    return alive;
}


static void
ngx_http_rtmp_cluster_gen_counters(yajl_gen g,
    ngx_rtmp_cluster_snapshot_t *snap)
{
    ngx_uint_t          asked;
    ngx_atomic_uint_t  *c;

    c = snap->counters;

    asked = c[NGX_RTMP_CLUSTER_LOOKUPS_TOTAL]
            - c[NGX_RTMP_CLUSTER_LOOKUPS_CACHED]
            - c[NGX_RTMP_CLUSTER_LOOKUPS_JOINED];

    ngx_rtmp_cluster_json_key(g, "lookups");
    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_int(g, "total", c[NGX_RTMP_CLUSTER_LOOKUPS_TOTAL]);
    ngx_rtmp_cluster_json_int(g, "cache_hits",
                              c[NGX_RTMP_CLUSTER_LOOKUPS_CACHED]);
    ngx_rtmp_cluster_json_int(g, "joined", c[NGX_RTMP_CLUSTER_LOOKUPS_JOINED]);
    ngx_rtmp_cluster_json_int(g, "found", c[NGX_RTMP_CLUSTER_LOOKUPS_FOUND]);
    ngx_rtmp_cluster_json_int(g, "queries",
                              c[NGX_RTMP_CLUSTER_LOOKUP_QUERIES]);
    ngx_rtmp_cluster_json_int(g, "errors", c[NGX_RTMP_CLUSTER_LOOKUP_ERRORS]);
    ngx_rtmp_cluster_json_int(g, "avg_ms",
                              asked ? c[NGX_RTMP_CLUSTER_LOOKUP_MS_TOTAL]
                                      / asked
                                    : 0);
    ngx_rtmp_cluster_json_int(g, "max_ms", c[NGX_RTMP_CLUSTER_LOOKUP_MS_MAX]);
    yajl_gen_map_close(g);

    ngx_rtmp_cluster_json_key(g, "redirects");
    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_int(g, "sent", c[NGX_RTMP_CLUSTER_REDIRECTS_SENT]);
    ngx_rtmp_cluster_json_int(g, "followed",
                              c[NGX_RTMP_CLUSTER_REDIRECTS_FOLLOWED]);
    ngx_rtmp_cluster_json_int(g, "refused",
                              c[NGX_RTMP_CLUSTER_REDIRECTS_REFUSED]);
    yajl_gen_map_close(g);

    ngx_rtmp_cluster_json_int(g, "publishes_rejected",
                              c[NGX_RTMP_CLUSTER_PUBLISHES_REJECTED]);
    ngx_rtmp_cluster_json_int(g, "bytes_out", c[NGX_RTMP_CLUSTER_BYTES_SENT]);

    ngx_rtmp_cluster_json_key(g, "manager");
    yajl_gen_map_open(g);

    ngx_rtmp_cluster_json_str(g, "health",
        (u_char *) (c[NGX_RTMP_CLUSTER_MANAGER_REQUESTS] == 0 ? "unused"
                    : (snap->manager_down ? "down" : "up")),
        c[NGX_RTMP_CLUSTER_MANAGER_REQUESTS] == 0
        ? 6 : (snap->manager_down ? 4 : 2));

    ngx_rtmp_cluster_json_int(g, "requests",
                              c[NGX_RTMP_CLUSTER_MANAGER_REQUESTS]);
    ngx_rtmp_cluster_json_int(g, "errors", c[NGX_RTMP_CLUSTER_MANAGER_ERRORS]);
    ngx_rtmp_cluster_json_int(g, "leases_held",
                              (ngx_atomic_int_t)
                              c[NGX_RTMP_CLUSTER_LEASES_HELD]);
    ngx_rtmp_cluster_json_int(g, "lease_conflicts",
                              c[NGX_RTMP_CLUSTER_LEASE_CONFLICTS]);
    ngx_rtmp_cluster_json_int(g, "renew_failures",
                              c[NGX_RTMP_CLUSTER_RENEW_FAILURES]);

    if (snap->manager_failed) {
        ngx_rtmp_cluster_json_int(g, "last_failure", snap->manager_failed);
        ngx_rtmp_cluster_json_str(g, "last_error", snap->manager_error,
                                  ngx_strlen(snap->manager_error));
    }

    yajl_gen_map_close(g);
}


/* per application: its role and its origins, from the configuration */

static void
ngx_http_rtmp_cluster_gen_apps(yajl_gen g, ngx_cycle_t *cycle)
{
    ngx_uint_t                    n, m, k;
    ngx_rtmp_conf_ctx_t          *rctx;
    ngx_rtmp_core_srv_conf_t    **cscfp;
    ngx_rtmp_core_app_conf_t    **cacfp;
    ngx_rtmp_core_main_conf_t    *cmcf;
    ngx_rtmp_cluster_origin_t    *o;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    static const char  *roles[] = { "off", "edge", "origin" };
    static const char  *balances[] = { "hash", "round_robin", "order" };

    ngx_rtmp_cluster_json_key(g, "applications");
    yajl_gen_array_open(g);

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        yajl_gen_array_close(g);
        return;
    }

    cmcf = rctx->main_conf[ngx_rtmp_core_module.ctx_index];
    cscfp = cmcf->servers.elts;

    for (n = 0; n < cmcf->servers.nelts; n++) {
        cacfp = cscfp[n]->applications.elts;

        for (m = 0; m < cscfp[n]->applications.nelts; m++) {
            cacf = cacfp[m]->app_conf[ngx_rtmp_cluster_module.ctx_index];

            if (cacf->role == NGX_RTMP_CLUSTER_OFF) {
                continue;
            }

            yajl_gen_map_open(g);

            ngx_rtmp_cluster_json_str(g, "name", cacfp[m]->name.data,
                                      cacfp[m]->name.len);
            ngx_rtmp_cluster_json_str(g, "role",
                                      (u_char *) roles[cacf->role],
                                      ngx_strlen(roles[cacf->role]));

            if (cacf->role == NGX_RTMP_CLUSTER_EDGE) {
                ngx_rtmp_cluster_json_str(g, "balance",
                                  (u_char *) balances[cacf->balance],
                                  ngx_strlen(balances[cacf->balance]));

                ngx_rtmp_cluster_json_key(g, "origins");
                yajl_gen_array_open(g);

                o = cacf->origins->elts;

                for (k = 0; k < cacf->origins->nelts; k++) {
                    yajl_gen_map_open(g);
                    ngx_rtmp_cluster_json_str(g, "address", o[k].name.data,
                                              o[k].name.len);
                    ngx_rtmp_cluster_json_int(g, "weight", o[k].weight);
                    ngx_rtmp_cluster_json_key(g, "backup");
                    yajl_gen_bool(g, o[k].backup);
                    yajl_gen_map_close(g);
                }

                yajl_gen_array_close(g);
            }

            yajl_gen_map_close(g);
        }
    }

    yajl_gen_array_close(g);
}
