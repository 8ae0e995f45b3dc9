
/*
 * ngx_rtmp_cluster: nginx events for descriptors other libraries own.
 *
 * libcurl (the fetches) and hiredis (the stream manager's Redis
 * connections) open, read, write and close their sockets themselves and
 * only ask to be told when one is readable or writable.  A borrowed
 * connection is an nginx connection structure around such a descriptor,
 * used for nothing but its two events:
 *
 *   - the events are level-triggered: the library may leave data unread
 *     or stop writing before the socket is full, and must be called again
 *     while the condition holds (edge-triggered, it would never hear of
 *     that data);
 *   - the read and the write event call the same handler, which tells
 *     them apart by ev->write, and c->data is the caller's;
 *   - releasing it removes the events, drops those already posted (the
 *     library may free its state from inside a handler, with the other
 *     event of the same iteration still queued) and gives the structure
 *     back without closing the descriptor, which stays the library's.
 *
 * A timer of its own (a library's wake-up, a reconnect) has no connection
 * either; nginx's timer code logs ((ngx_connection_t *) ev->data)->fd in
 * debug builds, so its data is a placeholder connection with no descriptor.
 */


#include "ngx_rtmp_cluster_event.h"


static ngx_connection_t  ngx_rtmp_cluster_event_placeholder;


/* a connection structure to poll fd, which the caller keeps owning */

ngx_connection_t *
ngx_rtmp_cluster_event_borrow(ngx_socket_t fd, ngx_log_t *log,
    ngx_event_handler_pt handler, void *data)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = data;

    c->read->handler = handler;
    c->write->handler = handler;
    c->read->log = c->log;
    c->write->log = c->log;

    return c;
}


/*
 * What to poll for: 1 watches a direction, 0 stops watching it,
 * NGX_RTMP_CLUSTER_EVENT_KEEP leaves it as it is.
 */

ngx_int_t
ngx_rtmp_cluster_event_watch(ngx_connection_t *c, ngx_int_t read,
    ngx_int_t write)
{
    ngx_event_t  *rev, *wev;

    rev = c->read;
    wev = c->write;

    if (read == 1) {
        if (!rev->active
            && ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (read == 0 && rev->active) {
        (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
    }

    if (write == 1) {
        if (!wev->active
            && ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (write == 0 && wev->active) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


/* the structure goes back to nginx; the descriptor stays open */

void
ngx_rtmp_cluster_event_release(ngx_connection_t *c)
{
    ngx_uint_t  flags;

    /*
     * The library may have closed the descriptor already (libcurl does,
     * when a transfer still connecting is removed or times out: a peer
     * whose link is down), within the call that releases it, so the
     * number cannot belong to another socket yet; the close took it out
     * of epoll, and epoll_ctl() would fail on it.
     */

    flags = (fcntl(c->fd, F_GETFD) == -1 && ngx_errno == NGX_EBADF)
            ? NGX_CLOSE_EVENT : 0;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /*
     * as ngx_close_connection() does, less the close: -1 after the free
     * (which clears the descriptor's slot), so a stale event is known
     */

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


/* a cancelable timer that belongs to no connection */

void
ngx_rtmp_cluster_event_timer(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log)
{
    ngx_rtmp_cluster_event_placeholder.fd = (ngx_socket_t) -1;

    ev->data = &ngx_rtmp_cluster_event_placeholder;
    ev->handler = handler;
    ev->log = log;
    ev->cancelable = 1;
}
