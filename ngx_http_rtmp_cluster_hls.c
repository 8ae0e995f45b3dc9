
/*
 * ngx_rtmp_cluster: HLS playlists that start a pull on a miss (http
 * block, "cluster_hls").
 *
 * GET|HEAD /APP/STREAM.m3u8 (after the location's prefix) of an edge
 * application makes this worker's HLS viewer of the stream: one member
 * of the stream engine per stream and worker, a player like an RTMP one
 * (same pull, origins, failover, owner worker and 302s), kept while
 * requests come and left "timeout" after the last one; the stream then
 * lingers (cluster_linger) as after an RTMP player.  nginx-rtmp's hls
 * module writes the segments from the upstream session, which publishes
 * in the application; a relay from the owner worker is marked
 * auto-pushed (ngx_rtmp_cluster_stream.c), so the owner alone writes.
 *
 * The playlist is read from where the location's root or alias maps the
 * URI, and served when it was written within "fresh"; until then the
 * request waits up to "wait", looking every 100ms, then gets 503 with
 * Retry-After.  Other files (segments) go to nginx's static handler and
 * keep the viewer too.
 */


#include "ngx_http_rtmp_cluster.h"


#define NGX_HTTP_RTMP_CLUSTER_HLS_POLL      100
#define NGX_HTTP_RTMP_CLUSTER_HLS_MAX       (1024 * 1024)


extern ngx_module_t  ngx_rtmp_hls_module;


typedef struct {
    ngx_uint_t                      server;     /* 0: the first */
    ngx_msec_t                      wait;
    ngx_msec_t                      timeout;
    time_t                          fresh;
    unsigned                        on:1;
} ngx_http_rtmp_cluster_hls_loc_conf_t;


/* this worker's HLS viewer of a stream */
typedef struct {
    ngx_rtmp_cluster_member_t       member;
    ngx_queue_t                     queue;      /* the worker's viewers */
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_event_t                     idle;
    ngx_connection_t                dummy;      /* the timer's data */
    ngx_str_t                       app;
    ngx_str_t                       name;
    u_char                          app_buf[NGX_RTMP_MAX_NAME];
    u_char                          name_buf[NGX_RTMP_MAX_NAME];
} ngx_http_rtmp_cluster_hls_viewer_t;


/* a request of a viewer's stream: its bytes sent, counted at its end */
typedef struct {
    ngx_connection_t               *connection;
    off_t                           sent;       /* before the answer */
    ngx_rtmp_cluster_app_conf_t    *cacf;
    ngx_str_t                       name;
} ngx_http_rtmp_cluster_hls_request_t;


/* a playlist request that waits for the first segment */
typedef struct {
    ngx_http_request_t             *request;
    ngx_event_t                     poll;
    ngx_msec_t                      start;
    ngx_str_t                       path;
    time_t                          fresh;
    ngx_msec_t                      wait;
} ngx_http_rtmp_cluster_hls_wait_t;


