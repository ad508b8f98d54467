/*
 * catena-control's backup and restore (docs/BACKUP.md). A backup asks each
 * slot's tail to dump the slot over the node channel (dump_request; the
 * tail sends the keys and the writes it applies meanwhile, then the cut
 * version), resolves each slot's stream to its keys at the cut and writes
 * them to FILE (control/backup_file.h). A restore checks FILE whole, then
 * sends every slot's keys to every member of its chain (load_begin,
 * load_data, load_end). One job, backup or restore, at a time; catenactl
 * follows it with backup_status / restore_status and may cancel it.
 * Runs on the control loop; never blocks but on the file's own writes
 * and its fsync at the end.
 */
#ifndef CAT_CTL_BACKUP_H
#define CAT_CTL_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cat_ctl;
struct cat_ctl_conn;

/* Total snapshot bytes/s a backup reads, shared by the tails it asks. */
#define CAT_CTL_BACKUP_RATE_DEFAULT (32ull << 20)
/* A slot's dump or load that says nothing this long is asked again. */
#define CAT_CTL_BACKUP_SLOT_MS 10000u
/* Times a slot is asked before the backup gives up, the n-th retry
 * n * CAT_CTL_BACKUP_RETRY_MS after the failure (9 s for all of them). */
#define CAT_CTL_BACKUP_ATTEMPTS 8u
#define CAT_CTL_BACKUP_RETRY_MS 250u

/**
 * The management commands backup, backup_status, backup_cancel, restore,
 * restore_status and restore_cancel (by req's "cmd"): answered at once.
 */
void cat_ctl_backup_request(struct cat_ctl *c, struct cat_ctl_conn *conn,
			    json_t *req);

/**
 * A node channel message from node (its "node" already checked by the
 * caller or not: this checks it): 1 if it is a dump_ or load_ message
 * (acted on, or ignored as late), 0 if not ours, -EINVAL with why for a
 * malformed one (the caller closes that connection).
 */
int cat_ctl_backup_node_msg(struct cat_ctl *c, struct cat_ctl_conn *conn,
			    const char *type, json_t *msg, char *why,
			    size_t whylen);

/** Ask, retry, write, finish: every loop round. */
void cat_ctl_backup_tick(struct cat_ctl *c, uint64_t now_ms);
/** When the tick is next due (UINT64_MAX: no job). */
uint64_t cat_ctl_backup_deadline(const struct cat_ctl *c);
/** Abandon a running job (its partial file is removed). */
void cat_ctl_backup_fini(struct cat_ctl *c);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_BACKUP_H */
