/*
 * catena-control etcd backend: the map document and the leader lease in
 * etcd v3, through its JSON gateway. Requests are synchronous with short
 * timeouts (CAT_CTL_ETCD_HTTP_MS) because the event loop is single-
 * threaded and etcd is expected on a near network; a slow etcd shows as a
 * failed call, never as a stalled control plane. Never prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "control/err.h"
#include "control/store_etcd.h"

struct buf {
	char *p;
	size_t len, cap;
	int over;
};

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t len)
{
	const unsigned char *s = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char ch)
{
	const char *p = ch != '\0' ? strchr(b64, ch) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

/* Decodes into a malloc'd, NUL-terminated buffer. */
static int b64_decode(const char *s, size_t len, char **out, size_t *outlen)
{
	char *o = malloc(len / 4 * 3 + 4);
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t n = 0;

	if (o == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v;

		if (s[i] == '=')
			break;
		v = b64_val(s[i]);
		if (v < 0) {
			free(o);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
}

/* The gateway writes int64 fields as JSON strings; accept numbers too. A
 * missing field is proto3's default, 0. */
static int64_t get_i64(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;

	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > 2u * CAT_CTL_ETCD_DOC_MAX) {
			b->over = 1;
			return 0;
		}
		p = realloc(b->p, cap);
		if (p == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* POST req (consumed) to path on the endpoint that answered last, then
 * the others in turn. *resp: the answer object. */
static int post(struct cat_ctl_etcd *e, const char *path, json_t *req,
		json_t **resp, char *err, size_t errlen)
{
	char *body = json_dumps(req, JSON_COMPACT);
	CURL *cu = e->curl;
	int rc = -EHOSTUNREACH;

	json_decref(req);
	*resp = NULL;
	if (body == NULL)
		return -ENOMEM;
	for (unsigned int t = 0; t < e->n_ep; t++) {
		unsigned int i = (e->cur_ep + t) % e->n_ep;
		char url[256];
		struct buf b = { 0 };
		long code = 0;
		CURLcode cc;
		json_error_t jerr;

		snprintf(url, sizeof(url), "%s%s", e->ep[i], path);
		curl_easy_setopt(cu, CURLOPT_URL, url);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
		cc = curl_easy_perform(cu);
		if (cc == CURLE_OK)
			curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
		if (cc != CURLE_OK) {
			cat_ctl_errf(err, errlen, "etcd %s: %s", url,
				b.over ? "answer too large" : curl_easy_strerror(cc));
			rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
			free(b.p);
			continue;
		}
		if (code != 200) {
			cat_ctl_errf(err, errlen, "etcd %s: HTTP %ld: %.200s", url, code,
				b.p != NULL ? b.p : "");
			free(b.p);
			rc = -EIO;
			continue;
		}
		*resp = b.p != NULL ? json_loadb(b.p, b.len,
						  JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
		free(b.p);
		if (!json_is_object(*resp)) {
			json_decref(*resp);
			*resp = NULL;
			cat_ctl_errf(err, errlen, "etcd %s: answer is not a JSON object", url);
			rc = -EPROTO;
			continue;
		}
		e->cur_ep = i;
		rc = 0;
		break;
	}
	free(body);
	return rc;
}

static json_t *b64_json(const char *s, size_t len)
{
	char *enc = b64_encode(s, len);
	json_t *j = enc != NULL ? json_string(enc) : NULL;

	free(enc);
	return j;
}

static json_t *i64_json(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

/* The one kv of a range answer for key, or NULL when the key is absent. */
static int range(struct cat_ctl_etcd *e, const char *key, json_t **resp,
		 json_t **kv, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:o}", "key", b64_json(key, strlen(key)));
	int rc;

	*kv = NULL;
	if (req == NULL)
		return -ENOMEM;
	rc = post(e, "/v3/kv/range", req, resp, err, errlen);
	if (rc == 0)
		*kv = json_array_get(json_object_get(*resp, "kvs"), 0);
	return rc;
}

static int kv_value(json_t *kv, char **out, size_t *len)
{
	json_t *v = json_object_get(kv, "value");

	if (v == NULL) { /* proto3 omits an empty value */
		*out = calloc(1, 1);
		*len = 0;
		return *out != NULL ? 0 : -ENOMEM;
	}
	if (!json_is_string(v))
		return -EPROTO;
	return b64_decode(json_string_value(v), json_string_length(v), out, len);
}

int cat_ctl_etcd_init(struct cat_ctl_etcd *e, const char *endpoints,
		      const char *prefix, const char *instance,
		      uint32_t lease_ms, char *err, size_t errlen)
{
	const char *p = endpoints;

	memset(e, 0, sizeof(*e));
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n <= 7 || n >= sizeof(e->ep[0]) || strncmp(p, "http://", 7) != 0 ||
		    e->n_ep == CAT_CTL_ETCD_ENDPOINTS_MAX) {
			cat_ctl_errf(err, errlen, "etcd_endpoints: bad endpoint \"%.*s\" (expected at most %u of http://HOST:PORT)",
				(int)(n > 100 ? 100 : n), p,
				CAT_CTL_ETCD_ENDPOINTS_MAX);
			return -EINVAL;
		}
		memcpy(e->ep[e->n_ep], p, n);
		e->ep[e->n_ep][n] = '\0';
		if (e->ep[e->n_ep][n - 1] == '/')
			e->ep[e->n_ep][n - 1] = '\0';
		e->n_ep++;
		p += n;
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
	}
	if (e->n_ep == 0) {
		cat_ctl_errf(err, errlen, "etcd_endpoints: empty");
		return -EINVAL;
	}
	snprintf(e->map_key, sizeof(e->map_key), "%smap", prefix);
	snprintf(e->leader_key, sizeof(e->leader_key), "%sleader", prefix);
	snprintf(e->instance, sizeof(e->instance), "%s", instance);
	e->lease_ms = lease_ms;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (e->curl = curl_easy_init()) == NULL) {
		cat_ctl_errf(err, errlen, "libcurl: cannot initialise");
		return -ENOMEM;
	}
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, CAT_CTL_ETCD_HTTP_MS);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, CAT_CTL_ETCD_HTTP_MS);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*");
	return 0;
}

