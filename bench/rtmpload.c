/*
 * rtmpload - RTMP playback load generator.
 *
 * One process, one epoll loop, thousands of concurrent RTMP players.  Each
 * player does what ffmpeg does to play a live stream: TCP connect, plain
 * handshake, connect, Set Chunk Size, createStream, Set Buffer Length, play.
 * It then reads the stream and records timings (to first video message and
 * first keyframe), bytes, media gaps, redirects and why it ended.
 *
 * With -P, one more connection in the same loop publishes an FLV file the
 * way "ffmpeg -re -stream_loop -1 -i FILE -c copy -f flv URL" does, and the
 * players measure the end-to-end latency of each video frame: the time from
 * its send by the publisher to its receipt, matched by timestamp and size.
 *
 * With an http:// URL, the players are HTTP-FLV viewers instead: GET the
 * URL, read the response (chunked, Content-Length or close-delimited) and
 * the FLV tags in it, with the same timings and summary.
 *
 * Only libc and libm are used.  See bench/README.md for usage and output.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HS_SIZE         1536
#define MAX_MSG         (8u << 20)  /* largest message we accept */
#define MAX_CS          16          /* chunk streams tracked per player */
#define OUT_CHUNK       4096        /* chunk size we announce and use */
#define START_PER_TICK  200         /* connects started per loop tick */
#define MAX_HDR         18          /* 3 basic + 11 message + 4 extended */
#define STATUS_LEN      48
#define URL_LEN         512
#define PUB_QUEUE_MAX   (2u << 20)  /* publisher backlog before it drops */
#define RING_SIZE       8192        /* sent video frames kept for latency */
#define HIST_SHIFT      6           /* latency histogram: 64 bins/octave */
#define HIST_SUB        (1u << HIST_SHIFT)
#define HIST_BINS       (HIST_SUB * 27) /* microseconds up to 2^32 */
#define HTTP_HEAD_MAX   8192        /* largest HTTP response header */

/* Chunk streams of the publisher (ffmpeg uses 3, 8, 4 and 6). */
#define CSID_CMD        3
#define CSID_AUDIO      4
#define CSID_DATA       5
#define CSID_VIDEO      6
#define CSID_STREAM     8

/* Player life cycle. */
enum {
    P_IDLE,         /* not started yet */
    P_CONNECTING,   /* TCP connect in progress */
    P_HANDSHAKE,    /* C0+C1 sent, reading S0+S1+S2 */
    P_CONNECT,      /* connect sent, waiting for _result 1 */
    P_CREATE,       /* createStream sent, waiting for _result 2 */
    P_PLAY,         /* play (publish) sent, playing once video arrives */
    P_LIVE,         /* publisher: NetStream.Publish.Start received */
    P_HTTP,         /* HTTP-FLV: request sent, reading the response header */
    P_DONE          /* ended (reason set) or stopped at the end of the run */
};

/* Per chunk stream (csid) receive state. */
struct cstream {
    uint32_t csid;      /* 0: slot unused */
    uint32_t ts;        /* timestamp of the current message */
    uint32_t delta;     /* last timestamp delta (fmt 1/2) */
    uint32_t len;       /* current message length */
    uint32_t msid;
    uint32_t got;       /* bytes of the current message received */
    uint8_t  type;
    uint8_t  ext;       /* current message uses extended timestamps */
    uint8_t  head[2];   /* first payload bytes of unbuffered (media) messages */
    uint8_t *buf;       /* whole payload, only for messages we parse */
};

/* HTTP-FLV: the chunked decoder's states. */
enum { C_SIZE, C_EXT, C_DATA, C_DATA_END, C_TRAILER };

/* HTTP-FLV: the FLV parser's states. */
enum { F_HEAD, F_SKIP, F_TAG, F_BODY, F_PTS };

/* rtmp://host[:port]/app/stream or http://host[:port]/path, resolved. */
struct url {
    const char *s;
    int         http;           /* HTTP-FLV: name is the request target */
    char        hosthdr[280];   /* HTTP: the Host header's value */
    char        host[256], port[16], app[256], name[512], tcurl[1024];
    struct sockaddr_storage addr;
    socklen_t   addrlen;
    int         pct_d;          /* offset of "%d" in name, -1: none */
};

struct player {
    int         fd;
    int         id;
    int         state;
    int         is_pub;         /* the publisher's connection */
    uint32_t    events;         /* epoll events currently registered */
    struct url *url;

    /* times: CLOCK_MONOTONIC microseconds, 0 = not reached */
    int64_t     t_start;        /* before connect() */
    int64_t     t_tcp;          /* TCP connected */
    int64_t     t_hs;           /* handshake done */
    int64_t     t_connected;    /* connect _result */
    int64_t     t_play;         /* play sent */
    int64_t     t_video;        /* first video message */
    int64_t     t_key;          /* first keyframe (not a sequence header) */
    int64_t     t_last_media;   /* the last audio or video message */
    int64_t     t_end;
    int64_t     t_redirect;     /* the first redirect */
    int64_t     max_gap;
    int64_t     deadline;       /* timeout of the current phase, 0 = none */

    uint64_t    bytes_in;
    uint64_t    acked;          /* bytes_in at our last Acknowledgement */
    uint32_t    window;         /* peer's Window Ack Size, 0 = none */
    uint32_t    in_chunk;       /* peer's chunk size */
    uint32_t    stream_id;
    uint32_t    gaps;
    uint32_t    nvideo, naudio;
    uint32_t    redirects;
    uint64_t    bytes_out;
    uint16_t    lport;          /* local TCP port, 0 = none */

    /* end-to-end latency of video frames (with -P) */
    uint32_t   *lat_hist;       /* HIST_BINS counts, malloc'ed on use */
    uint32_t    lat_n;          /* matched frames */
    uint32_t    lat_miss;       /* timestamp not among the sent frames */
    uint32_t    lat_size;       /* timestamp sent, but with another size */
    uint32_t    lat_old;        /* sent before the play: a cached GOP */
    int64_t     lat_max;

    const char *reason;         /* why it ended (static string) */
    char       *redirect_url;   /* last redirect target, malloc'ed */
    char        status[STATUS_LEN]; /* last onStatus/_error info.code */

    uint8_t    *hs;             /* S0+S1 while handshaking */
    uint32_t    hs_got;

    /* chunk parser: either collecting a header or inside a chunk payload */
    uint8_t     hdr[MAX_HDR];
    uint8_t     hdr_got;
    uint32_t    chunk_left;     /* payload bytes left in the current chunk */
    struct cstream *cur;
    struct cstream cs[MAX_CS];

    /* HTTP-FLV: the response body and the FLV tags in it */
    uint8_t     chunked;        /* Transfer-Encoding: chunked */
    uint8_t     ch_state;       /* C_* */
    uint8_t     ch_digits;      /* hex digits of the chunk size so far */
    uint8_t     ch_line;        /* bytes on the current trailer line */
    uint8_t     flv_state;      /* F_* */
    uint8_t     tag_type;
    uint8_t     tag_head[2];    /* first payload bytes of the current tag */
    uint32_t    tag_size;
    uint32_t    tag_ts;
    uint32_t    flv_left;       /* bytes left of the current part */
    uint64_t    ch_left;        /* bytes left of the current chunk */
    uint64_t    body_left;      /* Content-Length left, UINT64_MAX: to eof */

    /* unsent output (normally empty for players: our messages are small) */
    uint8_t    *wbuf;
    size_t      wlen, woff, wcap;
};

/* An audio or video tag of the published FLV file. */
struct tag {
    size_t      off;            /* payload offset in the file */
    uint32_t    size;
    uint32_t    ts;             /* ms after the first audio/video tag */
    uint8_t     type;           /* 8 audio, 9 video */
    uint8_t     config;         /* AVC/AAC sequence header */
    uint8_t     key;
};

/* The last header we sent on a chunk stream, for fmt 1 headers. */
struct ochunk {
    uint32_t    ts;
    uint8_t     used;
};

/* A video frame the publisher sent. */
struct sent {
    uint32_t    ts;
    uint32_t    len;            /* tells a shifted timestamp from a match */
    int64_t     t;              /* when it was handed to the socket */
};

/* Options and global state. */
static struct {
    struct url  play;
    int         n;
    double      rate;           /* starts per second, 0 = as fast as possible */
    double      duration;       /* seconds after the last start */
    int64_t     gap_us;
    int64_t     timeout_us;     /* per phase */
    uint32_t    buflen;
    const char *json;
    int         quiet;
    int         http10;         /* -0: HTTP/1.0 requests */
    long        first;          /* -I: number of player 0 in a "%d" name */

    int         ep;
    struct player *pl;
    int         started;
    int         alive;
    int64_t     t0, t_play0, t_last_start, t_stop;
    double      t0_unix;        /* G.t0 on the wall clock, seconds */
    uint8_t     rbuf[65536];
} G;

/* The publisher (-P). */
static struct {
    const char *file;
    struct url  url;
    double      wait;           /* -W: players start this long after Start */
    uint32_t    ts0;            /* -T: first timestamp */

    uint8_t    *data;           /* the whole file */
    size_t      size;
    struct tag *tag;
    int         ntags;
    uint8_t    *meta;           /* "@setDataFrame" + onMetaData, or NULL */
    size_t      meta_len;
    uint32_t    span;           /* ms added to timestamps at each loop */

    struct player c;
    struct ochunk oc[3];        /* audio, video, data */
    int         next;           /* next tag to send */
    uint32_t    loops;
    uint64_t    base;           /* ms added to tag times in this loop */
    uint64_t    last[2];        /* last audio, video time: kept monotonic */
    int64_t     t_base;         /* wall clock of media time 0 */
    int64_t     next_due;       /* wall clock of the next tag, 0 = none */
    int64_t     last_due;       /* of the last tag sent */
    int64_t     t_publish;      /* NetStream.Publish.Start */
    int64_t     t_players;      /* players may start */
    int         skip_video;     /* dropping video until a keyframe */
    uint64_t    nvideo, naudio, dropped;
    size_t      max_queue;
    int64_t     max_late;
    int64_t     t_backlog;      /* the output queue is not empty since */
    int64_t     max_backlog;    /* longest such time */

    struct sent ring[RING_SIZE];
    uint32_t    ring_head, ring_n;
} P;

static volatile sig_atomic_t stop_flag;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t be16(const uint8_t *p) { return (uint32_t) p[0] << 8 | p[1]; }
static uint32_t be24(const uint8_t *p) { return be16(p) << 8 | p[2]; }
static uint32_t be32(const uint8_t *p) { return be24(p) << 8 | p[3]; }
static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint8_t *
put16(uint8_t *p, uint32_t v)
{
    *p++ = v >> 8;
    *p++ = v;
    return p;
}

static uint8_t *
put24(uint8_t *p, uint32_t v)
{
    *p++ = v >> 16;
    return put16(p, v);
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
    *p++ = v >> 24;
    return put24(p, v);
}

/* ---- player end / output ---------------------------------------------- */

static void player_free(struct player *p)
{
    free(p->hs);
    p->hs = NULL;
    free(p->wbuf);
    p->wbuf = NULL;
    p->wlen = p->woff = p->wcap = 0;
    for (int i = 0; i < MAX_CS; i++) {
        free(p->cs[i].buf);
        p->cs[i].buf = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);           /* also removes it from epoll */
        p->fd = -1;
        G.alive -= !p->is_pub;
    }
}

/* End a player; reason NULL means "stopped at the end of the run". */
static void player_end(struct player *p, const char *reason)
{
    if (p->state == P_DONE)
        return;
    p->reason = reason;
    p->t_end = now_us();
    p->state = P_DONE;
    player_free(p);
}

static void set_events(struct player *p, uint32_t ev)
{
    if (p->fd < 0 || p->events == ev)
        return;
    struct epoll_event e = { .events = ev, .data.ptr = p };
    if (epoll_ctl(G.ep, EPOLL_CTL_MOD, p->fd, &e) == 0)
        p->events = ev;
}

