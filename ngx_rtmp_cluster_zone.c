
/*
 * ngx_rtmp_cluster: the shared zone.  Origin health (the circuit breaker
 * every worker obeys) and one record per stream a worker handles, which
 * the status handler lists.  The slab mutex is held only around reads and
 * updates of the records, never around I/O.
 */


#include "ngx_rtmp_cluster.h"


static ngx_rtmp_cluster_shm_origin_t *ngx_rtmp_cluster_origin_record(
    ngx_rtmp_cluster_zone_t *ctx, ngx_str_t *name);
static void ngx_rtmp_cluster_table_init(ngx_rtmp_cluster_shm_table_t *t);
static void ngx_rtmp_cluster_table_sweep(ngx_rtmp_cluster_zone_t *ctx,
    ngx_rtmp_cluster_shm_table_t *t, ngx_pid_t *dead, ngx_uint_t ndead);
static ngx_uint_t ngx_rtmp_cluster_pid_in(ngx_pid_t pid, ngx_pid_t *pids,
    ngx_uint_t n);
static void ngx_rtmp_cluster_table_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * Is a worker named in the zone alive?  Its record is not trusted alone:
 * a killed worker leaves its entries behind.
 */

ngx_uint_t
ngx_rtmp_cluster_pid_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
}


/*
 * The zone is full: counted, and said at most once a second per worker
 * (a storm of plays would otherwise fill the log as well).
 */

void
ngx_rtmp_cluster_zone_full(ngx_shm_zone_t *shm_zone, const char *what,
    ngx_str_t *key)
{
    ngx_rtmp_cluster_zone_t  *ctx;

    static time_t      last;
    static ngx_uint_t  suppressed;

    ctx = shm_zone->data;

    (void) ngx_atomic_fetch_add(&ctx->sh->zone_full, 1);

    if (last == ngx_time()) {
        suppressed++;
        return;
    }

    last = ngx_time();

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: zone \"%V\" is full: \"%V\" %s (and %ui "
                  "more since the last such message)",
                  &shm_zone->shm.name, key, what, suppressed);

    suppressed = 0;
}


