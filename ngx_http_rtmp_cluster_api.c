
/*
 * ngx_rtmp_cluster: the coworker API, answered as SRS does at
 * /api/v1/clusters, from the registry of streams published on this host.
 * As SRS, the answer names the answering server (its own API address,
 * the vhost the stream was published in) and closes the connection.
 */


#include "ngx_http_rtmp_cluster.h"


static void ngx_http_rtmp_cluster_api_app(ngx_str_t *app,
    ngx_rtmp_cluster_app_conf_t **cacfp, ngx_rtmp_core_srv_conf_t **cscfp);
static ngx_int_t ngx_http_rtmp_cluster_api_self(ngx_http_request_t *r,
    ngx_str_t *advertise, ngx_str_t *api);


ngx_int_t
ngx_http_rtmp_cluster_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc, found;
    const char                    *error;
    ngx_str_t                      vhost, ip, app, stream, coworker;
    ngx_str_t                      key, host;
    in_port_t                      port;
    yajl_gen                       g;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_core_srv_conf_t      *cscf;
    ngx_rtmp_cluster_app_conf_t   *cacf;
    u_char                         key_buf[NGX_RTMP_CLUSTER_KEY_LEN];
    u_char                         name_buf[NGX_RTMP_MAX_NAME];

    ngx_http_rtmp_cluster_srs_query_t  q;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* any method, as SRS; each answer closes the connection, as SRS's */

    r->keepalive = 0;

    if (ngx_http_rtmp_cluster_arg(r, "vhost", &vhost) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "ip", &ip) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "app", &app) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "stream", &stream) != NGX_OK
        || ngx_http_rtmp_cluster_arg(r, "coworker", &coworker) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q.vhost = vhost;
    q.ip = ip;
    q.app = app;
    q.stream = stream;
    q.coworker = coworker;
    ngx_str_null(&q.advertise);

    /* no app or no stream: nothing is published under it, as SRS says */

    if (app.len == 0 || stream.len == 0) {
        return ngx_http_rtmp_cluster_srs_answer(r, &q, NULL, 0);
    }

    error = NULL;

    if (stream.len >= NGX_RTMP_MAX_NAME
        || app.len + 1 + stream.len > NGX_RTMP_CLUSTER_KEY_LEN)
    {
        error = "app and stream are too long";

    } else if (ngx_rtmp_cluster_name_valid(app.data, app.len) != NGX_OK
               || ngx_rtmp_cluster_name_valid(stream.data, stream.len)
                  != NGX_OK)
    {
        /* a NUL would cut the name short: "s%00x" is not "s" */
        error = "app and stream must not contain control characters";
    }

    if (error) {
        g = ngx_rtmp_cluster_json_gen(0);
        if (g == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_int(g, "code", NGX_HTTP_BAD_REQUEST);
        ngx_rtmp_cluster_json_str(g, "error", (u_char *) error,
                                  ngx_strlen(error));
        yajl_gen_map_close(g);

        return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_BAD_REQUEST, g);
    }

    ngx_memcpy(name_buf, stream.data, stream.len);
    name_buf[stream.len] = '\0';

    (void) ngx_rtmp_cluster_key(&app, name_buf, &key, key_buf);

    found = 0;
    cacf = NULL;
    cscf = NULL;
    port = 0;

    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (zone) {
        ngx_http_rtmp_cluster_api_app(&app, &cacf, &cscf);
    }

    if (cacf) {
        if (ngx_rtmp_cluster_registry_find(zone, &key)
            && ngx_rtmp_cluster_advertised(cacf, cscf, &coworker, &host,
                                           &port)
               == NGX_OK)
        {
            found = 1;
        }

        q.advertise = cacf->advertise;
    }

    return ngx_http_rtmp_cluster_srs_answer(r, &q, found ? &host : NULL,
                                            port);
}


/*
 * SRS's answer, keys in SRS's order; host NULL: "origin": null.  Shared
 * by origins and the stream manager.
 */

