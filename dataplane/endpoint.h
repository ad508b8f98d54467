/*
 * The [control] connect value ("unix:PATH" or "tcp:A.B.C.D:PORT") as a
 * socket address. Its own module because config.c validates the value and
 * nodechan.c connects to it: neither owns the other. Pure libc, any thread.
 */
#ifndef CAT_ENDPOINT_H
#define CAT_ENDPOINT_H

#include <stddef.h>

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed [control] connect value. */
struct cat_endpoint {
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

/**
 * Parse "unix:PATH" (PATH 1..107 bytes) or "tcp:A.B.C.D:PORT" (PORT
 * 1..65535). Returns 0, or -EINVAL with a reason in err. Any thread.
 */
int cat_endpoint_parse(const char *s, struct cat_endpoint *ep,
		       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_ENDPOINT_H */
