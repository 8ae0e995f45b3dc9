
/*
 * ngx_rtmp_cluster: the shared zone.  Every write to it is here, under the
 * rules the header states next to each field: origin health (the circuit
 * breaker every worker obeys), a record per stream per worker (the
 * status), the registry of streams published on this host, lookups (one
 * worker asks for all, the answer is cached), the owners of streams (one
 * upstream per stream per host), the workers, and counters.
 *
 * The slab mutex is held only to read and write the zone: a worker's
 * liveness is checked out of the lock and the entry checked again under
 * it; nothing logs under it.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_SWEEP_PIDS  256


static ngx_rtmp_cluster_shm_origin_t *ngx_rtmp_cluster_origin_record(
    ngx_rtmp_cluster_zone_t *zone, ngx_str_t *name);
static void ngx_rtmp_cluster_table_init(ngx_rtmp_cluster_shm_table_t *t);
static void ngx_rtmp_cluster_table_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rtmp_cluster_shm_node_t *ngx_rtmp_cluster_table_find(
    ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key, uint32_t hash);
static ngx_rtmp_cluster_shm_node_t *ngx_rtmp_cluster_table_add(
    ngx_rtmp_cluster_zone_t *zone, ngx_rtmp_cluster_shm_table_t *t,
    size_t size, ngx_str_t *key, uint32_t hash);
static void ngx_rtmp_cluster_table_delete(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_rtmp_cluster_shm_node_t *n);
static void ngx_rtmp_cluster_table_sweep(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, size_t pid_offset, ngx_pid_t *dead,
    ngx_uint_t ndead);
static void ngx_rtmp_cluster_table_pids(ngx_rtmp_cluster_shm_table_t *t,
    size_t pid_offset, ngx_pid_t *pids, ngx_uint_t *n);
static ngx_uint_t ngx_rtmp_cluster_pid_in(ngx_pid_t pid, ngx_pid_t *pids,
    ngx_uint_t n);
static ngx_uint_t ngx_rtmp_cluster_worker_relays(
    ngx_rtmp_cluster_zone_t *zone, ngx_pid_t pid);

#define ngx_rtmp_cluster_node_pid(n, off)                                     \
    (*(ngx_pid_t *) ((u_char *) (n) + (off)))


/*
 * Is a worker named in the zone alive?  Its entries are not trusted
 * alone: a killed worker leaves them behind.
 */

