
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
 * down after a reload keeps serving the streams it owns (those it holds
 * the publisher of) to the new workers until it exits.
 */


#include "ngx_rtmp_cluster.h"

#include <dirent.h>
#include <sys/un.h>


static ngx_int_t ngx_rtmp_cluster_workers_socket_dir(ngx_cycle_t *cycle,
    ngx_str_t *dir, ngx_uint_t fix);
static void ngx_rtmp_cluster_workers_socket_sweep(ngx_cycle_t *cycle, int fd);
static ngx_int_t ngx_rtmp_cluster_workers_listen(ngx_cycle_t *cycle,
    ngx_listening_t *ls, struct sockaddr_un *sun);
static void ngx_rtmp_cluster_workers_listen_all(ngx_cycle_t *cycle);
static void ngx_rtmp_cluster_workers_close_all(void);
static void ngx_rtmp_cluster_workers_check_sockets(ngx_cycle_t *cycle);
static void ngx_rtmp_cluster_workers_socket_path(
    ngx_rtmp_cluster_main_conf_t *cmcf,
    ngx_pid_t pid, ngx_uint_t server, struct sockaddr_un *sun);
static void ngx_rtmp_cluster_workers_state(ngx_cycle_t *cycle);


#define NGX_RTMP_CLUSTER_LISTEN_RETRY  5000   /* ms between tries */


static ngx_uint_t         ngx_rtmp_cluster_workers_nlisteners;
static ngx_listening_t   *ngx_rtmp_cluster_workers_listeners;

/* cluster_worker_relay on; this worker's sockets listen; its cycle */
static ngx_uint_t         ngx_rtmp_cluster_workers_relaying;
static ngx_uint_t         ngx_rtmp_cluster_workers_listening;
static ngx_uint_t         ngx_rtmp_cluster_workers_generation;

/* sockets lost: when to listen again, and whether the log said so */
static ngx_str_t         *ngx_rtmp_cluster_workers_dir_conf;
static ngx_msec_t         ngx_rtmp_cluster_workers_retry_at;
static ngx_uint_t         ngx_rtmp_cluster_workers_said;


/* in the master, before workers start: their socket directory */

ngx_int_t
ngx_rtmp_cluster_workers_init_module(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    cmcf = ngx_rtmp_cluster_main_conf(cycle);

    if (cmcf == NULL || cmcf->shm_zone == NULL || !cmcf->worker_relay) {
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

    return ngx_rtmp_cluster_workers_socket_dir(cycle, &cmcf->socket_dir, 1);
}


/*
 * The socket directory: a real directory (never through a symbolic link),
 * owned by root or the worker user, created if missing; with "fix" (the
 * master), handed to the worker user with mode 0700 through a descriptor
 * opened without following links, so no local user can have root hand
 * them another directory, and nobody else can reach the sockets (a
 * connection there bypasses "deny publish").  Sockets of dead workers
 * are removed.
 */

static ngx_int_t
ngx_rtmp_cluster_workers_socket_dir(ngx_cycle_t *cycle, ngx_str_t *dir,
    ngx_uint_t fix)
{
    int               fd;
    uid_t             uid;
    gid_t             gid;
    ngx_uint_t        level;
    struct stat       ls, fs;
    ngx_core_conf_t  *ccf;
    u_char            path[NGX_MAX_PATH];

    ngx_cpystrn(path, dir->data, ngx_min(dir->len + 1, sizeof(path)));

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    uid = (geteuid() == 0) ? ccf->user : geteuid();
    gid = (geteuid() == 0) ? ccf->group : getegid();

    /* the master refuses to start; a worker goes on without relaying */
    level = fix ? NGX_LOG_EMERG : NGX_LOG_ERR;

    if (lstat((char *) path, &ls) == -1) {
        if (ngx_errno != NGX_ENOENT
            || mkdir((char *) path, 0700) == -1
            || lstat((char *) path, &ls) == -1)
        {
            ngx_log_error(level, cycle->log, ngx_errno,
                          "\"cluster_socket_dir\": cannot create \"%s\"",
                          path);
            return NGX_ERROR;
        }

        if (!fix) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "\"cluster_socket_dir\": \"%s\" was removed, "
                          "made again", path);
        }
    }

    if (S_ISLNK(ls.st_mode)) {
        ngx_log_error(level, cycle->log, 0,
                      "\"cluster_socket_dir\": \"%s\" is a symbolic link, "
                      "name the directory itself", path);
        return NGX_ERROR;
    }

    if (!S_ISDIR(ls.st_mode)) {
        ngx_log_error(level, cycle->log, 0,
                      "\"cluster_socket_dir\": \"%s\" is not a directory",
                      path);
        return NGX_ERROR;
    }

    if (ls.st_uid != 0 && ls.st_uid != uid && ls.st_uid != geteuid()) {
        ngx_log_error(level, cycle->log, 0,
                      "\"cluster_socket_dir\": \"%s\" is owned by uid %d, "
                      "expected root or the worker user", path,
                      (int) ls.st_uid);
        return NGX_ERROR;
    }

    fd = open((char *) path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

    if (fd == -1 || fstat(fd, &fs) == -1
        || fs.st_dev != ls.st_dev || fs.st_ino != ls.st_ino)
    {
        ngx_log_error(level, cycle->log, ngx_errno,
                      "\"cluster_socket_dir\": \"%s\" changed while "
                      "checked", path);
        if (fd != -1) {
            (void) close(fd);
        }
        return NGX_ERROR;
    }

    if (fix) {
        if ((fs.st_uid != uid || fs.st_gid != gid)
            && geteuid() == 0 && fchown(fd, uid, gid) == -1)
        {
            ngx_log_error(level, cycle->log, ngx_errno,
                          "\"cluster_socket_dir\": chown(\"%s\") failed",
                          path);
            (void) close(fd);
            return NGX_ERROR;
        }

        if ((fs.st_mode & 07777) != 0700 && fchmod(fd, 0700) == -1) {
            ngx_log_error(level, cycle->log, ngx_errno,
                          "\"cluster_socket_dir\": chmod(\"%s\") failed",
                          path);
            (void) close(fd);
            return NGX_ERROR;
        }
    }

    ngx_rtmp_cluster_workers_socket_sweep(cycle, fd);

    (void) close(fd);

    return NGX_OK;
}


