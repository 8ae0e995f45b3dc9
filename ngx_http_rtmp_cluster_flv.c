
/*
 * ngx_rtmp_cluster: HTTP-FLV delivery (http block).
 *
 * "GET /APP/STREAM.flv[?ARGS]" in a location with cluster_flv makes the
 * request a viewer of the stream: a member of the engine's stream like an
 * RTMP player, so a stream this worker lacks is pulled exactly as for an
 * RTMP play (the edge's origins, the host's owner worker, 302s), and the
 * viewer counts for linger and relays.  The engine hands each audio and
 * video message of the session that feeds the stream, timestamps on the
 * stream's timeline, to ngx_http_rtmp_cluster_flv_media(); each message
 * is made an FLV tag once, in a refcounted buffer the viewers share,
 * chunk framing included.  A viewer's queue holds references to tags and
 * is written with the connection's send_chain directly, after the
 * response header went through nginx's filters.
 *
 * A viewer starts with the FLV header, the metadata, the sequence headers
 * and the GOP the stream's viewers' state keeps (imported from the GOP
 * cache when the first viewer comes, then kept from the live messages);
 * with no GOP, at the next keyframe.  The response header waits for that
 * start: a stream that no origin has answers 404 after cluster_flv_wait.
 *
 * Slow viewers: past cluster_flv_queue bytes queued, a viewer's messages
 * are dropped until the next keyframe; keyframes and sequence headers
 * still queue, and past twice that the viewer is closed.
 */


#include "ngx_http_rtmp_cluster.h"
#include "ngx_rtmp_codec_module.h"


#define NGX_HTTP_RTMP_CLUSTER_FLV_RING      1024    /* tags queued */
#define NGX_HTTP_RTMP_CLUSTER_FLV_IOV       64      /* tags per write */
#define NGX_HTTP_RTMP_CLUSTER_FLV_PRE       16      /* chunk-size line */


typedef struct {
    ngx_flag_t                      enable;
    ngx_uint_t                      server;     /* of the rtmp block */
    ngx_str_t                       cors;       /* empty: off */
    size_t                          queue;
    ngx_msec_t                      wait;
} ngx_http_rtmp_cluster_flv_conf_t;


/* an FLV tag shared by the viewers */
typedef struct {
    ngx_uint_t                      refs;
    u_char                         *chunk;      /* "SIZE\r\n" tag "\r\n" */
    u_char                         *pos;        /* the tag */
    u_char                         *last;       /* its end */
    u_char                         *end;        /* the chunk's */
    uint32_t                        timestamp;
    unsigned                        video:1;
    unsigned                        key:1;
    unsigned                        header:1;   /* a sequence header */
} ngx_http_rtmp_cluster_flv_tag_t;


/* a stream's viewers' state: the start a new viewer gets */
typedef struct {
    ngx_http_rtmp_cluster_flv_tag_t   *meta;
    ngx_http_rtmp_cluster_flv_tag_t   *avc;
    ngx_http_rtmp_cluster_flv_tag_t   *aac;
    ngx_uint_t                         meta_version;
    ngx_atomic_uint_t                  feed;    /* its connection number */
    ngx_http_rtmp_cluster_flv_tag_t  **gop;
    ngx_uint_t                         ngop;
    ngx_uint_t                         max;
    size_t                             gop_bytes;
    unsigned                           gop_active:1;
    unsigned                           video:1;     /* video seen */
} ngx_http_rtmp_cluster_flv_stream_t;


typedef struct {
    ngx_rtmp_cluster_member_t          member;
    ngx_http_request_t                *r;
    ngx_http_rtmp_cluster_flv_conf_t  *conf;
    ngx_rtmp_cluster_app_conf_t       *cacf;
    ngx_str_t                          key;

    ngx_http_rtmp_cluster_flv_tag_t  **ring;
    ngx_uint_t                         head;
    ngx_uint_t                         n;
    size_t                             queued;
    size_t                             sent;    /* of the head tag */
    ngx_uint_t                         dropped;

    ngx_chain_t                        links[NGX_HTTP_RTMP_CLUSTER_FLV_IOV];
    ngx_buf_t                          bufs[NGX_HTTP_RTMP_CLUSTER_FLV_IOV];

    ngx_event_t                        close_ev;
    ngx_event_t                        flush;   /* merged writes */
    ngx_event_t                        wait;    /* for the first frame */
    const char                        *why;

    unsigned                           started:1;
    unsigned                           chunked:1;
    unsigned                           dropping:1;
    unsigned                           closing:1;
    unsigned                           blocked:1;
    u_char                             key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
} ngx_http_rtmp_cluster_flv_viewer_t;


