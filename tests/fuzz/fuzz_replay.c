/*
 * Corpus replay for the fuzz targets: feeds every file named on the command
 * line (directories: every regular file in them, in name order) through
 * LLVMFuzzerTestOneInput once, so the seed corpus and any saved crash run
 * in ordinary CI with gcc and no libFuzzer. A broken invariant aborts
 * inside the target; an empty or unreadable corpus is a failure too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; returns 0, or -1 if it could not be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* An exact-size heap copy (never a larger buffer, never the stdio
	 * buffer), so a sanitizer build sees any read past the input. */
	buf = malloc(len ? (size_t)len : 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "fuzz-replay: %s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int skip_entry(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Runs every regular file in dir; returns files run, or -1. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	long done = 0;
	int n = scandir(dir, &names, skip_entry, alphasort);

	if (n < 0) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (replay_file(path) != 0)
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fuzz-replay CORPUS_DIR_OR_FILE...\n");
		return 64;
	}
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		long n;

		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "fuzz-replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		if (S_ISDIR(sb.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "fuzz-replay: no inputs found\n");
		return 1;
	}
	printf("fuzz-replay: %ld inputs, no failure\n", total);
	return 0;
}
