/*
 * Cluster-wide unit attentions for LOGICAL UNIT RESET (see bs_reset.h).
 *
 * Recording: tgt core answers a TMF through its transport driver's
 * mgmt_end_notify (target_mgmt_request, or target_cmd_done once the
 * aborted commands are back).  We wrap the iSCSI driver's pointer once per
 * tgtd.  struct mgmt_req carries no LUN: its mid is the iSCSI TMF task
 * (iscsi_tm_execute passes the task pointer), whose request header holds
 * the LUN and whose session names the target and nexus.  For a successful
 * LUN RESET of a Shoal LU we bump the volume's generation in the master
 * and wait for it (GW_RESET_RECORD_MS at most) before handing the response
 * on, so the initiator hears "done" only once every other gateway can know.
 * The wait blocks tgtd's main thread: the TMF task must not outlive this
 * call (iscsid frees it with its connection once the call has returned
 * MGMT_REQ_DONE), and LUN RESET is rare.  Core has already raised 29/00 on
 * our own nexuses, so this LU adopts the new generation without a second UA.
 *
 * Learning: an LU remembers the generation it has raised a UA for (seen).
 * A larger one -- from a TEST UNIT READY's query or the ~1 s poll -- raises
 * 29/00 on every nexus of the LU here; a TUR then answers with its own
 * nexus's pending UA, as core's check before dispatch would have.  Master
 * unreachable: the TUR answers from local state by GW_RESET_TUR_MS.
 *
 * Resizing: the same answers carry the volume's size, which the client
 * adopts (sl_volume_size).  The drain gives the LU a new size
 * (READ CAPACITY, tgt's range checks) and raises CAPACITY DATA HAS
 * CHANGED (2A/09) on every nexus of the LU, so every gateway exporting the
 * volume shows an online resize within a poll, with no tgtadm by hand.
 *
 * The one process-wide state is the wrapped driver (gw_hook): tgtd has one
 * iSCSI driver, and its TMF path is shared by every LU of every target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "list.h"	/* tgt's, from $(TGT_SRC)/usr */
#include "util.h"
#include "tgtd.h"
#include "scsi.h"
#include "spc.h"
#include "target.h"
#include "driver.h"
#include "iscsi/iscsid.h"

#include "bs_gw.h"
#include "bs_reset.h"
#include "../lib/client.h"
#include "../lib/log.h"
#include "../lib/status.h"

#define GW_RESET_RECORD_MS	3000	/* LUN RESET response waits this long for the master at most */
#define GW_RESET_TUR_MS		1000	/* a TUR's query; then GOOD from local state */
#define GW_RESET_POLL_MS	1000
#define GW_RESET_POLL_DEADLINE_MS 2000
#define GW_ASC_CAPACITY_CHANGED	0x2a09	/* CAPACITY DATA HAS CHANGED (not in tgt's scsi.h) */

static struct {
	int (*orig)(struct mgmt_req *);	/* the iSCSI driver's own mgmt_end_notify */
	struct tgt_driver *drv;
	struct backingstore_template *bst;
} gw_hook;

/* A TUR waiting for the master's answer. */
struct gw_tur {
	struct list_head node;
	struct gw_lu *g;
	struct scsi_cmd *cmd;
	int status;
	uint64_t gen;
};

/* Raise the reset UA on every nexus of the LU once per new generation. */
static void reset_adopt(struct gw_lu *g, uint64_t gen, bool raise)
{
	if (gen <= g->reset.seen)
		return;
	if (raise) {
		/* itn_id 0 is no nexus (iSCSI's TSIH starts at 1): every nexus gets it. */
		ua_sense_add_other_it_nexus(0, g->lu, ASC_POWERON_RESET);
		sl_info("bs_shoal: %s: LUN RESET through another gateway (generation %llu): unit attention raised",
			g->conf.volume, (unsigned long long)gen);
	}
	g->reset.seen = gen;
}

/* ---- recording a LUN RESET (inside the TMF response) ---- */

/* The Shoal LU a LUN RESET TMF addressed, or NULL. */
static struct gw_lu *reset_target_lu(struct mgmt_req *mreq)
{
	struct iscsi_task *task = (struct iscsi_task *)(unsigned long)mreq->mid;
	struct iscsi_tm *tm = (struct iscsi_tm *)&task->req;
	struct it_nexus_lu_info *itn_lu;
	struct iscsi_session *sess;
	struct it_nexus *itn;
	uint64_t lun;

