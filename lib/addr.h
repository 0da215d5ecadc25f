/* Socket addresses as Shoal's configuration writes them. */
#ifndef SHOAL_ADDR_H
#define SHOAL_ADDR_H

#include <stdbool.h>
#include <netinet/in.h>

/*
 * "a.b.c.d:port" or "localhost:port" -> *sa (IPv4 only).  Port 0 is
 * accepted only with allow_port0 (listening on an ephemeral port).  0 or -1.
 */
int sl_parse_addr(const char *s, struct sockaddr_in *sa, bool allow_port0);

/* Whether s ("host:port", as sl_parse_addr reads it) is in 127.0.0.0/8. */
bool sl_addr_is_loopback(const char *s);

#endif