static char *ngx_http_rtmp_cluster_flv(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_rtmp_cluster_flv_create_conf(ngx_conf_t *cf);
static char *ngx_http_rtmp_cluster_flv_merge_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_rtmp_cluster_flv_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_rtmp_cluster_flv_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_rtmp_cluster_flv_parse(ngx_http_request_t *r,
    ngx_str_t *app, u_char *name, u_char *args);
static ngx_int_t ngx_http_rtmp_cluster_flv_header(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_flv_conf_t *conf);
static void ngx_http_rtmp_cluster_flv_media(ngx_rtmp_cluster_stream_t *st,
    ngx_queue_t *viewers, ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in);
static void ngx_http_rtmp_cluster_flv_gone(ngx_rtmp_cluster_stream_t *st,
    void *ctx);
static ngx_http_rtmp_cluster_flv_stream_t *ngx_http_rtmp_cluster_flv_state(
    ngx_rtmp_cluster_stream_t *st, ngx_rtmp_session_t *s);
static void ngx_http_rtmp_cluster_flv_state_free(
    ngx_http_rtmp_cluster_flv_stream_t *fs);
static ngx_uint_t ngx_http_rtmp_cluster_flv_meta(
    ngx_http_rtmp_cluster_flv_stream_t *fs, ngx_rtmp_session_t *s,
    uint32_t timestamp);
static void ngx_http_rtmp_cluster_flv_gop_add(
    ngx_http_rtmp_cluster_flv_stream_t *fs, ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_http_rtmp_cluster_flv_tag_t *t);
static void ngx_http_rtmp_cluster_flv_gop_drop(
    ngx_http_rtmp_cluster_flv_stream_t *fs);
static ngx_http_rtmp_cluster_flv_tag_t *ngx_http_rtmp_cluster_flv_tag(
    ngx_uint_t type, uint32_t timestamp, ngx_chain_t *in, size_t first,
    size_t rest);
static ngx_http_rtmp_cluster_flv_tag_t *ngx_http_rtmp_cluster_flv_prepared(
    ngx_chain_t *pkt, uint32_t *timestamp);
static void ngx_http_rtmp_cluster_flv_unref(
    ngx_http_rtmp_cluster_flv_tag_t *t);
static ngx_int_t ngx_http_rtmp_cluster_flv_start(
    ngx_http_rtmp_cluster_flv_viewer_t *v,
    ngx_http_rtmp_cluster_flv_stream_t *fs, ngx_rtmp_session_t *s);
static void ngx_http_rtmp_cluster_flv_queue(
    ngx_http_rtmp_cluster_flv_viewer_t *v,
    ngx_http_rtmp_cluster_flv_tag_t *t, ngx_uint_t force);
static void ngx_http_rtmp_cluster_flv_push(
    ngx_http_rtmp_cluster_flv_viewer_t *v);
static void ngx_http_rtmp_cluster_flv_send(
    ngx_http_rtmp_cluster_flv_viewer_t *v);
static void ngx_http_rtmp_cluster_flv_write_handler(ngx_http_request_t *r);
static void ngx_http_rtmp_cluster_flv_flush(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_flv_wait(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_flv_close(
    ngx_http_rtmp_cluster_flv_viewer_t *v, const char *why);
static void ngx_http_rtmp_cluster_flv_close_handler(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_flv_end(ngx_rtmp_cluster_member_t *m,
    const char *why);
static void ngx_http_rtmp_cluster_flv_cleanup(void *data);


static ngx_command_t  ngx_http_rtmp_cluster_flv_commands[] = {

    { ngx_string("cluster_flv"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_rtmp_cluster_flv,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_flv_cors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_rtmp_cluster_flv_conf_t, cors),
      NULL },

    { ngx_string("cluster_flv_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_rtmp_cluster_flv_conf_t, queue),
      NULL },

    { ngx_string("cluster_flv_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_rtmp_cluster_flv_conf_t, wait),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_rtmp_cluster_flv_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */
    NULL,                                   /* create main configuration */
    NULL,                                   /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    ngx_http_rtmp_cluster_flv_create_conf,  /* create location configuration */
    ngx_http_rtmp_cluster_flv_merge_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_rtmp_cluster_flv_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_flv_module_ctx,  /* module context */
    ngx_http_rtmp_cluster_flv_commands,     /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_rtmp_cluster_flv_init_process, /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    NULL,                                   /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static const ngx_rtmp_cluster_viewers_t  ngx_http_rtmp_cluster_flv_viewers = {
    ngx_http_rtmp_cluster_flv_media,
    ngx_http_rtmp_cluster_flv_gone
};


static char *
ngx_http_rtmp_cluster_flv(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_rtmp_cluster_flv_conf_t *fcf = conf;

    ngx_int_t                  n;
    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (fcf->enable) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "server=", 7) != 0) {
            return "takes only \"server=N\"";
        }

        /* counted from 1, as cluster_hls does */

        n = ngx_atoi(value[1].data + 7, value[1].len - 7);
        if (n < 1) {
            return "has an invalid \"server=\" number (1 is the first)";
        }

        fcf->server = n - 1;
    }

    fcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_rtmp_cluster_flv_handler;

    return NGX_CONF_OK;
}


static void *
ngx_http_rtmp_cluster_flv_create_conf(ngx_conf_t *cf)
{
    ngx_http_rtmp_cluster_flv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_rtmp_cluster_flv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->queue = NGX_CONF_UNSET_SIZE;
    conf->wait = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_rtmp_cluster_flv_merge_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_rtmp_cluster_flv_conf_t *prev = parent;
    ngx_http_rtmp_cluster_flv_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->cors, prev->cors, "off");
    ngx_conf_merge_size_value(conf->queue, prev->queue, 4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->wait, prev->wait, 10000);

    if (conf->cors.len == 3 && ngx_strncmp(conf->cors.data, "off", 3) == 0) {
        conf->cors.len = 0;
    }

    if (conf->queue < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_flv_queue\" must be at least 64k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_rtmp_cluster_flv_init_process(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_stream_viewers(&ngx_http_rtmp_cluster_flv_viewers);

    return NGX_OK;
}


/* a request: a viewer of the stream, or an error status */

static ngx_int_t
ngx_http_rtmp_cluster_flv_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_str_t                            app;
    ngx_rtmp_session_t                  *s;
    ngx_rtmp_conf_ctx_t                  cctx;
    ngx_http_cleanup_t                  *cln;
    ngx_http_rtmp_cluster_flv_stream_t  *fs;
    ngx_rtmp_cluster_stream_t           *st;
    ngx_rtmp_cluster_app_conf_t         *cacf;
    ngx_http_rtmp_cluster_flv_conf_t    *conf;
    ngx_http_rtmp_cluster_flv_viewer_t  *v;
    u_char                               name[NGX_RTMP_MAX_NAME];
    u_char                               args[NGX_RTMP_MAX_ARGS];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_exiting || ngx_terminate) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* the body is written to the connection itself: HTTP/1.x only */
        return NGX_HTTP_NOT_IMPLEMENTED;
    }
#endif

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_rtmp_cluster_flv_module);

    if (ngx_http_rtmp_cluster_flv_parse(r, &app, name, args) != NGX_OK) {
        return NGX_HTTP_NOT_FOUND;
    }

    cacf = ngx_http_rtmp_cluster_rtmp_app(conf->server, &app, &cctx);

    if (cacf == NULL || cacf->role == NGX_RTMP_CLUSTER_OFF) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: HTTP-FLV of \"%V/%s\": no such cluster "
                      "application", &app, name);
        return NGX_HTTP_NOT_FOUND;
    }

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_rtmp_cluster_flv_header(r, conf);
    }

    v = ngx_pcalloc(r->pool, sizeof(ngx_http_rtmp_cluster_flv_viewer_t));
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v->ring = ngx_palloc(r->pool, NGX_HTTP_RTMP_CLUSTER_FLV_RING
                                  * sizeof(ngx_http_rtmp_cluster_flv_tag_t *));
    if (v->ring == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_rtmp_cluster_key(&app, name, &v->key, v->key_buf) != NGX_OK) {
        return NGX_HTTP_NOT_FOUND;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v->r = r;
    v->conf = conf;
    v->cacf = cacf;
    v->member.data = v;
    v->member.end = ngx_http_rtmp_cluster_flv_end;
    v->member.http = 1;
    v->member.connection = r->connection;

    v->close_ev.data = v;
    v->close_ev.log = r->connection->log;
    v->close_ev.handler = ngx_http_rtmp_cluster_flv_close_handler;

    v->flush.data = v;
    v->flush.log = r->connection->log;
    v->flush.handler = ngx_http_rtmp_cluster_flv_flush;
    v->flush.cancelable = 1;

    v->wait.data = v;
    v->wait.log = r->connection->log;
    v->wait.handler = ngx_http_rtmp_cluster_flv_wait;
    v->wait.cancelable = 1;

    cln->handler = ngx_http_rtmp_cluster_flv_cleanup;
    cln->data = v;

    ngx_http_set_ctx(r, v, ngx_http_rtmp_cluster_flv_module);

    if (cacf->role == NGX_RTMP_CLUSTER_EDGE) {
        rc = ngx_rtmp_cluster_edge_attach(&cctx, &v->member, &app, name,
                                          args);

    } else {
        rc = ngx_rtmp_cluster_origin_attach(&cctx, &v->member, &app, name,
                                            args);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = v->member.stream;

    if (rc == NGX_DECLINED || st == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: HTTP-FLV of \"%V\": not published on this "
                      "host", &v->key);
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cluster: HTTP-FLV viewer of \"%V\"", &v->key);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_rtmp_cluster_flv_write_handler;
    r->main->count++;

    ngx_add_timer(&v->wait, conf->wait);

    /* a stream already live here: its viewers' state has the start */

    s = ngx_rtmp_cluster_stream_feed(st);

    if (s) {
        fs = ngx_http_rtmp_cluster_flv_state(st, s);

        if (fs && ngx_http_rtmp_cluster_flv_start(v, fs, s) == NGX_OK) {
            ngx_http_rtmp_cluster_flv_send(v);
        }
    }

    return NGX_DONE;
}


