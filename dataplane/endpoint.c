/*
 * [control] connect values as socket addresses: the parser config.c
 * validates with and nodechan.c connects with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "dataplane/endpoint.h"

int cat_endpoint_parse(const char *s, struct cat_endpoint *ep,
		       char *err, size_t errlen)
{
	memset(ep, 0, sizeof(*ep));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ep->sa;
		size_t len = strlen(s + 5);

		if (len == 0 || len >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "expected unix:PATH with a path of 1..%zu "
				 "bytes", sizeof(un->sun_path) - 1);
			return -EINVAL;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, s + 5, len + 1);
		ep->sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ep->sa;
		const char *colon = strrchr(s + 4, ':');
		char host[INET_ADDRSTRLEN], *end;
		unsigned long port;

		if (colon == NULL || (size_t)(colon - (s + 4)) >= sizeof(host))
			goto bad_tcp;
		memcpy(host, s + 4, (size_t)(colon - (s + 4)));
		host[colon - (s + 4)] = '\0';
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto bad_tcp;
		if (colon[1] < '0' || colon[1] > '9')
			goto bad_tcp;
		port = strtoul(colon + 1, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535)
			goto bad_tcp;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		ep->sa_len = sizeof(*in);
		return 0;
	}
	snprintf(err, errlen, "expected unix:PATH or tcp:A.B.C.D:PORT");
	return -EINVAL;
bad_tcp:
	snprintf(err, errlen, "expected tcp:A.B.C.D:PORT (port 1..65535)");
	return -EINVAL;
}
