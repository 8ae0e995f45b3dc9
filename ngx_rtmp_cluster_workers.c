
/*
 * ngx_rtmp_cluster: one upstream per stream per host.
 *
 * The zone names, per stream, its owner: the worker that pulls it from
 * upstream or holds its publisher.  Every worker listens on unix sockets
 * of its own (one per rtmp server block, registered here because
 * nginx-rtmp's auto_push listeners are never polled with the dynamic
 * module), and a worker whose players want a stream it does not own
 * pulls it from the owner's socket.  Ownership is checked against the
 * owner's liveness, never trusted from the table alone.
 *
 * The listeners stay out of cycle->listening, so a worker that shuts
 * down after a reload keeps serving the streams it owns to the new
 * workers until it exits.
 */


#include "ngx_rtmp_cluster.h"

#include <sys/un.h>


static void ngx_rtmp_cluster_watch_handler(ngx_event_t *ev);


static ngx_uint_t         ngx_rtmp_cluster_nlisteners;
static ngx_listening_t   *ngx_rtmp_cluster_listeners;
static ngx_event_t        ngx_rtmp_cluster_watch;
static ngx_connection_t   ngx_rtmp_cluster_watch_dummy;
static ngx_msec_t         ngx_rtmp_cluster_exiting_since;
static ngx_event_handler_pt  ngx_rtmp_cluster_recv;


/* in the master, before workers start: their socket directory */

ngx_int_t
ngx_rtmp_cluster_workers_init_module(ngx_cycle_t *cycle)
{
    ngx_file_info_t                fi;
    ngx_core_conf_t               *ccf;
    ngx_rtmp_conf_ctx_t           *rctx;
    ngx_rtmp_cluster_main_conf_t  *cmcf;
    u_char                         path[NGX_MAX_PATH];

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        return NGX_OK;
    }

    cmcf = rctx->main_conf[ngx_rtmp_cluster_module.ctx_index];
    if (cmcf == NULL || cmcf->shm_zone == NULL || !cmcf->share) {
        return NGX_OK;
    }

    if (cmcf->socket_dir.len + sizeof("/4294967295.99.sock")
        > sizeof(((struct sockaddr_un *) 0)->sun_path))
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"cluster_socket_dir\" \"%V\" is too long",
                      &cmcf->socket_dir);
        return NGX_ERROR;
    }

    ngx_cpystrn(path, cmcf->socket_dir.data, cmcf->socket_dir.len + 1);

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
        if (ngx_create_dir(path, 0700) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "\"cluster_socket_dir\": cannot create \"%s\"",
                          path);
            return NGX_ERROR;
        }

    } else if (!ngx_is_dir(&fi)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"cluster_socket_dir\": \"%s\" is not a directory",
                      path);
        return NGX_ERROR;
    }

    /* workers create their sockets there */

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() == 0 && chown((char *) path, ccf->user, -1) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "\"cluster_socket_dir\": chown(\"%s\") failed", path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_rtmp_cluster_socket_path(ngx_rtmp_cluster_main_conf_t *cmcf,
    ngx_pid_t pid, ngx_uint_t server, struct sockaddr_un *sun)
{
    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    ngx_snprintf((u_char *) sun->sun_path, sizeof(sun->sun_path) - 1,
                 "%V/%P.%ui.sock%Z", &cmcf->socket_dir, pid, server);
}


/* in each worker: a listener per rtmp server, polled by this worker */

ngx_int_t
ngx_rtmp_cluster_workers_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     n, i;
    ngx_socket_t                   s;
    ngx_listening_t               *ls, *model;
    ngx_connection_t              *c;
    ngx_rtmp_port_t               *port;
    ngx_rtmp_in_addr_t            *addr;
    struct sockaddr_un            *sun;
    ngx_rtmp_conf_ctx_t           *rctx;
    ngx_rtmp_core_srv_conf_t     **cscf;
    ngx_rtmp_core_main_conf_t     *cmcf;
    ngx_rtmp_cluster_main_conf_t  *ccmf;

    ngx_rtmp_cluster_watch_dummy.fd = (ngx_socket_t) -1;
    ngx_rtmp_cluster_watch.data = &ngx_rtmp_cluster_watch_dummy;
    ngx_rtmp_cluster_watch.log = cycle->log;
    ngx_rtmp_cluster_watch.handler = ngx_rtmp_cluster_watch_handler;
    ngx_rtmp_cluster_watch.cancelable = 1;

    ngx_add_timer(&ngx_rtmp_cluster_watch, 500);

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    ccmf = rctx->main_conf[ngx_rtmp_cluster_module.ctx_index];
    cmcf = rctx->main_conf[ngx_rtmp_core_module.ctx_index];

    if (!ccmf->share || ngx_process != NGX_PROCESS_WORKER) {
        return NGX_OK;
    }

    /* a model for the fields nginx's accept path reads */

    model = NULL;
    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].handler == ngx_rtmp_init_connection) {
            model = &ls[i];
            break;
        }
    }

    if (model == NULL) {
        return NGX_OK;
    }

    n = cmcf->servers.nelts;
    cscf = cmcf->servers.elts;

    ngx_rtmp_cluster_listeners = ngx_pcalloc(cycle->pool,
                                             n * sizeof(ngx_listening_t));
    if (ngx_rtmp_cluster_listeners == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ls = &ngx_rtmp_cluster_listeners[i];
        *ls = *model;

        sun = ngx_pcalloc(cycle->pool, sizeof(struct sockaddr_un));
        port = ngx_pcalloc(cycle->pool, sizeof(ngx_rtmp_port_t));
        addr = ngx_pcalloc(cycle->pool, sizeof(ngx_rtmp_in_addr_t));

        if (sun == NULL || port == NULL || addr == NULL) {
            return NGX_ERROR;
        }

        ngx_rtmp_cluster_socket_path(ccmf, ngx_pid, i, sun);

        /* connections here belong to this server block */
        addr->conf.ctx = cscf[i]->ctx;
        ngx_str_set(&addr->conf.addr_text, "cluster-worker");
        port->addrs = addr;
        port->naddrs = 1;

        ls->sockaddr = (struct sockaddr *) sun;
        ls->socklen = sizeof(struct sockaddr_un);
        ls->servers = port;
        ls->addr_ntop = 0;
        ls->reuseport = 0;
        ls->worker = 0;
        ngx_str_set(&ls->addr_text, "cluster-worker");

        (void) ngx_delete_file(sun->sun_path);

        s = ngx_socket(AF_UNIX, SOCK_STREAM, 0);
        if (s == (ngx_socket_t) -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                          "cluster: socket() for \"%s\" failed",
                          sun->sun_path);
            return NGX_ERROR;
        }

        if (ngx_nonblocking(s) == -1
            || bind(s, ls->sockaddr, ls->socklen) == -1
            || listen(s, NGX_LISTEN_BACKLOG) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                          "cluster: cannot listen on \"%s\"", sun->sun_path);
            (void) ngx_close_socket(s);
            return NGX_ERROR;
        }

        ls->fd = s;
        ls->listen = 1;

        c = ngx_get_connection(s, cycle->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->type = SOCK_STREAM;
        c->log = &ls->log;
        c->listening = ls;
        ls->connection = c;

        c->read->log = c->log;
        c->read->accept = 1;
        c->read->handler = ngx_event_accept;

        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) == NGX_ERROR) {
            return NGX_ERROR;
        }

        ngx_rtmp_cluster_nlisteners++;
    }

    return NGX_OK;
}