/*
 * The URI after the location's prefix: "APP/STREAM.flv"; the application
 * and stream names are checked as RTMP plays' are, and the query becomes
 * the play's arguments.
 */

static ngx_int_t
ngx_http_rtmp_cluster_flv_parse(ngx_http_request_t *r, ngx_str_t *app,
    u_char *name, u_char *args)
{
    u_char                    *p, *last, *slash;
    size_t                     len;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

    if (!clcf->regex && clcf->name.len <= r->uri.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    if (last - p < (ssize_t) sizeof(".flv")
        || ngx_strncmp(last - 4, ".flv", 4) != 0)
    {
        return NGX_DECLINED;
    }

    last -= 4;

    slash = ngx_strlchr(p, last, '/');

    if (slash == NULL || slash == p || slash + 1 == last
        || ngx_strlchr(slash + 1, last, '/') != NULL)
    {
        return NGX_DECLINED;
    }

    app->data = p;
    app->len = slash - p;

    len = last - slash - 1;

    if (app->len >= NGX_RTMP_MAX_NAME || len >= NGX_RTMP_MAX_NAME
        || r->args.len >= NGX_RTMP_MAX_ARGS
        || ngx_rtmp_cluster_name_valid(app->data, app->len) != NGX_OK
        || ngx_rtmp_cluster_name_valid(slash + 1, len) != NGX_OK
        || (r->args.len
            && ngx_rtmp_cluster_name_valid(r->args.data, r->args.len)
               != NGX_OK)
        || ngx_strlchr(slash + 1, last, '\0') != NULL
        || (len <= 2 && slash[1] == '.' && (len == 1 || slash[2] == '.'))
        || (app->len <= 2 && p[0] == '.' && (app->len == 1 || p[1] == '.')))
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(name, slash + 1, len);
    name[len] = '\0';

    if (r->args.len) {
        ngx_memcpy(args, r->args.data, r->args.len);
    }

    args[r->args.len] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_rtmp_cluster_flv_header(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_flv_conf_t *conf)
{
    ngx_table_elt_t  *h;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&r->headers_out.content_type, "video/x-flv");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    if (!r->header_only) {
        /* a live body ends with the connection */
        r->keepalive = 0;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    if (conf->cors.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Access-Control-Allow-Origin");
        h->value = conf->cors;
    }

    return ngx_http_send_header(r);
}


/* the engine: a message for the stream's viewers */

static void
ngx_http_rtmp_cluster_flv_media(ngx_rtmp_cluster_stream_t *st,
    ngx_queue_t *viewers, ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_uint_t                            key, header, audio_only, meta;
    ngx_queue_t                          *q;
    ngx_rtmp_codec_ctx_t                 *codec;
    ngx_rtmp_cluster_member_t            *m;
    ngx_http_rtmp_cluster_flv_tag_t      *t;
    ngx_http_rtmp_cluster_flv_stream_t   *fs;
    ngx_http_rtmp_cluster_flv_viewer_t   *v;

    if (in == NULL || in->buf == NULL || in->buf->last == in->buf->pos) {
        return;
    }

    fs = ngx_http_rtmp_cluster_flv_state(st, s);
    if (fs == NULL) {
        return;
    }

    header = ngx_rtmp_is_codec_header(in)
             && (h->type == NGX_RTMP_MSG_VIDEO
                 || (in->buf->pos[0] >> 4) == NGX_RTMP_AUDIO_AAC);

    key = (h->type == NGX_RTMP_MSG_VIDEO && !header
           && ngx_rtmp_get_video_frame_type(in) == NGX_RTMP_VIDEO_KEY_FRAME);

    t = ngx_http_rtmp_cluster_flv_tag(h->type, h->timestamp, in, 0, 0);
    if (t == NULL) {
        return;
    }

    t->key = key;
    t->header = header;

    meta = ngx_http_rtmp_cluster_flv_meta(fs, s, h->timestamp);

    if (header) {
        if (h->type == NGX_RTMP_MSG_VIDEO) {
            if (fs->avc) {
                ngx_http_rtmp_cluster_flv_unref(fs->avc);
            }

            fs->avc = t;

        } else {
            if (fs->aac) {
                ngx_http_rtmp_cluster_flv_unref(fs->aac);
            }

            fs->aac = t;
        }

        t->refs++;

    } else {
        if (h->type == NGX_RTMP_MSG_VIDEO) {
            fs->video = 1;
        }

        ngx_http_rtmp_cluster_flv_gop_add(fs, ngx_rtmp_cluster_stream_conf(st),
                                          t);
    }

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    /* no video: no sequence header and the metadata names no codec */
    audio_only = !fs->video && codec && codec->avc_header == NULL
                 && codec->meta && codec->video_codec_id == 0;

    for (q = ngx_queue_head(viewers);
         q != ngx_queue_sentinel(viewers);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_rtmp_cluster_member_t, viewer);
        v = m->data;

        if (v->closing) {
            continue;
        }

        if (!v->started) {
            /* a new viewer starts with a keyframe, and all it needs */

            if (header || !(key || (audio_only && h->type
                                                  == NGX_RTMP_MSG_AUDIO)))
            {
                continue;
            }

            if (ngx_http_rtmp_cluster_flv_start(v, NULL, s) != NGX_OK) {
                continue;
            }

            if (fs->ngop == 0 || fs->gop[fs->ngop - 1] != t) {
                /* no GOP kept (gop cache off): the start has not it */
                ngx_http_rtmp_cluster_flv_queue(v, t, 1);
            }

        } else {
            if (meta && fs->meta) {
                ngx_http_rtmp_cluster_flv_queue(v, fs->meta, 1);
            }

            ngx_http_rtmp_cluster_flv_queue(v, t, header);
        }

        ngx_http_rtmp_cluster_flv_push(v);
    }

    ngx_http_rtmp_cluster_flv_unref(t);
}


/* the stream ended while its viewers' state was kept */

static void
ngx_http_rtmp_cluster_flv_gone(ngx_rtmp_cluster_stream_t *st, void *ctx)
{
    ngx_http_rtmp_cluster_flv_state_free(ctx);
}


/*
 * The stream's viewers' state, made with the first viewer: metadata,
 * sequence headers and GOP taken from the session that feeds the stream.
 * Another feeding session (a failover, a publisher taking over) gives
 * them anew.
 */

static ngx_http_rtmp_cluster_flv_stream_t *
ngx_http_rtmp_cluster_flv_state(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_session_t *s)
{
    uint32_t                             ts;
    ngx_uint_t                           i, video;
    ngx_chain_t                         *pkt;
    ngx_rtmp_codec_ctx_t                *codec;
    ngx_rtmp_cluster_app_conf_t         *cacf;
    ngx_http_rtmp_cluster_flv_tag_t     *t;
    ngx_http_rtmp_cluster_flv_stream_t  *fs;

    fs = ngx_rtmp_cluster_stream_viewers_ctx(st);

    if (fs && fs->feed == s->connection->number) {
        return fs;
    }

    cacf = ngx_rtmp_cluster_stream_conf(st);

    if (fs == NULL) {
        fs = ngx_calloc(sizeof(ngx_http_rtmp_cluster_flv_stream_t),
                        ngx_cycle->log);
        if (fs == NULL) {
            return NULL;
        }

        fs->max = ngx_max(cacf->gop_max_frames, 1);
        fs->gop = ngx_alloc(fs->max * sizeof(ngx_http_rtmp_cluster_flv_tag_t *),
                            ngx_cycle->log);
        if (fs->gop == NULL) {
            ngx_free(fs);
            return NULL;
        }

        ngx_rtmp_cluster_stream_set_viewers_ctx(st, fs);

    } else {
        /* another session feeds the stream: its own headers */

        if (fs->avc) {
            ngx_http_rtmp_cluster_flv_unref(fs->avc);
            fs->avc = NULL;
        }

        if (fs->aac) {
            ngx_http_rtmp_cluster_flv_unref(fs->aac);
            fs->aac = NULL;
        }

        fs->meta_version = 0;
    }

    fs->feed = s->connection->number;

    /* the GOP cache of that session, if we have none of our own */

    if (fs->ngop == 0) {
        for (i = 0; ngx_rtmp_cluster_gop_frame(s, i, &pkt, &video) == NGX_OK;
             i++)
        {
            t = ngx_http_rtmp_cluster_flv_prepared(pkt, &ts);
            if (t == NULL) {
                break;
            }

            t->key = (i == 0 && video);

            if (video) {
                fs->video = 1;
            }

            ngx_http_rtmp_cluster_flv_gop_add(fs, cacf, t);
            ngx_http_rtmp_cluster_flv_unref(t);
        }
    }

    ts = fs->ngop ? fs->gop[0]->timestamp : 0;

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    if (codec) {
        if (codec->avc_header && fs->avc == NULL) {
            fs->avc = ngx_http_rtmp_cluster_flv_tag(NGX_RTMP_MSG_VIDEO, ts,
                                                    codec->avc_header, 0, 0);
            if (fs->avc) {
                fs->avc->header = 1;
            }
        }

        if (codec->aac_header && fs->aac == NULL) {
            fs->aac = ngx_http_rtmp_cluster_flv_tag(NGX_RTMP_MSG_AUDIO, ts,
                                                    codec->aac_header, 0, 0);
            if (fs->aac) {
                fs->aac->header = 1;
            }
        }
    }

    ngx_http_rtmp_cluster_flv_meta(fs, s, ts);

    return fs;
}


static void
ngx_http_rtmp_cluster_flv_state_free(ngx_http_rtmp_cluster_flv_stream_t *fs)
{
    ngx_http_rtmp_cluster_flv_gop_drop(fs);

    if (fs->meta) {
        ngx_http_rtmp_cluster_flv_unref(fs->meta);
    }

    if (fs->avc) {
        ngx_http_rtmp_cluster_flv_unref(fs->avc);
    }

    if (fs->aac) {
        ngx_http_rtmp_cluster_flv_unref(fs->aac);
    }

    ngx_free(fs->gop);
    ngx_free(fs);
}


/*
 * The codec module's metadata of the feeding session, when it changes:
 * 1 if it did.
 */

static ngx_uint_t
ngx_http_rtmp_cluster_flv_meta(ngx_http_rtmp_cluster_flv_stream_t *fs,
    ngx_rtmp_session_t *s, uint32_t timestamp)
{
    uint32_t                          ts;
    ngx_rtmp_codec_ctx_t             *codec;
    ngx_http_rtmp_cluster_flv_tag_t  *t;

    codec = ngx_rtmp_get_module_ctx(s, ngx_rtmp_codec_module);

    if (codec == NULL || codec->meta == NULL
        || codec->meta_version == fs->meta_version)
    {
        return 0;
    }

    t = ngx_http_rtmp_cluster_flv_prepared(codec->meta, &ts);
    if (t == NULL) {
        return 0;
    }

    /* at the media's time: its own is the codec module's 0 */
    t->timestamp = timestamp;
    t->pos[4] = (u_char) (timestamp >> 16);
    t->pos[5] = (u_char) (timestamp >> 8);
    t->pos[6] = (u_char) timestamp;
    t->pos[7] = (u_char) (timestamp >> 24);

    if (fs->meta) {
        ngx_http_rtmp_cluster_flv_unref(fs->meta);
    }

    fs->meta = t;
    fs->meta_version = codec->meta_version;

    return 1;
}


/* the viewers' own GOP: as the GOP cache keeps it, with its limits */

static void
ngx_http_rtmp_cluster_flv_gop_add(ngx_http_rtmp_cluster_flv_stream_t *fs,
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_http_rtmp_cluster_flv_tag_t *t)
{
    size_t  size;

    if (cacf->gop_cache != 1) {
        return;
    }

    if (t->key) {
        ngx_http_rtmp_cluster_flv_gop_drop(fs);
        fs->gop_active = 1;

    } else if (!fs->gop_active) {
        if (fs->video) {
            return;
        }

        /* audio only: the first messages start it */
        fs->gop_active = 1;
    }

    size = t->last - t->pos;

    if (fs->ngop == fs->max || fs->gop_bytes + size > cacf->gop_max_bytes
        || (fs->ngop && t->timestamp - fs->gop[0]->timestamp
                        > cacf->gop_max_duration))
    {
        ngx_http_rtmp_cluster_flv_gop_drop(fs);
        fs->gop_active = 0;
        return;
    }

    t->refs++;
    fs->gop[fs->ngop++] = t;
    fs->gop_bytes += size;
}


static void
ngx_http_rtmp_cluster_flv_gop_drop(ngx_http_rtmp_cluster_flv_stream_t *fs)
{
    while (fs->ngop) {
        ngx_http_rtmp_cluster_flv_unref(fs->gop[--fs->ngop]);
    }

    fs->gop_bytes = 0;
}


/*
 * An FLV tag of a message's payload (in), made once: the 11-byte header,
 * the payload, the previous tag size, with room for the chunk framing.
 * first and rest: bytes of RTMP chunk header to skip at the start of the
 * first buffer and of each other (a prepared message).
 */

static ngx_http_rtmp_cluster_flv_tag_t *
ngx_http_rtmp_cluster_flv_tag(ngx_uint_t type, uint32_t timestamp,
    ngx_chain_t *in, size_t first, size_t rest)
{
    u_char                           *p;
    size_t                            n, size, skip;
    ngx_chain_t                      *cl;
    ngx_http_rtmp_cluster_flv_tag_t  *t;

    n = 0;
    skip = first;

    for (cl = in; cl; cl = cl->next) {
        n += (cl->buf->last - cl->buf->pos) - skip;
        skip = rest;
    }

    if (n >= 0xffffff) {
        return NULL;
    }

    size = 11 + n + 4;

    t = ngx_alloc(sizeof(ngx_http_rtmp_cluster_flv_tag_t)
                  + NGX_HTTP_RTMP_CLUSTER_FLV_PRE + size + 2, ngx_cycle->log);
    if (t == NULL) {
        return NULL;
    }

    t->refs = 1;
    t->timestamp = timestamp;
    t->video = (type == NGX_RTMP_MSG_VIDEO);
    t->key = 0;
    t->header = 0;

    t->pos = (u_char *) &t[1] + NGX_HTTP_RTMP_CLUSTER_FLV_PRE;

    /* the chunk-size line, right before the tag */
    p = ngx_sprintf((u_char *) &t[1], "%xz" CRLF, size);
    t->chunk = t->pos - (p - (u_char *) &t[1]);
    ngx_memmove(t->chunk, &t[1], p - (u_char *) &t[1]);

    p = t->pos;

    *p++ = (u_char) type;
    *p++ = (u_char) (n >> 16);
    *p++ = (u_char) (n >> 8);
    *p++ = (u_char) n;
    *p++ = (u_char) (timestamp >> 16);
    *p++ = (u_char) (timestamp >> 8);
    *p++ = (u_char) timestamp;
    *p++ = (u_char) (timestamp >> 24);
    *p++ = 0;
    *p++ = 0;
    *p++ = 0;

    skip = first;

    for (cl = in; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos + skip,
                       (cl->buf->last - cl->buf->pos) - skip);
        skip = rest;
    }

    n += 11;

    *p++ = (u_char) (n >> 24);
    *p++ = (u_char) (n >> 16);
    *p++ = (u_char) (n >> 8);
    *p++ = (u_char) n;

    t->last = p;

    *p++ = CR;
    *p++ = LF;

    t->end = p;

    return t;
}


