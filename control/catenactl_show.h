/*
 * catenactl_show: catenactl's human output. Turns the result of a
 * management-socket answer (docs/CONTROL.md) into aligned tables and short
 * blocks on stdout. Must never trust the result's shape: an unexpected one
 * is shown as indented JSON, and no server string reaches the terminal with
 * control characters in it.
 */
#ifndef CATENA_CONTROL_CATENACTL_SHOW_H
#define CATENA_CONTROL_CATENACTL_SHOW_H

#include <jansson.h>

#include "control/mgmt_cmds.h"

/* Exit statuses of catenactl (the agreed interface; 64 is EX_USAGE). */
enum {
	CAT_ADM_EXIT_OK = 0,
	CAT_ADM_EXIT_WRONG = 1,      /* the answer says something is wrong */
	CAT_ADM_EXIT_NO_ANSWER = 2,  /* no usable answer: connect, timeout, garbage */
	CAT_ADM_EXIT_USAGE = 64,
};

/* What a printer needs besides the result. */
struct cat_adm_show_ctx {
	const char *socket_path;  /* status: the socket's mode is stat()ed */
	const char *node_id;      /* node add/drain/remove: as the user gave it */
};

/*
 * Print result (the answer's "result", never NULL: pass json_null() when
 * absent) of command id (control/mgmt_cmds.def) for people. Returns the
 * exit status: CAT_ADM_EXIT_WRONG when verify found slots that differ,
 * else CAT_ADM_EXIT_OK (call cat_adm_verify_outcome first: a malformed
 * verify result is no answer). Exits with CAT_ADM_EXIT_NO_ANSWER on out
 * of memory.
 */
int cat_adm_show(enum cat_mgmt_id id, json_t *result,
		 const struct cat_adm_show_ctx *ctx);

/*
 * What a verify result says, as an exit status: CAT_ADM_EXIT_OK only when
 * "differ" is an empty list, CAT_ADM_EXIT_WRONG when it lists slots, and
 * CAT_ADM_EXIT_NO_ANSWER (with *why set) when there is no such list, so a
 * broken answer is never taken for a clean one.
 */
int cat_adm_verify_outcome(const json_t *result, const char **why);

/*
 * The management socket's permission bits (0..07777): stat() of path, or
 * if that fails what a status result reports (sets *from_server). -1 if
 * neither says.
 */
int cat_adm_socket_mode(const char *path, const json_t *status_result,
			int *from_server);

/* Events of an `events` answer, one line each ("TIME  epoch E: TEXT";
 * a repeated event's text ends in "(xN)"), for events --follow. */
void cat_adm_print_events(json_t *events);

/* Replace, in place, C0/C1 control characters and DEL with '?'; returns s. */
char *cat_adm_clean(char *s);

#endif
