
/*
 * ngx_rtmp_cluster: the edge role's policy.
 *
 * A play of a stream this worker lacks becomes a pull, and a publish is
 * forwarded with a push: the stream engine (ngx_rtmp_cluster_stream.c)
 * runs both.  This file is the source the engine asks for upstreams: the
 * configured origins in the order the balancer gives for the stream
 * (weighted rendezvous hashing, a host-wide round robin, or the list's
 * order), usable primaries first, then usable backups; origins whose
 * circuit is open are left out.  And it decides which RTMP 302s are
 * followed: only host:port is taken from the URL, as SRS does; a loop, a
 * redirect too many, the unspecified address, this host's own address,
 * a host name that is not a configured origin (resolving it would block
 * the worker), and with "cluster_redirect_targets listed" any address
 * that is not a configured origin's are refused.  Addresses are compared
 * as numbers, so a loop through another spelling is caught at once.
 */


#include <math.h>
#include <ifaddrs.h>

#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_LOCAL_MAX  64


/* an address of a redirect chain, compared as numbers */
typedef struct {
    u_char                          addr[16];
    in_port_t                       port;
    u_short                         family;
} ngx_rtmp_cluster_hop_t;


/* the edge's state of a stream: its round and its redirect chain */
typedef struct {
    ngx_uint_t                      order[NGX_RTMP_CLUSTER_MAX_ORIGINS];
    ngx_uint_t                      norder;
    ngx_uint_t                      next;

    /* a 302's target, tried before the order goes on */
    ngx_rtmp_cluster_target_t       redirect;
    unsigned                        redirected:1;

    /* this attempt's addresses: the origin, then the redirects */
    ngx_uint_t                      nhops;
    ngx_rtmp_cluster_hop_t          hops[NGX_RTMP_CLUSTER_MAX_HOPS];
} ngx_rtmp_cluster_edge_ctx_t;


static ngx_int_t ngx_rtmp_cluster_edge_source_init(
    ngx_rtmp_cluster_stream_t *st, void *data);
static void ngx_rtmp_cluster_edge_source_round(ngx_rtmp_cluster_stream_t *st);
static ngx_int_t ngx_rtmp_cluster_edge_source_next(
    ngx_rtmp_cluster_stream_t *st, ngx_rtmp_cluster_target_t *t);
static ngx_int_t ngx_rtmp_cluster_edge_source_redirect(
    ngx_rtmp_cluster_stream_t *st, u_char *url, const char **why);
static void ngx_rtmp_cluster_edge_source_free(ngx_rtmp_cluster_stream_t *st);
static ngx_rtmp_cluster_origin_t *ngx_rtmp_cluster_edge_configured(
    ngx_rtmp_cluster_app_conf_t *cacf, ngx_str_t *host, in_addr_t inaddr,
    in_port_t port);
static ngx_int_t ngx_rtmp_cluster_edge_hop(ngx_rtmp_cluster_hop_t *hop,
    ngx_rtmp_cluster_target_t *t);
static ngx_uint_t ngx_rtmp_cluster_edge_in_hops(
    ngx_rtmp_cluster_edge_ctx_t *ectx, ngx_rtmp_cluster_hop_t *hop);
static ngx_uint_t ngx_rtmp_cluster_edge_own(ngx_rtmp_cluster_hop_t *hop);
static ngx_uint_t ngx_rtmp_cluster_edge_local(ngx_uint_t family,
    u_char *addr);
static u_char *ngx_rtmp_cluster_edge_hops_text(
    ngx_rtmp_cluster_edge_ctx_t *ectx, u_char *buf, u_char *last);


static const ngx_rtmp_cluster_source_t  ngx_rtmp_cluster_edge_source = {
    ngx_rtmp_cluster_edge_source_init,
    ngx_rtmp_cluster_edge_source_round,
    ngx_rtmp_cluster_edge_source_next,
    ngx_rtmp_cluster_edge_source_redirect,
    ngx_rtmp_cluster_edge_source_free
};


