#include <stddef.h>
#include "msg_types.h"

#define T(t, n, rq, rp) [t] = { t, n, &rq##__descriptor, &rp##__descriptor }

/* Indexed by type; holes are zero (type 0 is never valid). */
static const struct sl_msg_type_info types[] = {
	T(SL_MSG_ECHO, "echo", shoal__echo, shoal__echo),

	T(SL_MSG_CS_SET_VERSION, "cs-set-version", shoal__cs_set_version_req, shoal__empty),
	T(SL_MSG_CS_READ, "cs-read", shoal__cs_read_req, shoal__cs_read_rep),
	T(SL_MSG_CS_WRITE, "cs-write", shoal__cs_write_req, shoal__cs_write_rep),
	T(SL_MSG_CS_FLUSH, "cs-flush", shoal__cs_flush_req, shoal__empty),
	T(SL_MSG_CS_DELETE, "cs-delete", shoal__cs_delete_req, shoal__empty),
	T(SL_MSG_CS_CHUNK_INFO, "cs-chunk-info", shoal__cs_chunk_info_req, shoal__cs_chunk_info_rep),
	T(SL_MSG_CS_COPY_FROM_PEER, "cs-copy-from-peer", shoal__cs_copy_from_peer_req, shoal__cs_copy_from_peer_rep),
	T(SL_MSG_CS_STATUS, "cs-status", shoal__empty, shoal__cs_status_rep),
	T(SL_MSG_CS_DIGEST, "cs-digest", shoal__cs_digest_req, shoal__cs_digest_rep),

	T(SL_MSG_M_REGISTER_CS, "register-cs", shoal__register_cs_req, shoal__register_cs_rep),
	T(SL_MSG_M_CHUNK_REPORT, "chunk-report", shoal__chunk_report_req, shoal__chunk_report_rep),
	T(SL_MSG_M_HEARTBEAT, "heartbeat", shoal__heartbeat_req, shoal__heartbeat_rep),
	T(SL_MSG_M_VOLUME_CREATE, "volume-create", shoal__volume_create_req, shoal__volume_rep),
	T(SL_MSG_M_VOLUME_LIST, "volume-list", shoal__empty, shoal__volume_list_rep),
	T(SL_MSG_M_VOLUME_INFO, "volume-info", shoal__volume_name_req, shoal__volume_rep),
	T(SL_MSG_M_VOLUME_RESIZE, "volume-resize", shoal__volume_resize_req, shoal__volume_rep),
	T(SL_MSG_M_VOLUME_DELETE, "volume-delete", shoal__volume_name_req, shoal__empty),
	T(SL_MSG_M_LOOKUP, "lookup", shoal__lookup_req, shoal__lookup_rep),
	T(SL_MSG_M_LEASE, "lease", shoal__lease_req, shoal__lease_rep),
	T(SL_MSG_M_REPLICA_FAILED, "replica-failed", shoal__replica_failed_req, shoal__lease_rep),
	T(SL_MSG_M_CS_LIST, "cs-list", shoal__empty, shoal__cs_list_rep),
	T(SL_MSG_M_CS_DRAIN, "cs-drain", shoal__cs_id_req, shoal__empty),
	T(SL_MSG_M_CS_REMOVE, "cs-remove", shoal__cs_id_req, shoal__empty),
	T(SL_MSG_M_CLUSTER_STATUS, "cluster-status", shoal__empty, shoal__cluster_status_rep),
	T(SL_MSG_M_MASTER_STATUS, "master-status", shoal__empty, shoal__master_status_rep),
	T(SL_MSG_M_DUMP, "dump", shoal__empty, shoal__dump_rep),
	T(SL_MSG_M_VOLUME_RESET, "volume-reset", shoal__volume_name_req, shoal__volume_rep),
	T(SL_MSG_M_CS_MAINTENANCE, "cs-maintenance", shoal__cs_id_req, shoal__empty),
	T(SL_MSG_M_GW_SESSION, "gw-session", shoal__gw_session_req, shoal__gw_session_rep),
};

const struct sl_msg_type_info *sl_msg_type_lookup(uint16_t type)
{
	/* Holes are all zero, so type 0 would match its own hole: check name. */
	if (type >= sizeof(types) / sizeof(types[0]) || types[type].type != type ||
	    !types[type].name)
		return NULL;
	return &types[type];
}