static void flush_out(struct player *p)
{
    while (p->woff < p->wlen) {
        ssize_t k = send(p->fd, p->wbuf + p->woff, p->wlen - p->woff,
                         MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            player_end(p, errno == ECONNRESET || errno == EPIPE
                          ? "connection reset" : "write error");
            return;
        }
        p->woff += k;
        p->bytes_out += k;
    }
    if (p->woff == p->wlen) {
        if (!p->is_pub) {       /* thousands of players: keep them small */
            free(p->wbuf);
            p->wbuf = NULL;
            p->wcap = 0;
        }
        p->wlen = p->woff = 0;
        set_events(p, EPOLLIN);
    } else {
        set_events(p, EPOLLIN | EPOLLOUT);
    }
}

/* Room for n more bytes at wbuf + wlen; NULL if the player ended. */
static uint8_t *out_reserve(struct player *p, size_t n)
{
    size_t   pending, cap;
    uint8_t *nb;

    if (p->fd < 0)
        return NULL;
    if (p->wlen + n > p->wcap && p->woff > 0) {
        pending = p->wlen - p->woff;
        memmove(p->wbuf, p->wbuf + p->woff, pending);
        p->wlen = pending;
        p->woff = 0;
    }
    if (p->wlen + n > p->wcap) {
        for (cap = p->wcap ? p->wcap * 2 : 4096; cap < p->wlen + n; cap *= 2)
            /* void */ ;
        nb = realloc(p->wbuf, cap);
        if (nb == NULL) {
            player_end(p, "out of memory");
            return NULL;
        }
        p->wbuf = nb;
        p->wcap = cap;
    }
    return p->wbuf + p->wlen;
}

static void out_raw(struct player *p, const uint8_t *d, size_t n)
{
    uint8_t *o = out_reserve(p, n);

    if (o == NULL)
        return;
    memcpy(o, d, n);
    p->wlen += n;
    flush_out(p);
}

/*
 * A message of any size and timestamp, for the publisher: fmt 0 on the first
 * message of the chunk stream or when time goes back, fmt 1 with the delta
 * otherwise.  A timestamp (or delta) of 0xffffff or more is sent as an
 * extended timestamp, repeated after each fmt 3 header as nginx-rtmp and
 * ffmpeg expect.
 */
static void out_media(struct player *p, struct ochunk *oc, uint8_t csid,
                      uint8_t type, uint32_t msid, uint32_t ts,
                      const uint8_t *d, size_t n)
{
    int       fmt0 = !oc->used || (int32_t) (ts - oc->ts) < 0;
    uint32_t  tv = fmt0 ? ts : ts - oc->ts;
    size_t    ext = tv >= 0xffffff ? 4 : 0;
    size_t    chunks = n ? (n + OUT_CHUNK - 1) / OUT_CHUNK : 1;
    uint8_t  *o, *start;

    o = out_reserve(p, 12 + ext + n + (chunks - 1) * (1 + ext));
    if (o == NULL)
        return;
    start = o;
    *o++ = (fmt0 ? 0x00 : 0x40) | csid;
    o = put24(o, ext ? 0xffffff : tv);
    o = put24(o, n);
    *o++ = type;
    if (fmt0) {
        *o++ = msid; *o++ = msid >> 8; *o++ = msid >> 16; *o++ = msid >> 24;
    }
    if (ext)
        o = put32(o, tv);
    for (size_t off = 0; off < n; off += OUT_CHUNK) {
        size_t k = n - off < OUT_CHUNK ? n - off : OUT_CHUNK;
        if (off) {
            *o++ = 0xc0 | csid;                 /* fmt 3 */
            if (ext)
                o = put32(o, tv);
        }
        memcpy(o, d + off, k);
        o += k;
    }
    p->wlen += o - start;
    oc->used = 1;
    oc->ts = ts;
    flush_out(p);
}

/*
 * Send one message as chunks: a fmt 0 header, then fmt 3 continuation
 * headers every chunk_size bytes.  Timestamps are always 0 here; csid < 64.
 */
static void out_msg(struct player *p, uint32_t chunk_size, uint8_t csid,
                    uint8_t type, uint32_t msid, const uint8_t *d, size_t n)
{
    uint8_t out[8192], *o = out;

    if (n + 12 + n / chunk_size + 1 > sizeof(out))
        abort();                /* our messages are small: a bug */
    *o++ = csid;                /* fmt 0 */
    o = put24(o, 0);
    o = put24(o, n);
    *o++ = type;
    *o++ = msid; *o++ = msid >> 8; *o++ = msid >> 16; *o++ = msid >> 24;
    for (size_t off = 0; off < n; off += chunk_size) {
        size_t k = n - off < chunk_size ? n - off : chunk_size;
        if (off)
            *o++ = 0xc0 | csid; /* fmt 3 */
        memcpy(o, d + off, k);
        o += k;
    }
    out_raw(p, out, o - out);
}

/* ---- AMF0 ------------------------------------------------------------- */

struct amf { const uint8_t *p, *e; };

static size_t amf_left(const struct amf *a) { return a->e - a->p; }

static uint8_t *amf_put_str(uint8_t *o, const char *s)
{
    size_t n = strlen(s);
    *o++ = 2;
    o = put16(o, n);
    memcpy(o, s, n);
    return o + n;
}

static uint8_t *amf_put_num(uint8_t *o, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    *o++ = 0;
    for (int i = 7; i >= 0; i--)
        *o++ = b >> (i * 8);
    return o;
}

static uint8_t *amf_put_key(uint8_t *o, const char *k)
{
    size_t n = strlen(k);
    o = put16(o, n);
    memcpy(o, k, n);
    return o + n;
}

static int amf_number(struct amf *a, double *v)
{
    if (amf_left(a) < 9 || a->p[0] != 0)
        return -1;
    uint64_t b = 0;
    for (int i = 1; i <= 8; i++)
        b = b << 8 | a->p[i];
    memcpy(v, &b, 8);
    a->p += 9;
    return 0;
}

static int amf_string(struct amf *a, const uint8_t **s, size_t *n)
{
    size_t hl;
    if (amf_left(a) < 3)
        return -1;
    if (a->p[0] == 2) {
        hl = 3;
        *n = be16(a->p + 1);
    } else if (a->p[0] == 12 && amf_left(a) >= 5) {
        hl = 5;
        *n = be32(a->p + 1);
    } else {
        return -1;
    }
    if (amf_left(a) - hl < *n)
        return -1;
    *s = a->p + hl;
    a->p += hl + *n;
    return 0;
}

/*
 * Next property of an object: 1 with the key, 0 at the object end marker,
 * -1 on malformed input.
 */
static int amf_key(struct amf *a, const uint8_t **k, size_t *kl)
{
    if (amf_left(a) < 2)
        return -1;
    *kl = be16(a->p);
    if (*kl == 0 && amf_left(a) >= 3 && a->p[2] == 9) {
        a->p += 3;
        return 0;
    }
    if (amf_left(a) - 2 < *kl)
        return -1;
    *k = a->p + 2;
    a->p += 2 + *kl;
    return 1;
}

static int amf_skip(struct amf *a, int depth)
{
    const uint8_t *k;
    size_t kl, n;
    int r;

    if (depth > 32 || amf_left(a) < 1)
        return -1;
    uint8_t t = *a->p;
    switch (t) {
    case 0:                                     /* number */
        n = 9; break;
    case 1:                                     /* boolean */
        n = 2; break;
    case 2: case 12:                            /* strings */
        return amf_string(a, &k, &kl);
    case 5: case 6: case 13:                    /* null, undefined, unsupp. */
        n = 1; break;
    case 7:                                     /* reference */
        n = 3; break;
    case 11:                                    /* date */
        n = 11; break;
    case 15:                                    /* XML document */
        if (amf_left(a) < 5)
            return -1;
        n = 5 + (size_t) be32(a->p + 1);
        break;
    case 3: case 8: case 16:                    /* object, ECMA array, typed */
        a->p++;
        if (t == 8) {
            if (amf_left(a) < 4)
                return -1;
            a->p += 4;
        } else if (t == 16) {
            if (amf_left(a) < 2 || amf_left(a) - 2 < be16(a->p))
                return -1;
            a->p += 2 + be16(a->p);
        }
        while ((r = amf_key(a, &k, &kl)) == 1)
            if (amf_skip(a, depth + 1) < 0)
                return -1;
        return r;
    case 10: {                                  /* strict array */
        if (amf_left(a) < 5)
            return -1;
        uint32_t cnt = be32(a->p + 1);
        a->p += 5;
        for (uint32_t i = 0; i < cnt; i++)
            if (amf_skip(a, depth + 1) < 0)
                return -1;
        return 0;
    }
    default:
        return -1;
    }
    if (amf_left(a) < n)
        return -1;
    a->p += n;
    return 0;
}

static int key_is(const uint8_t *k, size_t kl, const char *s)
{
    return kl == strlen(s) && memcmp(k, s, kl) == 0;
}

