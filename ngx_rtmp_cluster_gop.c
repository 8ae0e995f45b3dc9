
/*
 * ngx_rtmp_cluster: the GOP cache.  A live stream's publisher (a client or
 * one of our pulls) keeps the messages since its last video keyframe, as
 * shared chains with absolute chunk headers, prepared once.  A player that
 * joins gets the metadata, the sequence headers and that GOP at once
 * instead of waiting for the next keyframe.
 *
 * The seam with the live module: our av handler runs after the live
 * module's, so when a player joins, the cache ends with the last message
 * the live module fanned out.  The live module sends the next one as a
 * relative packet (type 1 header) whose delta is taken from the previous
 * message on the same chunk stream, which is the last cached one we sent
 * the player; so we mark the player's chunk streams active with those
 * timestamps, and the live module carries on with no gap and no repeat.
 */


#include "ngx_rtmp_cluster.h"
#include "ngx_rtmp_codec_module.h"


#define NGX_RTMP_CLUSTER_GOP_AUDIO_ONLY  2000    /* ms kept without video */


typedef struct {
    ngx_chain_t                    *pkt;
    uint32_t                        timestamp;
    uint32_t                        mlen;
    unsigned                        video:1;
} ngx_rtmp_cluster_gop_frame_t;


struct ngx_rtmp_cluster_gop_s {
    ngx_rtmp_core_srv_conf_t       *cscf;
    ngx_rtmp_cluster_gop_frame_t   *frames;
    ngx_uint_t                      nframes;
    ngx_uint_t                      first;     /* ring start, audio only */
    ngx_uint_t                      max;
    size_t                          bytes;
    unsigned                        active:1;  /* from a keyframe on */
    unsigned                        video:1;   /* video seen */
};


static void ngx_rtmp_cluster_gop_drop(ngx_rtmp_cluster_gop_t *gop,
    ngx_uint_t n);
static uint32_t ngx_rtmp_cluster_gop_audio_time(ngx_rtmp_cluster_gop_t *gop,
    ngx_rtmp_live_ctx_t *pctx, ngx_uint_t max);
static ngx_int_t ngx_rtmp_cluster_gop_send_header(ngx_rtmp_session_t *s,
    ngx_rtmp_core_srv_conf_t *cscf, ngx_chain_t *header, uint32_t csid,
    uint8_t type, uint32_t timestamp);


/* our av handler, for publishers of cluster applications */

void
ngx_rtmp_cluster_gop_add(ngx_rtmp_session_t *s, ngx_rtmp_header_t *h,
    ngx_chain_t *in)
{
    uint32_t                       span;
    ngx_uint_t                     key;
    ngx_rtmp_header_t              ch;
    ngx_rtmp_live_ctx_t           *lctx;
    ngx_rtmp_cluster_ctx_t        *ctx;
    ngx_rtmp_cluster_gop_t        *gop;
    ngx_rtmp_core_srv_conf_t      *cscf;
    ngx_rtmp_cluster_app_conf_t   *cacf;
    ngx_rtmp_cluster_gop_frame_t  *f;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    if (cacf == NULL || cacf->gop_cache != 1 || in == NULL) {
        return;
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || !lctx->publishing || lctx->stream == NULL) {
        return;
    }

    if (ngx_rtmp_is_codec_header(in)
        && (h->type == NGX_RTMP_MSG_VIDEO
            || (in->buf->pos[0] >> 4) == NGX_RTMP_AUDIO_AAC))
    {
        /* the codec module keeps those */
        return;
    }

    ctx = ngx_rtmp_cluster_session_ctx(s);
    if (ctx == NULL) {
        return;
    }

    cscf = ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module);

    gop = ctx->gop;

    if (gop == NULL) {
        gop = ngx_pcalloc(s->connection->pool,
                          sizeof(ngx_rtmp_cluster_gop_t));
        if (gop == NULL) {
            return;
        }

        gop->frames = ngx_palloc(s->connection->pool,
                                 cacf->gop_max_frames
                                 * sizeof(ngx_rtmp_cluster_gop_frame_t));
        if (gop->frames == NULL) {
            return;
        }

        gop->cscf = cscf;
        gop->max = cacf->gop_max_frames;
        ctx->gop = gop;
    }

    key = (h->type == NGX_RTMP_MSG_VIDEO
           && ngx_rtmp_get_video_frame_type(in) == NGX_RTMP_VIDEO_KEY_FRAME);

    if (h->type == NGX_RTMP_MSG_VIDEO) {
        gop->video = 1;
    }

    if (key) {
        /* a new GOP: the old one goes */
        ngx_rtmp_cluster_gop_drop(gop, gop->nframes);
        gop->active = 1;

    } else if (!gop->active && gop->video) {
        /* nothing before the first keyframe, or after a limit was hit */
        return;
    }

    if (!gop->video) {
        /* audio only: a sliding window */
        gop->active = 1;

        while (gop->nframes
               && (gop->nframes == cacf->gop_max_frames
                   || h->timestamp - gop->frames[gop->first].timestamp
                      > NGX_RTMP_CLUSTER_GOP_AUDIO_ONLY))
        {
            ngx_rtmp_cluster_gop_drop(gop, 1);
        }
    }

    if (gop->nframes > 0) {
        f = &gop->frames[(gop->first) % cacf->gop_max_frames];
        span = h->timestamp - f->timestamp;

    } else {
        span = 0;
    }

    if (gop->nframes == cacf->gop_max_frames
        || gop->bytes + h->mlen > cacf->gop_max_bytes
        || span > cacf->gop_max_duration)
    {
        /* too long a GOP: nothing stale is kept, wait for a keyframe */
        ngx_rtmp_cluster_gop_drop(gop, gop->nframes);
        gop->active = 0;
        return;
    }

    ngx_memzero(&ch, sizeof(ch));
    ch.timestamp = h->timestamp;
    ch.msid = NGX_RTMP_MSID;
    ch.type = h->type;
    ch.csid = (h->type == NGX_RTMP_MSG_VIDEO) ? lctx->cs[0].csid
                                              : lctx->cs[1].csid;

    f = &gop->frames[(gop->first + gop->nframes) % cacf->gop_max_frames];

    f->pkt = ngx_rtmp_append_shared_bufs(cscf, NULL, in);
    if (f->pkt == NULL) {
        return;
    }

    ngx_rtmp_prepare_message(s, &ch, NULL, f->pkt);

    f->timestamp = h->timestamp;
    f->mlen = h->mlen;
    f->video = (h->type == NGX_RTMP_MSG_VIDEO);

    gop->nframes++;
    gop->bytes += h->mlen;

    /* shown in the stream's record, if this session feeds its stream */
    ngx_rtmp_cluster_stream_gop(&ctx->member, gop->nframes, gop->bytes,
                                h->timestamp
                                - gop->frames[gop->first].timestamp);
}