static int lease_grant(struct cat_ctl_etcd *e, char *err, size_t errlen)
{
	/* etcd leases are in seconds: rounding up keeps etcd's TTL at least
	 * as long as ours (and etcd may raise a short TTL further). */
	int64_t ttl = (e->lease_ms + 999) / 1000;
	json_t *req = json_pack("{s:o,s:s}", "TTL", i64_json(ttl), "ID", "0");
	json_t *resp;
	int rc;

	if (req == NULL)
		return -ENOMEM;
	rc = post(e, "/v3/lease/grant", req, &resp, err, errlen);
	if (rc < 0)
		return rc;
	e->lease_id = get_i64(resp, "ID");
	if (e->lease_id == 0) {
		cat_ctl_errf(err, errlen, "etcd lease grant: no ID (%.100s)",
			json_string_value(json_object_get(resp, "error")) ?
			json_string_value(json_object_get(resp, "error")) : "");
		rc = -EPROTO;
	}
	json_decref(resp);
	return rc;
}

int cat_ctl_etcd_campaign(struct cat_ctl_etcd *e, uint64_t now_ms,
			  char *leader, size_t leader_cap, char *err,
			  size_t errlen)
{
	json_t *resp = NULL, *kv, *req;
	char *name;
	size_t len;
	int rc;

	if (leader != NULL && leader_cap > 0)
		leader[0] = '\0';
	/* A plain read first: while someone leads (the usual case for a
	 * follower) that is one request and no lease is granted. */
	rc = range(e, e->leader_key, &resp, &kv, err, errlen);
	if (rc < 0)
		return rc;
	if (kv != NULL) {
		if (leader != NULL && kv_value(kv, &name, &len) == 0) {
			snprintf(leader, leader_cap, "%s", name);
			free(name);
		}
		json_decref(resp);
		return 0;
	}
	json_decref(resp);
	rc = lease_grant(e, err, errlen);
	if (rc < 0)
		return rc;
	req = json_pack("{s:[{s:o,s:s,s:s,s:s}],s:[{s:{s:o,s:o,s:o}}],s:[{s:{s:o}}]}",
		"compare", "key", b64_json(e->leader_key, strlen(e->leader_key)),
			   "target", "CREATE", "result", "EQUAL",
			   "create_revision", "0",
		"success", "request_put", "key",
			   b64_json(e->leader_key, strlen(e->leader_key)),
			   "value", b64_json(e->instance, strlen(e->instance)),
			   "lease", i64_json(e->lease_id),
		"failure", "request_range", "key",
			   b64_json(e->leader_key, strlen(e->leader_key)));
	if (req == NULL)
		return -ENOMEM;
	rc = post(e, "/v3/kv/txn", req, &resp, err, errlen);
	if (rc < 0) {
		e->lease_id = 0; /* unused: it expires by itself */
		return rc;
	}
	if (!json_is_true(json_object_get(resp, "succeeded"))) {
		json_decref(resp);
		e->lease_id = 0;
		return 0;
	}
	/* The put happened at the txn's revision: our leader key's
	 * create_revision, which fences every later map write. */
	e->leader_rev = get_i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	if (e->leader_rev == 0) {
		cat_ctl_errf(err, errlen, "etcd txn: no header revision");
		return -EPROTO;
	}
	e->lease_until_ms = now_ms + e->lease_ms;
	return 1;
}