static void copy_str(char *dst, size_t cap, const uint8_t *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

struct info {
    char    code[STATUS_LEN];   /* info.code */
    char    level[16];          /* info.level */
    int     ex_code;            /* info.ex.code */
    /* info.ex.redirect2 or, failing it, info.ex.redirect */
    char    url[URL_LEN];
    int     url2;               /* url came from redirect2 */
};

/* Walk an info object (or its "ex" member when ex is set). */
static int scan_info(struct amf *a, struct info *in, int ex, int depth)
{
    const uint8_t *k, *s;
    size_t kl, sl;
    double v;
    int r;

    if (amf_left(a) < 1 || (a->p[0] != 3 && a->p[0] != 8))
        return amf_skip(a, depth);
    a->p += a->p[0] == 8 ? 5 : 1;
    if (amf_left(a) > (size_t) 1 << 30)         /* ECMA count overran */
        return -1;
    while ((r = amf_key(a, &k, &kl)) == 1) {
        if (!ex && key_is(k, kl, "code") && amf_string(a, &s, &sl) == 0) {
            copy_str(in->code, sizeof(in->code), s, sl);
        } else if (!ex && key_is(k, kl, "level")
                   && amf_string(a, &s, &sl) == 0) {
            copy_str(in->level, sizeof(in->level), s, sl);
        } else if (!ex && key_is(k, kl, "ex")) {
            if (scan_info(a, in, 1, depth + 1) < 0)
                return -1;
        } else if (ex && key_is(k, kl, "code") && amf_left(a) && a->p[0] == 0) {
            amf_number(a, &v);
            in->ex_code = (int) v;
        } else if (ex && key_is(k, kl, "code")
                   && amf_string(a, &s, &sl) == 0) {
            char tmp[16];
            copy_str(tmp, sizeof(tmp), s, sl);
            in->ex_code = atoi(tmp);
        } else if (ex
                   && (key_is(k, kl, "redirect2")
                       || key_is(k, kl, "redirect"))
                   && amf_string(a, &s, &sl) == 0) {
            int is2 = kl == 9;
            if (is2 || !in->url2) {             /* redirect2 wins */
                copy_str(in->url, sizeof(in->url), s, sl);
                in->url2 = is2;
            }
        } else if (amf_skip(a, depth + 1) < 0) {
            return -1;
        }
    }
    return r;
}

/* ---- outgoing commands ------------------------------------------------ */

static void send_connect(struct player *p)
{
    uint8_t b[2048], *o = b;

    o = amf_put_str(o, "connect");
    o = amf_put_num(o, 1);
    *o++ = 3;
    o = amf_put_key(o, "app");           o = amf_put_str(o, p->url->app);
    if (p->is_pub) {                            /* as ffmpeg publishes */
        o = amf_put_key(o, "type");      o = amf_put_str(o, "nonprivate");
        o = amf_put_key(o, "flashVer");
        o = amf_put_str(o, "FMLE/3.0 (compatible; rtmpload)");
        o = amf_put_key(o, "tcUrl");     o = amf_put_str(o, p->url->tcurl);
        o = put24(o, 9);
        out_msg(p, 128, 3, 20, 0, b, o - b);

        uint8_t cs[4];
        put32(cs, OUT_CHUNK);
        out_msg(p, 128, 2, 1, 0, cs, 4);
        return;
    }
    o = amf_put_key(o, "flashVer");      o = amf_put_str(o, "LNX 9,0,124,2");
    o = amf_put_key(o, "tcUrl");         o = amf_put_str(o, p->url->tcurl);
    o = amf_put_key(o, "fpad");          *o++ = 1; *o++ = 0;
    o = amf_put_key(o, "capabilities");  o = amf_put_num(o, 15);
    o = amf_put_key(o, "audioCodecs");   o = amf_put_num(o, 3191);
    o = amf_put_key(o, "videoCodecs");   o = amf_put_num(o, 252);
    o = amf_put_key(o, "videoFunction"); o = amf_put_num(o, 1);
    o = put24(o, 9);                            /* object end */
    out_msg(p, 128, 3, 20, 0, b, o - b);

    uint8_t cs[4];
    put32(cs, OUT_CHUNK);
    out_msg(p, 128, 2, 1, 0, cs, 4);            /* Set Chunk Size */
}

static void send_create_stream(struct player *p, int trans)
{
    uint8_t b[64], *o = b;
    o = amf_put_str(o, "createStream");
    o = amf_put_num(o, trans);
    *o++ = 5;                                   /* null */
    out_msg(p, OUT_CHUNK, 3, 20, 0, b, o - b);
}

/* A command on stream msid: NAME, trans, null, STREAM [, "live"]. */
static void send_stream_cmd(struct player *p, const char *cmd, int trans,
                            uint8_t csid, uint32_t msid, int live)
{
    uint8_t b[1024], *o = b;
    o = amf_put_str(o, cmd);
    o = amf_put_num(o, trans);
    *o++ = 5;
    o = amf_put_str(o, p->url->name);
    if (live)
        o = amf_put_str(o, "live");
    out_msg(p, OUT_CHUNK, csid, 20, msid, b, o - b);
}

static void send_play(struct player *p)
{
    uint8_t uc[10], *o = uc;
    o = put16(o, 3);                            /* Set Buffer Length */
    o = put32(o, p->stream_id);
    put32(o, G.buflen);
    out_msg(p, OUT_CHUNK, 2, 4, 0, uc, sizeof(uc));

    char name[sizeof(p->url->name) + 24];
    const struct url *u = p->url;
    if (u->pct_d >= 0)                          /* "%d": the player number */
        snprintf(name, sizeof(name), "%.*s%ld%s", u->pct_d, u->name,
                 G.first + p->id, u->name + u->pct_d + 2);
    else
        snprintf(name, sizeof(name), "%s", u->name);

    uint8_t b[1024];
    o = b;
    o = amf_put_str(o, "play");
    o = amf_put_num(o, 0);
    *o++ = 5;
    o = amf_put_str(o, name);
    o = amf_put_num(o, -2000);
    out_msg(p, OUT_CHUNK, 8, 20, p->stream_id, b, o - b);
}

/* ---- end-to-end latency ----------------------------------------------- */

/*
 * A video frame, as opposed to a codec sequence header, an AVC end of
 * sequence or a video info/command frame: nginx-rtmp sends the sequence
 * header to a new player with an older timestamp, so only frames are
 * timed.  d holds at least the first 2 bytes of the n-byte payload.
 */
static int video_frame(const uint8_t *d, size_t n)
{
    if (n < 1 || d[0] >> 4 == 5)
        return 0;
    return (d[0] & 0x0f) != 7 || (n >= 2 && d[1] == 1);
}

/* The publisher sent a video frame at t. */
static void ring_add(uint32_t ts, uint32_t len, int64_t t)
{
    struct sent *e = &P.ring[P.ring_head++ % RING_SIZE];

    e->ts = ts;
    e->len = len;
    e->t = t;
    if (P.ring_n < RING_SIZE)
        P.ring_n++;
}

/*
 * Look up a received frame: 1 and its send time if a frame with this
 * timestamp and length was sent, -1 if the timestamp was sent with another
 * length only, 0 if not at all.  Timestamps in the ring never decrease, so
 * a binary search on their distance from the oldest one (which survives
 * 32-bit wrap) finds them.
 */
static int ring_find(uint32_t ts, uint32_t len, int64_t *t)
{
    uint32_t first = P.ring_head - P.ring_n, lo = 0, hi = P.ring_n, mid;
    uint32_t base, want;
    int      r = 0;

    if (P.ring_n == 0)
        return 0;
    base = P.ring[first % RING_SIZE].ts;
    want = ts - base;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (P.ring[(first + mid) % RING_SIZE].ts - base < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < P.ring_n; lo++) {
        const struct sent *e = &P.ring[(first + lo) % RING_SIZE];
        if (e->ts != ts)
            break;
        if (e->len == len) {
            *t = e->t;
            return 1;
        }
        r = -1;
    }
    return r;
}

/* Histogram bin of a value in us: exact below 128, then 64 per octave. */
static unsigned hist_bin(int64_t us)
{
    uint64_t v = us < 0 ? 0 : (uint64_t) us;
    unsigned shift;

    if (v > 0xffffffff)
        v = 0xffffffff;
    if (v < 2 * HIST_SUB)
        return (unsigned) v;
    shift = 63 - __builtin_clzll(v) - HIST_SHIFT;
    return (shift + 1) * HIST_SUB + (unsigned) (v >> shift) - HIST_SUB;
}

/* Middle of a bin, in us: within 0.8% of any value in it. */
static double hist_mid(unsigned bin)
{
    unsigned shift;

    if (bin < 2 * HIST_SUB)
        return bin;
    shift = bin / HIST_SUB - 1;
    return (double) ((uint64_t) (bin - shift * HIST_SUB) << shift)
           + ((1u << shift) - 1) / 2.0;
}

static void on_video_latency(struct player *p, uint32_t ts, uint32_t len,
                             int64_t now)
{
    int64_t t, lat;
    int     r = ring_find(ts, len, &t);

    if (r <= 0) {
        if (r < 0)
            p->lat_size++;
        else
            p->lat_miss++;
        return;
    }
    if (p->lat_hist == NULL) {
        p->lat_hist = calloc(HIST_BINS, sizeof(uint32_t));
        if (p->lat_hist == NULL) {
            player_end(p, "out of memory");
            return;
        }
    }
    /*
     * a frame sent before this player asked for the stream came from the
     * server's GOP cache: its age is history, not the path's delay
     */
    if (t < p->t_play) {
        p->lat_old++;
        return;
    }
    lat = now - t;
    p->lat_hist[hist_bin(lat)]++;
    p->lat_n++;
    if (lat > p->lat_max)
        p->lat_max = lat;
}

/* ---- incoming messages ------------------------------------------------ */

static void pub_started(struct player *p);

/*
 * An audio or video message: ts is its timestamp, d its first hn bytes
 * (at least 2 if it has them), n its length.
 */
static void on_media(struct player *p, int type, uint32_t ts,
                     const uint8_t *d, size_t hn, size_t n)
{
    int64_t now = now_us();

    if (p->is_pub)
        return;

    if (p->t_last_media) {
        int64_t gap = now - p->t_last_media;
        if (gap > G.gap_us)
            p->gaps++;
        if (gap > p->max_gap)
            p->max_gap = gap;
    }
    p->t_last_media = now;

    if (type == 8) {
        p->naudio++;
        return;
    }
    p->nvideo++;
    if (!p->t_video) {
        p->t_video = now;
        p->deadline = 0;
    }
    /* keyframe: frame type 1, but an AVC sequence header is not a frame */
    if (!p->t_key && hn >= 1 && d[0] >> 4 == 1
        && !((d[0] & 0x0f) == 7 && (hn < 2 || d[1] == 0)))
        p->t_key = now;
    if (P.file && video_frame(d, hn))
        on_video_latency(p, ts, (uint32_t) n, now);
}

static void on_aggregate(struct player *p, uint32_t ts, const uint8_t *d,
                         size_t n)
{
    uint32_t off = 0, t;

    /*
     * FLV-like tags: type, size(3), ts(3)+ext(1), stream(3), data, prev(4);
     * their times are shifted so that the first one is the message's.
     */
    for (int first = 1; n >= 11; first = 0) {
        uint32_t sz = be24(d + 1);
        if (sz > n - 11) {
            player_end(p, "bad aggregate");
            return;
        }
        t = be24(d + 4) | (uint32_t) d[7] << 24;
        if (first)
            off = ts - t;
        if (d[0] == 8 || d[0] == 9)
            on_media(p, d[0], t + off, d + 11, sz, sz);
        size_t step = 11 + (size_t) sz + 4;
        if (step >= n)
            break;
        d += step;
        n -= step;
    }
}

static void on_command(struct player *p, const uint8_t *d, size_t n)
{
    struct amf a = { d, d + n };
    const uint8_t *name;
    size_t nl;
    double trans = -1, v;

    if (amf_string(&a, &name, &nl) < 0)
        return;                                 /* not a command we know */
    amf_number(&a, &trans);

    if (key_is(name, nl, "_result")) {
        if (p->state == P_CONNECT && trans == 1) {
            p->t_connected = now_us();
            p->state = P_CREATE;
            p->deadline = p->t_connected + G.timeout_us;
            if (p->is_pub) {                    /* as ffmpeg: 2, 3 and 4 */
                send_stream_cmd(p, "releaseStream", 2, CSID_CMD, 0, 0);
                send_stream_cmd(p, "FCPublish", 3, CSID_CMD, 0, 0);
            }
            send_create_stream(p, p->is_pub ? 4 : 2);
        } else if (p->state == P_CREATE && trans == (p->is_pub ? 4 : 2)) {
            if (amf_skip(&a, 0) < 0 || amf_number(&a, &v) < 0
                || v < 0 || v > 0xffffffff) {
                player_end(p, "bad createStream result");
                return;
            }
            p->stream_id = (uint32_t) v;
            p->t_play = now_us();
            p->state = P_PLAY;
            p->deadline = p->t_play + G.timeout_us;
            if (p->is_pub)
                send_stream_cmd(p, "publish", 5, CSID_STREAM, p->stream_id,
                                1);
            else
                send_play(p);
        }
        return;
    }

    int is_error = key_is(name, nl, "_error");
    if (!is_error && !key_is(name, nl, "onStatus"))
        return;                                 /* onBWDone etc. */

    struct info in;
    memset(&in, 0, sizeof(in));
    if (amf_skip(&a, 0) == 0)                   /* command object, null */
        scan_info(&a, &in, 0, 0);
    if (in.code[0])
        memcpy(p->status, in.code, sizeof(p->status));
    if (in.ex_code == 302) {
        if (!p->redirects)
            p->t_redirect = now_us();
        p->redirects++;
        if (in.url[0]) {
            free(p->redirect_url);
            p->redirect_url = strdup(in.url);
        }
    }
    if (p->is_pub) {
        if (is_error && (trans == 2 || trans == 3))
            return;                 /* releaseStream, FCPublish: optional */
        if (!is_error && p->state == P_PLAY) {
            if (strcmp(in.code, "NetStream.Publish.Start") == 0)
                pub_started(p);
            else if (strcmp(in.level, "error") == 0)
                player_end(p, "publish rejected");
            return;
        }
    }
    if (is_error)
        player_end(p, in.ex_code == 302 ? "redirected"
                      : trans == 1 ? "connect rejected" : "command error");
}

static void on_user_control(struct player *p, const uint8_t *d, size_t n)
{
    if (n >= 6 && be16(d) == 6) {               /* Ping Request */
        uint8_t r[6];
        put16(r, 7);                            /* Ping Response */
        memcpy(r + 2, d + 2, 4);
        out_msg(p, OUT_CHUNK, 2, 4, 0, r, 6);
    }
}

static struct cstream *cs_find(struct player *p, uint32_t csid, int create)
{
    struct cstream *free_slot = NULL;
    for (int i = 0; i < MAX_CS; i++) {
        if (p->cs[i].csid == csid)
            return &p->cs[i];
        if (p->cs[i].csid == 0 && free_slot == NULL)
            free_slot = &p->cs[i];
    }
    if (create && free_slot) {
        memset(free_slot, 0, sizeof(*free_slot));
        free_slot->csid = csid;
    }
    return create ? free_slot : NULL;
}

/* Message types whose payload we keep whole (control and commands). */
static int buffered(uint8_t type)
{
    return (type >= 1 && type <= 6) || type == 17 || type == 20 || type == 22;
}

static void on_message(struct player *p, struct cstream *cs)
{
    const uint8_t *d = cs->buf;
    uint32_t n = cs->len;

    switch (cs->type) {
    case 1:                                     /* Set Chunk Size */
        if (n < 4 || (be32(d) & 0x7fffffff) == 0) {
            player_end(p, "bad chunk size");
            return;
        }
        p->in_chunk = be32(d) & 0x7fffffff;
        break;
    case 2:                                     /* Abort */
        if (n >= 4) {
            struct cstream *c = cs_find(p, be32(d), 0);
            if (c && c != cs) {
                free(c->buf);
                c->buf = NULL;
                c->got = 0;
            }
        }
        break;
    case 4:
        on_user_control(p, d, n);
        break;
    case 5:                                     /* Window Ack Size */
        if (n >= 4)
            p->window = be32(d);
        break;
    case 8: case 9:
        on_media(p, cs->type, cs->ts, cs->head, n < 2 ? n : 2, n);
        break;
    case 17:                                    /* AMF3 command: 0 + AMF0 */
        if (n > 1)
            on_command(p, d + 1, n - 1);
        break;
    case 20:
        on_command(p, d, n);
        break;
    case 22:
        on_aggregate(p, cs->ts, d, n);
        break;
    default:                                    /* ack, bandwidth, data... */
        break;
    }
}

/* Chunk stream id from the 1, 2 or 3 byte basic header. */
static uint32_t hdr_csid(const uint8_t *h)
{
    uint32_t low = h[0] & 0x3f;
    if (low == 0)
        return 64 + (uint32_t) h[1];
    if (low == 1)
        return 64 + (uint32_t) h[1] + (uint32_t) h[2] * 256;
    return low;
}

/* Header length known so far from the collected bytes (may grow). */
static unsigned hdr_need(struct player *p)
{
    static const unsigned mh[4] = { 11, 7, 3, 0 };
    const uint8_t *h = p->hdr;
    unsigned fmt = h[0] >> 6, low = h[0] & 0x3f;
    unsigned bl = low == 0 ? 2 : low == 1 ? 3 : 1;
    unsigned need = bl + mh[fmt];

    if (p->hdr_got < need)
        return need;
    if (fmt < 3)
        return need + (be24(h + bl) == 0xffffff ? 4 : 0);
    uint32_t csid = hdr_csid(h);
    struct cstream *cs = cs_find(p, csid, 0);
    return need + (cs && cs->ext ? 4 : 0);
}

/* A full chunk header is in p->hdr: apply it.  -1 if the player ended. */
static int hdr_apply(struct player *p)
{
    const uint8_t *h = p->hdr;
    unsigned fmt = h[0] >> 6, low = h[0] & 0x3f;
    unsigned bl = low == 0 ? 2 : low == 1 ? 3 : 1;
    uint32_t csid = hdr_csid(h);
    const uint8_t *m = h + bl;
    struct cstream *cs = cs_find(p, csid, fmt == 0);

    p->hdr_got = 0;
    if (cs == NULL) {
        player_end(p, fmt == 0 ? "too many chunk streams" : "bad chunk");
        return -1;
    }
    if (cs->got > 0 && fmt != 3) {              /* new header mid-message */
        player_end(p, "bad chunk");
        return -1;
    }
    uint32_t f = fmt < 3 ? be24(m) : 0;
    switch (fmt) {
    case 0:
        cs->ext = f == 0xffffff;
        cs->ts = cs->ext ? be32(m + 11) : f;
        cs->delta = 0;
        cs->len = be24(m + 3);
        cs->type = m[6];
        cs->msid = le32(m + 7);
        break;
    case 1: case 2:
        cs->ext = f == 0xffffff;
        cs->delta = cs->ext ? be32(m + (fmt == 1 ? 7 : 3)) : f;
        cs->ts += cs->delta;
        if (fmt == 1) {
            cs->len = be24(m + 3);
            cs->type = m[6];
        }
        break;
    default:
        if (cs->got == 0)                       /* next message, same header */
            cs->ts += cs->delta;
        break;
    }

    if (cs->got == 0) {                         /* a message starts */
        if (cs->len > MAX_MSG) {
            player_end(p, "message too big");
            return -1;
        }
        if (cs->len == 0) {
            on_message(p, cs);
            return p->fd < 0 ? -1 : 0;
        }
        if (buffered(cs->type)) {
            cs->buf = malloc(cs->len);
            if (cs->buf == NULL) {
                player_end(p, "out of memory");
                return -1;
            }
        }
    }
    uint32_t left = cs->len - cs->got;
    p->chunk_left = left < p->in_chunk ? left : p->in_chunk;
    p->cur = cs;
    return 0;
}

/* Feed received bytes to the chunk parser. */
static void feed_chunks(struct player *p, const uint8_t *d, size_t n)
{
    while (n > 0 && p->fd >= 0) {
        if (p->chunk_left == 0) {               /* collecting a header */
            p->hdr[p->hdr_got++] = *d++;
            n--;
            if (p->hdr_got == hdr_need(p) && hdr_apply(p) < 0)
                return;
            continue;
        }
        struct cstream *cs = p->cur;
        size_t k = n < p->chunk_left ? n : p->chunk_left;
        if (cs->buf) {
            memcpy(cs->buf + cs->got, d, k);
        } else {
            for (size_t i = 0; i < k && cs->got + i < 2; i++)
                cs->head[cs->got + i] = d[i];
        }
        cs->got += k;
        p->chunk_left -= k;
        d += k;
        n -= k;
        if (cs->got == cs->len) {
            on_message(p, cs);
            free(cs->buf);
            cs->buf = NULL;
            cs->got = 0;
        }
    }
}

/* ---- HTTP-FLV ------------------------------------------------------------ */

/* Send the GET of an HTTP-FLV viewer once TCP is connected. */
static void http_request(struct player *p)
{
    const struct url *u = p->url;
    char              path[sizeof(u->name) + 24], req[2048];
    int               n;

    if (u->pct_d >= 0)                          /* "%d": the player number */
        snprintf(path, sizeof(path), "%.*s%ld%s", u->pct_d, u->name,
                 G.first + p->id, u->name + u->pct_d + 2);
    else
        snprintf(path, sizeof(path), "%s", u->name);

    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.%d\r\nHost: %s\r\nUser-Agent: rtmpload\r\n"
                 "Accept: */*\r\nConnection: %s\r\n\r\n",
                 path, !G.http10, u->hosthdr,
                 G.http10 ? "close" : "keep-alive");
    p->state = P_HTTP;
    p->t_hs = p->t_play = now_us();
    p->deadline = p->t_play + G.timeout_us;
    p->hs = malloc(HTTP_HEAD_MAX);
    if (p->hs == NULL) {
        player_end(p, "out of memory");
        return;
    }
    p->hs_got = 0;
    set_events(p, EPOLLIN);
    out_raw(p, (const uint8_t *) req, (size_t) n);
}

