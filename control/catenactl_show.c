/*
 * catenactl_show: catenactl's human output (catenactl_show.h). Each printer
 * reads the members catena-control sends by their names (docs/CONTROL.md;
 * control/mgmt_cmds.def lists them per command), shows members it does not
 * know as extra columns or lines, and falls back to indented JSON for an
 * answer of another shape. Must never let a server string reach the
 * terminal with control characters.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "control/catenactl_show.h"
#include "control/mgmt_cmds.h"

static void __attribute__((noreturn)) out_of_memory(void)
{
	fputs("catenactl: out of memory\n", stderr);
	exit(CAT_ADM_EXIT_NO_ANSWER);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		out_of_memory();
	return d;
}

static char * __attribute__((format(printf, 1, 2))) xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return s;
}

/*
 * Make a server string safe for a terminal, in place: C0 controls, DEL and
 * the C1 controls (U+0080..U+009F, which some terminals obey as escapes)
 * become '?'. jansson has already refused invalid UTF-8 and NUL.
 */
char *cat_adm_clean(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;

	while (*r) {
		if (*r < 0x20 || *r == 0x7F) {
			*w++ = '?';
			r++;
		} else if (r[0] == 0xC2 && r[1] >= 0x80 && r[1] <= 0x9F) {
			*w++ = '?';
			r += 2;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return s;
}

/* Columns on a terminal: one per UTF-8 sequence (wide glyphs aside). */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* ---- JSON values as text ---- */

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL)
		out_of_memory();
	return s;
}

static int is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

static char *jstr(const json_t *v);

/* Elements from..to-1 of arr, each as label() gives it, joined by sep;
 * "-" when there are none. Linear in the output, whatever its length. */
static char *join(const json_t *arr, size_t from, size_t to, const char *sep,
		  char *(*label)(const json_t *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (from >= to)
		return xstrdup("-");
	f = open_memstream(&buf, &len);
	if (f == NULL)
		out_of_memory();
	for (size_t i = from; i < to; i++) {
		char *l = label(json_array_get(arr, i));

		fprintf(f, "%s%s", i > from ? sep : "", l);
		free(l);
	}
	if (fclose(f) != 0 || buf == NULL)
		out_of_memory();
	return buf;
}

/* Any value as a short text (malloc'ed, cleaned): arrays of scalars
 * comma-joined, objects as compact JSON, a missing value or null as "-". */
static char *jstr(const json_t *v)
{
	size_t i;
	json_t *e;
	char *s;

	if (v == NULL)
		return xstrdup("-");
	switch (json_typeof(v)) {
	case JSON_STRING:
		s = xstrdup(json_string_value(v)[0] ? json_string_value(v) : "-");
		break;
	case JSON_INTEGER:
		s = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		s = xasprintf("%g", json_real_value(v));
		break;
	case JSON_TRUE:
		s = xstrdup("yes");
		break;
	case JSON_FALSE:
		s = xstrdup("no");
		break;
	case JSON_NULL:
		s = xstrdup("-");
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			if (!is_scalar(e))
				return cat_adm_clean(dump(v));
		s = join(v, 0, json_array_size(v), ",", jstr);
		break;
	default:
		s = dump(v);
		break;
	}
	return cat_adm_clean(s);
}

/* Whether key is one of the '|'-separated names. */
static int name_in(const char *key, const char *names)
{
	size_t klen = strlen(key);
	const char *p = names, *bar;

	for (;;) {
		bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == klen && memcmp(p, key, len) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/* The members a command's printer shows by name (control/mgmt_cmds.def,
 * REPLY): the rest of an answer is shown as it comes. */
static const char *shown(enum cat_mgmt_id id)
{
	return cat_mgmt_cmds[id].reply;
}

/* ---- times and durations ---- */

/* A timestamp: Unix seconds (or milliseconds, if implausibly large for
 * seconds) as local time; a string as it is. */
static char *fmt_time(const json_t *v)
{
	char buf[64];
	double t;
	time_t tt;
	struct tm tm;

	if (!json_is_number(v))
		return jstr(v);
	t = json_number_value(v);
	if (t > 1e11)
		t /= 1000;
	if (t < 0 || t > 1e11)
		return jstr(v);
	tt = (time_t)t;
	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return jstr(v);
	return xstrdup(buf);
}

static char *fmt_duration_ms(long long ms)
{
	long long s = ms / 1000;

	if (ms < 1000)
		return xasprintf("%lld ms", ms);
	if (ms < 60000)
		return xasprintf("%.1f s", ms / 1000.0);
	if (s < 3600)
		return xasprintf("%lldm %02llds", s / 60, s % 60);
	if (s < 86400)
		return xasprintf("%lldh %02lldm", s / 3600, s / 60 % 60);
	return xasprintf("%lldd %02lldh %02lldm", s / 86400, s / 3600 % 24,
			 s / 60 % 60);
}

/* A duration given as a number of units of unit_ms milliseconds; one
 * that is not a plausible number is shown as it came. */
static char *fmt_duration(const json_t *v, double unit_ms)
{
	double ms;

	if (!json_is_number(v))
		return jstr(v);
	ms = json_number_value(v) * unit_ms;
	if (!(ms >= 0 && ms < 1e15))
		return jstr(v);
	return fmt_duration_ms((long long)ms);
}

/* ---- tables: aligned columns under a header ---- */

struct table {
	size_t ncols;
	size_t ncells, cap;
	char **cells;           /* row-major, the header row first */
	size_t right_from;      /* columns from here on are right-aligned */
};

static void tbl_cell(struct table *t, char *s)  /* takes s */
{
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));

		if (c == NULL)
			out_of_memory();
		t->cells = c;
		t->cap = cap;
	}
	t->cells[t->ncells++] = s;
}

