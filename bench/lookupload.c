/*
 * lookupload: the load client of scenario 10 (bench/run.pl), the stream
 * manager at scale against coworker queries.  libc only, one thread,
 * epoll, CLOCK_MONOTONIC; see bench/README.md.
 *
 * Manager mode (-m PORT): a synthetic origin population on -c keep-alive
 * HTTP/1.1 connections to a stream manager (one request in flight each).
 * It registers -n leases (POST PREFIX/bench/sI), renews them in batches
 * of -b (PUT PREFIX with {"ttl","leases":[{app,name,token}...]}), each
 * batch every TTL/3 at its own phase of the interval, and once all are
 * registered looks streams up (GET PREFIX/bench/sI, I random) at -r a
 * second for -d seconds.
 *
 * Coworker mode (-w PORT,PORT,...): the lookups an origin makes without a
 * manager.  Streams are read from -s FILE ("ORIGIN_INDEX APP NAME" a
 * line, the origin that has it).  Each lookup picks a stream and an
 * asking origin that lacks it, and sends what that origin's lookup sends
 * to each of its coworkers (every origin but itself): the SRS query
 * /api/v1/clusters?vhost=...&ip=...&app=...&stream=...&coworker=..., one
 * TCP connection each (the API closes it after its answer, as SRS does),
 * all at once.  At -r lookups a second for -d seconds, at most -M
 * connections open.
 *
 * Both print a JSON summary on stdout (latency from the send, and from
 * the time the lookup was due), and the CPU time of the processes -C and
 * -X over the measured window.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>


enum { K_REG = 1, K_RENEW, K_LOOKUP, K_CW };


typedef struct {
    int         fd;
    int         kind;
    int         busy;
    int         connecting;
    long        arg;            /* lease, batch or lookup index */
    int         origin;         /* coworker mode: the origin asked */
    double      t_send;
    double      t_due;
    char       *out;
    size_t      out_len;
    size_t      out_off;
    char       *in;
    size_t      in_len;
    size_t      in_cap;
} conn_t;


typedef struct {
    int         origin;
    char       *app;
    char       *name;
} stream_t;


typedef struct {
    double      t_send;
    double      t_due;
    int         pending;
    int         found;
} lookup_t;


typedef struct {
    double     *v;
    size_t      n;
    size_t      cap;
} series_t;


static int          ep;
static int          tfd;

static const char  *prefix = "/streams/";
static int          mport;
static int          nconns = 128;
static int          others;             /* registrations, renewals busy */
static long         nleases = 10000;
static int          batch = 200;
static int          ttl = 10;
static double       rate = 5000;
static double       secs = 20;
static long         max_open = 1024;

static int         *cw_ports;
static int          ncw;
static stream_t    *streams;
static int          nstreams;

static int         *cpu_pids;
static int          ncpu_pids;
static int         *cpu2_pids;
static int          ncpu2_pids;

static conn_t      *conns;
static int         *idle;
static int          nidle;

static unsigned char  *registered;       /* per lease: 0, 1, 2 failed */
static long         reg_next;
static long         reg_done;
static long         reg_errors;

static long         renew_sent;
static long         renew_window;       /* sent in the window */
static long         renew_ok;
static long         renew_lost;         /* 404: the lease was gone */
static long         renew_conflict;
static long         renew_errors;
static long         renew_late;         /* batches sent after their time */

static long         lookups_done;
static long         lookups_found;
static long         lookups_not_found;
static long         lookup_errors;
static long         lookups_started;

static long         requests;           /* answered in the window */
static long         cw_queries;
static long         cw_errors;
static long         open_conns;

static series_t     lat_send;
static series_t     lat_due;
static series_t     lat_first;          /* coworker: first positive */
static series_t     lat_renew;

static lookup_t    *lk;
static long         nlk;
static long         lk_cap;

static double       win_start;
static double       win_end;
static int          in_window;

static unsigned long long  rng = 88172645463325252ULL;


/* this process's CPU, seconds */
static double
self_cpu(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}


static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "lookupload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static unsigned long
rnd(unsigned long n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned long) (rng % n);
}


static void
push(series_t *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof(double));
        if (s->v == NULL) {
            die("out of memory");
        }
    }
    s->v[s->n++] = v;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static void
