
/*
 * ngx_rtmp_cluster: HTTP requests with libcurl's multi socket interface,
 * driven by nginx's event loop, so no worker ever blocks on a peer.
 *
 * curl tells us which sockets to watch (socket callback) and when to
 * wake it (timer callback); nginx events on those sockets and the timer
 * call curl_multi_socket_action().  The sockets stay curl's: nginx only
 * borrows a connection structure to poll them (ngx_rtmp_cluster_event.c).
 */


#include "ngx_rtmp_cluster.h"
#include "ngx_rtmp_cluster_event.h"

#include <curl/curl.h>


struct ngx_rtmp_cluster_fetch_s {
    CURL                           *easy;
    struct curl_slist              *headers;
    ngx_rtmp_cluster_fetch_pt       handler;
    void                           *data;
    ngx_msec_t                      started;
    size_t                          max;
    ngx_rtmp_cluster_fetch_result_t result;
    char                            error[CURL_ERROR_SIZE];
};


static int ngx_rtmp_cluster_fetch_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static int ngx_rtmp_cluster_fetch_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_rtmp_cluster_fetch_event(ngx_event_t *ev);
static void ngx_rtmp_cluster_fetch_timeout(ngx_event_t *ev);
static void ngx_rtmp_cluster_fetch_done(void);
static size_t ngx_rtmp_cluster_fetch_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static void ngx_rtmp_cluster_fetch_free(ngx_rtmp_cluster_fetch_t *f);


static CURLM       *ngx_rtmp_cluster_multi;
static ngx_event_t  ngx_rtmp_cluster_fetch_timer_ev;


ngx_int_t
ngx_rtmp_cluster_fetch_init(ngx_cycle_t *cycle)
{
    if (ngx_rtmp_cluster_multi) {
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "cluster: curl_global_init() failed");
        return NGX_ERROR;
    }

    ngx_rtmp_cluster_multi = curl_multi_init();
    if (ngx_rtmp_cluster_multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "cluster: curl_multi_init() failed");
        return NGX_ERROR;
    }

    curl_multi_setopt(ngx_rtmp_cluster_multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_rtmp_cluster_fetch_socket);
    curl_multi_setopt(ngx_rtmp_cluster_multi, CURLMOPT_TIMERFUNCTION,
                      ngx_rtmp_cluster_fetch_timer);

    ngx_rtmp_cluster_event_timer(&ngx_rtmp_cluster_fetch_timer_ev,
                                 ngx_rtmp_cluster_fetch_timeout, cycle->log);

    return NGX_OK;
}


void
ngx_rtmp_cluster_fetch_exit(ngx_cycle_t *cycle)
{
    if (ngx_rtmp_cluster_multi == NULL) {
        return;
    }

    if (ngx_rtmp_cluster_fetch_timer_ev.timer_set) {
        ngx_del_timer(&ngx_rtmp_cluster_fetch_timer_ev);
    }

    curl_multi_cleanup(ngx_rtmp_cluster_multi);
    ngx_rtmp_cluster_multi = NULL;
}


/*
 * method NULL: POST with an empty body, as SRS asks its coworkers; a body
 * is sent as JSON.
 */

ngx_rtmp_cluster_fetch_t *
ngx_rtmp_cluster_fetch_start(ngx_str_t *url, ngx_str_t *host,
    const char *method, ngx_str_t *body, ngx_msec_t timeout, size_t max,
    ngx_rtmp_cluster_fetch_pt handler, void *data)
{
    return ngx_rtmp_cluster_fetch_start_secret(url, host, NULL, method, body,
                                               timeout, max, handler, data);
}


/*
 * The same with "Authorization: Bearer SECRET" when secret is not empty
 * (a stream manager's).  curl follows no redirect, so the header goes
 * nowhere else; nothing here logs it.
 */

ngx_rtmp_cluster_fetch_t *
ngx_rtmp_cluster_fetch_start_secret(ngx_str_t *url, ngx_str_t *host,
    ngx_str_t *secret, const char *method, ngx_str_t *body,
    ngx_msec_t timeout, size_t max, ngx_rtmp_cluster_fetch_pt handler,
    void *data)
{
    u_char                    *p;
    struct curl_slist         *headers;
    ngx_rtmp_cluster_fetch_t  *f;
    u_char                     buf[NGX_RTMP_CLUSTER_SECRET_MAX + 32];

    if (ngx_rtmp_cluster_multi == NULL) {
        return NULL;
    }

    f = ngx_calloc(sizeof(ngx_rtmp_cluster_fetch_t) + url->len + 1
                   + (body ? body->len + 1 : 0), ngx_cycle->log);
    if (f == NULL) {
        return NULL;
    }

    /* the URL and the body as C strings, right after the structure */
    p = (u_char *) (f + 1);
    ngx_memcpy(p, url->data, url->len);

    if (body) {
        ngx_memcpy(p + url->len + 1, body->data, body->len);
    }

    f->handler = handler;
    f->data = data;
    f->max = max;
    f->started = ngx_current_msec;

    f->easy = curl_easy_init();
    if (f->easy == NULL) {
        ngx_free(f);
        return NULL;
    }

    if (host && host->len) {
        /* the URL names a resolved address; keep the configured host */
        ngx_snprintf(buf, sizeof(buf), "Host: %V%Z", host);
        f->headers = curl_slist_append(NULL, (char *) buf);
        if (f->headers == NULL) {
            ngx_rtmp_cluster_fetch_free(f);
            return NULL;
        }
    }

    if (secret && secret->len) {
        ngx_snprintf(buf, sizeof(buf), "Authorization: Bearer %V%Z", secret);

        headers = curl_slist_append(f->headers, (char *) buf);
        ngx_explicit_memzero(buf, sizeof(buf));

        if (headers == NULL) {
            ngx_rtmp_cluster_fetch_free(f);
            return NULL;
        }

        f->headers = headers;
    }

    if (body) {
        headers = curl_slist_append(f->headers,
                                    "Content-Type: application/json");
        if (headers == NULL) {
            ngx_rtmp_cluster_fetch_free(f);
            return NULL;
        }

        f->headers = headers;
    }

    if (f->headers) {
        curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
    }

    curl_easy_setopt(f->easy, CURLOPT_URL, (char *) p);
    curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long) timeout);
    curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) timeout);
    curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->error);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION,
                     ngx_rtmp_cluster_fetch_write);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "ngx_rtmp_cluster");

    if (method == NULL || body) {
        curl_easy_setopt(f->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE,
                         (long) (body ? body->len : 0));
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS,
                         body ? (char *) p + url->len + 1 : "");
    }

    if (method) {
        curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, method);
    }

    if (curl_multi_add_handle(ngx_rtmp_cluster_multi, f->easy) != CURLM_OK) {
        ngx_rtmp_cluster_fetch_free(f);
        return NULL;
    }


    return f;
}