/* why a redirect was refused, with its chain: the engine logs it */
static u_char  ngx_rtmp_cluster_edge_why[NGX_RTMP_CLUSTER_MAX_HOPS
                                         * (NGX_INET6_ADDRSTRLEN + 12) + 128];

/* this host's addresses, read when the worker starts */
static ngx_uint_t              ngx_rtmp_cluster_edge_nlocal;
static ngx_rtmp_cluster_hop_t  ngx_rtmp_cluster_edge_locals[
                                   NGX_RTMP_CLUSTER_LOCAL_MAX];


ngx_int_t
ngx_rtmp_cluster_edge_init_process(ngx_cycle_t *cycle)
{
    struct ifaddrs          *ifa, *i;
    ngx_rtmp_cluster_hop_t  *hop;

    ngx_rtmp_cluster_edge_nlocal = 0;

    if (getifaddrs(&ifa) == -1) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "cluster: getifaddrs() failed, redirects to this "
                      "host are recognised on loopback only");
        return NGX_OK;
    }

    for (i = ifa; i; i = i->ifa_next) {

        if (i->ifa_addr == NULL
            || ngx_rtmp_cluster_edge_nlocal == NGX_RTMP_CLUSTER_LOCAL_MAX)
        {
            continue;
        }

        hop = &ngx_rtmp_cluster_edge_locals[ngx_rtmp_cluster_edge_nlocal];
        ngx_memzero(hop, sizeof(ngx_rtmp_cluster_hop_t));

        if (i->ifa_addr->sa_family == AF_INET) {
            hop->family = AF_INET;
            ngx_memcpy(hop->addr,
                       &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
            ngx_rtmp_cluster_edge_nlocal++;

#if (NGX_HAVE_INET6)
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            hop->family = AF_INET6;
            ngx_memcpy(hop->addr,
                       &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
            ngx_rtmp_cluster_edge_nlocal++;
#endif
        }
    }

    freeifaddrs(ifa);

    return NGX_OK;
}


/* a play: the worker's stream, or a pull from the origins */

ngx_int_t
ngx_rtmp_cluster_edge_play(ngx_rtmp_session_t *s, ngx_rtmp_play_t *v)
{
    u_char                  *args;
    ngx_rtmp_conf_ctx_t      cctx;
    ngx_rtmp_cluster_ctx_t  *ctx;
    u_char                   buf[NGX_RTMP_MAX_ARGS];

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* no play arguments: connect's (the tcUrl's) go upstream */

    args = v->args;

    if (args[0] == '\0' && s->args.len) {
        ngx_cpystrn(buf, s->args.data,
                    ngx_min(s->args.len + 1, sizeof(buf)));
        args = buf;
    }

    cctx.main_conf = s->main_conf;
    cctx.srv_conf = s->srv_conf;
    cctx.app_conf = s->app_conf;

    /* another worker's pull, through our unix socket */
    ctx->member.inner = s->auto_pushed;

    return ngx_rtmp_cluster_stream_play(&cctx, &ctx->member, &s->app,
                                        v->name, args, NGX_RTMP_CLUSTER_PULL,
                                        &ngx_rtmp_cluster_edge_source, NULL);
}


/*
 * A play that is no RTMP session (an HTTP viewer's member): the same
 * pull, same origins, failover and owner worker as an RTMP play's.
 */

ngx_int_t
ngx_rtmp_cluster_edge_play_member(ngx_rtmp_conf_ctx_t *cctx,
    ngx_rtmp_cluster_member_t *m, ngx_str_t *app, u_char *name, u_char *args)
{
    return ngx_rtmp_cluster_stream_play(cctx, m, app, name, args,
                                        NGX_RTMP_CLUSTER_PULL,
                                        &ngx_rtmp_cluster_edge_source, NULL);
}