int cat_ctl_etcd_keepalive(struct cat_ctl_etcd *e, uint64_t now_ms,
			   char *err, size_t errlen)
{
	json_t *req, *resp, *res;
	int rc;

	if (e->lease_id == 0) {
		cat_ctl_errf(err, errlen, "no lease");
		return -ENOENT;
	}
	req = json_pack("{s:o}", "ID", i64_json(e->lease_id));
	if (req == NULL)
		return -ENOMEM;
	rc = post(e, "/v3/lease/keepalive", req, &resp, err, errlen);
	if (rc < 0)
		return rc;
	/* The gateway streams: each answer is {"result":{...}}. */
	res = json_object_get(resp, "result");
	if (res == NULL)
		res = resp;
	if (get_i64(res, "TTL") <= 0) {
		cat_ctl_errf(err, errlen, "lease %llx expired", (unsigned long long)e->lease_id);
		rc = -ENOENT;
	} else {
		e->lease_until_ms = now_ms + e->lease_ms;
	}
	json_decref(resp);
	return rc;
}

int cat_ctl_etcd_check_leader(struct cat_ctl_etcd *e, char *err,
			      size_t errlen)
{
	json_t *resp, *kv;
	int rc = range(e, e->leader_key, &resp, &kv, err, errlen);

	if (rc < 0)
		return rc;
	rc = kv != NULL && e->leader_rev != 0 &&
	     get_i64(kv, "create_revision") == e->leader_rev;
	json_decref(resp);
	return rc;
}

void cat_ctl_etcd_resign(struct cat_ctl_etcd *e)
{
	json_t *req, *resp;
	char err[256];

	if (e->leader_rev != 0) {
		req = json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[{s:{s:o}}]}",
			"compare", "key",
				b64_json(e->leader_key, strlen(e->leader_key)),
				"target", "CREATE", "result", "EQUAL",
				"create_revision", i64_json(e->leader_rev),
			"success", "request_delete_range", "key",
				b64_json(e->leader_key, strlen(e->leader_key)));
		if (req != NULL && post(e, "/v3/kv/txn", req, &resp, err,
					sizeof(err)) == 0)
			json_decref(resp);
	}
	if (e->lease_id != 0) {
		req = json_pack("{s:o}", "ID", i64_json(e->lease_id));
		if (req != NULL && post(e, "/v3/lease/revoke", req, &resp, err,
					sizeof(err)) == 0)
			json_decref(resp);
	}
	cat_ctl_etcd_forget(e);
}

void cat_ctl_etcd_forget(struct cat_ctl_etcd *e)
{
	e->lease_id = 0;
	e->leader_rev = 0;
	e->lease_until_ms = 0;
	e->lost = 0;
}

int cat_ctl_etcd_get_map(void *arg, char **data, size_t *len, char *err,
			 size_t errlen)
{
	struct cat_ctl_etcd *e = arg;
	json_t *resp, *kv;
	int rc = range(e, e->map_key, &resp, &kv, err, errlen);

	if (rc < 0)
		return rc;
	if (kv == NULL) {
		e->map_rev = 0;
		json_decref(resp);
		return -ENOENT;
	}
	e->map_rev = get_i64(kv, "mod_revision");
	rc = kv_value(kv, data, len);
	if (rc < 0)
		cat_ctl_errf(err, errlen, "etcd %s: value is not base64", e->map_key);
	json_decref(resp);
	return rc;
}

int cat_ctl_etcd_put_map(void *arg, const char *data, size_t len, char *err,
			 size_t errlen)
{
	struct cat_ctl_etcd *e = arg;
	json_t *req, *resp;
	int rc;

	if (e->leader_rev == 0) {
		cat_ctl_errf(err, errlen, "not the leader");
		return -EPERM;
	}
	if (len > CAT_CTL_ETCD_DOC_MAX) {
		cat_ctl_errf(err, errlen, "document over %u bytes", CAT_CTL_ETCD_DOC_MAX);
		return -EFBIG;
	}
	/* mod_revision 0 compares equal for a key that does not exist, so the
	 * first store is a create-if-absent. */
	req = json_pack("{s:[{s:o,s:s,s:s,s:o},{s:o,s:s,s:s,s:o}],s:[{s:{s:o,s:o}}]}",
		"compare",
			"key", b64_json(e->map_key, strlen(e->map_key)),
			"target", "MOD", "result", "EQUAL",
			"mod_revision", i64_json(e->map_rev),
			"key", b64_json(e->leader_key, strlen(e->leader_key)),
			"target", "CREATE", "result", "EQUAL",
			"create_revision", i64_json(e->leader_rev),
		"success", "request_put",
			"key", b64_json(e->map_key, strlen(e->map_key)),
			"value", b64_json(data, len));
	if (req == NULL)
		return -ENOMEM;
	rc = post(e, "/v3/kv/txn", req, &resp, err, errlen);
	if (rc < 0)
		return rc;
	if (!json_is_true(json_object_get(resp, "succeeded"))) {
		cat_ctl_errf(err, errlen,
			"etcd %s: compare-and-swap lost (another instance wrote, or this one no longer leads)",
			e->map_key);
		e->lost = 1;
		json_decref(resp);
		return -ESTALE;
	}
	e->map_rev = get_i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	return 0;
}

void cat_ctl_etcd_fini(struct cat_ctl_etcd *e)
{
	if (e->curl != NULL) {
		curl_easy_cleanup(e->curl);
		curl_global_cleanup();
	}
	e->curl = NULL;
}