/*
 * A message prepared for RTMP players (the GOP cache's, the codec
 * module's metadata): one chunk per buffer, a type 0 header on the first,
 * type 3 on the others.
 */

static ngx_http_rtmp_cluster_flv_tag_t *
ngx_http_rtmp_cluster_flv_prepared(ngx_chain_t *pkt, uint32_t *timestamp)
{
    u_char                           *p;
    size_t                            basic, first, rest, total, mlen;
    uint32_t                          ts;
    ngx_uint_t                        nbufs, type;
    ngx_chain_t                      *cl;
    ngx_http_rtmp_cluster_flv_tag_t  *t;

    p = pkt->buf->pos;

    if (pkt->buf->last - p < 16 || (p[0] >> 6) != 0) {
        return NULL;
    }

    basic = ((p[0] & 0x3f) == 0) ? 2 : ((p[0] & 0x3f) == 1) ? 3 : 1;
    p += basic;

    ts = ((uint32_t) p[0] << 16) | ((uint32_t) p[1] << 8) | p[2];
    mlen = ((size_t) p[3] << 16) | ((size_t) p[4] << 8) | p[5];
    type = p[6];
    first = basic + 11;

    if (ts == 0xffffff) {
        p += 11;
        ts = ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
             | ((uint32_t) p[2] << 8) | p[3];
        first += 4;
    }

    total = 0;
    nbufs = 0;

    for (cl = pkt; cl; cl = cl->next) {
        total += cl->buf->last - cl->buf->pos;
        nbufs++;
    }

    if (total < first + mlen) {
        return NULL;
    }

    rest = (nbufs > 1) ? (total - first - mlen) / (nbufs - 1) : 0;

    t = ngx_http_rtmp_cluster_flv_tag(type, ts, pkt, first, rest);
    if (t == NULL) {
        return NULL;
    }

    if (type == NGX_RTMP_MSG_VIDEO && mlen
        && ((t->pos[11] >> 4) & 0x0f) == NGX_RTMP_VIDEO_KEY_FRAME)
    {
        t->key = 1;
    }

    *timestamp = ts;

    return t;
}


