
/*
 * ngx_rtmp_cluster: nginx events for descriptors other libraries own
 * (libcurl's sockets, hiredis's), and timers that belong to no connection.
 */


#ifndef _NGX_RTMP_CLUSTER_EVENT_H_INCLUDED_
#define _NGX_RTMP_CLUSTER_EVENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* ngx_rtmp_cluster_event_watch(): leave this direction as it is */
#define NGX_RTMP_CLUSTER_EVENT_KEEP  -1


ngx_connection_t *ngx_rtmp_cluster_event_borrow(ngx_socket_t fd,
    ngx_log_t *log, ngx_event_handler_pt handler, void *data);
ngx_int_t ngx_rtmp_cluster_event_watch(ngx_connection_t *c, ngx_int_t read,
    ngx_int_t write);
void ngx_rtmp_cluster_event_release(ngx_connection_t *c);

void ngx_rtmp_cluster_event_timer(ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_log_t *log);


#endif /* _NGX_RTMP_CLUSTER_EVENT_H_INCLUDED_ */