/* before nginx-rtmp's live module sees a local publisher */

void
ngx_rtmp_cluster_edge_publish(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    /* a publisher here wins over our pull of the same stream */
    ngx_rtmp_cluster_stream_take_over(
        ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module), v->name);
}


/* after the live module accepted a local publisher: forward it */

ngx_int_t
ngx_rtmp_cluster_edge_published(ngx_rtmp_session_t *s, ngx_rtmp_publish_t *v)
{
    ngx_rtmp_conf_ctx_t           cctx;
    ngx_rtmp_live_ctx_t          *lctx;
    ngx_rtmp_cluster_ctx_t       *ctx;
    ngx_rtmp_cluster_app_conf_t  *cacf;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);

    if (!cacf->forward_publish) {
        return NGX_OK;
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing) {
        /* the live module refused it (already publishing) */
        return NGX_OK;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    cctx.main_conf = s->main_conf;
    cctx.srv_conf = s->srv_conf;
    cctx.app_conf = s->app_conf;

    return ngx_rtmp_cluster_stream_publish(&cctx, &ctx->member, &s->app,
                                           v->name, v->args,
                                           &ngx_rtmp_cluster_edge_source,
                                           NULL);
}


/* the source */

static ngx_int_t
ngx_rtmp_cluster_edge_source_init(ngx_rtmp_cluster_stream_t *st, void *data)
{
    ngx_rtmp_cluster_edge_ctx_t  *ectx;

    ectx = ngx_calloc(sizeof(ngx_rtmp_cluster_edge_ctx_t), ngx_cycle->log);
    if (ectx == NULL) {
        return NGX_ERROR;
    }

    ngx_rtmp_cluster_stream_set_source_ctx(st, ectx);

    return NGX_OK;
}


static void
ngx_rtmp_cluster_edge_source_free(ngx_rtmp_cluster_stream_t *st)
{
    ngx_free(ngx_rtmp_cluster_stream_source_ctx(st));
    ngx_rtmp_cluster_stream_set_source_ctx(st, NULL);
}


/*
 * The order origins are tried in for this stream: usable primaries, then
 * usable backups; origins whose circuit is open are left out, so no
 * stream hammers a dead origin.
 */