static void
ngx_http_rtmp_cluster_flv_unref(ngx_http_rtmp_cluster_flv_tag_t *t)
{
    if (--t->refs == 0) {
        ngx_free(t);
    }
}


/*
 * A viewer starts: the response header (200 now that the stream plays),
 * the FLV header, metadata, sequence headers, and the GOP (fs; NULL: the
 * live message that follows starts it).
 */

static ngx_int_t
ngx_http_rtmp_cluster_flv_start(ngx_http_rtmp_cluster_flv_viewer_t *v,
    ngx_http_rtmp_cluster_flv_stream_t *fs, ngx_rtmp_session_t *s)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    ngx_http_request_t               *r;
    ngx_http_rtmp_cluster_flv_tag_t  *t;

    if (v->started || v->closing) {
        return NGX_OK;
    }

    if (fs && fs->ngop == 0) {
        /* nothing to start with yet: the next keyframe */
        return NGX_DECLINED;
    }

    if (fs == NULL) {
        fs = ngx_rtmp_cluster_stream_viewers_ctx(v->member.stream);
        if (fs == NULL) {
            return NGX_ERROR;
        }
    }

    r = v->r;

    rc = ngx_http_rtmp_cluster_flv_header(r, v->conf);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_rtmp_cluster_flv_close(v, "header not sent");
        return NGX_ERROR;
    }

    v->started = 1;
    v->chunked = r->chunked;

    if (v->wait.timer_set) {
        ngx_del_timer(&v->wait);
    }

    (void) ngx_http_send_special(r, NGX_HTTP_FLUSH);

    /* the FLV header, a tag of its own */

    t = ngx_http_rtmp_cluster_flv_tag(0, 0, NULL, 0, 0);
    if (t == NULL) {
        ngx_http_rtmp_cluster_flv_close(v, "no memory");
        return NGX_ERROR;
    }

    p = t->pos;
    *p++ = 'F';
    *p++ = 'L';
    *p++ = 'V';
    *p++ = 1;
    *p++ = (fs->video || fs->avc ? 0x01 : 0) | (fs->aac ? 0x04 : 0);

    if (p[-1] == 0) {
        p[-1] = 0x05;
    }

    *p++ = 0;
    *p++ = 0;
    *p++ = 0;
    *p++ = 9;
    *p++ = 0;       /* the first previous tag size */
    *p++ = 0;
    *p++ = 0;
    *p++ = 0;
    t->last = p;

    /* the chunk framing for 13 bytes, not the empty tag's 15 */
    t->chunk = t->pos - 3;
    ngx_memcpy(t->chunk, "d" CRLF, 3);
    *p++ = CR;
    *p++ = LF;
    t->end = p;

    ngx_http_rtmp_cluster_flv_queue(v, t, 1);
    ngx_http_rtmp_cluster_flv_unref(t);

    if (fs->meta) {
        ngx_http_rtmp_cluster_flv_queue(v, fs->meta, 1);
    }

    if (fs->avc) {
        ngx_http_rtmp_cluster_flv_queue(v, fs->avc, 1);
    }

    if (fs->aac) {
        ngx_http_rtmp_cluster_flv_queue(v, fs->aac, 1);
    }

    for (i = 0; i < fs->ngop; i++) {
        ngx_http_rtmp_cluster_flv_queue(v, fs->gop[i], 1);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cluster: HTTP-FLV viewer of \"%V\" starts with %ui "
                  "cached messages", &v->key, fs->ngop);

    return NGX_OK;
}


