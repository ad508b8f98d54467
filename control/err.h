/*
 * The one-line reason a control-plane function gives with a negative
 * errno: every planner, store and config function writes it the same way
 * (control/err.c).
 */
#ifndef CAT_CTL_ERR_H
#define CAT_CTL_ERR_H

#include <stddef.h>

/** printf into err (cap errlen, NUL-terminated); nothing if err is NULL
 * or errlen 0. */
void cat_ctl_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* CAT_CTL_ERR_H */
