/*
 * auth.c - secrets and how a request carries them.
 *
 * A profile's "auth" object names where each secret comes from: a member
 * NAME_env names an environment variable, NAME_file a file whose first
 * line is the secret.  A secret is never taken from argv nor from the
 * profile itself, and never printed: dry runs and messages show "***".
 *
 * OAuth2 (client credentials or refresh token) fetches an access token
 * from the profile's token_url at start-up and again when it is about to
 * expire or a request is answered 401.
 */
#include "push.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a missing secret was looked for, for the message: "$HUBSPOT_TOKEN
 * is not set", "cannot read 'token.txt': No such file or directory". */
static char missing[512];

/* A secret named name: NAME_env, NAME_file, or (for what is not secret,
 * like a user name or a client id) NAME itself.  Owned, or NULL (missing
 * says where it was looked for).  A secret with a line break is refused:
 * it would end the header it is sent in and start another.  Every secret
 * read is registered, so that nothing rx writes can show it. */
static char *secret(jv auth, const char *name, int literal_ok, char *err, size_t errlen, int *bad)
{
	char member[128], where[300] = "";
	char *s = NULL;
	jv v;

	snprintf(member, sizeof member, "%s_env", name);
	v = jv_object_get(jv_copy(auth), jv_string(member));
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *e = getenv(jv_string_value(v));
		snprintf(where, sizeof where, "$%s", jv_string_value(v));
		if (e != NULL && *e != '\0')
			s = rx_xstrdup(e);
		else
			snprintf(missing, sizeof missing, "$%s is not set", jv_string_value(v));
	}
	jv_free(v);
	if (s == NULL) {
		snprintf(member, sizeof member, "%s_file", name);
		v = jv_object_get(jv_copy(auth), jv_string(member));
		if (jv_get_kind(v) == JV_KIND_STRING) {
			FILE *f = fopen(jv_string_value(v), "r");
			char line[8192];
			snprintf(where, sizeof where, "the first line of '%s'", jv_string_value(v));
			if (f == NULL) {
				snprintf(missing, sizeof missing, "cannot read '%s': %s", jv_string_value(v), strerror(errno));
			} else {
				if (fgets(line, sizeof line, f) != NULL) {
					line[strcspn(line, "\n")] = '\0';
					size_t n = strlen(line);
					if (n > 0 && line[n - 1] == '\r')
						line[n - 1] = '\0';
					s = rx_xstrdup(line);
					memset(line, 0, sizeof line);
				} else {
					snprintf(missing, sizeof missing, "'%s' is empty", jv_string_value(v));
				}
				fclose(f);
			}
		}
		jv_free(v);
	}
	if (s != NULL) {
		if (strpbrk(s, "\r\n") != NULL) {
			snprintf(err, errlen, "the secret in %s contains a line break (CR or LF): refusing it (it would "
				 "inject a header)", where);
			memset(s, 0, strlen(s));
			free(s);
			*bad = 1;
			return NULL;
		}
		rx_secret_add(s);
		return s;
	}
	if (!literal_ok)
		return NULL;
	v = jv_object_get(jv_copy(auth), jv_string(name));
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = rx_xstrdup(jv_string_value(v));
	jv_free(v);
	return s;
}

static char *member_string(jv obj, const char *name)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));
	char *s = jv_get_kind(v) == JV_KIND_STRING ? rx_xstrdup(jv_string_value(v)) : NULL;

	jv_free(v);
	return s;
}

/* Which secret names the auth type needs, for the message when one is
 * missing. */
static const char *needs(const char *type)
{
	if (strcmp(type, "bearer") == 0)
		return "token_env or token_file";
	if (strcmp(type, "header") == 0 || strcmp(type, "query") == 0)
		return "value_env or value_file";
	return "password_env or password_file";
}