/*
 * A tag for a viewer: past cluster_flv_queue bytes queued it drops what
 * is not a keyframe or a sequence header until the next keyframe (force:
 * queue it anyway); past twice that, or a full ring, the viewer goes.
 */

static void
ngx_http_rtmp_cluster_flv_queue(ngx_http_rtmp_cluster_flv_viewer_t *v,
    ngx_http_rtmp_cluster_flv_tag_t *t, ngx_uint_t force)
{
    size_t  size;

    if (v->closing) {
        return;
    }

    size = t->end - t->chunk;

    if (!force) {
        if (v->dropping && !t->key) {
            v->dropped++;
            return;
        }

        v->dropping = 0;

        if (v->queued + size > v->conf->queue && !t->key) {
            /* once per GOP at most: a keyframe ends the dropping */
            ngx_log_error(NGX_LOG_WARN, v->r->connection->log, 0,
                          "cluster: HTTP-FLV viewer of \"%V\" too slow "
                          "(%uz bytes queued): dropping until the next "
                          "keyframe, %ui dropped so far",
                          &v->key, v->queued, v->dropped);

            v->dropped++;
            v->dropping = 1;
            return;
        }
    }

    if (v->n == NGX_HTTP_RTMP_CLUSTER_FLV_RING
        || v->queued + size > 2 * v->conf->queue)
    {
        ngx_http_rtmp_cluster_flv_close(v, "too slow a reader");
        return;
    }

    t->refs++;
    v->ring[(v->head + v->n) % NGX_HTTP_RTMP_CLUSTER_FLV_RING] = t;
    v->n++;
    v->queued += size;
}