ngx_int_t
ngx_http_rtmp_cluster_srs_answer(ngx_http_request_t *r,
    ngx_http_rtmp_cluster_srs_query_t *q, ngx_str_t *host, in_port_t port)
{
    yajl_gen    g;
    ngx_str_t   api, origin_vhost;

    /*
     * The query is echoed as asked; the origin's vhost is the one the
     * stream was published in, whatever was asked: nginx-rtmp has none
     * but SRS's default.
     */

    ngx_str_set(&origin_vhost, "__defaultVhost__");
    ngx_str_null(&api);

    r->keepalive = 0;

    if (host && ngx_http_rtmp_cluster_api_self(r, &q->advertise, &api)
                != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = ngx_rtmp_cluster_json_gen(0);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_rtmp_cluster_json_int(g, "code", 0);

    ngx_rtmp_cluster_json_key(g, "data");
    yajl_gen_map_open(g);

    ngx_rtmp_cluster_json_key(g, "query");
    yajl_gen_map_open(g);
    ngx_rtmp_cluster_json_str(g, "ip", q->ip.data, q->ip.len);
    ngx_rtmp_cluster_json_str(g, "vhost", q->vhost.data, q->vhost.len);
    ngx_rtmp_cluster_json_str(g, "app", q->app.data, q->app.len);
    ngx_rtmp_cluster_json_str(g, "stream", q->stream.data, q->stream.len);
    yajl_gen_map_close(g);

    ngx_rtmp_cluster_json_key(g, "origin");

    if (host) {
        yajl_gen_map_open(g);
        ngx_rtmp_cluster_json_str(g, "ip", host->data, host->len);

        /* the RTMP port, not this API's */
        ngx_rtmp_cluster_json_int(g, "port", port);

        ngx_rtmp_cluster_json_str(g, "vhost", origin_vhost.data,
                                  origin_vhost.len);
        ngx_rtmp_cluster_json_str(g, "api", api.data, api.len);

        ngx_rtmp_cluster_json_key(g, "routers");
        yajl_gen_array_open(g);
        ngx_rtmp_cluster_json_value(g, api.data, api.len);
        yajl_gen_array_close(g);

        yajl_gen_map_close(g);

    } else {
        yajl_gen_null(g);
    }

    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    return ngx_http_rtmp_cluster_send_json(r, NGX_HTTP_OK, g);
}


/*
 * This API's own address, as SRS answers its http_api listen: the
 * address and port the request came to (a wildcard listen's real
 * address), or cluster_advertise's host with that port.
 */

static ngx_int_t
ngx_http_rtmp_cluster_api_self(ngx_http_request_t *r, ngx_str_t *advertise,
    ngx_str_t *api)
{
    u_char            *p;
    in_port_t          port;
    ngx_str_t          local;
    ngx_connection_t  *c;

    c = r->connection;

    api->data = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN);
    if (api->data == NULL) {
        return NGX_ERROR;
    }

    local.data = api->data;
    local.len = NGX_SOCKADDR_STRLEN;

    if (ngx_connection_local_sockaddr(c, &local, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    *api = local;

    if (advertise->len == 0) {
        return NGX_OK;
    }

    /* the advertised host (its port is the RTMP one) and our port */

    port = ngx_inet_get_port(c->local_sockaddr);

    p = ngx_strlchr(advertise->data, advertise->data + advertise->len, ':');
    if (p == NULL) {
        p = advertise->data + advertise->len;
    }

    api->data = ngx_pnalloc(r->pool, (p - advertise->data)
                                     + sizeof(":65535") - 1);
    if (api->data == NULL) {
        return NGX_ERROR;
    }

    api->len = ngx_sprintf(api->data, "%*s:%d",
                           (size_t) (p - advertise->data), advertise->data,
                           (int) port)
               - api->data;

    return NGX_OK;
}


/* a query parameter, unescaped; empty when absent */

ngx_int_t
ngx_http_rtmp_cluster_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    return ngx_rtmp_cluster_arg(r->pool, &r->args, name, value);
}


/* the first origin application of that name, in any rtmp server */

static void
ngx_http_rtmp_cluster_api_app(ngx_str_t *app,
    ngx_rtmp_cluster_app_conf_t **cacfp, ngx_rtmp_core_srv_conf_t **cscfp)
{
    ngx_uint_t                    n, m;
    ngx_rtmp_conf_ctx_t          *rctx;
    ngx_rtmp_core_srv_conf_t    **cscf;
    ngx_rtmp_core_app_conf_t    **cacf;
    ngx_rtmp_core_main_conf_t    *cmcf;
    ngx_rtmp_cluster_app_conf_t  *ccf;

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        return;
    }

    cmcf = rctx->main_conf[ngx_rtmp_core_module.ctx_index];
    cscf = cmcf->servers.elts;

    for (n = 0; n < cmcf->servers.nelts; n++) {
        cacf = cscf[n]->applications.elts;

        for (m = 0; m < cscf[n]->applications.nelts; m++) {
            ccf = cacf[m]->app_conf[ngx_rtmp_cluster_module.ctx_index];

            if (ccf->role == NGX_RTMP_CLUSTER_ORIGIN
                && cacf[m]->name.len == app->len
                && ngx_strncmp(cacf[m]->name.data, app->data, app->len) == 0)
            {
                *cacfp = ccf;
                *cscfp = cscf[n];
                return;
            }
        }
    }
}


/* the document of g, freed here, as the whole answer */

ngx_int_t
ngx_http_rtmp_cluster_send_json(ngx_http_request_t *r, ngx_uint_t status,
    yajl_gen g)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t           out;
    const unsigned char  *json;

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    yajl_gen_free(g);

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The application "app" of the rtmp block's server number "server" (from
 * 0) in the running cycle, for the HTTP viewers: its configuration
 * context in cctx, and our configuration of it; NULL if there is none.
 */

ngx_rtmp_cluster_app_conf_t *
ngx_http_rtmp_cluster_rtmp_app(ngx_uint_t server, ngx_str_t *app,
    ngx_rtmp_conf_ctx_t *cctx)
{
    ngx_uint_t                   n;
    ngx_rtmp_conf_ctx_t         *rctx;
    ngx_rtmp_core_srv_conf_t   **cscf;
    ngx_rtmp_core_app_conf_t   **cacf;
    ngx_rtmp_core_main_conf_t   *cmcf;

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        return NULL;
    }

    cmcf = rctx->main_conf[ngx_rtmp_core_module.ctx_index];

    if (server >= cmcf->servers.nelts) {
        return NULL;
    }

    cscf = cmcf->servers.elts;
    cacf = cscf[server]->applications.elts;

    for (n = 0; n < cscf[server]->applications.nelts; n++) {

        if (cacf[n]->name.len == app->len
            && ngx_strncmp(cacf[n]->name.data, app->data, app->len) == 0)
        {
            cctx->main_conf = rctx->main_conf;
            cctx->srv_conf = cscf[server]->ctx->srv_conf;
            cctx->app_conf = cacf[n]->app_conf;

            return cacf[n]->app_conf[ngx_rtmp_cluster_module.ctx_index];
        }
    }

    return NULL;
}