	/* The task is ours to read only if it is the iSCSI LUN RESET it should be. */
	if ((tm->opcode & ISCSI_OPCODE_MASK) != ISCSI_OP_SCSI_TMFUNC ||
	    (tm->flags & ISCSI_FLAG_TM_FUNC_MASK) != ISCSI_TM_FUNC_LOGICAL_UNIT_RESET ||
	    !task->conn || !task->conn->session || !task->conn->session->target) {
		sl_warn("bs_shoal: LUN RESET response without its iSCSI task: not recorded in the master");
		return NULL;
	}
	sess = task->conn->session;
	itn = it_nexus_lookup(sess->target->tid, sess->tsih);
	if (!itn)
		return NULL;
	lun = scsi_get_devid(itn->nexus_target->lid, tm->lun);
	list_for_each_entry(itn_lu, &itn->itn_itl_info_list, itn_itl_info_siblings)
		if (itn_lu->lu->lun == lun)
			return itn_lu->lu->bst == gw_hook.bst ? GW(itn_lu->lu) : NULL;
	return NULL;
}

static int reset_mgmt_end_notify(struct mgmt_req *mreq)
{
	struct gw_lu *g;
	uint64_t gen = 0;
	int rc;

	if (mreq->function != LOGICAL_UNIT_RESET || mreq->result)
		return gw_hook.orig(mreq);
	g = reset_target_lu(mreq);
	if (g && g->vol) {
		rc = sl_volume_reset_gen_sync(g->vol, true, GW_RESET_RECORD_MS, &gen);
		if (rc == SL_OK) {
			sl_info("bs_shoal: %s: LUN RESET recorded in the master (generation %llu)",
				g->conf.volume, (unsigned long long)gen);
			reset_adopt(g, gen, false);
		} else {
			sl_err("bs_shoal: %s: LUN RESET not recorded in the master (%s): other gateways raise no unit attention",
			       g->conf.volume, sl_status_str(rc));
		}
	}
	return gw_hook.orig(mreq);
}

void gw_reset_hook(struct backingstore_template *bst)
{
	int lid;

	if (gw_hook.orig)
		return;
	lid = get_driver_index((char *)"iscsi");
	if (lid < 0 || !tgt_drivers[lid] || !tgt_drivers[lid]->mgmt_end_notify) {
		sl_warn("bs_shoal: no iSCSI driver in tgtd: LUN RESET stays local to this gateway");
		return;
	}
	gw_hook.drv = tgt_drivers[lid];
	gw_hook.bst = bst;
	gw_hook.orig = gw_hook.drv->mgmt_end_notify;
	gw_hook.drv->mgmt_end_notify = reset_mgmt_end_notify;
	sl_info("bs_shoal: LUN RESET is recorded in the master (iSCSI TMF responses wrapped)");
}

/* ---- TEST UNIT READY ---- */

static void tur_reply(int status, uint64_t gen, void *arg)
{
	struct gw_tur *t = arg;
	struct gw_lu *g = t->g;

	t->status = status;
	t->gen = gen;
	list_add_tail(&t->node, &g->reset.turs);
	gw_kick(g);
}

int gw_reset_tur(int host_no, struct scsi_cmd *cmd)
{
	struct gw_lu *g = GW(cmd->dev);
	struct gw_tur *t;

	if (!g->vol)
		return spc_test_unit(host_no, cmd);
	t = calloc(1, sizeof(*t));
	if (!t)
		return spc_test_unit(host_no, cmd);
	INIT_LIST_HEAD(&t->node);
	t->g = g;
	t->cmd = cmd;
	if (sl_volume_reset_gen(g->vol, false, GW_RESET_TUR_MS, tur_reply, t)) {
		free(t);
		return spc_test_unit(host_no, cmd);
	}
	/* Answered by gw_reset_drain, outside the client's loop: marking it async after the submit is safe. */
	set_cmd_async(cmd);
	return SAM_STAT_GOOD;
}