/* A table of nhdr columns named by hdr, plus nmore whose headers the
 * caller adds. */
static void tbl_init(struct table *t, const char *const *hdr, size_t nhdr,
		     size_t nmore)
{
	memset(t, 0, sizeof(*t));
	t->ncols = nhdr + nmore;
	t->right_from = SIZE_MAX;
	for (size_t i = 0; i < nhdr; i++)
		tbl_cell(t, xstrdup(hdr[i]));
}

static void tbl_print(struct table *t)
{
	size_t *w = calloc(t->ncols, sizeof(*w)), c;

	if (w == NULL)
		out_of_memory();
	for (size_t i = 0; i < t->ncells; i++)
		if (width(t->cells[i]) > w[i % t->ncols])
			w[i % t->ncols] = width(t->cells[i]);
	for (size_t i = 0; i < t->ncells; i++) {
		size_t pad = w[c = i % t->ncols] - width(t->cells[i]);
		int last = c == t->ncols - 1 || i == t->ncells - 1;

		if (c >= t->right_from)
			printf("%*s", (int)pad, "");
		fputs(t->cells[i], stdout);
		if (last)
			fputc('\n', stdout);
		else
			printf("%*s", (c >= t->right_from ? 0 : (int)pad) + 2, "");
	}
	free(w);
}

static void tbl_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
}

#define EXTRA_COLUMNS_MAX 16

/*
 * Members of the items that no column shows yet (in first-seen order),
 * as long as they are short (no object anywhere): so a field catena-control
 * adds later still reaches the operator. Returns a new array of keys.
 */
static json_t *extra_keys(json_t *items, const char *used)
{
	json_t *set = json_object(), *keys = json_array(), *item, *v;
	const char *key;
	size_t i;

	if (set == NULL || keys == NULL)
		out_of_memory();
	json_array_foreach(items, i, item) {
		json_object_foreach(item, key, v) {
			int shown = is_scalar(v);
			size_t j;
			json_t *e;

			if (name_in(key, used))
				continue;
			if (json_is_array(v)) {
				shown = 1;
				json_array_foreach(v, j, e)
					if (!is_scalar(e))
						shown = 0;
			}
			if (!shown || json_object_get(set, key) == NULL)
				json_object_set_new(set, key, json_boolean(shown));
		}
	}
	/* A bound, so a server that gives every node its own keys cannot
	 * make a table of millions of columns. */
	json_object_foreach(set, key, v)
		if (json_is_true(v) && json_array_size(keys) < EXTRA_COLUMNS_MAX)
			json_array_append_new(keys, json_string(key));
	json_decref(set);
	return keys;
}

static void tbl_header_extra(struct table *t, json_t *extra)
{
	size_t i;
	json_t *k;

	json_array_foreach(extra, i, k) {
		char *h = xstrdup(json_string_value(k));

		for (char *p = h; *p; p++)
			*p = *p == '_' ? '-' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		tbl_cell(t, cat_adm_clean(h));
	}
}

static void tbl_row_extra(struct table *t, json_t *item, json_t *extra)
{
	size_t i;
	json_t *k;

	json_array_foreach(extra, i, k)
		tbl_cell(t, jstr(json_object_get(item, json_string_value(k))));
}

/* A block of "label  value" lines: a two-column table without a header,
 * so long labels keep the values aligned. */
static void kv_init(struct table *t)
{
	tbl_init(t, NULL, 0, 2);
}

static void kv(struct table *t, const char *label, char *value)  /* takes value */
{
	tbl_cell(t, xstrdup(label));
	tbl_cell(t, value);
}

/* The members of obj not in used, each as a line of the block. */
static void kv_fields(struct table *t, json_t *obj, const char *used,
		      const char *indent)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (name_in(key, used))
			continue;
		tbl_cell(t, cat_adm_clean(xasprintf("%s%s", indent, key)));
		tbl_cell(t, jstr(v));
	}
}

static void kv_print(struct table *t)
{
	tbl_print(t);
	tbl_free(t);
}

/* When an answer has a shape no printer knows: show it all, indented,
 * rather than guess wrong. */
static void print_pretty(const json_t *result, const char *what, const char *why)
{
	char *s = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s == NULL)
		out_of_memory();
	fprintf(stderr, "catenactl: %s: %s, shown as JSON\n", what,
		why ? why : "answer of an unknown shape");
	/* JSON escapes every control character, so this is terminal-safe. */
	puts(s);
	free(s);
}

/* ---- the commands' human output ---- */

/* Mode bits of the socket: local stat (what we connected to) first, else
 * the octal string catena-control reports as socket_mode. */
int cat_adm_socket_mode(const char *path, const json_t *result,
			int *from_server)
{
	json_t *m = json_object_get(result, "socket_mode");
	struct stat st;
	long long v;
	char *end;

	*from_server = 0;
	if (stat(path, &st) == 0)
		return (int)(st.st_mode & 07777);
	*from_server = 1;
	if (!json_is_string(m))
		return -1;
	errno = 0;
	v = strtoll(json_string_value(m), &end, 8);
	if (errno || *end || end == json_string_value(m))
		return -1;
	return v >= 0 && v <= 07777 ? (int)v : -1;
}

