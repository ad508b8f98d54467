/*
 * The management commands as data (control/mgmt_cmds.def): shared by
 * catena-control and catenactl, which share nothing else, so this header
 * holds the table itself and needs no library. Each file that includes it
 * gets its own copy of the (small, constant) table.
 */
#ifndef CAT_MGMT_CMDS_H
#define CAT_MGMT_CMDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum cat_mgmt_type {
	CAT_MGMT_INT,   /* a JSON integer */
	CAT_MGMT_INTS,  /* an array of JSON integers */
	CAT_MGMT_IPV4,  /* a string: dotted-quad IPv4 address */
	CAT_MGMT_MAC,   /* a string: aa:bb:cc:dd:ee:ff */
	CAT_MGMT_BOOL,  /* true or false; on catenactl's line a [--flag] */
	CAT_MGMT_STR,   /* a string (a FILE path: catenactl makes it absolute) */
};

enum cat_mgmt_need {
	CAT_MGMT_OPT,   /* may be absent */
	CAT_MGMT_REQ,   /* catena-control refuses a request without it */
};

#define CAT_MGMT_ARGS_MAX 5u

struct cat_mgmt_arg {
	const char *name;         /* NULL: past the last argument */
	enum cat_mgmt_type type;
	enum cat_mgmt_need need;
	const char *operand;      /* catenactl's operand; NULL: none */
	long long lo, hi;         /* INT, INTS: what catenactl accepts */
};

struct cat_mgmt_cmd {
	const char *wire;         /* the request's "cmd" */
	const char *syntax;       /* catenactl's command line */
	const char *help;
	const char *reply;        /* result members shown by name, '|'-separated */
	struct cat_mgmt_arg args[CAT_MGMT_ARGS_MAX];
};

enum cat_mgmt_id {
#define CAT_MGMT_CMD(id, ...) CAT_MGMT_##id,
#include "control/mgmt_cmds.def"
#undef CAT_MGMT_CMD
	CAT_MGMT_N_CMDS
};

#define CAT_MGMT_ARGS(...) { __VA_ARGS__ }
#define CAT_MGMT_ARG(name, type, need, operand, lo, hi) \
	{ name, CAT_MGMT_##type, CAT_MGMT_##need, operand, lo, hi }
#define CAT_MGMT_CMD(id, wire, run, syntax, help, args, reply) \
	[CAT_MGMT_##id] = { wire, syntax, help, reply, args },
static const struct cat_mgmt_cmd cat_mgmt_cmds[CAT_MGMT_N_CMDS] = {
#include "control/mgmt_cmds.def"
};
#undef CAT_MGMT_CMD

/** The first row whose wire name is name, or -1. */
static inline int cat_mgmt_find(const char *name)
{
	for (int i = 0; i < (int)CAT_MGMT_N_CMDS; i++)
		if (strcmp(cat_mgmt_cmds[i].wire, name) == 0)
			return i;
	return -1;
}

/**
 * Whether row i is the first with its wire name: walking the rows that
 * are, one meets every wire command once.
 */
static inline int cat_mgmt_first_of_wire(int i)
{
	return cat_mgmt_find(cat_mgmt_cmds[i].wire) == i;
}

/**
 * The argument called name of wire command wire, in whichever row with
 * that wire name lists it (node_add takes node add's and node join's), or
 * NULL: catena-control refuses requests with arguments no row lists.
 */
static inline const struct cat_mgmt_arg *cat_mgmt_wire_arg(const char *wire,
							    const char *name)
{
	for (unsigned int i = 0; i < CAT_MGMT_N_CMDS; i++) {
		if (strcmp(cat_mgmt_cmds[i].wire, wire) != 0)
			continue;
		for (unsigned int k = 0; k < CAT_MGMT_ARGS_MAX &&
		     cat_mgmt_cmds[i].args[k].name != NULL; k++)
			if (strcmp(cat_mgmt_cmds[i].args[k].name, name) == 0)
				return &cat_mgmt_cmds[i].args[k];
	}
	return NULL;
}

#endif /* CAT_MGMT_CMDS_H */
