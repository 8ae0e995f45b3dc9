
/*
 * ngx_rtmp_cluster: the stream manager (cluster_stream_manager, in an http
 * location).  An HTTP API, backed by Redis, that records which origin
 * publishes each stream: an origin registers a lease on APP/NAME with a
 * TTL (POST), renews it with its token (PUT) and releases it (DELETE);
 * anyone looks a stream up (GET) or asks in SRS's coworker dialect
 * (/api/v1/clusters); the list of streams and every change need the
 * location's secret, when it has one.
 *
 * A registration is idempotent: the origin chooses its token and sends it
 * again when it does not know whether a registration was carried out (a
 * command that timed out here may still run in Redis later), and a lease
 * held by the same token, or by the same origin's address (an origin that
 * restarted), is its own.  So no lease is left that its origin cannot
 * renew or release.
 *
 * Redis, and Redis Sentinel, are ngx_http_rtmp_cluster_manager_redis.c's:
 * each worker keeps one connection per configured Redis address.  A
 * request has one command in flight at a time, under a timer, sent with
 * ngx_http_rtmp_cluster_manager_command(); its reply comes back to
 * ngx_http_rtmp_cluster_manager_reply().  hiredis holds a small record
 * for that command, not the request: a request that ends first (timeout,
 * client gone) only detaches from the record, and the late reply is
 * dropped.  While Redis is unusable, requests are answered 503 at once.
 */


#include "ngx_http_rtmp_cluster_manager.h"

#include <yajl/yajl_tree.h>

#if (NGX_LINUX)
#include <sys/random.h>
#endif


#define NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX     "ngx_rtmp_cluster:stream:"
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_SRS        "/api/v1/clusters"
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_BODY_MAX   4096
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_TOKEN_LEN  32
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_TTL        10      /* seconds */
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_MAX_TTL    300

#define NGX_HTTP_RTMP_CLUSTER_MANAGER_LIST       0
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_LOOKUP     1
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER   2
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW      3
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE    4
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_COWORKER   5
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH      6

/*
 * A batched renewal: 1000 leases of about 100 bytes.  Kept small: yajl's
 * tree grows an array one element at a time (a realloc each).
 */
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH_MAX  (256 * 1024)

/*
 * A batch runs as scripts of at most this many leases, one after the
 * other: Redis runs a script whole, so a lookup sent meanwhile (on this
 * connection or any other) waits for one script, not for the batch.
 */
#define NGX_HTTP_RTMP_CLUSTER_MANAGER_CHUNK      100


typedef struct {
    ngx_array_t                                redis;
} ngx_http_rtmp_cluster_manager_main_conf_t;


typedef struct {
    ngx_http_rtmp_cluster_manager_redis_t     *redis;
    ngx_uint_t                                 ttl;     /* seconds */
    ngx_uint_t                                 max_ttl;
    ngx_msec_t                                 timeout;
    ngx_str_t                                  secret;  /* "": none */
} ngx_http_rtmp_cluster_manager_loc_conf_t;


typedef struct ngx_http_rtmp_cluster_manager_ctx_s
    ngx_http_rtmp_cluster_manager_ctx_t;


/* what hiredis holds for a command in flight: it outlives the request */

typedef struct {
    ngx_http_rtmp_cluster_manager_ctx_t       *ctx;    /* NULL: detached */
} ngx_http_rtmp_cluster_manager_cmd_t;


typedef struct {
    ngx_str_t                                  app;
    ngx_str_t                                  name;
    ngx_str_t                                  host;
    ngx_uint_t                                 port;
} ngx_http_rtmp_cluster_manager_entry_t;


struct ngx_http_rtmp_cluster_manager_ctx_s {
    ngx_http_request_t                        *request;
    ngx_http_rtmp_cluster_manager_loc_conf_t  *conf;
    ngx_http_rtmp_cluster_manager_cmd_t       *cmd;
    ngx_event_t                                timer;
    ngx_uint_t                                 op;
    ngx_str_t                                  key;
    ngx_str_t                                  stream;
    ngx_str_t                                  token;
    ngx_str_t                                  host;
    ngx_uint_t                                 port;
    ngx_uint_t                                 ttl;

    /* the coworker query */
    ngx_str_t                                  vhost;
    ngx_str_t                                  ip;
    ngx_str_t                                  app;
    ngx_str_t                                  name;
    ngx_str_t                                  coworker;

    /* a batched renewal's leases, the statuses of those already run */
    ngx_array_t                               *items;
    ngx_uint_t                                 done;
    ngx_uint_t                                 sent;
    ngx_int_t                                 *codes;

    /* the list: SCAN's cursor, the keys of the MGET in flight */
    ngx_str_t                                  cursor;
    ngx_array_t                               *batch;
    ngx_array_t                               *entries;
};