static void
ngx_rtmp_cluster_edge_source_round(ngx_rtmp_cluster_stream_t *st)
{
    double                         score[NGX_RTMP_CLUSTER_MAX_ORIGINS], u, t;
    uint32_t                       h;
    ngx_str_t                     *app, *name;
    ngx_uint_t                     i, j, n, backup, start, pick, w;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_origin_t     *o;
    ngx_rtmp_cluster_app_conf_t   *cacf;
    ngx_rtmp_cluster_edge_ctx_t   *ectx;

    ectx = ngx_rtmp_cluster_stream_source_ctx(st);
    cacf = ngx_rtmp_cluster_stream_conf(st);
    app = ngx_rtmp_cluster_stream_app(st);
    name = ngx_rtmp_cluster_stream_name(st);

    ectx->norder = 0;
    ectx->next = 0;
    ectx->nhops = 0;
    ectx->redirected = 0;

    if (cacf->origins == NULL) {
        return;
    }

    o = cacf->origins->elts;
    n = cacf->origins->nelts;

    start = 0;

    if (cacf->balance == NGX_RTMP_CLUSTER_BALANCE_RR) {
        /* the weighted slot of a host-wide counter */

        zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);
        pick = (zone ? ngx_rtmp_cluster_next_rr(zone) : 0)
               % cacf->total_weight;

        for (i = 0, w = 0; i < n; i++) {
            if (o[i].backup) {
                continue;
            }

            w += o[i].weight;

            if (pick < w) {
                start = i;
                break;
            }
        }
    }

    for (i = 0; i < n; i++) {
        score[i] = 0;

        if (cacf->balance != NGX_RTMP_CLUSTER_BALANCE_HASH) {
            continue;
        }

        /*
         * weighted rendezvous hashing: every edge ranks the origins of a
         * stream the same way, and losing one moves only its streams
         */

        ngx_crc32_init(h);
        ngx_crc32_update(&h, app->data, app->len);
        ngx_crc32_update(&h, (u_char *) "/", 1);
        ngx_crc32_update(&h, name->data, name->len);
        ngx_crc32_update(&h, (u_char *) "@", 1);
        ngx_crc32_update(&h, o[i].name.data, o[i].name.len);
        ngx_crc32_final(h);

        /* spread the bits: crc32 of similar strings is close */
        h ^= h >> 16;
        h *= 0x85ebca6b;
        h ^= h >> 13;
        h *= 0xc2b2ae35;
        h ^= h >> 16;

        u = ((double) h + 1.0) / 4294967297.0;
        score[i] = -(double) o[i].weight / log(u);
    }

    for (backup = 0; backup < 2; backup++) {
        j = ectx->norder;

        for (i = 0; i < n; i++) {
            pick = (start + i) % n;

            if (o[pick].backup != backup
                || !ngx_rtmp_cluster_origin_usable(&o[pick]))
            {
                continue;
            }

            ectx->order[ectx->norder++] = pick;
        }

        if (cacf->balance != NGX_RTMP_CLUSTER_BALANCE_HASH) {
            continue;
        }

        /* sort this group by score, highest first */

        for (i = j + 1; i < ectx->norder; i++) {
            pick = ectx->order[i];
            t = score[pick];

            for (w = i; w > j && score[ectx->order[w - 1]] < t; w--) {
                ectx->order[w] = ectx->order[w - 1];
            }

            ectx->order[w] = pick;
        }
    }
}


/* a 302's target first, then the order; each a hop of its attempt */

static ngx_int_t
ngx_rtmp_cluster_edge_source_next(ngx_rtmp_cluster_stream_t *st,
    ngx_rtmp_cluster_target_t *t)
{
    ngx_rtmp_cluster_origin_t    *o;
    ngx_rtmp_cluster_app_conf_t  *cacf;
    ngx_rtmp_cluster_edge_ctx_t  *ectx;

    ectx = ngx_rtmp_cluster_stream_source_ctx(st);
    cacf = ngx_rtmp_cluster_stream_conf(st);

    if (ectx->redirected) {
        ectx->redirected = 0;
        ngx_rtmp_cluster_target_copy(t, &ectx->redirect);

    } else if (ectx->next < ectx->norder) {
        o = cacf->origins->elts;
        ngx_rtmp_cluster_target_origin(t, &o[ectx->order[ectx->next++]]);

        /* a new attempt */
        ectx->nhops = 0;

    } else {
        return NGX_DONE;
    }

    if (ectx->nhops < NGX_RTMP_CLUSTER_MAX_HOPS
        && ngx_rtmp_cluster_edge_hop(&ectx->hops[ectx->nhops], t) == NGX_OK)
    {
        ectx->nhops++;
    }

    return NGX_OK;
}


/* an RTMP 302 from the upstream: followed (the next target), or why not */