/* The end reason of an HTTP status other than 200: a static string. */
static const char *http_reason(int status)
{
    static char reasons[500][12];

    if (status < 100 || status > 599)
        return "bad http response";
    char *r = reasons[status - 100];
    if (r[0] == 0)
        snprintf(r, sizeof(reasons[0]), "http %d", status);
    return r;
}

/* Header line [l, e) named name (any case)?  Sets *v to its value. */
static int http_header(const char *l, const char *e, const char *name,
                       const char **v)
{
    size_t k = strlen(name);

    if ((size_t) (e - l) <= k || strncasecmp(l, name, k) != 0 || l[k] != ':')
        return 0;
    l += k + 1;
    while (l < e && (*l == ' ' || *l == '\t'))
        l++;
    *v = l;
    return 1;
}

/*
 * The response header is complete in p->hs (len bytes, ending with the
 * empty line).  Returns 0 to read the body, -1 when the player ended.
 */
static int http_response(struct player *p, size_t len)
{
    char       *h = (char *) p->hs, *e, *l, *le;
    const char *v;
    int         status;

    h[len - 1] = 0;                             /* the last '\n' */
    if (len < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' '
        || sscanf(h + 9, "%3d", &status) != 1) {
        player_end(p, "bad http response");
        return -1;
    }
    snprintf(p->status, sizeof(p->status), "HTTP %d", status);
    p->chunked = 0;
    p->body_left = UINT64_MAX;
    e = h + len - 1;
    for (l = strchr(h, '\n') + 1; l < e; l = le + 1) {
        le = memchr(l, '\n', e - l);
        if (le == NULL)
            le = e;
        char *end = le > l && le[-1] == '\r' ? le - 1 : le;
        if (http_header(l, end, "Transfer-Encoding", &v)) {
            for (const char *c = v; c + 7 <= end; c++)
                if (strncasecmp(c, "chunked", 7) == 0)
                    p->chunked = 1;
        } else if (http_header(l, end, "Content-Length", &v)) {
            p->body_left = strtoull(v, NULL, 10);
        } else if (http_header(l, end, "Location", &v)) {
            free(p->redirect_url);
            p->redirect_url = strndup(v, end - v);
        }
    }
    if (status == 301 || status == 302 || status == 303 || status == 307
        || status == 308) {
        if (!p->redirects)
            p->t_redirect = now_us();
        p->redirects++;
        player_end(p, "redirected");
        return -1;
    }
    if (status != 200) {
        player_end(p, http_reason(status));
        return -1;
    }
    if (p->chunked)
        p->body_left = UINT64_MAX;              /* the chunks tell the end */
    p->t_connected = now_us();
    p->deadline = p->t_connected + G.timeout_us;
    p->state = P_PLAY;
    p->ch_state = C_SIZE;
    p->ch_digits = 0;
    p->ch_left = 0;
    p->flv_state = F_HEAD;
    p->flv_left = 9;
    p->hdr_got = 0;
    free(p->hs);
    p->hs = NULL;
    return 0;
}

/* Collect up to want bytes of a fixed-size part into p->hdr. */
static size_t flv_collect(struct player *p, const uint8_t *d, size_t n,
                          unsigned want)
{
    size_t k = want - p->hdr_got;

    if (k > n)
        k = n;
    memcpy(p->hdr + p->hdr_got, d, k);
    p->hdr_got += k;
    return k;
}

/* FLV bytes of the body: the file header, then tags, counted in place. */
static void feed_flv(struct player *p, const uint8_t *d, size_t n)
{
    size_t k;

    while (n > 0 && p->fd >= 0) {
        switch (p->flv_state) {

        case F_HEAD:                            /* "FLV", 1, flags, offset */
            k = flv_collect(p, d, n, 9);
            if (p->hdr_got == 9) {
                uint32_t off = be32(p->hdr + 5);
                if (memcmp(p->hdr, "FLV", 3) != 0 || off < 9
                    || off > 1024) {
                    player_end(p, "bad flv header");
                    return;
                }
                p->flv_left = off - 9 + 4;      /* + PreviousTagSize0 */
                p->flv_state = F_SKIP;
            }
            break;

        case F_SKIP:
            k = n < p->flv_left ? n : p->flv_left;
            p->flv_left -= k;
            if (p->flv_left == 0) {
                p->flv_state = F_TAG;
                p->hdr_got = 0;
            }
            break;

        case F_TAG:                             /* the 11-byte tag header */
            k = flv_collect(p, d, n, 11);
            if (p->hdr_got == 11) {
                p->tag_type = p->hdr[0] & 0x1f;
                p->tag_size = be24(p->hdr + 1);
                p->tag_ts = be24(p->hdr + 4) | (uint32_t) p->hdr[7] << 24;
                if (p->tag_type != 8 && p->tag_type != 9
                    && p->tag_type != 18) {
                    player_end(p, "bad flv tag");
                    return;
                }
                if (p->tag_size > MAX_MSG) {
                    player_end(p, "message too big");
                    return;
                }
                p->flv_left = p->tag_size;
                p->flv_state = F_BODY;
            }
            break;

        case F_BODY:                            /* the payload, not copied */
            k = n < p->flv_left ? n : p->flv_left;
            for (size_t i = 0; i < k; i++) {
                size_t at = p->tag_size - p->flv_left + i;
                if (at >= 2)
                    break;
                p->tag_head[at] = d[i];
            }
            p->flv_left -= k;
            break;

        default:                                /* F_PTS: PreviousTagSize */
            k = flv_collect(p, d, n, 4);
            if (p->hdr_got == 4) {
                if (be32(p->hdr) != p->tag_size + 11) {
                    player_end(p, "bad flv tag size");
                    return;
                }
                p->flv_state = F_TAG;
                p->hdr_got = 0;
            }
            break;
        }
        d += k;
        n -= k;

        /* a whole tag: timed when its last byte is parsed, as for RTMP */
        if (p->flv_state == F_BODY && p->flv_left == 0) {
            p->flv_state = F_PTS;
            p->hdr_got = 0;
            if (p->tag_type != 18 && !(p->hdr[0] & 0x20))
                on_media(p, p->tag_type, p->tag_ts, p->tag_head,
                         p->tag_size < 2 ? p->tag_size : 2, p->tag_size);
        }
    }
}