void
ngx_rtmp_cluster_workers_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_listening_t     *ls;
    struct sockaddr_un  *sun;

    for (i = 0; i < ngx_rtmp_cluster_nlisteners; i++) {
        ls = &ngx_rtmp_cluster_listeners[i];
        sun = (struct sockaddr_un *) ls->sockaddr;

        (void) ngx_delete_file(sun->sun_path);
    }

    ngx_rtmp_cluster_nlisteners = 0;
}


/* the server block index of a session's configuration */

ngx_int_t
ngx_rtmp_cluster_server_index(void **srv_conf)
{
    ngx_uint_t                  i;
    ngx_rtmp_core_srv_conf_t  **cscf, *own;

    own = srv_conf[ngx_rtmp_core_module.ctx_index];
    cscf = ngx_rtmp_core_main_conf->servers.elts;

    for (i = 0; i < ngx_rtmp_core_main_conf->servers.nelts; i++) {
        if (cscf[i] == own) {
            return i;
        }
    }

    return NGX_ERROR;
}


/*
 * The live owner of a stream, or this worker: with "take", a stream with
 * no live owner becomes ours; with "force", ours whoever had it.
 */

ngx_pid_t
ngx_rtmp_cluster_owner(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t take, ngx_uint_t force)
{
    uint32_t                       hash;
    ngx_pid_t                      pid, dead;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    dead = 0;

    if (!force) {
        /* who owns it, with the liveness check out of the lock */

        ngx_shmtx_lock(&zone->shpool->mutex);
        e = ngx_rtmp_cluster_table_find(&zone->sh->owners, key, hash);
        pid = e ? e->pid : 0;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (pid && pid != ngx_pid) {
            if (ngx_rtmp_cluster_pid_alive(pid)) {
                return pid;
            }

            dead = pid;
        }

        if (!take) {
            return (pid == ngx_pid) ? ngx_pid : 0;
        }
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&zone->sh->owners, key, hash);

    if (e && !force && e->pid != ngx_pid && e->pid != dead) {
        /* another worker took it meanwhile */
        pid = e->pid;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return pid;
    }

    if (e == NULL) {
        e = ngx_rtmp_cluster_table_add(zone, &zone->sh->owners, key, hash);
    }

    if (e) {
        if (e->pid != ngx_pid) {
            /* a new generation: the old owner's clients move */
            e->port++;
        }

        e->pid = ngx_pid;
        e->since = ngx_rtmp_cluster_now();
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ngx_pid;
}


void
ngx_rtmp_cluster_owner_release(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    ngx_rtmp_cluster_table_remove(shm_zone,
        &((ngx_rtmp_cluster_zone_t *) shm_zone->data)->sh->owners, key, 1);
}


/* sessions this module sees tell which read handler is nginx-rtmp's */

void
ngx_rtmp_cluster_note_session(ngx_rtmp_session_t *s)
{
    if (ngx_rtmp_cluster_recv == NULL) {
        ngx_rtmp_cluster_recv = s->connection->read->handler;
    }
}


/*
 * While a worker shuts down: pulls without players end at once, and once
 * worker_shutdown_timeout has passed (nginx then marks every connection
 * "close", which nginx-rtmp ignores) rtmp sessions are ended, so the
 * worker exits in time even with relays live.
 */

static void
ngx_rtmp_cluster_watch_handler(ngx_event_t *ev)
{
    ngx_uint_t         i;
    ngx_connection_t  *c;

    if (!ngx_exiting) {
        ngx_add_timer(ev, 500);
        return;
    }

    if (ngx_rtmp_cluster_exiting_since == 0) {
        ngx_rtmp_cluster_exiting_since = ngx_current_msec;
        ngx_rtmp_cluster_edge_shutdown();
    }

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

    ngx_add_timer(ev, 200);
}