/* write now, or at the end of the merge window */

static void
ngx_http_rtmp_cluster_flv_push(ngx_http_rtmp_cluster_flv_viewer_t *v)
{
    if (v->closing || v->blocked) {
        return;
    }

    if (v->cacf->merge_window && v->queued < v->cacf->merge_bytes) {
        if (!v->flush.timer_set) {
            ngx_add_timer(&v->flush, v->cacf->merge_window);
        }

        return;
    }

    ngx_http_rtmp_cluster_flv_send(v);
}


static void
ngx_http_rtmp_cluster_flv_flush(ngx_event_t *ev)
{
    ngx_http_rtmp_cluster_flv_send(ev->data);
}


/* the queue to the socket, up to what it takes */

static void
ngx_http_rtmp_cluster_flv_send(ngx_http_rtmp_cluster_flv_viewer_t *v)
{
    size_t                            size;
    ngx_uint_t                        i, k;
    ngx_chain_t                      *cl, *out;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_rtmp_cluster_flv_tag_t  *t;

    r = v->r;
    c = r->connection;

    if (v->closing || !v->started) {
        return;
    }

    if (v->flush.timer_set) {
        ngx_del_timer(&v->flush);
    }

    /* what nginx's filters hold (the response header) goes first */

    if (r->out || c->buffered) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_http_rtmp_cluster_flv_close(v, "write failed");
            return;
        }

        if (r->out || c->buffered) {
            goto blocked;
        }
    }

    while (v->n) {

        k = ngx_min(v->n, NGX_HTTP_RTMP_CLUSTER_FLV_IOV);

        for (i = 0; i < k; i++) {
            t = v->ring[(v->head + i) % NGX_HTTP_RTMP_CLUSTER_FLV_RING];

            ngx_memzero(&v->bufs[i], sizeof(ngx_buf_t));
            v->bufs[i].temporary = 1;
            v->bufs[i].pos = v->chunked ? t->chunk : t->pos;
            v->bufs[i].last = v->chunked ? t->end : t->last;

            if (i == 0) {
                v->bufs[i].pos += v->sent;
            }

            v->links[i].buf = &v->bufs[i];
            v->links[i].next = (i + 1 < k) ? &v->links[i + 1] : NULL;
        }

        out = c->send_chain(c, v->links, 0);

        if (out == NGX_CHAIN_ERROR) {
            c->error = 1;
            ngx_http_rtmp_cluster_flv_close(v, "write failed");
            return;
        }

        /* what went */

        for (i = 0, cl = v->links; i < k; i++, cl = cl->next) {
            t = v->ring[v->head];

            if (v->bufs[i].pos < v->bufs[i].last) {
                v->sent = v->bufs[i].pos
                          - (v->chunked ? t->chunk : t->pos);
                break;
            }

            size = t->end - t->chunk;

            v->queued -= size;
            v->sent = 0;
            v->head = (v->head + 1) % NGX_HTTP_RTMP_CLUSTER_FLV_RING;
            v->n--;

            ngx_http_rtmp_cluster_flv_unref(t);
        }

        if (out) {
            goto blocked;
        }
    }

    v->blocked = 0;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    return;