/* Body bytes: decoded from chunks when chunked, then fed to the FLV parser. */
static void feed_body(struct player *p, const uint8_t *d, size_t n)
{
    size_t k;

    if (!p->chunked) {
        if (n > p->body_left)
            n = p->body_left;
        p->body_left -= n;
        feed_flv(p, d, n);
        if (p->fd >= 0 && p->body_left == 0)
            player_end(p, "end of body");
        return;
    }
    while (n > 0 && p->fd >= 0) {
        uint8_t c = *d;
        if (p->ch_state == C_DATA) {
            k = n < p->ch_left ? n : p->ch_left;
            feed_flv(p, d, k);
            p->ch_left -= k;
            if (p->ch_left == 0)
                p->ch_state = C_DATA_END;
            d += k;
            n -= k;
            continue;
        }
        d++;
        n--;
        switch (p->ch_state) {

        case C_SIZE:                            /* hex size [;ext] CRLF */
            if (isxdigit(c) && p->ch_digits < 15) {
                p->ch_left = p->ch_left << 4
                             | (uint64_t) (isdigit(c) ? c - '0'
                                                      : (c | 0x20) - 'a' + 10);
                p->ch_digits++;
                break;
            }
            if (p->ch_digits == 0 || isxdigit(c)) {
                player_end(p, "bad chunked encoding");
                return;
            }
            p->ch_state = C_EXT;
            /* fall through */

        case C_EXT:                             /* up to the LF */
            if (c != '\n')
                break;
            p->ch_digits = 0;
            p->ch_line = 0;
            p->ch_state = p->ch_left ? C_DATA : C_TRAILER;
            break;

        case C_DATA_END:                        /* the CRLF after the data */
            if (c == '\r')
                break;
            if (c != '\n') {
                player_end(p, "bad chunked encoding");
                return;
            }
            p->ch_state = C_SIZE;
            break;

        default:                                /* C_TRAILER: to "\r\n" */
            if (c == '\n') {
                if (p->ch_line == 0) {
                    player_end(p, "end of body");
                    return;
                }
                p->ch_line = 0;
            } else if (c != '\r' && p->ch_line < 255) {
                p->ch_line++;
            }
            break;
        }
    }
}

/* Received bytes of an HTTP-FLV viewer. */
static void feed_http(struct player *p, const uint8_t *d, size_t n)
{
    if (p->state == P_HTTP) {                   /* the response header */
        size_t from = p->hs_got > 3 ? p->hs_got - 3 : 0, k, i;

        k = HTTP_HEAD_MAX - p->hs_got;
        if (k > n)
            k = n;
        memcpy(p->hs + p->hs_got, d, k);
        p->hs_got += k;
        for (i = from; i + 4 <= p->hs_got; i++)
            if (memcmp(p->hs + i, "\r\n\r\n", 4) == 0)
                break;
        if (i + 4 > p->hs_got) {
            if (p->hs_got == HTTP_HEAD_MAX)
                player_end(p, "bad http response");
            return;
        }
        size_t used = i + 4 - (p->hs_got - k);  /* of d */
        if (http_response(p, i + 4) < 0)
            return;
        d += used;
        n -= used;
    }
    if (n)
        feed_body(p, d, n);
}

/* ---- connection phases ------------------------------------------------ */

static void on_connected(struct player *p)
{
    uint8_t c01[1 + HS_SIZE];

    p->t_tcp = now_us();
    if (p->url->http) {
        http_request(p);
        return;
    }
    p->state = P_HANDSHAKE;
    p->deadline = p->t_tcp + G.timeout_us;
    p->hs = malloc(1 + HS_SIZE);
    if (p->hs == NULL) {
        player_end(p, "out of memory");
        return;
    }
    memset(c01, 0, sizeof(c01));
    c01[0] = 3;                                 /* C0: version */
    put32(c01 + 1, (uint32_t) ((p->t_tcp - G.t0) / 1000));  /* C1 time */
    set_events(p, EPOLLIN);
    out_raw(p, c01, sizeof(c01));
}

/* Handshake bytes; returns how many of d were consumed. */
static size_t feed_handshake(struct player *p, const uint8_t *d, size_t n)
{
    size_t used = 0;

    if (p->hs_got < 1 + HS_SIZE) {              /* S0 + S1, kept */
        size_t k = 1 + HS_SIZE - p->hs_got;
        if (k > n)
            k = n;
        memcpy(p->hs + p->hs_got, d, k);
        if (p->hs_got == 0 && p->hs[0] != 3) {
            player_end(p, "bad handshake");
            return n;
        }
        p->hs_got += k;
        used = k;
    }
    size_t k = 1 + 2 * HS_SIZE - p->hs_got;     /* S2, ignored */
    if (k > n - used)
        k = n - used;
    p->hs_got += k;
    used += k;

    if (p->hs_got == 1 + 2 * HS_SIZE) {
        out_raw(p, p->hs + 1, HS_SIZE);         /* C2 = S1 echo */
        free(p->hs);
        p->hs = NULL;
        if (p->fd < 0)
            return n;
        p->state = P_CONNECT;
        p->t_hs = now_us();
        p->deadline = p->t_hs + G.timeout_us;
        p->in_chunk = 128;
        send_connect(p);
    }
    return used;
}

static void on_readable(struct player *p)
{
    for (int round = 0; round < 4 && p->fd >= 0; round++) {
        ssize_t r = recv(p->fd, G.rbuf, sizeof(G.rbuf), 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            player_end(p, errno == ECONNRESET ? "connection reset"
                                              : "read error");
            return;
        }
        if (r == 0) {
            player_end(p, p->state == P_HANDSHAKE ? "eof in handshake"
                          : p->state == P_HTTP ? "eof in http response"
                          : "eof");
            return;
        }
        p->bytes_in += r;
        const uint8_t *d = G.rbuf;
        size_t n = r;
        if (p->url->http) {
            feed_http(p, d, n);
            if ((size_t) r < sizeof(G.rbuf))
                return;
            continue;
        }
        if (p->state == P_HANDSHAKE) {
            size_t k = feed_handshake(p, d, n);
            d += k;
            n -= k;
        }
        if (n && p->fd >= 0)
            feed_chunks(p, d, n);
        if (p->fd >= 0 && p->window && p->bytes_in - p->acked >= p->window) {
            uint8_t ack[4];
            put32(ack, (uint32_t) p->bytes_in); /* sequence number wraps */
            p->acked = p->bytes_in;
            out_msg(p, OUT_CHUNK, 2, 3, 0, ack, 4);
        }
        if ((size_t) r < sizeof(G.rbuf))
            return;
    }
}

static void player_start(struct player *p)
{
    p->t_start = now_us();
    p->in_chunk = 128;
    p->fd = socket(p->url->addr.ss_family,
                   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->state = P_CONNECTING;
        player_end(p, errno == EMFILE || errno == ENFILE
                      ? "too many open files" : "socket failed");
        return;
    }
    G.alive += !p->is_pub;
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    p->state = P_CONNECTING;
    p->deadline = p->t_start + G.timeout_us;

    struct epoll_event e = { .events = EPOLLOUT, .data.ptr = p };
    if (epoll_ctl(G.ep, EPOLL_CTL_ADD, p->fd, &e) < 0) {
        player_end(p, "epoll failed");
        return;
    }
    p->events = EPOLLOUT;
    int rc = connect(p->fd, (struct sockaddr *) &p->url->addr,
                     p->url->addrlen);
    int err = errno;

    /* the port is bound by connect(), even while it is in progress */
    struct sockaddr_storage la;
    socklen_t ll = sizeof(la);
    if (getsockname(p->fd, (struct sockaddr *) &la, &ll) == 0)
        p->lport = ntohs(la.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *) &la)->sin6_port
                         : ((struct sockaddr_in *) &la)->sin_port);
    if (rc == 0)
        on_connected(p);
    else if (err == ECONNREFUSED)
        player_end(p, "connect refused");
    else if (err != EINPROGRESS)
        player_end(p, "connect failed");
}

static void on_event(struct player *p, uint32_t ev)
{
    if (p->state == P_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err == 0 && !(ev & (EPOLLERR | EPOLLHUP)))
            on_connected(p);
        else
            player_end(p, err == ECONNREFUSED ? "connect refused"
                          : err == ETIMEDOUT ? "connect timeout"
                          : "connect failed");
        return;
    }
    if (ev & EPOLLOUT)
        flush_out(p);
    if (p->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(p);
}

static void check_deadline(struct player *p, int64_t now)
{
    if (p->state == P_DONE || !p->deadline || now < p->deadline)
        return;
    switch (p->state) {
    case P_CONNECTING: player_end(p, "connect timeout"); break;
    case P_HANDSHAKE:  player_end(p, "handshake timeout"); break;
    case P_CONNECT:    player_end(p, "connect command timeout"); break;
    case P_CREATE:     player_end(p, "createStream timeout"); break;
    case P_HTTP:       player_end(p, "http response timeout"); break;
    default:
        player_end(p, p->is_pub ? "publish timeout" : "no video in time");
        break;
    }
}

static void check_deadlines(int64_t now)
{
    if (P.file)
        check_deadline(&P.c, now);
    for (int i = 0; i < G.started; i++)
        check_deadline(&G.pl[i], now);
}

/* ---- publisher -------------------------------------------------------- */

/* Read the whole FLV file: its audio/video tags and its onMetaData. */
static int pub_load(const char *path)
{
    FILE       *f;
    uint8_t    *d, *nb;
    size_t      off, cap = 0, n, tcap = 0;
    uint32_t    first = 0, max = 0, last[2] = { 0, 0 }, dur[2] = { 0, 0 };
    int         have_first = 0, frames = 0;
    struct tag *t;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "rtmpload: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for ( ;; ) {
        if (P.size == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            nb = realloc(P.data, cap);
            if (nb == NULL) {
                fprintf(stderr, "rtmpload: %s: out of memory\n", path);
                fclose(f);
                return -1;
            }
            P.data = nb;
        }
        n = fread(P.data + P.size, 1, cap - P.size, f);
        if (n == 0)
            break;
        P.size += n;
    }
    if (ferror(f)) {
        fprintf(stderr, "rtmpload: %s: read error\n", path);
        fclose(f);
        return -1;
    }
    fclose(f);

    d = P.data;
    if (P.size < 13 || memcmp(d, "FLV", 3) != 0 || be32(d + 5) < 9
        || be32(d + 5) > P.size - 4)
    {
        fprintf(stderr, "rtmpload: %s: not an FLV file\n", path);
        return -1;
    }

    /* tags: type, size(3), ts(3)+ext(1), stream(3), data, prev size(4) */
    for (off = be32(d + 5) + 4; off <= P.size && P.size - off >= 11;
         off += 11 + (size_t) be24(d + off + 1) + 4)
    {
        uint8_t        type = d[off] & 0x1f;
        uint32_t       sz = be24(d + off + 1);
        uint32_t       ts = be24(d + off + 4) | (uint32_t) d[off + 7] << 24;
        const uint8_t *pl = d + off + 11;

        if (sz > P.size - off - 11)
            break;                              /* truncated: ignore */
        if (type == 18 && P.meta == NULL && sz >= 13 && pl[0] == 2
            && be16(pl + 1) == 10 && memcmp(pl + 3, "onMetaData", 10) == 0)
        {
            P.meta_len = 16 + (size_t) sz;
            P.meta = malloc(P.meta_len);
            if (P.meta == NULL) {
                fprintf(stderr, "rtmpload: %s: out of memory\n", path);
                return -1;
            }
            amf_put_str(P.meta, "@setDataFrame");
            memcpy(P.meta + 16, pl, sz);
            continue;
        }
        if ((type != 8 && type != 9) || sz == 0 || (d[off] & 0x20))
            continue;                           /* other, empty, encrypted */
        if (type == 9 && (pl[0] & 0x0f) == 7 && sz >= 2 && pl[1] == 2)
            continue;           /* AVC end of sequence: not at each loop */

        if (P.ntags == (int) tcap) {
            tcap = tcap ? tcap * 2 : 1024;
            t = realloc(P.tag, tcap * sizeof(*t));
            if (t == NULL) {
                fprintf(stderr, "rtmpload: %s: out of memory\n", path);
                return -1;
            }
            P.tag = t;
        }
        if (!have_first) {
            first = ts;
            have_first = 1;
        }
        t = &P.tag[P.ntags++];
        t->off = off + 11;
        t->size = sz;
        t->ts = ts >= first ? ts - first : 0;
        t->type = type;
        t->key = type == 9 && pl[0] >> 4 == 1;
        t->config = sz >= 2 && pl[1] == 0
                    && (type == 9 ? (pl[0] & 0x0f) == 7 : pl[0] >> 4 == 10);
        frames += !t->config;
        if (t->ts > last[type == 9])
            dur[type == 9] = t->ts - last[type == 9];
        last[type == 9] = t->ts;
        if (t->ts > max)
            max = t->ts;
    }
    if (frames == 0) {
        fprintf(stderr, "rtmpload: %s: no audio or video frames\n", path);
        return -1;
    }

    /* the next loop starts one frame duration after the last tag */
    P.span = max + (dur[1] ? dur[1] : dur[0] ? dur[0] : 1);
    return 0;
}