static void *ngx_http_rtmp_cluster_manager_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_rtmp_cluster_manager_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_rtmp_cluster_manager_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_rtmp_cluster_manager(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_rtmp_cluster_manager_misplaced(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_rtmp_cluster_manager_duplicate(ngx_conf_t *cf,
    ngx_str_t *value, size_t skip);
static char *ngx_http_rtmp_cluster_manager_address(ngx_conf_t *cf,
    ngx_url_t *u, ngx_uint_t sentinel);
static char *ngx_http_rtmp_cluster_manager_password(ngx_conf_t *cf,
    ngx_str_t *value, size_t skip, ngx_str_t *password);
static ngx_http_rtmp_cluster_manager_redis_t *
    ngx_http_rtmp_cluster_manager_add_redis(ngx_conf_t *cf, ngx_url_t *u,
    ngx_str_t *password);
static ngx_http_rtmp_cluster_manager_redis_t *
    ngx_http_rtmp_cluster_manager_add_master(ngx_conf_t *cf, ngx_str_t *name,
    ngx_array_t *sentinels, ngx_str_t *password,
    ngx_str_t *sentinel_password);
static ngx_int_t ngx_http_rtmp_cluster_manager_same(ngx_conf_t *cf,
    ngx_http_rtmp_cluster_manager_redis_t *rd, ngx_str_t *password,
    ngx_str_t *sentinel_password);
static ngx_int_t ngx_http_rtmp_cluster_manager_init_process(
    ngx_cycle_t *cycle);
static void ngx_http_rtmp_cluster_manager_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_http_rtmp_cluster_manager_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_rtmp_cluster_manager_auth(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_loc_conf_t *mlcf);
static ngx_int_t ngx_http_rtmp_cluster_manager_query(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static ngx_int_t ngx_http_rtmp_cluster_manager_path(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, char **error);
static ngx_int_t ngx_http_rtmp_cluster_manager_key(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, ngx_str_t *app,
    ngx_str_t *name);
static u_char *ngx_http_rtmp_cluster_manager_lease_key(ngx_pool_t *pool,
    ngx_str_t *app, ngx_str_t *name, size_t extra, ngx_str_t *key);
static ngx_int_t ngx_http_rtmp_cluster_manager_want_body(
    ngx_http_request_t *r, off_t max, const char *too_large);
static void ngx_http_rtmp_cluster_manager_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_rtmp_cluster_manager_read_body(
    ngx_http_request_t *r, size_t max, ngx_str_t *body);
static ngx_int_t ngx_http_rtmp_cluster_manager_parse_batch(
    ngx_http_request_t *r, ngx_http_rtmp_cluster_manager_ctx_t *ctx,
    char **error);
static ngx_int_t ngx_http_rtmp_cluster_manager_start_batch(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static ngx_int_t ngx_http_rtmp_cluster_manager_answer_batch(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_rtmp_cluster_manager_parse_body(
    ngx_http_request_t *r, ngx_http_rtmp_cluster_manager_ctx_t *ctx,
    char **error);
static ngx_int_t ngx_http_rtmp_cluster_manager_start(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static ngx_int_t ngx_http_rtmp_cluster_manager_scan(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static ngx_int_t ngx_http_rtmp_cluster_manager_send(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_rtmp_cluster_manager_reply(redisAsyncContext *ac,
    void *reply, void *data);
static ngx_int_t ngx_http_rtmp_cluster_manager_answer(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_rtmp_cluster_manager_answer_lease(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_rtmp_cluster_manager_answer_list(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_rtmp_cluster_manager_list(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static ngx_int_t ngx_http_rtmp_cluster_manager_coworker(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, ngx_str_t *host,
    ngx_uint_t port);
static ngx_int_t ngx_http_rtmp_cluster_manager_unexpected(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx);
static void ngx_http_rtmp_cluster_manager_timeout(ngx_event_t *ev);
static void ngx_http_rtmp_cluster_manager_cleanup(void *data);

static ngx_int_t ngx_http_rtmp_cluster_manager_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_rtmp_cluster_manager_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_rtmp_cluster_manager_unauthorized(
    ngx_http_request_t *r);
static yajl_gen ngx_http_rtmp_cluster_manager_gen(ngx_int_t code);
static void ngx_http_rtmp_cluster_manager_gen_origin(yajl_gen g,
    ngx_str_t *host, ngx_uint_t port);
static void ngx_http_rtmp_cluster_manager_random(u_char *dst);
static int ngx_libc_cdecl ngx_http_rtmp_cluster_manager_cmp(const void *one,
    const void *two);


/*
 * The scripts make each change atomic.  Register (ARGV: "TOKEN HOST
 * PORT", the TTL in ms, TOKEN, "HOST PORT") sets the lease when there is
 * none (1), when it holds the same token (2: a registration repeated
 * after an unknown outcome) or the same origin's address (3: an origin
 * that lost its token, killed or restarted, takes its lease over), and
 * otherwise returns the holder's value; renew and release act only if the
 * value starts with the token given.  Renew and release return 1 done,
 * 0 no lease, -1 another token.
 */

static const char  ngx_http_rtmp_cluster_manager_register_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local rc = 1 "
    "if v then "
        "local t = string.match(v, '^[^ ]+') or '' "
        "if t == ARGV[3] then "
            "rc = 2 "
        "elseif string.sub(v, #t + 2) == ARGV[4] then "
            "rc = 3 "
        "else "
            "return v "
        "end "
    "end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "return rc";

static const char  ngx_http_rtmp_cluster_manager_renew_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return 0 end "
    "if string.match(v, '^[^ ]+') ~= ARGV[1] then return -1 end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "return 1";

/* KEYS: the leases; ARGV: the TTL in ms, then a token per key */

static const char  ngx_http_rtmp_cluster_manager_batch_lua[] =
    "local r = {} "
    "for i, k in ipairs(KEYS) do "
    "local v = redis.call('GET', k) "
    "if not v then r[i] = 0 "
    "elseif string.match(v, '^[^ ]+') ~= ARGV[i + 1] then r[i] = -1 "
    "else redis.call('PEXPIRE', k, ARGV[1]) r[i] = 1 end "
    "end "
    "return r";


static const char  ngx_http_rtmp_cluster_manager_release_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return 0 end "
    "if string.match(v, '^[^ ]+') ~= ARGV[1] then return -1 end "
    "redis.call('DEL', KEYS[1]) "
    "return 1";

static const char  ngx_http_rtmp_cluster_manager_lookup_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return false end "
    "return {v, redis.call('PTTL', KEYS[1])}";



static ngx_command_t  ngx_http_rtmp_cluster_manager_commands[] = {

    { ngx_string("cluster_stream_manager"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_rtmp_cluster_manager,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /*
     * The origin's directive (rtmp) that names its stream managers: nginx
     * matches directives by name in the modules of the block's type only,
     * so without this entry it would be "not allowed here" in http.
     */

    { ngx_string("cluster_manager"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
      |NGX_HTTP_SIF_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_ANY,
      ngx_http_rtmp_cluster_manager_misplaced,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_rtmp_cluster_manager_module_ctx = {
    NULL,                                   /* preconfiguration */
    NULL,                                   /* postconfiguration */

    ngx_http_rtmp_cluster_manager_create_main_conf,
                                            /* create main configuration */
    NULL,                                   /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_rtmp_cluster_manager_create_loc_conf,
                                            /* create location configuration */
    ngx_http_rtmp_cluster_manager_merge_loc_conf
                                            /* merge location configuration */
};


ngx_module_t  ngx_http_rtmp_cluster_manager_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_manager_module_ctx, /* module context */
    ngx_http_rtmp_cluster_manager_commands, /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_rtmp_cluster_manager_init_process, /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_rtmp_cluster_manager_exit_process, /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */

static void *
ngx_http_rtmp_cluster_manager_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_rtmp_cluster_manager_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_rtmp_cluster_manager_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mmcf->redis, cf->pool, 2,
                       sizeof(ngx_http_rtmp_cluster_manager_redis_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static void *
ngx_http_rtmp_cluster_manager_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_rtmp_cluster_manager_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_rtmp_cluster_manager_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->redis = NULL;
     *     mlcf->secret = { 0, NULL };
     */

    mlcf->ttl = NGX_CONF_UNSET_UINT;
    mlcf->max_ttl = NGX_CONF_UNSET_UINT;
    mlcf->timeout = NGX_CONF_UNSET_MSEC;

    return mlcf;
}


static char *
ngx_http_rtmp_cluster_manager_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_rtmp_cluster_manager_loc_conf_t *prev = parent;
    ngx_http_rtmp_cluster_manager_loc_conf_t *conf = child;

    if (conf->redis == NULL) {
        conf->redis = prev->redis;
        conf->ttl = prev->ttl;
        conf->max_ttl = prev->max_ttl;
        conf->timeout = prev->timeout;
        conf->secret = prev->secret;
    }

    ngx_conf_merge_uint_value(conf->ttl, prev->ttl,
                              NGX_HTTP_RTMP_CLUSTER_MANAGER_TTL);
    ngx_conf_merge_uint_value(conf->max_ttl, prev->max_ttl,
                              NGX_HTTP_RTMP_CLUSTER_MANAGER_MAX_TTL);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 1000);

    return NGX_CONF_OK;
}


static char *
ngx_http_rtmp_cluster_manager(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_rtmp_cluster_manager_loc_conf_t *mlcf = conf;

    char                                      *rv;
    size_t                                     len;
    ngx_int_t                                  n;
    ngx_str_t                                 *value, s, master, password;
    ngx_str_t                                  sentinel_password;
    ngx_url_t                                  u, su;
    ngx_uint_t                                 i;
    ngx_array_t                                sentinels;
    ngx_http_core_loc_conf_t                  *clcf;
    ngx_http_rtmp_cluster_manager_sentinel_t  *sn;

    if (mlcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_memzero(&u, sizeof(ngx_url_t));
    ngx_str_null(&master);
    ngx_str_null(&password);
    ngx_str_null(&sentinel_password);

    if (ngx_array_init(&sentinels, cf->temp_pool, 3,
                       sizeof(ngx_http_rtmp_cluster_manager_sentinel_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "sentinel=", 9) == 0) {
            ngx_memzero(&su, sizeof(ngx_url_t));
            su.url.data = value[i].data + 9;
            su.url.len = value[i].len - 9;
            su.default_port = 26379;

            rv = ngx_http_rtmp_cluster_manager_address(cf, &su, 1);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            if (sentinels.nelts == NGX_HTTP_RTMP_CLUSTER_MANAGER_SENTINELS) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": more than "
                                   "%d sentinels",
                                   NGX_HTTP_RTMP_CLUSTER_MANAGER_SENTINELS);
                return NGX_CONF_ERROR;
            }

            sn = ngx_array_push(&sentinels);
            if (sn == NULL) {
                return NGX_CONF_ERROR;
            }

            sn->name = su.addrs[0].name;
            sn->port = ngx_inet_get_port(su.addrs[0].sockaddr);
            len = ngx_sock_ntop(su.addrs[0].sockaddr, su.addrs[0].socklen,
                                (u_char *) sn->ip, NGX_SOCKADDR_STRLEN, 0);
            sn->ip[len] = '\0';
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            if (master.data) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               7);
            }

            master.data = value[i].data + 7;
            master.len = value[i].len - 7;

            /* sent in a command and logged: a plain name */

            if (master.len == 0 || master.len > 255
                || ngx_rtmp_cluster_secret_valid(master.data, master.len)
                   != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": invalid "
                                   "master \"%V\"", &master);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rv = ngx_http_rtmp_cluster_manager_password(cf, &value[i], 9,
                                                        &password);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password=", 18) == 0) {
            rv = ngx_http_rtmp_cluster_manager_password(cf, &value[i], 18,
                                                        &sentinel_password);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "redis=", 6) == 0) {
            if (u.url.data) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               6);
            }

            u.url.data = value[i].data + 6;
            u.url.len = value[i].len - 6;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            if (mlcf->ttl != NGX_CONF_UNSET_UINT) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               4);
            }

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            n = ngx_parse_time(&s, 1);
            if (n == NGX_ERROR || n < 1
                || n > NGX_RTMP_CLUSTER_TTL_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": invalid ttl "
                                   "\"%V\", expected 1s to 24h", &s);
                return NGX_CONF_ERROR;
            }

            mlcf->ttl = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_ttl=", 8) == 0) {
            if (mlcf->max_ttl != NGX_CONF_UNSET_UINT) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               8);
            }

            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 1);
            if (n == NGX_ERROR || n < 1
                || n > NGX_RTMP_CLUSTER_TTL_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": invalid "
                                   "max_ttl \"%V\", expected 1s to 24h", &s);
                return NGX_CONF_ERROR;
            }

            mlcf->max_ttl = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {
            if (mlcf->secret.data) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               7);
            }

            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (ngx_rtmp_cluster_secret_valid(s.data, s.len) != NGX_OK) {
                /* the secret itself is not repeated in the log */
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": invalid "
                                   "secret, expected 1 to 256 printable "
                                   "ASCII characters without spaces");
                return NGX_CONF_ERROR;
            }

            mlcf->secret = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            if (mlcf->timeout != NGX_CONF_UNSET_MSEC) {
                return ngx_http_rtmp_cluster_manager_duplicate(cf, &value[i],
                                                               8);
            }

            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_stream_manager\": invalid "
                                   "timeout \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            mlcf->timeout = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": invalid parameter "
                           "\"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (u.url.len && (sentinels.nelts || master.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": \"redis\" and "
                           "\"sentinel\" or \"master\" exclude each other");
        return NGX_CONF_ERROR;
    }

    if (sentinel_password.len && sentinels.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": "
                           "\"sentinel_password\" needs \"sentinel\"");
        return NGX_CONF_ERROR;
    }

    if (u.url.len == 0 && (sentinels.nelts == 0 || master.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": "
                           "\"redis=HOST:PORT\" or "
                           "\"sentinel=HOST:PORT ... master=NAME\" "
                           "is required");
        return NGX_CONF_ERROR;
    }

    if (u.url.len) {
        u.default_port = 6379;

        rv = ngx_http_rtmp_cluster_manager_address(cf, &u, 0);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\" needs a prefix "
                           "location, APP/NAME follow its name");
        return NGX_CONF_ERROR;
    }

    if (mlcf->max_ttl == NGX_CONF_UNSET_UINT) {
        mlcf->max_ttl = NGX_HTTP_RTMP_CLUSTER_MANAGER_MAX_TTL;
    }

    if (mlcf->ttl == NGX_CONF_UNSET_UINT) {
        mlcf->ttl = ngx_min(NGX_HTTP_RTMP_CLUSTER_MANAGER_TTL, mlcf->max_ttl);
    }

    if (mlcf->ttl > mlcf->max_ttl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": ttl %uis is longer "
                           "than max_ttl %uis", mlcf->ttl, mlcf->max_ttl);
        return NGX_CONF_ERROR;
    }

    if (mlcf->timeout == NGX_CONF_UNSET_MSEC) {
        mlcf->timeout = 1000;
    }

    if (u.url.len) {
        mlcf->redis = ngx_http_rtmp_cluster_manager_add_redis(cf, &u,
                                                              &password);

    } else {
        mlcf->redis = ngx_http_rtmp_cluster_manager_add_master(cf, &master,
                                                     &sentinels, &password,
                                                     &sentinel_password);
    }

    if (mlcf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    /* connecting has as long as the slowest location allows a command */

    if (mlcf->redis->connect_timeout < mlcf->timeout) {
        mlcf->redis->connect_timeout = mlcf->timeout;
    }

    clcf->handler = ngx_http_rtmp_cluster_manager_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_rtmp_cluster_manager_misplaced(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"cluster_manager\" is the origin's directive in "
                       "rtmp; a stream manager's location takes "
                       "\"cluster_stream_manager\"");

    return NGX_CONF_ERROR;
}


