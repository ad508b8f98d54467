/*
 * catena-control file store. map.json is replaced, never edited in place:
 * a crash at any point leaves either the old file or the new one, each
 * complete. The rename is made durable by an fsync of the directory,
 * without which a power loss could bring the old map back after nodes
 * were told about the new one. Never prints.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "control/err.h"
#include "control/store_file.h"

#define STORE_FILE_MAX (64u << 20) /* refuse to read a map.json over 64 MiB */

static int mkdir_p(const char *dir)
{
	char p[CAT_CTL_STORE_PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST)
			return -errno;
		p[i] = dir[i];
	}
	return 0;
}

int cat_ctl_store_init(struct cat_ctl_store *s, const char *dir, char *err,
		       size_t errlen)
{
	struct stat st;
	int rc;

	char lock[CAT_CTL_STORE_PATH_MAX + 16];

	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	if (strlen(dir) >= sizeof(s->dir)) {
		cat_ctl_errf(err, errlen, "state_dir: path too long");
		return -ENAMETOOLONG;
	}
	strcpy(s->dir, dir);
	snprintf(s->path, sizeof(s->path), "%s/map.json", dir);
	snprintf(s->tmp, sizeof(s->tmp), "%s/map.json.tmp", dir);
	rc = mkdir_p(dir);
	if (rc < 0) {
		cat_ctl_errf(err, errlen, "state_dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cat_ctl_errf(err, errlen, "state_dir %s: not a directory", dir);
		return -ENOTDIR;
	}
	snprintf(lock, sizeof(lock), "%s/map.lock", dir);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->lock_fd < 0) {
		rc = -errno;
		cat_ctl_errf(err, errlen, "%s: %s", lock, strerror(errno));
		return rc;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		cat_ctl_errf(err, errlen, "state_dir %s: %s", dir, rc == -EBUSY ?
			"in use by another catena-control (map.lock is held)" :
			strerror(errno));
		close(s->lock_fd);
		s->lock_fd = -1;
		return rc;
	}
	return 0;
}

int cat_ctl_store_init_io(struct cat_ctl_store *s, const char *name,
			  cat_ctl_store_get_fn get, cat_ctl_store_put_fn put,
			  void *arg)
{
	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	snprintf(s->path, sizeof(s->path), "%s", name);
	s->io_get = get;
	s->io_put = put;
	s->io_arg = arg;
	return 0;
}

const char *cat_ctl_store_mark_name(enum cat_ctl_mark mark)
{
	switch (mark) {
	case CAT_CTL_MARK_FAILED:
		return "failed";
	case CAT_CTL_MARK_DRAINED:
		return "drained";
	default:
		return NULL;
	}
}

enum cat_ctl_mark cat_ctl_store_mark(const struct cat_ctl_store *s,
				     uint16_t id)
{
	for (uint16_t i = 0; i < s->n_marks; i++)
		if (s->mark_id[i] == id)
			return (enum cat_ctl_mark)s->mark[i];
	return CAT_CTL_MARK_NONE;
}

int cat_ctl_store_set_mark(struct cat_ctl_store *s, uint16_t id,
			   enum cat_ctl_mark mark)
{
	for (uint16_t i = 0; i < s->n_marks; i++) {
		if (s->mark_id[i] != id)
			continue;
		if (mark == CAT_CTL_MARK_NONE) {
			s->n_marks--;
			s->mark_id[i] = s->mark_id[s->n_marks];
			s->mark[i] = s->mark[s->n_marks];
		} else {
			s->mark[i] = (uint8_t)mark;
		}
		return 0;
	}
	if (mark == CAT_CTL_MARK_NONE)
		return 0;
	if (s->n_marks >= CAT_MAP_NODES_MAX)
		return -ENOSPC;
	s->mark_id[s->n_marks] = id;
	s->mark[s->n_marks] = (uint8_t)mark;
	s->n_marks++;
	return 0;
}

uint64_t cat_ctl_store_boot(const struct cat_ctl_store *s, uint16_t id)
{
	for (uint16_t i = 0; i < s->n_boots; i++)
		if (s->boot_id[i] == id)
			return s->boot[i];
	return 0;
}