sort(series_t *s)
{
    if (s->n) {
        qsort(s->v, s->n, sizeof(double), cmp_double);
    }
}


/* nearest rank, in ms; -1 without samples */
static double
pct(series_t *s, double p)
{
    long  i;

    if (s->n == 0) {
        return -1;
    }
    i = (long) ceil(p / 100 * s->n) - 1;
    return s->v[i < 0 ? 0 : i] * 1000;
}


static long
cpu_ticks(int *pids, int n)
{
    char   path[64], buf[1024], *p;
    long   t = 0;
    int    i, f, fd;
    ssize_t  r;
    unsigned long  ut, st;

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            continue;
        }
        r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r <= 0) {
            continue;
        }
        buf[r] = '\0';
        p = strrchr(buf, ')');
        if (p == NULL) {
            continue;
        }
        /* after ") ": field 3 (state) ... 14 utime, 15 stime */
        p += 2;
        for (f = 3; f < 14 && p; f++) {
            p = strchr(p, ' ');
            if (p) {
                p++;
            }
        }
        if (p && sscanf(p, "%lu %lu", &ut, &st) == 2) {
            t += ut + st;
        }
    }
    return t;
}


static int *
parse_ints(const char *s, int *n)
{
    int    *v = NULL;
    char   *end;
    long    x;

    *n = 0;
    while (*s) {
        x = strtol(s, &end, 10);
        if (end == s) {
            die("bad number list \"%s\"", s);
        }
        v = realloc(v, (*n + 1) * sizeof(int));
        v[(*n)++] = (int) x;
        s = *end ? end + 1 : end;
    }
    return v;
}


static void
load_streams(const char *file)
{
    FILE  *f;
    char   line[512], app[256], name[256];
    int    o;

    f = fopen(file, "r");
    if (f == NULL) {
        die("%s: %s", file, strerror(errno));
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%d %255s %255s", &o, app, name) != 3) {
            continue;
        }
        if (o < 0 || o >= ncw) {
            die("%s: origin %d out of range", file, o);
        }
        streams = realloc(streams, (nstreams + 1) * sizeof(stream_t));
        streams[nstreams].origin = o;
        streams[nstreams].app = strdup(app);
        streams[nstreams].name = strdup(name);
        nstreams++;
    }
    fclose(f);
    if (nstreams == 0) {
        die("%s: no streams", file);
    }
}


/* connections */

static int
open_conn(int port)
{
    struct sockaddr_in  sa;
    int                 fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }
    return fd;
}


static void
watch(conn_t *c, int i, unsigned ev, int op)
{
    struct epoll_event  e;

    e.events = ev;
    e.data.u32 = i;
    if (epoll_ctl(ep, op, c->fd, &e) < 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}


static void
send_out(conn_t *c, int i)
{
    ssize_t  n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            return;         /* the read side sees the error */
        }
        c->out_off += n;
    }
    watch(c, i, c->out_off < c->out_len ? EPOLLIN | EPOLLOUT : EPOLLIN,
          EPOLL_CTL_MOD);
}


static void
request(int i, int kind, long arg, double due, const char *fmt, ...)
{
    conn_t   *c = &conns[i];
    va_list   ap;
    int       n;

    va_start(ap, fmt);
    n = vasprintf(&c->out, fmt, ap);
    va_end(ap);
    if (n < 0) {
        die("out of memory");
    }
    c->out_len = n;
    c->out_off = 0;
    c->in_len = 0;
    c->kind = kind;
    c->arg = arg;
    c->busy = 1;
    c->t_due = due;
    c->t_send = now();
    if (c->connecting) {
        watch(c, i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    } else {
        send_out(c, i);
    }
}


/* a complete answer in c->in: its status and body; 0 if not yet */
static int
answer(conn_t *c, int eof, int *status, char **body, size_t *blen)
{
    char    *h, *p;
    size_t   hlen;
    long     len = -1;

    c->in[c->in_len] = '\0';
    h = strstr(c->in, "\r\n\r\n");
    if (h == NULL) {
        return 0;
    }
    hlen = h + 4 - c->in;
    if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1) {
        *status = 0;
    }
    for (p = c->in; p && p < h; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            len = strtol(p + 15, NULL, 10);
        }
    }
    if (len < 0) {
        if (!eof) {
            return 0;
        }
        len = c->in_len - hlen;
    }
    if (c->in_len < hlen + len) {
        return 0;
    }
    *body = c->in + hlen;
    *blen = len;
    return 1;
}