/* a parameter given twice: refused, whichever (its value is not shown) */

static char *
ngx_http_rtmp_cluster_manager_duplicate(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"cluster_stream_manager\": duplicate \"%*s\" "
                       "parameter", skip - 1, value->data);

    return NGX_CONF_ERROR;
}


/*
 * redis= and sentinel=: HOST:PORT, a name resolved here, once, never at
 * run time.  A sentinel's error keeps its wording, "expected HOST:PORT",
 * and tells the reason after it.
 */

static char *
ngx_http_rtmp_cluster_manager_address(ngx_conf_t *cf, ngx_url_t *u,
    ngx_uint_t sentinel)
{
    if (ngx_parse_url(cf->pool, u) != NGX_OK) {
        if (sentinel) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_stream_manager\": invalid "
                               "sentinel \"%V\", expected HOST:PORT (%s)",
                               &u->url, u->err ? u->err : "invalid address");

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_stream_manager\": %s in redis "
                               "\"%V\"",
                               u->err ? u->err : "invalid address", &u->url);
        }

        return NGX_CONF_ERROR;
    }

    if (u->family == AF_UNIX || u->uri.len || u->naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": invalid %s \"%V\", "
                           "expected HOST:PORT",
                           sentinel ? "sentinel" : "redis", &u->url);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * password= and sentinel_password=: sent with AUTH, never logged (not
 * even in a configuration error).
 */

static char *
ngx_http_rtmp_cluster_manager_password(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_str_t *password)
{
    ngx_str_t  s;

    s.data = value->data + skip;
    s.len = value->len - skip;

    if (password->data) {
        return ngx_http_rtmp_cluster_manager_duplicate(cf, value, skip);
    }

    if (ngx_rtmp_cluster_secret_valid(s.data, s.len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": invalid \"%*s\", "
                           "expected 1 to 256 printable ASCII characters "
                           "without spaces", skip - 1, value->data);
        return NGX_CONF_ERROR;
    }

    *password = s;

    return NGX_CONF_OK;
}


/* a record shared by several locations: they must agree on passwords */

static ngx_int_t
ngx_http_rtmp_cluster_manager_same(ngx_conf_t *cf,
    ngx_http_rtmp_cluster_manager_redis_t *rd, ngx_str_t *password,
    ngx_str_t *sentinel_password)
{
    /* no password is a NULL pointer: not given to strncmp() */

    if (rd->password.len != password->len
        || (password->len
            && ngx_strncmp(rd->password.data, password->data,
                           password->len)
               != 0)
        || rd->sentinel_password.len != sentinel_password->len
        || (sentinel_password->len
            && ngx_strncmp(rd->sentinel_password.data,
                           sentinel_password->data, sentinel_password->len)
               != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_stream_manager\": redis \"%V\" is "
                           "named with other passwords in another location",
                           &rd->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one record per address, shared by the locations that name it */

static ngx_http_rtmp_cluster_manager_redis_t *
ngx_http_rtmp_cluster_manager_add_redis(ngx_conf_t *cf, ngx_url_t *u,
    ngx_str_t *password)
{
    ngx_str_t                                   none;
    size_t                                      len;
    ngx_uint_t                                  i;
    ngx_http_rtmp_cluster_manager_redis_t     **rdp, *rd;
    ngx_http_rtmp_cluster_manager_main_conf_t  *mmcf;
    u_char                                      text[NGX_SOCKADDR_STRLEN];

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                         ngx_http_rtmp_cluster_manager_module);

    rdp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        if (rdp[i]->sentinels == NULL
            && ngx_cmp_sockaddr(rdp[i]->sockaddr, rdp[i]->socklen,
                             u->addrs[0].sockaddr, u->addrs[0].socklen, 1)
            == NGX_OK)
        {
            ngx_str_null(&none);

            if (ngx_http_rtmp_cluster_manager_same(cf, rdp[i], password,
                                                   &none)
                != NGX_OK)
            {
                return NULL;
            }

            return rdp[i];
        }
    }

    if (u->naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"cluster_stream_manager\": \"%V\" has several "
                           "addresses, using %V", &u->url, &u->addrs[0].name);
    }

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_rtmp_cluster_manager_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->password = *password;
    rd->sockaddr = u->addrs[0].sockaddr;
    rd->socklen = u->addrs[0].socklen;
    rd->port = ngx_inet_get_port(rd->sockaddr);

    /* hiredis connects to the numeric address: it resolves nothing */
    len = ngx_sock_ntop(rd->sockaddr, rd->socklen, (u_char *) rd->ip,
                        NGX_SOCKADDR_STRLEN, 0);
    rd->ip[len] = '\0';

    len = ngx_sock_ntop(rd->sockaddr, rd->socklen, text, NGX_SOCKADDR_STRLEN,
                        1);

    rd->name.data = ngx_pnalloc(cf->pool, len);
    if (rd->name.data == NULL) {
        return NULL;
    }

    rd->name.len = len;
    ngx_memcpy(rd->name.data, text, len);

    rdp = ngx_array_push(&mmcf->redis);
    if (rdp == NULL) {
        return NULL;
    }

    *rdp = rd;

    return rd;
}


/*
 * A master named to sentinels: one record per name, shared by the
 * locations naming it, with the sentinels of the first.
 */