static ngx_int_t
ngx_rtmp_cluster_edge_source_redirect(ngx_rtmp_cluster_stream_t *st,
    u_char *url, const char **why)
{
    u_char                       *p;
    in_port_t                     port;
    in_addr_t                     inaddr;
    ngx_str_t                     host;
    ngx_rtmp_cluster_hop_t        hop;
    ngx_rtmp_cluster_target_t     t;
    ngx_rtmp_cluster_origin_t    *o;
    ngx_rtmp_cluster_app_conf_t  *cacf;
    ngx_rtmp_cluster_edge_ctx_t  *ectx;

    ectx = ngx_rtmp_cluster_stream_source_ctx(st);
    cacf = ngx_rtmp_cluster_stream_conf(st);

    *why = NULL;
    o = NULL;

    if (ngx_rtmp_cluster_parse_url(url, ngx_strlen(url), &host, &port)
        != NGX_OK)
    {
        *why = "invalid URL or address";
        goto refused;
    }

    if (ectx->nhops > cacf->redirect_depth) {
        *why = "too many redirects";
        goto refused;
    }

    inaddr = ngx_inet_addr(host.data, host.len);

    o = ngx_rtmp_cluster_edge_configured(cacf, &host, inaddr, port);

    if (o) {
        ngx_rtmp_cluster_target_origin(&t, o);

    } else if (inaddr == INADDR_NONE) {
        *why = "not an IPv4 address nor a configured origin";
        goto refused;

    } else if (cacf->redirect_targets == NGX_RTMP_CLUSTER_TARGETS_LISTED) {
        *why = "not a configured origin (cluster_redirect_targets listed)";
        goto refused;

    } else {
        (void) ngx_rtmp_cluster_target_inet(&t, inaddr, port);
    }

    if (ngx_rtmp_cluster_edge_hop(&hop, &t) != NGX_OK) {
        *why = "not an address";
        goto refused;
    }

    if (ngx_rtmp_cluster_edge_in_hops(ectx, &hop)) {
        *why = "a loop";
        goto refused;
    }

    if (ngx_rtmp_cluster_edge_own(&hop)) {
        *why = "this host's own address";
        goto refused;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "cluster: \"%V/%V\" redirected from \"%V\" to \"%V\"",
                  ngx_rtmp_cluster_stream_app(st),
                  ngx_rtmp_cluster_stream_name(st),
                  ngx_rtmp_cluster_stream_origin(st), &t.name);

    ngx_rtmp_cluster_target_copy(&ectx->redirect, &t);
    ectx->redirected = 1;

    return NGX_OK;

refused:

    /* the reason, with the chain, for the engine's log line */

    p = ngx_slprintf(ngx_rtmp_cluster_edge_why,
                     ngx_rtmp_cluster_edge_why
                     + sizeof(ngx_rtmp_cluster_edge_why) - 1,
                     "%s; chain: ", *why);
    p = ngx_rtmp_cluster_edge_hops_text(ectx, p,
                                        ngx_rtmp_cluster_edge_why
                                        + sizeof(ngx_rtmp_cluster_edge_why)
                                        - 1);
    *p = '\0';

    *why = (const char *) ngx_rtmp_cluster_edge_why;

    return NGX_DECLINED;
}


/* the configured origin at that address (as numbers) or host name */

