
/*
 * ngx_rtmp_cluster: one timeline per stream, whatever its upstreams.
 *
 * Players are nginx-rtmp live subscribers: when an upstream leaves, the
 * live module resets their chunk streams, and the next upstream's first
 * message reaches them with an absolute timestamp, as that upstream sent
 * it.  Upstreams do not agree: SRS restarts each new consumer near 0
 * (time_jitter full), another origin's publisher started at another time,
 * a clock may be hours ahead.  Players then see time go back (ffmpeg
 * stalls, "non monotonically increasing dts") or leap forward.
 *
 * So the stream keeps, per track, the last timestamp its players were
 * sent, and each upstream gets an offset: when a new upstream attaches
 * (ngx_rtmp_cluster_timeline_restart()), its first frame (not a sequence
 * header, whose timestamp says nothing of time) is placed one frame
 * interval after the latest message sent, or the wall-clock time since
 * that message when it is longer and short (a failover's gap keeps its
 * length); both tracks then move by that one offset, so audio and video
 * stay in sync.  A message that would still go below its own track's
 * last (the new upstream's audio and video started apart) goes 1 ms
 * after it instead.  The first upstream's timestamps pass as they are.
 * An upstream whose own timestamps start over or leap mid-stream gets a
 * new offset the same way.
 *
 * This is done once per message, before nginx-rtmp's live module fans
 * it out (see ngx_rtmp_cluster_av_rebase() in the module), so the live
 * module's deltas, the GOP cache and merged writes all see one timeline.
 * Arithmetic is modulo 2^32, as RTMP's timestamps are.
 */


#include "ngx_rtmp_cluster.h"


#define NGX_RTMP_CLUSTER_TIMELINE_STEP      40      /* ms, unknown rate */
#define NGX_RTMP_CLUSTER_TIMELINE_STEP_MAX  1000    /* a frame's, at most */
#define NGX_RTMP_CLUSTER_TIMELINE_GAP       5000    /* a short gap */
#define NGX_RTMP_CLUSTER_TIMELINE_BACK      1000    /* a restart, not jitter */


/* a before b, modulo 2^32 */
#define ngx_rtmp_cluster_timeline_before(a, b)  ((int32_t) ((a) - (b)) < 0)


void
ngx_rtmp_cluster_timeline_restart(ngx_rtmp_cluster_timeline_t *tl)
{
    tl->in_seen = 0;

    /* nothing sent yet: the first upstream's timestamps are kept */
    if (tl->seen) {
        tl->pending = 1;
    }
}


uint32_t
ngx_rtmp_cluster_timeline_map(ngx_rtmp_cluster_timeline_t *tl,
    ngx_uint_t video, ngx_uint_t header, uint32_t timestamp)
{
    int32_t     d;
    uint32_t    out, last, step;
    ngx_uint_t  k, other;
    ngx_msec_t  gap;

    k = video ? 0 : 1;
    other = 1 - k;

    /*
     * The same upstream may start over too (its publisher came back and
     * the origin kept our play), or leap: a track going back by more than
     * jitter, or on further than the time that passed by more than a
     * short gap, is a new timeline, placed as a new upstream's is.
     */

    if (!header && (tl->in_seen & (1 << k))) {
        d = (int32_t) (timestamp - tl->in[k]);
        gap = ngx_current_msec - tl->at[k];

        if (d < -NGX_RTMP_CLUSTER_TIMELINE_BACK
            || (d > 0 && (ngx_msec_t) d > gap + NGX_RTMP_CLUSTER_TIMELINE_GAP))
        {
            tl->pending = 1;
        }
    }

    if (!header) {
        tl->in[k] = timestamp;
        tl->in_seen |= 1 << k;
    }

    /* the latest message of either track */

    last = tl->last[k];

    if (!(tl->seen & (1 << k))
        || ((tl->seen & (1 << other))
            && ngx_rtmp_cluster_timeline_before(last, tl->last[other])))
    {
        last = tl->last[other];
    }

    if (tl->pending) {

        if (header) {
            /* a sequence header before the first frame: not a time, and
             * the gap is measured to that frame */
            tl->last[k] = last;
            tl->seen |= 1 << k;
            return last;
        }

        tl->pending = 0;

        step = tl->step[0] ? tl->step[0]
                           : (tl->step[1] ? tl->step[1]
                                          : NGX_RTMP_CLUSTER_TIMELINE_STEP);

        gap = ngx_current_msec - tl->sent;

        if (gap > step && gap <= NGX_RTMP_CLUSTER_TIMELINE_GAP) {
            step = (uint32_t) gap;
        }

        tl->offset = last + step - timestamp;
        tl->rebases++;
    }

    out = timestamp + tl->offset;

    if (tl->seen & (1 << k)) {

        if (ngx_rtmp_cluster_timeline_before(out, tl->last[k])) {
            /* this track started before the other: never back */
            out = tl->last[k] + 1;
            tl->clamped++;
        }

        step = out - tl->last[k];

        if (step > 0 && step <= NGX_RTMP_CLUSTER_TIMELINE_STEP_MAX) {
            tl->step[k] = step;
        }
    }

    tl->last[k] = out;
    tl->seen |= 1 << k;
    tl->sent = ngx_current_msec;
    tl->at[k] = tl->sent;

    return out;
}