static ngx_http_rtmp_cluster_manager_redis_t *
ngx_http_rtmp_cluster_manager_add_master(ngx_conf_t *cf, ngx_str_t *name,
    ngx_array_t *sentinels, ngx_str_t *password,
    ngx_str_t *sentinel_password)
{
    ngx_uint_t                                  i;
    ngx_http_rtmp_cluster_manager_redis_t     **rdp, *rd;
    ngx_http_rtmp_cluster_manager_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                         ngx_http_rtmp_cluster_manager_module);

    rdp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        if (rdp[i]->sentinels
            && rdp[i]->name.len == name->len
            && ngx_strncmp(rdp[i]->name.data, name->data, name->len) == 0)
        {
            if (ngx_http_rtmp_cluster_manager_same(cf, rdp[i], password,
                                                   sentinel_password)
                != NGX_OK)
            {
                return NULL;
            }

            return rdp[i];
        }
    }

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_rtmp_cluster_manager_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->name = *name;
    rd->password = *password;
    rd->sentinel_password = *sentinel_password;
    rd->nsentinels = sentinels->nelts;
    rd->sentinels = ngx_pnalloc(cf->pool, sentinels->nelts
                        * sizeof(ngx_http_rtmp_cluster_manager_sentinel_t));
    if (rd->sentinels == NULL) {
        return NULL;
    }

    ngx_memcpy(rd->sentinels, sentinels->elts,
               sentinels->nelts
               * sizeof(ngx_http_rtmp_cluster_manager_sentinel_t));

    rdp = ngx_array_push(&mmcf->redis);
    if (rdp == NULL) {
        return NULL;
    }

    *rdp = rd;

    return rd;
}


static ngx_int_t
ngx_http_rtmp_cluster_manager_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                                  i;
    ngx_http_rtmp_cluster_manager_redis_t     **rdp;
    ngx_http_rtmp_cluster_manager_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                         ngx_http_rtmp_cluster_manager_module);
    if (mmcf == NULL) {
        return NGX_OK;
    }

    ngx_http_rtmp_cluster_manager_exiting = 0;

    rdp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ngx_http_rtmp_cluster_manager_redis_init(rdp[i], cycle->log);
    }

    return NGX_OK;
}


static void
ngx_http_rtmp_cluster_manager_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                                  i;
    ngx_http_rtmp_cluster_manager_redis_t     **rdp;
    ngx_http_rtmp_cluster_manager_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                         ngx_http_rtmp_cluster_manager_module);
    if (mmcf == NULL) {
        return;
    }

    /* replies still owed are dropped: no request is touched any more */
    ngx_http_rtmp_cluster_manager_exiting = 1;

    rdp = mmcf->redis.elts;

    for (i = 0; i < mmcf->redis.nelts; i++) {
        ngx_http_rtmp_cluster_manager_redis_exit(rdp[i]);
    }
}


/* requests */

static ngx_int_t
ngx_http_rtmp_cluster_manager_handler(ngx_http_request_t *r)
{
    char                                      *error;
    ngx_int_t                                  rc;
    ngx_table_elt_t                           *h;
    ngx_pool_cleanup_t                        *cln;
    ngx_http_rtmp_cluster_manager_ctx_t       *ctx;
    ngx_http_rtmp_cluster_manager_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r,
                                        ngx_http_rtmp_cluster_manager_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_rtmp_cluster_manager_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_rtmp_cluster_manager_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->conf = mlcf;
    ctx->timer.handler = ngx_http_rtmp_cluster_manager_timeout;
    ctx->timer.data = r->connection;
    ctx->timer.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_http_rtmp_cluster_manager_module);

    if (r->uri.len >= sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_SRS) - 1
        && ngx_strncmp(r->uri.data, NGX_HTTP_RTMP_CLUSTER_MANAGER_SRS,
                       sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_SRS) - 1)
           == 0)
    {
        /* SRS's coworker API: any method, the stream in the query */

        ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_COWORKER;

        rc = ngx_http_rtmp_cluster_manager_query(r, ctx);

        if (rc == NGX_DECLINED) {
            return ngx_http_rtmp_cluster_manager_refuse(r,
                                               NGX_HTTP_BAD_REQUEST,
                                               "app and stream are required");
        }

        if (rc == NGX_ABORT) {
            return ngx_http_rtmp_cluster_manager_refuse(r,
                           NGX_HTTP_BAD_REQUEST,
                           "app and stream must not contain control "
                           "characters");
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {

        switch (r->method) {

        case NGX_HTTP_GET:
        case NGX_HTTP_HEAD:
            ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_LOOKUP;
            break;

        case NGX_HTTP_POST:
            ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER;
            break;

        case NGX_HTTP_PUT:
            ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW;
            break;

        case NGX_HTTP_DELETE:
            ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE;
            break;

        default:
            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Allow");
            ngx_str_set(&h->value, "GET, HEAD, POST, PUT, DELETE");

            return ngx_http_rtmp_cluster_manager_refuse(r,
                                                   NGX_HTTP_NOT_ALLOWED,
                                                   "method not allowed");
        }

        /* a change needs the secret before anything else is said */

        if (ctx->op != NGX_HTTP_RTMP_CLUSTER_MANAGER_LOOKUP
            && ngx_http_rtmp_cluster_manager_auth(r, mlcf) != NGX_OK)
        {
            return ngx_http_rtmp_cluster_manager_unauthorized(r);
        }

        error = NULL;

        rc = ngx_http_rtmp_cluster_manager_path(r, ctx, &error);

        if (rc == NGX_DECLINED) {
            /* the location itself */

            if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW) {
                /* PUT on the location: a batched renewal */
                ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH;

            } else if (ctx->op != NGX_HTTP_RTMP_CLUSTER_MANAGER_LOOKUP) {
                return ngx_http_rtmp_cluster_manager_refuse(r,
                                                   NGX_HTTP_BAD_REQUEST,
                                                   "APP/NAME is required");

            } else {
                ctx->op = NGX_HTTP_RTMP_CLUSTER_MANAGER_LIST;

                if (ngx_http_rtmp_cluster_manager_auth(r, mlcf) != NGX_OK) {
                    return ngx_http_rtmp_cluster_manager_unauthorized(r);
                }
            }

        } else if (rc == NGX_HTTP_BAD_REQUEST) {
            return ngx_http_rtmp_cluster_manager_refuse(r, rc, error);

        } else if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE) {
            /*
             * The token comes in the body, {"token":...}, as for a renew;
             * "?token=" is still read for older clients, although it
             * ends up in access logs.
             */

            if (ngx_http_rtmp_cluster_arg(r, "token", &ctx->token)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (ctx->token.len
                && ngx_rtmp_cluster_token_valid(ctx->token.data,
                                                ctx->token.len)
                   != NGX_OK)
            {
                return ngx_http_rtmp_cluster_manager_refuse(r,
                                                       NGX_HTTP_BAD_REQUEST,
                                                       "invalid token");
            }
        }
    }

    /* fail fast, before reading a body for nothing */

    if (ngx_http_rtmp_cluster_manager_usable(mlcf->redis) != NGX_OK) {
        return ngx_http_rtmp_cluster_manager_refuse(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "redis is unavailable");
    }

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH) {
        return ngx_http_rtmp_cluster_manager_want_body(r,
                                  NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH_MAX,
                                  "request body is larger than 256 KB");
    }

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER
        || ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW
        || (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE
            && ctx->token.len == 0))
    {
        return ngx_http_rtmp_cluster_manager_want_body(r,
                                  NGX_HTTP_RTMP_CLUSTER_MANAGER_BODY_MAX,
                                  "request body is larger than 4096 bytes");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_rtmp_cluster_manager_start(ctx);
    if (rc != NGX_DONE) {
        return rc;
    }

    /* held until the reply; a client that leaves ends it earlier */

    r->main->count++;

    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


/*
 * "Authorization: Bearer SECRET" when the location has a secret: NGX_OK
 * or NGX_DECLINED.  The comparison takes the same time whatever the
 * bytes sent, so the secret cannot be guessed a byte at a time.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_auth(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_loc_conf_t *mlcf)
{
    u_char           *p, *last;
    size_t            i, len;
    ngx_uint_t        diff;
    ngx_table_elt_t  *h;

    if (mlcf->secret.len == 0) {
        return NGX_OK;
    }

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    last = h->value.data + h->value.len;

    while (p < last && *p == ' ') {
        p++;
    }

    len = last - p;
    diff = (len != mlcf->secret.len);

    for (i = 0; i < mlcf->secret.len; i++) {
        diff |= mlcf->secret.data[i] ^ (i < len ? p[i] : 0);
    }

    return diff ? NGX_DECLINED : NGX_OK;
}


/*
 * SRS's query: vhost, ip, app, stream, coworker; NGX_DECLINED: missing,
 * NGX_ABORT: control characters in a name.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_query(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    if (ngx_http_rtmp_cluster_arg(r, "vhost", &ctx->vhost) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "ip", &ctx->ip) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "app", &ctx->app) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "stream", &ctx->name)
           != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "coworker", &ctx->coworker)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->app.len == 0 || ctx->name.len == 0
        || ctx->app.len > NGX_RTMP_CLUSTER_NAME_MAX
        || ctx->name.len > NGX_RTMP_CLUSTER_NAME_MAX)
    {
        return NGX_DECLINED;
    }

    if (ngx_rtmp_cluster_name_valid(ctx->app.data, ctx->app.len) != NGX_OK
        || ngx_rtmp_cluster_name_valid(ctx->name.data, ctx->name.len)
           != NGX_OK)
    {
        return NGX_ABORT;
    }

    return ngx_http_rtmp_cluster_manager_key(r, ctx, &ctx->app, &ctx->name);
}


/*
 * APP/NAME after the location's name: NAME is the last segment, APP all
 * before it.  Both are split in the path as sent, then unescaped, so an
 * escaped '/' stays inside its part.  NGX_DECLINED: nothing follows.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_path(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, char **error)
{
    u_char                    *p, *last;
    ngx_int_t                  rc;
    ngx_str_t                  path, app, name;
    ngx_uint_t                 escaped;
    const char                *err;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path.data = r->unparsed_uri.data;
    last = path.data + r->unparsed_uri.len;

    p = ngx_strlchr(path.data, last, '?');
    path.len = (p ? p : last) - path.data;
    escaped = 1;

    if (path.len < clcf->name.len
        || ngx_strncmp(path.data, clcf->name.data, clcf->name.len) != 0)
    {
        /* the location's name was itself escaped: the decoded path */

        path = r->uri;
        escaped = 0;

        if (path.len < clcf->name.len
            || ngx_strncmp(path.data, clcf->name.data, clcf->name.len) != 0)
        {
            *error = "unexpected path";
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    rc = ngx_rtmp_cluster_parse_path(r->pool, path.data + clcf->name.len,
                                     path.len - clcf->name.len, escaped,
                                     &app, &name, &err);

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        if (err == NULL) {
            return NGX_ERROR;
        }

        *error = (char *) err;
        return NGX_HTTP_BAD_REQUEST;
    }

    return ngx_http_rtmp_cluster_manager_key(r, ctx, &app, &name);
}


