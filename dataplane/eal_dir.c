/*
 * catena EAL housekeeping: the runtime directory cleanup shared by
 * catena-node and catena-bench (one copy, not two).
 */
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "dataplane/eal_dir.h"

void cat_eal_remove_runtime_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;

	if (dir[0] == '\0')
		return;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[1024];

		if (de->d_type != DT_REG && de->d_type != DT_SOCK)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}