/* NetStream.Publish.Start: send the metadata, start the clock. */
static void pub_started(struct player *p)
{
    int64_t now = now_us();

    P.t_publish = now;
    P.t_players = now + (int64_t) (P.wait * 1e6);
    p->state = P_LIVE;
    p->deadline = 0;
    if (P.meta)
        out_media(p, &P.oc[2], CSID_DATA, 18, p->stream_id, P.ts0, P.meta,
                  P.meta_len);
    P.t_base = now;
    P.next_due = now;
}

/*
 * Send one tag, or drop it if more than PUB_QUEUE_MAX bytes wait for the
 * socket: a real encoder drops too rather than fall ever further behind.
 * After a dropped video frame, video resumes at the next keyframe.
 */
static void pub_send(const struct tag *t, uint32_t ts)
{
    struct player *c = &P.c;
    const uint8_t *d = P.data + t->off;
    int            v = t->type == 9;
    int64_t        now;
    size_t         queued;

    if (v && P.skip_video && !t->key) {
        P.dropped++;
        return;
    }
    if (c->wlen - c->woff > PUB_QUEUE_MAX) {
        P.dropped++;
        P.skip_video |= v;
        return;
    }
    if (v)
        P.skip_video = 0;

    now = now_us();
    out_media(c, &P.oc[v], v ? CSID_VIDEO : CSID_AUDIO, t->type,
              c->stream_id, ts, d, t->size);
    if (c->fd < 0)
        return;
    queued = c->wlen - c->woff;
    if (queued > P.max_queue)
        P.max_queue = queued;
    if (queued && !P.t_backlog)
        P.t_backlog = now;
    if (!v) {
        P.naudio++;
        return;
    }
    P.nvideo++;
    if (video_frame(d, t->size))
        ring_add(ts, t->size, now);
}

/*
 * Send every tag that is due, like "ffmpeg -re": a tag at media time T ms
 * goes out T ms after Publish.Start.  At the end of the file, start again
 * with times continued by P.span (like -stream_loop -1 with -c copy, the
 * sequence headers are not sent again).
 */
static void pub_pump(int64_t now)
{
    const struct tag *t;
    uint64_t          ms;
    int64_t           due;
    int               v;

    if (P.t_backlog && P.c.wlen == P.c.woff) {
        if (now - P.t_backlog > P.max_backlog)
            P.max_backlog = now - P.t_backlog;
        P.t_backlog = 0;
    }
    while (P.c.state == P_LIVE) {
        if (P.next == P.ntags) {
            P.next = 0;
            P.loops++;
            P.base += P.span;
        }
        t = &P.tag[P.next];
        if (P.loops && t->config) {
            P.next++;
            continue;
        }
        v = t->type == 9;
        ms = P.base + t->ts;
        if (ms < P.last[v])                     /* keep each one monotonic */
            ms = P.last[v];
        due = P.t_base + (int64_t) ms * 1000;
        if (due > now) {
            P.next_due = due;
            return;
        }
        /* a tag stored after a later one is not late: it could not go first */
        if (due < P.last_due)
            due = P.last_due;
        P.last_due = due;
        if (now - due > P.max_late)
            P.max_late = now - due;
        P.last[v] = ms;
        P.next++;
        pub_send(t, (uint32_t) (P.ts0 + ms));
    }
    P.next_due = 0;
}

/* End of the run: unpublish politely (best effort), then close. */
static void pub_stop(void)
{
    struct player *c = &P.c;
    uint8_t        b[64], *o = b;

    if (c->state == P_DONE)
        return;
    if (c->state == P_LIVE) {
        send_stream_cmd(c, "FCUnpublish", 6, CSID_CMD, 0, 0);
        o = amf_put_str(o, "deleteStream");
        o = amf_put_num(o, 7);
        *o++ = 5;
        o = amf_put_num(o, c->stream_id);
        out_msg(c, OUT_CHUNK, CSID_CMD, 20, 0, b, o - b);
    }
    c->t_end = G.t_stop;
    c->state = P_DONE;
    c->reason = NULL;
    player_free(c);
}

/* Longest time the publisher had unsent output, up to now. */
static int64_t pub_backlog(void)
{
    int64_t t = P.t_backlog ? G.t_stop - P.t_backlog : 0;

    return t > P.max_backlog ? t : P.max_backlog;
}

/* ---- summary ---------------------------------------------------------- */

struct pct { long long n; double p50, p95, p99, max; };

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles of the values in v (sorted in place). */
static struct pct percentiles(double *v, int n)
{
    struct pct r = { n, 0, 0, 0, 0 };
    if (n == 0)
        return r;
    qsort(v, n, sizeof(*v), cmp_dbl);
#define RANK(q) v[(int) ceil((q) * n) - 1 < 0 ? 0 : (int) ceil((q) * n) - 1]
    r.p50 = RANK(0.50);
    r.p95 = RANK(0.95);
    r.p99 = RANK(0.99);
#undef RANK
    r.max = v[n - 1];
    return r;
}

struct summary {
    int started, tcp, handshaken, connected, play_sent, playing, keyframe;
    int alive, alive_novideo, ended, redirects, redirected_players;
    int gap_players, stalled;
    uint64_t gaps, bytes;
    double run_s, mbps, max_gap_ms;
    struct pct ttfv, ttfk, connect_ms;
    struct pct lat;                     /* end-to-end latency, ms */
    uint64_t lat_miss, lat_size, lat_old;
    int lat_players;
    int nreasons;
    const char *reason[64];
    int reason_n[64];
};

static double ms(int64_t us) { return us / 1000.0; }

/* Nearest-rank value of rank k (1-based) in a histogram, in ms. */
static double hist_rank(const uint64_t *h64, const uint32_t *h32, uint64_t k,
                        int64_t max)
{
    uint64_t sum = 0;
    unsigned i;

    for (i = 0; i < HIST_BINS; i++) {
        sum += h64 ? h64[i] : h32[i];
        if (sum >= k)
            break;
    }
    /* the middle of the top bin may lie above the largest value */
    return i < HIST_BINS && hist_mid(i) < max ? hist_mid(i) / 1000 : ms(max);
}

static uint64_t rank_of(double q, uint64_t n)
{
    uint64_t k = (uint64_t) ceil(q * n);
    return k ? k : 1;
}

/* Per-player median latency in ms, or -1 without samples. */
static double lat_median(const struct player *p)
{
    if (p->lat_n == 0 || p->lat_hist == NULL)
        return -1;
    return hist_rank(NULL, p->lat_hist, rank_of(0.5, p->lat_n), p->lat_max);
}