/* drop the n oldest messages */

static void
ngx_rtmp_cluster_gop_drop(ngx_rtmp_cluster_gop_t *gop, ngx_uint_t n)
{
    ngx_rtmp_cluster_gop_frame_t  *f;

    while (n-- && gop->nframes) {
        f = &gop->frames[gop->first];

        ngx_rtmp_free_shared_chain(gop->cscf, f->pkt);
        gop->bytes -= f->mlen;

        gop->nframes--;
        gop->first = gop->nframes ? (gop->first + 1) % gop->max : 0;
    }
}


void
ngx_rtmp_cluster_gop_free(ngx_rtmp_cluster_ctx_t *ctx)
{
    if (ctx->gop) {
        ngx_rtmp_cluster_gop_drop(ctx->gop, ctx->gop->nframes);
        ctx->gop->active = 0;
    }

    ngx_rtmp_cluster_stream_gop(&ctx->member, 0, 0, 0);
}


/*
 * The i-th message of a publisher's cached GOP, as prepared for RTMP
 * players (HTTP viewers take the payload out): NGX_DECLINED past the end,
 * or when no GOP is cached.
 */

ngx_int_t
ngx_rtmp_cluster_gop_frame(ngx_rtmp_session_t *s, ngx_uint_t i,
    ngx_chain_t **pkt, ngx_uint_t *video)
{
    ngx_rtmp_cluster_ctx_t        *ctx;
    ngx_rtmp_cluster_gop_t        *gop;
    ngx_rtmp_cluster_gop_frame_t  *f;

    ctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_cluster_module);
    gop = ctx ? ctx->gop : NULL;

    if (gop == NULL || !gop->active || i >= gop->nframes) {
        return NGX_DECLINED;
    }

    f = &gop->frames[(gop->first + i) % gop->max];

    *pkt = f->pkt;
    *video = f->video;

    return NGX_OK;
}


/*
 * A player has just joined a live stream: metadata, sequence headers and
 * the cached GOP, then the live module carries on (see the top).
 */

