
/*
 * ngx_rtmp_cluster: the stream manager (placeholder, being written).
 */


#include "ngx_http_rtmp_cluster.h"


static ngx_http_module_t  ngx_http_rtmp_cluster_manager_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_http_rtmp_cluster_manager_module = {
    NGX_MODULE_V1,
    &ngx_http_rtmp_cluster_manager_module_ctx,
    NULL,
    NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
