/*
 * Frame types and the protobuf message each carries, one table for every
 * role.  A frame whose type is not in the table is malformed (the
 * connection is closed); a request of a known type sent to a role that does
 * not serve it gets status SL_E_PROTO.
 */
#ifndef SHOAL_MSG_TYPES_H
#define SHOAL_MSG_TYPES_H

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "shoal.pb-c.h"

enum sl_msg_type {
	SL_MSG_ECHO = 1,

	/* chunkserver service: 100.. */
	SL_MSG_CS_SET_VERSION = 100,
	SL_MSG_CS_READ,
	SL_MSG_CS_WRITE,
	SL_MSG_CS_FLUSH,
	SL_MSG_CS_DELETE,
	SL_MSG_CS_CHUNK_INFO,
	SL_MSG_CS_COPY_FROM_PEER,
	SL_MSG_CS_STATUS,
	SL_MSG_CS_DIGEST,

	/* master service: 200.. */
	SL_MSG_M_REGISTER_CS = 200,
	SL_MSG_M_CHUNK_REPORT,
	SL_MSG_M_HEARTBEAT,
	SL_MSG_M_VOLUME_CREATE,
	SL_MSG_M_VOLUME_LIST,
	SL_MSG_M_VOLUME_INFO,
	SL_MSG_M_VOLUME_RESIZE,
	SL_MSG_M_VOLUME_DELETE,
	SL_MSG_M_LOOKUP,
	SL_MSG_M_LEASE,
	SL_MSG_M_REPLICA_FAILED,
	SL_MSG_M_CS_LIST,
	SL_MSG_M_CS_DRAIN,
	SL_MSG_M_CS_REMOVE,
	SL_MSG_M_CLUSTER_STATUS,
	SL_MSG_M_MASTER_STATUS,
	SL_MSG_M_DUMP,
	SL_MSG_M_VOLUME_RESET,
	SL_MSG_M_CS_MAINTENANCE,
	SL_MSG_M_GW_SESSION = 230,	/* numbered apart: other M_ types may be added in between */
};

struct sl_msg_type_info {
	uint16_t type;
	const char *name;
	const ProtobufCMessageDescriptor *req;	/* request message */
	const ProtobufCMessageDescriptor *rep;	/* reply message */
};

/* NULL when type is unknown. */
const struct sl_msg_type_info *sl_msg_type_lookup(uint16_t type);

#endif