int rx_push_auth_init(push_auth *a, const push_profile *p, const char *base, int insecure, char *err, size_t errlen)
{
	jv auth = p->auth;
	int bad = 0;

	memset(a, 0, sizeof *a);
	missing[0] = '\0';
	if (jv_get_kind(auth) != JV_KIND_OBJECT)
		return 0;
	a->type = member_string(auth, "type");
	if (a->type == NULL) {
		snprintf(err, errlen, "profile %s: auth: no \"type\"", p->name);
		return -1;
	}
	if (strcmp(a->type, "bearer") == 0) {
		a->secret = secret(auth, "token", 0, err, errlen, &bad);
	} else if (strcmp(a->type, "header") == 0 || strcmp(a->type, "query") == 0) {
		a->header_name = member_string(auth, "name");
		a->prefix = member_string(auth, "prefix");
		a->secret = secret(auth, "value", 0, err, errlen, &bad);
		if (a->header_name == NULL) {
			snprintf(err, errlen, "profile %s: auth: no \"name\" for the %s", p->name,
				 strcmp(a->type, "query") == 0 ? "query parameter" : "header");
			return -1;
		}
	} else if (strcmp(a->type, "basic") == 0) {
		char *user = secret(auth, "user", 1, err, errlen, &bad), *password = secret(auth, "password", 0, err, errlen, &bad);
		if (user != NULL && !bad) {
			rx_buf b = {0};
			rx_buf_printf(&b, "%s:%s", user, password ? password : "");
			a->secret = b.data;
			rx_secret_add(a->secret); /* and so its base64, as the header carries it */
		}
		free(user);
		free(password);
	} else if (strcmp(a->type, "oauth2") == 0) {
		char *url = member_string(auth, "token_url");
		rx_buf b = {0};
		if (url == NULL) {
			snprintf(err, errlen, "profile %s: auth: oauth2 needs \"token_url\"", p->name);
			return -1;
		}
		/* {base} is the base URL, so --url moves the token endpoint too */
		char *brace = strstr(url, "{base}");
		if (brace != NULL) {
			rx_buf_put(&b, url, (size_t)(brace - url));
			rx_buf_puts(&b, base ? base : "");
			rx_buf_puts(&b, brace + 6);
			a->token_url = b.data;
			free(url);
		} else {
			a->token_url = url;
		}
		a->can_refresh = 1;
		a->secret = secret(auth, "token", 0, err, errlen, &bad);
		if (bad)
			return -1;
		if (a->secret == NULL)
			return rx_push_auth_refresh(a, p, insecure, err, errlen);
		return 0;
	} else {
		snprintf(err, errlen, "profile %s: auth: unknown type '%s' (bearer, basic, header, query, oauth2)",
			 p->name, a->type);
		return -1;
	}
	if (bad)
		return -1;
	if (a->secret == NULL) {
		jv opt = jv_object_get(jv_copy(auth), jv_string("optional"));
		int optional = jv_get_kind(opt) == JV_KIND_TRUE;
		jv_free(opt);
		if (optional) { /* no secret given: send without auth */
			free(a->type);
			a->type = NULL;
			return 0;
		}
		if (missing[0])
			snprintf(err, errlen, "%s (profile %s: auth %s takes its secret from it)", missing, p->name, a->type);
		else
			snprintf(err, errlen, "profile %s: auth %s: no secret: the profile names none (%s)", p->name,
				 a->type, needs(a->type));
		return -1;
	}
	return 0;
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
	rx_buf_put(user, data, size * n);
	return size * n;
}

static void put_form(rx_buf *b, CURL *c, const char *name, const char *value)
{
	char *e;

	if (value == NULL)
		return;
	e = curl_easy_escape(c, value, 0);
	rx_buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, e ? e : "");
	curl_free(e);
}