ngx_uint_t
ngx_rtmp_cluster_pid_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
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
    ngx_rtmp_cluster_zone_t  *ozone = data;

    size_t                      len;
    ngx_uint_t                  i;
    ngx_slab_pool_t            *shpool;
    ngx_rtmp_cluster_zone_t    *zone;
    ngx_rtmp_cluster_origin_t **origins;

    zone = shm_zone->data;
    zone->shm_zone = shm_zone;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ozone) {
        /* reload: keep the health and stream records of the old cycle */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        /* the old cycle's workers are going: see ngx_rtmp_cluster_owner() */
        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->sh->generation++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

    } else if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        zone->shpool = shpool;

    } else {
        zone->shpool = shpool;

        zone->sh = ngx_slab_alloc(shpool, sizeof(ngx_rtmp_cluster_shm_t));
        if (zone->sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = zone->sh;

        ngx_memzero(zone->sh, sizeof(ngx_rtmp_cluster_shm_t));

        ngx_queue_init(&zone->sh->origins);
        ngx_queue_init(&zone->sh->streams);
        ngx_rtmp_cluster_table_init(&zone->sh->registry);
        ngx_rtmp_cluster_table_init(&zone->sh->lookups);
        ngx_rtmp_cluster_table_init(&zone->sh->owners);

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

    origins = zone->origins->elts;

    for (i = 0; i < zone->origins->nelts; i++) {
        origins[i]->shm = ngx_rtmp_cluster_origin_record(zone,
                                                         &origins[i]->name);
        if (origins[i]->shm == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "cluster: zone \"%V\" is too small for %ui origins",
                          &shm_zone->shm.name, zone->origins->nelts);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "app/name", the key of a stream in the zone and the managers */

ngx_int_t
ngx_rtmp_cluster_key(ngx_str_t *app, u_char *name, ngx_str_t *key,
    u_char *buf)
{
    size_t  len;

    len = ngx_strlen(name);

    if (app->len + 1 + len > NGX_RTMP_CLUSTER_KEY_LEN) {
        return NGX_ERROR;
    }

    key->data = buf;
    key->len = ngx_sprintf(buf, "%V/%s", app, name) - buf;

    return NGX_OK;
}


ngx_rtmp_cluster_zone_t *
ngx_rtmp_cluster_zone_get(ngx_cycle_t *cycle)
{
    ngx_rtmp_cluster_zone_t       *zone;
    ngx_rtmp_cluster_main_conf_t  *cmcf;

    cmcf = ngx_rtmp_cluster_main_conf(cycle);
    if (cmcf == NULL || cmcf->shm_zone == NULL) {
        return NULL;
    }

    zone = cmcf->shm_zone->data;
    if (zone == NULL || zone->sh == NULL) {
        return NULL;
    }

    return zone;
}


/*
 * The zone is full: counted, and said at most once a second per worker
 * (a storm of plays would otherwise fill the log as well).
 */

void
ngx_rtmp_cluster_zone_full(ngx_rtmp_cluster_zone_t *zone, const char *what,
    ngx_str_t *key)
{
    static time_t      last;
    static ngx_uint_t  suppressed;

    ngx_rtmp_cluster_count(zone, NGX_RTMP_CLUSTER_ZONE_FULL, 1);

    if (last == ngx_time()) {
        suppressed++;
        return;
    }

    last = ngx_time();

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cluster: zone \"%V\" is full: \"%V\" %s (and %ui "
                  "more since the last such message)",
                  &zone->shm_zone->shm.name, key, what, suppressed);

    suppressed = 0;
}


void
ngx_rtmp_cluster_count(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t i,
    ngx_atomic_int_t n)
{
    (void) ngx_atomic_fetch_add(&zone->sh->counters[i], n);
}


void
ngx_rtmp_cluster_count_max(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t i,
    ngx_atomic_uint_t n)
{
    ngx_atomic_t       *a;
    ngx_atomic_uint_t   old;

    a = &zone->sh->counters[i];

    for ( ;; ) {
        old = *a;

        if (old >= n || ngx_atomic_cmp_set(a, old, n)) {
            return;
        }
    }
}


ngx_uint_t
ngx_rtmp_cluster_next_rr(ngx_rtmp_cluster_zone_t *zone)
{
    return ngx_atomic_fetch_add(&zone->sh->rr, 1);
}


/* origin health */

static ngx_rtmp_cluster_shm_origin_t *
ngx_rtmp_cluster_origin_record(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *name)
{
    ngx_queue_t                    *q;
    ngx_rtmp_cluster_shm_origin_t  *r;

    /* in init_zone: no worker runs yet, or they keep the old records */

    for (q = ngx_queue_head(&zone->sh->origins);
         q != ngx_queue_sentinel(&zone->sh->origins);
         q = ngx_queue_next(q))
    {
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_origin_t, queue);

        if (r->name_len == name->len
            && ngx_strncmp(r->name, name->data, name->len) == 0)
        {
            return r;
        }
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    r = ngx_slab_calloc_locked(zone->shpool,
                               sizeof(ngx_rtmp_cluster_shm_origin_t));
    if (r) {
        ngx_memcpy(r->name, name->data, name->len);
        r->name_len = name->len;

        ngx_queue_insert_tail(&zone->sh->origins, &r->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return r;
}


ngx_int_t
ngx_rtmp_cluster_origin_usable(ngx_rtmp_cluster_origin_t *o)
{
    if (o->shm == NULL) {
        return 1;
    }

    /* one word, read without the lock: a circuit is a hint */
    return ngx_rtmp_cluster_now() >= o->shm->open_until;
}


void
ngx_rtmp_cluster_origin_failure(ngx_rtmp_cluster_origin_t *o,
    const char *reason)
{
    uint64_t                        now;
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_shm_origin_t  *r;

    r = o->shm;
    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (r == NULL || zone == NULL) {
        return;
    }

    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

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

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_rtmp_cluster_origin_success(ngx_rtmp_cluster_origin_t *o)
{
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_shm_origin_t  *r;

    r = o->shm;
    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (r == NULL || zone == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    r->fails = 0;
    r->successes++;
    r->open_until = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The origin answered a play and had no such stream (yet): counted, but
 * neither its consecutive failures nor its circuit change.
 */

void
ngx_rtmp_cluster_origin_not_found(ngx_rtmp_cluster_origin_t *o)
{
    ngx_rtmp_cluster_zone_t        *zone;
    ngx_rtmp_cluster_shm_origin_t  *r;

    r = o->shm;
    zone = ngx_rtmp_cluster_zone_get((ngx_cycle_t *) ngx_cycle);

    if (r == NULL || zone == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    r->not_found++;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* stream records */

ngx_rtmp_cluster_shm_stream_t *
ngx_rtmp_cluster_record_create(ngx_rtmp_cluster_zone_t *zone,
    ngx_uint_t kind, ngx_str_t *app, ngx_str_t *name)
{
    ngx_rtmp_cluster_shm_stream_t  *r;

    ngx_shmtx_lock(&zone->shpool->mutex);

    r = ngx_slab_calloc_locked(zone->shpool,
                               sizeof(ngx_rtmp_cluster_shm_stream_t));
    if (r) {
        r->pid = ngx_pid;
        r->kind = kind;
        r->started = ngx_time();
        ngx_memcpy(r->app, app->data,
                   ngx_min(app->len, NGX_RTMP_MAX_NAME - 1));
        ngx_memcpy(r->name, name->data,
                   ngx_min(name->len, NGX_RTMP_MAX_NAME - 1));

        ngx_queue_insert_tail(&zone->sh->streams, &r->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (r == NULL) {
        ngx_rtmp_cluster_zone_full(zone, "is not shown in the status", name);
    }

    return r;
}


void
ngx_rtmp_cluster_record_free(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_stream_t *r)
{
    if (r == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_queue_remove(&r->queue);
    ngx_slab_free_locked(zone->shpool, r);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_rtmp_cluster_record_state(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t state)
{
    if (r) {
        r->state = state;
    }
}


void
ngx_rtmp_cluster_record_kind(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t kind)
{
    if (r) {
        r->kind = kind;
    }
}


void
ngx_rtmp_cluster_record_owner(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_pid_t owner)
{
    if (r) {
        r->owner = owner;
    }
}


void
ngx_rtmp_cluster_record_origin(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_stream_t *r, ngx_str_t *origin)
{
    if (r == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_memzero(r->origin, sizeof(r->origin));
    ngx_memcpy(r->origin, origin->data,
               ngx_min(origin->len, sizeof(r->origin) - 1));
    r->origin_since = ngx_time();

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_rtmp_cluster_record_players(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t inner, ngx_atomic_int_t n)
{
    if (r) {
        (void) ngx_atomic_fetch_add(inner ? &r->relays : &r->players, n);
    }
}


void
ngx_rtmp_cluster_record_flv(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_atomic_int_t n)
{
    if (r) {
        (void) ngx_atomic_fetch_add(&r->flv, n);
    }
}


void
ngx_rtmp_cluster_record_hls(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_atomic_int_t n)
{
    if (r) {
        (void) ngx_atomic_fetch_add(&r->hls, n);
    }
}


void
ngx_rtmp_cluster_record_bytes(ngx_rtmp_cluster_shm_stream_t *r, size_t n)
{
    if (r) {
        (void) ngx_atomic_fetch_add(&r->bytes, n);
    }
}


/* bytes that left for clients: every worker counts its own players' */

void
ngx_rtmp_cluster_record_sent(ngx_rtmp_cluster_shm_stream_t *r, size_t n)
{
    if (r) {
        (void) ngx_atomic_fetch_add(&r->sent, n);
    }
}


void
ngx_rtmp_cluster_record_failover(ngx_rtmp_cluster_shm_stream_t *r)
{
    if (r) {
        (void) ngx_atomic_fetch_add(&r->failovers, 1);
    }
}


void
ngx_rtmp_cluster_record_gop(ngx_rtmp_cluster_shm_stream_t *r,
    ngx_uint_t frames, size_t bytes, ngx_msec_t ms)
{
    if (r) {
        r->gop_frames = frames;
        r->gop_bytes = bytes;
        r->gop_ms = ms;
    }
}


/* the keyed tables: the caller holds the mutex */

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
    ngx_rbtree_node_t            **p;
    ngx_rtmp_cluster_shm_node_t   *n, *nt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            n = (ngx_rtmp_cluster_shm_node_t *) node;
            nt = (ngx_rtmp_cluster_shm_node_t *) temp;

            p = (ngx_memn2cmp(n->key, nt->key, n->len, nt->len) < 0)
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


static ngx_rtmp_cluster_shm_node_t *
ngx_rtmp_cluster_table_find(ngx_rtmp_cluster_shm_table_t *t, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_rtmp_cluster_shm_node_t  *n;

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

        n = (ngx_rtmp_cluster_shm_node_t *) node;

        rc = ngx_memn2cmp(key->data, n->key, key->len, n->len);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A node of "size" bytes (its type's) and the key after it.  Out of room,
 * the oldest answered lookups go, never the registry nor owners.
 */

static ngx_rtmp_cluster_shm_node_t *
ngx_rtmp_cluster_table_add(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, size_t size, ngx_str_t *key,
    uint32_t hash)
{
    ngx_uint_t                      i;
    ngx_queue_t                    *q;
    ngx_rtmp_cluster_shm_node_t    *n;
    ngx_rtmp_cluster_shm_lookup_t  *old;

    n = ngx_slab_alloc_locked(zone->shpool, size + key->len);

    for (i = 0; n == NULL && i < 16; i++) {
        if (ngx_queue_empty(&zone->sh->lookups.queue)) {
            break;
        }

        q = ngx_queue_head(&zone->sh->lookups.queue);
        old = (ngx_rtmp_cluster_shm_lookup_t *)
                  ngx_queue_data(q, ngx_rtmp_cluster_shm_node_t, queue);

        if (old->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING) {
            break;
        }

        ngx_rtmp_cluster_table_delete(zone, &zone->sh->lookups, &old->sn);

        n = ngx_slab_alloc_locked(zone->shpool, size + key->len);
    }

    if (n == NULL) {
        return NULL;
    }

    ngx_memzero(n, size);

    n->node.key = hash;
    n->key = (u_char *) n + size;
    n->len = (u_short) key->len;
    ngx_memcpy(n->key, key->data, key->len);

    ngx_rbtree_insert(&t->rbtree, &n->node);
    ngx_queue_insert_tail(&t->queue, &n->queue);

    return n;
}


static void
ngx_rtmp_cluster_table_delete(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, ngx_rtmp_cluster_shm_node_t *n)
{
    ngx_rbtree_delete(&t->rbtree, &n->node);
    ngx_queue_remove(&n->queue);
    ngx_slab_free_locked(zone->shpool, n);
}


/* the registry */

ngx_int_t
ngx_rtmp_cluster_registry_add(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_str_t *publisher)
{
    uint32_t                           hash;
    ngx_rtmp_cluster_shm_published_t  *p;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    p = (ngx_rtmp_cluster_shm_published_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->registry, key, hash);

    if (p == NULL) {
        p = (ngx_rtmp_cluster_shm_published_t *)
                ngx_rtmp_cluster_table_add(zone, &zone->sh->registry,
                                 sizeof(ngx_rtmp_cluster_shm_published_t),
                                 key, hash);
    }

    if (p) {
        p->pid = ngx_pid;
        p->since = ngx_rtmp_cluster_now();
        ngx_memzero(p->publisher, sizeof(p->publisher));

        if (publisher->len) {
            /* a publisher over a worker socket has no address text */
            ngx_memcpy(p->publisher, publisher->data,
                       ngx_min(publisher->len, sizeof(p->publisher) - 1));
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (p == NULL) {
        ngx_rtmp_cluster_zone_full(zone, "is not registered", key);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* this worker's registration of key, if it is still ours */

void
ngx_rtmp_cluster_registry_remove(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key)
{
    uint32_t                           hash;
    ngx_rtmp_cluster_shm_published_t  *p;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    p = (ngx_rtmp_cluster_shm_published_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->registry, key, hash);

    if (p && p->pid == ngx_pid) {
        ngx_rtmp_cluster_table_delete(zone, &zone->sh->registry, &p->sn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the pid of the live worker holding the publisher of key, or 0 */

ngx_pid_t
ngx_rtmp_cluster_registry_find(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key)
{
    uint32_t                           hash;
    ngx_pid_t                          pid;
    ngx_rtmp_cluster_shm_published_t  *p;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    p = (ngx_rtmp_cluster_shm_published_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->registry, key, hash);
    pid = p ? p->pid : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* a dead worker's entry is not trusted */
    if (pid && !ngx_rtmp_cluster_pid_alive(pid)) {
        return 0;
    }

    return pid;
}


/*
 * Lookups.  lookup_begin(): a cached answer (HIT with addr and port, or
 * MISS), WAIT while another live worker asks (within "patience" of its
 * asking), else ASK: the pending entry is now ours.  "fresh" ignores a
 * cached "found".
 */

ngx_uint_t
ngx_rtmp_cluster_lookup_begin(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_uint_t fresh, ngx_msec_t patience, u_char *addr, in_port_t *port)
{
    uint32_t                        hash;
    uint64_t                        now;
    ngx_pid_t                       asker;
    ngx_uint_t                      rc, tries;
    ngx_rtmp_cluster_shm_lookup_t  *l;

    hash = ngx_crc32_short(key->data, key->len);
    asker = 0;

    for (tries = 0; /* void */; tries++) {

        now = ngx_rtmp_cluster_now();

        ngx_shmtx_lock(&zone->shpool->mutex);

        l = (ngx_rtmp_cluster_shm_lookup_t *)
                ngx_rtmp_cluster_table_find(&zone->sh->lookups, key, hash);

        if (l && l->state == NGX_RTMP_CLUSTER_LOOKUP_FOUND
            && now < l->expires && !fresh)
        {
            ngx_memcpy(addr, l->addr, NGX_RTMP_CLUSTER_ADDR_LEN);
            *port = l->port;

            ngx_queue_remove(&l->sn.queue);
            ngx_queue_insert_tail(&zone->sh->lookups.queue, &l->sn.queue);

            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_RTMP_CLUSTER_LOOKUP_HIT;
        }

        if (l && l->state == NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND
            && now < l->expires)
        {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_RTMP_CLUSTER_LOOKUP_MISS;
        }

        if (l && l->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING
            && now < l->since + patience && l->pid != asker)
        {
            /* someone asks: is it alive?  Checked out of the lock */
            asker = l->pid;
            ngx_shmtx_unlock(&zone->shpool->mutex);

            if (tries == 4 || ngx_rtmp_cluster_pid_alive(asker)) {
                return NGX_RTMP_CLUSTER_LOOKUP_WAIT;
            }

            /* dead: taken over below, if it is still that one's */
            continue;
        }

        /* nobody asks, the answer expired, or its asker died: ask */

        if (l == NULL) {
            l = (ngx_rtmp_cluster_shm_lookup_t *)
                    ngx_rtmp_cluster_table_add(zone, &zone->sh->lookups,
                                     sizeof(ngx_rtmp_cluster_shm_lookup_t),
                                     key, hash);
        }

        rc = NGX_RTMP_CLUSTER_LOOKUP_NOROOM;

        if (l) {
            l->state = NGX_RTMP_CLUSTER_LOOKUP_PENDING;
            l->pid = ngx_pid;
            l->since = now;
            l->expires = 0;
            rc = NGX_RTMP_CLUSTER_LOOKUP_ASK;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (rc == NGX_RTMP_CLUSTER_LOOKUP_NOROOM) {
            ngx_rtmp_cluster_zone_full(zone, "cannot be looked up", key);
        }

        return rc;
    }
}


/*
 * Has the worker that asks answered?  HIT, MISS, WAIT; or ASK when it
 * died or takes too long: the lookup is ours now.
 */

ngx_uint_t
ngx_rtmp_cluster_lookup_poll(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_msec_t patience, u_char *addr, in_port_t *port)
{
    uint32_t                        hash;
    uint64_t                        now;
    ngx_pid_t                       asker;
    ngx_uint_t                      rc;
    ngx_rtmp_cluster_shm_lookup_t  *l;

    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    l = (ngx_rtmp_cluster_shm_lookup_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->lookups, key, hash);

    if (l == NULL || l->state == NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_RTMP_CLUSTER_LOOKUP_MISS;
    }

    if (l->state == NGX_RTMP_CLUSTER_LOOKUP_FOUND) {
        ngx_memcpy(addr, l->addr, NGX_RTMP_CLUSTER_ADDR_LEN);
        *port = l->port;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_RTMP_CLUSTER_LOOKUP_HIT;
    }

    asker = l->pid;

    if (asker == ngx_pid) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_RTMP_CLUSTER_LOOKUP_WAIT;
    }

    rc = (now >= l->since + patience) ? NGX_RTMP_CLUSTER_LOOKUP_ASK
                                      : NGX_RTMP_CLUSTER_LOOKUP_WAIT;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (rc == NGX_RTMP_CLUSTER_LOOKUP_WAIT
        && ngx_rtmp_cluster_pid_alive(asker))
    {
        return NGX_RTMP_CLUSTER_LOOKUP_WAIT;
    }

    /* take it over, if it is still that worker's pending entry */

    rc = NGX_RTMP_CLUSTER_LOOKUP_WAIT;

    ngx_shmtx_lock(&zone->shpool->mutex);

    l = (ngx_rtmp_cluster_shm_lookup_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->lookups, key, hash);

    if (l && l->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING && l->pid == asker)
    {
        l->pid = ngx_pid;
        l->since = ngx_rtmp_cluster_now();
        rc = NGX_RTMP_CLUSTER_LOOKUP_ASK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* the asker's answer, for everyone, for ttl ms: NGX_OK found, else not */

void
ngx_rtmp_cluster_lookup_answer(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_int_t rc, u_char *addr, in_port_t port, ngx_msec_t ttl)
{
    uint32_t                        hash;
    uint64_t                        now;
    ngx_rtmp_cluster_shm_lookup_t  *l;

    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_rtmp_cluster_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    l = (ngx_rtmp_cluster_shm_lookup_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->lookups, key, hash);

    if (l && l->pid == ngx_pid
        && l->state == NGX_RTMP_CLUSTER_LOOKUP_PENDING)
    {
        if (rc == NGX_OK) {
            l->state = NGX_RTMP_CLUSTER_LOOKUP_FOUND;
            ngx_memcpy(l->addr, addr, sizeof(l->addr));
            l->port = port;

        } else {
            l->state = NGX_RTMP_CLUSTER_LOOKUP_NOTFOUND;
        }

        l->since = now;
        l->expires = now + ttl;

        ngx_queue_remove(&l->sn.queue);
        ngx_queue_insert_tail(&zone->sh->lookups.queue, &l->sn.queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* a published stream makes earlier answers about it wrong */

void
ngx_rtmp_cluster_lookup_forget(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *key)
{
    uint32_t                        hash;
    ngx_rtmp_cluster_shm_lookup_t  *l;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    l = (ngx_rtmp_cluster_shm_lookup_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->lookups, key, hash);

    if (l && l->state != NGX_RTMP_CLUSTER_LOOKUP_PENDING) {
        ngx_rtmp_cluster_table_delete(zone, &zone->sh->lookups, &l->sn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Owners.  owner_find(): the owner named (0: none), its kind, cycle, and
 * whether its sockets listen; liveness is the caller's to check, out of
 * the lock.
 */

ngx_pid_t
ngx_rtmp_cluster_owner_find(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_uint_t *kind, ngx_uint_t *generation, ngx_uint_t *relays)
{
    uint32_t                       hash;
    ngx_pid_t                      pid;
    ngx_rtmp_cluster_shm_owner_t  *o;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    o = (ngx_rtmp_cluster_shm_owner_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->owners, key, hash);

    pid = o ? o->pid : 0;
    *kind = o ? o->kind : NGX_RTMP_CLUSTER_OWNER_PULL;
    *generation = o ? o->generation : 0;
    *relays = pid ? ngx_rtmp_cluster_worker_relays(zone, pid) : 1;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return pid;
}


/*
 * Make this worker the owner: with "force", whoever had it; else only if
 * nobody has it or it is still "was" (the owner the caller found dead,
 * stale or without sockets).  The owner now named.
 */

ngx_pid_t
ngx_rtmp_cluster_owner_take(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key,
    ngx_uint_t kind, ngx_uint_t generation, ngx_pid_t was, ngx_uint_t force)
{
    uint32_t                       hash;
    ngx_pid_t                      pid;
    ngx_rtmp_cluster_shm_owner_t  *o;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    o = (ngx_rtmp_cluster_shm_owner_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->owners, key, hash);

    if (o && !force && o->pid != ngx_pid && o->pid != was) {
        /* another worker took it meanwhile */
        pid = o->pid;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return pid;
    }

    if (o == NULL) {
        o = (ngx_rtmp_cluster_shm_owner_t *)
                ngx_rtmp_cluster_table_add(zone, &zone->sh->owners,
                                 sizeof(ngx_rtmp_cluster_shm_owner_t),
                                 key, hash);
    }

    if (o) {
        o->pid = ngx_pid;
        o->kind = kind;
        o->generation = generation;
        o->since = ngx_rtmp_cluster_now();
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (o == NULL) {
        ngx_rtmp_cluster_zone_full(zone, "has no owner worker", key);
    }

    return ngx_pid;
}


/* this worker no longer owns key (if it still did) */

void
ngx_rtmp_cluster_owner_release(ngx_rtmp_cluster_zone_t *zone, ngx_str_t *key)
{
    uint32_t                       hash;
    ngx_rtmp_cluster_shm_owner_t  *o;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    o = (ngx_rtmp_cluster_shm_owner_t *)
            ngx_rtmp_cluster_table_find(&zone->sh->owners, key, hash);

    if (o && o->pid == ngx_pid) {
        ngx_rtmp_cluster_table_delete(zone, &zone->sh->owners, &o->sn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* workers */

ngx_uint_t
ngx_rtmp_cluster_zone_generation(ngx_rtmp_cluster_zone_t *zone)
{
    ngx_uint_t  generation;

    ngx_shmtx_lock(&zone->shpool->mutex);
    generation = zone->sh->generation;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return generation;
}


/* this worker in its process slot */

void
ngx_rtmp_cluster_worker_set(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t slot,
    ngx_uint_t generation, ngx_uint_t relay, ngx_uint_t exiting)
{
    ngx_rtmp_cluster_shm_worker_t  *w;

    w = &zone->sh->workers[slot % NGX_RTMP_CLUSTER_MAX_WORKERS];

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (w->pid != ngx_pid) {
        w->pid = ngx_pid;
        w->started = ngx_time();
    }

    w->generation = generation;
    w->relay = relay ? 1 : 0;
    w->exiting = exiting ? 1 : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_rtmp_cluster_worker_gone(ngx_rtmp_cluster_zone_t *zone, ngx_uint_t slot)
{
    ngx_rtmp_cluster_shm_worker_t  *w;

    w = &zone->sh->workers[slot % NGX_RTMP_CLUSTER_MAX_WORKERS];

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (w->pid == ngx_pid) {
        w->pid = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* under the lock: can other workers relay from pid? */

static ngx_uint_t
ngx_rtmp_cluster_worker_relays(ngx_rtmp_cluster_zone_t *zone, ngx_pid_t pid)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_RTMP_CLUSTER_MAX_WORKERS; i++) {
        if (zone->sh->workers[i].pid == pid) {
            return zone->sh->workers[i].relay;
        }
    }

    /* more workers than slots: trusted */
    return 1;
}


/* the stream manager's health, as this host saw it last (err NULL: up) */

void
ngx_rtmp_cluster_manager_health(ngx_rtmp_cluster_zone_t *zone,
    ngx_str_t *manager, const char *err)
{
    u_char  *p;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->manager_down = err ? 1 : 0;

    if (err) {
        zone->sh->manager_failed = ngx_time();
        p = ngx_snprintf(zone->sh->manager_error,
                         sizeof(zone->sh->manager_error) - 1, "%V: %s",
                         manager, err);
        *p = '\0';
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Drop the entries of workers that died without cleaning up, and those
 * of this pid (a new worker may get a dead one's pid).  The pids named
 * are collected under the lock, checked outside it, and the dead ones'
 * entries dropped under it again.
 */

void
ngx_rtmp_cluster_zone_sweep(ngx_rtmp_cluster_zone_t *zone)
{
    ngx_uint_t                      i, n, ndead;
    ngx_queue_t                    *q, *next;
    ngx_rtmp_cluster_shm_stream_t  *r;
    ngx_pid_t                       pids[NGX_RTMP_CLUSTER_SWEEP_PIDS];
    ngx_pid_t                       dead[NGX_RTMP_CLUSTER_SWEEP_PIDS];

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->streams);
         q != ngx_queue_sentinel(&zone->sh->streams);
         q = ngx_queue_next(q))
    {
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t, queue);

        if (n < NGX_RTMP_CLUSTER_SWEEP_PIDS
            && !ngx_rtmp_cluster_pid_in(r->pid, pids, n))
        {
            pids[n++] = r->pid;
        }
    }

    ngx_rtmp_cluster_table_pids(&zone->sh->registry,
                        offsetof(ngx_rtmp_cluster_shm_published_t, pid),
                        pids, &n);
    ngx_rtmp_cluster_table_pids(&zone->sh->owners,
                        offsetof(ngx_rtmp_cluster_shm_owner_t, pid),
                        pids, &n);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ndead = 0;

    for (i = 0; i < n; i++) {
        if (pids[i] == ngx_pid || !ngx_rtmp_cluster_pid_alive(pids[i])) {
            dead[ndead++] = pids[i];
        }
    }

    if (ndead == 0) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->streams);
         q != ngx_queue_sentinel(&zone->sh->streams);
         q = next)
    {
        next = ngx_queue_next(q);
        r = ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t, queue);

        if (ngx_rtmp_cluster_pid_in(r->pid, dead, ndead)) {
            ngx_queue_remove(q);
            ngx_slab_free_locked(zone->shpool, r);
        }
    }

    ngx_rtmp_cluster_table_sweep(zone, &zone->sh->registry,
                        offsetof(ngx_rtmp_cluster_shm_published_t, pid),
                        dead, ndead);
    ngx_rtmp_cluster_table_sweep(zone, &zone->sh->owners,
                        offsetof(ngx_rtmp_cluster_shm_owner_t, pid),
                        dead, ndead);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static void
ngx_rtmp_cluster_table_pids(ngx_rtmp_cluster_shm_table_t *t,
    size_t pid_offset, ngx_pid_t *pids, ngx_uint_t *n)
{
    ngx_pid_t                     pid;
    ngx_queue_t                  *q;
    ngx_rtmp_cluster_shm_node_t  *node;

    for (q = ngx_queue_head(&t->queue);
         q != ngx_queue_sentinel(&t->queue);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_rtmp_cluster_shm_node_t, queue);
        pid = ngx_rtmp_cluster_node_pid(node, pid_offset);

        if (*n < NGX_RTMP_CLUSTER_SWEEP_PIDS
            && !ngx_rtmp_cluster_pid_in(pid, pids, *n))
        {
            pids[(*n)++] = pid;
        }
    }
}


static void
ngx_rtmp_cluster_table_sweep(ngx_rtmp_cluster_zone_t *zone,
    ngx_rtmp_cluster_shm_table_t *t, size_t pid_offset, ngx_pid_t *dead,
    ngx_uint_t ndead)
{
    ngx_queue_t                  *q, *next;
    ngx_rtmp_cluster_shm_node_t  *node;

    for (q = ngx_queue_head(&t->queue);
         q != ngx_queue_sentinel(&t->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        node = ngx_queue_data(q, ngx_rtmp_cluster_shm_node_t, queue);

        if (ngx_rtmp_cluster_pid_in(ngx_rtmp_cluster_node_pid(node,
                                                              pid_offset),
                                    dead, ndead))
        {
            ngx_rtmp_cluster_table_delete(zone, t, node);
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
 * The zone copied under the lock into pool memory, for the status: the
 * status formats it after, without the lock.  The registry of published
 * streams only when "published" asks for it: the metrics do not show it,
 * and a scrape should not hold the lock to copy it.
 */

ngx_int_t
ngx_rtmp_cluster_zone_snapshot(ngx_rtmp_cluster_zone_t *zone,
    ngx_pool_t *pool, ngx_rtmp_cluster_snapshot_t *snap, ngx_uint_t published)
{
    ngx_uint_t                         i;
    ngx_queue_t                       *q;
    ngx_slab_pool_t                   *shpool;
    ngx_rtmp_cluster_shm_t            *sh;
    ngx_rtmp_cluster_shm_node_t       *node;
    ngx_rtmp_cluster_shm_published_t  *p;

    sh = zone->sh;
    shpool = zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    snap->norigins = 0;
    for (q = ngx_queue_head(&sh->origins);
         q != ngx_queue_sentinel(&sh->origins);
         q = ngx_queue_next(q))
    {
        snap->norigins++;
    }

    snap->nstreams = 0;
    for (q = ngx_queue_head(&sh->streams);
         q != ngx_queue_sentinel(&sh->streams);
         q = ngx_queue_next(q))
    {
        snap->nstreams++;
    }

    snap->npublished = 0;

    if (published) {
        for (q = ngx_queue_head(&sh->registry.queue);
             q != ngx_queue_sentinel(&sh->registry.queue);
             q = ngx_queue_next(q))
        {
            snap->npublished++;
        }
    }

    snap->nlookups = 0;
    for (q = ngx_queue_head(&sh->lookups.queue);
         q != ngx_queue_sentinel(&sh->lookups.queue);
         q = ngx_queue_next(q))
    {
        snap->nlookups++;
    }

    snap->nowners = 0;
    for (q = ngx_queue_head(&sh->owners.queue);
         q != ngx_queue_sentinel(&sh->owners.queue);
         q = ngx_queue_next(q))
    {
        snap->nowners++;
    }

    snap->pages = (shpool->end - shpool->start) / ngx_pagesize;
    snap->free_pages = shpool->pfree;

    snap->origins = ngx_palloc(pool, (snap->norigins + 1)
                                     * sizeof(ngx_rtmp_cluster_shm_origin_t));
    snap->streams = ngx_palloc(pool, (snap->nstreams + 1)
                                     * sizeof(ngx_rtmp_cluster_shm_stream_t));
    snap->published = ngx_palloc(pool, (snap->npublished + 1)
                                  * sizeof(ngx_rtmp_cluster_shm_published_t));
    snap->published_keys = ngx_palloc(pool, (snap->npublished + 1)
                                            * NGX_RTMP_CLUSTER_KEY_LEN);

    if (snap->origins == NULL || snap->streams == NULL
        || snap->published == NULL || snap->published_keys == NULL)
    {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    i = 0;
    for (q = ngx_queue_head(&sh->origins);
         q != ngx_queue_sentinel(&sh->origins);
         q = ngx_queue_next(q))
    {
        snap->origins[i++] = *ngx_queue_data(q, ngx_rtmp_cluster_shm_origin_t,
                                             queue);
    }

    i = 0;
    for (q = ngx_queue_head(&sh->streams);
         q != ngx_queue_sentinel(&sh->streams);
         q = ngx_queue_next(q))
    {
        snap->streams[i++] = *ngx_queue_data(q, ngx_rtmp_cluster_shm_stream_t,
                                             queue);
    }

    /* as many as counted above: none unless asked */
    for (i = 0, q = ngx_queue_head(&sh->registry.queue);
         i < snap->npublished;
         i++, q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_rtmp_cluster_shm_node_t, queue);
        p = (ngx_rtmp_cluster_shm_published_t *) node;

        snap->published[i] = *p;
        snap->published[i].sn.len = ngx_min(node->len,
                                            NGX_RTMP_CLUSTER_KEY_LEN);
        ngx_memcpy(snap->published_keys[i], node->key,
                   snap->published[i].sn.len);
        snap->published[i].sn.key = snap->published_keys[i];
    }

    ngx_memcpy(snap->workers, sh->workers, sizeof(snap->workers));

    for (i = 0; i < NGX_RTMP_CLUSTER_NCOUNTERS; i++) {
        snap->counters[i] = sh->counters[i];
    }

    snap->generation = sh->generation;
    snap->manager_down = sh->manager_down;
    snap->manager_failed = sh->manager_failed;
    ngx_memcpy(snap->manager_error, sh->manager_error,
               sizeof(snap->manager_error));

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}