/* the request's key, and its stream, APP/NAME as answers and logs show it */

static ngx_int_t
ngx_http_rtmp_cluster_manager_key(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, ngx_str_t *app, ngx_str_t *name)
{
    u_char  *p;

    p = ngx_http_rtmp_cluster_manager_lease_key(r->pool, app, name,
                                                app->len + 1 + name->len,
                                                &ctx->key);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->stream.data = p;
    ctx->stream.len = app->len + 1 + name->len;

    p = ngx_cpymem(p, app->data, app->len);
    *p++ = '/';
    ngx_memcpy(p, name->data, name->len);

    return NGX_OK;
}


/*
 * A lease's key: the prefix and APP/NAME escaped so that APP and NAME can
 * be told apart (see ngx_rtmp_cluster_stream_key), allocated with extra
 * bytes after it; where they start, or NULL.
 */

static u_char *
ngx_http_rtmp_cluster_manager_lease_key(ngx_pool_t *pool, ngx_str_t *app,
    ngx_str_t *name, size_t extra, ngx_str_t *key)
{
    u_char  *p;
    size_t   len;

    len = sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX) - 1
          + ngx_rtmp_cluster_stream_key(NULL, app, name);

    p = ngx_pnalloc(pool, len + extra);
    if (p == NULL) {
        return NULL;
    }

    key->data = p;
    key->len = len;

    p = ngx_cpymem(p, NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX,
                   sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX) - 1);

    return p + ngx_rtmp_cluster_stream_key(p, app, name);
}


/* a body of max bytes at most, given to ..._body() once read */

static ngx_int_t
ngx_http_rtmp_cluster_manager_want_body(ngx_http_request_t *r, off_t max,
    const char *too_large)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > max) {
        return ngx_http_rtmp_cluster_manager_refuse(r,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       too_large);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_rtmp_cluster_manager_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body is read: parse it and send the command */

static void
ngx_http_rtmp_cluster_manager_body(ngx_http_request_t *r)
{
    char                                 *error;
    ngx_int_t                             rc;
    ngx_http_rtmp_cluster_manager_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_rtmp_cluster_manager_module);

    error = NULL;

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH) {
        rc = ngx_http_rtmp_cluster_manager_parse_batch(r, ctx, &error);

    } else {
        rc = ngx_http_rtmp_cluster_manager_parse_body(r, ctx, &error);
    }

    if (rc == NGX_OK) {
        /*
         * The TTL granted, which the answer tells: here, once, as only
         * registrations and renewals, single or batched, use one, and
         * all come with a body.
         */

        if (ctx->ttl == 0) {
            ctx->ttl = ctx->conf->ttl;
        }

        if (ctx->ttl > ctx->conf->max_ttl) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "cluster: ttl %ui capped to %ui",
                           ctx->ttl, ctx->conf->max_ttl);

            ctx->ttl = ctx->conf->max_ttl;
        }

        rc = ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH
             ? ngx_http_rtmp_cluster_manager_start_batch(ctx)
             : ngx_http_rtmp_cluster_manager_start(ctx);

        if (rc == NGX_DONE) {
            /* the reference the body reading took holds the request */
            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_request_empty_handler;
            return;
        }

    } else if (error) {
        rc = ngx_http_rtmp_cluster_manager_error(r, rc, error);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The body, max bytes at most (NGX_DECLINED: more): where nginx read it
 * when that is one buffer in memory (request_body_in_single_buf asks for
 * it), else gathered from its buffers and the temporary file of a body
 * larger than client_body_buffer_size.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    u_char       *p;
    size_t        n, size;
    ssize_t       got;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        n = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos)
            : b->in_file ? (size_t) (b->file_last - b->file_pos)
            : 0;

        if (n > max - size) {
            return NGX_DECLINED;
        }

        size += n;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        body->data = cl->buf->pos;
        body->len = size;
        return NGX_OK;
    }

    if (size == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = size;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);

        } else if (b->in_file) {
            /* larger than client_body_buffer_size: read back */

            n = b->file_last - b->file_pos;

            got = ngx_read_file(b->file, p, n, b->file_pos);

            if (got != (ssize_t) n) {
                return NGX_ERROR;
            }

            p += n;
        }
    }

    return NGX_OK;
}


/*
 * Register {host, port, ttl, token}, renew {token, ttl}, release {token}:
 * NGX_OK, or the status to answer with *error (none for 500).
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_parse_body(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, char **error)
{
    ngx_int_t                      rc;
    ngx_str_t                      body;
    const char                    *err;
    ngx_rtmp_cluster_lease_req_t   req;

    rc = ngx_http_rtmp_cluster_manager_read_body(r,
                                        NGX_HTTP_RTMP_CLUSTER_MANAGER_BODY_MAX,
                                        &body);

    if (rc == NGX_DECLINED) {
        *error = "request body is larger than 4096 bytes";
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0 && ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE) {
        *error = "token is required";
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_rtmp_cluster_parse_lease_request(r->pool, body.data, body.len,
                          ctx->op != NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER,
                          &req, &err);

    if (rc != NGX_OK) {
        if (err == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *error = (char *) err;
        return NGX_HTTP_BAD_REQUEST;
    }

    ctx->host = req.host;
    ctx->port = req.port;
    ctx->token = req.token;
    ctx->ttl = req.ttl;

    return NGX_OK;
}


/* the first command of the request: NGX_DONE, or the answer sent */

