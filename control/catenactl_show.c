/*
 * catenactl_show: catenactl's human output (catenactl_show.h). The contract
 * names what each answer carries but not every key's spelling or nesting,
 * so each printer accepts the likely ones, adds columns for members it does
 * not know, and falls back to indented JSON rather than guess wrong. Must
 * never let a server string reach the terminal with control characters.
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

#include "catenactl_show.h"

static void __attribute__((noreturn)) out_of_memory(void)
{
	fputs("catenactl: out of memory\n", stderr);
	exit(CAT_CTL_EXIT_NO_ANSWER);
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
char *cat_ctl_clean(char *s)
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
				return cat_ctl_clean(dump(v));
		s = join(v, 0, json_array_size(v), ",", jstr);
		break;
	default:
		s = dump(v);
		break;
	}
	return cat_ctl_clean(s);
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

/*
 * The first member of obj named by one of names ("a|b|c"). The contract
 * names what each answer carries but not every key's spelling, so each
 * printer accepts the likely spellings rather than show nothing.
 */
static json_t *field(const json_t *obj, const char *names)
{
	json_t *v;

	if (!json_is_object(obj))
		return NULL;
	/* The names in order, so the first spelling wins. */
	for (const char *p = names; p; ) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		v = json_object_getn(obj, p, len);
		if (v)
			return v;
		p = bar ? bar + 1 : NULL;
	}
	return NULL;
}