int rx_push_auth_refresh(push_auth *a, const push_profile *p, int insecure, char *err, size_t errlen)
{
	jv auth = p->auth;
	char *grant = member_string(auth, "grant");
	int bad = 0;
	char *id = secret(auth, "client_id", 1, err, errlen, &bad), *sec = secret(auth, "client_secret", 0, err, errlen, &bad);
	char *refresh = secret(auth, "refresh_token", 0, err, errlen, &bad), *scope = member_string(auth, "scope");
	rx_buf form = {0}, reply = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	int rc = -1;
	CURL *c = curl_easy_init();
	jv v = jv_invalid();

	if (bad)
		goto cleanup;
	if (c == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		goto cleanup;
	}
	if (grant == NULL)
		grant = rx_xstrdup(refresh ? "refresh_token" : "client_credentials");
	put_form(&form, c, "grant_type", grant);
	if (strcmp(grant, "refresh_token") == 0) {
		if (refresh == NULL) {
			snprintf(err, errlen, "profile %s: oauth2: no refresh token (refresh_token_env or refresh_token_file)",
				 p->name);
			goto cleanup;
		}
		put_form(&form, c, "refresh_token", refresh);
	}
	put_form(&form, c, "client_id", id);
	put_form(&form, c, "client_secret", sec);
	put_form(&form, c, "scope", scope);
	curl_easy_setopt(c, CURLOPT_URL, a->token_url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data ? form.data : "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "oauth2 token request failed: %s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto cleanup;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2 || rx_jv_parse(reply.data ? reply.data : "", reply.len, &v, err, errlen) < 0 ||
	    jv_get_kind(v) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "oauth2 token request: HTTP %ld, no token in the reply", status);
		goto cleanup;
	}
	char *token = member_string(v, "access_token");
	if (token == NULL) {
		snprintf(err, errlen, "oauth2 token request: HTTP %ld, no access_token in the reply", status);
		goto cleanup;
	}
	if (strpbrk(token, "\r\n") != NULL) {
		snprintf(err, errlen, "oauth2 token request: the access token contains a line break: refusing it");
		free(token);
		goto cleanup;
	}
	rx_secret_add(token);
	free(a->secret);
	a->secret = token;
	a->generation++;
	a->generation_ok = 0;
	jv e = jv_object_get(jv_copy(v), jv_string("expires_in"));
	if (jv_get_kind(e) == JV_KIND_NUMBER) {
		/* refresh a little before the end: 30 s, or a quarter of a short life */
		double life = jv_number_value(e), margin = life / 4 < 30 ? life / 4 : 30;
		a->expires = rx_push_now() + life - margin;
	} else {
		a->expires = 0;
	}
	jv_free(e);
	rc = 0;
cleanup:
	jv_free(v);
	if (c != NULL)
		curl_easy_cleanup(c);
	rx_buf_free(&form);
	rx_buf_free(&reply);
	free(grant);
	free(id);
	free(sec);
	free(refresh);
	free(scope);
	return rc;
}

static void show(rx_buf *shown, const char *name, const char *value)
{
	if (shown == NULL)
		return;
	if (shown->len > 1)
		rx_buf_putc(shown, ',');
	rx_json_put_string(shown, name, strlen(name));
	rx_buf_putc(shown, ':');
	rx_json_put_string(shown, value, strlen(value));
}

void rx_push_auth_apply(const push_auth *a, struct curl_slist **headers, rx_buf *url, int redact, rx_buf *shown)
{
	rx_buf h = {0};

	if (a->type == NULL || a->secret == NULL)
		return;
	if (strcmp(a->type, "query") == 0) {
		char *e = curl_easy_escape(NULL, a->secret, 0);
		rx_buf_printf(url, "%c%s=%s", strchr(url->data, '?') ? '&' : '?', a->header_name,
			      redact ? "***" : (e ? e : ""));
		curl_free(e);
		return;
	}
	const char *name = "Authorization";
	if (strcmp(a->type, "header") == 0) {
		name = a->header_name;
		if (a->prefix != NULL)
			rx_buf_puts(&h, a->prefix);
		rx_buf_puts(&h, a->secret);
	} else if (strcmp(a->type, "basic") == 0) {
		rx_buf_puts(&h, "Basic ");
		rx_base64_put(&h, (const unsigned char *)a->secret, strlen(a->secret));
	} else {
		rx_buf_puts(&h, "Bearer ");
		rx_buf_puts(&h, a->secret);
	}
	if (redact) {
		show(shown, name, "***");
	} else {
		rx_buf line = {0};
		rx_buf_printf(&line, "%s: %s", name, h.data);
		*headers = curl_slist_append(*headers, line.data);
		rx_buf_free(&line);
	}
	rx_buf_free(&h);
}

void rx_push_auth_free(push_auth *a)
{
	free(a->type);
	free(a->header_name);
	free(a->prefix);
	if (a->secret != NULL) {
		memset(a->secret, 0, strlen(a->secret));
		free(a->secret);
	}
	free(a->token_url);
	memset(a, 0, sizeof *a);
}
