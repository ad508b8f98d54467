/*
 * systemd integration of the two daemons (service.h): sd_notify, and the
 * stderr stream that gives journald each line's priority. Never used by a
 * worker lcore: logging there is per event, never per packet, and goes
 * through rte_log, which this only gives a stream.
 */
#include "replication/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

struct jstream {
	int dflt;
	int (*prio_of)(void);
	int at_line_start;
};

static int replaced;

int cat_service_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static void write_all(const struct iovec *iov_in, int n)
{
	struct iovec iov[2];
	ssize_t w;

	memcpy(iov, iov_in, sizeof(*iov) * (size_t)n);
	while (n > 0) {
		w = writev(STDERR_FILENO, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;     /* nowhere left to say it */
		}
		while (n > 0 && (size_t)w >= iov[0].iov_len) {
			w -= (ssize_t)iov[0].iov_len;
			iov[0] = iov[1];
			n--;
		}
		if (n > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + w;
			iov[0].iov_len -= (size_t)w;
		}
	}
}

static int has_prefix(const char *p, size_t len)
{
	return len >= 3 && p[0] == '<' && p[1] >= '0' && p[1] <= '7' && p[2] == '>';
}

static ssize_t jwrite(void *cookie, const char *buf, size_t size)
{
	struct jstream *j = cookie;
	size_t done = 0;

	while (done < size) {
		const char *p = buf + done;
		const char *nl = memchr(p, '\n', size - done);
		size_t len = nl != NULL ? (size_t)(nl - p) + 1 : size - done;
		char pre[4] = "<6>";
		struct iovec iov[2];
		int n = 0;

		if (j->at_line_start && !has_prefix(p, len)) {
			int prio = j->prio_of != NULL ? j->prio_of() : -1;

			if (prio < 0 || prio > 7)
				prio = j->dflt;
			pre[1] = (char)('0' + prio);
			iov[n++] = (struct iovec){ .iov_base = pre, .iov_len = 3 };
		}
		iov[n++] = (struct iovec){ .iov_base = (void *)p, .iov_len = len };
		write_all(iov, n);
		j->at_line_start = nl != NULL;
		done += len;
	}
	return (ssize_t)size;
}

/* The streams live as long as the process (stderr, DPDK's log): held
 * here so they stay reachable, and freed if a stream is closed. */
static struct jstream *streams[4];

static int jclose(void *cookie)
{
	for (unsigned int i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
		if (streams[i] == cookie)
			streams[i] = NULL;
	free(cookie);
	return 0;
}

FILE *cat_service_journal_stream(int dflt, int (*prio_of)(void))
{
	static const cookie_io_functions_t fns = { .write = jwrite, .close = jclose };
	struct jstream *j = calloc(1, sizeof(*j));
	FILE *f;

	if (j == NULL)
		return NULL;
	for (unsigned int i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
		if (streams[i] == NULL) {
			streams[i] = j;
			break;
		}
	j->dflt = dflt >= 0 && dflt <= 7 ? dflt : 6;
	j->prio_of = prio_of;
	j->at_line_start = 1;
	f = fopencookie(j, "w", fns);
	if (f == NULL) {
		jclose(j);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

int cat_service_journal_stderr(int dflt)
{
	FILE *f;

	if (!cat_service_journal())
		return 0;
	f = cat_service_journal_stream(dflt, NULL);
	if (f == NULL)
		return 0;
	fflush(stderr);
	stderr = f;
	replaced = 1;
	return 1;
}

const char *cat_service_err(void)
{
	return replaced ? SD_ERR : "";
}

void cat_service_notify(const char *state)
{
	(void)sd_notify(0, state);
}