/* One of status's events: "TIME  epoch E: TEXT", and any member more. */
static void print_event(json_t *ev)
{
	char *tm, *text, *ep = NULL;
	const char *key;
	json_t *v;

	if (!json_is_object(ev)) {
		text = jstr(ev);
		printf("  %s\n", text);
		free(text);
		return;
	}
	tm = fmt_time(json_object_get(ev, "time"));
	text = jstr(json_object_get(ev, "text"));
	if (json_object_get(ev, "epoch")) {
		char *e = jstr(json_object_get(ev, "epoch"));

		ep = xasprintf("epoch %s: ", e);
		free(e);
	}
	printf("  %s  %s%s", tm, ep ? ep : "", text);
	json_object_foreach(ev, key, v) {
		char *k, *s;

		if (name_in(key, shown(CAT_MGMT_STATUS)))
			continue;
		k = cat_adm_clean(xstrdup(key));
		s = jstr(v);
		printf(" %s=%s", k, s);
		free(k);
		free(s);
	}
	fputc('\n', stdout);
	free(tm);
	free(text);
	free(ep);
}

/* "store  file (/var/lib/catena)" */
static char *store_line(json_t *r)
{
	json_t *store = json_object_get(r, "store"), *dir = json_object_get(r, "state_dir");
	char *k, *w, *line;

	if (!json_is_string(store) || dir == NULL)
		return jstr(store);
	k = jstr(store);
	w = jstr(dir);
	line = xasprintf("%s (%s)", k, w);
	free(k);
	free(w);
	return line;
}

/* The socket we asked, its mode and what that mode lets others do. */
static char *socket_line(const char *path, int mode, int from_server)
{
	char *p = cat_adm_clean(xstrdup(path)), *line;

	if (mode < 0)
		line = xasprintf("%s  mode unknown", p);
	else
		line = xasprintf("%s  mode %04o: %s group, %s world%s", p, mode,
			mode & 020 ? "writable by its" : "not writable by its",
			mode & 002 ? "WRITABLE by the" : "not writable by the",
			from_server ? " (as catena-control reports it)" : "");
	free(p);
	return line;
}

/* What the node channel and the data network take on trust, said plainly. */
static void auth_lines(struct table *t, json_t *r)
{
	json_t *v = json_object_get(r, "node_auth");

	if (json_is_string(v)) {
		const char *a = json_string_value(v);
		char *refused = jstr(json_object_get(r, "node_auth_refused"));

		if (strcmp(a, "none") == 0)
			kv(t, "node channel", xstrdup(
				"unauthenticated (no secret_file): whoever reaches "
				"node_listen can speak as a node"));
		else
			kv(t, "node channel", xasprintf(
				"%s with the cluster secret; %s connections refused",
				a, refused));
		free(refused);
	}
	v = json_object_get(r, "data_auth");
	if (json_is_string(v) && strncmp(json_string_value(v), "none", 4) == 0)
		kv(t, "data network", xasprintf(
			"%s: unauthenticated, replication messages are believed "
			"from a host with a member's IP and MAC (docs/HARDENING.md)",
			json_string_value(v)));
	else if (json_is_string(v))
		kv(t, "data network", xasprintf(
			"%s: replication messages are taken only with a valid "
			"tag of their link (docs/HARDENING.md)",
			json_string_value(v)));
}

/*
 * "0.1.0+abc (nodes 1 2 3)", one group per version; several groups say
 * the cluster runs mixed versions (an upgrade under way, or half done),
 * a null version a node that never said hello or predates the field.
 */
static char *versions_line(json_t *groups)
{
	char *line = xstrdup(""), *ids, *v, *next;
	json_t *g, *nodes;
	size_t i;

	if (!json_is_array(groups))
		return jstr(groups);
	json_array_foreach(groups, i, g) {
		nodes = json_object_get(g, "nodes");
		v = json_is_string(json_object_get(g, "version")) ?
			jstr(json_object_get(g, "version")) :
			xstrdup("unknown (no hello yet, or older than catena 0.1.0)");
		ids = json_is_array(nodes) ?
			join(nodes, 0, json_array_size(nodes), " ", jstr) : jstr(nodes);
		next = xasprintf("%s%s%s (node%s %s)", line, i ? "; " : "", v,
				 json_array_size(nodes) == 1 ? "" : "s", ids);
		free(line);
		free(v);
		free(ids);
		line = next;
	}
	if (json_array_size(groups) > 1) {
		next = xasprintf("%s: MIXED", line);
		free(line);
		line = next;
	}
	return line;
}

static int print_status(json_t *r, const char *path)
{
	json_t *events = json_object_get(r, "events"), *v;
	int mode, from_server;
	struct table t;
	char *up, *total;

	if (!json_is_object(r)) {
		print_pretty(r, "status", NULL);
		return CAT_ADM_EXIT_OK;
	}
	kv_init(&t);
	if ((v = json_object_get(r, "version"))) {
		char *cv = jstr(v);

		kv(&t, "version", xasprintf("catena-control %s", cv));
		free(cv);
	}
	kv(&t, "epoch", jstr(json_object_get(r, "epoch")));
	up = jstr(json_object_get(r, "nodes_up"));
	total = jstr(json_object_get(r, "nodes_total"));
	kv(&t, "nodes", xasprintf("%s up / %s total", up, total));
	free(up);
	free(total);
	if ((v = json_object_get(r, "node_versions")))
		kv(&t, "node versions", versions_line(v));
	kv(&t, "chains", jstr(json_object_get(r, "chains")));
	kv(&t, "slots", jstr(json_object_get(r, "slots")));
	kv(&t, "store", store_line(r));
	if ((v = json_object_get(r, "uptime_s")))
		kv(&t, "uptime", fmt_duration(v, 1000));
	mode = cat_adm_socket_mode(path, r, &from_server);
	kv(&t, "socket", socket_line(path, mode, from_server));
	auth_lines(&t, r);
	if ((v = json_object_get(r, "durable")) && json_is_object(v))
		kv(&t, "durable", jstr(json_object_get(v, "summary")));
	kv_fields(&t, r, shown(CAT_MGMT_STATUS), "");
	kv_print(&t);
	if (mode >= 0 && (mode & 002))
		printf("WARNING: the management socket is world writable: any "
		       "local user can reconfigure the cluster (want 0660)\n");
	if (json_is_array(events)) {
		size_t i;

		printf("last events:%s\n", json_array_size(events) ? "" : " none");
		json_array_foreach(events, i, v)
			print_event(v);
	}
	return CAT_ADM_EXIT_OK;
}