void
ngx_rtmp_cluster_fetch_cancel(ngx_rtmp_cluster_fetch_t *f)
{
    curl_multi_remove_handle(ngx_rtmp_cluster_multi, f->easy);
    ngx_rtmp_cluster_fetch_free(f);
}


static void
ngx_rtmp_cluster_fetch_free(ngx_rtmp_cluster_fetch_t *f)
{
    if (f->easy) {
        curl_easy_cleanup(f->easy);
    }

    if (f->headers) {
        curl_slist_free_all(f->headers);
    }

    if (f->result.body) {
        ngx_free(f->result.body);
    }

    ngx_free(f);
}


static size_t
ngx_rtmp_cluster_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_rtmp_cluster_fetch_t *f = userdata;

    u_char  *body;
    size_t   n, want;

    n = size * nmemb;

    if (f->result.len + n > f->max) {
        /* a short count makes curl fail the transfer */
        f->result.too_big = 1;
        return 0;
    }

    if (f->result.len + n > f->result.size) {
        want = ngx_max(f->result.size * 2, f->result.len + n);
        want = ngx_min(ngx_max(want, 1024), f->max);

        body = ngx_alloc(want, ngx_cycle->log);
        if (body == NULL) {
            return 0;
        }

        if (f->result.body) {
            ngx_memcpy(body, f->result.body, f->result.len);
            ngx_free(f->result.body);
        }

        f->result.body = body;
        f->result.size = want;
    }

    ngx_memcpy(f->result.body + f->result.len, ptr, n);
    f->result.len += n;

    return n;
}


static int
ngx_rtmp_cluster_fetch_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_connection_t  *c;

    c = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (c == NULL) {
            return 0;
        }

        curl_multi_assign(ngx_rtmp_cluster_multi, s, NULL);

        /* the descriptor is curl's to close */
        ngx_rtmp_cluster_event_release(c);

        return 0;
    }

    if (c == NULL) {
        c = ngx_rtmp_cluster_event_borrow(s, ngx_cycle->log,
                                          ngx_rtmp_cluster_fetch_event, NULL);
        if (c == NULL) {
            return -1;
        }

        curl_multi_assign(ngx_rtmp_cluster_multi, s, c);
    }

    if (ngx_rtmp_cluster_event_watch(c, (what & CURL_POLL_IN) ? 1 : 0,
                                     (what & CURL_POLL_OUT) ? 1 : 0)
        != NGX_OK)
    {
        return -1;
    }

    return 0;
}


static int
ngx_rtmp_cluster_fetch_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_event_t  *ev;

    ev = &ngx_rtmp_cluster_fetch_timer_ev;

    if (timeout_ms < 0) {
        if (ev->timer_set) {
            ngx_del_timer(ev);
        }

        return 0;
    }

    /* 0 means "as soon as possible", but not from inside this callback */
    ngx_add_timer(ev, timeout_ms ? (ngx_msec_t) timeout_ms : 1);

    return 0;
}


static void
ngx_rtmp_cluster_fetch_event(ngx_event_t *ev)
{
    int                running;
    curl_socket_t      fd;
    ngx_connection_t  *c;

    c = ev->data;
    fd = c->fd;

    /* c may be freed inside: read nothing from it afterwards */

    curl_multi_socket_action(ngx_rtmp_cluster_multi, fd,
                             ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN,
                             &running);

    ngx_rtmp_cluster_fetch_done();
}


static void
ngx_rtmp_cluster_fetch_timeout(ngx_event_t *ev)
{
    int  running;

    curl_multi_socket_action(ngx_rtmp_cluster_multi, CURL_SOCKET_TIMEOUT, 0,
                             &running);

    ngx_rtmp_cluster_fetch_done();
}


static void
ngx_rtmp_cluster_fetch_done(void)
{
    int                        left;
    long                       status;
    CURL                      *easy;
    CURLMsg                   *msg;
    ngx_rtmp_cluster_fetch_t  *f;

    while ((msg = curl_multi_info_read(ngx_rtmp_cluster_multi, &left))) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        f = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &f);

        status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

        f->result.status = status;
        f->result.elapsed = ngx_current_msec - f->started;

        if (msg->data.result != CURLE_OK) {
            f->result.error = f->result.too_big
                              ? "answer too large"
                              : (f->error[0] ? f->error
                                 : curl_easy_strerror(msg->data.result));
        }

        curl_multi_remove_handle(ngx_rtmp_cluster_multi, easy);

        /* the handler may start or cancel other fetches */
        f->handler(f, &f->result, f->data);

        ngx_rtmp_cluster_fetch_free(f);
    }
}