static ngx_int_t
ngx_http_rtmp_cluster_manager_start(ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    u_char              *p, *value;
    size_t               len;
    ngx_uint_t           n;
    const char          *argv[8];
    size_t               argvlen[8];
    ngx_http_request_t  *r;
    u_char               px[NGX_INT_T_LEN];

    r = ctx->request;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) ctx->key.data;
    argvlen[3] = ctx->key.len;

    n = 4;

    switch (ctx->op) {

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_LIST:
        ngx_str_set(&ctx->cursor, "0");

        ctx->entries = ngx_array_create(r->pool, 16,
                                 sizeof(ngx_http_rtmp_cluster_manager_entry_t));
        if (ctx->entries == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_rtmp_cluster_manager_scan(ctx);

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER:

        /*
         * "TOKEN HOST PORT": the origin's token, or one made here for a
         * client that sends none (it cannot repeat a registration then)
         */

        len = ngx_max(ctx->token.len, NGX_HTTP_RTMP_CLUSTER_MANAGER_TOKEN_LEN)
              + 1 + ctx->host.len + 1 + NGX_INT_T_LEN;

        value = ngx_pnalloc(r->pool, len);
        if (value == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->token.len) {
            p = ngx_cpymem(value, ctx->token.data, ctx->token.len);

        } else {
            ngx_http_rtmp_cluster_manager_random(value);
            p = value + NGX_HTTP_RTMP_CLUSTER_MANAGER_TOKEN_LEN;
        }

        ctx->token.data = value;
        ctx->token.len = p - value;

        p = ngx_sprintf(p, " %V %ui", &ctx->host, ctx->port);

        argv[1] = ngx_http_rtmp_cluster_manager_register_lua;
        argv[4] = (const char *) value;
        argvlen[4] = p - value;
        argv[6] = (const char *) ctx->token.data;
        argvlen[6] = ctx->token.len;
        argv[7] = (const char *) ctx->token.data + ctx->token.len + 1;
        argvlen[7] = p - value - ctx->token.len - 1;
        n = 8;
        break;

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW:
        argv[1] = ngx_http_rtmp_cluster_manager_renew_lua;
        argv[4] = (const char *) ctx->token.data;
        argvlen[4] = ctx->token.len;
        n = 6;
        break;

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE:
        argv[1] = ngx_http_rtmp_cluster_manager_release_lua;
        argv[4] = (const char *) ctx->token.data;
        argvlen[4] = ctx->token.len;
        n = 5;
        break;

    default: /* LOOKUP, COWORKER */
        argv[1] = ngx_http_rtmp_cluster_manager_lookup_lua;
        break;
    }

    argvlen[1] = ngx_strlen(argv[1]);

    if (n >= 6) {
        p = ngx_sprintf(px, "%ui", ctx->ttl * 1000);
        argv[5] = (const char *) px;
        argvlen[5] = p - px;
    }

    /* hiredis copies the arguments before this returns */

    return ngx_http_rtmp_cluster_manager_send(ctx, n, argv, argvlen);
}


static ngx_int_t
ngx_http_rtmp_cluster_manager_scan(ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    const char  *argv[6];
    size_t       argvlen[6];

    argv[0] = "SCAN";
    argv[1] = (const char *) ctx->cursor.data;
    argv[2] = "MATCH";
    argv[3] = NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX "*";
    argv[4] = "COUNT";
    argv[5] = "1000";

    argvlen[0] = 4;
    argvlen[1] = ctx->cursor.len;
    argvlen[2] = 5;
    argvlen[3] = sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX "*") - 1;
    argvlen[4] = 5;
    argvlen[5] = 4;

    return ngx_http_rtmp_cluster_manager_send(ctx, 6, argv, argvlen);
}


/* NGX_DONE: the reply will come, under the timer; else the answer sent */

static ngx_int_t
ngx_http_rtmp_cluster_manager_send(ngx_http_rtmp_cluster_manager_ctx_t *ctx,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_request_t                   *r;
    ngx_http_rtmp_cluster_manager_cmd_t  *cmd;

    r = ctx->request;

    cmd = ngx_alloc(sizeof(ngx_http_rtmp_cluster_manager_cmd_t),
                    r->connection->log);
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmd->ctx = ctx;

    /* unusable, or the connection going away */

    if (ngx_http_rtmp_cluster_manager_command(ctx->conf->redis,
                                          ngx_http_rtmp_cluster_manager_reply,
                                          cmd, argc, argv, argvlen)
        != NGX_OK)
    {
        ngx_free(cmd);
        return ngx_http_rtmp_cluster_manager_error(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "redis is unavailable");
    }

    ctx->cmd = cmd;

    ngx_add_timer(&ctx->timer, ctx->conf->timeout);

    return NGX_DONE;
}


/* every command's reply; NULL when the connection went away first */

static void
ngx_http_rtmp_cluster_manager_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_rtmp_cluster_manager_cmd_t *cmd = data;

    ngx_int_t                             rc;
    ngx_connection_t                     *c;
    ngx_http_request_t                   *r;
    ngx_http_rtmp_cluster_manager_ctx_t  *ctx;

    ctx = cmd->ctx;
    ngx_free(cmd);

    if (ctx == NULL) {
        /* the request is gone: a late reply */
        return;
    }

    ctx->cmd = NULL;

    if (ngx_http_rtmp_cluster_manager_exiting) {
        return;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    r = ctx->request;
    c = r->connection;

    rc = ngx_http_rtmp_cluster_manager_answer(ctx, reply);

    if (rc == NGX_DONE) {
        /* the next command is on its way */
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_rtmp_cluster_manager_answer(ngx_http_rtmp_cluster_manager_ctx_t *ctx,
    redisReply *reply)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (reply == NULL) {
        return ngx_http_rtmp_cluster_manager_error(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "redis is unavailable");
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cluster: redis %V answered \"%*s\"",
                      &ctx->conf->redis->name, reply->len, reply->str);

        if (ctx->conf->redis->sentinels
            && reply->len >= 8
            && ngx_strncmp(reply->str, "READONLY", 8) == 0)
        {
            /* the master was demoted: ask the sentinels again */

            ngx_http_rtmp_cluster_manager_fail(ctx->conf->redis,
                                               "the master turned replica");

            return ngx_http_rtmp_cluster_manager_error(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "redis is unavailable");
        }

        return ngx_http_rtmp_cluster_manager_error(r, NGX_HTTP_BAD_GATEWAY,
                                                   "redis answered an error");
    }

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_LIST) {
        return ngx_http_rtmp_cluster_manager_answer_list(ctx, reply);
    }

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH) {
        return ngx_http_rtmp_cluster_manager_answer_batch(ctx, reply);
    }

    return ngx_http_rtmp_cluster_manager_answer_lease(ctx, reply);
}


/* the reply to one of the scripts */

static ngx_int_t
ngx_http_rtmp_cluster_manager_answer_lease(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply)
{
    yajl_gen             g;
    ngx_str_t            host;
    ngx_uint_t           port;
    redisReply          *v, *ttl;
    ngx_http_request_t  *r;

    r = ctx->request;

    switch (ctx->op) {

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_REGISTER:

        if (reply->type == REDIS_REPLY_INTEGER
            && reply->integer >= 1 && reply->integer <= 3)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "cluster: \"%V\" leased to %V:%ui for %uis%s",
                          &ctx->stream, &ctx->host, ctx->port, ctx->ttl,
                          reply->integer == 2
                          ? " (the same token again)"
                          : (reply->integer == 3
                             ? " (taken over from its earlier token)" : ""));

            g = ngx_http_rtmp_cluster_manager_gen(0);
            if (g == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_rtmp_cluster_json_str(g, "stream",
                                                  ctx->stream.data,
                                                  ctx->stream.len);
            ngx_rtmp_cluster_json_str(g, "token",
                                                  ctx->token.data,
                                                  ctx->token.len);
            ngx_rtmp_cluster_json_int(g, "ttl", ctx->ttl);
            yajl_gen_map_close(g);

            return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_CREATED, g);
        }

        if (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_NIL)
        {
            return ngx_http_rtmp_cluster_manager_unexpected(ctx);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cluster: \"%V\" not leased to %V:%ui: it is leased",
                      &ctx->stream, &ctx->host, ctx->port);

        g = ngx_http_rtmp_cluster_manager_gen(NGX_HTTP_CONFLICT);
        if (g == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_rtmp_cluster_json_str(g, "error",
                                      (u_char *) "stream is leased by another "
                                                 "origin",
                                      sizeof("stream is leased by another "
                                             "origin") - 1);

        if (reply->type == REDIS_REPLY_STRING
            && ngx_rtmp_cluster_parse_lease_value((u_char *) reply->str,
                                                  reply->len, NULL, &host,
                                                  &port)
               == NGX_OK)
        {
            ngx_http_rtmp_cluster_manager_gen_origin(g, &host, port);

        } else {
            /* gone or unreadable in between */
            ngx_rtmp_cluster_json_key(g, "origin");
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);

        return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_CONFLICT, g);

    case NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW:
    case NGX_HTTP_RTMP_CLUSTER_MANAGER_RELEASE:

        if (reply->type != REDIS_REPLY_INTEGER) {
            return ngx_http_rtmp_cluster_manager_unexpected(ctx);
        }

        if (reply->integer == 0) {
            return ngx_http_rtmp_cluster_manager_error(r, NGX_HTTP_NOT_FOUND,
                                                       "no such stream");
        }

        if (reply->integer != 1) {
            return ngx_http_rtmp_cluster_manager_error(r, NGX_HTTP_CONFLICT,
                                                       "stale token");
        }

        g = ngx_http_rtmp_cluster_manager_gen(0);
        if (g == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_rtmp_cluster_json_str(g, "stream", ctx->stream.data,
                                              ctx->stream.len);

        if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_RENEW) {
            ngx_rtmp_cluster_json_int(g, "ttl", ctx->ttl);

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "cluster: \"%V\" released", &ctx->stream);
        }

        yajl_gen_map_close(g);

        return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_OK, g);

    default: /* LOOKUP, COWORKER */
        break;
    }

    /* nil, or [value, pttl] */

    v = NULL;
    ttl = NULL;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        v = reply->element[0];
        ttl = reply->element[1];

    } else if (reply->type != REDIS_REPLY_NIL) {
        return ngx_http_rtmp_cluster_manager_unexpected(ctx);
    }

    if (v
        && ngx_rtmp_cluster_parse_lease_value((u_char *) v->str, v->len,
                                              NULL, &host, &port)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cluster: redis %V holds a malformed lease for \"%V\"",
                      &ctx->conf->redis->name, &ctx->stream);

        if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_LOOKUP) {
            return ngx_http_rtmp_cluster_manager_error(r,
                                                  NGX_HTTP_BAD_GATEWAY,
                                                  "malformed lease in redis");
        }

        v = NULL;
    }

    if (ctx->op == NGX_HTTP_RTMP_CLUSTER_MANAGER_COWORKER) {
        return ngx_http_rtmp_cluster_manager_coworker(ctx, v ? &host : NULL,
                                                      v ? port : 0);
    }

    if (v == NULL) {
        return ngx_http_rtmp_cluster_manager_error(r, NGX_HTTP_NOT_FOUND,
                                                   "no such stream");
    }

    g = ngx_http_rtmp_cluster_manager_gen(0);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_rtmp_cluster_json_str(g, "stream", ctx->stream.data,
                                          ctx->stream.len);
    ngx_http_rtmp_cluster_manager_gen_origin(g, &host, port);
    ngx_rtmp_cluster_json_int(g, "ttl_ms",
                                          ngx_max(ttl->integer, 0));
    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_OK, g);
}