/* An integer member, or dflt when absent or not an integer. */
static long long field_int(const json_t *obj, const char *names, long long dflt)
{
	json_t *v = field(obj, names);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/*
 * Normalize a list to a new reference to an array. An object keyed by id
 * ({"1":{...},"2":{...}}) becomes an array of its members, each given its
 * key as idname when it lacks one.
 */
static json_t *items_of(json_t *c, const char *idname)
{
	const char *key;
	json_t *arr, *v;

	if (json_is_array(c))
		return json_incref(c);
	if (!json_is_object(c))
		return NULL;
	arr = json_array();
	if (arr == NULL)
		out_of_memory();
	json_object_foreach(c, key, v) {
		if (json_is_object(v) && json_object_get(v, idname) == NULL) {
			json_t *cp = json_copy(v);
			char *end;
			long long n = strtoll(key, &end, 10);

			if (cp == NULL)
				out_of_memory();
			json_object_set_new(cp, idname, *key && !*end ?
					    json_integer(n) : json_string(key));
			json_array_append_new(arr, cp);
		} else {
			json_array_append(arr, v);
		}
	}
	return arr;
}

/* The list a result carries: the result itself when it is an array, else
 * its member named by names. NULL when there is none. */
static json_t *list_of(json_t *result, const char *names, const char *idname)
{
	json_t *c = json_is_array(result) ? result : field(result, names);

	return items_of(c, idname);
}

/* A node reference as text: an id, or an object carrying one. */
static char *node_label(const json_t *v)
{
	json_t *id = field(v, "id|node");

	return jstr(id ? id : v);
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
		tbl_cell(t, cat_ctl_clean(h));
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
		tbl_cell(t, cat_ctl_clean(xasprintf("%s%s", indent, key)));
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
 * what catena-control reports, a string in octal or a number. */
int cat_ctl_socket_mode(const char *path, const json_t *result,
			int *from_server)
{
	struct stat st;
	json_t *sock = field(result, "socket|mgmt_socket"), *m;
	long long v;

	*from_server = 0;
	if (stat(path, &st) == 0)
		return (int)(st.st_mode & 07777);
	*from_server = 1;
	m = field(result, "socket_mode|mgmt_socket_mode");
	if (m == NULL)
		m = field(sock, "mode|socket_mode");
	if (json_is_string(m)) {
		char *end;

		errno = 0;
		v = strtoll(json_string_value(m), &end, 8);
		if (errno || *end || end == json_string_value(m))
			return -1;
	} else if (json_is_integer(m)) {
		v = json_integer_value(m);
		/* 660 is someone writing octal digits in decimal. */
		if (v > 0777 && v <= 777) {
			char buf[8];

			snprintf(buf, sizeof(buf), "%lld", v);
			v = strtoll(buf, NULL, 8);
		}
	} else {
		return -1;
	}
	return v >= 0 && v <= 07777 ? (int)v : -1;
}

static void print_event(json_t *ev)
{
	static const char used[] =
		"time|ts|timestamp|at|when|epoch|text|message|msg|event|reason|what|description";
	char *tm, *text, *ep = NULL;
	const char *key;
	json_t *v;

	if (!json_is_object(ev)) {
		text = jstr(ev);
		printf("  %s\n", text);
		free(text);
		return;
	}
	tm = fmt_time(field(ev, "time|ts|timestamp|at|when"));
	text = jstr(field(ev, "text|message|msg|event|reason|what|description"));
	if (field(ev, "epoch")) {
		char *e = jstr(field(ev, "epoch"));

		ep = xasprintf("epoch %s: ", e);
		free(e);
	}
	printf("  %s  %s%s", tm, ep ? ep : "", text);
	json_object_foreach(ev, key, v) {
		char *k, *s;

		if (name_in(key, used))
			continue;
		k = cat_ctl_clean(xstrdup(key));
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

static int print_status(json_t *r, const char *path)
{
	static const char used[] =
		"epoch|nodes|nodes_up|nodes_total|chains|slots|slot_count|"
		"store|state_dir|uptime|uptime_s|uptime_sec|uptime_seconds|"
		"uptime_ms|socket|mgmt_socket|socket_mode|mgmt_socket_mode|"
		"events|node_auth|node_auth_refused|data_auth";
	json_t *nodes = field(r, "nodes"), *up, *total, *v, *events;
	int mode, from_server;
	struct table t;

	if (!json_is_object(r)) {
		print_pretty(r, "status", NULL);
		return CAT_CTL_EXIT_OK;
	}
	kv_init(&t);
	kv(&t, "epoch", jstr(field(r, "epoch")));

	if (json_is_object(nodes)) {
		up = field(nodes, "up");
		total = field(nodes, "total");
	} else {
		up = field(r, "nodes_up");
		total = field(r, "nodes_total");
		if (total == NULL && !json_is_array(nodes))
			total = nodes;
	}
	if (json_is_array(nodes)) {
		/* A list of nodes: count them, and the ones up. */
		size_t i, n = 0;

		json_array_foreach(nodes, i, v)
			if (json_is_string(field(v, "state")) &&
			    strcmp(json_string_value(field(v, "state")), "up") == 0)
				n++;
		kv(&t, "nodes", xasprintf("%zu up / %zu total", n,
					  json_array_size(nodes)));
	} else {
		char *u = jstr(up), *n = jstr(total);

		kv(&t, "nodes", xasprintf("%s up / %s total", u, n));
		free(u);
		free(n);
	}

	v = field(r, "chains");
	kv(&t, "chains", json_is_array(v) || json_is_object(v)
		   ? xasprintf("%zu", json_is_array(v) ? json_array_size(v)
						      : json_object_size(v))
		   : jstr(v));
	kv(&t, "slots", jstr(field(r, "slots|slot_count")));

	v = field(r, "store");
	if (json_is_object(v) && field(v, "type|kind|backend|name")) {
		char *k = jstr(field(v, "type|kind|backend|name"));
		json_t *where = field(v, "state_dir|path|dir|endpoints");

		if (where) {
			char *w = jstr(where);

			kv(&t, "store", xasprintf("%s (%s)", k, w));
			free(w);
			free(k);
		} else {
			kv(&t, "store", k);
		}
	} else if (json_is_string(v) && field(r, "state_dir")) {
		char *k = jstr(v), *w = jstr(field(r, "state_dir"));

		kv(&t, "store", xasprintf("%s (%s)", k, w));
		free(k);
		free(w);
	} else {
		kv(&t, "store", jstr(v));
	}

	if ((v = field(r, "uptime_ms")))
		kv(&t, "uptime", fmt_duration(v, 1));
	else if ((v = field(r, "uptime_s|uptime_sec|uptime_seconds|uptime")))
		kv(&t, "uptime", fmt_duration(v, 1000));

	mode = cat_ctl_socket_mode(path, r, &from_server);
	{
		char *p = cat_ctl_clean(xstrdup(path));

		if (mode < 0)
			kv(&t, "socket", xasprintf("%s  mode unknown", p));
		else
			kv(&t, "socket", xasprintf(
				"%s  mode %04o: %s group, %s world%s", p, mode,
				mode & 020 ? "writable by its" : "not writable by its",
				mode & 002 ? "WRITABLE by the" : "not writable by the",
				from_server ? " (as catena-control reports it)" : ""));
		free(p);
	}
	v = field(r, "node_auth");
	if (json_is_string(v)) {
		const char *a = json_string_value(v);
		char *refused = jstr(field(r, "node_auth_refused"));

		if (strcmp(a, "none") == 0)
			kv(&t, "node channel", xstrdup(
				"unauthenticated (no secret_file): whoever reaches "
				"node_listen can speak as a node"));
		else
			kv(&t, "node channel", xasprintf(
				"%s with the cluster secret; %s connections refused",
				a, refused));
		free(refused);
	}
	v = field(r, "data_auth");
	if (json_is_string(v))
		kv(&t, "data network", xasprintf(
			"%s: replication messages are believed from a host "
			"with a member's IP and MAC (docs/HARDENING.md)",
			json_string_value(v)));
	kv_fields(&t, r, used, "");
	kv_print(&t);
	if (mode >= 0 && (mode & 002))
		printf("WARNING: the management socket is world writable: any "
		       "local user can reconfigure the cluster (want 0660)\n");

	events = field(r, "events");
	if (json_is_array(events)) {
		size_t i;

		printf("last events:%s\n", json_array_size(events) ? "" : " none");
		json_array_foreach(events, i, v)
			print_event(v);
	}
	return CAT_CTL_EXIT_OK;
}

static int print_nodes(json_t *r)
{
	static const char *const hdr[] = {
		"ID", "ADDRESS", "MAC", "STATE", "EPOCH", "LAST-HEARTBEAT",
	};
	static const char used[] =
		"id|node|address|addr|ip|port|udp_port|mac|state|epoch|"
		"epoch_applied|applied_epoch|map_epoch|last_heartbeat_ms|"
		"heartbeat_age_ms|last_heartbeat_age_ms|last_heartbeat|age_ms";
	json_t *items = list_of(r, "nodes", "id"), *item, *extra;
	struct table t;
	size_t i, up = 0;

	if (items == NULL) {
		print_pretty(r, "nodes", NULL);
		return CAT_CTL_EXIT_OK;
	}
	extra = extra_keys(items, used);
	tbl_init(&t, hdr, 6, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		json_t *addr = field(item, "address|addr"), *hb, *st;

		tbl_cell(&t, node_label(item));
		if (addr) {
			tbl_cell(&t, jstr(addr));
		} else {
			char *ip = jstr(field(item, "ip"));
			json_t *port = field(item, "port|udp_port");

			if (port) {
				char *p = jstr(port);

				tbl_cell(&t, xasprintf("%s:%s", ip, p));
				free(p);
				free(ip);
			} else {
				tbl_cell(&t, ip);
			}
		}
		tbl_cell(&t, jstr(field(item, "mac")));
		st = field(item, "state");
		tbl_cell(&t, jstr(st));
		if (json_is_string(st) && strcmp(json_string_value(st), "up") == 0)
			up++;
		tbl_cell(&t, jstr(field(item, "epoch_applied|applied_epoch|epoch|map_epoch")));
		hb = field(item, "last_heartbeat_ms|heartbeat_age_ms|"
			   "last_heartbeat_age_ms|age_ms|last_heartbeat");
		if (hb == NULL || json_is_null(hb) ||
		    (json_is_number(hb) && json_number_value(hb) < 0)) {
			tbl_cell(&t, xstrdup("never"));
		} else if (json_is_number(hb)) {
			char *d = fmt_duration(hb, 1);

			tbl_cell(&t, xasprintf("%s ago", d));
			free(d);
		} else {
			tbl_cell(&t, jstr(hb));
		}
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	printf("%zu node%s, %zu up\n", json_array_size(items),
	       json_array_size(items) == 1 ? "" : "s", up);
	tbl_free(&t);
	json_decref(extra);
	json_decref(items);
	return CAT_CTL_EXIT_OK;
}

/* The members of a chain or slot, head first, as an array (or NULL). */
static json_t *members_of(const json_t *item)
{
	json_t *m = field(item, "members|nodes|chain");

	return json_is_array(m) ? m : NULL;
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
	static const char used[] = "id|chain|members|nodes|head|tail|slots|slot_count|n_slots|joining";
	json_t *items = list_of(r, "chains", "id"), *item, *extra;
	struct table t;
	size_t i;

	if (items == NULL) {
		print_pretty(r, "chains", NULL);
		return CAT_CTL_EXIT_OK;
	}
	extra = extra_keys(items, used);
	tbl_init(&t, hdr, 6, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		json_t *m = members_of(item), *slots;
		size_t n = json_array_size(m);

		tbl_cell(&t, jstr(field(item, "id|chain")));
		tbl_cell(&t, n ? node_label(json_array_get(m, 0))
			       : jstr(field(item, "head")));
		tbl_cell(&t, join(m, 1, n > 1 ? n - 1 : 1, ",", node_label));
		tbl_cell(&t, n ? node_label(json_array_get(m, n - 1))
			       : jstr(field(item, "tail")));
		slots = field(item, "slots|slot_count|n_slots");
		tbl_cell(&t, json_is_array(slots)
			     ? xasprintf("%zu", json_array_size(slots))
			     : jstr(slots));
		tbl_cell(&t, join_cell(field(item, "joining")));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	tbl_free(&t);
	json_decref(extra);
	json_decref(items);
	return CAT_CTL_EXIT_OK;
}

static int print_slots(json_t *r, long long first)
{
	static const char *const hdr[] = { "SLOT", "CHAIN", "MEMBERS" };
	static const char used[] = "slot|chain|chain_id|members|nodes";
	json_t *items = list_of(r, "slots", "slot"), *item, *extra;
	struct table t;
	size_t i;

	if (items == NULL) {
		print_pretty(r, "slots", NULL);
		return CAT_CTL_EXIT_OK;
	}
	/* Slots listed without their numbers count from the first one. */
	first = field_int(r, "first", first);
	extra = extra_keys(items, used);
	tbl_init(&t, hdr, 3, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		json_t *s = field(item, "slot"), *m = members_of(item);

		tbl_cell(&t, s ? jstr(s) : xasprintf("%lld", first + (long long)i));
		tbl_cell(&t, jstr(field(item, "chain|chain_id")));
		tbl_cell(&t, join(m, 0, json_array_size(m), " -> ", node_label));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	tbl_free(&t);
	json_decref(extra);
	json_decref(items);
	return CAT_CTL_EXIT_OK;
}

/* A node's counters: its "stats"/"counters" member (NULL when that is not
 * an object: a node not heard from yet), else the node object itself. */
static json_t *counters_of(json_t *item)
{
	json_t *c = field(item, "stats|counters");

	if (c == NULL)
		return item;
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

	tbl_cell(t, cat_ctl_clean(xstrdup(key)));
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
	json_t *items = list_of(r, "nodes|per_node", "id"), *sums, *top, *names;
	json_t *item, *v;
	const char *key;
	struct table t;
	size_t i;

	if (items == NULL) {
		print_pretty(r, "stats", NULL);
		return CAT_CTL_EXIT_OK;
	}
	sums = field(r, "sum|sums|total|totals");
	if (!json_is_object(sums))
		sums = NULL;
	/* Rows: what the nodes say about themselves (state, in_flight) first,
	 * then the counters: the sums' order, then any only some nodes have. */
	top = json_object();
	names = json_object();
	if (top == NULL || names == NULL)
		out_of_memory();
	json_array_foreach(items, i, item)
		if (counters_of(item) != item)
			add_names(top, item, "id|node|stats|counters", 1);
	if (sums)
		add_names(names, sums, "", 0);
	json_array_foreach(items, i, item)
		add_names(names, counters_of(item),
			  counters_of(item) == item ? "id|node" : "", 0);

	/* Nodes x counters: bounded, or the table is no use to anyone. */
	if ((json_object_size(top) + json_object_size(names)) *
	    (json_array_size(items) + 2) > STATS_CELLS_MAX) {
		json_decref(top);
		json_decref(names);
		json_decref(items);
		print_pretty(r, "stats", "too many nodes and counters for a table");
		return CAT_CTL_EXIT_OK;
	}
	tbl_init(&t, NULL, 0, json_array_size(items) + 2);
	t.right_from = 1;
	tbl_cell(&t, xstrdup("COUNTER"));
	json_array_foreach(items, i, item) {
		char *l = node_label(item);

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
	json_decref(items);
	return CAT_CTL_EXIT_OK;
}

static int print_epochs(json_t *r)
{
	static const char *const hdr[] = { "EPOCH", "TIME", "REASON" };
	static const char used[] = "epoch|number|n|time|ts|timestamp|at|when|reason|why|text|event";
	json_t *items = list_of(r, "epochs|history|epoch_history", "epoch"), *item, *extra;
	struct table t;
	long long total;
	size_t i;

	if (items == NULL) {
		print_pretty(r, "epoch history", NULL);
		return CAT_CTL_EXIT_OK;
	}
	extra = extra_keys(items, used);
	tbl_init(&t, hdr, 3, json_array_size(extra));
	tbl_header_extra(&t, extra);
	json_array_foreach(items, i, item) {
		tbl_cell(&t, jstr(is_scalar(item) ? item : field(item, "epoch|number|n")));
		tbl_cell(&t, fmt_time(field(item, "time|ts|timestamp|at|when")));
		tbl_cell(&t, jstr(field(item, "reason|why|text|event")));
		tbl_row_extra(&t, item, extra);
	}
	tbl_print(&t);
	/* catena-control may answer only the latest epochs. */
	total = field_int(r, "total", -1);
	if (total > (long long)json_array_size(items))
		printf("the last %zu of %lld epochs\n", json_array_size(items),
		       total);
	tbl_free(&t);
	json_decref(extra);
	json_decref(items);
	return CAT_CTL_EXIT_OK;
}

/*
 * verify's exit status is what scripts rely on, so it is never 0 unless
 * the answer positively says no slot differs: a "differ" that is missing
 * or not a list is no answer (2), not a clean bill of health.
 */
int cat_ctl_verify_outcome(const json_t *r, const char **why)
{
	json_t *differ = field(r, "differ");

	if (!json_is_object(r) || !json_is_array(differ)) {
		*why = "the answer to verify has no \"differ\" list";
		return CAT_CTL_EXIT_NO_ANSWER;
	}
	return json_array_size(differ) ? CAT_CTL_EXIT_WRONG : CAT_CTL_EXIT_OK;
}

static int print_verify(json_t *r)
{
	static const char *const hdr[] = {
		"SLOT", "CHAIN", "NODE", "VERSION", "DIGEST",
	};
	json_t *differ = field(r, "differ"), *item, *nodes, *v;
	char *checked = jstr(field(r, "slots_checked|checked"));
	struct table t;
	const char *key;
	size_t i;

	kv_init(&t);
	kv_fields(&t, r, "slots_checked|checked|differ|differ_count|nodes", "");
	if (field(r, "nodes"))
		kv(&t, "nodes asked", jstr(field(r, "nodes")));
	kv_print(&t);
	if (json_array_size(differ) == 0) {
		printf("%s slots checked, all replicas agree\n", checked);
		free(checked);
		return CAT_CTL_EXIT_OK;
	}
	tbl_init(&t, hdr, 5, 0);
	json_array_foreach(differ, i, item) {
		json_t *vers = field(item, "versions"), *digs = field(item, "digests");
		int row = 0;

		/* One row per replica, the union of the nodes in both maps. */
		nodes = json_object();
		if (nodes == NULL)
			out_of_memory();
		if (json_is_object(vers))
			json_object_foreach(vers, key, v)
				json_object_set_new(nodes, key, json_true());
		if (json_is_object(digs))
			json_object_foreach(digs, key, v)
				json_object_set_new(nodes, key, json_true());
		if (json_object_size(nodes) == 0)
			json_object_set_new(nodes, "-", json_true());
		json_object_foreach(nodes, key, v) {
			tbl_cell(&t, row ? xstrdup("") :
				 jstr(is_scalar(item) ? item : field(item, "slot")));
			tbl_cell(&t, row++ ? xstrdup("") : jstr(field(item, "chain")));
			tbl_cell(&t, cat_ctl_clean(xstrdup(key)));
			tbl_cell(&t, jstr(json_object_get(vers, key)));
			tbl_cell(&t, jstr(json_object_get(digs, key)));
		}
		json_decref(nodes);
	}
	tbl_print(&t);
	tbl_free(&t);
	printf("%zu of %s slots checked differ between replicas\n",
	       json_array_size(differ), checked);
	free(checked);
	return CAT_CTL_EXIT_WRONG;
}

static int print_node_op(json_t *r, const char *what, const char *id)
{
	json_t *epoch = field(r, "epoch");
	char *e = epoch ? jstr(epoch) : NULL;
	struct table t;

	printf("node %s %s%s%s%s\n", id, what, e ? " (epoch " : "", e ? e : "",
	       e ? ")" : "");
	free(e);
	kv_init(&t);
	if (json_is_object(r))
		kv_fields(&t, r, "epoch|node|id", "  ");
	kv_print(&t);
	return CAT_CTL_EXIT_OK;
}

/* "key  value" lines of an answer (reshard commands, chain add). */
static int print_fields(json_t *r, const char *title)
{
	struct table t;

	printf("%s\n", title);
	kv_init(&t);
	if (json_is_object(r))
		kv_fields(&t, r, "", "  ");
	kv_print(&t);
	return CAT_CTL_EXIT_OK;
}

/* One line per move: where its slots go, how far it is. */
static int print_reshard_status(json_t *r)
{
	static const char *const hdr[] = { "VIA", "FROM", "TO", "SLOTS", "MEMBERS",
					   "TARGET", "STEP", "COPIED", "LAG", "ELAPSED",
					   "ETA" };
	json_t *moves = field(r, "moves"), *q = field(r, "queued"), *m;
	struct table t;
	size_t i;

	if (!json_is_array(moves)) {
		print_pretty(r, "reshard status", NULL);
		return CAT_CTL_EXIT_OK;
	}
	{
		char *rate = json_integer_value(field(r, "rate")) > 0 ?
			xasprintf("%lld bytes/s per worker",
				  (long long)json_integer_value(field(r, "rate"))) :
			xstrdup("as configured on the nodes");

		printf("reshard: %zu moves in progress, %zu queued%s%s, transfer rate %s\n",
		       json_array_size(moves), json_array_size(q),
		       json_is_true(field(r, "rebalance")) ? ", rebalancing" : "",
		       json_is_true(field(r, "paused")) ? ", PAUSED" : "", rate);
		free(rate);
	}
	if (json_array_size(moves) == 0 && json_array_size(q) == 0)
		return CAT_CTL_EXIT_OK;
	tbl_init(&t, hdr, 11, 0);
	json_array_foreach(moves, i, m) {
		json_t *eta = field(m, "eta_s"), *mem = field(m, "members"),
		       *tg = field(m, "target");

		tbl_cell(&t, jstr(field(m, "via")));
		tbl_cell(&t, jstr(field(m, "from")));
		tbl_cell(&t, jstr(field(m, "to")));
		tbl_cell(&t, jstr(field(m, "slots")));
		tbl_cell(&t, join(mem, 0, json_array_size(mem), ",", jstr));
		tbl_cell(&t, join(tg, 0, json_array_size(tg), ",", jstr));
		tbl_cell(&t, json_integer_value(field(m, "joining")) ?
			 xasprintf("%s (node %lld)%s", json_string_value(field(m, "step")),
				   (long long)json_integer_value(field(m, "joining")),
				   json_is_true(field(m, "cancelled")) ? ", cancelled" : "") :
			 xasprintf("%s%s", json_string_value(field(m, "step")),
				   json_is_true(field(m, "cancelled")) ? ", cancelled" : ""));
		tbl_cell(&t, xasprintf("%lld keys, %lld bytes",
			 (long long)json_integer_value(field(m, "keys_copied")),
			 (long long)json_integer_value(field(m, "bytes_copied"))));
		tbl_cell(&t, jstr(field(m, "lag")));
		tbl_cell(&t, xasprintf("%.1f s", json_real_value(field(m, "elapsed_s"))));
		tbl_cell(&t, json_is_real(eta) ? xasprintf("%.1f s", json_real_value(eta)) :
			 xstrdup("-"));
	}
	tbl_print(&t);
	tbl_free(&t);
	json_array_foreach(q, i, m)
		printf("queued: %lld slots from chain %lld to chain %lld\n",
		       (long long)json_integer_value(field(m, "slots")),
		       (long long)json_integer_value(field(m, "from")),
		       (long long)json_integer_value(field(m, "to")));
	return CAT_CTL_EXIT_OK;
}

int cat_ctl_show(enum cat_ctl_verb verb, json_t *result,
		 const struct cat_ctl_show_ctx *ctx)
{
	switch (verb) {
	case CAT_CTL_STATUS:
		return print_status(result, ctx->socket_path);
	case CAT_CTL_NODES:
		return print_nodes(result);
	case CAT_CTL_CHAINS:
		return print_chains(result);
	case CAT_CTL_SLOTS:
		return print_slots(result, ctx->first_slot);
	case CAT_CTL_STATS:
		return print_stats(result);
	case CAT_CTL_EPOCH_HISTORY:
		return print_epochs(result);
	case CAT_CTL_VERIFY:
		return print_verify(result);
	case CAT_CTL_NODE_ADD:
		return print_node_op(result, "added as a spare", ctx->node_id);
	case CAT_CTL_CHAIN_ADD:
		return print_fields(result, "chain added (no slots yet)");
	case CAT_CTL_RESHARD:
		return print_fields(result, "reshard: done");
	case CAT_CTL_RESHARD_STATUS:
		return print_reshard_status(result);
	case CAT_CTL_NODE_JOIN:
		return print_node_op(result, "joining (catenactl chains shows its progress)",
				     ctx->node_id);
	case CAT_CTL_NODE_DRAIN:
		return print_node_op(result, "drained", ctx->node_id);
	case CAT_CTL_NODE_UNDRAIN:
		return print_node_op(result, "undrained", ctx->node_id);
	case CAT_CTL_NODE_REMOVE:
		return print_node_op(result, "removed", ctx->node_id);
	}
	return CAT_CTL_EXIT_OK;
}
