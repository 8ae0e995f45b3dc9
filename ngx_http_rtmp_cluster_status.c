
/*
 * ngx_rtmp_cluster: the JSON status handler (http block).  It reads the
 * cluster zone only, so any worker answers for all of them.
 */


#include "ngx_http_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_VERSION  "0.2.0"


typedef struct {
    ngx_pid_t                       pid;
    uint64_t                        since;
    u_char                          addr[NGX_RTMP_CLUSTER_ADDR_LEN];
    size_t                          len;
    u_char                          key[NGX_RTMP_CLUSTER_KEY_LEN];
} ngx_rtmp_cluster_http_pub_t;


static char *ngx_http_rtmp_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_rtmp_cluster_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_rtmp_cluster_gen_counters(yajl_gen g,
    ngx_rtmp_cluster_shm_t *sh);
static void ngx_http_rtmp_cluster_gen_hosted(yajl_gen g,
    ngx_rtmp_cluster_shm_stream_t *streams, ngx_uint_t n);
static ngx_int_t ngx_http_rtmp_cluster_alive(ngx_pid_t pid);
static ngx_int_t ngx_http_rtmp_cluster_status_handler(ngx_http_request_t *r);
static void ngx_http_rtmp_cluster_gen_str(yajl_gen g, const char *key,
    u_char *data, size_t len);
