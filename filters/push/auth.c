/*
 * auth.c - secrets and how a request carries them.
 *
 * A profile's "auth" object names where each secret comes from: a member
 * NAME_env names an environment variable, NAME_file a file whose first
 * line is the secret.  A secret is never taken from argv nor from the
 * profile itself, and never printed: dry runs and messages show "***".
 *
 * OAuth2 (client credentials, refresh token, or a JWT bearer assertion
 * signed with a service account's key, RFC 7523) fetches an access token
 * from the profile's token_url at start-up and again when it is about to
 * expire or a request is answered 401.  A service account's private key
 * is read once from its JSON key file and kept only in memory; every
 * assertion signed with it is registered as a secret.
 */
#include "push.h"
#include "rxjwt.h"


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

/* ---- the JWT bearer grant (service accounts) ---- */

/* The service account's key file (credentials_env names a variable
 * holding its path, as GOOGLE_APPLICATION_CREDENTIALS does, or
 * credentials_file is the path): client_email, private_key,
 * private_key_id and token_uri.  The token URL is the profile's
 * token_url when it has one, else the file's token_uri. */
static int load_service_account(push_auth *a, const push_profile *p, char *err, size_t errlen)
{
	jv auth = p->auth;
	char *path = member_string(auth, "credentials_file");
	char *text = NULL;
	jv key = jv_invalid();
	int rc = -1;

	if (path == NULL) {
		char *var = member_string(auth, "credentials_env");
		const char *e = var ? getenv(var) : NULL;
		if (var == NULL) {
			snprintf(err, errlen, "profile %s: auth: the jwt_bearer grant needs \"credentials_env\" or "
				 "\"credentials_file\" (a service account's JSON key file)", p->name);
		} else if (e == NULL || *e == '\0') {
			snprintf(err, errlen, "$%s is not set (profile %s: auth takes the path of a service account's key "
				 "file from it)", var, p->name);
		} else {
			path = rx_xstrdup(e);
		}
		free(var);
		if (path == NULL)
			return -1;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read the service account key file '%s': %s", path, strerror(errno));
		goto cleanup;
	}
	fclose(f);
	text = rx_read_file(path);
	char why[256];
	if (rx_jv_parse(text, strlen(text), &key, why, sizeof why) < 0 || jv_get_kind(key) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "the service account key file '%s' is not a JSON object", path);
		goto cleanup;
	}
	char *pem = member_string(key, "private_key");
	a->jwt_iss = member_string(key, "client_email");
	a->jwt_kid = member_string(key, "private_key_id");
	if (pem == NULL || a->jwt_iss == NULL) {
		snprintf(err, errlen, "the service account key file '%s' has no %s", path,
			 pem == NULL ? "private_key" : "client_email");
		free(pem);
		goto cleanup;
	}
	char what[600];
	snprintf(what, sizeof what, "'%s' (its private_key)", path);
	a->jwt_key = rx_jwt_key_from_pem(pem, strlen(pem), NULL, what, err, errlen);
	memset(pem, 0, strlen(pem));
	free(pem);
	if (a->jwt_key == NULL)
		goto cleanup;
	if (a->token_url == NULL) {
		a->token_url = member_string(key, "token_uri");
		if (a->token_url == NULL) {
			snprintf(err, errlen, "profile %s: auth: no token_url, and '%s' has no token_uri", p->name, path);
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	jv_free(key);
	if (text != NULL) {
		memset(text, 0, strlen(text));
		free(text);
	}
	free(path);
	return rc;
}

/* A signed assertion (RS256) for the token endpoint, appended to out:
 * iss the service account, scope, aud the token URL, an hour of life. */
static int sign_assertion(push_auth *a, const char *scope, const char *subject, rx_buf *out, char *err,
			  size_t errlen)
{
	rx_buf header = {0}, claims = {0};
	long now = (long)rx_push_now();
	int rc = -1;

	rx_buf_puts(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (a->jwt_kid != NULL) {
		rx_buf_puts(&header, ",\"kid\":");
		rx_json_put_string(&header, a->jwt_kid, strlen(a->jwt_kid));
	}
	rx_buf_putc(&header, '}');
	rx_buf_puts(&claims, "{\"iss\":");
	rx_json_put_string(&claims, a->jwt_iss, strlen(a->jwt_iss));
	if (scope != NULL) {
		rx_buf_puts(&claims, ",\"scope\":");
		rx_json_put_string(&claims, scope, strlen(scope));
	}
	if (subject != NULL) {
		rx_buf_puts(&claims, ",\"sub\":");
		rx_json_put_string(&claims, subject, strlen(subject));
	}
	rx_buf_puts(&claims, ",\"aud\":");
	rx_json_put_string(&claims, a->token_url, strlen(a->token_url));
	rx_buf_printf(&claims, ",\"iat\":%ld,\"exp\":%ld}", now, now + 3600);
	if (rx_jwt_sign(a->jwt_key, header.data, claims.data, out, err, errlen) < 0)
		goto cleanup;
	rx_secret_add(out->data); /* good for an hour: as secret as the token */
	rc = 0;
cleanup:
	rx_buf_free(&header);
	rx_buf_free(&claims);
	return rc;
}

/* "proof": {"name": "appsecret_proof", "key_env": "META_APP_SECRET"}: each
 * request also carries that query parameter, the hex HMAC-SHA256 of the
 * token keyed by the secret, when the secret is set (an app that
 * requires it refuses calls without it; others take it or not). */
static int load_proof(push_auth *a, const push_profile *p, char *err, size_t errlen)
{
	jv proof = jv_object_get(jv_copy(p->auth), jv_string("proof"));
	int bad = 0;

	if (!jv_is_valid(proof) || jv_get_kind(proof) == JV_KIND_NULL) {
		jv_free(proof);
		return 0;
	}
	if (jv_get_kind(proof) != JV_KIND_OBJECT || (a->proof_name = member_string(proof, "name")) == NULL) {
		snprintf(err, errlen, "profile %s: auth.proof: {\"name\": PARAMETER, \"key_env\" or \"key_file\": "
			 "the secret keying the HMAC}", p->name);
		bad = 1;
	} else if (strcmp(a->type, "bearer") != 0 && strcmp(a->type, "query") != 0 && strcmp(a->type, "header") != 0 &&
		   strcmp(a->type, "oauth2") != 0) {
		snprintf(err, errlen, "profile %s: auth.proof: an HMAC of a token: auth %s has none", p->name, a->type);
		bad = 1;
	} else {
		a->proof_key = secret(proof, "key", 0, err, errlen, &bad);
		missing[0] = '\0'; /* not set: not sent */
	}
	jv_free(proof);
	return bad ? -1 : 0;
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
	if (load_proof(a, p, err, errlen) < 0)
		return -1;
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
		char *g = member_string(auth, "grant");
		rx_buf b = {0};
		if (url == NULL && (g == NULL || strcmp(g, "jwt_bearer") != 0)) {
			snprintf(err, errlen, "profile %s: auth: oauth2 needs \"token_url\"", p->name);
			free(g);
			return -1;
		}
		free(g);
		/* {base} is the base URL, so --url moves the token endpoint too */
		char *brace = url ? strstr(url, "{base}") : NULL;
		if (brace != NULL) {
			rx_buf_put(&b, url, (size_t)(brace - url));
			rx_buf_puts(&b, base ? base : "");
			rx_buf_puts(&b, brace + 6);
			a->token_url = b.data;
			free(url);
		} else {
			a->token_url = url;
		}
		/* and it may name vars: a token endpoint on another host than the
		 * API's (Google's), moved for a test from the environment */
		if (a->token_url != NULL && strchr(a->token_url, '{') != NULL) {
			rx_buf v = {0};
			rx_push_template(&v, a->token_url, p, "auth", NULL, 0);
			free(a->token_url);
			a->token_url = v.data;
		}
		a->can_refresh = 1;
		char *grant = member_string(auth, "grant");
		int jwt = grant != NULL && strcmp(grant, "jwt_bearer") == 0;
		free(grant);
		if (jwt && load_service_account(a, p, err, errlen) < 0)
			return -1;
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
	if (strcmp(grant, "jwt_bearer") == 0) {
		/* RFC 7523: the assertion is the credential, nothing else is sent */
		char *subject = member_string(auth, "subject");
		rx_buf jwt = {0};
		int signed_ok = a->jwt_key != NULL && sign_assertion(a, scope, subject, &jwt, err, errlen) == 0;
		if (a->jwt_key == NULL)
			snprintf(err, errlen, "profile %s: oauth2 jwt_bearer: no service account key", p->name);
		free(subject);
		if (!signed_ok) {
			rx_buf_free(&jwt);
			goto cleanup;
		}
		put_form(&form, c, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
		put_form(&form, c, "assertion", jwt.data);
		memset(jwt.data, 0, jwt.len);
		rx_buf_free(&jwt);
		goto send;
	}
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
send:
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
	if (a->proof_key != NULL) {
		char hex[65];
		rx_hmac_sha256_hex(a->proof_key, a->secret, strlen(a->secret), hex);
		rx_buf_printf(url, "%c%s=%s", strchr(url->data, '?') ? '&' : '?', a->proof_name, redact ? "***" : hex);
	}
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
	if (a->secret != NULL) {
		memset(a->secret, 0, strlen(a->secret));
		free(a->secret);
	}
	free(a->token_url);
	free(a->prefix);
	if (a->jwt_key != NULL)
		rx_jwt_key_free(a->jwt_key);
	free(a->jwt_iss);
	free(a->jwt_kid);
	free(a->proof_name);
	if (a->proof_key != NULL) {
		memset(a->proof_key, 0, strlen(a->proof_key));
		free(a->proof_key);
	}
	memset(a, 0, sizeof *a);
}