static void tur_finish(struct gw_lu *g, struct gw_tur *t)
{
	struct scsi_cmd *cmd = t->cmd;
	int result;

	if (t->status == SL_OK)
		reset_adopt(g, t->gen, true);
	else
		sl_debug("bs_shoal: %s: TEST UNIT READY: reset generation unknown (%s), answering from local state",
			 g->conf.volume, sl_status_str(t->status));
	/* Core looked for a pending UA before dispatch; one raised since is reported now. */
	if (!ua_sense_del(cmd, 1))
		result = SAM_STAT_CHECK_CONDITION;
	else
		result = spc_test_unit(cmd->it_nexus->host_no, cmd);
	free(t);
	target_cmd_io_done(cmd, result);
}

/* ---- poll ---- */

static void poll_reply(int status, uint64_t gen, void *arg)
{
	struct gw_lu *g = arg;
	uint64_t size = sl_volume_size(g->vol);
	bool kick = false;

	g->reset.poll_busy = false;
	if (status == SL_OK && gen > g->reset.polled) {
		g->reset.polled = gen;
		kick = true;
	}
	if (size != g->reset.size_polled) {
		g->reset.size_polled = size;
		kick = true;
	}
	if (kick)
		gw_kick(g);
}

/* The LU takes the volume's new size, and every nexus hears of it. */
static void size_adopt(struct gw_lu *g)
{
	struct scsi_lu *lu = g->lu;
	uint64_t size = g->vol ? sl_volume_size(g->vol) : 0;

	if (!size || size == lu->size || size >> lu->blk_shift << lu->blk_shift != size)
		return;
	sl_info("bs_shoal: %s: resized %llu -> %llu bytes: unit attention 2A/09 raised",
		g->conf.volume, (unsigned long long)lu->size, (unsigned long long)size);
	lu->size = size;
	ua_sense_add_other_it_nexus(0, lu, GW_ASC_CAPACITY_CHANGED);
}

static void poll_tick(int fd, int events, void *data)
{
	struct gw_lu *g = data;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		sl_err("bs_shoal: timerfd read failed: %s", strerror(errno));
	/* one poll at a time: a master that is down costs one call per deadline */
	if (!g->vol || g->reset.poll_busy)
		return;
	g->reset.poll_busy = true;
	if (sl_volume_reset_gen(g->vol, false, GW_RESET_POLL_DEADLINE_MS, poll_reply, g))
		g->reset.poll_busy = false;
}

/* ---- LU lifecycle and the drain ---- */

void gw_reset_init(struct gw_lu *g)
{
	memset(&g->reset, 0, sizeof(g->reset));
	g->reset.tfd = -1;
	INIT_LIST_HEAD(&g->reset.turs);
}

void gw_reset_open(struct gw_lu *g, uint64_t gen)
{
	struct itimerspec its = {
		.it_interval = { GW_RESET_POLL_MS / 1000, (GW_RESET_POLL_MS % 1000) * 1000000L },
		.it_value = { GW_RESET_POLL_MS / 1000, (GW_RESET_POLL_MS % 1000) * 1000000L },
	};

	g->reset.seen = gen;
	g->reset.polled = gen;
	g->reset.size_polled = g->vol ? sl_volume_size(g->vol) : 0;
	if (g->reset.tfd >= 0)
		return;
	g->reset.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (g->reset.tfd < 0 || timerfd_settime(g->reset.tfd, 0, &its, NULL) ||
	    tgt_event_add(g->reset.tfd, EPOLLIN, poll_tick, g)) {
		/* TURs still learn of resets; only READ/WRITE-only initiators would miss them. */
		sl_err("bs_shoal: %s: cannot start the LUN RESET poll: %s", g->conf.volume, strerror(errno));
		if (g->reset.tfd >= 0)
			close(g->reset.tfd);
		g->reset.tfd = -1;
	}
}

void gw_reset_close(struct gw_lu *g)
{
	if (g->reset.tfd < 0)
		return;
	tgt_event_del(g->reset.tfd);
	close(g->reset.tfd);
	g->reset.tfd = -1;
}

void gw_reset_drain(struct gw_lu *g)
{
	struct gw_tur *t;
	uint64_t polled;
	LIST_HEAD(l);

	list_splice_init(&g->reset.turs, &l);
	polled = g->reset.polled;
	reset_adopt(g, polled, true);
	size_adopt(g);
	while (!list_empty(&l)) {
		t = list_first_entry(&l, struct gw_tur, node);
		list_del(&t->node);
		tur_finish(g, t);
	}
}
