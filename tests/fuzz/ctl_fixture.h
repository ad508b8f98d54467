/*
 * The catena-control fixture shared by the control-plane fuzz targets:
 * see ctl_fixture.c.
 */
#ifndef CAT_FUZZ_CTL_FIXTURE_H
#define CAT_FUZZ_CTL_FIXTURE_H

#include "control/ctl.h"

extern const char fx_map_text[];
extern int fx_store_fails;

/* Print what broke and abort: the fuzzer keeps the input. */
void fx_fail(const char *what, const char *detail) __attribute__((noreturn));
struct cat_map *fx_parse(const char *text, size_t len);
void fx_setup(struct cat_ctl *c);
void fx_teardown(struct cat_ctl *c);
/* The map's canonical text (malloc'ed). */
char *fx_format(const struct cat_map *m);
/* The map changed since it was at `epoch`; c now has `after`: a higher
 * epoch, and a text that parses and formats back to itself. */
void fx_check_changed_map(const struct cat_ctl *c, uint32_t epoch,
			  const char *after);

#endif /* CAT_FUZZ_CTL_FIXTURE_H */