static void *ngx_http_rtmp_cluster_hls_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_rtmp_cluster_hls_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_rtmp_cluster_hls(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_rtmp_cluster_hls_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_rtmp_cluster_hls_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_rtmp_cluster_hls_split(ngx_http_request_t *r,
    ngx_str_t *app, ngx_str_t *name, ngx_uint_t *playlist);
static ngx_uint_t ngx_http_rtmp_cluster_hls_on(ngx_rtmp_conf_ctx_t *cctx);
static ngx_int_t ngx_http_rtmp_cluster_hls_view(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_hls_loc_conf_t *hlcf, ngx_rtmp_conf_ctx_t *cctx,
    ngx_str_t *app, ngx_str_t *name, ngx_uint_t playlist);
static ngx_http_rtmp_cluster_hls_viewer_t *ngx_http_rtmp_cluster_hls_find(
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *name);
static ngx_int_t ngx_http_rtmp_cluster_hls_count(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_hls_viewer_t *v);
static void ngx_http_rtmp_cluster_hls_counted(void *data);
static void ngx_http_rtmp_cluster_hls_end(ngx_rtmp_cluster_member_t *m,
    const char *why);
static void ngx_http_rtmp_cluster_hls_idle(ngx_event_t *ev);
static ngx_int_t ngx_http_rtmp_cluster_hls_ready(ngx_str_t *path,
    time_t fresh, ngx_file_info_t *fi);
static ngx_int_t ngx_http_rtmp_cluster_hls_send(ngx_http_request_t *r,
    ngx_str_t *path, ngx_file_info_t *fi);
static ngx_int_t ngx_http_rtmp_cluster_hls_unavailable(ngx_http_request_t *r);
static void ngx_http_rtmp_cluster_hls_poll(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_hls_cleanup(void *data);


static ngx_command_t  ngx_http_rtmp_cluster_hls_commands[] = {

    { ngx_string("cluster_hls"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_rtmp_cluster_hls,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_rtmp_cluster_hls_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    ngx_http_rtmp_cluster_hls_create_loc_conf,
    ngx_http_rtmp_cluster_hls_merge_loc_conf
};


ngx_module_t  ngx_http_rtmp_cluster_hls_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_hls_module_ctx,  /* module context */
    ngx_http_rtmp_cluster_hls_commands,     /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_rtmp_cluster_hls_init_process, /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    NULL,                                   /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_queue_t  ngx_http_rtmp_cluster_hls_viewers;


static void *
ngx_http_rtmp_cluster_hls_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_rtmp_cluster_hls_loc_conf_t  *hlcf;

    hlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_rtmp_cluster_hls_loc_conf_t));
    if (hlcf == NULL) {
        return NULL;
    }

    hlcf->server = NGX_CONF_UNSET_UINT;
    hlcf->wait = NGX_CONF_UNSET_MSEC;
    hlcf->timeout = NGX_CONF_UNSET_MSEC;
    hlcf->fresh = NGX_CONF_UNSET;

    return hlcf;
}


static char *
ngx_http_rtmp_cluster_hls_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_rtmp_cluster_hls_loc_conf_t  *prev = parent;
    ngx_http_rtmp_cluster_hls_loc_conf_t  *conf = child;

    ngx_conf_merge_uint_value(conf->server, prev->server, 0);
    ngx_conf_merge_msec_value(conf->wait, prev->wait, 3000);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 20000);
    ngx_conf_merge_value(conf->fresh, prev->fresh, 20);

    return NGX_CONF_OK;
}


/* cluster_hls [server=N] [wait=TIME] [timeout=TIME] [fresh=TIME] */

