/*
 * catena-node configuration parsing and validation.
 * One table lists every key with its type and range, so the file, `--set`
 * and the error messages all agree on what exists. Runs on the main thread
 * at startup only; never prints, never exits: the caller reports the error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <rte_cfgfile.h>

#include "dataplane/config.h"
#include "dataplane/endpoint.h"

enum key_kind {
	K_U32,   /* uint32_t field */
	K_U16,   /* uint16_t field */
	K_U64,   /* uint64_t field */
	K_IP,    /* IPv4 address, stored host order in a uint32_t */
	K_IDLE,  /* busy | backoff */
	K_STEER, /* auto | flow | rss | software */
	K_PATH,  /* file path, stored in a char[256] */
	K_ENDPOINT, /* unix:PATH | tcp:A.B.C.D:PORT, stored in a char[256] */
	K_WORD,  /* one of key_def.words, stored as its index in an int */
	K_FSYNC, /* always | every_ms N, stored as N (0: always) in a uint32_t */
};

#define KF_POW2 0x1u /* value must be a power of two */

struct key_def {
	const char *section;
	const char *key;
	enum key_kind kind;
	size_t off;
	uint64_t min, max;
	unsigned int flags;
	const char *const *words; /* K_WORD: the values, NULL-terminated */
};

static const char *const accept_drop[] = { "accept", "drop", NULL };
static const char *const none_log[] = { "none", "log", NULL };

#define F(field) offsetof(struct cat_config, field)

