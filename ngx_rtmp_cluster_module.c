
/*
 * ngx_rtmp_cluster: the module: its structures, directives and
 * configuration, the hooks into nginx-rtmp's chains (play, publish,
 * close_stream, audio/video, onStatus, disconnect), which dispatch by
 * role, the sessions' contexts, and the worker's watch timer.
 */


#include "ngx_rtmp_cluster.h"
#include "ngx_rtmp_codec_module.h"


static ngx_int_t ngx_rtmp_cluster_postconfiguration(ngx_conf_t *cf);
static void *ngx_rtmp_cluster_create_main_conf(ngx_conf_t *cf);
static char *ngx_rtmp_cluster_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_rtmp_cluster_create_app_conf(ngx_conf_t *cf);
static char *ngx_rtmp_cluster_merge_app_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_rtmp_cluster_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_cluster_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_cluster_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_rtmp_cluster_lookup_cache(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_rtmp_cluster_not_found_backoff(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_rtmp_cluster_http_peers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_rtmp_cluster_init_process(ngx_cycle_t *cycle);
static char *ngx_rtmp_cluster_core_init_conf(ngx_cycle_t *cycle, void *conf);
static void ngx_rtmp_cluster_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_rtmp_cluster_connect(ngx_rtmp_session_t *s,
    ngx_rtmp_connect_t *v);
static ngx_int_t ngx_rtmp_cluster_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
static ngx_int_t ngx_rtmp_cluster_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
static ngx_int_t ngx_rtmp_cluster_next_play(ngx_rtmp_session_t *s,
    ngx_rtmp_play_t *v);
static ngx_int_t ngx_rtmp_cluster_next_publish(ngx_rtmp_session_t *s,
    ngx_rtmp_publish_t *v);
static ngx_int_t ngx_rtmp_cluster_close_stream(ngx_rtmp_session_t *s,
    ngx_rtmp_close_stream_t *v);
static ngx_int_t ngx_rtmp_cluster_av(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_cluster_av_rebase(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_cluster_first_handler(ngx_array_t *a,
    ngx_rtmp_handler_pt handler);
static ngx_int_t ngx_rtmp_cluster_on_status(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static ngx_int_t ngx_rtmp_cluster_disconnect(ngx_rtmp_session_t *s,
    ngx_rtmp_header_t *h, ngx_chain_t *in);
static void ngx_rtmp_cluster_watch_handler(ngx_event_t *ev);
static ngx_int_t ngx_rtmp_cluster_names_valid(ngx_rtmp_session_t *s,
    u_char *name, u_char *args);


static ngx_rtmp_connect_pt       next_connect;
static ngx_rtmp_play_pt          next_play;
static ngx_rtmp_publish_pt       next_publish;
static ngx_rtmp_close_stream_pt  next_close_stream;


static ngx_conf_enum_t  ngx_rtmp_cluster_roles[] = {
    { ngx_string("off"), NGX_RTMP_CLUSTER_OFF },
    { ngx_string("edge"), NGX_RTMP_CLUSTER_EDGE },
    { ngx_string("origin"), NGX_RTMP_CLUSTER_ORIGIN },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_found_modes[] = {
    { ngx_string("redirect"), NGX_RTMP_CLUSTER_FOUND_REDIRECT },
    { ngx_string("proxy"), NGX_RTMP_CLUSTER_FOUND_PROXY },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_redirects[] = {
    { ngx_string("srs"), NGX_RTMP_CLUSTER_REDIRECT_SRS },
    { ngx_string("fms"), NGX_RTMP_CLUSTER_REDIRECT_FMS },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_miss_modes[] = {
    { ngx_string("wait"), NGX_RTMP_CLUSTER_MISS_WAIT },
    { ngx_string("reject"), NGX_RTMP_CLUSTER_MISS_REJECT },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_duplicate_modes[] = {
    { ngx_string("allow"), 0 },
    { ngx_string("reject"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_redirect_targets[] = {
    { ngx_string("any"), NGX_RTMP_CLUSTER_TARGETS_ANY },
    { ngx_string("listed"), NGX_RTMP_CLUSTER_TARGETS_LISTED },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_rtmp_cluster_balances[] = {
    { ngx_string("hash"), NGX_RTMP_CLUSTER_BALANCE_HASH },
    { ngx_string("round_robin"), NGX_RTMP_CLUSTER_BALANCE_RR },
    { ngx_string("order"), NGX_RTMP_CLUSTER_BALANCE_ORDER },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_rtmp_cluster_commands[] = {

    { ngx_string("cluster_zone"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_zone,
      NGX_RTMP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_reuseport"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_MAIN_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_main_conf_t, reuseport),
      NULL },

    { ngx_string("cluster_worker_relay"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_MAIN_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_main_conf_t, worker_relay),
      NULL },

    { ngx_string("cluster_socket_dir"),
      NGX_RTMP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_RTMP_MAIN_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_main_conf_t, socket_dir),
      NULL },

    { ngx_string("cluster"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, role),
      &ngx_rtmp_cluster_roles },

    { ngx_string("cluster_origin"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_1MORE,
      ngx_rtmp_cluster_origin,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_balance"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, balance),
      &ngx_rtmp_cluster_balances },

    { ngx_string("cluster_connect_timeout"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, connect_timeout),
      NULL },

    { ngx_string("cluster_media_timeout"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, media_timeout),
      NULL },

    { ngx_string("cluster_retry_timeout"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, retry_timeout),
      NULL },

    { ngx_string("cluster_not_found_backoff"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE12,
      ngx_rtmp_cluster_not_found_backoff,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_linger"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, linger),
      NULL },

    { ngx_string("cluster_pass_args"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, pass_args),
      NULL },

    { ngx_string("cluster_coworkers"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_1MORE,
      ngx_rtmp_cluster_http_peers,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, coworkers),
      NULL },

    { ngx_string("cluster_manager"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_1MORE,
      ngx_rtmp_cluster_http_peers,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, managers),
      NULL },

    { ngx_string("cluster_manager_secret"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_manager_secret,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_lease_ttl"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, lease_ttl),
      NULL },

    { ngx_string("cluster_advertise"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, advertise),
      NULL },

    { ngx_string("cluster_lookup_timeout"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, lookup_timeout),
      NULL },

    { ngx_string("cluster_lookup_cache"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE12,
      ngx_rtmp_cluster_lookup_cache,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_found"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, found),
      &ngx_rtmp_cluster_found_modes },

    { ngx_string("cluster_redirect"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, redirect),
      &ngx_rtmp_cluster_redirects },

    { ngx_string("cluster_not_found"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, not_found),
      &ngx_rtmp_cluster_miss_modes },

    { ngx_string("cluster_wait_timeout"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, wait_timeout),
      NULL },

    { ngx_string("cluster_duplicate_publish"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, duplicate_publish),
      &ngx_rtmp_cluster_duplicate_modes },

    { ngx_string("cluster_redirect_depth"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, redirect_depth),
      NULL },

    { ngx_string("cluster_redirect_targets"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_rtmp_cluster_set_enum,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, redirect_targets),
      &ngx_rtmp_cluster_redirect_targets },

    { ngx_string("cluster_gop_cache"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, gop_cache),
      NULL },

    { ngx_string("cluster_gop_max_frames"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, gop_max_frames),
      NULL },

    { ngx_string("cluster_gop_max_bytes"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, gop_max_bytes),
      NULL },

    { ngx_string("cluster_gop_max_duration"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, gop_max_duration),
      NULL },

    { ngx_string("cluster_merge_writes"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF
                        |NGX_CONF_TAKE12,
      ngx_rtmp_cluster_merge_writes,
      NGX_RTMP_APP_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_forward_publish"),
      NGX_RTMP_MAIN_CONF|NGX_RTMP_SRV_CONF|NGX_RTMP_APP_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_RTMP_APP_CONF_OFFSET,
      offsetof(ngx_rtmp_cluster_app_conf_t, forward_publish),
      NULL },

      ngx_null_command
};


static ngx_rtmp_module_t  ngx_rtmp_cluster_module_ctx = {
    NULL,                                   /* preconfiguration */
    ngx_rtmp_cluster_postconfiguration,     /* postconfiguration */
    ngx_rtmp_cluster_create_main_conf,      /* create main configuration */
    ngx_rtmp_cluster_init_main_conf,        /* init main configuration */
    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */
    ngx_rtmp_cluster_create_app_conf,       /* create app configuration */
    ngx_rtmp_cluster_merge_app_conf         /* merge app configuration */
};


ngx_module_t  ngx_rtmp_cluster_module = {
    NGX_MODULE_V1,
    &ngx_rtmp_cluster_module_ctx,           /* module context */
    ngx_rtmp_cluster_commands,              /* module directives */
    NGX_RTMP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    ngx_rtmp_cluster_workers_init_module,   /* init module */
    ngx_rtmp_cluster_init_process,          /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_rtmp_cluster_exit_process,          /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * A core module only for its init_conf, which runs once the whole
 * configuration is read and before listening sockets are opened: the one
 * place to give nginx-rtmp's listeners a socket per worker.
 */

static ngx_core_module_t  ngx_rtmp_cluster_core_module_ctx = {
    ngx_string("rtmp_cluster"),
    NULL,
    ngx_rtmp_cluster_core_init_conf
};


ngx_module_t  ngx_rtmp_cluster_core_module = {
    NGX_MODULE_V1,
    &ngx_rtmp_cluster_core_module_ctx,      /* module context */
    NULL,                                   /* module directives */
    NGX_CORE_MODULE,                        /* module type */
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
ngx_rtmp_cluster_core_init_conf(ngx_cycle_t *cycle, void *conf)
{
#if (NGX_HAVE_REUSEPORT)
    ngx_uint_t                     i, n;
    ngx_listening_t               *ls;
    ngx_rtmp_conf_ctx_t           *rctx;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        return NGX_CONF_OK;
    }

    cmcf = rctx->main_conf[ngx_rtmp_cluster_module.ctx_index];
    if (cmcf == NULL || cmcf->reuseport != 1) {
        return NGX_CONF_OK;
    }

    /* the array grows while cloning: walk the original entries by index */

    n = cycle->listening.nelts;

    for (i = 0; i < n; i++) {
        ls = cycle->listening.elts;
        ls = &ls[i];

        if (ls->handler != ngx_rtmp_init_connection || ls->reuseport) {
            continue;
        }

        ls->reuseport = 1;

        if (ngx_clone_listening(cycle, ls) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }
#endif

    return NGX_CONF_OK;
}


static void *
ngx_rtmp_cluster_create_main_conf(ngx_conf_t *cf)
{
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_rtmp_cluster_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cmcf->origins, cf->pool, 4,
                       sizeof(ngx_rtmp_cluster_origin_t *))
        != NGX_OK)
    {
        return NULL;
    }

    cmcf->reuseport = NGX_CONF_UNSET;
    cmcf->worker_relay = NGX_CONF_UNSET;

    return cmcf;
}


static char *
ngx_rtmp_cluster_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_rtmp_cluster_main_conf_t *cmcf = conf;

    ngx_conf_init_value(cmcf->worker_relay, 1);

    if (cmcf->socket_dir.len == 0) {
        if (geteuid() == 0) {
            ngx_str_set(&cmcf->socket_dir, "/run/nginx-rtmp-cluster");

        } else {
            /* an unprivileged master: a directory of its own prefix */
            ngx_str_set(&cmcf->socket_dir, "cluster_sockets");

            if (ngx_conf_full_name(cf->cycle, &cmcf->socket_dir, 0)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    while (cmcf->socket_dir.len > 1
           && cmcf->socket_dir.data[cmcf->socket_dir.len - 1] == '/')
    {
        cmcf->socket_dir.len--;
    }

    return NGX_CONF_OK;
}


static void *
ngx_rtmp_cluster_create_app_conf(ngx_conf_t *cf)
{
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_pcalloc(cf->pool, sizeof(ngx_rtmp_cluster_app_conf_t));
    if (cacf == NULL) {
        return NULL;
    }

    cacf->role = NGX_CONF_UNSET_UINT;
    cacf->origins = NGX_CONF_UNSET_PTR;
    cacf->coworkers = NGX_CONF_UNSET_PTR;
    cacf->managers = NGX_CONF_UNSET_PTR;
    cacf->lease_ttl = NGX_CONF_UNSET_MSEC;
    cacf->lookup_timeout = NGX_CONF_UNSET_MSEC;
    cacf->cache_found = NGX_CONF_UNSET_MSEC;
    cacf->cache_notfound = NGX_CONF_UNSET_MSEC;
    cacf->found = NGX_CONF_UNSET_UINT;
    cacf->redirect = NGX_CONF_UNSET_UINT;
    cacf->not_found = NGX_CONF_UNSET_UINT;
    cacf->wait_timeout = NGX_CONF_UNSET_MSEC;
    cacf->duplicate_publish = NGX_CONF_UNSET_UINT;
    cacf->redirect_depth = NGX_CONF_UNSET_UINT;
    cacf->redirect_targets = NGX_CONF_UNSET_UINT;
    cacf->gop_cache = NGX_CONF_UNSET;
    cacf->gop_max_frames = NGX_CONF_UNSET_UINT;
    cacf->gop_max_bytes = NGX_CONF_UNSET_SIZE;
    cacf->gop_max_duration = NGX_CONF_UNSET_MSEC;
    cacf->merge_window = NGX_CONF_UNSET_MSEC;
    cacf->merge_bytes = NGX_CONF_UNSET_SIZE;
    cacf->balance = NGX_CONF_UNSET_UINT;
    cacf->connect_timeout = NGX_CONF_UNSET_MSEC;
    cacf->media_timeout = NGX_CONF_UNSET_MSEC;
    cacf->retry_timeout = NGX_CONF_UNSET_MSEC;
    cacf->not_found_min = NGX_CONF_UNSET_MSEC;
    cacf->not_found_max = NGX_CONF_UNSET_MSEC;
    cacf->linger = NGX_CONF_UNSET_MSEC;
    cacf->pass_args = NGX_CONF_UNSET;
    cacf->forward_publish = NGX_CONF_UNSET;

    return cacf;
}


static char *
ngx_rtmp_cluster_merge_app_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_rtmp_cluster_app_conf_t *prev = parent;
    ngx_rtmp_cluster_app_conf_t *conf = child;

    u_char                        *p;
    ngx_uint_t                     i;
    ngx_rtmp_cluster_origin_t     *o;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    ngx_conf_merge_uint_value(conf->role, prev->role, NGX_RTMP_CLUSTER_OFF);
    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_uint_value(conf->balance, prev->balance,
                              NGX_RTMP_CLUSTER_BALANCE_HASH);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              3000);
    ngx_conf_merge_msec_value(conf->media_timeout, prev->media_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->retry_timeout, prev->retry_timeout,
                              30000);
    ngx_conf_merge_msec_value(conf->not_found_min, prev->not_found_min, 200);
    ngx_conf_merge_msec_value(conf->not_found_max, prev->not_found_max, 1000);
    ngx_conf_merge_msec_value(conf->linger, prev->linger, 5000);
    ngx_conf_merge_value(conf->pass_args, prev->pass_args, 1);
    ngx_conf_merge_value(conf->forward_publish, prev->forward_publish, 1);
    ngx_conf_merge_ptr_value(conf->coworkers, prev->coworkers, NULL);
    ngx_conf_merge_ptr_value(conf->managers, prev->managers, NULL);
    ngx_conf_merge_str_value(conf->manager_secret, prev->manager_secret, "");
    ngx_conf_merge_msec_value(conf->lease_ttl, prev->lease_ttl, 10000);
    ngx_conf_merge_str_value(conf->advertise, prev->advertise, "");
    ngx_conf_merge_msec_value(conf->lookup_timeout, prev->lookup_timeout,
                              500);
    ngx_conf_merge_msec_value(conf->cache_found, prev->cache_found, 3000);
    ngx_conf_merge_msec_value(conf->cache_notfound, prev->cache_notfound,
                              1000);
    ngx_conf_merge_uint_value(conf->found, prev->found,
                              NGX_RTMP_CLUSTER_FOUND_REDIRECT);
    ngx_conf_merge_uint_value(conf->redirect, prev->redirect,
                              NGX_RTMP_CLUSTER_REDIRECT_SRS);
    ngx_conf_merge_uint_value(conf->not_found, prev->not_found,
                              NGX_RTMP_CLUSTER_MISS_WAIT);
    ngx_conf_merge_msec_value(conf->wait_timeout, prev->wait_timeout,
                              30000);
    ngx_conf_merge_uint_value(conf->duplicate_publish,
                              prev->duplicate_publish,
                              1);
    ngx_conf_merge_uint_value(conf->redirect_depth, prev->redirect_depth, 3);
    ngx_conf_merge_uint_value(conf->redirect_targets, prev->redirect_targets,
                              NGX_RTMP_CLUSTER_TARGETS_ANY);

    if (conf->redirect_depth > NGX_RTMP_CLUSTER_MAX_REDIRECTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_redirect_depth\" must be 0 to %d",
                           NGX_RTMP_CLUSTER_MAX_REDIRECTS);
        return NGX_CONF_ERROR;
    }

    /* unset stays unset here: the default depends on the role, below */
    if (conf->gop_cache == NGX_CONF_UNSET) {
        conf->gop_cache = prev->gop_cache;
    }

    ngx_conf_merge_uint_value(conf->gop_max_frames, prev->gop_max_frames,
                              1024);
    ngx_conf_merge_size_value(conf->gop_max_bytes, prev->gop_max_bytes,
                              16 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->gop_max_duration,
                              prev->gop_max_duration, 10000);

    ngx_conf_merge_msec_value(conf->merge_window, prev->merge_window, 0);
    ngx_conf_merge_size_value(conf->merge_bytes, prev->merge_bytes,
                              NGX_RTMP_CLUSTER_MERGE_BYTES);

    if (conf->gop_max_frames == 0 || conf->gop_max_frames > 65536) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_gop_max_frames\" must be 1 to 65536");
        return NGX_CONF_ERROR;
    }

    if (conf->role == NGX_RTMP_CLUSTER_OFF) {
        return NGX_CONF_OK;
    }

    /* on by default where the module has a role */
    if (conf->gop_cache == NGX_CONF_UNSET) {
        conf->gop_cache = 1;
    }

    if (conf->lease_ttl < 3000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_lease_ttl\" must be at least 3s");
        return NGX_CONF_ERROR;
    }

    if (conf->lookup_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_lookup_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    /* a waiting play is always given up some time: no "0", no "off" */
    if (conf->wait_timeout < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_wait_timeout\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    if (conf->advertise.len) {
        p = ngx_strlchr(conf->advertise.data,
                        conf->advertise.data + conf->advertise.len, ':');

        if (p == conf->advertise.data
            || conf->advertise.len >= NGX_RTMP_CLUSTER_ADDR_LEN
            || (p && ngx_atoi(p + 1, conf->advertise.data
                                     + conf->advertise.len - p - 1)
                     <= 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_advertise\": invalid address "
                               "\"%V\", expected host[:port]",
                               &conf->advertise);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->connect_timeout == 0 || conf->media_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_connect_timeout\" and "
                           "\"cluster_media_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->role == NGX_RTMP_CLUSTER_EDGE) {
        if (conf->origins == NULL || conf->origins->nelts == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster edge\" needs at least one "
                               "\"cluster_origin\"");
            return NGX_CONF_ERROR;
        }

        conf->total_weight = 0;
        o = conf->origins->elts;

        for (i = 0; i < conf->origins->nelts; i++) {
            if (!o[i].backup) {
                conf->total_weight += o[i].weight;
            }
        }

        if (conf->total_weight == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_origin\": every origin is a "
                               "backup; at least one must not be");
            return NGX_CONF_ERROR;
        }
    }

    cmcf = ngx_rtmp_conf_get_module_main_conf(cf, ngx_rtmp_cluster_module);
    cmcf->roles++;

    return NGX_CONF_OK;
}


static char *
ngx_rtmp_cluster_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_cluster_main_conf_t *cmcf = conf;

    u_char                   *p;
    ssize_t                   size;
    ngx_str_t                *value, name, s;
    ngx_rtmp_cluster_zone_t  *ctx;

    if (cmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');
    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_zone\": invalid zone \"%V\", "
                           "expected name:size",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_zone\": invalid size in \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_zone\": zone \"%V\" is too small, "
                           "the minimum is %uzk",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_rtmp_cluster_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->origins = &cmcf->origins;

    cmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_rtmp_cluster_module);
    if (cmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_zone\": zone \"%V\" is already used",
                           &name);
        return NGX_CONF_ERROR;
    }

    cmcf->shm_zone->init = ngx_rtmp_cluster_zone_init;
    cmcf->shm_zone->data = ctx;

    return NGX_CONF_OK;
}


/*
 * cluster_origin host[:port] [weight=N] [max_fails=N] [fail_timeout=T]
 *                [backup];
 * may be repeated; the address is resolved here, at configuration time.
 */

static char *
ngx_rtmp_cluster_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_cluster_app_conf_t *cacf = conf;

    u_char                        *p;
    ngx_int_t                      n;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
    ngx_rtmp_cluster_origin_t     *o, **po;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    if (cacf->origins == NGX_CONF_UNSET_PTR) {
        /*
         * room for all at once: the main configuration keeps pointers to
         * the elements, so the array must never move
         */
        cacf->origins = ngx_array_create(cf->pool,
                                         NGX_RTMP_CLUSTER_MAX_ORIGINS,
                                         sizeof(ngx_rtmp_cluster_origin_t));
        if (cacf->origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (cacf->origins->nelts == NGX_RTMP_CLUSTER_MAX_ORIGINS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_origin\": too many origins, "
                           "the maximum is %d",
                           NGX_RTMP_CLUSTER_MAX_ORIGINS);
        return NGX_CONF_ERROR;
    }

    o = ngx_array_push(cacf->origins);
    if (o == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(o, sizeof(ngx_rtmp_cluster_origin_t));

    value = cf->args->elts;

    o->weight = 1;
    o->max_fails = 1;
    o->fail_timeout = 10000;

    o->url.url = value[1];
    o->url.default_port = 1935;
    o->url.uri_part = 1;

    if (ngx_strncasecmp(o->url.url.data, (u_char *) "rtmp://", 7) == 0) {
        o->url.url.data += 7;
        o->url.url.len -= 7;
    }

    if (ngx_parse_url(cf->pool, &o->url) != NGX_OK) {
        if (o->url.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_origin\": %s in \"%V\"",
                               o->url.err, &value[1]);
        }

        return NGX_CONF_ERROR;
    }

    if (o->url.uri.len > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_origin\": \"%V\" must be host:port, "
                           "without an application or stream", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (o->url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_origin\": \"%V\" has no address",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    o->host = o->url.host;
    o->port = o->url.port ? o->url.port : 1935;

    o->name.len = o->host.len + sizeof(":65535") - 1;
    o->name.data = ngx_pnalloc(cf->pool, o->name.len);
    if (o->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(o->name.data, "%V:%d", &o->host, (int) o->port);
    o->name.len = p - o->name.data;

    if (o->name.len >= NGX_RTMP_CLUSTER_ADDR_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_origin\": \"%V\" is too long",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "weight=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n == NGX_ERROR || n == 0 || n > 100) {
                goto invalid;
            }

            o->weight = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_fails=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            o->max_fails = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            o->fail_timeout = n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "backup") == 0) {
            o->backup = 1;
            continue;
        }

        goto invalid;
    }

    /* one health record per address, whichever application names it */

    cmcf = ngx_rtmp_conf_get_module_main_conf(cf, ngx_rtmp_cluster_module);

    po = ngx_array_push(&cmcf->origins);
    if (po == NULL) {
        return NGX_CONF_ERROR;
    }

    *po = o;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"cluster_origin\": invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * cluster_coworkers host:port ...;  the HTTP API addresses of the other
 * origins.  cluster_manager http://host:port/path ...;  stream managers,
 * tried in order.  Resolved here; requests go to the address, with the
 * configured name as Host (and as SRS's "coworker" parameter).
 */

static char *
ngx_rtmp_cluster_http_peers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char  *p = conf;

    u_char                       *q;
    ngx_url_t                     u;
    ngx_str_t                    *value;
    ngx_uint_t                    i, with_path;
    ngx_array_t                 **peers;
    ngx_rtmp_cluster_coworker_t  *cw;

    peers = (ngx_array_t **) (p + cmd->offset);
    with_path = (cmd->offset == offsetof(ngx_rtmp_cluster_app_conf_t,
                                         managers));

    if (*peers == NGX_CONF_UNSET_PTR) {
        *peers = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_rtmp_cluster_coworker_t));
        if (*peers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if ((*peers)->nelts == NGX_RTMP_CLUSTER_MAX_COWORKERS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": too many addresses, the maximum "
                               "is %d", &cmd->name,
                               NGX_RTMP_CLUSTER_MAX_COWORKERS);
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[i];
        u.default_port = 80;
        u.uri_part = 1;

        if (ngx_strncasecmp(u.url.data, (u_char *) "http://", 7) == 0) {
            u.url.data += 7;
            u.url.len -= 7;
        }

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": %s in \"%V\"", &cmd->name,
                               u.err ? u.err : "no address", &value[i]);
            return NGX_CONF_ERROR;
        }

        while (u.uri.len && u.uri.data[u.uri.len - 1] == '/') {
            u.uri.len--;
        }

        if ((!with_path && u.uri.len)
            || u.url.len >= NGX_RTMP_CLUSTER_ADDR_LEN + u.uri.len
            || u.uri.len > 256)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": \"%V\" must be host:port of an "
                               "HTTP API%s", &cmd->name, &value[i],
                               with_path ? ", with an optional path" : "");
            return NGX_CONF_ERROR;
        }

        cw = ngx_array_push(*peers);
        if (cw == NULL) {
            return NGX_CONF_ERROR;
        }

        cw->name = u.url;
        cw->name.len = u.host.len + (u.port_text.len ? 1 + u.port_text.len
                                                     : 0);
        if (u.port_text.len == 0) {
            cw->name = u.host;
        }

        cw->url.data = ngx_pnalloc(cf->pool, sizeof("http://")
                                             + NGX_SOCKADDR_STRLEN
                                             + u.uri.len);
        if (cw->url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        q = ngx_cpymem(cw->url.data, "http://", sizeof("http://") - 1);
        q += ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, q,
                           NGX_SOCKADDR_STRLEN, 1);

        if (u.uri.len) {
            q = ngx_cpymem(q, u.uri.data, u.uri.len);
        }
        cw->url.len = q - cw->url.data;
    }

    return NGX_CONF_OK;
}


/* cluster_lookup_cache found [not_found]; */

static char *
ngx_rtmp_cluster_lookup_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_rtmp_cluster_app_conf_t *cacf = conf;

    ngx_str_t   *value;
    ngx_msec_t   found, notfound;

    if (cacf->cache_found != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    found = (ngx_msec_t) ngx_parse_time(&value[1], 0);
    notfound = (cf->args->nelts == 3)
               ? (ngx_msec_t) ngx_parse_time(&value[2], 0) : found;

    if (found == (ngx_msec_t) NGX_ERROR || notfound == (ngx_msec_t) NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_lookup_cache\": invalid time");
        return NGX_CONF_ERROR;
    }

    cacf->cache_found = found;
    cacf->cache_notfound = notfound;

    return NGX_CONF_OK;
}


/*
 * cluster_not_found_backoff min [max];  how soon an edge asks its
 * origins again while none has the stream: min, doubling up to max
 */

static char *
ngx_rtmp_cluster_not_found_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_rtmp_cluster_app_conf_t *cacf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (cacf->not_found_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = (ngx_msec_t) ngx_parse_time(&value[1], 0);
    max = (cf->args->nelts == 3)
          ? (ngx_msec_t) ngx_parse_time(&value[2], 0) : min;

    if (min == (ngx_msec_t) NGX_ERROR || max == (ngx_msec_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_not_found_backoff\": invalid time");
        return NGX_CONF_ERROR;
    }

    /* below 10ms an edge would hammer origins that lack the stream */

    if (min < 10 || max > 60000 || max < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_not_found_backoff\": expected "
                           "min [max] with 10ms <= min <= max <= 60s");
        return NGX_CONF_ERROR;
    }

    cacf->not_found_min = min;
    cacf->not_found_max = max;

    return NGX_CONF_OK;
}


/* as ngx_conf_set_enum_slot, with an error that lists the choices */

static char *
ngx_rtmp_cluster_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char  *p = conf;

    u_char           *q;
    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;
    u_char            choices[256];

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;
    q = choices;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }

        q = ngx_slprintf(q, choices + sizeof(choices), "%s%V",
                         i ? ", " : "", &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\", expected one of: %*s",
                       &value[1], &cmd->name, q - choices, choices);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_rtmp_cluster_postconfiguration(ngx_conf_t *cf)
{
    ngx_rtmp_handler_pt           *h;
    ngx_rtmp_amf_handler_t        *ch;
    ngx_rtmp_core_main_conf_t     *cmcf;
    ngx_rtmp_cluster_main_conf_t  *ccmcf;

    ccmcf = ngx_rtmp_conf_get_module_main_conf(cf, ngx_rtmp_cluster_module);

    if (ccmcf->roles && ccmcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster\" needs a shared zone: add "
                           "\"cluster_zone name:size;\" to the rtmp block");
        return NGX_ERROR;
    }

    cmcf = ngx_rtmp_conf_get_module_main_conf(cf, ngx_rtmp_core_module);

    h = ngx_array_push(&cmcf->events[NGX_RTMP_MSG_AUDIO]);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_rtmp_cluster_av;

    h = ngx_array_push(&cmcf->events[NGX_RTMP_MSG_VIDEO]);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_rtmp_cluster_av;

    /* before every other module's, the live module's first */

    if (ngx_rtmp_cluster_first_handler(&cmcf->events[NGX_RTMP_MSG_AUDIO],
                                       ngx_rtmp_cluster_av_rebase)
        != NGX_OK
        || ngx_rtmp_cluster_first_handler(&cmcf->events[NGX_RTMP_MSG_VIDEO],
                                          ngx_rtmp_cluster_av_rebase)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_array_push(&cmcf->events[NGX_RTMP_DISCONNECT]);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_rtmp_cluster_disconnect;

    ch = ngx_array_push(&cmcf->amf);
    if (ch == NULL) {
        return NGX_ERROR;
    }
    ngx_str_set(&ch->name, "onStatus");
    ch->handler = ngx_rtmp_cluster_on_status;

    ch = ngx_array_push(&cmcf->amf);
    if (ch == NULL) {
        return NGX_ERROR;
    }
    ngx_str_set(&ch->name, "_error");
    ch->handler = ngx_rtmp_cluster_on_status;

    next_connect = ngx_rtmp_connect;
    ngx_rtmp_connect = ngx_rtmp_cluster_connect;

    next_play = ngx_rtmp_play;
    ngx_rtmp_play = ngx_rtmp_cluster_play;

    next_publish = ngx_rtmp_publish;
    ngx_rtmp_publish = ngx_rtmp_cluster_publish;

    next_close_stream = ngx_rtmp_close_stream;
    ngx_rtmp_close_stream = ngx_rtmp_cluster_close_stream;

    return NGX_OK;
}


static ngx_int_t
ngx_rtmp_cluster_first_handler(ngx_array_t *a, ngx_rtmp_handler_pt handler)
{
    ngx_rtmp_handler_pt  *h;

    h = ngx_array_push(a);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = a->elts;
    ngx_memmove(&h[1], &h[0], (a->nelts - 1) * sizeof(ngx_rtmp_handler_pt));
    h[0] = handler;

    return NGX_OK;
}


/*
 * The worker's watch timer: every half second, the relay sockets are
 * checked; once the worker shuts down, every 200 ms its remaining pulls
 * move to the streams' new owners, and once worker_shutdown_timeout has
 * passed (nginx then marks every connection "close", which nginx-rtmp
 * ignores) rtmp sessions are ended, so the worker exits in time even with
 * relays live.
 */

#define NGX_RTMP_CLUSTER_WATCH          500
#define NGX_RTMP_CLUSTER_WATCH_EXITING  200

static ngx_event_t           ngx_rtmp_cluster_watch;
static ngx_connection_t      ngx_rtmp_cluster_watch_dummy;
static ngx_uint_t            ngx_rtmp_cluster_watch_exiting;
static ngx_event_handler_pt  ngx_rtmp_cluster_recv;   /* nginx-rtmp's */


static ngx_int_t
ngx_rtmp_cluster_init_process(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_zone_t  *zone;

    zone = ngx_rtmp_cluster_zone_get(cycle);
    if (zone == NULL) {
        return NGX_OK;
    }

    /* what workers that died left in the zone */
    ngx_rtmp_cluster_zone_sweep(zone);

    if (ngx_rtmp_cluster_fetch_init(cycle) != NGX_OK
        || ngx_rtmp_cluster_lookup_init_process(cycle) != NGX_OK
        || ngx_rtmp_cluster_origin_init_process(cycle) != NGX_OK
        || ngx_rtmp_cluster_workers_init_process(cycle) != NGX_OK
        || ngx_rtmp_cluster_edge_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_rtmp_cluster_stream_init(cycle);

    ngx_rtmp_cluster_watch_dummy.fd = (ngx_socket_t) -1;
    ngx_rtmp_cluster_watch.data = &ngx_rtmp_cluster_watch_dummy;
    ngx_rtmp_cluster_watch.log = cycle->log;
    ngx_rtmp_cluster_watch.handler = ngx_rtmp_cluster_watch_handler;
    ngx_rtmp_cluster_watch.cancelable = 1;

    ngx_add_timer(&ngx_rtmp_cluster_watch, NGX_RTMP_CLUSTER_WATCH);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_exit_process(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_workers_exit_process(cycle);
    ngx_rtmp_cluster_stream_exit(cycle);
    ngx_rtmp_cluster_fetch_exit(cycle);
}


static void
ngx_rtmp_cluster_watch_handler(ngx_event_t *ev)
{
    ngx_uint_t         i;
    ngx_connection_t  *c;

    if (!ngx_exiting) {
        ngx_rtmp_cluster_workers_check((ngx_cycle_t *) ngx_cycle);
        ngx_add_timer(ev, NGX_RTMP_CLUSTER_WATCH);
        return;
    }

    if (!ngx_rtmp_cluster_watch_exiting) {
        ngx_rtmp_cluster_watch_exiting = 1;
        ngx_rtmp_cluster_workers_exiting((ngx_cycle_t *) ngx_cycle);
        ngx_rtmp_cluster_stream_shutdown();
    }

    /* our remaining players move to the streams' new owners */
    ngx_rtmp_cluster_stream_exiting();

    c = ngx_cycle->connections;

    for (i = 0; i < ngx_cycle->connection_n; i++) {
        if (c[i].fd == (ngx_socket_t) -1 || !c[i].close || c[i].destroyed
            || c[i].read == NULL || c[i].read->accept
            || ngx_rtmp_cluster_recv == NULL
            || c[i].read->handler != ngx_rtmp_cluster_recv)
        {
            continue;
        }

        ngx_rtmp_finalize_session(c[i].data);
    }

    ngx_add_timer(ev, NGX_RTMP_CLUSTER_WATCH_EXITING);
}


/* the session's context: its member of a stream ends it through end() */

ngx_rtmp_cluster_ctx_t *
ngx_rtmp_cluster_session_ctx(ngx_rtmp_session_t *s)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(s->connection->pool, sizeof(ngx_rtmp_cluster_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_rtmp_set_ctx(s, ctx, ngx_rtmp_cluster_module);

    ctx->session = s;
    ctx->member.data = s;
    ctx->member.end = ngx_rtmp_cluster_session_end;
    ctx->member.connection = s->connection;

    return ctx;
}


/* a stream ends an RTMP session: told why (level "error" ends a play) */

void
ngx_rtmp_cluster_session_end(ngx_rtmp_cluster_member_t *m, const char *why)
{
    ngx_rtmp_session_t  *s;

    s = m->data;

    if (why) {
        (void) ngx_rtmp_send_status(s, "NetStream.Play.Failed", "error",
                                    (char *) why);
    }

    ngx_rtmp_finalize_session(s);
}


/*
 * nginx-rtmp answers connect with four small messages, each written at
 * once: with Nagle, the second waits for the client's delayed ack (40 ms
 * on Linux), and every play, pull and redirect pays it before its first
 * frame.  The application is not known yet: on a host with cluster roles,
 * every TCP session goes without Nagle.
 */

static ngx_int_t
ngx_rtmp_cluster_connect(ngx_rtmp_session_t *s, ngx_rtmp_connect_t *v)
{
    ngx_rtmp_cluster_main_conf_t  *ccmcf;

    ccmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_cluster_module);

    if (ccmcf && ccmcf->roles
        && s->connection->sockaddr->sa_family != AF_UNIX)
    {
        (void) ngx_tcp_nodelay(s->connection);
    }

    return next_connect(s, v);
}


static ngx_int_t
ngx_rtmp_cluster_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v)
{
    ngx_int_t                     rc;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (cacf == NULL || s->relay || cacf->role == NGX_RTMP_CLUSTER_OFF
        || ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle) == NULL)
    {
        return next_play(s, v);
    }

    /* sessions this module sees tell which read handler is nginx-rtmp's */
    if (ngx_rtmp_cluster_recv == NULL) {
        ngx_rtmp_cluster_recv = s->connection->read->handler;
    }

    if (ngx_rtmp_cluster_names_valid(s, v->name, v->args) != NGX_OK) {
        (void) ngx_rtmp_send_status(s, "NetStream.Play.Failed", "error",
                                    "cluster: invalid stream name");
        ngx_rtmp_finalize_session(s);
        return NGX_OK;
    }

    if (cacf->role == NGX_RTMP_CLUSTER_ORIGIN) {
        rc = ngx_rtmp_cluster_origin_play(s, v,
                                           ngx_rtmp_cluster_next_play);

    } else {
        rc = ngx_rtmp_cluster_edge_play(s, v);

        /* the player joined the worker's stream: nginx-rtmp's play next */
        if (rc == NGX_OK) {
            rc = NGX_DECLINED;
        }
    }

    return (rc == NGX_DECLINED) ? ngx_rtmp_cluster_next_play(s, v) : rc;
}


/* nginx-rtmp's play, then the cached GOP at once */

static ngx_int_t
ngx_rtmp_cluster_next_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v)
{
    ngx_int_t  rc;

    rc = next_play(s, v);

    if (rc == NGX_OK && !s->connection->destroyed) {
        ngx_rtmp_cluster_gop_send(s);
    }

    return rc;
}


/* nginx-rtmp's publish, then (an origin's) the registration */

static ngx_int_t
ngx_rtmp_cluster_next_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_int_t  rc;

    rc = next_publish(s, v);

    if (rc == NGX_OK) {
        ngx_rtmp_cluster_origin_published(s, v);
    }

    return rc;
}


static ngx_int_t
ngx_rtmp_cluster_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_int_t                     rc;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (cacf == NULL || cacf->role == NGX_RTMP_CLUSTER_OFF
        || ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle) == NULL)
    {
        return next_publish(s, v);
    }

    if (s->relay) {
        /* a pull (or an origin's proxy) publishing here: not registered */

        rc = next_publish(s, v);

        ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

        if (rc == NGX_OK && ctx
            && ctx->member.role == NGX_RTMP_CLUSTER_UPSTREAM)
        {
            /* our pull got createStream's result and now plays upstream */
            ngx_rtmp_cluster_stream_upstream_published(s);
        }

        return rc;
    }

    if (ngx_rtmp_cluster_names_valid(s, v->name, v->args) != NGX_OK) {
        (void) ngx_rtmp_send_status(s, "NetStream.Publish.BadName", "error",
                                    "cluster: invalid stream name");
        ngx_rtmp_finalize_session(s);
        return NGX_OK;
    }

    if (cacf->role == NGX_RTMP_CLUSTER_ORIGIN) {
        rc = ngx_rtmp_cluster_origin_publish(s, v,
                                            ngx_rtmp_cluster_next_publish);

        return (rc == NGX_DECLINED) ? ngx_rtmp_cluster_next_publish(s, v)
                                    : rc;
    }

    ngx_rtmp_cluster_edge_publish(s, v);

    rc = next_publish(s, v);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_rtmp_cluster_edge_published(s, v);
}


/*
 * A session leaves its stream (deleteStream, or its end): before the live
 * module tells the players, nothing is held back.  An upstream session
 * stays its stream's member until its disconnect, which tells the engine
 * the upstream ended.
 */

static ngx_int_t
ngx_rtmp_cluster_close_stream(ngx_rtmp_session_t *s,
    ngx_rtmp_close_stream_t *v)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (ctx) {
        ngx_rtmp_cluster_merge_close(s);
        ngx_rtmp_cluster_gop_free(ctx);
        ngx_rtmp_cluster_origin_close(s);

        if (ctx->member.role != NGX_RTMP_CLUSTER_UPSTREAM) {
            ngx_rtmp_cluster_stream_leave(&ctx->member);
        }
    }

    return next_close_stream(s, v);
}


static ngx_int_t
ngx_rtmp_cluster_av(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    /* after the live module's handler: the GOP ends with what it sent */
    ngx_rtmp_cluster_gop_add(s, h, in);
    ngx_rtmp_cluster_merge_av(s, h, in);

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (!s->relay) {
        if (ctx && ctx->member.role == NGX_RTMP_CLUSTER_PUBLISHER) {
            ngx_rtmp_cluster_stream_media(&ctx->member, h, in);
        }

        return NGX_OK;
    }

    if (ctx && ctx->member.role == NGX_RTMP_CLUSTER_UPSTREAM) {
        ngx_rtmp_cluster_stream_upstream_media(s, h);
    }

    if (ctx) {
        /* HTTP viewers: once the stream is live from this session */
        ngx_rtmp_cluster_stream_media(&ctx->member, h, in);
    }

    return NGX_OK;
}


/*
 * Audio and video from our upstream sessions, first of all handlers: the
 * stream's timeline (ngx_rtmp_cluster_timeline.c) may move the message's
 * timestamp.  The header nginx-rtmp passes is its chunk stream's own,
 * to which the next chunk's delta is added, so it is left as it is: the
 * other handlers (codec, live, record, ours) run here on a copy that
 * carries the new timestamp, and NGX_DONE ends nginx-rtmp's loop.
 */

static ngx_int_t
ngx_rtmp_cluster_av_rebase(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_uint_t                  i, n, header;
    ngx_rtmp_header_t           rh;
    ngx_rtmp_handler_pt        *evh;
    ngx_rtmp_cluster_ctx_t     *ctx;
    ngx_rtmp_core_main_conf_t  *cmcf;

    if (!s->relay || in == NULL || in->buf == NULL) {
        return NGX_OK;
    }

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (ctx == NULL || ctx->member.role != NGX_RTMP_CLUSTER_UPSTREAM) {
        return NGX_OK;
    }

    /* AVC and AAC sequence headers, whose timestamps say nothing */
    header = ngx_rtmp_is_codec_header(in)
             && (h->type == NGX_RTMP_MSG_VIDEO
                 || (in->buf->pos[0] >> 4) == NGX_RTMP_AUDIO_AAC);

    rh = *h;
    rh.timestamp = ngx_rtmp_cluster_stream_upstream_time(s, h, header);

    if (rh.timestamp == h->timestamp) {
        return NGX_OK;
    }

    cmcf = ngx_rtmp_get_module_main_conf(s, ngx_rtmp_core_module);

    evh = cmcf->events[h->type].elts;
    n = cmcf->events[h->type].nelts;

    for (i = 0; i < n && evh[i] != ngx_rtmp_cluster_av_rebase; i++) {
        /* void */
    }

    for (i++; i < n; i++) {

        switch (evh[i](s, &rh, in)) {

        case NGX_ERROR:
            return NGX_ERROR;

        case NGX_DONE:
            return NGX_DONE;
        }
    }

    return NGX_DONE;
}


/* onStatus and _error from an origin we pull from or push to */

static ngx_int_t
ngx_rtmp_cluster_on_status(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_rtmp_cluster_ctx_t     *ctx;
    ngx_rtmp_cluster_status_t   st;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);

    if (!s->relay || ctx == NULL
        || ctx->member.role != NGX_RTMP_CLUSTER_UPSTREAM
        || h->type != NGX_RTMP_MSG_AMF_CMD)
    {
        return NGX_OK;
    }

    if (ngx_rtmp_cluster_read_status(in, s->connection->log, &st) != NGX_OK)
    {
        /* a broken peer: counts against the origin's health */
        ngx_rtmp_cluster_stream_upstream_status(s, NULL);
        return NGX_OK;
    }

    ngx_rtmp_cluster_stream_upstream_status(s, &st);

    return NGX_OK;
}


static ngx_int_t
ngx_rtmp_cluster_disconnect(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    ngx_rtmp_cluster_ctx_t  *ctx;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->member.role == NGX_RTMP_CLUSTER_UPSTREAM) {
        ngx_rtmp_cluster_stream_upstream_closed(s);
    }

    /* whatever its stream, the session holds it no more */
    ngx_rtmp_cluster_stream_leave(&ctx->member);

    return NGX_OK;
}


/*
 * No control bytes in a client's application, stream name or arguments:
 * they would reach peers' URLs, the zone's keys and the logs.  (nginx-rtmp
 * has already cut a name at its first NUL.)
 */

static ngx_int_t
ngx_rtmp_cluster_names_valid(ngx_rtmp_session_t *s, u_char *name,
    u_char *args)
{
    size_t  len;

    len = ngx_strlen(args);

    if (ngx_rtmp_cluster_name_valid(s->app.data, s->app.len) == NGX_OK
        && ngx_rtmp_cluster_name_valid(name, ngx_strlen(name)) == NGX_OK
        && (len == 0 || ngx_rtmp_cluster_name_valid(args, len) == NGX_OK))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "cluster: refused an application, stream name or "
                  "arguments with control characters");

    return NGX_DECLINED;
}