int cat_ctl_store_set_boot(struct cat_ctl_store *s, uint16_t id, uint64_t boot)
{
	for (uint16_t i = 0; i < s->n_boots; i++) {
		if (s->boot_id[i] != id)
			continue;
		if (s->boot[i] == boot)
			return 0;
		if (boot == 0) {
			s->n_boots--;
			s->boot_id[i] = s->boot_id[s->n_boots];
			s->boot[i] = s->boot[s->n_boots];
		} else {
			s->boot[i] = boot;
		}
		return 1;
	}
	if (boot == 0)
		return 0;
	if (s->n_boots >= CAT_MAP_NODES_MAX)
		return -ENOSPC;
	s->boot_id[s->n_boots] = id;
	s->boot[s->n_boots] = boot;
	s->n_boots++;
	return 1;
}

static int hist_push(struct cat_ctl_store *s, uint32_t epoch, int64_t time,
		     const char *reason)
{
	struct cat_ctl_hist *h;

	if (s->n_hist == s->cap_hist) {
		size_t cap = s->cap_hist ? s->cap_hist * 2 : 16;

		h = realloc(s->hist, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		s->hist = h;
		s->cap_hist = cap;
	}
	h = &s->hist[s->n_hist++];
	h->epoch = epoch;
	h->time = time;
	snprintf(h->reason, sizeof(h->reason), "%s", reason);
	return 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > STORE_FILE_MAX) {
		rc = st.st_size > STORE_FILE_MAX ? -EFBIG : -errno;
		close(fd);
		return rc;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* The document's map history: each entry {"epoch","time","reason"}.
 * 0, -EINVAL with err, or -ENOMEM. */
static int load_history(struct cat_ctl_store *s, json_t *jh, char *err,
			size_t errlen)
{
	json_t *v;
	size_t i;

	json_array_foreach(jh, i, v) {
		json_t *he = json_object_get(v, "epoch");
		json_t *ht = json_object_get(v, "time");
		json_t *hr = json_object_get(v, "reason");

		if (!json_is_integer(he) || !json_is_integer(ht) ||
		    !json_is_string(hr) || json_integer_value(he) < 1 ||
		    json_integer_value(he) > UINT32_MAX) {
			cat_ctl_errf(err, errlen, "%s: history entry %zu malformed",
				     s->path, i);
			return -EINVAL;
		}
		if (hist_push(s, (uint32_t)json_integer_value(he),
			      json_integer_value(ht), json_string_value(hr)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A key of "nodes" or "boots": the id of a node of map, or 0. */
static uint16_t node_key(const struct cat_map *map, const char *key)
{
	char *end;
	unsigned long id = strtoul(key, &end, 10);

	if (*end != '\0' || id < 1 || id > 65535 ||
	    cat_map_node_by_id(map, (uint16_t)id) == NULL)
		return 0;
	return (uint16_t)id;
}

/* "nodes": the operator's and the failure detector's marks by node id. */
static int load_marks(struct cat_ctl_store *s, const struct cat_map *map,
		      json_t *jn, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(jn, key, v) {
		const char *name = json_string_value(v);
		uint16_t id = node_key(map, key);
		enum cat_ctl_mark mk = CAT_CTL_MARK_NONE;

		if (name != NULL && strcmp(name, "failed") == 0)
			mk = CAT_CTL_MARK_FAILED;
		else if (name != NULL && strcmp(name, "drained") == 0)
			mk = CAT_CTL_MARK_DRAINED;
		if (id == 0 || mk == CAT_CTL_MARK_NONE) {
			cat_ctl_errf(err, errlen,
				"%s: \"nodes\": bad entry \"%.20s\" (expected a node of the map: \"failed\" or \"drained\")",
				s->path, key);
			return -EINVAL;
		}
		if (cat_ctl_store_set_mark(s, id, mk) < 0)
			return -EINVAL;
	}
	return 0;
}

/*
 * "boots": each node's process id. Optional (older documents have none)
 * and only a hint for telling restarts apart: an entry that is not a node
 * of the map with a positive id is an error all the same, like a mark's,
 * because the document was then not written by us.
 */
static int load_boots(struct cat_ctl_store *s, const struct cat_map *map,
		      json_t *jb, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (jb != NULL && !json_is_object(jb)) {
		cat_ctl_errf(err, errlen, "%s: \"boots\" is not an object", s->path);
		return -EINVAL;
	}
	json_object_foreach(jb, key, v) {
		uint16_t id = node_key(map, key);

		if (id == 0 || !json_is_integer(v) || json_integer_value(v) < 1) {
			cat_ctl_errf(err, errlen,
				"%s: \"boots\": bad entry \"%.20s\" (expected a node of the map: a positive boot id)",
				s->path, key);
			return -EINVAL;
		}
		if (cat_ctl_store_set_boot(s, id, (uint64_t)json_integer_value(v)) < 0)
			return -EINVAL;
	}
	return 0;
}

/* "reshard": the operator's resharding settings (optional). */
static int load_reshard(struct cat_ctl_store *s, json_t *jr, char *err,
			size_t errlen)
{
	json_t *jp = json_object_get(jr, "paused");
	json_t *jrb = json_object_get(jr, "rebalance");
	json_t *jrt = json_object_get(jr, "rate");

	if (jr == NULL)
		return 0;
	if (!json_is_object(jr) || !json_is_boolean(jp) ||
	    !json_is_boolean(jrb) ||
	    (jrt != NULL && (!json_is_integer(jrt) ||
			     json_integer_value(jrt) < 0))) {
		cat_ctl_errf(err, errlen,
			"%s: \"reshard\": expected {\"paused\":bool,\"rebalance\":bool[,\"rate\":bytes/s]}",
			s->path);
		return -EINVAL;
	}
	s->reshard.paused = json_is_true(jp);
	s->reshard.rebalance = json_is_true(jrb);
	s->reshard.rate_set = jrt != NULL;
	s->reshard.rate = jrt != NULL ? (uint64_t)json_integer_value(jrt) : 0;
	return 0;
}

/* The document's top level and its map; the map's epoch must be the
 * document's. */
static int load_map(struct cat_ctl_store *s, json_t *doc, struct cat_map **map,
		    char *err, size_t errlen)
{
	json_t *je = json_object_get(doc, "epoch");
	json_t *jt = json_object_get(doc, "text");
	json_t *jh = json_object_get(doc, "history");
	json_t *jn = json_object_get(doc, "nodes");
	char perr[256];
	int rc;

	if (!json_is_integer(je) || json_integer_value(je) < 1 ||
	    json_integer_value(je) > UINT32_MAX) {
		cat_ctl_errf(err, errlen, "%s: \"epoch\" missing or not 1..4294967295",
			     s->path);
		return -EINVAL;
	}
	if (!json_is_string(jt)) {
		cat_ctl_errf(err, errlen, "%s: \"text\" missing or not a string", s->path);
		return -EINVAL;
	}
	if (jh != NULL && !json_is_array(jh)) {
		cat_ctl_errf(err, errlen, "%s: \"history\" is not an array", s->path);
		return -EINVAL;
	}
	if (jn != NULL && !json_is_object(jn)) {
		cat_ctl_errf(err, errlen, "%s: \"nodes\" is not an object", s->path);
		return -EINVAL;
	}
	rc = cat_map_parse(json_string_value(jt), json_string_length(jt), map,
			   perr, sizeof(perr));
	if (rc < 0) {
		cat_ctl_errf(err, errlen, "%s: stored map: %s", s->path,
			     rc == -ENOMEM ? "out of memory" : perr);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	if ((*map)->epoch != (uint32_t)json_integer_value(je)) {
		cat_ctl_errf(err, errlen, "%s: epoch %lld but the stored map says epoch %u",
			     s->path, (long long)json_integer_value(je), (*map)->epoch);
		cat_map_free(*map);
		*map = NULL;
		return -EINVAL;
	}
	return 0;
}

/* "link_seed": 64 hex digits (optional: a store made without a secret). */
static int load_seed(struct cat_ctl_store *s, json_t *js, char *err, size_t errlen)
{
	const char *h = json_string_value(js);

	if (js == NULL)
		return 0;
	if (h == NULL || json_string_length(js) != 2 * sizeof(s->link_seed)) {
		cat_ctl_errf(err, errlen, "%s: \"link_seed\": expected 64 hex digits",
			     s->path);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(s->link_seed); i++) {
		unsigned int b;

		if (!isxdigit((unsigned char)h[2 * i]) ||
		    !isxdigit((unsigned char)h[2 * i + 1]) ||
		    sscanf(h + 2 * i, "%2x", &b) != 1) {
			cat_ctl_errf(err, errlen, "%s: \"link_seed\": expected 64 hex digits",
				     s->path);
			return -EINVAL;
		}
		s->link_seed[i] = (uint8_t)b;
	}
	s->link_seed_set = 1;
	return 0;
}

static int load_doc(struct cat_ctl_store *s, json_t *doc, struct cat_map **map,
		    char *err, size_t errlen)
{
	int rc = load_map(s, doc, map, err, errlen);

	if (rc < 0)
		return rc;
	if ((rc = load_history(s, json_object_get(doc, "history"), err, errlen)) < 0 ||
	    (rc = load_marks(s, *map, json_object_get(doc, "nodes"), err, errlen)) < 0 ||
	    (rc = load_boots(s, *map, json_object_get(doc, "boots"), err, errlen)) < 0 ||
	    (rc = load_reshard(s, json_object_get(doc, "reshard"), err, errlen)) < 0 ||
	    (rc = load_seed(s, json_object_get(doc, "link_seed"), err, errlen)) < 0) {
		cat_map_free(*map);
		*map = NULL;
		s->n_hist = 0;
		s->n_marks = 0;
		s->n_boots = 0;
		memset(&s->reshard, 0, sizeof(s->reshard));
		return rc;
	}
	s->epoch = (*map)->epoch;
	return 0;
}

int cat_ctl_store_load(struct cat_ctl_store *s, struct cat_map **map,
		       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*map = NULL;
	if (s->io_get != NULL) {
		rc = s->io_get(s->io_arg, &buf, &len, err, errlen);
		if (rc < 0)
			return rc;
	} else {
		rc = read_all(s->path, &buf, &len);
	}
	if (rc == -ENOENT)
		return rc;
	if (rc < 0) {
		cat_ctl_errf(err, errlen, "%s: %s", s->path, strerror(-rc));
		return rc;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (doc == NULL || !json_is_object(doc)) {
		cat_ctl_errf(err, errlen, "%s: not a JSON object%s%s", s->path,
			doc == NULL ? ": " : "", doc == NULL ? jerr.text : "");
		json_decref(doc);
		return -EINVAL;
	}
	s->n_hist = 0;
	s->n_marks = 0;
	s->n_boots = 0;
	memset(&s->reshard, 0, sizeof(s->reshard));
	memset(s->link_seed, 0, sizeof(s->link_seed));
	s->link_seed_set = 0;
	rc = load_doc(s, doc, map, err, errlen);
	json_decref(doc);
	return rc;
}

static json_t *build_doc(const struct cat_ctl_store *s, const char *text,
			 uint32_t epoch)
{
	json_t *doc = json_object(), *nodes, *hist;
	int bad = 0;

	if (doc == NULL)
		return NULL;
	/* Each set_new takes its value, even when it fails (NULL included),
	 * so doc owns everything as soon as it is added. */
	nodes = json_object();
	hist = json_array();
	bad |= json_object_set_new(doc, "epoch", json_integer(epoch));
	bad |= json_object_set_new(doc, "text", json_string(text));
	bad |= json_object_set_new(doc, "nodes", nodes);
	bad |= json_object_set_new(doc, "history", hist);
	for (uint16_t i = 0; i < s->n_marks && !bad; i++) {
		char key[8];

		snprintf(key, sizeof(key), "%u", s->mark_id[i]);
		bad |= json_object_set_new(nodes, key, json_string(
				cat_ctl_store_mark_name(s->mark[i])));
	}
	if ((s->reshard.paused || s->reshard.rebalance || s->reshard.rate_set) &&
	    !bad) {
		json_t *r = json_pack("{s:b,s:b}", "paused", s->reshard.paused,
				      "rebalance", s->reshard.rebalance);

		if (r != NULL && s->reshard.rate_set)
			bad |= json_object_set_new(r, "rate",
				json_integer((json_int_t)s->reshard.rate));
		bad |= json_object_set_new(doc, "reshard", r);
	}
	if (s->link_seed_set && !bad) {
		char hex[2 * sizeof(s->link_seed) + 1];

		for (size_t i = 0; i < sizeof(s->link_seed); i++)
			snprintf(hex + 2 * i, 3, "%02x", s->link_seed[i]);
		bad |= json_object_set_new(doc, "link_seed", json_string(hex));
	}
	if (s->n_boots > 0 && !bad) {
		json_t *boots = json_object();

		bad |= json_object_set_new(doc, "boots", boots);
		for (uint16_t i = 0; i < s->n_boots && !bad; i++) {
			char key[8];

			snprintf(key, sizeof(key), "%u", s->boot_id[i]);
			bad |= json_object_set_new(boots, key,
				json_integer((json_int_t)s->boot[i]));
		}
	}
	for (size_t i = 0; i < s->n_hist && !bad; i++)
		bad |= json_array_append_new(hist, json_pack("{s:I,s:I,s:s}",
				"epoch", (json_int_t)s->hist[i].epoch,
				"time", (json_int_t)s->hist[i].time,
				"reason", s->hist[i].reason));
	if (bad) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int write_durable(const struct cat_ctl_store *s, const char *data,
			 size_t len, char *err, size_t errlen)
{
	const char *what = "open";
	size_t done = 0;
	int fd, dfd, rc = 0;

	/* The link seed makes every link key: for the owner only. */
	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  s->link_seed_set ? 0600 : 0640);
	if (fd < 0)
		goto fail_errno;
	what = "write";
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			close(fd);
			goto fail;
		}
		done += (size_t)n;
	}
	what = "fsync";
	if (fsync(fd) < 0) {
		rc = -errno;
		close(fd);
		goto fail;
	}
	what = "close";
	if (close(fd) < 0)
		goto fail_errno;
	what = "rename";
	if (rename(s->tmp, s->path) < 0)
		goto fail_errno;
	what = "fsync of the directory";
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail_errno;
	if (fsync(dfd) < 0) {
		rc = -errno;
		close(dfd);
		goto fail;
	}
	close(dfd);
	return 0;
fail_errno:
	rc = -errno;
fail:
	cat_ctl_errf(err, errlen, "%s: %s: %s", s->tmp, what, strerror(-rc));
	unlink(s->tmp);
	return rc;
}

int cat_ctl_store_save(struct cat_ctl_store *s, const struct cat_map *m,
		       const char *reason, int64_t now, char *err,
		       size_t errlen)
{
	size_t n_hist = s->n_hist;
	char *text, *data = NULL;
	json_t *doc = NULL;
	int n, rc;

	if (m->epoch < s->epoch) {
		cat_ctl_errf(err, errlen, "epoch %u is below the stored epoch %u",
			m->epoch, s->epoch);
		return -ESTALE;
	}
	text = malloc(CAT_MAP_TEXT_MAX + 1);
	if (text == NULL)
		return -ENOMEM;
	n = cat_map_format(m, text, CAT_MAP_TEXT_MAX + 1);
	if (n < 0) {
		cat_ctl_errf(err, errlen, "map cannot be formatted");
		free(text);
		return -EINVAL;
	}
	/* A mark outlives no node: a stored mark of a node the map no longer
	 * has would make the file refuse to load. */
	for (uint16_t i = s->n_marks; i-- > 0;)
		if (cat_map_node_by_id(m, s->mark_id[i]) == NULL)
			cat_ctl_store_set_mark(s, s->mark_id[i], CAT_CTL_MARK_NONE);
	for (uint16_t i = s->n_boots; i-- > 0;)
		if (cat_map_node_by_id(m, s->boot_id[i]) == NULL)
			cat_ctl_store_set_boot(s, s->boot_id[i], 0);
	rc = 0;
	if (m->epoch != s->epoch)
		rc = hist_push(s, m->epoch, now, reason != NULL ? reason : "");
	if (rc == 0) {
		doc = build_doc(s, text, m->epoch);
		data = doc != NULL ? json_dumps(doc, JSON_INDENT(1) |
					       JSON_PRESERVE_ORDER) : NULL;
		rc = data != NULL ? 0 : -ENOMEM;
	}
	if (rc == 0 && s->io_put != NULL)
		rc = s->io_put(s->io_arg, data, strlen(data), err, errlen);
	else if (rc == 0)
		rc = write_durable(s, data, strlen(data), err, errlen);
	if (rc == -ENOMEM)
		cat_ctl_errf(err, errlen, "out of memory");
	if (rc == 0)
		s->epoch = m->epoch;
	else
		s->n_hist = n_hist;
	free(data);
	json_decref(doc);
	free(text);
	return rc;
}

void cat_ctl_store_fini(struct cat_ctl_store *s)
{
	free(s->hist);
	s->hist = NULL;
	s->n_hist = s->cap_hist = 0;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}