/* Latency percentiles over all samples of all players. */
static void summarize_latency(struct summary *s)
{
    uint64_t *h = calloc(HIST_BINS, sizeof(uint64_t)), n = 0;
    int64_t   max = 0;

    if (h == NULL) {
        fprintf(stderr, "rtmpload: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < G.started; i++) {
        struct player *p = &G.pl[i];
        s->lat_miss += p->lat_miss;
        s->lat_size += p->lat_size;
        s->lat_old += p->lat_old;
        if (p->lat_n == 0 || p->lat_hist == NULL)
            continue;
        s->lat_players++;
        n += p->lat_n;
        if (p->lat_max > max)
            max = p->lat_max;
        for (unsigned b = 0; b < HIST_BINS; b++)
            h[b] += p->lat_hist[b];
    }
    s->lat.n = (long long) n;
    if (n) {
        s->lat.p50 = hist_rank(h, NULL, rank_of(0.50, n), max);
        s->lat.p95 = hist_rank(h, NULL, rank_of(0.95, n), max);
        s->lat.p99 = hist_rank(h, NULL, rank_of(0.99, n), max);
        s->lat.max = ms(max);
    }
    free(h);
}

static void summarize(struct summary *s)
{
    double *v1 = calloc(G.n + 1, sizeof(double));
    double *v2 = calloc(G.n + 1, sizeof(double));
    double *v3 = calloc(G.n + 1, sizeof(double));
    int n1 = 0, n2 = 0, n3 = 0;

    memset(s, 0, sizeof(*s));
    if (!v1 || !v2 || !v3) {
        fprintf(stderr, "rtmpload: out of memory\n");
        exit(1);
    }
    s->run_s = (G.t_stop - G.t0) / 1e6;
    for (int i = 0; i < G.started; i++) {
        struct player *p = &G.pl[i];
        s->started++;
        if (p->t_tcp) s->tcp++;
        if (p->t_hs) s->handshaken++;
        if (p->t_connected) s->connected++;
        if (p->t_play) s->play_sent++;
        if (p->t_video) {
            s->playing++;
            v1[n1++] = ms(p->t_video - p->t_start);
        }
        if (p->t_key) {
            s->keyframe++;
            v2[n2++] = ms(p->t_key - p->t_start);
        }
        if (p->t_connected)
            v3[n3++] = ms(p->t_connected - p->t_start);
        if (p->reason == NULL) {
            s->alive++;
            if (!p->t_video)
                s->alive_novideo++;
            if (p->t_last_media && G.t_stop - p->t_last_media > G.gap_us)
                s->stalled++;
        } else {
            s->ended++;
            int j;
            for (j = 0; j < s->nreasons; j++)
                if (strcmp(s->reason[j], p->reason) == 0)
                    break;
            if (j == s->nreasons && j < 64) {
                s->reason[j] = p->reason;
                s->nreasons++;
            }
            if (j < 64)
                s->reason_n[j]++;
        }
        s->redirects += p->redirects;
        if (p->redirects) s->redirected_players++;
        s->gaps += p->gaps;
        if (p->gaps) s->gap_players++;
        if (ms(p->max_gap) > s->max_gap_ms) s->max_gap_ms = ms(p->max_gap);
        s->bytes += p->bytes_in;
    }
    /* from the first player's start: a publisher's wait is not counted */
    double play_s = G.t_play0 ? (G.t_stop - G.t_play0) / 1e6 : 0;
    s->mbps = play_s > 0 ? s->bytes * 8 / play_s / 1e6 : 0;
    summarize_latency(s);
    s->ttfv = percentiles(v1, n1);
    s->ttfk = percentiles(v2, n2);
    s->connect_ms = percentiles(v3, n3);
    free(v1);
    free(v2);
    free(v3);
}

static void print_pct(const char *what, const struct pct *p)
{
    printf("%-22s n=%lld", what, p->n);
    if (p->n)
        printf("  p50 %.1f  p95 %.1f  p99 %.1f  max %.1f",
               p->p50, p->p95, p->p99, p->max);
    printf("\n");
}

/* Publisher's Mbit/s while publishing. */
static double pub_mbps(void)
{
    int64_t end = P.c.t_end ? P.c.t_end : G.t_stop;

    if (!P.t_publish || end <= P.t_publish)
        return 0;
    return P.c.bytes_out * 8.0 / (end - P.t_publish);
}

static void print_publisher(const struct summary *s)
{
    const struct player *c = &P.c;

    printf("publisher              %s  (file %s, loop %.3f s)\n",
           P.url.s, P.file, P.span / 1000.0);
    printf("publish                ");
    if (P.t_publish)
        printf("Publish.Start after %.1f ms", ms(P.t_publish - c->t_start));
    else
        printf("never started");
    if (c->reason)
        printf(", ended after %.3f s: %s", ms(c->t_end - c->t_start) / 1000,
               c->reason);
    else
        printf(", publishing at the end");
    printf("  (last status %s)\n", c->status[0] ? c->status : "none");
    printf("published              video %llu  audio %llu  loops %u  "
           "bytes %llu (%.2f Mbit/s)\n",
           (unsigned long long) P.nvideo, (unsigned long long) P.naudio,
           P.loops, (unsigned long long) c->bytes_out, pub_mbps());
    printf("publisher backlog      dropped %llu  max queue %zu B  "
           "longest backlog %.1f ms  max late %.1f ms\n",
           (unsigned long long) P.dropped, P.max_queue, ms(pub_backlog()),
           ms(P.max_late));
    if (G.n == 0)
        return;
    print_pct("latency ms", &s->lat);
    printf("latency unmatched      %llu  (timestamp not sent %llu, "
           "sent with another size %llu)  players with samples %d\n",
           (unsigned long long) (s->lat_miss + s->lat_size),
           (unsigned long long) s->lat_miss,
           (unsigned long long) s->lat_size, s->lat_players);
    printf("latency not counted    %llu  (sent before the player's play: "
           "a cached GOP)\n", (unsigned long long) s->lat_old);
}

static void print_summary(const struct summary *s)
{
    printf("url                    %s\n", G.n ? G.play.s : "-");
    printf("run                    %.2f s (players %d, rate %s, -d %.1f s)\n",
           s->run_s, G.n, G.rate > 0 ? "limited" : "max", G.duration);
    printf("players                started %d  tcp %d  handshake %d  "
           "connected %d  play-sent %d  playing %d  keyframe %d\n",
           s->started, s->tcp, s->handshaken, s->connected, s->play_sent,
           s->playing, s->keyframe);
    printf("at end                 alive %d  (of which no video %d)  "
           "stalled > gap %d\n", s->alive, s->alive_novideo, s->stalled);
    printf("ended                  %d\n", s->ended);
    for (int j = 0; j < s->nreasons; j++)
        printf("  %-20s %d\n", s->reason[j], s->reason_n[j]);
    printf("redirects              %d  (players %d)\n",
           s->redirects, s->redirected_players);
    print_pct("connect _result ms", &s->connect_ms);
    print_pct("first video ms", &s->ttfv);
    print_pct("first keyframe ms", &s->ttfk);
    printf("bytes                  %llu  (%.2f Mbit/s over the run)\n",
           (unsigned long long) s->bytes, s->mbps);
    char label[32];
    snprintf(label, sizeof(label), "gaps > %lld ms",
             (long long) (G.gap_us / 1000));
    printf("%-22s %llu  (players %d)  max gap %.1f ms\n", label,
           (unsigned long long) s->gaps, s->gap_players, s->max_gap_ms);
    if (P.file)
        print_publisher(s);
}

static void json_str(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20 || *c >= 0x7f)       /* non-ASCII as Latin-1 */
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

static void json_pct(FILE *f, const char *k, const struct pct *p)
{
    fprintf(f, "  \"%s\": {\"n\": %lld", k, p->n);
    if (p->n)
        fprintf(f, ", \"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f,"
                " \"max\": %.3f", p->p50, p->p95, p->p99, p->max);
    fprintf(f, "},\n");
}

/* Milliseconds since the player's start, or null. */
static void json_ms(FILE *f, const char *k, int64_t t, int64_t base)
{
    if (t)
        fprintf(f, ", \"%s\": %.3f", k, ms(t - base));
    else
        fprintf(f, ", \"%s\": null", k);
}

static void json_publisher(FILE *f)
{
    const struct player *c = &P.c;

    fprintf(f, "{\"url\": ");
    json_str(f, P.url.s);
    fprintf(f, ", \"file\": ");
    json_str(f, P.file);
    fprintf(f, ", \"loop_s\": %.3f", P.span / 1000.0);
    json_ms(f, "start_ms", c->t_start, G.t0);
    json_ms(f, "tcp_ms", c->t_tcp, c->t_start);
    json_ms(f, "handshake_ms", c->t_hs, c->t_start);
    json_ms(f, "connected_ms", c->t_connected, c->t_start);
    json_ms(f, "publish_ms", c->t_play, c->t_start);
    json_ms(f, "publish_start_ms", P.t_publish, c->t_start);
    json_ms(f, "end_ms", c->t_end, c->t_start);
    fprintf(f, ", \"video_msgs\": %llu, \"audio_msgs\": %llu"
            ", \"loops\": %u, \"bytes_out\": %llu, \"mbit_per_s\": %.3f"
            ", \"dropped\": %llu, \"max_queue_bytes\": %zu"
            ", \"max_backlog_ms\": %.3f"
            ", \"max_late_ms\": %.3f, \"bytes_in\": %llu"
            ", \"redirects\": %u, \"redirect_url\": ",
            (unsigned long long) P.nvideo, (unsigned long long) P.naudio,
            P.loops, (unsigned long long) c->bytes_out, pub_mbps(),
            (unsigned long long) P.dropped, P.max_queue, ms(pub_backlog()),
            ms(P.max_late),
            (unsigned long long) c->bytes_in, c->redirects);
    json_str(f, c->redirect_url);
    fprintf(f, ", \"last_status\": ");
    json_str(f, c->status[0] ? c->status : NULL);
    fprintf(f, ", \"end_reason\": ");
    json_str(f, c->reason);
    fprintf(f, "}");
}

static int write_json(const struct summary *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fprintf(f, "{\n  \"url\": ");
    json_str(f, G.n ? G.play.s : NULL);
    fprintf(f, ",\n  \"players_requested\": %d,\n  \"rate\": %g,\n"
            "  \"duration_s\": %g,\n  \"gap_ms\": %lld,\n  \"run_s\": %.3f,\n"
            "  \"start_unix\": %.6f,\n",
            G.n, G.rate, G.duration, (long long) (G.gap_us / 1000), s->run_s,
            G.t0_unix);
    fprintf(f, "  \"started\": %d,\n  \"tcp_connected\": %d,\n"
            "  \"handshaken\": %d,\n  \"connected\": %d,\n"
            "  \"play_sent\": %d,\n"
            "  \"playing\": %d,\n  \"keyframe\": %d,\n  \"alive\": %d,\n"
            "  \"alive_no_video\": %d,\n  \"stalled_at_end\": %d,\n"
            "  \"ended\": %d,\n  \"ended_by_reason\": {",
            s->started, s->tcp, s->handshaken, s->connected, s->play_sent,
            s->playing, s->keyframe, s->alive, s->alive_novideo, s->stalled,
            s->ended);
    for (int j = 0; j < s->nreasons; j++) {
        fprintf(f, "%s", j ? ", " : "");
        json_str(f, s->reason[j]);
        fprintf(f, ": %d", s->reason_n[j]);
    }
    fprintf(f, "},\n  \"redirects\": %d,\n  \"redirected_players\": %d,\n",
            s->redirects, s->redirected_players);
    json_pct(f, "connect_ms", &s->connect_ms);
    json_pct(f, "first_video_ms", &s->ttfv);
    json_pct(f, "first_keyframe_ms", &s->ttfk);
    fprintf(f, "  \"bytes\": %llu,\n  \"mbit_per_s\": %.3f,\n"
            "  \"gaps\": %llu,\n  \"gap_players\": %d,\n"
            "  \"max_gap_ms\": %.3f,\n",
            (unsigned long long) s->bytes, s->mbps,
            (unsigned long long) s->gaps, s->gap_players, s->max_gap_ms);
    json_pct(f, "latency_ms", &s->lat);
    fprintf(f, "  \"latency_unmatched\": %llu,\n"
            "  \"latency_ts_not_sent\": %llu,\n"
            "  \"latency_size_differs\": %llu,\n"
            "  \"latency_before_play\": %llu,\n"
            "  \"latency_players\": %d,\n  \"publisher\": ",
            (unsigned long long) (s->lat_miss + s->lat_size),
            (unsigned long long) s->lat_miss,
            (unsigned long long) s->lat_size,
            (unsigned long long) s->lat_old, s->lat_players);
    if (P.file)
        json_publisher(f);
    else
        fprintf(f, "null");
    fprintf(f, ",\n  \"players\": [\n");
    for (int i = 0; i < G.started; i++) {
        struct player *p = &G.pl[i];
        fprintf(f, "    {\"id\": %d", p->id);
        json_ms(f, "start_ms", p->t_start, G.t0);
        json_ms(f, "tcp_ms", p->t_tcp, p->t_start);
        json_ms(f, "handshake_ms", p->t_hs, p->t_start);
        json_ms(f, "connected_ms", p->t_connected, p->t_start);
        json_ms(f, "play_ms", p->t_play, p->t_start);
        json_ms(f, "first_video_ms", p->t_video, p->t_start);
        json_ms(f, "first_keyframe_ms", p->t_key, p->t_start);
        json_ms(f, "end_ms", p->t_end, p->t_start);
        json_ms(f, "last_media_ms", p->t_last_media, p->t_start);
        json_ms(f, "redirect_ms", p->t_redirect, p->t_start);
        if (p->lport)
            fprintf(f, ", \"local_port\": %u", p->lport);
        else
            fprintf(f, ", \"local_port\": null");
        fprintf(f, ", \"bytes\": %llu, \"video_msgs\": %u, \"audio_msgs\": %u"
                ", \"gaps\": %u, \"max_gap_ms\": %.3f, \"redirects\": %u"
                ", \"redirect_url\": ",
                (unsigned long long) p->bytes_in, p->nvideo, p->naudio,
                p->gaps, ms(p->max_gap), p->redirects);
        json_str(f, p->redirect_url);
        fprintf(f, ", \"last_status\": ");
        json_str(f, p->status[0] ? p->status : NULL);
        fprintf(f, ", \"end_reason\": ");
        json_str(f, p->reason);
        fprintf(f, ", \"latency_samples\": %u, \"latency_unmatched\": %u",
                p->lat_n, p->lat_miss + p->lat_size);
        if (p->lat_n && p->lat_hist)
            fprintf(f, ", \"latency_median_ms\": %.3f"
                    ", \"latency_max_ms\": %.3f",
                    lat_median(p), ms(p->lat_max));
        else
            fprintf(f, ", \"latency_median_ms\": null"
                    ", \"latency_max_ms\": null");
        fprintf(f, "}%s\n", i + 1 < G.started ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* ---- setup ------------------------------------------------------------ */

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
"usage: rtmpload -u rtmp://HOST[:PORT]/APP/STREAM [-n PLAYERS] [-r RATE]\n"
"                [-d SECONDS] [-g GAP_MS] [-b BUFLEN_MS] [-t TIMEOUT_S]\n"
"                [-I FIRST] [-P FILE.flv [-U PUBLISH_URL] [-W SECONDS]\n"
"                [-T MS]] [-j OUT.json] [-q]\n"
"       rtmpload -u http://HOST[:PORT]/APP/STREAM.flv [-0] [the options\n"
"                above; -P needs an rtmp:// -U]      (HTTP-FLV viewers)\n"
"       rtmpload -P FILE.flv -U rtmp://HOST[:PORT]/APP/STREAM [-d SECONDS]\n"
"                [-T MS] [-t TIMEOUT_S] [-j OUT.json] [-q]\n"
"  -n  players (default 1; 0 without -u)\n"
"  -r  start at most RATE players per second (default: all at once,\n"
"      %d connects per loop tick)\n"
"  -d  keep playing SECONDS after the last player started (default 10);\n"
"      with -P and no -u: publish SECONDS after NetStream.Publish.Start\n"
"  -g  count gaps longer than GAP_MS between media messages (default 1000)\n"
"  -b  buffer length sent with Set Buffer Length, ms (default 3000)\n"
"  -t  timeout of each phase (connect, handshake, connect _result,\n"
"      createStream _result, first video after play, Publish.Start), s\n"
"      (default 5)\n"
"  -I  a \"%%d\" in the -u stream name is replaced by each player's number:\n"
"      FIRST, FIRST+1, ... (default 0)\n"
"  -P  also publish FILE.flv in real time, looped, and measure the\n"
"      end-to-end latency of its video frames at the players\n"
"  -U  publish URL (default: the -u URL)\n"
"  -W  start the players SECONDS after NetStream.Publish.Start (default 1)\n"
"  -T  first published timestamp, ms (default 0; 16777000 tests extended\n"
"      timestamps)\n"
"  -j  also write the summary and per-player records as JSON\n"
"  -q  no progress lines on stderr\n"
"  -0  HTTP-FLV: send HTTP/1.0 requests (Connection: close) instead of\n"
"      HTTP/1.1 (Connection: keep-alive)\n", START_PER_TICK);
    exit(code);
}

/*
 * rtmp://host[:port]/app/stream[?query] or http://host[:port]/path[?query]
 * (HTTP-FLV); IPv6 as [addr].
 */
static int parse_url(struct url *u, const char *url)
{
    const char *p, *e, *slash;

    u->s = url;
    u->http = strncmp(url, "http://", 7) == 0;
    if (strncmp(url, "rtmp://", 7) != 0 && !u->http)
        return -1;
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        return -1;
    snprintf(u->port, sizeof(u->port), u->http ? "80" : "1935");
    if (*p == '[') {
        e = strchr(p, ']');
        if (e == NULL || e > slash || (size_t) (e - p - 1) >= sizeof(u->host))
            return -1;
        memcpy(u->host, p + 1, e - p - 1);
        u->host[e - p - 1] = 0;
        e++;
    } else {
        e = p;
        while (e < slash && *e != ':')
            e++;
        if ((size_t) (e - p) >= sizeof(u->host) || e == p)
            return -1;
        memcpy(u->host, p, e - p);
        u->host[e - p] = 0;
    }
    if (*e == ':') {
        if ((size_t) (slash - e - 1) >= sizeof(u->port) || slash == e + 1)
            return -1;
        memcpy(u->port, e + 1, slash - e - 1);
        u->port[slash - e - 1] = 0;
    } else if (e != slash) {
        return -1;
    }
    if (u->http) {                              /* the target as it is */
        if ((size_t) (slash - p) >= sizeof(u->hosthdr)
            || strlen(slash) >= sizeof(u->name) || slash[1] == 0)
            return -1;
        snprintf(u->hosthdr, sizeof(u->hosthdr), "%.*s", (int) (slash - p), p);
        strcpy(u->name, slash);
        const char *d = strstr(u->name, "%d");
        u->pct_d = d ? (int) (d - u->name) : -1;
        return 0;
    }
    /* app: the first path segment; stream: everything after it */
    const char *app = slash + 1, *s = strchr(app, '/');
    if (s == NULL || s == app || s[1] == 0)
        return -1;
    if ((size_t) (s - app) >= sizeof(u->app)
        || strlen(s + 1) >= sizeof(u->name))
        return -1;
    memcpy(u->app, app, s - app);
    u->app[s - app] = 0;
    strcpy(u->name, s + 1);
    const char *d = strstr(u->name, "%d");
    u->pct_d = d ? (int) (d - u->name) : -1;
    snprintf(u->tcurl, sizeof(u->tcurl), "%.*s", (int) (s - url), url);
    return 0;
}

/* Parse and resolve a URL; exits 2 on failure. */
static void setup_url(struct url *u, const char *url)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    int             gai;

    if (parse_url(u, url) < 0) {
        fprintf(stderr, "rtmpload: bad url (want rtmp://host[:port]/app/stream"
                " or http://host[:port]/path): %s\n", url);
        exit(2);
    }
    gai = getaddrinfo(u->host, u->port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "rtmpload: %s: %s\n", u->host, gai_strerror(gai));
        exit(2);
    }
    memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
    u->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static void on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static double num_arg(const char *s, const char *opt, double min)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == 0 || *end != 0 || !(v >= min)) {
        fprintf(stderr, "rtmpload: bad value for %s: %s\n", opt, s);
        exit(2);
    }
    return v;
}