static const struct key_def keys[] = {
	{ "node", "id",       K_U32,  F(node_id),  1, 65535, 0 },
	{ "node", "ip",       K_IP,   F(ip),       0, 0, 0 },
	{ "node", "udp_port", K_U16,  F(udp_port), 1, 65535, 0 },
	{ "node", "port_id",  K_U16,  F(port_id),  0, 1023, 0 },
	{ "node", "mtu",      K_U32,  F(mtu),      576, 9000, 0 },
	{ "node", "idle",     K_IDLE, F(idle),     0, 0, 0 },
	{ "node", "steering", K_STEER, F(steering), 0, 0, 0 },
	{ "node", "udp_checksum_zero", K_WORD, F(udp_zero_drop), 0, 0, 0, accept_drop },
	{ "node", "durability", K_WORD, F(durability), 0, 0, 0, none_log },
	{ "node", "fsync",      K_FSYNC, F(fsync_ms), 1, 60000, 0 },
	{ "node", "log_dir",    K_PATH, F(log_dir),   0, 0, 0 },
	{ "node", "log_snapshot_mb",   K_U64, F(log_snapshot_mb),   0, 1048576, 0 },
	{ "node", "log_snapshot_rate", K_U64, F(log_snapshot_rate), 0, 100000000000ull, 0 },
	{ "store", "slots",        K_U32, F(slots),        1, 65536, KF_POW2 },
	{ "store", "mem_limit_mb", K_U64, F(mem_limit_mb), 1, 1048576, 0 },
	{ "dataplane", "burst",         K_U32, F(burst),         1, 512, 0 },
	{ "dataplane", "rx_desc",       K_U32, F(rx_desc),       64, 16384, 0 },
	{ "dataplane", "tx_desc",       K_U32, F(tx_desc),       64, 16384, 0 },
	{ "dataplane", "mbufs",         K_U32, F(mbufs),         1023, 4194303, 0 },
	{ "dataplane", "handover_ring", K_U32, F(handover_ring), 64, 65536, KF_POW2 },
	{ "cluster", "map", K_PATH, F(map_path), 0, 0, 0 },
	{ "control", "connect",      K_ENDPOINT, F(control_connect), 0, 0, 0 },
	{ "control", "heartbeat_ms", K_U32,      F(heartbeat_ms),    10, 60000, 0 },
	{ "control", "secret_file",  K_PATH,     F(control_secret_file), 0, 0, 0 },
	{ "replication", "inflight",      K_U32, F(repl_inflight),      16, 1048576, 0 },
	{ "replication", "dedup",         K_U32, F(repl_dedup),         16, 16777216, 0 },
	{ "replication", "rto_us",        K_U32, F(repl_rto_us),        100, 10000000, 0 },
	{ "replication", "suspect_after", K_U32, F(repl_suspect_after), 1, 100000, 0 },
	{ "replication", "transfer_rate", K_U64, F(repl_xfer_rate), 0, 100000000000ull, 0 },
	{ "replication", "transfer_slots", K_U32, F(repl_xfer_slots), 1, 8, 0 },
	{ "faults", "seed",           K_U64, F(faults.seed),           0, UINT64_MAX, 0 },
	{ "faults", "delay_us",       K_U32, F(faults.delay_us),       0, 1000000, 0 },
	{ "faults", "jitter_us",      K_U32, F(faults.jitter_us),      0, 1000000, 0 },
	{ "faults", "reorder_pct",    K_U32, F(faults.reorder_pct),    0, 100, 0 },
	{ "faults", "drop_pct",       K_U32, F(faults.drop_pct),       0, 100, 0 },
	{ "faults", "client_replies", K_U32, F(faults.client_replies), 0, 1, 0 },
	{ "faults", "corrupt_fwd_to", K_U32, F(faults.corrupt_fwd_to), 0, 65535, 0 },
	{ "faults", "log_writer_pause", K_U32, F(faults.log_writer_pause), 0, 1, 0 },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {
	"node", "store", "dataplane", "cluster", "control", "replication", "faults",
};
#define SECTION_LIST "node store dataplane cluster control replication faults"
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

void cat_config_defaults(struct cat_config *c)
{
	memset(c, 0, sizeof(*c));
	c->node_id = 1;
	c->ip = 0;
	c->udp_port = 7470;
	c->port_id = 0;
	c->mtu = 1500;
	c->idle = CAT_IDLE_BUSY;
	c->steering = CAT_STEER_WANT_AUTO;
	c->slots = 0; /* resolved by main: the map's, else CAT_CONFIG_SLOTS_DEFAULT */
	c->mem_limit_mb = 1024;
	c->log_snapshot_mb = 256;
	c->log_snapshot_rate = 64000000; /* 64 MB/s of snapshot */
	c->burst = 32;
	c->rx_desc = 1024;
	c->tx_desc = 1024;
	c->mbufs = 8191;
	c->handover_ring = 1024;
	c->heartbeat_ms = 200;
	c->repl_inflight = 4096;
	c->repl_dedup = 65536;
	c->repl_rto_us = 5000;
	c->repl_suspect_after = 20;
	c->repl_xfer_rate = 100000000; /* 100 MB/s per worker */
	c->repl_xfer_slots = 2;
	c->faults.seed = 1;
}

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static const struct key_def *find_key(const char *section, const char *key,
				      int *section_known)
{
	size_t i;

	*section_known = 0;
	for (i = 0; i < N_SECTIONS; i++)
		if (strcmp(sections[i], section) == 0)
			*section_known = 1;
	for (i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* "id ip udp_port ..." for the unknown-key message. */
static void known_keys(const char *section, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < N_KEYS && used < len; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? " " : "", keys[i].key);
	}
}

/* Every file path and endpoint field is a char[256], as map_path. */
#define STR_FIELD_LEN sizeof(((struct cat_config *)0)->map_path)

/* One key = value being set: where it came from (for messages) and the
 * field it goes to. */
struct setting {
	const struct key_def *d;
	char *field;
	const char *origin, *section, *key, *value;
};

/* The unknown-section or unknown-key message, with what is known. */
static int unknown_key(const char *origin, const char *section, const char *key,
		       int section_known, char *err, size_t errlen)
{
	char known[160];

	if (!section_known) {
		snprintf(err, errlen,
			 "%s: [%s]: unknown section (known: " SECTION_LIST ")",
			 origin, section);
		return -ENOENT;
	}
	known_keys(section, known, sizeof(known));
	snprintf(err, errlen, "%s: [%s] %s: unknown key (known: %s)",
		 origin, section, key, known);
	return -ENOENT;
}

static int set_ip(const struct setting *s, char *err, size_t errlen)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, s->value, &a) != 1) {
		snprintf(err, errlen, "%s: [%s] %s: not an IPv4 address: \"%s\"",
			 s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	h = ntohl(a.s_addr);
	/* The node answers ARP for it: it must be a unicast host address. */
	if (h == 0 || h >= 0xE0000000u || (h >> 24) == 127) {
		snprintf(err, errlen,
			 "%s: [%s] %s: not a unicast IPv4 host address: \"%s\"",
			 s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	memcpy(s->field, &h, sizeof(h));
	return 0;
}

static int set_path(const struct setting *s, char *err, size_t errlen)
{
	size_t len = strlen(s->value);

	if (len == 0 || len >= STR_FIELD_LEN) {
		snprintf(err, errlen, "%s: [%s] %s: expected a path of 1..%zu "
			 "characters: \"%s\"", s->origin, s->section, s->key,
			 STR_FIELD_LEN - 1, s->value);
		return -EINVAL;
	}
	memcpy(s->field, s->value, len + 1);
	return 0;
}

static int set_endpoint(const struct setting *s, char *err, size_t errlen)
{
	struct cat_endpoint ep;
	char why[160];
	int too_long = strlen(s->value) >= STR_FIELD_LEN;

	if (too_long || cat_endpoint_parse(s->value, &ep, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: [%s] %s: %s: \"%s\"", s->origin, s->section,
			 s->key, too_long ? "too long" : why, s->value);
		return -EINVAL;
	}
	memcpy(s->field, s->value, strlen(s->value) + 1);
	return 0;
}

/* fsync = always | every_ms N: how often the log writer syncs. */
static int set_fsync(const struct setting *s, char *err, size_t errlen)
{
	unsigned long long n;
	uint32_t v;
	char *end;

	if (strcmp(s->value, "always") == 0) {
		v = 0;
	} else if (strncmp(s->value, "every_ms", 8) == 0 && (s->value[8] == ' ' ||
							 s->value[8] == '\t')) {
		errno = 0;
		n = strtoull(s->value + 9, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || end == s->value + 9 || *end != '\0' || n < s->d->min ||
		    n > s->d->max) {
			snprintf(err, errlen, "%s: [%s] %s: every_ms takes %" PRIu64 "..%"
				 PRIu64 " milliseconds: \"%s\"", s->origin, s->section,
				 s->key, s->d->min, s->d->max, s->value);
			return -EINVAL;
		}
		v = (uint32_t)n;
	} else {
		snprintf(err, errlen, "%s: [%s] %s: expected always or every_ms N: \"%s\"",
			 s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	memcpy(s->field, &v, sizeof(v));
	return 0;
}

static int set_idle(const struct setting *s, char *err, size_t errlen)
{
	enum cat_idle_mode m;

	if (strcmp(s->value, "busy") == 0) {
		m = CAT_IDLE_BUSY;
	} else if (strcmp(s->value, "backoff") == 0) {
		m = CAT_IDLE_BACKOFF;
	} else if (strcmp(s->value, "interrupt") == 0) {
		m = CAT_IDLE_INTERRUPT;
	} else {
		snprintf(err, errlen, "%s: [%s] %s: expected busy, backoff or interrupt: \"%s\"",
			 s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	memcpy(s->field, &m, sizeof(m));
	return 0;
}

static int set_word(const struct setting *s, char *err, size_t errlen)
{
	const char *const *words = s->d->words;
	char list[128] = "";

	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(s->value, words[i]) == 0) {
			memcpy(s->field, &i, sizeof(i));
			return 0;
		}
	for (int i = 0; words[i] != NULL; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i == 0 ? "" : words[i + 1] ? ", " : " or ",
			 words[i]);
	snprintf(err, errlen, "%s: [%s] %s: expected %s: \"%s\"",
		 s->origin, s->section, s->key, list, s->value);
	return -EINVAL;
}

static int set_steer(const struct setting *s, char *err, size_t errlen)
{
	enum cat_steer_want sw;

	if (cat_steer_want_parse(s->value, &sw) < 0) {
		snprintf(err, errlen, "%s: [%s] %s: expected auto, flow, rss or "
			 "software: \"%s\"", s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	memcpy(s->field, &sw, sizeof(sw));
	return 0;
}

/* K_U16, K_U32, K_U64: strict decimal within the key's range (and a
 * power of two where it says so), stored at the field's width. */
static int set_number(const struct setting *s, char *err, size_t errlen)
{
	const struct key_def *d = s->d;
	uint64_t v = 0;

	if (parse_u64(s->value, &v) < 0) {
		snprintf(err, errlen, "%s: [%s] %s: not a decimal number: \"%s\"",
			 s->origin, s->section, s->key, s->value);
		return -EINVAL;
	}
	if (v < d->min || v > d->max) {
		snprintf(err, errlen, "%s: [%s] %s: out of range %" PRIu64 "..%" PRIu64
			 ": \"%s\"", s->origin, s->section, s->key, d->min, d->max,
			 s->value);
		return -EINVAL;
	}
	if ((d->flags & KF_POW2) && (v & (v - 1)) != 0) {
		snprintf(err, errlen, "%s: [%s] %s: not a power of two in %" PRIu64
			 "..%" PRIu64 ": \"%s\"", s->origin, s->section, s->key,
			 d->min, d->max, s->value);
		return -EINVAL;
	}
	switch (d->kind) {
	case K_U16: {
		uint16_t x = (uint16_t)v;

		memcpy(s->field, &x, sizeof(x));
		break;
	}
	case K_U32: {
		uint32_t x = (uint32_t)v;

		memcpy(s->field, &x, sizeof(x));
		break;
	}
	default:
		memcpy(s->field, &v, sizeof(v));
		break;
	}
	return 0;
}

int cat_config_set(struct cat_config *c, const char *origin,
		   const char *section, const char *key, const char *value,
		   char *err, size_t errlen)
{
	struct setting s = {
		.origin = origin, .section = section, .key = key, .value = value,
	};
	int section_known;

	s.d = find_key(section, key, &section_known);
	if (s.d == NULL)
		return unknown_key(origin, section, key, section_known, err, errlen);
	s.field = (char *)c + s.d->off;

	switch (s.d->kind) {
	case K_IP:       return set_ip(&s, err, errlen);
	case K_PATH:     return set_path(&s, err, errlen);
	case K_ENDPOINT: return set_endpoint(&s, err, errlen);
	case K_IDLE:     return set_idle(&s, err, errlen);
	case K_FSYNC:    return set_fsync(&s, err, errlen);
	case K_WORD:     return set_word(&s, err, errlen);
	case K_STEER:    return set_steer(&s, err, errlen);
	default:         return set_number(&s, err, errlen);
	}
}

int cat_config_load(struct cat_config *c, const char *path,
		    char *err, size_t errlen)
{
	struct rte_cfgfile_entry *entries = NULL;
	uint8_t seen[N_KEYS] = { 0 };
	struct rte_cfgfile *cfg;
	char origin[300];
	int n_sec, i, rc = 0;
	FILE *f;

	snprintf(origin, sizeof(origin), "config %s", path);
	snprintf(c->path, sizeof(c->path), "%s", path);

	/* rte_cfgfile_load says only "failed": find out why first. */
	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", origin, strerror(errno));
		return rc;
	}
	fclose(f);

	/* Empty values load, so that "ip =" is reported by key, not as a
	 * syntax error somewhere in the file. */
	cfg = rte_cfgfile_load(path, CFG_FLAG_EMPTY_VALUES);
	if (cfg == NULL) {
		snprintf(err, errlen,
			 "%s: syntax error (expected [section] headers and key = value lines, "
			 "names < %d and values < %d characters)",
			 origin, CFG_NAME_LEN, CFG_VALUE_LEN);
		return -EINVAL;
	}

	n_sec = rte_cfgfile_num_sections(cfg, "", 0);
	for (i = 0; i < n_sec && rc == 0; i++) {
		char secname[CFG_NAME_LEN];
		int n_ent, j;

		n_ent = rte_cfgfile_section_num_entries_by_index(cfg, secname, i);
		if (n_ent < 0) {
			snprintf(err, errlen, "%s: cannot read section %d", origin, i);
			rc = -EINVAL;
			break;
		}
		free(entries);
		entries = calloc((size_t)n_ent + 1, sizeof(*entries));
		if (entries == NULL) {
			snprintf(err, errlen, "%s: out of memory", origin);
			rc = -ENOMEM;
			break;
		}
		n_ent = rte_cfgfile_section_entries_by_index(cfg, i, secname,
							      entries, n_ent);
		if (n_ent < 0) {
			snprintf(err, errlen, "%s: cannot read section %d", origin, i);
			rc = -EINVAL;
			break;
		}
		if (n_ent == 0) {
			int known;

			/* An empty unknown section is still a typo. */
			(void)find_key(secname, "", &known);
			if (!known) {
				snprintf(err, errlen,
					 "%s: [%s]: unknown section (known: " SECTION_LIST ")",
					 origin, secname);
				rc = -ENOENT;
			}
			continue;
		}
		for (j = 0; j < n_ent; j++) {
			const struct key_def *d;
			int known;

			d = find_key(secname, entries[j].name, &known);
			if (d != NULL) {
				size_t idx = (size_t)(d - keys);

				if (seen[idx]) {
					snprintf(err, errlen,
						 "%s: [%s] %s: set twice (second value \"%s\")",
						 origin, secname, entries[j].name,
						 entries[j].value);
					rc = -EINVAL;
					break;
				}
				seen[idx] = 1;
			}
			rc = cat_config_set(c, origin, secname, entries[j].name,
					    entries[j].value, err, errlen);
			if (rc < 0)
				break;
		}
	}
	free(entries);
	rte_cfgfile_close(cfg);
	return rc;
}

const char *cat_config_usage(void)
{
	return "usage: catena-node [EAL args] -- --config FILE "
	       "[--set SECTION.KEY=VALUE]... [--ip A.B.C.D] [--idle busy|backoff|interrupt]";
}

#define MAX_OVERRIDES 64

/* --set, --ip or --idle, kept until the file is loaded. */
struct override {
	char kind;               /* 's', 'i' or 'd': the option */
	const char *arg;
};

/*
 * The options, before anything is applied: the config file's path and the
 * overrides in command-line order. 1 for --help (usage in err), 0, or
 * -errno with the reason in err.
 */
static int parse_args(int argc, char **argv, const char **path,
		      struct override *ov, int *n_ov, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set",    required_argument, NULL, 's' },
		{ "ip",     required_argument, NULL, 'i' },
		{ "idle",   required_argument, NULL, 'd' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*path = optarg;
			break;
		case 's':
		case 'i':
		case 'd':
			if (*n_ov == MAX_OVERRIDES) {
				snprintf(err, errlen, "more than %d overrides", MAX_OVERRIDES);
				return -E2BIG;
			}
			ov[*n_ov].kind = (char)opt;
			ov[*n_ov].arg = optarg;
			(*n_ov)++;
			break;
		case 'h':
			snprintf(err, errlen, "%s", cat_config_usage());
			return 1;
		default:
			if (optopt != 0)
				snprintf(err, errlen, "option -%c: unknown or missing its value; %s",
					 optopt, cat_config_usage());
			else
				snprintf(err, errlen, "option %s: unknown or missing its value; %s",
					 argv[optind - 1], cat_config_usage());
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\"; %s", argv[optind],
			 cat_config_usage());
		return -EINVAL;
	}
	if (*path == NULL) {
		snprintf(err, errlen, "--config FILE is required; %s", cat_config_usage());
		return -EINVAL;
	}
	return 0;
}

/* --set SECTION.KEY=VALUE, as if the file had said it. */
static int apply_set(struct cat_config *c, const char *a, char *err, size_t errlen)
{
	char sec[64], key[64];
	const char *dot = strchr(a, '.');
	const char *eq = strchr(a, '=');

	if (dot == NULL || eq == NULL || dot > eq || dot == a ||
	    eq == dot + 1 || (size_t)(dot - a) >= sizeof(sec) ||
	    (size_t)(eq - dot - 1) >= sizeof(key)) {
		snprintf(err, errlen, "--set \"%s\": expected SECTION.KEY=VALUE", a);
		return -EINVAL;
	}
	memcpy(sec, a, (size_t)(dot - a));
	sec[dot - a] = '\0';
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = '\0';
	return cat_config_set(c, "--set", sec, key, eq + 1, err, errlen);
}

/* What no file or override may leave out or too small. */
static int check_required(const struct cat_config *c, const char *path,
			  char *err, size_t errlen)
{
	if (c->ip == 0) {
		snprintf(err, errlen, "config %s: [node] ip: required (or pass --ip)", path);
		return -EINVAL;
	}
	if (c->mtu < 28u + 40u + 250u) {
		/* Unreachable with the 576 minimum; kept as the reason for it. */
		snprintf(err, errlen, "config %s: [node] mtu: too small for a maximal key", path);
		return -EINVAL;
	}
	return 0;
}

int cat_config_from_args(struct cat_config *c, int argc, char **argv,
			 char *err, size_t errlen)
{
	/* Overrides are applied after the file whatever their position, in
	 * command-line order, so the last one wins. */
	struct override ov[MAX_OVERRIDES];
	const char *path = NULL;
	int n_ov = 0, i, rc;

	cat_config_defaults(c);
	rc = parse_args(argc, argv, &path, ov, &n_ov, err, errlen);
	if (rc != 0)
		return rc;
	rc = cat_config_load(c, path, err, errlen);
	if (rc < 0)
		return rc;

	for (i = 0; i < n_ov; i++) {
		const char *a = ov[i].arg;

		if (ov[i].kind == 'i')
			rc = cat_config_set(c, "--ip", "node", "ip", a, err, errlen);
		else if (ov[i].kind == 'd')
			rc = cat_config_set(c, "--idle", "node", "idle", a, err, errlen);
		else
			rc = apply_set(c, a, err, errlen);
		if (rc < 0)
			return rc;
	}
	return check_required(c, path, err, errlen);
}