/* a batched renewal's body, up to 256 KB */

static ngx_int_t
ngx_http_rtmp_cluster_manager_parse_batch(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, char **error)
{
    ngx_int_t    rc;
    ngx_str_t    body;
    const char  *err;

    rc = ngx_http_rtmp_cluster_manager_read_body(r,
                                       NGX_HTTP_RTMP_CLUSTER_MANAGER_BATCH_MAX,
                                       &body);

    if (rc == NGX_DECLINED) {
        *error = "request body is larger than 256 KB";
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_rtmp_cluster_parse_renew_batch(r->pool, body.data, body.len,
                                            &ctx->items, &ctx->ttl, &err);

    if (rc != NGX_OK) {
        if (err == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *error = (char *) err;
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/* the next script of the batch: its next CHUNK leases */

static ngx_int_t
ngx_http_rtmp_cluster_manager_start_batch(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    u_char                         *p;
    size_t                         *argvlen;
    ngx_str_t                       key;
    ngx_uint_t                      i, n;
    const char                    **argv;
    ngx_http_request_t             *r;
    ngx_rtmp_cluster_renew_item_t  *it;
    u_char                          px[NGX_INT_T_LEN];

    r = ctx->request;

    if (ctx->codes == NULL) {
        ctx->codes = ngx_palloc(r->pool,
                                ctx->items->nelts * sizeof(ngx_int_t));
        if (ctx->codes == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    it = (ngx_rtmp_cluster_renew_item_t *) ctx->items->elts + ctx->done;
    n = ngx_min(ctx->items->nelts - ctx->done,
                NGX_HTTP_RTMP_CLUSTER_MANAGER_CHUNK);

    ctx->sent = n;

    /* EVAL script N key... ttl token... */

    argv = ngx_palloc(r->pool, (2 * n + 4) * sizeof(const char *));
    argvlen = ngx_palloc(r->pool, (2 * n + 4) * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_rtmp_cluster_manager_batch_lua;
    argvlen[1] = sizeof(ngx_http_rtmp_cluster_manager_batch_lua) - 1;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[2] = (const char *) p;
    argvlen[2] = ngx_sprintf(p, "%ui", n) - p;

    for (i = 0; i < n; i++) {
        if (ngx_http_rtmp_cluster_manager_lease_key(r->pool, &it[i].app,
                                                    &it[i].name, 0, &key)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[3 + i] = (const char *) key.data;
        argvlen[3 + i] = key.len;

        argv[4 + n + i] = (const char *) it[i].token.data;
        argvlen[4 + n + i] = it[i].token.len;
    }

    argv[3 + n] = (const char *) px;
    argvlen[3 + n] = ngx_sprintf(px, "%ui", ctx->ttl * 1000) - px;

    /* hiredis copies the arguments before this returns */

    return ngx_http_rtmp_cluster_manager_send(ctx, 2 * n + 4, argv, argvlen);
}


/* {"code":0,"ttl":N,"leases":[200|404|409,...]}, in the request's order */

static ngx_int_t
ngx_http_rtmp_cluster_manager_answer_batch(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply)
{
    yajl_gen     g;
    ngx_int_t    code;
    ngx_uint_t   i, renewed;
    redisReply  *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != ctx->sent) {
        return ngx_http_rtmp_cluster_manager_unexpected(ctx);
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_INTEGER) {
            return ngx_http_rtmp_cluster_manager_unexpected(ctx);
        }

        ctx->codes[ctx->done + i] = e->integer == 1 ? NGX_HTTP_OK
                                    : e->integer == 0 ? NGX_HTTP_NOT_FOUND
                                    : NGX_HTTP_CONFLICT;
    }

    ctx->done += ctx->sent;

    if (ctx->done < ctx->items->nelts) {
        /* NGX_DONE, or the answer already sent (a 503) */
        return ngx_http_rtmp_cluster_manager_start_batch(ctx);
    }

    g = ngx_http_rtmp_cluster_manager_gen(0);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_rtmp_cluster_json_int(g, "ttl", ctx->ttl);
    ngx_rtmp_cluster_json_key(g, "leases");
    yajl_gen_array_open(g);

    renewed = 0;

    for (i = 0; i < ctx->items->nelts; i++) {
        code = ctx->codes[i];
        renewed += (code == NGX_HTTP_OK);

        yajl_gen_integer(g, code);
    }

    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "cluster: %ui of %ui leases renewed",
                   renewed, ctx->items->nelts);

    return ngx_http_rtmp_cluster_send_json(ctx->request, NGX_HTTP_OK, g);
}


/* SCAN and MGET in turns, until the cursor comes back to 0 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_answer_list(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, redisReply *reply)
{
    u_char                                 *p;
    size_t                                  prefix;
    ngx_int_t                               rc;
    ngx_str_t                              *key, host, app, name;
    ngx_uint_t                              i, n, port;
    redisReply                             *keys, *v;
    const char                            **argv;
    size_t                                 *argvlen;
    ngx_http_request_t                     *r;
    ngx_http_rtmp_cluster_manager_entry_t  *e;

    r = ctx->request;
    prefix = sizeof(NGX_HTTP_RTMP_CLUSTER_MANAGER_PREFIX) - 1;

    if (ctx->batch) {
        /* MGET: the values of the batch's keys, nil if gone since */

        key = ctx->batch->elts;
        n = ctx->batch->nelts;
        ctx->batch = NULL;

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
            return ngx_http_rtmp_cluster_manager_unexpected(ctx);
        }

        for (i = 0; i < n; i++) {
            v = reply->element[i];

            if (v->type != REDIS_REPLY_STRING
                || ngx_rtmp_cluster_parse_lease_value((u_char *) v->str,
                                                      v->len, NULL, &host,
                                                      &port)
                   != NGX_OK)
            {
                continue;
            }

            rc = ngx_rtmp_cluster_parse_stream_key(r->pool,
                                                   key[i].data + prefix,
                                                   key[i].len - prefix,
                                                   &app, &name);
            if (rc == NGX_DECLINED) {
                continue;
            }

            if (rc != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            e = ngx_array_push(ctx->entries);
            if (e == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            e->app = app;
            e->name = name;
            e->port = port;

            e->host.len = host.len;
            e->host.data = ngx_pnalloc(r->pool, host.len);
            if (e->host.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(e->host.data, host.data, host.len);
        }

        if (ctx->cursor.len == 1 && ctx->cursor.data[0] == '0') {
            return ngx_http_rtmp_cluster_manager_list(ctx);
        }

        return ngx_http_rtmp_cluster_manager_scan(ctx);
    }

    /* SCAN: [cursor, [key, ...]] */

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->len == 0)
    {
        return ngx_http_rtmp_cluster_manager_unexpected(ctx);
    }

    p = ngx_pnalloc(r->pool, reply->element[0]->len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, reply->element[0]->str, reply->element[0]->len);
    ctx->cursor.data = p;
    ctx->cursor.len = reply->element[0]->len;

    keys = reply->element[1];
    n = keys->elements;

    if (n == 0) {
        if (ctx->cursor.len == 1 && ctx->cursor.data[0] == '0') {
            return ngx_http_rtmp_cluster_manager_list(ctx);
        }

        return ngx_http_rtmp_cluster_manager_scan(ctx);
    }

    ctx->batch = ngx_array_create(r->pool, n, sizeof(ngx_str_t));
    argv = ngx_palloc(r->pool, (n + 1) * sizeof(const char *));
    argvlen = ngx_palloc(r->pool, (n + 1) * sizeof(size_t));

    if (ctx->batch == NULL || argv == NULL || argvlen == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < n; i++) {
        v = keys->element[i];

        if (v->type != REDIS_REPLY_STRING || v->len < prefix) {
            return ngx_http_rtmp_cluster_manager_unexpected(ctx);
        }

        key = ngx_array_push(ctx->batch);
        if (key == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key->len = v->len;
        key->data = ngx_pnalloc(r->pool, v->len);
        if (key->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(key->data, v->str, v->len);

        argv[i + 1] = (const char *) key->data;
        argvlen[i + 1] = key->len;
    }

    return ngx_http_rtmp_cluster_manager_send(ctx, n + 1, argv, argvlen);
}


/*
 * The list, sorted by APP then NAME; SCAN may have returned a key twice.
 * "stream" is APP/NAME as elsewhere, "app" and "name" tell them apart.
 */

static ngx_int_t
ngx_http_rtmp_cluster_manager_list(ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    u_char                                 *p, *stream;
    yajl_gen                                g;
    ngx_uint_t                              i;
    ngx_http_rtmp_cluster_manager_entry_t  *e;

    e = ctx->entries->elts;

    ngx_qsort(e, ctx->entries->nelts,
              sizeof(ngx_http_rtmp_cluster_manager_entry_t),
              ngx_http_rtmp_cluster_manager_cmp);

    g = ngx_http_rtmp_cluster_manager_gen(0);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_rtmp_cluster_json_key(g, "streams");
    yajl_gen_array_open(g);

    for (i = 0; i < ctx->entries->nelts; i++) {

        if (i > 0 && ngx_http_rtmp_cluster_manager_cmp(&e[i - 1], &e[i]) == 0)
        {
            continue;
        }

        stream = ngx_pnalloc(ctx->request->pool,
                             e[i].app.len + 1 + e[i].name.len);
        if (stream == NULL) {
            yajl_gen_free(g);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(stream, e[i].app.data, e[i].app.len);
        *p++ = '/';
        p = ngx_cpymem(p, e[i].name.data, e[i].name.len);

        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_str(g, "stream", stream, p - stream);
        ngx_rtmp_cluster_json_str(g, "app", e[i].app.data, e[i].app.len);
        ngx_rtmp_cluster_json_str(g, "name", e[i].name.data, e[i].name.len);
        ngx_http_rtmp_cluster_manager_gen_origin(g, &e[i].host, e[i].port);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(ctx->request, NGX_HTTP_OK, g);
}


static int ngx_libc_cdecl
ngx_http_rtmp_cluster_manager_cmp(const void *one, const void *two)
{
    int                                           rc;
    const ngx_http_rtmp_cluster_manager_entry_t  *a, *b;

    a = one;
    b = two;

    rc = ngx_memcmp(a->app.data, b->app.data,
                    ngx_min(a->app.len, b->app.len));

    if (rc == 0) {
        rc = (a->app.len > b->app.len) - (a->app.len < b->app.len);
    }

    if (rc != 0) {
        return rc;
    }

    rc = ngx_memcmp(a->name.data, b->name.data,
                    ngx_min(a->name.len, b->name.len));

    if (rc != 0) {
        return rc;
    }

    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}


/* the answer of SRS's coworker API, from a lease or none */

static ngx_int_t
ngx_http_rtmp_cluster_manager_coworker(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx, ngx_str_t *host,
    ngx_uint_t port)
{
    ngx_http_rtmp_cluster_srs_query_t  q;

    q.vhost = ctx->vhost;
    q.ip = ctx->ip;
    q.app = ctx->app;
    q.stream = ctx->name;
    q.coworker = ctx->coworker;
    ngx_str_null(&q.advertise);

    return ngx_http_rtmp_cluster_srs_answer(ctx->request, &q, host,
                                            (in_port_t) port);
}


static ngx_int_t
ngx_http_rtmp_cluster_manager_unexpected(
    ngx_http_rtmp_cluster_manager_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "cluster: redis %V gave an unexpected reply",
                  &ctx->conf->redis->name);

    return ngx_http_rtmp_cluster_manager_error(ctx->request,
                                               NGX_HTTP_BAD_GATEWAY,
                                               "unexpected reply from redis");
}


/*
 * No reply in time.  Replies come in order, so every later command waits
 * behind this one: the connection is dropped (they end with 503) and
 * retried; a reply that would still come finds nobody.
 */

static void
ngx_http_rtmp_cluster_manager_timeout(ngx_event_t *ev)
{
    ngx_connection_t                       *c;
    ngx_http_request_t                     *r;
    ngx_http_rtmp_cluster_manager_ctx_t    *ctx;
    ngx_http_rtmp_cluster_manager_redis_t  *rd;

    ctx = (ngx_http_rtmp_cluster_manager_ctx_t *)
              ((u_char *) ev
               - offsetof(ngx_http_rtmp_cluster_manager_ctx_t, timer));

    r = ctx->request;
    c = r->connection;
    rd = ctx->conf->redis;

    if (ctx->cmd) {
        ctx->cmd->ctx = NULL;
        ctx->cmd = NULL;
    }

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "cluster: redis %V did not answer in %Mms",
                  &rd->name, ctx->conf->timeout);

    ngx_http_rtmp_cluster_manager_fail(rd, "a command timed out");

    ngx_http_finalize_request(r,
        ngx_http_rtmp_cluster_manager_error(r, NGX_HTTP_GATEWAY_TIME_OUT,
                                            "redis did not answer in time"));
    ngx_http_run_posted_requests(c);
}


/* the request's pool goes: nothing may point into it any more */

static void
ngx_http_rtmp_cluster_manager_cleanup(void *data)
{
    ngx_http_rtmp_cluster_manager_ctx_t *ctx = data;

    if (ctx->cmd) {
        ctx->cmd->ctx = NULL;
        ctx->cmd = NULL;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/* answers */

/* an error answer from the handler, the request body discarded */

static ngx_int_t
ngx_http_rtmp_cluster_manager_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *error)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_rtmp_cluster_manager_error(r, status, error);
}


/* {"code":status,"error":error} */

static ngx_int_t
ngx_http_rtmp_cluster_manager_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    yajl_gen  g;

    g = ngx_http_rtmp_cluster_manager_gen(status);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_rtmp_cluster_json_str(g, "error", (u_char *) error,
                                          ngx_strlen(error));
    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(r, status, g);
}


/* 401: the secret is missing or wrong, which is not told apart */

static ngx_int_t
ngx_http_rtmp_cluster_manager_unauthorized(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cluster: a %V request without the manager's secret "
                  "refused", &r->method_name);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"cluster_manager\"");

    return ngx_http_rtmp_cluster_manager_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                                "a valid secret is required");
}


/* an answer begun: {"code":code */

static yajl_gen
ngx_http_rtmp_cluster_manager_gen(ngx_int_t code)
{
    yajl_gen  g;

    g = ngx_rtmp_cluster_json_gen(0);
    if (g == NULL) {
        return NULL;
    }

    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_int(g, "code", code);

    return g;
}


/* "origin":{"host":..,"port":..} */

static void
ngx_http_rtmp_cluster_manager_gen_origin(yajl_gen g, ngx_str_t *host,
    ngx_uint_t port)
{
    ngx_rtmp_cluster_json_key(g, "origin");
    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_str(g, "host", host->data, host->len);
    ngx_rtmp_cluster_json_int(g, "port", port);
    yajl_gen_map_close(g);
}


/* helpers */

/* TOKEN_LEN hex digits from the kernel's random source */

static void
ngx_http_rtmp_cluster_manager_random(u_char *dst)
{
    ngx_uint_t  i;
    u_char      rnd[NGX_HTTP_RTMP_CLUSTER_MANAGER_TOKEN_LEN / 2];

#if (NGX_LINUX)
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) == (ssize_t) sizeof(rnd)) {
        (void) ngx_hex_dump(dst, rnd, sizeof(rnd));
        return;
    }
#endif

    for (i = 0; i < sizeof(rnd); i++) {
        rnd[i] = (u_char) (ngx_random() >> 8);
    }

    (void) ngx_hex_dump(dst, rnd, sizeof(rnd));
}
