
/*
 * ngx_rtmp_cluster: readers of what comes from the network and the JSON
 * writer.  Every byte a peer, a client or Redis sends that this module
 * interprets goes through one of these functions: names, addresses and
 * URLs, a peer's onStatus, query arguments, the stream manager's
 * requests, coworkers' and managers' JSON answers.  They take lengths,
 * never trust a terminating NUL, and refuse rather than guess.
 *
 * JSON out: strings are written as valid UTF-8 whatever bytes they hold
 * (RFC 3629; each maximal invalid subsequence becomes U+FFFD), so one
 * odd stream name never breaks a document for strict parsers.
 */


#include "ngx_rtmp_cluster_parse.h"


#define NGX_RTMP_CLUSTER_JSON_DEPTH  64


static ngx_uint_t ngx_rtmp_cluster_utf8_next(u_char *p, u_char *last);
static ngx_uint_t ngx_rtmp_cluster_utf8_bad(u_char *p, u_char *last);
static size_t ngx_rtmp_cluster_utf8_copy(u_char *dst, u_char *src,
    size_t len, ngx_uint_t label);
static ngx_int_t ngx_rtmp_cluster_json_depth(u_char *p, size_t len);
static void ngx_rtmp_cluster_json_nul(u_char *p, size_t len);
static yajl_val ngx_rtmp_cluster_json_tree(u_char *body, size_t len,
    ngx_uint_t nul);
static const char *ngx_rtmp_cluster_name_error(u_char *p, size_t len);
static ngx_int_t ngx_rtmp_cluster_parse_copy(ngx_pool_t *pool, char *s,
    ngx_str_t *dst);
static ngx_int_t ngx_rtmp_cluster_request_ttl(yajl_val root, ngx_uint_t *ttl,
    const char **error);
static ngx_uint_t ngx_rtmp_cluster_answer_ttl(yajl_val root);


/*
 * An application or stream name: not empty, no NUL and no control
 * bytes, which would cut a name short or forge a log line.
 */