static char *
ngx_http_rtmp_cluster_hls(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_rtmp_cluster_hls_loc_conf_t  *hlcf = conf;

    ngx_int_t                  n;
    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->on) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "server=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n < 1) {
                goto invalid;
            }

            hlcf->server = n - 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "wait=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            hlcf->wait = ngx_parse_time(&s, 0);
            if (hlcf->wait == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            hlcf->timeout = ngx_parse_time(&s, 0);
            if (hlcf->timeout == (ngx_msec_t) NGX_ERROR
                || hlcf->timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fresh=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            hlcf->fresh = ngx_parse_time(&s, 1);
            if (hlcf->fresh == (time_t) NGX_ERROR || hlcf->fresh == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    hlcf->on = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_rtmp_cluster_hls_handler;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"cluster_hls\": invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_rtmp_cluster_hls_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_http_rtmp_cluster_hls_viewers);

    return NGX_OK;
}


static ngx_int_t
ngx_http_rtmp_cluster_hls_handler(ngx_http_request_t *r)
{
    ngx_int_t                              rc;
    size_t                                 root;
    ngx_str_t                              app, name, path;
    ngx_uint_t                             playlist;
    ngx_file_info_t                        fi;
    ngx_pool_cleanup_t                    *cln;
    ngx_rtmp_conf_ctx_t                    cctx;
    ngx_rtmp_cluster_app_conf_t           *cacf;
    ngx_http_rtmp_cluster_hls_wait_t      *w;
    ngx_http_rtmp_cluster_hls_loc_conf_t  *hlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_rtmp_cluster_hls_module);

    if (ngx_http_rtmp_cluster_hls_split(r, &app, &name, &playlist)
        != NGX_OK
        || ngx_http_rtmp_cluster_rtmp_app(hlcf->server, &app, &cctx)
           == NULL)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: hls: no stream at \"%V\"", &r->uri);
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return playlist ? ngx_http_rtmp_cluster_hls_unavailable(r)
                        : NGX_DECLINED;
    }

    cacf = cctx.app_conf[ngx_rtmp_cluster_module.ctx_index];

    if (!ngx_http_rtmp_cluster_hls_on(&cctx)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: hls: application \"%V\" has \"hls off\"",
                      &app);
        return NGX_HTTP_NOT_FOUND;
    }

    if (cacf->role == NGX_RTMP_CLUSTER_EDGE
        && ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle) != NULL
        && ngx_http_rtmp_cluster_hls_view(r, hlcf, &cctx, &app, &name,
                                          playlist)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!playlist) {
        /* a segment: nginx's static handler */
        return NGX_DECLINED;
    }

    if (ngx_http_map_uri_to_path(r, &path, &root, 0) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    path.len--;     /* the map counts the terminating zero */

    if (ngx_http_rtmp_cluster_hls_ready(&path, hlcf->fresh, &fi) == NGX_OK) {
        return ngx_http_rtmp_cluster_hls_send(r, &path, &fi);
    }

    if (hlcf->wait == 0) {
        return ngx_http_rtmp_cluster_hls_unavailable(r);
    }

    /* the first segment is not written yet: look again every 100ms */

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_rtmp_cluster_hls_wait_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (w == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->request = r;
    w->path = path;
    w->fresh = hlcf->fresh;
    w->wait = hlcf->wait;
    w->start = ngx_current_msec;

    w->poll.handler = ngx_http_rtmp_cluster_hls_poll;
    w->poll.data = w;
    w->poll.log = r->connection->log;

    cln->handler = ngx_http_rtmp_cluster_hls_cleanup;
    cln->data = w;

    ngx_add_timer(&w->poll, ngx_min(hlcf->wait,
                                    NGX_HTTP_RTMP_CLUSTER_HLS_POLL));

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/* "APP/STREAM.m3u8" (or another file of APP/) after the location */

static ngx_int_t
ngx_http_rtmp_cluster_hls_split(ngx_http_request_t *r, ngx_str_t *app,
    ngx_str_t *name, ngx_uint_t *playlist)
{
    u_char                    *p, *last, *slash, *dot;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = p + r->uri.len;

    if (clcf->name.len > 1 && !clcf->regex
        && r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    slash = ngx_strlchr(p, last, '/');
    if (slash == NULL || ngx_strlchr(slash + 1, last, '/') != NULL) {
        return NGX_ERROR;
    }

    app->data = p;
    app->len = slash - p;

    p = slash + 1;

    for (dot = last; dot > p && dot[-1] != '.'; dot--) { /* void */ }

    if (dot == p) {
        return NGX_ERROR;
    }

    name->data = p;
    name->len = dot - 1 - p;

    *playlist = (last - dot == 4 && ngx_strncmp(dot, "m3u8", 4) == 0);

    if (app->len == 0 || name->len == 0
        || app->len >= NGX_RTMP_MAX_NAME || name->len >= NGX_RTMP_MAX_NAME
        || ngx_rtmp_cluster_name_valid(app->data, app->len) != NGX_OK
        || ngx_rtmp_cluster_name_valid(name->data, name->len) != NGX_OK
        || (r->args.len
            && (r->args.len >= NGX_RTMP_MAX_ARGS
                || ngx_rtmp_cluster_name_valid(r->args.data, r->args.len)
                   != NGX_OK)))
    {
        return NGX_ERROR;
    }

    if (!*playlist) {
        /* a segment's name is the stream's and a number: its stream */
        for (p = dot - 1; p > name->data && p[-1] != '-'; p--) {
            if (p[-1] < '0' || p[-1] > '9') {
                break;
            }
        }

        if (p > name->data + 1 && p[-1] == '-') {
            name->len = p - 1 - name->data;
        }
    }

    return NGX_OK;
}


/*
 * "hls on" in the application: the first field of the hls module's
 * application configuration (ngx_rtmp_hls_app_conf_t, private to
 * nginx-rtmp 1.2.2's hls/ngx_rtmp_hls_module.c) is that flag
 */

static ngx_uint_t
ngx_http_rtmp_cluster_hls_on(ngx_rtmp_conf_ctx_t *cctx)
{
    ngx_flag_t  *hls;

    hls = cctx->app_conf[ngx_rtmp_hls_module.ctx_index];

    return hls && *hls == 1;
}


/*
 * this worker's HLS viewer of the stream: kept another while, or made by
 * a playlist request (a segment's only keeps one)
 */

static ngx_int_t
ngx_http_rtmp_cluster_hls_view(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_hls_loc_conf_t *hlcf, ngx_rtmp_conf_ctx_t *cctx,
    ngx_str_t *app, ngx_str_t *name, ngx_uint_t playlist)
{
    ngx_rtmp_cluster_app_conf_t          *cacf;
    ngx_http_rtmp_cluster_hls_viewer_t   *v;
    u_char                                args[NGX_RTMP_MAX_ARGS];

    cacf = cctx->app_conf[ngx_rtmp_cluster_module.ctx_index];

    v = ngx_http_rtmp_cluster_hls_find(cacf, name);

    if (v == NULL && !playlist) {
        return NGX_OK;
    }

    if (v == NULL) {
        v = ngx_calloc(sizeof(ngx_http_rtmp_cluster_hls_viewer_t),
                       ngx_cycle->log);
        if (v == NULL) {
            return NGX_ERROR;
        }

        v->cacf = cacf;

        v->app.data = v->app_buf;
        v->app.len = app->len;
        ngx_memcpy(v->app_buf, app->data, app->len);

        v->name.data = v->name_buf;
        v->name.len = name->len;
        ngx_memcpy(v->name_buf, name->data, name->len);

        v->member.end = ngx_http_rtmp_cluster_hls_end;
        v->member.data = v;
        v->member.hls = 1;

        v->dummy.fd = (ngx_socket_t) -1;
        v->dummy.data = v;

        v->idle.data = &v->dummy;
        v->idle.log = ngx_cycle->log;
        v->idle.handler = ngx_http_rtmp_cluster_hls_idle;

        ngx_queue_insert_tail(&ngx_http_rtmp_cluster_hls_viewers, &v->queue);
    }

    if (v->member.stream == NULL && playlist) {
        /* a new viewer, or one whose stream gave up: play (again) */

        ngx_cpystrn(args, r->args.data, ngx_min(r->args.len + 1,
                                                 sizeof(args)));

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: hls: viewer of \"%V/%V\"", app, name);

        if (ngx_rtmp_cluster_edge_attach(cctx, &v->member, &v->app,
                                         v->name_buf, args)
            != NGX_OK)
        {
            ngx_rtmp_cluster_stream_leave(&v->member);
        }
    }

    /* not cancelable: an exiting worker leaves its viewers on time */
    ngx_add_timer(&v->idle, hlcf->timeout);

    return ngx_http_rtmp_cluster_hls_count(r, v);
}


static ngx_http_rtmp_cluster_hls_viewer_t *
ngx_http_rtmp_cluster_hls_find(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_str_t *name)
{
    ngx_queue_t                         *q;
    ngx_http_rtmp_cluster_hls_viewer_t  *v;

    for (q = ngx_queue_head(&ngx_http_rtmp_cluster_hls_viewers);
         q != ngx_queue_sentinel(&ngx_http_rtmp_cluster_hls_viewers);
         q = ngx_queue_next(q))
    {
        v = ngx_queue_data(q, ngx_http_rtmp_cluster_hls_viewer_t, queue);

        if (v->cacf == cacf && v->name.len == name->len
            && ngx_strncmp(v->name.data, name->data, name->len) == 0)
        {
            return v;
        }
    }

    return NULL;
}


/*
 * The bytes of a playlist's or segment's answer (headers included) go to
 * the stream's count when the request is done: it is the viewer's, which
 * may have left by then, so it is looked for again by name.
 */

static ngx_int_t
ngx_http_rtmp_cluster_hls_count(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_hls_viewer_t *v)
{
    ngx_pool_cleanup_t                   *cln;
    ngx_http_rtmp_cluster_hls_request_t  *hr;

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_rtmp_cluster_hls_request_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    hr = cln->data;

    hr->connection = r->connection;
    hr->sent = r->connection->sent;
    hr->cacf = v->cacf;

    hr->name.len = v->name.len;
    hr->name.data = ngx_pstrdup(r->pool, &v->name);
    if (hr->name.data == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_rtmp_cluster_hls_counted;

    return NGX_OK;
}


static void
ngx_http_rtmp_cluster_hls_counted(void *data)
{
    ngx_http_rtmp_cluster_hls_request_t  *hr = data;

    ngx_http_rtmp_cluster_hls_viewer_t  *v;

    v = ngx_http_rtmp_cluster_hls_find(hr->cacf, &hr->name);

    if (v) {
        ngx_rtmp_cluster_stream_sent(&v->member,
                                     hr->connection->sent - hr->sent);
    }
}


/* the engine ends the viewer (no origin could serve the stream) */

static void
ngx_http_rtmp_cluster_hls_end(ngx_rtmp_cluster_member_t *m, const char *why)
{
    ngx_http_rtmp_cluster_hls_viewer_t  *v;

    v = m->data;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: hls: viewer of \"%V/%V\" ended%s%s", &v->app,
                  &v->name, why ? ": " : "", why ? why : "");

    /* the next playlist request plays again; the timer frees it */
}


static void
ngx_http_rtmp_cluster_hls_idle(ngx_event_t *ev)
{
    ngx_http_rtmp_cluster_hls_viewer_t  *v;

    v = ((ngx_connection_t *) ev->data)->data;

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "cluster: hls: no request for \"%V/%V\", viewer left",
                  &v->app, &v->name);

    ngx_rtmp_cluster_stream_leave(&v->member);

    ngx_queue_remove(&v->queue);
    ngx_free(v);
}


static ngx_int_t
ngx_http_rtmp_cluster_hls_ready(ngx_str_t *path, time_t fresh,
    ngx_file_info_t *fi)
{
    if (ngx_file_info(path->data, fi) == NGX_FILE_ERROR
        || !ngx_is_file(fi) || ngx_file_size(fi) == 0
        || ngx_file_mtime(fi) + fresh < ngx_time())
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the playlist, read whole: the hls module renames a new one in place */

static ngx_int_t
ngx_http_rtmp_cluster_hls_send(ngx_http_request_t *r, ngx_str_t *path,
    ngx_file_info_t *fi)
{
    ssize_t           n;
    ngx_buf_t        *b;
    ngx_int_t         rc;
    ngx_file_t        file;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    if (ngx_file_size(fi) > NGX_HTTP_RTMP_CLUSTER_HLS_MAX) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, (size_t) ngx_file_size(fi));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *path;
    file.log = r->connection->log;

    file.fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        return ngx_http_rtmp_cluster_hls_unavailable(r);
    }

    n = ngx_read_file(&file, b->pos, b->end - b->pos, 0);

    ngx_close_file(file.fd);

    if (n <= 0) {
        return ngx_http_rtmp_cluster_hls_unavailable(r);
    }

    b->last = b->pos + n;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = n;
    r->headers_out.last_modified_time = ngx_file_mtime(fi);
    ngx_str_set(&r->headers_out.content_type,
                "application/vnd.apple.mpegurl");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* not ready (or the worker exits): 503, try again in a second */

static ngx_int_t
ngx_http_rtmp_cluster_hls_unavailable(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");

    r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


static void
ngx_http_rtmp_cluster_hls_poll(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_file_info_t                    fi;
    ngx_connection_t                  *c;
    ngx_http_request_t                *r;
    ngx_http_rtmp_cluster_hls_wait_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    if (ngx_http_rtmp_cluster_hls_ready(&w->path, w->fresh, &fi) == NGX_OK) {
        rc = ngx_http_rtmp_cluster_hls_send(r, &w->path, &fi);

    } else if (ngx_exiting || ngx_terminate || ngx_quit
               || ngx_current_msec - w->start >= w->wait)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "cluster: hls: \"%V\" not ready after %Mms",
                      &r->uri, ngx_current_msec - w->start);

        rc = ngx_http_rtmp_cluster_hls_unavailable(r);

    } else {
        ngx_add_timer(&w->poll, NGX_HTTP_RTMP_CLUSTER_HLS_POLL);
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_rtmp_cluster_hls_cleanup(void *data)
{
    ngx_http_rtmp_cluster_hls_wait_t  *w = data;

    if (w->poll.timer_set) {
        ngx_del_timer(&w->poll);
    }
}