/* PID.N.sock of workers that are gone (killed, they left them) */

static void
ngx_rtmp_cluster_workers_socket_sweep(ngx_cycle_t *cycle, int fd)
{
    int             dfd;
    DIR            *d;
    size_t          len;
    u_char         *p, *dot;
    ngx_pid_t       pid;
    struct dirent  *de;

    dfd = dup(fd);
    if (dfd == -1) {
        return;
    }

    d = fdopendir(dfd);
    if (d == NULL) {
        (void) close(dfd);
        return;
    }

    while ((de = readdir(d)) != NULL) {
        p = (u_char *) de->d_name;
        len = ngx_strlen(p);

        dot = (u_char *) ngx_strchr(p, '.');

        if (dot == NULL || dot == p || len < sizeof(".sock")
            || ngx_strcmp(p + len - 5, ".sock") != 0)
        {
            continue;
        }

        pid = (ngx_pid_t) ngx_atoi(p, dot - p);

        if (pid <= 0 || pid == ngx_pid || ngx_rtmp_cluster_pid_alive(pid)) {
            continue;
        }

        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                          "cluster: removed the socket \"%s\" of the dead "
                          "worker %P", de->d_name, pid);
        }
    }

    (void) closedir(d);
}


static void
ngx_rtmp_cluster_workers_socket_path(ngx_rtmp_cluster_main_conf_t *cmcf,
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
    ngx_listening_t               *ls, *model;
    ngx_rtmp_port_t               *port;
    ngx_rtmp_in_addr_t            *addr;
    struct sockaddr_un            *sun;
    ngx_rtmp_core_srv_conf_t     **cscf;
    ngx_rtmp_core_main_conf_t     *cmcf;
    ngx_rtmp_cluster_main_conf_t  *ccmf;

    ccmf = ngx_rtmp_cluster_main_conf(cycle);
    cmcf = ngx_rtmp_core_main_conf;

    ngx_rtmp_cluster_workers_relaying = ccmf->worker_relay;
    ngx_rtmp_cluster_workers_listening = 0;
    ngx_rtmp_cluster_workers_generation =
        ngx_rtmp_cluster_zone_generation(ccmf->shm_zone->data);

    if (!ccmf->worker_relay || ngx_process != NGX_PROCESS_WORKER) {
        ngx_rtmp_cluster_workers_state(cycle);
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
        ngx_rtmp_cluster_workers_state(cycle);
        return NGX_OK;
    }

    n = cmcf->servers.nelts;
    cscf = cmcf->servers.elts;

    ngx_rtmp_cluster_workers_listeners = ngx_pcalloc(cycle->pool,
                                             n * sizeof(ngx_listening_t));
    if (ngx_rtmp_cluster_workers_listeners == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ls = &ngx_rtmp_cluster_workers_listeners[i];
        *ls = *model;

        sun = ngx_pcalloc(cycle->pool, sizeof(struct sockaddr_un));
        port = ngx_pcalloc(cycle->pool, sizeof(ngx_rtmp_port_t));
        addr = ngx_pcalloc(cycle->pool, sizeof(ngx_rtmp_in_addr_t));

        if (sun == NULL || port == NULL || addr == NULL) {
            return NGX_ERROR;
        }

        ngx_rtmp_cluster_workers_socket_path(ccmf, ngx_pid, i, sun);

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
        ls->fd = (ngx_socket_t) -1;
        ls->connection = NULL;
        ngx_str_set(&ls->addr_text, "cluster-worker");
    }

    ngx_rtmp_cluster_workers_nlisteners = n;
    ngx_rtmp_cluster_workers_dir_conf = &ccmf->socket_dir;

    ngx_rtmp_cluster_workers_listen_all(cycle);
    ngx_rtmp_cluster_workers_retry_at = ngx_current_msec
                                + NGX_RTMP_CLUSTER_LISTEN_RETRY;

    ngx_rtmp_cluster_workers_state(cycle);

    return NGX_OK;
}


