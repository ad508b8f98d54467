/*
 * catena-control's management socket (control/mgmt.c): the request
 * handler, dispatching from the command table (control/mgmt_cmds.def), and
 * how an answer is sent, for the modules that answer later than the
 * request's own handler (control/verify.c).
 */
#ifndef CAT_CTL_MGMT_H
#define CAT_CTL_MGMT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cat_ctl;
struct cat_ctl_conn;

/** Handle one request line from a management connection. */
void cat_ctl_mgmt_line(struct cat_ctl *c, struct cat_ctl_conn *conn,
		       const char *line, size_t len);

/**
 * Answer {"ok":true,"result":result}; takes result (NULL: answered as out
 * of memory). An answer over CAT_CTL_LINE_MAX bytes is answered as an
 * error instead.
 */
void cat_ctl_mgmt_reply_ok(struct cat_ctl_conn *conn, json_t *result);
/** Answer {"ok":false,"error":...}, non-printable bytes as '?'. */
void cat_ctl_mgmt_reply_err(struct cat_ctl_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** A JSON array of node ids (a new reference). */
json_t *cat_ctl_mgmt_id_array(const uint16_t *ids, unsigned int n);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_MGMT_H */