static void
done_manager(int i, int status, char *body, double t)
{
    conn_t  *c = &conns[i];
    char    *p, *end;
    long     v;

    if (in_window && t <= win_end) {
        requests++;
    }

    switch (c->kind) {

    case K_REG:
        reg_done++;
        registered[c->arg] = status == 201 ? 1 : 2;
        reg_errors += status != 201;
        break;

    case K_RENEW:
        push(&lat_renew, t - c->t_send);
        p = status == 200 ? strstr(body, "\"leases\":[") : NULL;
        if (p == NULL) {
            renew_errors++;
            break;
        }
        for (p += 10; *p && *p != ']'; p = end) {
            v = strtol(p, &end, 10);
            if (end == p) {
                end = p + 1;
                continue;
            }
            if (v == 200) {
                renew_ok++;
            } else if (v == 404) {
                renew_lost++;
            } else {
                renew_conflict++;
            }
        }
        break;

    case K_LOOKUP:
        lookups_done++;
        if (status == 200) {
            lookups_found++;
            push(&lat_send, t - c->t_send);
            push(&lat_due, t - c->t_due);
        } else if (status == 404) {
            lookups_not_found++;
        } else {
            lookup_errors++;
        }
        break;
    }
}


static void
done_cw(conn_t *c, int status, char *body, double t)
{
    lookup_t  *l = &lk[c->arg];
    int        pos;

    cw_queries++;
    pos = status == 200 && body && strstr(body, "\"origin\":{") != NULL;
    if (status != 200) {
        cw_errors++;
    }
    if (pos && !l->found) {
        l->found = 1;
        push(&lat_first, t - l->t_send);
    }
    if (--l->pending == 0) {
        lookups_done++;
        lookups_found += l->found;
        lookups_not_found += !l->found;
        push(&lat_send, t - l->t_send);
        push(&lat_due, t - l->t_due);
    }
}


static void
release(int i)
{
    conn_t  *c = &conns[i];

    free(c->out);
    c->out = NULL;
    c->busy = 0;
    others -= c->kind == K_REG || c->kind == K_RENEW;
    if (mport) {
        idle[nidle++] = i;
    } else {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        open_conns--;
        idle[nidle++] = i;
    }
}


static void
readable(int i)
{
    conn_t   *c = &conns[i];
    ssize_t   n;
    int       eof = 0, status;
    char     *body = NULL;
    size_t    blen;
    double    t;

    for ( ;; ) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = realloc(c->in, c->in_cap + 1);
            if (c->in == NULL) {
                die("out of memory");
            }
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += n;
            continue;
        }
        if (n == 0) {
            eof = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            eof = 2;
        }
        break;
    }

    if (!c->busy) {
        if (eof) {
            die("the server closed an idle connection");
        }
        return;
    }

    t = now();

    if (!answer(c, eof, &status, &body, &blen)) {
        if (!eof) {
            return;
        }
        if (mport) {
            die("the manager closed a connection (%s)",
                eof == 2 ? strerror(errno) : "eof");
        }
        done_cw(c, 0, NULL, t);
        release(i);
        return;
    }

    body[blen] = '\0';
    if (mport) {
        done_manager(i, status, body, t);
    } else {
        done_cw(c, status, body, t);
    }
    release(i);
}


/* manager mode */

static char *
renew_body(long b)
{
    long     i, first = b * batch, last = first + batch, k = 0;
    size_t   cap = 64 + (size_t) batch * 64, len;
    char    *s = malloc(cap);

    if (s == NULL) {
        die("out of memory");
    }
    if (last > nleases) {
        last = nleases;
    }
    len = sprintf(s, "{\"ttl\":%d,\"leases\":[", ttl);
    for (i = first; i < last; i++) {
        if (registered[i] != 1) {
            continue;
        }
        len += sprintf(s + len, "%s{\"app\":\"bench\",\"name\":\"s%ld\","
                       "\"token\":\"t%ld\"}", k++ ? "," : "", i, i);
    }
    strcpy(s + len, "]}");
    if (k == 0) {
        free(s);
        return NULL;
    }
    return s;
}