/*
 * The worker's sockets, (re)opened: the directory again first (it may
 * have been removed since the master made it, then it is made again, and
 * a killed worker left its sockets there).  A worker that cannot listen
 * still serves: its players pull on their own, and no other worker
 * relays from it; it tries again from the watch timer.
 */

static void
ngx_rtmp_cluster_workers_listen_all(ngx_cycle_t *cycle)
{
    ngx_uint_t        i, ok;
    ngx_listening_t  *ls;

    ok = (ngx_rtmp_cluster_workers_socket_dir(cycle,
                                        ngx_rtmp_cluster_workers_dir_conf, 0)
          == NGX_OK);

    for (i = 0; ok && i < ngx_rtmp_cluster_workers_nlisteners; i++) {
        ls = &ngx_rtmp_cluster_workers_listeners[i];

        if (ngx_rtmp_cluster_workers_listen(cycle, ls,
                                            (struct sockaddr_un *) ls->sockaddr)
            != NGX_OK)
        {
            ok = 0;
        }
    }

    if (!ok) {
        ngx_rtmp_cluster_workers_close_all();

        if (!ngx_rtmp_cluster_workers_said) {
            ngx_rtmp_cluster_workers_said = 1;

            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "cluster: this worker has no relay socket: it "
                          "pulls for its own players, and no other worker "
                          "relays from it; trying again every %ds",
                          NGX_RTMP_CLUSTER_LISTEN_RETRY / 1000);
        }

        ngx_rtmp_cluster_workers_listening = 0;
        return;
    }

    if (ngx_rtmp_cluster_workers_said) {
        ngx_rtmp_cluster_workers_said = 0;

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "cluster: this worker's relay sockets listen again");
    }

    ngx_rtmp_cluster_workers_listening = 1;
}


static void
ngx_rtmp_cluster_workers_close_all(void)
{
    ngx_uint_t        i;
    ngx_listening_t  *ls;

    for (i = 0; i < ngx_rtmp_cluster_workers_nlisteners; i++) {
        ls = &ngx_rtmp_cluster_workers_listeners[i];

        if (ls->connection) {
            if (ls->connection->read->active) {
                (void) ngx_del_event(ls->connection->read, NGX_READ_EVENT, 0);
            }

            ngx_free_connection(ls->connection);
            ls->connection = NULL;
        }

        if (ls->fd != (ngx_socket_t) -1) {
            (void) ngx_close_socket(ls->fd);
            ls->fd = (ngx_socket_t) -1;

            (void) ngx_delete_file(
                       ((struct sockaddr_un *) ls->sockaddr)->sun_path);
        }
    }
}