void
ngx_rtmp_cluster_gop_send(ngx_rtmp_session_t *s)
{
    uint32_t                       vts, ats;
    ngx_uint_t                     i, max, vsent, asent;
    ngx_rtmp_live_ctx_t           *lctx, *pctx;
    ngx_rtmp_codec_ctx_t          *codec;
    ngx_rtmp_cluster_ctx_t        *cctx;
    ngx_rtmp_cluster_gop_t        *gop;
    ngx_rtmp_core_srv_conf_t      *cscf;
    ngx_rtmp_cluster_app_conf_t   *cacf;
    ngx_rtmp_cluster_gop_frame_t  *f;

    cacf = ngx_rtmp_get_module_app_conf(s, ngx_rtmp_cluster_module);
    if (cacf == NULL || cacf->gop_cache != 1) {
        return;
    }

    /*
     * bursts of small messages, now and when a pull starts: Nagle would
     * hold each for the player's delayed ack
     */
    if (s->connection->sockaddr->sa_family != AF_UNIX) {
        (void) ngx_tcp_nodelay(s->connection);
    }

    lctx = ngx_rtmp_get_module_ctx(s, ngx_rtmp_live_module);
    if (lctx == NULL || lctx->stream == NULL || lctx->publishing
        || !lctx->stream->active || lctx->cs[0].active || lctx->cs[1].active)
    {
        return;
    }

    /* the stream's publisher */

    for (pctx = lctx->stream->ctx; pctx; pctx = pctx->next) {
        if (pctx->publishing) {
            break;
        }
    }

    if (pctx == NULL) {
        return;
    }

    cctx = ngx_rtmp_get_module_ctx(pctx->session, ngx_rtmp_cluster_module);
    gop = cctx ? cctx->gop : NULL;

    if (gop == NULL || !gop->active || gop->nframes == 0) {
        return;
    }

    cscf = ngx_rtmp_get_module_srv_conf(s, ngx_rtmp_core_module);
    codec = ngx_rtmp_get_module_ctx(pctx->session, ngx_rtmp_codec_module);
    max = cacf->gop_max_frames;

    f = &gop->frames[gop->first];
    ats = ngx_rtmp_cluster_gop_audio_time(gop, pctx, max);

    ngx_rtmp_cluster_merge_player(s);

    if (codec) {
        if (codec->meta
            && ngx_rtmp_send_message(s, codec->meta, 0) == NGX_OK)
        {
            lctx->meta_version = codec->meta_version;
        }

        if (codec->avc_header
            && ngx_rtmp_cluster_gop_send_header(s, cscf, codec->avc_header,
                                                lctx->cs[0].csid,
                                                NGX_RTMP_MSG_VIDEO,
                                                f->timestamp)
               != NGX_OK)
        {
            return;
        }

        if (codec->aac_header
            && ngx_rtmp_cluster_gop_send_header(s, cscf, codec->aac_header,
                                                lctx->cs[1].csid,
                                                NGX_RTMP_MSG_AUDIO, ats)
               != NGX_OK)
        {
            return;
        }
    }

    vsent = 0;
    asent = 0;
    vts = 0;
    ats = 0;

    for (i = 0; i < gop->nframes; i++) {
        f = &gop->frames[(gop->first + i) % max];

        /* priority 0: the burst is all or nothing, never partly dropped */
        if (ngx_rtmp_send_message(s, f->pkt, 0) != NGX_OK) {
            break;
        }

        if (f->video) {
            vsent++;
            vts = f->timestamp;

        } else {
            asent++;
            ats = f->timestamp;
        }
    }

    /* the live module goes on from here, relative to what we sent */

    if (vsent) {
        lctx->cs[0].active = 1;
        lctx->cs[0].timestamp = vts;
    }

    if (asent) {
        lctx->cs[1].active = 1;
        lctx->cs[1].timestamp = ats;
    }

    s->current_time = ngx_max(vts, ats);

    ngx_rtmp_cluster_merge_push(s);
}


/*
 * The audio sequence header's timestamp: the GOP's keyframe's, unless
 * audio that comes next is stamped before it (the GOP's first audio, or,
 * when the GOP has none yet, the publisher's last, where the live module
 * sends the header again): a player's audio never goes back.
 */

static uint32_t
ngx_rtmp_cluster_gop_audio_time(ngx_rtmp_cluster_gop_t *gop,
    ngx_rtmp_live_ctx_t *pctx, ngx_uint_t max)
{
    uint32_t                       ts;
    ngx_uint_t                     i;
    ngx_rtmp_cluster_gop_frame_t  *f;

    ts = gop->frames[gop->first].timestamp;

    for (i = 0; i < gop->nframes; i++) {
        f = &gop->frames[(gop->first + i) % max];

        if (!f->video) {
            return (int32_t) (f->timestamp - ts) < 0 ? f->timestamp : ts;
        }
    }

    if (pctx->cs[1].active && (int32_t) (pctx->cs[1].timestamp - ts) < 0) {
        return pctx->cs[1].timestamp;
    }

    return ts;
}


static ngx_int_t
ngx_rtmp_cluster_gop_send_header(ngx_rtmp_session_t *s,
    ngx_rtmp_core_srv_conf_t *cscf, ngx_chain_t *header, uint32_t csid,
    uint8_t type, uint32_t timestamp)
{
    ngx_int_t           rc;
    ngx_chain_t        *pkt;
    ngx_rtmp_header_t   h;

    ngx_memzero(&h, sizeof(h));
    h.timestamp = timestamp;
    h.msid = NGX_RTMP_MSID;
    h.csid = csid;
    h.type = type;

    pkt = ngx_rtmp_append_shared_bufs(cscf, NULL, header);
    if (pkt == NULL) {
        return NGX_ERROR;
    }

    ngx_rtmp_prepare_message(s, &h, NULL, pkt);

    rc = ngx_rtmp_send_message(s, pkt, 0);

    ngx_rtmp_free_shared_chain(cscf, pkt);

    return rc;
}