static void ngx_http_rtmp_cluster_gen_int(yajl_gen g, const char *key,
    long long n);
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
    uint64_t                        now;
    ngx_int_t                       rc;
    ngx_uint_t                      i, norigins, nstreams, npublished;
    ngx_queue_t                    *q;
    const unsigned char            *json;
    yajl_gen                        g;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_shm_t          counters;
    ngx_rtmp_cluster_shm_origin_t  *origins, *o;
    ngx_rtmp_cluster_shm_stream_t  *streams, *s;
    ngx_rtmp_cluster_shm_entry_t   *e;
    ngx_rtmp_cluster_http_pub_t    *published, *pub;

    static const char  *kinds[] = { "pull", "publish", "proxy" };

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    origins = NULL;
    streams = NULL;
    published = NULL;
    norigins = 0;
    nstreams = 0;
    npublished = 0;
    ngx_memzero(&counters, sizeof(counters));

    if (zone) {
        /* copy under the lock, format after it */

        ngx_shmtx_lock(&zone->shpool->mutex);

        for (q = ngx_queue_head(&zone->sh->origins);
             q != ngx_queue_sentinel(&zone->sh->origins);
             q = ngx_queue_next(q))
        {
            norigins++;
        }

        for (q = ngx_queue_head(&zone->sh->streams);
             q != ngx_queue_sentinel(&zone->sh->streams);
             q = ngx_queue_next(q))
        {
            nstreams++;
        }

        for (q = ngx_queue_head(&zone->sh->registry.queue);
             q != ngx_queue_sentinel(&zone->sh->registry.queue);
             q = ngx_queue_next(q))
        {
            npublished++;
        }

        origins = ngx_palloc(r->pool, (norigins + 1)
                                      * sizeof(ngx_rtmp_cluster_shm_origin_t));
        streams = ngx_palloc(r->pool, (nstreams + 1)
                                      * sizeof(ngx_rtmp_cluster_shm_stream_t));
        published = ngx_palloc(r->pool, (npublished + 1)
                                         * sizeof(ngx_rtmp_cluster_http_pub_t));

        if (origins == NULL || streams == NULL || published == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        i = 0;
        for (q = ngx_queue_head(&zone->sh->origins);
             q != ngx_queue_sentinel(&zone->sh->origins);
             q = ngx_queue_next(q))
        {
            origins[i++] = *ngx_queue_data(q, ngx_rtmp_cluster_shm_origin_t,
                                           queue);
        }

        i = 0;
        for (q = ngx_queue_head(&zone->sh->streams);
             q != ngx_queue_sentinel(&zone->sh->streams);
             q = ngx_queue_next(q))
        {
            streams[i++] = *ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t,
                                           queue);
        }

        i = 0;
        for (q = ngx_queue_head(&zone->sh->registry.queue);
             q != ngx_queue_sentinel(&zone->sh->registry.queue);
             q = ngx_queue_next(q))
        {
            e = ngx_queue_data(q, ngx_rtmp_cluster_shm_entry_t, queue);
            pub = &published[i++];
            pub->pid = e->pid;
            pub->since = e->since;
            ngx_memcpy(pub->addr, e->addr, sizeof(pub->addr));
            pub->len = ngx_min(e->len, sizeof(pub->key));
            ngx_memcpy(pub->key, e->key, pub->len);
        }

        counters = *zone->sh;

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    now = ngx_rtmp_cluster_now();

    yajl_gen_map_open(g);

    ngx_http_rtmp_cluster_gen_str(g, "version",
                                  (u_char *) NGX_RTMP_CLUSTER_VERSION,
                                  sizeof(NGX_RTMP_CLUSTER_VERSION) - 1);
    ngx_http_rtmp_cluster_gen_int(g, "pid", ngx_pid);
    ngx_http_rtmp_cluster_gen_int(g, "time", ngx_time());

    ngx_http_rtmp_cluster_gen_apps(g, (ngx_cycle_t *) ngx_cycle);

    yajl_gen_string(g, (u_char *) "streams", sizeof("streams") - 1);
    yajl_gen_array_open(g);

    for (i = 0; i < nstreams; i++) {
        s = &streams[i];

        if (s->pid != ngx_pid
            && kill(s->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            /* a dead worker's; its successor sweeps it */
            continue;
        }

        yajl_gen_map_open(g);

        ngx_http_rtmp_cluster_gen_str(g, "app", s->app,
                                      ngx_strlen(s->app));
        ngx_http_rtmp_cluster_gen_str(g, "name", s->name,
                                      ngx_strlen(s->name));
        json = (const unsigned char *) kinds[s->kind];
        ngx_http_rtmp_cluster_gen_str(g, "kind", (u_char *) json,
                                      ngx_strlen(json));
        json = (const unsigned char *) ngx_rtmp_cluster_state_name(s->state);
        ngx_http_rtmp_cluster_gen_str(g, "state", (u_char *) json,
                                      ngx_strlen(json));

        if (s->origin[0]) {
            ngx_http_rtmp_cluster_gen_str(g, "origin", s->origin,
                                          ngx_strlen(s->origin));
            ngx_http_rtmp_cluster_gen_int(g, "origin_time",
                                          ngx_time() - s->origin_since);

        } else {
            yajl_gen_string(g, (u_char *) "origin", sizeof("origin") - 1);
            yajl_gen_null(g);
        }

        ngx_http_rtmp_cluster_gen_int(g, "players", (long) s->players);
        ngx_http_rtmp_cluster_gen_int(g, "relays", (long) s->relays);

        if (s->owner) {
            ngx_http_rtmp_cluster_gen_int(g, "owner", s->owner);
        }
        ngx_http_rtmp_cluster_gen_int(g, "bytes_in", s->bytes);
        ngx_http_rtmp_cluster_gen_int(g, "uptime", ngx_time() - s->started);
        ngx_http_rtmp_cluster_gen_int(g, "failovers", s->failovers);

        yajl_gen_string(g, (u_char *) "gop", 3);
        yajl_gen_map_open(g);
        ngx_http_rtmp_cluster_gen_int(g, "frames", s->gop_frames);
        ngx_http_rtmp_cluster_gen_int(g, "bytes", s->gop_bytes);
        ngx_http_rtmp_cluster_gen_int(g, "duration_ms", s->gop_ms);
        yajl_gen_map_close(g);
        ngx_http_rtmp_cluster_gen_int(g, "worker", s->pid);

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_rtmp_cluster_gen_hosted(g, streams, nstreams);

    yajl_gen_string(g, (u_char *) "published", sizeof("published") - 1);
    yajl_gen_array_open(g);

    for (i = 0; i < npublished; i++) {
        pub = &published[i];

        if (pub->pid != ngx_pid
            && kill(pub->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            continue;
        }

        yajl_gen_map_open(g);
        ngx_http_rtmp_cluster_gen_str(g, "stream", pub->key, pub->len);
        ngx_http_rtmp_cluster_gen_str(g, "publisher", pub->addr,
                                      ngx_strlen(pub->addr));
        ngx_http_rtmp_cluster_gen_int(g, "uptime",
                                      (now - pub->since) / 1000);
        ngx_http_rtmp_cluster_gen_int(g, "worker", pub->pid);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_rtmp_cluster_gen_counters(g, &counters);

    yajl_gen_string(g, (u_char *) "origins", sizeof("origins") - 1);
    yajl_gen_array_open(g);

    for (i = 0; i < norigins; i++) {
        o = &origins[i];

        yajl_gen_map_open(g);

        ngx_http_rtmp_cluster_gen_str(g, "address", o->name, o->name_len);

        if (o->open_until > now) {
            ngx_http_rtmp_cluster_gen_str(g, "health", (u_char *) "down", 4);
            ngx_http_rtmp_cluster_gen_str(g, "circuit", (u_char *) "open", 4);
            ngx_http_rtmp_cluster_gen_int(g, "retry_in_ms",
                                          o->open_until - now);

        } else {
            if (o->fails) {
                ngx_http_rtmp_cluster_gen_str(g, "health",
                                              (u_char *) "failing", 7);
            } else {
                ngx_http_rtmp_cluster_gen_str(g, "health",
                                              (u_char *) "up", 2);
            }

            ngx_http_rtmp_cluster_gen_str(g, "circuit",
                                          (u_char *) "closed", 6);
        }

        ngx_http_rtmp_cluster_gen_int(g, "fails", o->fails);
        ngx_http_rtmp_cluster_gen_int(g, "total_fails", o->total_fails);
        ngx_http_rtmp_cluster_gen_int(g, "successes", o->successes);
        ngx_http_rtmp_cluster_gen_int(g, "circuit_opens", o->circuit_opens);

        if (o->last_failure) {
            ngx_http_rtmp_cluster_gen_int(g, "last_failure",
                                          o->last_failure);
            ngx_http_rtmp_cluster_gen_str(g, "last_error", o->last_error,
                                          ngx_strlen(o->last_error));
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_OK, g);
}


static ngx_int_t
ngx_http_rtmp_cluster_alive(ngx_pid_t pid)
{
    return pid == ngx_pid || !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
}


/*
 * The same streams, one entry each for the host: the owner worker (the
 * one pulling from upstream or holding the publisher), the workers with
 * players, and the players in all.
 */

static void
ngx_http_rtmp_cluster_gen_hosted(yajl_gen g,
    ngx_rtmp_cluster_shm_stream_t *streams, ngx_uint_t n)
{
    ngx_uint_t                      i, j, players;
    ngx_pid_t                       owner;
    ngx_rtmp_cluster_shm_stream_t  *s, *x;

    yajl_gen_string(g, (u_char *) "hosted", sizeof("hosted") - 1);
    yajl_gen_array_open(g);

    for (i = 0; i < n; i++) {
        s = &streams[i];

        if (!ngx_http_rtmp_cluster_alive(s->pid)) {
            continue;
        }

        /* the first live record of each stream speaks for it */

        for (j = 0; j < i; j++) {
            x = &streams[j];

            if (ngx_http_rtmp_cluster_alive(x->pid)
                && ngx_strcmp(x->app, s->app) == 0
                && ngx_strcmp(x->name, s->name) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        players = 0;
        owner = 0;

        yajl_gen_map_open(g);
        ngx_http_rtmp_cluster_gen_str(g, "app", s->app, ngx_strlen(s->app));
        ngx_http_rtmp_cluster_gen_str(g, "name", s->name,
                                      ngx_strlen(s->name));

        yajl_gen_string(g, (u_char *) "workers", sizeof("workers") - 1);
        yajl_gen_array_open(g);

        for (j = i; j < n; j++) {
            x = &streams[j];

            if (!ngx_http_rtmp_cluster_alive(x->pid)
                || ngx_strcmp(x->app, s->app) != 0
                || ngx_strcmp(x->name, s->name) != 0)
            {
                continue;
            }

            if (x->owner) {
                owner = x->owner;
            }

            if (x->kind == NGX_RTMP_CLUSTER_PUBLISH) {
                owner = x->pid;
            }

            players += x->players;

            if (x->players) {
                yajl_gen_integer(g, x->pid);
            }
        }

        yajl_gen_array_close(g);

        ngx_http_rtmp_cluster_gen_int(g, "players", players);

        yajl_gen_string(g, (u_char *) "owner", sizeof("owner") - 1);
        if (owner) {
            yajl_gen_integer(g, owner);
        } else {
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
}


static void
ngx_http_rtmp_cluster_gen_counters(yajl_gen g, ngx_rtmp_cluster_shm_t *sh)
{
    ngx_uint_t  asked;

    asked = sh->lookups_total - sh->lookups_cached - sh->lookups_joined;

    yajl_gen_string(g, (u_char *) "lookups", sizeof("lookups") - 1);
    yajl_gen_map_open(g);
    ngx_http_rtmp_cluster_gen_int(g, "total", sh->lookups_total);
    ngx_http_rtmp_cluster_gen_int(g, "cache_hits", sh->lookups_cached);
    ngx_http_rtmp_cluster_gen_int(g, "joined", sh->lookups_joined);
    ngx_http_rtmp_cluster_gen_int(g, "found", sh->lookups_found);
    ngx_http_rtmp_cluster_gen_int(g, "queries", sh->lookup_queries);
    ngx_http_rtmp_cluster_gen_int(g, "errors", sh->lookup_errors);
    ngx_http_rtmp_cluster_gen_int(g, "avg_ms",
                                  asked ? sh->lookup_ms_total / asked : 0);
    ngx_http_rtmp_cluster_gen_int(g, "max_ms", sh->lookup_ms_max);
    yajl_gen_map_close(g);

    yajl_gen_string(g, (u_char *) "redirects", sizeof("redirects") - 1);
    yajl_gen_map_open(g);
    ngx_http_rtmp_cluster_gen_int(g, "sent", sh->redirects_sent);
    ngx_http_rtmp_cluster_gen_int(g, "followed", sh->redirects_followed);
    ngx_http_rtmp_cluster_gen_int(g, "refused", sh->redirects_refused);
    yajl_gen_map_close(g);

    ngx_http_rtmp_cluster_gen_int(g, "publishes_rejected",
                                  sh->publishes_rejected);

    yajl_gen_string(g, (u_char *) "manager", sizeof("manager") - 1);
    yajl_gen_map_open(g);

    ngx_http_rtmp_cluster_gen_str(g, "health",
        (u_char *) (sh->manager_requests == 0 ? "unused"
                    : (sh->manager_down ? "down" : "up")),
        sh->manager_requests == 0 ? 6 : (sh->manager_down ? 4 : 2));

    ngx_http_rtmp_cluster_gen_int(g, "requests", sh->manager_requests);
    ngx_http_rtmp_cluster_gen_int(g, "errors", sh->manager_errors);
    ngx_http_rtmp_cluster_gen_int(g, "leases_held", sh->leases_held);
    ngx_http_rtmp_cluster_gen_int(g, "lease_conflicts", sh->lease_conflicts);
    ngx_http_rtmp_cluster_gen_int(g, "renew_failures", sh->renew_failures);

    if (sh->manager_failed) {
        ngx_http_rtmp_cluster_gen_int(g, "last_failure", sh->manager_failed);
        ngx_http_rtmp_cluster_gen_str(g, "last_error", sh->manager_error,
                                      ngx_strlen(sh->manager_error));
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

    yajl_gen_string(g, (u_char *) "applications",
                    sizeof("applications") - 1);
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

            ngx_http_rtmp_cluster_gen_str(g, "name", cacfp[m]->name.data,
                                          cacfp[m]->name.len);
            ngx_http_rtmp_cluster_gen_str(g, "role",
                                          (u_char *) roles[cacf->role],
                                          ngx_strlen(roles[cacf->role]));

            if (cacf->role == NGX_RTMP_CLUSTER_EDGE) {
                ngx_http_rtmp_cluster_gen_str(g, "balance",
                                     (u_char *) balances[cacf->balance],
                                     ngx_strlen(balances[cacf->balance]));

                yajl_gen_string(g, (u_char *) "origins",
                                sizeof("origins") - 1);
                yajl_gen_array_open(g);

                o = cacf->origins->elts;

                for (k = 0; k < cacf->origins->nelts; k++) {
                    yajl_gen_map_open(g);
                    ngx_http_rtmp_cluster_gen_str(g, "address",
                                                  o[k].name.data,
                                                  o[k].name.len);
                    ngx_http_rtmp_cluster_gen_int(g, "weight", o[k].weight);
                    yajl_gen_string(g, (u_char *) "backup",
                                    sizeof("backup") - 1);
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


static void
ngx_http_rtmp_cluster_gen_str(yajl_gen g, const char *key, u_char *data,
    size_t len)
{
    size_t   i;
    u_char   safe[NGX_RTMP_MAX_NAME];

    yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key));

    if (yajl_gen_string(g, data, len) == yajl_gen_status_ok) {
        return;
    }

    /* not UTF-8: show the bytes as '?' rather than break the document */

    len = ngx_min(len, sizeof(safe));

    for (i = 0; i < len; i++) {
        safe[i] = (data[i] < 0x80) ? data[i] : '?';
    }

    yajl_gen_string(g, safe, len);
}


static void
ngx_http_rtmp_cluster_gen_int(yajl_gen g, const char *key, long long n)
{
    yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key));
    yajl_gen_integer(g, n);
}