/*
 * Every tick: a socket whose name was removed (its directory with it)
 * cannot be reached, so this worker stops relaying and listens anew.
 */

static void
ngx_rtmp_cluster_workers_check_sockets(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_file_info_t   fi;
    ngx_listening_t  *ls;

    if (!ngx_rtmp_cluster_workers_relaying
        || ngx_rtmp_cluster_workers_nlisteners == 0)
    {
        return;
    }

    if (ngx_rtmp_cluster_workers_listening) {

        for (i = 0; i < ngx_rtmp_cluster_workers_nlisteners; i++) {
            ls = &ngx_rtmp_cluster_workers_listeners[i];

            if (ngx_file_info(((struct sockaddr_un *) ls->sockaddr)->sun_path,
                              &fi)
                == NGX_FILE_ERROR)
            {
                break;
            }
        }

        if (i == ngx_rtmp_cluster_workers_nlisteners) {
            return;
        }

        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "cluster: this worker's relay socket was removed, "
                      "listening anew");

        ngx_rtmp_cluster_workers_close_all();
        ngx_rtmp_cluster_workers_listening = 0;
        ngx_rtmp_cluster_workers_retry_at = 0;
    }

    if (ngx_current_msec < ngx_rtmp_cluster_workers_retry_at) {
        return;
    }

    ngx_rtmp_cluster_workers_retry_at = ngx_current_msec
                                + NGX_RTMP_CLUSTER_LISTEN_RETRY;

    ngx_rtmp_cluster_workers_listen_all(cycle);
    ngx_rtmp_cluster_workers_state(cycle);
}


/* one worker socket */

static ngx_int_t
ngx_rtmp_cluster_workers_listen(ngx_cycle_t *cycle, ngx_listening_t *ls,
    struct sockaddr_un *sun)
{
    ngx_socket_t       s;
    ngx_connection_t  *c;

    (void) ngx_delete_file(sun->sun_path);

    s = ngx_socket(AF_UNIX, SOCK_STREAM, 0);
    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_socket_errno,
                      "cluster: socket() for \"%s\" failed", sun->sun_path);
        return NGX_ERROR;
    }

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_socket_errno,
                      "cluster: " ngx_nonblocking_n " failed");
        goto failed;
    }

    /* the directory is the worker user's alone; the socket too */

    if (bind(s, ls->sockaddr, ls->socklen) == -1
        || chmod(sun->sun_path, 0600) == -1
        || listen(s, NGX_LISTEN_BACKLOG) == -1)
    {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_socket_errno,
                      "cluster: cannot listen on \"%s\"", sun->sun_path);
        (void) ngx_delete_file(sun->sun_path);
        goto failed;
    }

    ls->fd = s;
    ls->listen = 1;

    c = ngx_get_connection(s, cycle->log);
    if (c == NULL) {
        (void) ngx_delete_file(sun->sun_path);
        goto failed;
    }

    c->type = SOCK_STREAM;
    c->log = &ls->log;
    c->listening = ls;
    ls->connection = c;

    c->read->log = c->log;
    c->read->accept = 1;
    c->read->handler = ngx_event_accept;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) == NGX_ERROR) {
        ngx_free_connection(c);
        ls->connection = NULL;
        (void) ngx_delete_file(sun->sun_path);
        goto failed;
    }

    return NGX_OK;

failed:

    (void) ngx_close_socket(s);
    ls->fd = (ngx_socket_t) -1;

    return NGX_ERROR;
}


/* this worker in the zone's worker table, for the status and others */

static void
ngx_rtmp_cluster_workers_state(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_zone_t  *zone;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    zone = ngx_rtmp_cluster_zone_get(cycle);
    if (zone == NULL) {
        return;
    }

    ngx_rtmp_cluster_worker_set(zone, ngx_process_slot,
                                ngx_rtmp_cluster_workers_generation,
                                ngx_rtmp_cluster_workers_listening,
                                ngx_exiting);
}


void
ngx_rtmp_cluster_workers_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                i;
    ngx_listening_t          *ls;
    struct sockaddr_un       *sun;
    ngx_rtmp_cluster_zone_t  *zone;

    for (i = 0; i < ngx_rtmp_cluster_workers_nlisteners; i++) {
        ls = &ngx_rtmp_cluster_workers_listeners[i];
        sun = (struct sockaddr_un *) ls->sockaddr;

        if (ls->fd != (ngx_socket_t) -1) {
            (void) ngx_delete_file(sun->sun_path);
        }
    }

    ngx_rtmp_cluster_workers_nlisteners = 0;

    zone = ngx_rtmp_cluster_zone_get(cycle);
    if (zone) {
        ngx_rtmp_cluster_worker_gone(zone, ngx_process_slot);
    }
}


