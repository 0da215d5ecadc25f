/* Socket addresses as Shoal's configuration writes them (addr.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "addr.h"

int sl_parse_addr(const char *s, struct sockaddr_in *sa, bool allow_port0)
{
	char host[64];
	const char *colon;
	char *end;
	long port;
	size_t hl;

	if (!s)
		return -1;
	colon = strrchr(s, ':');
	if (!colon)
		return -1;
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || colon[1] == '-' || colon[1] == '+' ||
	    port < 0 || port > 65535 || (port == 0 && !allow_port0))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!strcmp(host, "localhost"))
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	return 0;
}

bool sl_addr_is_loopback(const char *s)
{
	struct sockaddr_in sa;

	return sl_parse_addr(s, &sa, true) == 0 && (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
}
