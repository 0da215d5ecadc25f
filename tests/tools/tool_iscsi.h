/*
 * One login, as every iSCSI tool here does it: a normal session with
 * header digest optional, to the LUN of a full iscsi:// URL.
 */
#ifndef SHOAL_TOOL_ISCSI_H
#define SHOAL_TOOL_ISCSI_H

#include <stdio.h>
#include <iscsi/iscsi.h>

/* 0 with *iscsi and *url set (the caller destroys both), or -1 after a one-line error. */
static inline int tool_login(const char *prog, const char *iqn, const char *u, struct iscsi_context **iscsi,
			     struct iscsi_url **url)
{
	*url = NULL;
	*iscsi = iscsi_create_context(iqn);
	if (!*iscsi) {
		fprintf(stderr, "%s: cannot create an iSCSI context\n", prog);
		return -1;
	}
	*url = iscsi_parse_full_url(*iscsi, u);
	if (!*url) {
		fprintf(stderr, "%s: URL %s: %s\n", prog, u, iscsi_get_error(*iscsi));
		return -1;
	}
	iscsi_set_session_type(*iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(*iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(*iscsi, (*url)->portal, (*url)->lun)) {
		fprintf(stderr, "%s: login to %s failed: %s\n", prog, u, iscsi_get_error(*iscsi));
		return -1;
	}
	return 0;
}

#endif