ngx_int_t
ngx_rtmp_cluster_name_valid(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0) {
        return NGX_DECLINED;
    }

    for (last = p + len; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A host a peer may name as an origin: an IPv4 or IPv6 literal that is
 * not the unspecified address, or a DNS name (letters, digits, '-', '_'
 * in dot-separated labels, with a letter somewhere, so "1.2.3" is not
 * taken for a name).  A literal must read the same to nginx and to the C
 * library (getaddrinfo, so the peers we name it to): inet_aton takes
 * "0x0" for 0.0.0.0 and "010.0.0.1" for 8.0.0.1, nginx takes "::1:" for
 * ::1:0 where inet_pton refuses it; such spellings are refused.
 */

ngx_int_t
ngx_rtmp_cluster_host_valid(u_char *p, size_t len)
{
    u_char           *last, *label;
    in_addr_t         inaddr;
    ngx_uint_t        alpha;
    struct in_addr    in;
    u_char            text[254];
#if (NGX_HAVE_INET6)
    u_char           *t;
    ngx_uint_t        i;
    struct in6_addr   in6;
    u_char            inaddr6[16];
#endif

    if (len == 0 || len > 253) {
        return NGX_DECLINED;
    }

    ngx_memcpy(text, p, len);
    text[len] = '\0';

    inaddr = ngx_inet_addr(p, len);

    if (inet_aton((char *) text, &in) && in.s_addr != inaddr) {
        return NGX_DECLINED;
    }

    if (inaddr != INADDR_NONE) {
        return (inaddr == htonl(INADDR_ANY)) ? NGX_DECLINED : NGX_OK;
    }

#if (NGX_HAVE_INET6)
    t = text;

    if (p[0] == '[') {
        if (len < 3 || p[len - 1] != ']') {
            return NGX_DECLINED;
        }

        if (ngx_inet6_addr(p + 1, len - 2, inaddr6) != NGX_OK) {
            return NGX_DECLINED;
        }

        t = text + 1;
        text[len - 1] = '\0';

    } else if (ngx_inet6_addr(p, len, inaddr6) != NGX_OK) {
        goto name;
    }

    if (inet_pton(AF_INET6, (char *) t, &in6) != 1
        || ngx_memcmp(&in6, inaddr6, 16) != 0)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < 16; i++) {
        if (inaddr6[i]) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;

name:
#endif

    alpha = 0;
    label = p;

    for (last = p + len; p < last; p++) {

        if (*p == '.') {
            if (p == label || p - label > 63) {
                return NGX_DECLINED;
            }

            label = p + 1;
            continue;
        }

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            alpha = 1;
            continue;
        }

        if ((*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
            continue;
        }

        return NGX_DECLINED;
    }

    if (p == label || p - label > 63 || !alpha) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a lease token: printable ASCII without spaces, as the manager makes */

ngx_int_t
ngx_rtmp_cluster_token_valid(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0 || len > NGX_RTMP_CLUSTER_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    for (last = p + len; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A shared secret of the stream manager, as configured and as sent in a
 * header: 1 to 256 visible ASCII characters, so it can neither break a
 * header line nor hide in one.
 */

ngx_int_t
ngx_rtmp_cluster_secret_valid(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0 || len > NGX_RTMP_CLUSTER_SECRET_MAX) {
        return NGX_DECLINED;
    }

    for (last = p + len; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The host and port of an RTMP URL, "rtmp://HOST[:PORT][/...]" or
 * "HOST[:PORT]...": what an edge takes from a 302 (as SRS, it keeps its
 * own application, stream and arguments).
 */

ngx_int_t
ngx_rtmp_cluster_parse_url(u_char *url, size_t len, ngx_str_t *host,
    in_port_t *port)
{
    u_char     *p, *q, *last;
    ngx_int_t   n;

    p = url;
    last = url + len;

    if (len >= sizeof("rtmp://") - 1
        && ngx_strncasecmp(p, (u_char *) "rtmp://", sizeof("rtmp://") - 1)
           == 0)
    {
        p += sizeof("rtmp://") - 1;
    }

    host->data = p;

    if (p < last && *p == '[') {
        q = ngx_strlchr(p, last, ']');
        if (q == NULL) {
            return NGX_DECLINED;
        }

        p = q + 1;

    } else {
        while (p < last && *p != ':' && *p != '/' && *p != '?') {
            p++;
        }
    }

    host->len = p - host->data;
    n = 1935;

    if (p < last && *p == ':') {
        q = ++p;

        while (p < last && *p != '/' && *p != '?') {
            p++;
        }

        n = ngx_atoi(q, p - q);
    }

    if (n < 1 || n > 65535 || (p < last && *p != '/' && *p != '?')) {
        return NGX_DECLINED;
    }

    if (ngx_rtmp_cluster_host_valid(host->data, host->len) != NGX_OK) {
        return NGX_DECLINED;
    }

    *port = (in_port_t) n;

    return NGX_OK;
}


/*
 * A peer's onStatus or _error (after the command name): level, code,
 * description and, for an RTMP 302 (ex.code 302), ex.redirect2 (SRS's
 * full URL), else ex.redirect (a tcUrl, or FMS's URL).
 */

ngx_int_t
ngx_rtmp_cluster_read_status(ngx_chain_t *in, ngx_log_t *log,
    ngx_rtmp_cluster_status_t *st)
{
    double              trans, ex_code;
    ngx_rtmp_amf_ctx_t  act;
    u_char              redirect[sizeof(st->redirect)];
    u_char              redirect2[sizeof(st->redirect)];

    ngx_rtmp_amf_elt_t  in_ex[] = {

        { NGX_RTMP_AMF_NUMBER,
          ngx_string("code"),
          &ex_code, 0 },

        { NGX_RTMP_AMF_STRING,
          ngx_string("redirect"),
          redirect, sizeof(redirect) },

        { NGX_RTMP_AMF_STRING,
          ngx_string("redirect2"),
          redirect2, sizeof(redirect2) },
    };

    ngx_rtmp_amf_elt_t  in_inf[] = {

        { NGX_RTMP_AMF_STRING,
          ngx_string("level"),
          st->level, sizeof(st->level) },

        { NGX_RTMP_AMF_STRING,
          ngx_string("code"),
          st->code, sizeof(st->code) },

        { NGX_RTMP_AMF_STRING,
          ngx_string("description"),
          st->desc, sizeof(st->desc) },

        { NGX_RTMP_AMF_OBJECT,
          ngx_string("ex"),
          in_ex, sizeof(in_ex) },
    };

    ngx_rtmp_amf_elt_t  in_elts[] = {

        { NGX_RTMP_AMF_NUMBER,
          ngx_null_string,
          &trans, 0 },

        { NGX_RTMP_AMF_NULL,
          ngx_null_string,
          NULL, 0 },

        { NGX_RTMP_AMF_OBJECT,
          ngx_null_string,
          in_inf, sizeof(in_inf) },
    };

    ngx_memzero(st, sizeof(ngx_rtmp_cluster_status_t));

    trans = 0;
    ex_code = 0;
    redirect[0] = '\0';
    redirect2[0] = '\0';

    ngx_memzero(&act, sizeof(ngx_rtmp_amf_ctx_t));
    act.link = in;
    act.log = log;

    if (ngx_rtmp_amf_read(&act, in_elts,
                          sizeof(in_elts) / sizeof(in_elts[0]))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ex_code == 302.0) {
        ngx_cpystrn(st->redirect, redirect2[0] ? redirect2 : redirect,
                    sizeof(st->redirect));
    }

    return NGX_OK;
}


/*
 * A query argument (the first of that name, case-insensitive),
 * unescaped into the pool; empty when absent.  NGX_ERROR: no memory.
 */

ngx_int_t
ngx_rtmp_cluster_arg(ngx_pool_t *pool, ngx_str_t *args, const char *name,
    ngx_str_t *value)
{
    u_char  *p, *last, *end, *v, *dst;
    size_t   len;

    value->len = 0;
    value->data = (u_char *) "";

    len = ngx_strlen(name);
    p = args->data;
    last = p + args->len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) >= len
            && ngx_strncasecmp(p, (u_char *) name, len) == 0
            && (p + len == end || p[len] == '='))
        {
            v = (p + len == end) ? end : p + len + 1;

            dst = ngx_pnalloc(pool, (end - v) + 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            value->data = dst;
            ngx_unescape_uri(&dst, &v, end - v, 0);
            value->len = dst - value->data;

            return NGX_OK;
        }

        p = end + 1;
    }

    return NGX_OK;
}


/*
 * APP/NAME of a stream manager request, after the location's name: NAME
 * is the last segment, APP all before it, split in the path as sent, then
 * unescaped ("escaped"), so an escaped '/' stays inside its part.
 * NGX_DECLINED: nothing follows the location; NGX_ERROR with *error set:
 * a bad request; NGX_ERROR without: no memory.
 */

ngx_int_t
ngx_rtmp_cluster_parse_path(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_uint_t escaped, ngx_str_t *app, ngx_str_t *name, const char **error)
{
    u_char      *q, *last, *slash, *dst;
    ngx_str_t    part[2];
    ngx_uint_t   i;

    *error = NULL;
    last = p + len;

    while (p < last && *p == '/') {
        p++;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    slash = NULL;

    for (q = p; q < last; q++) {
        if (*q == '/') {
            slash = q;
        }
    }

    if (slash == NULL || slash == last - 1) {
        *error = "expected APP/NAME after the location";
        return NGX_ERROR;
    }

    part[0].data = p;
    part[0].len = slash - p;
    part[1].data = slash + 1;
    part[1].len = last - slash - 1;

    for (i = 0; i < 2; i++) {

        if (escaped) {
            dst = ngx_pnalloc(pool, part[i].len + 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            q = part[i].data;
            part[i].data = dst;

            ngx_unescape_uri(&dst, &q, part[i].len, 0);

            part[i].len = dst - part[i].data;
        }

        if (part[i].len == 0) {
            *error = "expected APP/NAME after the location";
            return NGX_ERROR;
        }

        if (part[i].len > NGX_RTMP_CLUSTER_NAME_MAX) {
            *error = "APP and NAME are limited to "
                     ngx_value(NGX_RTMP_CLUSTER_NAME_MAX) " bytes each";
            return NGX_ERROR;
        }

        *error = ngx_rtmp_cluster_name_error(part[i].data, part[i].len);

        if (*error) {
            return NGX_ERROR;
        }
    }

    *app = part[0];
    *name = part[1];

    return NGX_OK;
}


/*
 * What a manager refuses in an APP or NAME of any length, as the path
 * of a request or in a batch's body: the reason, or NULL.
 */

static const char *
ngx_rtmp_cluster_name_error(u_char *p, size_t len)
{
    if (ngx_rtmp_cluster_name_valid(p, len) != NGX_OK) {
        return "APP and NAME must not contain control characters";
    }

    if (ngx_rtmp_cluster_utf8_valid(p, len) != NGX_OK) {
        return "APP and NAME must be UTF-8";
    }

    return NULL;
}


/*
 * The body of a lease request: register {host, port, ttl, token}, renew
 * {token, ttl}; the token of a registration and the ttls are optional.
 * NGX_ERROR with *error set: a bad request; without: no memory.
 */

ngx_int_t
ngx_rtmp_cluster_parse_lease_request(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_uint_t renew, ngx_rtmp_cluster_lease_req_t *req,
    const char **error)
{
    char      *s;
    yajl_val   root, v;

    static const char  *host_path[] = { "host", NULL };
    static const char  *port_path[] = { "port", NULL };
    static const char  *token_path[] = { "token", NULL };

    *error = NULL;
    ngx_memzero(req, sizeof(ngx_rtmp_cluster_lease_req_t));

    root = ngx_rtmp_cluster_json_parse(body, len);

    if (root == NULL) {
        *error = "request body is not valid JSON";
        return NGX_ERROR;
    }

    if (!YAJL_IS_OBJECT(root)) {
        *error = "request body must be a JSON object";
        goto failed;
    }

    if (!renew) {
        v = yajl_tree_get(root, host_path, yajl_t_any);
        s = (v && YAJL_IS_STRING(v)) ? YAJL_GET_STRING(v) : NULL;

        if (s == NULL
            || ngx_rtmp_cluster_host_valid((u_char *) s, ngx_strlen(s))
               != NGX_OK)
        {
            *error = "\"host\" must be a host name or an IP address";
            goto failed;
        }

        if (ngx_rtmp_cluster_parse_copy(pool, s, &req->host) != NGX_OK) {
            goto failed;
        }

        v = yajl_tree_get(root, port_path, yajl_t_any);

        if (v == NULL || !YAJL_IS_INTEGER(v)
            || YAJL_GET_INTEGER(v) < 1 || YAJL_GET_INTEGER(v) > 65535)
        {
            *error = "\"port\" must be an integer from 1 to 65535";
            goto failed;
        }

        req->port = (ngx_uint_t) YAJL_GET_INTEGER(v);
    }

    v = yajl_tree_get(root, token_path, yajl_t_any);

    if (v == NULL) {
        if (renew) {
            *error = "\"token\" is required";
            goto failed;
        }

    } else {
        s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;

        if (s == NULL) {
            *error = "\"token\" must be a string";
            goto failed;
        }

        if (ngx_rtmp_cluster_token_valid((u_char *) s, ngx_strlen(s))
            != NGX_OK)
        {
            *error = "invalid token";
            goto failed;
        }

        if (ngx_rtmp_cluster_parse_copy(pool, s, &req->token) != NGX_OK) {
            goto failed;
        }
    }

    if (ngx_rtmp_cluster_request_ttl(root, &req->ttl, error) != NGX_OK) {
        goto failed;
    }

    yajl_tree_free(root);

    return NGX_OK;

failed:

    yajl_tree_free(root);

    return NGX_ERROR;
}


/*
 * A batched renewal: {"ttl":N,"leases":[{"app":A,"name":N,"token":T},...]},
 * 1 to NGX_RTMP_CLUSTER_RENEW_BATCH_MAX leases, "ttl" optional (*ttl 0).
 * APP and NAME are checked as in a request's path, so a lease the
 * manager could not hold refuses the batch rather than reading 404.
 * NGX_ERROR with *error set: a bad request; without: no memory.
 */

ngx_int_t
ngx_rtmp_cluster_parse_renew_batch(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_array_t **items, ngx_uint_t *ttl, const char **error)
{
    size_t                          i;
    yajl_val                        root, leases, e, app, name, token;
    ngx_rtmp_cluster_renew_item_t  *it;

    static const char  *leases_path[] = { "leases", NULL };
    static const char  *app_path[] = { "app", NULL };
    static const char  *name_path[] = { "name", NULL };
    static const char  *token_path[] = { "token", NULL };

    *error = NULL;
    *ttl = 0;

    root = ngx_rtmp_cluster_json_tree(body, len, 1);

    if (root == NULL) {
        *error = "request body is not valid JSON";
        return NGX_ERROR;
    }

    if (!YAJL_IS_OBJECT(root)) {
        *error = "request body must be a JSON object";
        goto failed;
    }

    if (ngx_rtmp_cluster_request_ttl(root, ttl, error) != NGX_OK) {
        goto failed;
    }

    leases = yajl_tree_get(root, leases_path, yajl_t_any);

    if (leases == NULL || !YAJL_IS_ARRAY(leases)
        || leases->u.array.len == 0
        || leases->u.array.len > NGX_RTMP_CLUSTER_RENEW_BATCH_MAX)
    {
        *error = "\"leases\" must be an array of 1 to "
                 ngx_value(NGX_RTMP_CLUSTER_RENEW_BATCH_MAX) " leases";
        goto failed;
    }

    *items = ngx_array_create(pool, leases->u.array.len,
                              sizeof(ngx_rtmp_cluster_renew_item_t));
    if (*items == NULL) {
        goto failed;
    }

    for (i = 0; i < leases->u.array.len; i++) {
        e = leases->u.array.values[i];

        app = YAJL_IS_OBJECT(e) ? yajl_tree_get(e, app_path, yajl_t_string)
                                : NULL;
        name = YAJL_IS_OBJECT(e) ? yajl_tree_get(e, name_path, yajl_t_string)
                                 : NULL;
        token = YAJL_IS_OBJECT(e)
                ? yajl_tree_get(e, token_path, yajl_t_string) : NULL;

        if (app == NULL || name == NULL || token == NULL) {
            *error = "each lease needs \"app\", \"name\" and \"token\" "
                     "strings";
            goto failed;
        }

        it = ngx_array_push(*items);
        if (it == NULL) {
            goto failed;
        }

        if (ngx_rtmp_cluster_parse_copy(pool, YAJL_GET_STRING(app), &it->app)
            != NGX_OK
            || ngx_rtmp_cluster_parse_copy(pool, YAJL_GET_STRING(name),
                                           &it->name)
               != NGX_OK
            || ngx_rtmp_cluster_parse_copy(pool, YAJL_GET_STRING(token),
                                           &it->token)
               != NGX_OK)
        {
            goto failed;
        }

        if (it->app.len == 0 || it->name.len == 0
            || it->app.len > NGX_RTMP_CLUSTER_NAME_MAX
            || it->name.len > NGX_RTMP_CLUSTER_NAME_MAX)
        {
            *error = "APP and NAME must be 1 to "
                     ngx_value(NGX_RTMP_CLUSTER_NAME_MAX) " bytes each";
            goto failed;
        }

        *error = ngx_rtmp_cluster_name_error(it->app.data, it->app.len);

        if (*error == NULL) {
            *error = ngx_rtmp_cluster_name_error(it->name.data,
                                                 it->name.len);
        }

        if (*error) {
            goto failed;
        }

        if (ngx_rtmp_cluster_token_valid(it->token.data, it->token.len)
            != NGX_OK)
        {
            *error = "invalid token";
            goto failed;
        }
    }

    yajl_tree_free(root);

    return NGX_OK;

failed:

    yajl_tree_free(root);

    return NGX_ERROR;
}


/* a string of yajl's tree into the pool (its bytes, no NUL added) */

static ngx_int_t
ngx_rtmp_cluster_parse_copy(ngx_pool_t *pool, char *s, ngx_str_t *dst)
{
    size_t  n;

    n = ngx_strlen(s);

    dst->data = ngx_pnalloc(pool, n);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s, n);
    dst->len = n;

    return NGX_OK;
}


/*
 * A request's "ttl": absent (*ttl untouched), or an integer from 1 to
 * NGX_RTMP_CLUSTER_TTL_MAX; anything else is NGX_ERROR with *error set.
 */

static ngx_int_t
ngx_rtmp_cluster_request_ttl(yajl_val root, ngx_uint_t *ttl,
    const char **error)
{
    yajl_val  v;

    static const char  *ttl_path[] = { "ttl", NULL };

    v = yajl_tree_get(root, ttl_path, yajl_t_any);

    if (v == NULL) {
        return NGX_OK;
    }

    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1
        || YAJL_GET_INTEGER(v) > NGX_RTMP_CLUSTER_TTL_MAX)
    {
        *error = "\"ttl\" must be an integer from 1 to "
                 ngx_value(NGX_RTMP_CLUSTER_TTL_MAX);
        return NGX_ERROR;
    }

    *ttl = (ngx_uint_t) YAJL_GET_INTEGER(v);

    return NGX_OK;
}


/* a lease as Redis holds it, "TOKEN HOST PORT": pointers into data */

ngx_int_t
ngx_rtmp_cluster_parse_lease_value(u_char *data, size_t len,
    ngx_str_t *token, ngx_str_t *host, ngx_uint_t *port)
{
    u_char     *last, *sp1, *sp2;
    ngx_int_t   n;

    last = data + len;

    sp1 = ngx_strlchr(data, last, ' ');
    if (sp1 == NULL || sp1 == data) {
        return NGX_ERROR;
    }

    sp2 = ngx_strlchr(sp1 + 1, last, ' ');
    if (sp2 == NULL || sp2 == sp1 + 1) {
        return NGX_ERROR;
    }

    n = ngx_atoi(sp2 + 1, last - sp2 - 1);
    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    if (ngx_rtmp_cluster_host_valid(sp1 + 1, sp2 - sp1 - 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (token) {
        token->data = data;
        token->len = sp1 - data;
    }

    host->data = sp1 + 1;
    host->len = sp2 - sp1 - 1;
    *port = n;

    return NGX_OK;
}


/*
 * The stream's part of a Redis key at the stream manager: APP '/' NAME,
 * with '%' escaped in both and '/' in NAME ("%25", "%2F"), so the last
 * '/' always separates them: APP "a/b" NAME "c" is "a/b/c", APP "a" NAME
 * "b/c" is "a/b%2Fc".  Names without '%' and without '/' in NAME are
 * stored as they are.  dst NULL: the length only; else the length
 * written.
 */

size_t
ngx_rtmp_cluster_stream_key(u_char *dst, ngx_str_t *app, ngx_str_t *name)
{
    u_char      *p, *last;
    size_t       len;
    ngx_str_t   *part[2];
    ngx_uint_t   i;

    part[0] = app;
    part[1] = name;
    len = 0;

    for (i = 0; i < 2; i++) {

        if (i == 1) {
            if (dst) {
                dst[len] = '/';
            }

            len++;
        }

        for (p = part[i]->data, last = p + part[i]->len; p < last; p++) {

            if (*p == '%' || (i == 1 && *p == '/')) {
                if (dst) {
                    dst[len] = '%';
                    dst[len + 1] = '2';
                    dst[len + 2] = (*p == '%') ? '5' : 'F';
                }

                len += 3;
                continue;
            }

            if (dst) {
                dst[len] = *p;
            }

            len++;
        }
    }

    return len;
}


/*
 * APP and NAME back from the stream's part of a key, as the list reads
 * them from Redis: split at the last '/', "%25" and "%2F" unescaped, any
 * other byte kept (keys written by others, or by earlier versions, are
 * shown as they are).
 * NGX_DECLINED: not a stream key; NGX_ERROR: no memory.
 */

ngx_int_t
ngx_rtmp_cluster_parse_stream_key(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *app, ngx_str_t *name)
{
    u_char      *q, *last, *slash, *dst;
    ngx_str_t    part[2], *out[2];
    ngx_uint_t   i;

    last = p + len;
    slash = NULL;

    for (q = p; q < last; q++) {
        if (*q == '/') {
            slash = q;
        }
    }

    if (slash == NULL || slash == p || slash == last - 1) {
        return NGX_DECLINED;
    }

    part[0].data = p;
    part[0].len = slash - p;
    part[1].data = slash + 1;
    part[1].len = last - slash - 1;

    out[0] = app;
    out[1] = name;

    for (i = 0; i < 2; i++) {
        dst = ngx_pnalloc(pool, part[i].len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        out[i]->data = dst;

        for (q = part[i].data, last = q + part[i].len; q < last; q++) {

            if (*q == '%' && last - q >= 3 && q[1] == '2'
                && (q[2] == '5' || q[2] == 'F'))
            {
                *dst++ = (q[2] == '5') ? '%' : '/';
                q += 2;
                continue;
            }

            *dst++ = *q;
        }

        out[i]->len = dst - out[i]->data;
    }

    return NGX_OK;
}


/* the integer "ttl" (1 to 86400) of a stream manager's answer, or 0 */

ngx_uint_t
ngx_rtmp_cluster_parse_lease_ttl(u_char *body, size_t len)
{
    yajl_val    root;
    ngx_uint_t  ttl;

    root = ngx_rtmp_cluster_json_parse(body, len);

    if (root == NULL) {
        return 0;
    }

    ttl = ngx_rtmp_cluster_answer_ttl(root);

    yajl_tree_free(root);

    return ttl;
}


/* an answer's "ttl": an integer from 1 to 86400 is taken, else 0 */

static ngx_uint_t
ngx_rtmp_cluster_answer_ttl(yajl_val root)
{
    yajl_val  v;

    static const char  *ttl_path[] = { "ttl", NULL };

    v = yajl_tree_get(root, ttl_path, yajl_t_number);

    if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 1
        && YAJL_GET_INTEGER(v) <= NGX_RTMP_CLUSTER_TTL_MAX)
    {
        return (ngx_uint_t) YAJL_GET_INTEGER(v);
    }

    return 0;
}


/*
 * A batched renewal's answer, {"code":0,"ttl":N,"leases":[200,404,...]}:
 * the ttl granted (0: not said) and a status for each of the n leases
 * asked, each 200, 404 or 409; anything else is NGX_ERROR.
 */

ngx_int_t
ngx_rtmp_cluster_parse_renew_answer(u_char *body, size_t len, ngx_uint_t n,
    ngx_uint_t *ttl, ngx_uint_t *status)
{
    size_t      i;
    yajl_val    root, v;
    ngx_int_t   rc;
    long long   code;

    static const char  *leases_path[] = { "leases", NULL };

    *ttl = 0;

    root = ngx_rtmp_cluster_json_parse(body, len);

    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (!YAJL_IS_OBJECT(root)) {
        goto done;
    }

    *ttl = ngx_rtmp_cluster_answer_ttl(root);

    v = yajl_tree_get(root, leases_path, yajl_t_array);

    if (v == NULL || v->u.array.len != n) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (!YAJL_IS_INTEGER(v->u.array.values[i])) {
            goto done;
        }

        code = YAJL_GET_INTEGER(v->u.array.values[i]);

        if (code != 200 && code != 404 && code != 409) {
            goto done;
        }

        status[i] = (ngx_uint_t) code;
    }

    rc = NGX_OK;

done:

    yajl_tree_free(root);

    return rc;
}


/*
 * A JSON document from a peer, or NULL: no NUL inside (yajl reads a C
 * string) and no nesting deeper than any answer of ours needs (yajl
 * frees a tree recursively).
 */

yajl_val
ngx_rtmp_cluster_json_parse(u_char *body, size_t len)
{
    return ngx_rtmp_cluster_json_tree(body, len, 0);
}


/*
 * yajl_tree's strings end at their first NUL, so "live\u0000x" reads as
 * "live".  With "nul", a "\u0000" in a string is read as "\u0001", a
 * control character the checks refuse, and every string keeps its
 * length.
 */

static yajl_val
ngx_rtmp_cluster_json_tree(u_char *body, size_t len, ngx_uint_t nul)
{
    char      *text;
    yajl_val   root;

    if (body == NULL || len == 0 || ngx_strlchr(body, body + len, '\0')
        || ngx_rtmp_cluster_json_depth(body, len) != NGX_OK)
    {
        return NULL;
    }

    text = ngx_alloc(len + 1, ngx_cycle->log);
    if (text == NULL) {
        return NULL;
    }

    ngx_memcpy(text, body, len);
    text[len] = '\0';

    if (nul) {
        ngx_rtmp_cluster_json_nul((u_char *) text, len);
    }

    root = yajl_tree_parse(text, NULL, 0);

    ngx_free(text);

    return root;
}


/* each "\u0000" in a string of the text made "\u0001" */

static void
ngx_rtmp_cluster_json_nul(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   string;

    string = 0;

    for (last = p + len; p < last; p++) {

        if (!string) {
            string = (*p == '"');
            continue;
        }

        if (*p == '"') {
            string = 0;
            continue;
        }

        if (*p != '\\') {
            continue;
        }

        /* the escaped character, skipped by the loop */
        p++;

        if (last - p >= 5 && ngx_strncmp(p, "u0000", 5) == 0) {
            p[4] = '1';
        }
    }
}


static ngx_int_t
ngx_rtmp_cluster_json_depth(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   depth, string;

    depth = 0;
    string = 0;

    for (last = p + len; p < last; p++) {

        if (string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                string = 0;
            }

            continue;
        }

        switch (*p) {

        case '"':
            string = 1;
            break;

        case '[':
        case '{':
            if (++depth > NGX_RTMP_CLUSTER_JSON_DEPTH) {
                return NGX_DECLINED;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return NGX_OK;
}


/*
 * A coworker's answer, as SRS checks it: integer "code" 0, object
 * "data.origin" with string "ip" and integer "port"; "origin": null is
 * "not here" (NGX_DECLINED).  The address must be one we can name in a
 * 302: an IP address or a host name, not the unspecified address.
 */

ngx_int_t
ngx_rtmp_cluster_parse_answer(u_char *body, size_t len, u_char *addr,
    size_t addr_size, in_port_t *port, const char **err)
{
    char       *ip;
    size_t      n;
    yajl_val    root, v, origin;
    long long   num;

    static const char  *code_path[] = { "code", NULL };
    static const char  *origin_path[] = { "data", "origin", NULL };
    static const char  *ip_path[] = { "ip", NULL };
    static const char  *port_path[] = { "port", NULL };

    root = ngx_rtmp_cluster_json_parse(body, len);

    if (root == NULL) {
        *err = (body == NULL || len == 0) ? "empty answer" : "invalid JSON";
        return NGX_ERROR;
    }

    v = yajl_tree_get(root, code_path, yajl_t_number);
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != 0) {
        *err = "no integer \"code\" 0";
        goto failed;
    }

    origin = yajl_tree_get(root, origin_path, yajl_t_any);

    if (origin == NULL) {
        *err = "no \"data.origin\"";
        goto failed;
    }

    if (YAJL_IS_NULL(origin)) {
        yajl_tree_free(root);
        return NGX_DECLINED;
    }

    if (!YAJL_IS_OBJECT(origin)) {
        *err = "\"data.origin\" is not an object";
        goto failed;
    }

    v = yajl_tree_get(origin, ip_path, yajl_t_string);
    ip = v ? YAJL_GET_STRING(v) : NULL;

    if (ip == NULL) {
        *err = "no string \"origin.ip\"";
        goto failed;
    }

    n = ngx_strlen(ip);

    if (n >= addr_size
        || ngx_rtmp_cluster_host_valid((u_char *) ip, n) != NGX_OK)
    {
        *err = "\"origin.ip\" is not an address";
        goto failed;
    }

    v = yajl_tree_get(origin, port_path, yajl_t_number);
    if (v == NULL || !YAJL_IS_INTEGER(v)) {
        *err = "no integer \"origin.port\"";
        goto failed;
    }

    num = YAJL_GET_INTEGER(v);
    if (num <= 0 || num > 65535) {
        *err = "\"origin.port\" out of range";
        goto failed;
    }

    ngx_cpystrn(addr, (u_char *) ip, addr_size);
    *port = (in_port_t) num;

    yajl_tree_free(root);

    return NGX_OK;

failed:

    yajl_tree_free(root);

    return NGX_ERROR;
}


/*
 * A stream manager's answer: "token" of a new lease (copied if token is
 * given), and "origin" {host, port} of a lease's holder (a lookup or a
 * conflict): NGX_OK if an origin was found, NGX_DECLINED if none,
 * NGX_ERROR if not JSON.
 */

ngx_int_t
ngx_rtmp_cluster_parse_lease(u_char *body, size_t len, u_char *addr,
    size_t addr_size, in_port_t *port, u_char *token, size_t token_size)
{
    char       *str;
    size_t      n;
    yajl_val    root, v;
    ngx_int_t   rc;

    static const char  *token_path[] = { "token", NULL };
    static const char  *host_path[] = { "origin", "host", NULL };
    static const char  *port_path[] = { "origin", "port", NULL };

    root = ngx_rtmp_cluster_json_parse(body, len);

    if (root == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    if (token) {
        v = yajl_tree_get(root, token_path, yajl_t_string);
        str = v ? YAJL_GET_STRING(v) : NULL;

        if (str && ngx_strlen(str) < token_size
            && ngx_rtmp_cluster_token_valid((u_char *) str, ngx_strlen(str))
               == NGX_OK)
        {
            ngx_cpystrn(token, (u_char *) str, token_size);
        }
    }

    v = yajl_tree_get(root, host_path, yajl_t_string);
    str = v ? YAJL_GET_STRING(v) : NULL;
    n = str ? ngx_strlen(str) : 0;

    if (str && n < addr_size
        && ngx_rtmp_cluster_host_valid((u_char *) str, n) == NGX_OK)
    {
        v = yajl_tree_get(root, port_path, yajl_t_number);

        if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0
            && YAJL_GET_INTEGER(v) <= 65535)
        {
            ngx_cpystrn(addr, (u_char *) str, addr_size);
            *port = (in_port_t) YAJL_GET_INTEGER(v);
            rc = NGX_OK;
        }
    }

    yajl_tree_free(root);

    return rc;
}


/*
 * Strict UTF-8 (RFC 3629): the length of the valid sequence at p, or 0.
 * The second byte's range rules out overlong forms, surrogates and code
 * points above U+10FFFF.
 */

static ngx_uint_t
ngx_rtmp_cluster_utf8_next(u_char *p, u_char *last)
{
    u_char      c, lo, hi;
    ngx_uint_t  n, i;

    c = *p;

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p + i >= last || p[i] < lo || p[i] > hi) {
            /* a maximal subpart of i bytes: the caller replaces it */
            return 0;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return n;
}


ngx_int_t
ngx_rtmp_cluster_utf8_valid(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   n;

    for (last = p + len; p < last; p += n) {
        n = ngx_rtmp_cluster_utf8_next(p, last);
        if (n == 0) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * src as valid UTF-8 into dst (3 * len bytes at most): each maximal
 * subpart of an invalid sequence (Unicode's recommended practice) becomes
 * U+FFFD; returns the length written.
 */

size_t
ngx_rtmp_cluster_utf8_repair(u_char *dst, u_char *src, size_t len)
{
    return ngx_rtmp_cluster_utf8_copy(dst, src, len, 0);
}


/*
 * At an invalid sequence: the length of its maximal subpart (at least
 * one byte), which goes under one U+FFFD.
 */

static ngx_uint_t
ngx_rtmp_cluster_utf8_bad(u_char *p, u_char *last)
{
    u_char      c, lo, hi;
    ngx_uint_t  n, i;

    c = *p++;

    lo = (c == 0xe0) ? 0xa0 : (c == 0xf0) ? 0x90 : 0x80;
    hi = (c == 0xed) ? 0x9f : (c == 0xf4) ? 0x8f : 0xbf;
    n = (c >= 0xc2 && c <= 0xdf) ? 1
        : (c >= 0xe0 && c <= 0xef) ? 2
        : (c >= 0xf0 && c <= 0xf4) ? 3 : 0;

    for (i = 0; i < n && p < last && *p >= lo && *p <= hi; i++) {
        p++;
        lo = 0x80;
        hi = 0xbf;
    }

    return 1 + i;
}


/*
 * A label value as Prometheus' text format wants it: backslash, double
 * quote and line feed escaped.  Stream names are the client's bytes, and
 * the format is UTF-8 (a scraper refuses the whole answer otherwise):
 * invalid sequences are repaired as for the JSON status.  dst has room
 * for 3 * len bytes; returns the length written.
 */

size_t
ngx_rtmp_cluster_label_escape(u_char *dst, u_char *src, size_t len)
{
    return ngx_rtmp_cluster_utf8_copy(dst, src, len, 1);
}


/*
 * src into dst as valid UTF-8 (each maximal invalid subpart a U+FFFD),
 * with "label": '\\', '"' and '\n' escaped as in a Prometheus label.
 * Either way at most 3 bytes a byte of src.
 */

static size_t
ngx_rtmp_cluster_utf8_copy(u_char *dst, u_char *src, size_t len,
    ngx_uint_t label)
{
    u_char      *d, *last;
    ngx_uint_t   n;

    d = dst;

    for (last = src + len; src < last; src += n) {
        n = ngx_rtmp_cluster_utf8_next(src, last);

        if (n == 0) {
            n = ngx_rtmp_cluster_utf8_bad(src, last);

            *d++ = 0xef;
            *d++ = 0xbf;
            *d++ = 0xbd;
            continue;
        }

        if (n > 1 || !label) {
            d = ngx_cpymem(d, src, n);
            continue;
        }

        switch (*src) {

        case '\\':
        case '"':
            *d++ = '\\';
            *d++ = *src;
            break;

        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            break;

        default:
            *d++ = *src;
        }
    }

    return d - dst;
}


yajl_gen
ngx_rtmp_cluster_json_gen(ngx_uint_t beautify)
{
    yajl_gen  g;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    if (beautify) {
        yajl_gen_config(g, yajl_gen_beautify, 1);
    }

    return g;
}


void
ngx_rtmp_cluster_json_key(yajl_gen g, const char *key)
{
    (void) yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key));
}


/* a string value, repaired to valid UTF-8 if it is not */

void
ngx_rtmp_cluster_json_value(yajl_gen g, u_char *p, size_t len)
{
    u_char  *buf;
    size_t   n;
    u_char   stack[1024];

    if (len == 0) {
        (void) yajl_gen_string(g, (u_char *) "", 0);
        return;
    }

    if (ngx_rtmp_cluster_utf8_valid(p, len) == NGX_OK) {
        (void) yajl_gen_string(g, p, len);
        return;
    }

    buf = (3 * len <= sizeof(stack)) ? stack
                                     : ngx_alloc(3 * len, ngx_cycle->log);
    if (buf == NULL) {
        (void) yajl_gen_string(g, (u_char *) "", 0);
        return;
    }

    n = ngx_rtmp_cluster_utf8_repair(buf, p, len);

    (void) yajl_gen_string(g, buf, n);

    if (buf != stack) {
        ngx_free(buf);
    }
}


void
ngx_rtmp_cluster_json_str(yajl_gen g, const char *key, u_char *p,
    size_t len)
{
    ngx_rtmp_cluster_json_key(g, key);
    ngx_rtmp_cluster_json_value(g, p, len);
}


void
ngx_rtmp_cluster_json_int(yajl_gen g, const char *key, long long n)
{
    ngx_rtmp_cluster_json_key(g, key);
    (void) yajl_gen_integer(g, n);
}