static ngx_rtmp_cluster_origin_t *
ngx_rtmp_cluster_edge_configured(ngx_rtmp_cluster_app_conf_t *cacf,
    ngx_str_t *host, in_addr_t inaddr, in_port_t port)
{
    ngx_uint_t                  i;
    struct sockaddr_in         *sin;
    ngx_rtmp_cluster_origin_t  *o;

    if (cacf->origins == NULL) {
        return NULL;
    }

    o = cacf->origins->elts;

    for (i = 0; i < cacf->origins->nelts; i++) {
        if (o[i].port != port) {
            continue;
        }

        sin = (struct sockaddr_in *) o[i].url.addrs[0].sockaddr;

        if (inaddr != INADDR_NONE
            ? (sin->sin_family == AF_INET && sin->sin_addr.s_addr == inaddr)
            : (o[i].host.len == host->len
               && ngx_strncasecmp(o[i].host.data, host->data, host->len)
                  == 0))
        {
            return &o[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_rtmp_cluster_edge_hop(ngx_rtmp_cluster_hop_t *hop,
    ngx_rtmp_cluster_target_t *t)
{
    ngx_memzero(hop, sizeof(ngx_rtmp_cluster_hop_t));
    hop->family = t->sockaddr.sockaddr.sa_family;

    switch (hop->family) {

    case AF_INET:
        ngx_memcpy(hop->addr, &t->sockaddr.sockaddr_in.sin_addr, 4);
        hop->port = ntohs(t->sockaddr.sockaddr_in.sin_port);
        return NGX_OK;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        ngx_memcpy(hop->addr, &t->sockaddr.sockaddr_in6.sin6_addr, 16);
        hop->port = ntohs(t->sockaddr.sockaddr_in6.sin6_port);
        return NGX_OK;
#endif

    default:
        /* another worker's socket is no hop of a redirect */
        return NGX_DECLINED;
    }
}


static ngx_uint_t
ngx_rtmp_cluster_edge_in_hops(ngx_rtmp_cluster_edge_ctx_t *ectx,
    ngx_rtmp_cluster_hop_t *hop)
{
    ngx_uint_t  i;

    for (i = 0; i < ectx->nhops; i++) {
        if (ngx_memcmp(&ectx->hops[i], hop, sizeof(ngx_rtmp_cluster_hop_t))
            == 0)
        {
            return 1;
        }
    }

    return 0;
}


static u_char *
ngx_rtmp_cluster_edge_hops_text(ngx_rtmp_cluster_edge_ctx_t *ectx,
    u_char *buf, u_char *last)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;
    u_char       text[NGX_INET6_ADDRSTRLEN];

    p = buf;

    for (i = 0; i < ectx->nhops; i++) {
        /* ngx_inet_ntop() does not terminate the text: its length does */
        len = ngx_inet_ntop(ectx->hops[i].family, ectx->hops[i].addr, text,
                            sizeof(text));
        p = ngx_slprintf(p, last, "%s%*s:%d", i ? " -> " : "", len, text,
                         (int) ectx->hops[i].port);
    }

    return p;
}


/*
 * This host's own RTMP listen addresses: a redirect there would have the
 * edge pull from itself.  A wildcard listen is any local address.
 */

static ngx_uint_t
ngx_rtmp_cluster_edge_own(ngx_rtmp_cluster_hop_t *hop)
{
    ngx_uint_t                  i, local;
    struct sockaddr_in         *sin;
    ngx_rtmp_listen_t          *ls;
    ngx_rtmp_cluster_hop_t      lh;
    ngx_rtmp_core_main_conf_t  *cmcf;

    cmcf = ngx_rtmp_core_main_conf;
    ls = cmcf->listen.elts;

    local = (hop->family == AF_INET && hop->addr[0] == 127)
            || ngx_rtmp_cluster_edge_local(hop->family, hop->addr);

    for (i = 0; i < cmcf->listen.nelts; i++) {
        sin = (struct sockaddr_in *) ls[i].sockaddr;

        if (ngx_inet_get_port((struct sockaddr *) sin) != hop->port) {
            continue;
        }

        if (ls[i].wildcard && local) {
            return 1;
        }

        ngx_memzero(&lh, sizeof(ngx_rtmp_cluster_hop_t));
        lh.family = sin->sin_family;
        lh.port = hop->port;

        if (sin->sin_family == AF_INET) {
            ngx_memcpy(lh.addr, &sin->sin_addr, 4);

#if (NGX_HAVE_INET6)
        } else if (sin->sin_family == AF_INET6) {
            ngx_memcpy(lh.addr,
                       &((struct sockaddr_in6 *) ls[i].sockaddr)->sin6_addr,
                       16);
#endif
        }

        if (ngx_memcmp(&lh, hop, sizeof(ngx_rtmp_cluster_hop_t)) == 0) {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_rtmp_cluster_edge_local(ngx_uint_t family, u_char *addr)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_rtmp_cluster_edge_nlocal; i++) {
        if (ngx_rtmp_cluster_edge_locals[i].family == family
            && ngx_memcmp(ngx_rtmp_cluster_edge_locals[i].addr, addr,
                          family == AF_INET ? 4 : 16)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}
