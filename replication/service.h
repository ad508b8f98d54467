/*
 * What catena-node and catena-control tell systemd: readiness through
 * sd_notify(3) (Type=notify units), and log lines journald files at their
 * priority ("<N>" prefixes, sd-daemon(3)) when stderr is the journal.
 * Outside systemd (no NOTIFY_SOCKET, no JOURNAL_STREAM) all of it does
 * nothing, so a process run by hand or by the tests prints exactly what
 * it did before. Called from the mains only, before any thread starts,
 * except cat_service_notify (any thread).
 */
#ifndef CAT_SERVICE_H
#define CAT_SERVICE_H

#include <stdio.h>

/*
 * Whether stderr is the journal's stream: systemd sets JOURNAL_STREAM to
 * "DEVICE:INODE" of the socket it gave as stdout or stderr; it counts only
 * if fd 2 is that very socket (a child whose stderr was redirected
 * inherits the variable but not the socket). 1 yes, 0 no.
 */
int cat_service_journal(void);

/*
 * A write-only stream to fd 2 that puts "<N>" before every line: N is
 * prio_of() when it is given and returns 0..7, else dflt (LOG_* values,
 * syslog.h). A line that already starts with "<digit>" keeps its own.
 * Line buffered; writes go out with one writev(2) per line, so threads
 * logging at once interleave whole lines. NULL (errno set) when out of
 * memory. Never closed: it lives as long as the process.
 */
FILE *cat_service_journal_stream(int dflt, int (*prio_of)(void));

/*
 * If stderr is the journal (cat_service_journal), replace the stderr
 * FILE (glibc allows assigning it) with a cat_service_journal_stream of
 * priority dflt; returns 1 when it did, 0 otherwise (stderr untouched).
 */
int cat_service_journal_stderr(int dflt);

/* "<3>" (SD_ERR) after cat_service_journal_stderr replaced stderr, ""
 * otherwise: what an error line starts with, so journald files it as an
 * error and a terminal sees the line as it always was. */
const char *cat_service_err(void);

/*
 * sd_notify(0, state), e.g. "READY=1\nSTATUS=serving": a datagram to
 * $NOTIFY_SOCKET. Nothing when the variable is unset; errors are ignored
 * (systemd's Type=notify then times the start out, which says more than
 * a log line would). No allocation beyond libsystemd's; any thread.
 */
void cat_service_notify(const char *state);

#endif