blocked:

    v->blocked = 1;

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_rtmp_cluster_flv_close(v, "write failed");
        return;
    }

    if (!c->write->timer_set) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        ngx_add_timer(c->write, clcf->send_timeout);
    }
}


static void
ngx_http_rtmp_cluster_flv_write_handler(ngx_http_request_t *r)
{
    ngx_http_rtmp_cluster_flv_viewer_t  *v;

    v = ngx_http_get_module_ctx(r, ngx_http_rtmp_cluster_flv_module);

    if (v == NULL || v->closing) {
        return;
    }

    if (r->connection->write->timedout) {
        r->connection->timedout = 1;
        ngx_http_rtmp_cluster_flv_close(v, "send timed out");
        return;
    }

    v->blocked = 0;
    ngx_http_rtmp_cluster_flv_send(v);
}


/* no media within cluster_flv_wait: 404 */

static void
ngx_http_rtmp_cluster_flv_wait(ngx_event_t *ev)
{
    ngx_http_rtmp_cluster_flv_viewer_t  *v;

    v = ev->data;

    if (v->started || v->closing) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, v->r->connection->log, 0,
                  "cluster: HTTP-FLV viewer of \"%V\": no media within "
                  "%Mms, answering 404", &v->key, v->conf->wait);

    v->closing = 1;
    v->why = NULL;

    ngx_http_rtmp_cluster_flv_cleanup(v);
    ngx_http_finalize_request(v->r, NGX_HTTP_NOT_FOUND);
}


/* closes are posted: the viewers' list may be walked right now */

static void
ngx_http_rtmp_cluster_flv_close(ngx_http_rtmp_cluster_flv_viewer_t *v,
    const char *why)
{
    if (v->closing) {
        return;
    }

    v->closing = 1;
    v->why = why;

    ngx_post_event(&v->close_ev, &ngx_posted_events);
}


static void
ngx_http_rtmp_cluster_flv_close_handler(ngx_event_t *ev)
{
    ngx_http_request_t                  *r;
    ngx_http_rtmp_cluster_flv_viewer_t  *v;

    v = ev->data;
    r = v->r;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cluster: HTTP-FLV viewer of \"%V\" closed: %s, "
                  "%ui messages dropped", &v->key, v->why, v->dropped);

    if (!v->started) {
        ngx_http_rtmp_cluster_flv_cleanup(v);
        ngx_http_finalize_request(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_http_finalize_request(r, NGX_ERROR);
}


/* the engine gives up on the stream, or the worker ends its relays */

static void
ngx_http_rtmp_cluster_flv_end(ngx_rtmp_cluster_member_t *m, const char *why)
{
    ngx_http_rtmp_cluster_flv_close(m->data, why ? why : "stream ended");
}


static void
ngx_http_rtmp_cluster_flv_cleanup(void *data)
{
    ngx_http_rtmp_cluster_flv_viewer_t *v = data;

    ngx_rtmp_cluster_stream_t           *st;
    ngx_http_rtmp_cluster_flv_stream_t  *fs;

    v->closing = 1;

    if (v->close_ev.posted) {
        ngx_delete_posted_event(&v->close_ev);
    }

    if (v->flush.timer_set) {
        ngx_del_timer(&v->flush);
    }

    if (v->wait.timer_set) {
        ngx_del_timer(&v->wait);
    }

    while (v->n) {
        ngx_http_rtmp_cluster_flv_unref(v->ring[v->head]);
        v->head = (v->head + 1) % NGX_HTTP_RTMP_CLUSTER_FLV_RING;
        v->n--;
    }

    v->queued = 0;

    st = v->member.stream;

    if (st == NULL) {
        return;
    }

    if (ngx_rtmp_cluster_stream_nviewers(st) == 1) {
        /* the last viewer: the state goes (before the stream may) */
        fs = ngx_rtmp_cluster_stream_viewers_ctx(st);

        if (fs) {
            ngx_rtmp_cluster_stream_set_viewers_ctx(st, NULL);
            ngx_http_rtmp_cluster_flv_state_free(fs);
        }
    }

    ngx_rtmp_cluster_stream_leave(&v->member);
}