/* from the module's watch timer: sockets lost, listened anew */

void
ngx_rtmp_cluster_workers_check(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_workers_check_sockets(cycle);
}


/* from the module's watch timer, once: this worker shuts down */

void
ngx_rtmp_cluster_workers_exiting(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_workers_state(cycle);
}


/* the owner worker's unix socket for a server block, as a target */

ngx_int_t
ngx_rtmp_cluster_worker_target(ngx_rtmp_cluster_target_t *t, ngx_pid_t pid,
    void **srv_conf)
{
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_rtmp_core_srv_conf_t     **cscf, *own;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    own = srv_conf[ngx_rtmp_core_module.ctx_index];
    cscf = ngx_rtmp_core_main_conf->servers.elts;

    for (i = 0; i < ngx_rtmp_core_main_conf->servers.nelts; i++) {
        if (cscf[i] == own) {
            break;
        }
    }

    if (i == ngx_rtmp_core_main_conf->servers.nelts) {
        return NGX_ERROR;
    }

    cmcf = ngx_rtmp_cluster_main_conf((ngx_cycle_t *) ngx_cycle);

    ngx_memzero(t, sizeof(ngx_rtmp_cluster_target_t));

    ngx_rtmp_cluster_workers_socket_path(cmcf, pid, i,
                                 (struct sockaddr_un *) &t->sockaddr);
    t->socklen = sizeof(struct sockaddr_un);
    t->worker = pid;

    p = ngx_sprintf(t->name_buf, "worker:%P", pid);
    t->name.data = t->name_buf;
    t->name.len = p - t->name_buf;

    return NGX_OK;
}


/*
 * The live owner of a stream, or this worker: with "take", a stream with
 * no live owner becomes ours; with "force" (a publisher is here), ours
 * whoever had it.  This is where ownership is decided; the engine asks
 * once per round (ngx_rtmp_cluster_stream.c).
 *
 * A pull's owner from an older configuration cycle is a worker that is
 * shutting down after a reload: a worker of the current cycle takes the
 * stream over, so new players never wait on a worker that is going, and
 * a worker of an older cycle (or one without relay sockets) never takes
 * a pull: it pulls for its own players, unrecorded, until it can relay
 * from the new owner (ngx_rtmp_cluster_stream_exiting()).
 */

ngx_pid_t
ngx_rtmp_cluster_owner(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_uint_t take, ngx_uint_t force)
{
    ngx_pid_t   pid, was;
    ngx_uint_t  kind, generation, relays, stale, current;

    if (!ngx_rtmp_cluster_workers_relaying) {
        /* cluster_worker_relay off: every worker pulls on its own */
        return ngx_pid;
    }

    was = 0;

    current = (ngx_rtmp_cluster_workers_generation
                   == ngx_rtmp_cluster_zone_generation(zone)
               && !ngx_exiting);

    if (!force) {
        pid = ngx_rtmp_cluster_owner_find(zone, key, &kind, &generation,
                                          &relays);

        stale = (pid && kind == NGX_RTMP_CLUSTER_OWNER_PULL
                 && generation != ngx_rtmp_cluster_zone_generation(zone));

        if (pid && pid != ngx_pid) {
            if (ngx_rtmp_cluster_pid_alive(pid) && relays
                && !(stale && current && take))
            {
                return pid;
            }

            /* dead, without sockets, or going: taken over below */
            was = pid;
        }

        if (!take) {
            return (pid == ngx_pid) ? ngx_pid : 0;
        }
    }

    if ((!current && !force) || !ngx_rtmp_cluster_workers_listening) {
        /* nobody may relay from us: our players only */
        return ngx_pid;
    }

    return ngx_rtmp_cluster_owner_take(zone, key,
                                       force ? NGX_RTMP_CLUSTER_OWNER_PUBLISH
                                             : NGX_RTMP_CLUSTER_OWNER_PULL,
                                       ngx_rtmp_cluster_workers_generation, was,
                                       force);
}