static double
schedule_manager(double t)
{
    static long    b;
    static double  next_batch, next_lookup;
    static int     started;
    double         period = ttl / 3.0, step, next = t + 0.1;
    long           nb = (nleases + batch - 1) / batch, i;
    char          *body;
    int            k;

    step = period / nb;
    if (!started) {
        started = 1;
        next_batch = t + step / 2;
    }

    /* each batch at its phase of the period, once registered */
    while (!(in_window && t > win_end) && t >= next_batch && nidle
           && others < nconns / 2)
    {
        body = renew_body(b);
        if (body) {
            if (t - next_batch > 0.05) {
                renew_late++;
            }
            k = idle[--nidle];
            renew_sent++;
            renew_window += in_window;
            others++;
            request(k, K_RENEW, b, next_batch, "PUT %s HTTP/1.1\r\n"
                    "Host: m\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s", prefix, strlen(body),
                    body);
            free(body);
        }
        b = (b + 1) % nb;
        next_batch += step;
    }
    /*
     * Registrations and renewals on at most half the connections (the
     * origins holding streams; lookups on any, the origins asking), the
     * registrations on a quarter: they must not hold renewals back.
     */
    while (reg_next < nleases && nidle && others < nconns / 4) {
        i = reg_next++;
        k = idle[--nidle];
        body = NULL;
        if (asprintf(&body, "{\"host\":\"10.%ld.%ld.1\",\"port\":1935,"
                     "\"ttl\":%d,\"token\":\"t%ld\"}", (i >> 16) & 255,
                     (i >> 8) & 255, ttl, i) < 0)
        {
            die("out of memory");
        }
        others++;
        request(k, K_REG, i, t, "POST %sbench/s%ld HTTP/1.1\r\nHost: m\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                "\r\n%s", prefix, i, strlen(body), body);
        free(body);
    }

    if (next_batch < next) {
        next = next_batch;
    }

    if (!in_window && reg_done == nleases) {
        in_window = 1;
        win_start = t;
        win_end = t + secs;
        next_lookup = t;
        requests = 0;
    }

    if (in_window && t <= win_end) {
        while (t >= next_lookup && next_lookup <= win_end && nidle) {
            k = idle[--nidle];
            i = rnd(nleases);
            lookups_started++;
            request(k, K_LOOKUP, i, next_lookup, "GET %sbench/s%ld HTTP/1.1"
                    "\r\nHost: m\r\n\r\n", prefix, i);
            next_lookup += 1 / rate;
        }
        if (next_lookup < next) {
            next = next_lookup;
        }
    }
    return next;
}


/* coworker mode */

static double
schedule_cw(double t)
{
    static double  next_lookup;
    stream_t      *s;
    lookup_t      *l;
    conn_t        *c;
    int            asker, j, k, fd;

    if (!in_window) {
        in_window = 1;
        win_start = t;
        win_end = t + secs;
        next_lookup = t;
    }
    if (t > win_end) {
        return t + 0.1;
    }

    while (t >= next_lookup && next_lookup <= win_end
           && open_conns + ncw - 1 <= max_open)
    {
        s = &streams[rnd(nstreams)];
        do {
            asker = rnd(ncw);
        } while (asker == s->origin);

        if (nlk == lk_cap) {
            lk_cap = lk_cap ? lk_cap * 2 : 65536;
            lk = realloc(lk, lk_cap * sizeof(lookup_t));
            if (lk == NULL) {
                die("out of memory");
            }
        }
        l = &lk[nlk];
        l->t_send = t;
        l->t_due = next_lookup;
        l->pending = 0;
        l->found = 0;

        for (j = 0; j < ncw; j++) {
            if (j == asker) {
                continue;
            }
            l->pending++;
            fd = open_conn(cw_ports[j]);
            k = idle[--nidle];
            c = &conns[k];
            c->origin = j;
            if (fd < 0) {
                c->arg = nlk;
                done_cw(c, 0, NULL, t);
                idle[nidle++] = k;
                continue;
            }
            c->fd = fd;
            c->connecting = 1;
            open_conns++;
            watch(c, k, EPOLLOUT, EPOLL_CTL_ADD);
            request(k, K_CW, nlk, next_lookup, "GET /api/v1/clusters?vhost="
                    "__defaultVhost__&ip=127.0.0.1&app=%s&stream=%s"
                    "&coworker=127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d"
                    "\r\nAccept: */*\r\n\r\n", s->app, s->name, cw_ports[j],
                    cw_ports[j]);
        }
        nlk++;
        lookups_started++;
        next_lookup += 1 / rate;
    }
    if (t > win_end || next_lookup > win_end) {
        return t + 0.1;
    }
    return next_lookup;
}


static void
arm(double at)
{
    struct itimerspec  it;

    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = (time_t) at;
    it.it_value.tv_nsec = (long) ((at - (time_t) at) * 1e9);
    if (it.it_value.tv_sec == 0 && it.it_value.tv_nsec == 0) {
        it.it_value.tv_nsec = 1;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
}


static int
busy_conns(void)
{
    int  i, n = 0;

    for (i = 0; i < nconns; i++) {
        n += conns[i].busy;
    }
    return n;
}


static void
usage(void)
{
    fprintf(stderr,
        "usage: lookupload -m PORT [-p PREFIX] [-n LEASES] [-b BATCH] "
        "[-T TTL] [-c CONNS]\n"
        "                  [-r RATE] [-d SECONDS] [-C PIDS] [-X PIDS]\n"
        "       lookupload -w PORT,PORT,... -s STREAMS [-r RATE] "
        "[-d SECONDS] [-M MAXCONN]\n"
        "                  [-C PIDS] [-X PIDS]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    struct epoll_event  evs[512];
    struct rlimit       rl;
    const char         *sfile = NULL;
    double              t, next, t0, self0 = 0;
    long                ticks0, ticks1, ticks2_0, ticks2_1, hz;
    int                 o, i, n;
    uint64_t            x;

    while ((o = getopt(argc, argv, "m:p:n:b:T:c:r:d:w:s:M:C:X:")) != -1) {
        switch (o) {
        case 'm': mport = atoi(optarg); break;
        case 'p': prefix = optarg; break;
        case 'n': nleases = atol(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'T': ttl = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': cw_ports = parse_ints(optarg, &ncw); break;
        case 's': sfile = optarg; break;
        case 'M': max_open = atol(optarg); break;
        case 'C': cpu_pids = parse_ints(optarg, &ncpu_pids); break;
        case 'X': cpu2_pids = parse_ints(optarg, &ncpu2_pids); break;
        default: usage();
        }
    }
    if ((mport == 0) == (ncw == 0) || rate <= 0 || secs <= 0
        || (mport && (nleases <= 0 || batch <= 0 || ttl < 3 || nconns < 8))
        || (ncw && (ncw < 2 || sfile == NULL)))
    {
        usage();
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (ncw && (rlim_t) max_open + 64 > rl.rlim_cur) {
            max_open = rl.rlim_cur - 64;
        }
    }

    hz = sysconf(_SC_CLK_TCK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0) {
        die("epoll/timerfd: %s", strerror(errno));
    }
    {
        struct epoll_event  e;

        e.events = EPOLLIN;
        e.data.u32 = (uint32_t) -1;
        epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
    }

    if (ncw) {
        load_streams(sfile);
        nconns = max_open + ncw;
    }
    conns = calloc(nconns, sizeof(conn_t));
    idle = calloc(nconns, sizeof(int));
    if (conns == NULL || idle == NULL) {
        die("out of memory");
    }
    for (i = nconns - 1; i >= 0; i--) {
        conns[i].fd = -1;
        idle[nidle++] = i;
    }

    if (mport) {
        registered = calloc(nleases, 1);
        if (registered == NULL) {
            die("out of memory");
        }
        for (i = 0; i < nconns; i++) {
            conns[i].fd = open_conn(mport);
            if (conns[i].fd < 0) {
                die("connect: %s", strerror(errno));
            }
            conns[i].connecting = 1;
            watch(&conns[i], i, EPOLLOUT, EPOLL_CTL_ADD);
        }
    }

    t0 = now();
    ticks0 = ticks2_0 = 0;

    for ( ;; ) {
        t = now();
        {
            int  was = in_window;

            next = mport ? schedule_manager(t) : schedule_cw(t);
            if (!was && in_window) {
                ticks0 = cpu_ticks(cpu_pids, ncpu_pids);
                ticks2_0 = cpu_ticks(cpu2_pids, ncpu2_pids);
                self0 = self_cpu();
                fprintf(stderr, "lookupload: %s in %.1f s, measuring for "
                        "%.0f s\n", mport ? "registered" : "started",
                        t - t0, secs);
            }
        }
        if (in_window && t > win_end
            && (mport ? busy_conns() == 0 : open_conns == 0))
        {
            break;
        }
        if (in_window && t > win_end + 30) {
            fprintf(stderr, "lookupload: answers still missing 30 s after "
                    "the window\n");
            break;
        }
        arm(next);

        n = epoll_wait(ep, evs, 512, 1000);
        for (i = 0; i < n; i++) {
            uint32_t  k = evs[i].data.u32;
            conn_t   *c;

            if (k == (uint32_t) -1) {
                while (read(tfd, &x, sizeof(x)) > 0) { /* void */ }
                continue;
            }
            c = &conns[k];
            if (c->fd < 0) {
                continue;
            }
            if (c->connecting && (evs[i].events & (EPOLLOUT | EPOLLERR
                                                   | EPOLLHUP)))
            {
                int        err = 0;
                socklen_t  len = sizeof(err);

                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                c->connecting = 0;
                if (err) {
                    if (mport) {
                        die("connect: %s", strerror(err));
                    }
                    done_cw(c, 0, NULL, now());
                    release(k);
                    continue;
                }
                if (c->busy) {
                    send_out(c, k);
                } else {
                    watch(c, k, EPOLLIN, EPOLL_CTL_MOD);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                send_out(c, k);
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                readable(k);
            }
        }
    }

    ticks1 = cpu_ticks(cpu_pids, ncpu_pids);
    ticks2_1 = cpu_ticks(cpu2_pids, ncpu2_pids);
    t = win_end - win_start;

    sort(&lat_send);
    sort(&lat_due);
    sort(&lat_first);
    sort(&lat_renew);

    printf("{\"mode\":\"%s\",\"seconds\":%.3f,\"rate_asked\":%.1f,"
           "\"register_s\":%.3f,\"leases\":%ld,\"batch\":%d,\"ttl\":%d,"
           "\"connections\":%d,\"coworkers\":%d,\"streams\":%d,\n",
           mport ? "manager" : "coworkers", t, rate, win_start - t0,
           mport ? nleases : 0, mport ? batch : 0, ttl,
           mport ? nconns : (int) max_open, ncw, nstreams);
    printf("\"lookups\":%ld,\"lookups_per_s\":%.1f,\"found\":%ld,"
           "\"not_found\":%ld,\"lookup_errors\":%ld,\"behind\":%ld,\n",
           lookups_done, lookups_done / t, lookups_found, lookups_not_found,
           lookup_errors, (long) (secs * rate) - lookups_started);
    printf("\"lookup_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f},\n", lat_send.n, pct(&lat_send, 50),
           pct(&lat_send, 99), pct(&lat_send, 100));
    printf("\"lookup_due_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f},\n", lat_due.n, pct(&lat_due, 50),
           pct(&lat_due, 99), pct(&lat_due, 100));
    printf("\"first_found_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f},\n", lat_first.n, pct(&lat_first, 50),
           pct(&lat_first, 99), pct(&lat_first, 100));
    printf("\"renew_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,"
           "\"max\":%.3f},\n", lat_renew.n, pct(&lat_renew, 50),
           pct(&lat_renew, 99), pct(&lat_renew, 100));
    printf("\"requests\":%ld,\"requests_per_s\":%.1f,\"registered\":%ld,"
           "\"register_errors\":%ld,\"renewals\":%ld,\"renewed\":%ld,"
           "\"renew_lost\":%ld,\"renew_conflict\":%ld,\"renew_errors\":%ld,"
           "\"renew_late\":%ld,\"renewals_in_window\":%ld,\"cw_queries\":%ld,"
           "\"cw_errors\":%ld,\n",
           mport ? requests : cw_queries, (mport ? requests : cw_queries) / t,
           reg_done, reg_errors, renew_sent, renew_ok, renew_lost,
           renew_conflict, renew_errors, renew_late, renew_window,
           cw_queries, cw_errors);
    printf("\"cpu_s\":%.2f,\"cpu2_s\":%.2f,\"client_cpu_s\":%.2f}\n",
           (double) (ticks1 - ticks0) / hz,
           (double) (ticks2_1 - ticks2_0) / hz, self_cpu() - self0);
    return 0;
}