uint64_t
ngx_rtmp_cluster_now(void)
{
    ngx_time_t  *tp;

    /* wall clock: comparable across workers, unlike a per-process base */

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_rtmp_cluster_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_rtmp_cluster_zone_t  *octx = data;

    size_t                      len;
    ngx_uint_t                  i;
    ngx_slab_pool_t            *shpool;
    ngx_rtmp_cluster_zone_t    *ctx;
    ngx_rtmp_cluster_origin_t **origins;

    ctx = shm_zone->data;
    ctx->shm_zone = shm_zone;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (octx) {
        /* reload: keep the health and stream records of the old cycle */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        /* the old cycle's workers are going: see ngx_rtmp_cluster_owner() */
        ctx->sh->generation++;

    } else if (shm_zone->shm.exists) {
        ctx->sh = shpool->data;
        ctx->shpool = shpool;

    } else {
        ctx->shpool = shpool;

        ctx->sh = ngx_slab_alloc(shpool, sizeof(ngx_rtmp_cluster_shm_t));
        if (ctx->sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = ctx->sh;

        ngx_memzero(ctx->sh, sizeof(ngx_rtmp_cluster_shm_t));

        ngx_queue_init(&ctx->sh->origins);
        ngx_queue_init(&ctx->sh->streams);
        ngx_rtmp_cluster_table_init(&ctx->sh->registry);
        ngx_rtmp_cluster_table_init(&ctx->sh->lookups);
        ngx_rtmp_cluster_table_init(&ctx->sh->owners);

        len = sizeof(" in cluster zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in cluster zone \"%V\"%Z",
                    &shm_zone->shm.name);

        /* running out of room is reported by this module, at a lower level */
        shpool->log_nomem = 0;
    }

    origins = ctx->origins->elts;

    for (i = 0; i < ctx->origins->nelts; i++) {
        origins[i]->shm = ngx_rtmp_cluster_origin_record(ctx,
                                                         &origins[i]->name);
        if (origins[i]->shm == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "cluster: zone \"%V\" is too small for %ui origins",
                          &shm_zone->shm.name, ctx->origins->nelts);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_rtmp_cluster_shm_origin_t *
ngx_rtmp_cluster_origin_record(ngx_rtmp_cluster_zone_t *ctx, ngx_str_t *name)
{
    ngx_queue_t                    *q;
    ngx_rtmp_cluster_shm_origin_t  *r;

    for (q = ngx_queue_head(&ctx->sh->origins);
         q != ngx_queue_sentinel(&ctx->sh->origins);
         q = ngx_queue_next(q))
    {
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_origin_t, queue);

        if (r->name_len == name->len
            && ngx_strncmp(r->name, name->data, name->len) == 0)
        {
            return r;
        }
    }

    r = ngx_slab_calloc(ctx->shpool, sizeof(ngx_rtmp_cluster_shm_origin_t));
    if (r == NULL) {
        return NULL;
    }

    ngx_memcpy(r->name, name->data, name->len);
    r->name_len = name->len;

    ngx_queue_insert_tail(&ctx->sh->origins, &r->queue);

    return r;
}


ngx_rtmp_cluster_zone_t *
ngx_rtmp_cluster_zone_get(ngx_cycle_t *cycle)
{
    ngx_rtmp_conf_ctx_t           *rctx;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    rctx = (ngx_rtmp_conf_ctx_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_rtmp_module);
    if (rctx == NULL) {
        return NULL;
    }

    cmcf = rctx->main_conf[ngx_rtmp_cluster_module.ctx_index];
    if (cmcf == NULL || cmcf->shm_zone == NULL) {
        return NULL;
    }

    zone = cmcf->shm_zone->data;
    if (zone == NULL || zone->sh == NULL) {
        return NULL;
    }

    return zone;
}


ngx_int_t
ngx_rtmp_cluster_origin_usable(ngx_rtmp_cluster_origin_t *o)
{
    if (o->shm == NULL) {
        return 1;
    }

    return ngx_rtmp_cluster_now() >= o->shm->open_until;
}


void
ngx_rtmp_cluster_origin_failure(ngx_rtmp_cluster_origin_t *o,
    const char *reason)
{
    uint64_t                        now;
    ngx_slab_pool_t                *shpool;
    ngx_rtmp_cluster_shm_origin_t  *r;

    r = o->shm;
    if (r == NULL) {
        return;
    }

    shpool = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle)->shpool;
    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&shpool->mutex);

    r->fails++;
    r->total_fails++;
    r->last_failure = ngx_time();
    ngx_cpystrn(r->last_error, (u_char *) reason, sizeof(r->last_error));

    if (r->fails >= o->max_fails) {
        if (r->open_until <= now) {
            r->circuit_opens++;
        }

        r->open_until = now + o->fail_timeout;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


void
ngx_rtmp_cluster_origin_success(ngx_rtmp_cluster_origin_t *o)
{
    ngx_slab_pool_t                *shpool;
    ngx_rtmp_cluster_shm_origin_t  *r;

    r = o->shm;
    if (r == NULL) {
        return;
    }

    shpool = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle)->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    r->fails = 0;
    r->successes++;
    r->open_until = 0;

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_uint_t
ngx_rtmp_cluster_zone_next_rr(ngx_shm_zone_t *shm_zone)
{
    ngx_rtmp_cluster_zone_t  *ctx;

    ctx = shm_zone->data;

    return ngx_atomic_fetch_add(&ctx->sh->rr, 1);
}


ngx_rtmp_cluster_shm_stream_t *
ngx_rtmp_cluster_stream_record(ngx_shm_zone_t *shm_zone, ngx_uint_t kind,
    ngx_str_t *app, ngx_str_t *name)
{
    ngx_rtmp_cluster_zone_t        *ctx;
    ngx_rtmp_cluster_shm_stream_t  *r;

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    r = ngx_slab_calloc_locked(ctx->shpool,
                               sizeof(ngx_rtmp_cluster_shm_stream_t));
    if (r == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_rtmp_cluster_zone_full(shm_zone, "is not shown in the status",
                                   name);
        return NULL;
    }

    r->pid = ngx_pid;
    r->kind = kind;
    r->started = ngx_time();
    ngx_memcpy(r->app, app->data, ngx_min(app->len, NGX_RTMP_MAX_NAME - 1));
    ngx_memcpy(r->name, name->data,
               ngx_min(name->len, NGX_RTMP_MAX_NAME - 1));

    ngx_queue_insert_tail(&ctx->sh->streams, &r->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return r;
}


void
ngx_rtmp_cluster_stream_record_set(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_stream_t *r, ngx_uint_t state, ngx_str_t *origin)
{
    ngx_rtmp_cluster_zone_t  *ctx;

    if (r == NULL) {
        return;
    }

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    r->state = state;

    if (origin) {
        ngx_memzero(r->origin, sizeof(r->origin));
        ngx_memcpy(r->origin, origin->data,
                   ngx_min(origin->len, sizeof(r->origin) - 1));
        r->origin_since = ngx_time();
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_rtmp_cluster_stream_record_free(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_stream_t *r)
{
    ngx_rtmp_cluster_zone_t  *ctx;

    if (r == NULL) {
        return;
    }

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_queue_remove(&r->queue);
    ngx_slab_free_locked(ctx->shpool, r);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


static void
ngx_rtmp_cluster_table_init(ngx_rtmp_cluster_shm_table_t *t)
{
    ngx_rbtree_init(&t->rbtree, &t->sentinel,
                    ngx_rtmp_cluster_table_insert_value);
    ngx_queue_init(&t->queue);
}


static void
ngx_rtmp_cluster_table_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_rtmp_cluster_shm_entry_t   *e, *et;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            e = (ngx_rtmp_cluster_shm_entry_t *) node;
            et = (ngx_rtmp_cluster_shm_entry_t *) temp;

            p = (ngx_memn2cmp(e->key, et->key, e->len, et->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* the caller holds the zone's mutex in the three functions below */

ngx_rtmp_cluster_shm_entry_t *
ngx_rtmp_cluster_table_find(ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                      rc;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_rtmp_cluster_shm_entry_t  *e;

    node = t->rbtree.root;
    sentinel = t->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        e = (ngx_rtmp_cluster_shm_entry_t *) node;

        rc = ngx_memn2cmp(key->data, e->key, key->len, e->len);

        if (rc == 0) {
            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


ngx_rtmp_cluster_shm_entry_t *
ngx_rtmp_cluster_table_add(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key, uint32_t hash)
{
    size_t                          size;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_rtmp_cluster_shm_entry_t   *e, *old;

    size = offsetof(ngx_rtmp_cluster_shm_entry_t, key) + key->len;

    e = ngx_slab_alloc_locked(zone->shpool, size);

    /* out of room: drop the oldest cached lookups, never the registry */

    for (n = 0; e == NULL && n < 16; n++) {
        if (ngx_queue_empty(&zone->sh->lookups.queue)) {
            break;
        }

        q = ngx_queue_head(&zone->sh->lookups.queue);
        old = ngx_queue_data(q, ngx_rtmp_cluster_shm_entry_t, queue);

        if (old->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING) {
            break;
        }

        ngx_rtmp_cluster_table_delete(zone, &zone->sh->lookups, old);

        e = ngx_slab_alloc_locked(zone->shpool, size);
    }

    if (e == NULL) {
        return NULL;
    }

    ngx_memzero(e, size);

    e->node.key = hash;
    e->len = (u_short) key->len;
    ngx_memcpy(e->key, key->data, key->len);

    ngx_rbtree_insert(&t->rbtree, &e->node);
    ngx_queue_insert_tail(&t->queue, &e->queue);

    return e;
}


void
ngx_rtmp_cluster_table_delete(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_rtmp_cluster_shm_entry_t *e)
{
    ngx_rbtree_delete(&t->rbtree, &e->node);
    ngx_queue_remove(&e->queue);
    ngx_slab_free_locked(zone->shpool, e);
}


ngx_int_t
ngx_rtmp_cluster_registry_add(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *publisher)
{
    uint32_t                       hash;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&zone->sh->registry, key, hash);

    if (e == NULL) {
        e = ngx_rtmp_cluster_table_add(zone, &zone->sh->registry, key, hash);
        if (e == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_rtmp_cluster_zone_full(shm_zone, "is not registered", key);
            return NGX_ERROR;
        }
    }

    e->pid = ngx_pid;
    e->since = ngx_rtmp_cluster_now();
    ngx_memzero(e->addr, sizeof(e->addr));

    if (publisher->len) {
        /* a publisher over a worker socket has no address text */
        ngx_memcpy(e->addr, publisher->data,
                   ngx_min(publisher->len, sizeof(e->addr) - 1));
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Removes key from t: with "own", only an entry of this worker (another
 * may have taken the name over); else only an answered lookup.
 */

void
ngx_rtmp_cluster_table_remove(ngx_shm_zone_t *shm_zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key, ngx_uint_t own)
{
    uint32_t                       hash;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(t, key, hash);

    if (e && (own ? e->pid == ngx_pid
                  : e->state != NGX_RTMP_CLUSTER_LOOKUP_PENDING))
    {
        ngx_rtmp_cluster_table_delete(zone, t, e);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_rtmp_cluster_registry_remove(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    ngx_rtmp_cluster_table_remove(shm_zone,
        &((ngx_rtmp_cluster_zone_t *) shm_zone->data)->sh->registry, key, 1);
}


/* the pid of the worker holding the publisher of key, or 0 */

ngx_pid_t
ngx_rtmp_cluster_registry_find(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    uint32_t                       hash;
    ngx_pid_t                      pid;
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_shm_entry_t  *e;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    pid = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_rtmp_cluster_table_find(&zone->sh->registry, key, hash);
    if (e) {
        pid = e->pid;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* a dead worker's entry is not trusted */
    if (pid && !ngx_rtmp_cluster_pid_alive(pid)) {
        return 0;
    }

    return pid;
}


void
ngx_rtmp_cluster_counter_max(ngx_atomic_t *a, ngx_atomic_uint_t v)
{
    ngx_atomic_uint_t  old;

    for ( ;; ) {
        old = *a;

        if (old >= v || ngx_atomic_cmp_set(a, old, v)) {
            return;
        }
    }
}


static void
ngx_rtmp_cluster_table_sweep(ngx_rtmp_cluster_zone_t *ctx,
    ngx_rtmp_cluster_shm_table_t *t, ngx_pid_t *dead, ngx_uint_t ndead)
{
    ngx_queue_t                   *q, *next;
    ngx_rtmp_cluster_shm_entry_t  *e;

    for (q = ngx_queue_head(&t->queue);
         q != ngx_queue_sentinel(&t->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_rtmp_cluster_shm_entry_t, queue);

        if (ngx_rtmp_cluster_pid_in(e->pid, dead, ndead)) {
            ngx_rtmp_cluster_table_delete(ctx, t, e);
        }
    }
}


static ngx_uint_t
ngx_rtmp_cluster_pid_in(ngx_pid_t pid, ngx_pid_t *pids, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (pids[i] == pid) {
            return 1;
        }
    }

    return 0;
}


/*
 * Drop the records of workers that died without cleaning up, and those
 * of this pid (a new worker may get a dead one's pid).  The pids named
 * are collected under the lock, checked outside it (no system call under
 * the lock), and the dead ones' records dropped under it again.
 */

#define NGX_RTMP_CLUSTER_SWEEP_PIDS  256

void
ngx_rtmp_cluster_zone_sweep(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t                      i, n, ndead;
    ngx_queue_t                    *q, *next;
    ngx_rtmp_cluster_zone_t        *ctx;
    ngx_rtmp_cluster_shm_stream_t  *r;
    ngx_rtmp_cluster_shm_entry_t   *e;
    ngx_pid_t                       pids[NGX_RTMP_CLUSTER_SWEEP_PIDS];
    ngx_pid_t                       dead[NGX_RTMP_CLUSTER_SWEEP_PIDS];

    ctx = shm_zone->data;
    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (q = ngx_queue_head(&ctx->sh->streams);
         q != ngx_queue_sentinel(&ctx->sh->streams);
         q = ngx_queue_next(q))
    {
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t, queue);

        if (n < NGX_RTMP_CLUSTER_SWEEP_PIDS
            && !ngx_rtmp_cluster_pid_in(r->pid, pids, n))
        {
            pids[n++] = r->pid;
        }
    }

    for (q = ngx_queue_head(&ctx->sh->registry.queue);
         q != ngx_queue_sentinel(&ctx->sh->registry.queue);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_rtmp_cluster_shm_entry_t, queue);

        if (n < NGX_RTMP_CLUSTER_SWEEP_PIDS
            && !ngx_rtmp_cluster_pid_in(e->pid, pids, n))
        {
            pids[n++] = e->pid;
        }
    }

    for (q = ngx_queue_head(&ctx->sh->owners.queue);
         q != ngx_queue_sentinel(&ctx->sh->owners.queue);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_rtmp_cluster_shm_entry_t, queue);

        if (n < NGX_RTMP_CLUSTER_SWEEP_PIDS
            && !ngx_rtmp_cluster_pid_in(e->pid, pids, n))
        {
            pids[n++] = e->pid;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ndead = 0;

    for (i = 0; i < n; i++) {
        if (pids[i] == ngx_pid || !ngx_rtmp_cluster_pid_alive(pids[i])) {
            dead[ndead++] = pids[i];
        }
    }

    if (ndead == 0) {
        return;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (q = ngx_queue_head(&ctx->sh->streams);
         q != ngx_queue_sentinel(&ctx->sh->streams);
         q = next)
    {
        next = ngx_queue_next(q);
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t, queue);

        if (ngx_rtmp_cluster_pid_in(r->pid, dead, ndead)) {
            ngx_queue_remove(q);
            ngx_slab_free_locked(ctx->shpool, r);
        }
    }

    ngx_rtmp_cluster_table_sweep(ctx, &ctx->sh->registry, dead, ndead);
    ngx_rtmp_cluster_table_sweep(ctx, &ctx->sh->owners, dead, ndead);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}