/* "59 ms ago", or "never" for a node not heard from. */
static char *heartbeat_cell(json_t *hb)
{
	char *d, *cell;

	if (hb == NULL || json_is_null(hb) ||
	    (json_is_number(hb) && json_number_value(hb) < 0))
		return xstrdup("never");
	if (!json_is_number(hb))
		return jstr(hb);
	d = fmt_duration(hb, 1);
	cell = xasprintf("%s ago", d);
	free(d);
	return cell;
}

static int print_nodes(json_t *r)
{
	static const char *const hdr[] = {
		"ID", "ADDRESS", "MAC", "STATE", "EPOCH", "LAST-HEARTBEAT", "VERSION",
	};
	json_t *item, *extra, *st;
	struct table t;
	size_t i, up = 0;

	if (!json_is_array(r)) {
		print_pretty(r, "nodes", NULL);
		return CAT_ADM_EXIT_OK;
	}
	extra = extra_keys(r, shown(CAT_MGMT_NODES));
	tbl_init(&t, hdr, 7, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(r, i, item) {
		tbl_cell(&t, jstr(json_object_get(item, "id")));
		tbl_cell(&t, jstr(json_object_get(item, "address")));
		tbl_cell(&t, jstr(json_object_get(item, "mac")));
		st = json_object_get(item, "state");
		tbl_cell(&t, jstr(st));
		if (json_is_string(st) && strcmp(json_string_value(st), "up") == 0)
			up++;
		tbl_cell(&t, jstr(json_object_get(item, "epoch")));
		tbl_cell(&t, heartbeat_cell(json_object_get(item, "last_heartbeat_ms")));
		/* "-": no hello yet, or a node older than the field */
		tbl_cell(&t, jstr(json_object_get(item, "version")));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	printf("%zu node%s, %zu up\n", json_array_size(r),
	       json_array_size(r) == 1 ? "" : "s", up);
	tbl_free(&t);
	json_decref(extra);
	return CAT_ADM_EXIT_OK;
}

/* "4: 120/256 slots caught up, 3 snapshotting, 5120 keys, 2.1 MB" */
static char *join_cell(json_t *j)
{
	json_t *cs = json_object_get(j, "chain_slots");

	if (!json_is_object(j))
		return xasprintf("-");
	if (cs == NULL)
		return xasprintf("%lld: waiting for the tail's report",
				 (long long)json_integer_value(json_object_get(j, "node")));
	return xasprintf("%lld: %lld/%lld slots caught up, %lld snapshotting, %lld keys, %lld bytes",
		(long long)json_integer_value(json_object_get(j, "node")),
		(long long)json_integer_value(json_object_get(j, "caught_up")),
		(long long)json_integer_value(cs),
		(long long)json_integer_value(json_object_get(j, "snapshotting")),
		(long long)json_integer_value(json_object_get(j, "keys")),
		(long long)json_integer_value(json_object_get(j, "bytes")));
}

static int print_chains(json_t *r)
{
	static const char *const hdr[] = { "ID", "HEAD", "MIDDLE", "TAIL", "SLOTS",
					   "JOINING" };
	json_t *item, *extra;
	struct table t;
	size_t i;

	if (!json_is_array(r)) {
		print_pretty(r, "chains", NULL);
		return CAT_ADM_EXIT_OK;
	}
	extra = extra_keys(r, shown(CAT_MGMT_CHAINS));
	tbl_init(&t, hdr, 6, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(r, i, item) {
		json_t *m = json_object_get(item, "members");
		size_t n = json_array_size(m);

		tbl_cell(&t, jstr(json_object_get(item, "id")));
		tbl_cell(&t, jstr(json_object_get(item, "head")));
		tbl_cell(&t, join(m, 1, n > 1 ? n - 1 : 1, ",", jstr));
		tbl_cell(&t, jstr(json_object_get(item, "tail")));
		tbl_cell(&t, jstr(json_object_get(item, "slots")));
		tbl_cell(&t, join_cell(json_object_get(item, "joining")));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	tbl_free(&t);
	json_decref(extra);
	return CAT_ADM_EXIT_OK;
}

static int print_slots(json_t *r)
{
	static const char *const hdr[] = { "SLOT", "CHAIN", "MEMBERS" };
	json_t *items = json_object_get(r, "slots"), *item, *extra;
	struct table t;
	size_t i;

	if (!json_is_array(items)) {
		print_pretty(r, "slots", NULL);
		return CAT_ADM_EXIT_OK;
	}
	extra = extra_keys(items, shown(CAT_MGMT_SLOTS));
	tbl_init(&t, hdr, 3, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		json_t *m = json_object_get(item, "members");

		tbl_cell(&t, jstr(json_object_get(item, "slot")));
		tbl_cell(&t, jstr(json_object_get(item, "chain")));
		tbl_cell(&t, join(m, 0, json_array_size(m), " -> ", jstr));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	tbl_free(&t);
	json_decref(extra);
	return CAT_ADM_EXIT_OK;
}

/* A node's counters: its "stats" (NULL when that is not an object: a
 * node not heard from yet). */
static json_t *counters_of(json_t *item)
{
	json_t *c = json_object_get(item, "stats");

	return json_is_object(c) ? c : NULL;
}

/* Add the row names of obj's members (not in skip) to names, in order. */
static void add_names(json_t *names, json_t *obj, const char *skip, int scalars)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
		if (!name_in(key, skip) && (!scalars || is_scalar(v)))
			json_object_set_new(names, key, json_true());
}

/* One row: a name, its value on every node, and the total (the server's
 * sum when it gives one, else ours when every value is an integer). */
static void stats_row(struct table *t, json_t *items, const char *key,
		      int top, json_t *sums)
{
	long long sum = 0;
	int summable = 1;
	json_t *item, *c;
	size_t k;

	tbl_cell(t, cat_adm_clean(xstrdup(key)));
	json_array_foreach(items, k, item) {
		c = json_object_get(top ? item : counters_of(item), key);
		if (!json_is_integer(c) ||
		    __builtin_add_overflow(sum, json_integer_value(c), &sum))
			summable = 0;
		tbl_cell(t, jstr(c));
	}
	if (!top && sums)
		tbl_cell(t, jstr(json_object_get(sums, key)));
	else
		tbl_cell(t, summable ? xasprintf("%lld", sum) : xstrdup("-"));
}

#define STATS_CELLS_MAX (1u << 20)

static int print_stats(json_t *r)
{
	json_t *items = json_object_get(r, "nodes"), *sums, *top, *names;
	json_t *item, *v;
	const char *key;
	struct table t;
	size_t i;

	if (!json_is_array(items)) {
		print_pretty(r, "stats", NULL);
		return CAT_ADM_EXIT_OK;
	}
	sums = json_object_get(r, "sum");
	if (!json_is_object(sums))
		sums = NULL;
	/* Rows: what the nodes say about themselves (state, in_flight) first,
	 * then the counters: the sums' order, then any only some nodes have. */
	top = json_object();
	names = json_object();
	if (top == NULL || names == NULL)
		out_of_memory();
	json_array_foreach(items, i, item)
		add_names(top, item, shown(CAT_MGMT_STATS), 1);
	if (sums)
		add_names(names, sums, "", 0);
	json_array_foreach(items, i, item)
		add_names(names, counters_of(item), "", 0);

	/* Nodes x counters: bounded, or the table is no use to anyone. */
	if ((json_object_size(top) + json_object_size(names)) *
	    (json_array_size(items) + 2) > STATS_CELLS_MAX) {
		json_decref(top);
		json_decref(names);
		print_pretty(r, "stats", "too many nodes and counters for a table");
		return CAT_ADM_EXIT_OK;
	}
	tbl_init(&t, NULL, 0, json_array_size(items) + 2);
	t.right_from = 1;
	tbl_cell(&t, xstrdup("COUNTER"));
	json_array_foreach(items, i, item) {
		char *l = jstr(json_object_get(item, "id"));

		tbl_cell(&t, xasprintf("NODE%s", l));
		free(l);
	}
	tbl_cell(&t, xstrdup("TOTAL"));
	json_object_foreach(top, key, v)
		stats_row(&t, items, key, 1, sums);
	json_object_foreach(names, key, v)
		stats_row(&t, items, key, 0, sums);
	tbl_print(&t);
	tbl_free(&t);
	json_decref(top);
	json_decref(names);
	/* A sum over nodes is not a count of the cluster's data: say so where
	 * the number is read. */
	printf("TOTAL sums the nodes' own counters: store_keys counts every "
	       "replica (a key on a chain of 3 counts 3 times), request "
	       "counters count each node's share.\n");
	return CAT_ADM_EXIT_OK;
}

static int print_epochs(json_t *r)
{
	static const char *const hdr[] = { "EPOCH", "TIME", "REASON" };
	json_t *items = json_object_get(r, "history"), *item, *extra, *total;
	struct table t;
	size_t i;

	if (!json_is_array(items)) {
		print_pretty(r, "epoch history", NULL);
		return CAT_ADM_EXIT_OK;
	}
	extra = extra_keys(items, shown(CAT_MGMT_EPOCH_HISTORY));
	tbl_init(&t, hdr, 3, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		tbl_cell(&t, jstr(json_object_get(item, "epoch")));
		tbl_cell(&t, fmt_time(json_object_get(item, "time")));
		tbl_cell(&t, jstr(json_object_get(item, "reason")));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	/* catena-control may answer only the latest epochs. */
	total = json_object_get(r, "total");
	if (json_is_integer(total) &&
	    json_integer_value(total) > (json_int_t)json_array_size(items))
		printf("the last %zu of %lld epochs\n", json_array_size(items),
		       (long long)json_integer_value(total));
	tbl_free(&t);
	json_decref(extra);
	return CAT_ADM_EXIT_OK;
}

/*
 * verify's exit status is what scripts rely on, so it is never 0 unless
 * the answer positively says no slot differs: a "differ" that is missing
 * or not a list is no answer (2), not a clean bill of health.
 */
int cat_adm_verify_outcome(const json_t *r, const char **why)
{
	json_t *differ = json_object_get(r, "differ");

	if (!json_is_object(r) || !json_is_array(differ)) {
		*why = "the answer to verify has no \"differ\" list";
		return CAT_ADM_EXIT_NO_ANSWER;
	}
	return json_array_size(differ) ? CAT_ADM_EXIT_WRONG : CAT_ADM_EXIT_OK;
}

/* The rows of one slot that differs: one per replica, the union of the
 * nodes in its versions and digests. */
static void differ_rows(struct table *t, json_t *item)
{
	json_t *vers = json_object_get(item, "versions");
	json_t *digs = json_object_get(item, "digests"), *nodes, *v;
	const char *key;
	int row = 0;

	nodes = json_object();
	if (nodes == NULL)
		out_of_memory();
	json_object_foreach(vers, key, v)
		json_object_set_new(nodes, key, json_true());
	json_object_foreach(digs, key, v)
		json_object_set_new(nodes, key, json_true());
	if (json_object_size(nodes) == 0)
		json_object_set_new(nodes, "-", json_true());
	json_object_foreach(nodes, key, v) {
		tbl_cell(t, row ? xstrdup("") : jstr(json_object_get(item, "slot")));
		tbl_cell(t, row++ ? xstrdup("") : jstr(json_object_get(item, "chain")));
		tbl_cell(t, cat_adm_clean(xstrdup(key)));
		tbl_cell(t, jstr(json_object_get(vers, key)));
		tbl_cell(t, jstr(json_object_get(digs, key)));
	}
	json_decref(nodes);
}

static int print_verify(json_t *r)
{
	static const char *const hdr[] = {
		"SLOT", "CHAIN", "NODE", "VERSION", "DIGEST",
	};
	json_t *differ = json_object_get(r, "differ"), *item;
	char *checked = jstr(json_object_get(r, "slots_checked"));
	struct table t;
	size_t i;

	kv_init(&t);
	kv_fields(&t, r, shown(CAT_MGMT_VERIFY), "");
	if (json_object_get(r, "nodes"))
		kv(&t, "nodes asked", jstr(json_object_get(r, "nodes")));
	kv_print(&t);
	if (json_array_size(differ) == 0) {
		printf("%s slots checked, all replicas agree\n", checked);
		free(checked);
		return CAT_ADM_EXIT_OK;
	}
	tbl_init(&t, hdr, 5, 0);
	json_array_foreach(differ, i, item)
		differ_rows(&t, item);
	tbl_print(&t);
	tbl_free(&t);
	printf("%zu of %s slots checked differ between replicas\n",
	       json_array_size(differ), checked);
	free(checked);
	return CAT_ADM_EXIT_WRONG;
}

static int print_node_op(json_t *r, enum cat_mgmt_id id, const char *what,
			 const char *node)
{
	json_t *epoch = json_object_get(r, "epoch");
	char *e = epoch ? jstr(epoch) : NULL;
	struct table t;

	printf("node %s %s%s%s%s\n", node, what, e ? " (epoch " : "", e ? e : "",
	       e ? ")" : "");
	free(e);
	kv_init(&t);
	if (json_is_object(r))
		kv_fields(&t, r, shown(id), "  ");
	kv_print(&t);
	return CAT_ADM_EXIT_OK;
}

/* "key  value" lines of an answer (reshard commands, chain add). */
static int print_fields(json_t *r, enum cat_mgmt_id id, const char *title)
{
	struct table t;

	printf("%s\n", title);
	kv_init(&t);
	if (json_is_object(r))
		kv_fields(&t, r, shown(id), "  ");
	kv_print(&t);
	return CAT_ADM_EXIT_OK;
}

/* "copying (node 4), cancelled" */
static char *step_cell(json_t *m)
{
	const char *step = json_string_value(json_object_get(m, "step"));
	const char *cancelled = json_is_true(json_object_get(m, "cancelled")) ?
				", cancelled" : "";
	json_int_t joining = json_integer_value(json_object_get(m, "joining"));

	if (joining != 0)
		return xasprintf("%s (node %lld)%s", step, (long long)joining,
				 cancelled);
	return xasprintf("%s%s", step, cancelled);
}

static void reshard_row(struct table *t, json_t *m)
{
	json_t *eta = json_object_get(m, "eta_s"), *mem = json_object_get(m, "members"),
	       *tg = json_object_get(m, "target");

	tbl_cell(t, jstr(json_object_get(m, "via")));
	tbl_cell(t, jstr(json_object_get(m, "from")));
	tbl_cell(t, jstr(json_object_get(m, "to")));
	tbl_cell(t, jstr(json_object_get(m, "slots")));
	tbl_cell(t, join(mem, 0, json_array_size(mem), ",", jstr));
	tbl_cell(t, join(tg, 0, json_array_size(tg), ",", jstr));
	tbl_cell(t, step_cell(m));
	if (json_is_integer(json_object_get(m, "bytes_to_copy")))
		tbl_cell(t, xasprintf("%lld keys, %lld of ~%lld bytes",
			 (long long)json_integer_value(json_object_get(m, "keys_copied")),
			 (long long)json_integer_value(json_object_get(m, "bytes_copied")),
			 (long long)json_integer_value(json_object_get(m, "bytes_to_copy"))));
	else
		tbl_cell(t, xasprintf("%lld keys, %lld bytes",
			 (long long)json_integer_value(json_object_get(m, "keys_copied")),
			 (long long)json_integer_value(json_object_get(m, "bytes_copied"))));
	tbl_cell(t, jstr(json_object_get(m, "lag")));
	tbl_cell(t, xasprintf("%.1f s", json_real_value(json_object_get(m, "elapsed_s"))));
	tbl_cell(t, json_is_number(eta) ? fmt_duration(eta, 1000) : xstrdup("-"));
}

/* One line per move: where its slots go, how far it is. */
static int print_reshard_status(json_t *r)
{
	static const char *const hdr[] = { "VIA", "FROM", "TO", "SLOTS", "MEMBERS",
					   "TARGET", "STEP", "COPIED", "LAG", "ELAPSED",
					   "ETA" };
	json_t *moves = json_object_get(r, "moves"), *q = json_object_get(r, "queued"), *m;
	json_int_t rate = json_integer_value(json_object_get(r, "rate"));
	struct table t;
	char *rate_text;
	size_t i;

	if (!json_is_array(moves)) {
		print_pretty(r, "reshard status", NULL);
		return CAT_ADM_EXIT_OK;
	}
	rate_text = rate > 0 ? xasprintf("%lld bytes/s per worker", (long long)rate) :
		    xstrdup("as configured on the nodes");
	printf("reshard: %zu moves in progress, %zu queued%s%s, transfer rate %s\n",
	       json_array_size(moves), json_array_size(q),
	       json_is_true(json_object_get(r, "rebalance")) ? ", rebalancing" : "",
	       json_is_true(json_object_get(r, "paused")) ? ", PAUSED" : "", rate_text);
	free(rate_text);
	if (json_array_size(moves) == 0 && json_array_size(q) == 0)
		return CAT_ADM_EXIT_OK;
	tbl_init(&t, hdr, 11, 0);
	json_array_foreach(moves, i, m)
		reshard_row(&t, m);
	tbl_print(&t);
	tbl_free(&t);
	json_array_foreach(q, i, m)
		printf("queued: %lld slots from chain %lld to chain %lld\n",
		       (long long)json_integer_value(json_object_get(m, "slots")),
		       (long long)json_integer_value(json_object_get(m, "from")),
		       (long long)json_integer_value(json_object_get(m, "to")));
	return CAT_ADM_EXIT_OK;
}

static json_int_t num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* "repair": what differed and which replicas are queued for a new copy.
 * Exit 1 when something differed (as verify does). */
static int print_repair(json_t *r)
{
	json_t *fixes = json_object_get(r, "repairs"), *f;
	size_t i;

	printf("repair: %lld slots checked, %lld differ\n",
	       (long long)num(r, "slots_checked"), (long long)num(r, "differ_count"));
	json_array_foreach(fixes, i, f)
		printf("  node %lld in chain %lld: %lld slots differ: it leaves the chain and rejoins it by state transfer\n",
		       (long long)num(f, "node"), (long long)num(f, "chain"),
		       (long long)num(f, "slots"));
	if (json_array_size(fixes) > 0)
		printf("progress: catenactl repair status (and events)\n");
	return num(r, "differ_count") > 0 ? CAT_ADM_EXIT_WRONG : CAT_ADM_EXIT_OK;
}

static int print_repair_status(json_t *r)
{
	json_t *cur = json_object_get(r, "running"), *bg = json_object_get(r, "background");
	json_t *q = json_object_get(r, "queued"), *f, *ago;
	size_t i;

	char *text;

	if (json_is_object(cur)) {
		text = jstr(json_object_get(cur, "step"));
		printf("running: node %lld in chain %lld (%lld slots differed): %s, %.1f s\n",
		       (long long)num(cur, "node"), (long long)num(cur, "chain"),
		       (long long)num(cur, "slots"), text,
		       json_number_value(json_object_get(cur, "elapsed_s")));
		free(text);
	} else
		printf("running: none\n");
	json_array_foreach(q, i, f)
		printf("queued: node %lld in chain %lld (%lld slots)\n",
		       (long long)num(f, "node"), (long long)num(f, "chain"),
		       (long long)num(f, "slots"));
	printf("repaired: %lld replicas since catena-control started\n",
	       (long long)num(r, "repaired"));
	ago = json_object_get(bg, "last_s_ago");
	if (num(bg, "interval_s") == 0)
		printf("background verify: off (verify_interval_s = 0)\n");
	else if (json_is_number(ago)) {
		text = jstr(json_object_get(bg, "last"));
		printf("background verify: every %lld s, %lld runs, last %.0f s ago: %s\n",
		       (long long)num(bg, "interval_s"), (long long)num(bg, "runs"),
		       json_number_value(ago), text);
		free(text);
	} else
		printf("background verify: every %lld s, not run yet\n",
		       (long long)num(bg, "interval_s"));
	return CAT_ADM_EXIT_OK;
}

/* `reshard rebalance [--dry-run]`: the moves as sentences, and what
 * happens next. */
static int print_rebalance(json_t *r)
{
	json_t *moves = json_object_get(r, "moves"), *m;
	int dry = json_is_true(json_object_get(r, "dry_run"));
	long long total = 0;
	size_t i;

	if (!json_is_array(moves)) {
		print_pretty(r, "reshard rebalance", NULL);
		return CAT_ADM_EXIT_OK;
	}
	if (json_array_size(moves) == 0) {
		printf("reshard rebalance: the chains are even already: nothing to move\n");
		return CAT_ADM_EXIT_OK;
	}
	printf("reshard rebalance%s: %zu move%s%s\n", dry ? " plan (--dry-run, nothing changed)" : "",
	       json_array_size(moves), json_array_size(moves) == 1 ? "" : "s",
	       dry ? ", in this order:" : " queued, one at a time:");
	json_array_foreach(moves, i, m) {
		json_int_t n = json_integer_value(json_object_get(m, "slots"));

		total += n;
		printf("  %zu. %lld slot%s from chain %lld to chain %lld\n", i + 1,
		       (long long)n, n == 1 ? "" : "s",
		       (long long)json_integer_value(json_object_get(m, "from")),
		       (long long)json_integer_value(json_object_get(m, "to")));
	}
	printf("%lld slots move in all; %s\n", total, dry ?
	       "run it without --dry-run to start (catenactl reshard status follows it)" :
	       "catenactl reshard status follows it");
	return CAT_ADM_EXIT_OK;
}

/* `reshard move`: one move per source chain. */
static int print_move(json_t *r)
{
	json_t *moves = json_object_get(r, "moves"), *m;
	size_t i;

	if (!json_is_array(moves))
		return print_fields(r, CAT_MGMT_RESHARD_MOVE, "reshard: done");
	printf("reshard: %lld slots moving to chain %lld (epoch %lld), %zu move%s:\n",
	       (long long)json_integer_value(json_object_get(r, "slots")),
	       (long long)json_integer_value(json_object_get(r, "to")),
	       (long long)json_integer_value(json_object_get(r, "epoch")),
	       json_array_size(moves), json_array_size(moves) == 1 ? "" : "s");
	json_array_foreach(moves, i, m)
		printf("  %lld slots from chain %lld, via chain %lld\n",
		       (long long)json_integer_value(json_object_get(m, "slots")),
		       (long long)json_integer_value(json_object_get(m, "from")),
		       (long long)json_integer_value(json_object_get(m, "via")));
	printf("catenactl reshard status follows them\n");
	return CAT_ADM_EXIT_OK;
}

void cat_adm_print_events(json_t *events)
{
	json_t *ev;
	size_t i;

	json_array_foreach(events, i, ev) {
		char *tm, *text;

		if (!json_is_object(ev)) {
			text = jstr(ev);
			printf("%s\n", text);
			free(text);
			continue;
		}
		tm = fmt_time(json_object_get(ev, "time"));
		text = jstr(json_object_get(ev, "text"));
		printf("%s  epoch %lld: %s\n", tm,
		       (long long)json_integer_value(json_object_get(ev, "epoch")), text);
		free(tm);
		free(text);
	}
}

static int print_events(json_t *r)
{
	json_t *events = json_object_get(r, "events");

	if (!json_is_array(events)) {
		print_pretty(r, "events", NULL);
		return CAT_ADM_EXIT_OK;
	}
	if (json_array_size(events) == 0)
		printf("no events\n");
	cat_adm_print_events(events);
	return CAT_ADM_EXIT_OK;
}

int cat_adm_show(enum cat_mgmt_id id, json_t *result,
		 const struct cat_adm_show_ctx *ctx)
{
	switch (id) {
	case CAT_MGMT_STATUS:
		return print_status(result, ctx->socket_path);
	case CAT_MGMT_NODES:
		return print_nodes(result);
	case CAT_MGMT_CHAINS:
		return print_chains(result);
	case CAT_MGMT_SLOTS:
		return print_slots(result);
	case CAT_MGMT_STATS:
		return print_stats(result);
	case CAT_MGMT_EPOCH_HISTORY:
		return print_epochs(result);
	case CAT_MGMT_VERIFY:
		return print_verify(result);
	case CAT_MGMT_REPAIR:
		return print_repair(result);
	case CAT_MGMT_REPAIR_STATUS:
		return print_repair_status(result);
	case CAT_MGMT_NODE_ADD:
		return print_node_op(result, id, "added as a spare", ctx->node_id);
	case CAT_MGMT_NODE_JOIN:
		return print_node_op(result, id, "joining (catenactl chains shows its progress)",
				     ctx->node_id);
	case CAT_MGMT_NODE_DRAIN:
		return print_node_op(result, id, "drained", ctx->node_id);
	case CAT_MGMT_NODE_UNDRAIN:
		return print_node_op(result, id, "undrained", ctx->node_id);
	case CAT_MGMT_NODE_REMOVE:
		return print_node_op(result, id, "removed", ctx->node_id);
	case CAT_MGMT_CHAIN_ADD:
		return print_fields(result, id, "chain added (no slots yet)");
	case CAT_MGMT_RESHARD_STATUS:
		return print_reshard_status(result);
	case CAT_MGMT_RESHARD_MOVE:
		return print_move(result);
	case CAT_MGMT_RESHARD_REBALANCE:
		return print_rebalance(result);
	case CAT_MGMT_EVENTS:
		return print_events(result);
	case CAT_MGMT_RESHARD_PAUSE:
	case CAT_MGMT_RESHARD_RESUME:
	case CAT_MGMT_RESHARD_CANCEL:
	case CAT_MGMT_RESHARD_RATE:
		return print_fields(result, id, "reshard: done");
	case CAT_MGMT_BACKUP_STATUS:
	case CAT_MGMT_RESTORE_STATUS:
		return print_fields(result, id, "backup or restore:");
	case CAT_MGMT_BACKUP_CANCEL:
	case CAT_MGMT_RESTORE_CANCEL:
		return print_fields(result, id, "cancelled");
	case CAT_MGMT_BACKUP:
	case CAT_MGMT_RESTORE:
		/* catenactl follows these itself (control/catenactl.c). */
		return print_fields(result, id, "started");
	case CAT_MGMT_N_CMDS:
		break;
	}
	return CAT_ADM_EXIT_OK;
}