static void progress(int64_t now)
{
    int st[P_DONE + 1] = { 0 }, playing = 0;
    uint64_t bytes = 0;

    for (int i = 0; i < G.started; i++) {
        st[G.pl[i].state]++;
        playing += G.pl[i].t_video && G.pl[i].state != P_DONE;
        bytes += G.pl[i].bytes_in;
    }
    fprintf(stderr, "[%6.1fs] started %d  connecting %d  handshake %d  "
            "rtmp %d  playing %d  ended %d  %.1f MB",
            (now - G.t0) / 1e6, G.started, st[P_CONNECTING],
            st[P_HANDSHAKE] + st[P_HTTP], st[P_CONNECT] + st[P_CREATE]
            + st[P_PLAY] - playing, playing, st[P_DONE], bytes / 1e6);
    if (P.file)
        fprintf(stderr, "  | pub %s  video %llu  queue %zu B  dropped %llu",
                P.c.state == P_LIVE ? "live"
                : P.c.state == P_DONE ? "ended" : "starting",
                (unsigned long long) P.nvideo, P.c.wlen - P.c.woff,
                (unsigned long long) P.dropped);
    fprintf(stderr, "\n");
}

/* May players start now?  With -P, only -W s after Publish.Start. */
static int players_go(int64_t now)
{
    return !P.file || (P.t_publish && now >= P.t_players);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *pub_url = NULL;
    int         c, n_set = 0;
    double      ts0;

    G.n = 1;
    G.duration = 10;
    G.gap_us = 1000 * 1000;
    G.timeout_us = 5 * 1000000;
    G.buflen = 3000;
    P.wait = 1;
    while ((c = getopt(argc, argv, "u:n:r:d:g:j:b:t:P:U:W:T:I:q0h")) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'n': G.n = (int) num_arg(optarg, "-n", 1); n_set = 1; break;
        case 'r': G.rate = num_arg(optarg, "-r", 0); break;
        case 'd': G.duration = num_arg(optarg, "-d", 0); break;
        case 'g': G.gap_us = (int64_t) (num_arg(optarg, "-g", 1) * 1000); break;
        case 'j': G.json = optarg; break;
        case 'b': G.buflen = (uint32_t) num_arg(optarg, "-b", 0); break;
        case 't':
            G.timeout_us = (int64_t) (num_arg(optarg, "-t", 0.001) * 1e6);
            break;
        case 'P': P.file = optarg; break;
        case 'U': pub_url = optarg; break;
        case 'W': P.wait = num_arg(optarg, "-W", 0); break;
        case 'T':
            ts0 = num_arg(optarg, "-T", 0);
            if (ts0 > 0xffffffff) {
                fprintf(stderr, "rtmpload: bad value for -T: %s\n", optarg);
                return 2;
            }
            P.ts0 = (uint32_t) ts0;
            break;
        case 'I': G.first = (long) num_arg(optarg, "-I", 0); break;
        case 'q': G.quiet = 1; break;
        case '0': G.http10 = 1; break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc || (url == NULL && P.file == NULL)
        || (url == NULL && n_set) || (pub_url && P.file == NULL))
        usage(2);
    if (url)
        setup_url(&G.play, url);
    else
        G.n = 0;                                /* publish only */
    if (P.file) {
        setup_url(&P.url, pub_url ? pub_url : url);
        if (P.url.http) {
            fprintf(stderr, "rtmpload: the publisher needs an rtmp:// URL"
                    " (-U)\n");
            return 2;
        }
        if (pub_load(P.file) < 0)
            return 2;
    }

    /* one descriptor per player: raise the soft limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t) G.n + 16 > rl.rlim_cur)
            fprintf(stderr, "rtmpload: warning: %d players but RLIMIT_NOFILE "
                    "is %llu\n", G.n, (unsigned long long) rl.rlim_cur);
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    G.pl = calloc(G.n + 1, sizeof(*G.pl));
    G.ep = epoll_create1(EPOLL_CLOEXEC);
    if (G.pl == NULL || G.ep < 0) {
        perror("rtmpload: setup");
        return 1;
    }
    for (int i = 0; i < G.n; i++) {
        G.pl[i].fd = -1;
        G.pl[i].id = i;
        G.pl[i].url = &G.play;
    }

    struct epoll_event evs[1024];
    int64_t next_check = 0, next_progress = 0;
    G.t0 = now_us();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    G.t0_unix = rt.tv_sec + rt.tv_nsec / 1e9 - (now_us() - G.t0) / 1e6;

    if (P.file) {                               /* the publisher goes first */
        P.c.fd = -1;
        P.c.id = -1;
        P.c.is_pub = 1;
        P.c.url = &P.url;
        player_start(&P.c);
    }

    for (;;) {
        int64_t now = now_us();

        if (P.file)
            pub_pump(now);

        /* start players: ramped or as fast as possible */
        int go = G.started < G.n && players_go(now);
        if (go) {
            if (!G.t_play0)
                G.t_play0 = now;
            int target = G.n;
            if (G.rate > 0) {
                double due = floor((now - G.t_play0) / 1e6 * G.rate) + 1;
                target = due < G.n ? (int) due : G.n;
            }
            for (int k = 0; G.started < target && k < START_PER_TICK; k++) {
                player_start(&G.pl[G.started++]);
                G.t_last_start = now_us();
            }
        }

        if (now >= next_check) {
            check_deadlines(now);
            next_check = now + 50000;
        }
        if (!G.quiet && now >= next_progress) {
            progress(now);
            next_progress = now + 1000000;
        }

        if (stop_flag)
            break;
        if (P.file && !P.t_publish && P.c.state == P_DONE)
            break;                              /* the publish failed */
        if (G.n == 0 && (P.c.state == P_DONE
                         || (P.t_publish && now >= P.t_publish
                             + (int64_t) (G.duration * 1e6))))
            break;                              /* publish only: done */
        if (G.n && G.started == G.n) {
            if (G.alive == 0)
                break;                          /* nobody left to watch */
            if (now >= G.t_last_start + (int64_t) (G.duration * 1e6))
                break;
        }

        /* wake up for the next start, published tag and deadline check */
        int64_t wake = now + (go ? (G.rate > 0 ? 5000 : 0) : 20000);
        if (P.next_due && P.next_due < wake)
            wake = P.next_due;
        if (P.file && G.started < G.n && P.t_publish && P.t_players < wake)
            wake = P.t_players;
        int timeout = wake > now ? (int) ((wake - now + 999) / 1000) : 0;
        int ne = epoll_wait(G.ep, evs, 1024, timeout);
        if (ne < 0 && errno != EINTR) {
            perror("rtmpload: epoll_wait");
            return 1;
        }
        for (int i = 0; i < ne; i++) {
            struct player *p = evs[i].data.ptr;
            if (p->fd >= 0)
                on_event(p, evs[i].events);
        }
    }

    G.t_stop = now_us();
    for (int i = 0; i < G.started; i++)
        if (G.pl[i].state != P_DONE) {
            /* still running at the end: not an "end" reason */
            G.pl[i].t_end = G.t_stop;
            G.pl[i].state = P_DONE;
            G.pl[i].reason = NULL;
            player_free(&G.pl[i]);
        }
    if (P.file)
        pub_stop();

    struct summary s;
    summarize(&s);
    print_summary(&s);
    int rc = 0;
    if (G.json && write_json(&s, G.json) < 0)
        rc = 1;
    for (int i = 0; i < G.n; i++) {
        free(G.pl[i].redirect_url);
        free(G.pl[i].lat_hist);
    }
    free(G.pl);
    free(P.c.redirect_url);
    free(P.data);
    free(P.tag);
    free(P.meta);
    close(G.ep);
    return rc;
}
