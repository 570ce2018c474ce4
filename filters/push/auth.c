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
#include <time.h>
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
	if (strcmp(type, "aws_sigv4") == 0)
		return "secret_key_env or secret_key_file";
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
	} else if (strcmp(a->type, "aws_sigv4") == 0) {
		/* the secret access key is the secret; the key id, the region
		 * and the session token are named in messages, never printed */
		a->aws_service = member_string(auth, "service");
		if (a->aws_service != NULL && strchr(a->aws_service, '{') != NULL) { /* a var: "{aws_service}" */
			rx_buf v = {0};
			rx_push_template(&v, a->aws_service, p, "auth", NULL, 0);
			free(a->aws_service);
			a->aws_service = v.data ? v.data : rx_xstrdup("");
		}
		if (a->aws_service == NULL || a->aws_service[0] == '\0') {
			snprintf(err, errlen, "profile %s: auth: aws_sigv4 needs \"service\" (es for OpenSearch Service, aoss "
				 "for Serverless)", p->name);
			return -1;
		}
		a->aws_key_id = secret(auth, "key_id", 1, err, errlen, &bad);
		a->aws_region = secret(auth, "region", 1, err, errlen, &bad);
		a->aws_token = secret(auth, "session_token", 0, err, errlen, &bad);
		missing[0] = '\0';
		a->secret = secret(auth, "secret_key", 0, err, errlen, &bad);
		if (!bad && a->secret != NULL && (a->aws_key_id == NULL || a->aws_region == NULL)) {
			jv k = jv_object_get(jv_copy(auth), jv_string(a->aws_key_id == NULL ? "key_id_env" : "region_env"));
			snprintf(err, errlen, "profile %s: auth aws_sigv4: $%s is not set (the %s)", p->name,
				 jv_get_kind(k) == JV_KIND_STRING ? jv_string_value(k) : "?",
				 a->aws_key_id == NULL ? "access key id" : "region");
			jv_free(k);
			return -1;
		}
	} else {
		snprintf(err, errlen, "profile %s: auth: unknown type '%s' (bearer, basic, header, query, oauth2, "
			 "aws_sigv4)", p->name, a->type);
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
		/* an OAuth 2.0 error reply (RFC 6749 5.2) says why: Google's
		 * invalid_grant "Invalid JWT Signature.", a revoked client */
		char why[300] = "";
		jv e = jv_invalid();
		if (reply.len > 0 && rx_jv_parse(reply.data, reply.len, &e, why, sizeof why) == 0 &&
		    jv_get_kind(e) == JV_KIND_OBJECT) {
			char *code = member_string(e, "error"), *desc = member_string(e, "error_description");
			char raw[280];
			snprintf(raw, sizeof raw, "%.80s%s%.180s%s", code ? code : "", code && desc ? " (" : "",
				 desc ? desc : "", code && desc ? ")" : "");
			rx_one_line(raw, why, sizeof why);
			free(code);
			free(desc);
		} else {
			why[0] = '\0';
		}
		jv_free(e);
		snprintf(err, errlen, "oauth2 token request: HTTP %ld, no token in the reply%s%s", status,
			 why[0] ? ": " : "", why);
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

	if (a->type == NULL || a->secret == NULL || strcmp(a->type, "aws_sigv4") == 0)
		return; /* signed once the body is built: rx_push_auth_sign */
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

/* ---- AWS Signature Version 4 ---- */

/* A query's text (as sent, percent-encoded) decoded, then encoded
 * AWS's way. */
static void aws_requery(rx_buf *b, const char *s, size_t n)
{
	rx_buf raw = {0};
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && rx_hexval(s[i + 1]) >= 0 && rx_hexval(s[i + 2]) >= 0) {
			rx_buf_putc(&raw, (char)(rx_hexval(s[i + 1]) * 16 + rx_hexval(s[i + 2])));
			i += 2;
		} else {
			rx_buf_putc(&raw, s[i] == '+' ? ' ' : s[i]);
		}
	}
	rx_url_encode(b, raw.data ? raw.data : "", raw.len, 0);
	rx_buf_free(&raw);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

void rx_push_auth_sign(const push_auth *a, const char *method, const char *url, const rx_buf *body,
		       struct curl_slist **headers, int redact, rx_buf *shown)
{
	if (a->type == NULL || a->secret == NULL || strcmp(a->type, "aws_sigv4") != 0)
		return;
	/* the URL's host (with a port when it has one: curl's Host header),
	 * path and query */
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t hn = strcspn(h, "/?#");
	const char *path = h + hn;
	size_t pn = strcspn(path, "?#");
	const char *query = path[pn] == '?' ? path + pn + 1 : "";
	size_t qn = strcspn(query, "#");
	char host[512];
	snprintf(host, sizeof host, "%.*s", (int)hn, h);
	if (strchr(host, '@') != NULL)
		memmove(host, strchr(host, '@') + 1, strlen(strchr(host, '@') + 1) + 1);
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 'a' - 'A');
	size_t len = strlen(host); /* the default port is not in Host */
	if (len > 4 && strncmp(url, "https:", 6) == 0 && strcmp(host + len - 4, ":443") == 0)
		host[len - 4] = '\0';
	else if (len > 3 && strncmp(url, "http:", 5) == 0 && strcmp(host + len - 3, ":80") == 0)
		host[len - 3] = '\0';

	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char amzdate[32], day[16];
	strftime(amzdate, sizeof amzdate, "%Y%m%dT%H%M%SZ", &tm);
	strftime(day, sizeof day, "%Y%m%d", &tm);
	char payload[65];
	int nobody = body == NULL || strcmp(method, "GET") == 0; /* a GET's body is its query */
	rx_sha256_hex(nobody || body->data == NULL ? "" : body->data, nobody ? 0 : body->len, payload);

	/* the canonical request: the path's segments encoded again (every
	 * service but S3), the query's parameters sorted, the headers signed */
	rx_buf cr = {0};
	rx_buf_printf(&cr, "%s\n", method);
	if (pn == 0)
		rx_buf_putc(&cr, '/');
	else
		rx_url_encode(&cr, path, pn, 1);
	rx_buf_putc(&cr, '\n');
	size_t nparams = 0;
	char **params = rx_xmalloc((qn / 2 + 2) * sizeof *params);
	for (const char *q = query; q < query + qn;) {
		size_t n = strcspn(q, "&");
		if (n > (size_t)(query + qn - q))
			n = (size_t)(query + qn - q);
		if (n > 0) {
			const char *eq = memchr(q, '=', n);
			size_t kn = eq ? (size_t)(eq - q) : n;
			rx_buf one = {0};
			aws_requery(&one, q, kn);
			rx_buf_putc(&one, '=');
			if (eq != NULL)
				aws_requery(&one, eq + 1, n - kn - 1);
			params[nparams++] = one.data;
		}
		q += n + 1;
	}
	qsort(params, nparams, sizeof *params, cmp_str);
	for (size_t i = 0; i < nparams; i++) {
		rx_buf_printf(&cr, "%s%s", i ? "&" : "", params[i]);
		free(params[i]);
	}
	free(params);
	const char *signed_headers = a->aws_token ? "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
						  : "host;x-amz-content-sha256;x-amz-date";
	rx_buf_printf(&cr, "\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", host, payload, amzdate);
	if (a->aws_token)
		rx_buf_printf(&cr, "x-amz-security-token:%s\n", a->aws_token);
	rx_buf_printf(&cr, "\n%s\n%s", signed_headers, payload);
	char crhash[65];
	rx_sha256_hex(cr.data, cr.len, crhash);
	rx_buf sts = {0};
	rx_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate, day, a->aws_region,
		      a->aws_service, crhash);

	/* the signing key: the secret through the date, region and service */
	unsigned char k[32];
	rx_buf first = {0};
	rx_buf_printf(&first, "AWS4%s", a->secret);
	rx_hmac_sha256(first.data, first.len, day, strlen(day), k);
	memset(first.data, 0, first.len);
	rx_buf_free(&first);
	rx_hmac_sha256(k, 32, a->aws_region, strlen(a->aws_region), k);
	rx_hmac_sha256(k, 32, a->aws_service, strlen(a->aws_service), k);
	rx_hmac_sha256(k, 32, "aws4_request", 12, k);
	unsigned char sig[32];
	char sighex[65];
	rx_hmac_sha256(k, 32, sts.data, sts.len, sig);
	memset(k, 0, sizeof k);
	rx_hex(sig, 32, sighex);

	rx_buf line = {0};
	rx_buf_printf(&line, "x-amz-date: %s", amzdate);
	*headers = curl_slist_append(*headers, line.data);
	show(shown, "x-amz-date", amzdate);
	rx_buf_reset(&line);
	rx_buf_printf(&line, "x-amz-content-sha256: %s", payload);
	*headers = curl_slist_append(*headers, line.data);
	show(shown, "x-amz-content-sha256", payload);
	if (a->aws_token) {
		rx_buf_reset(&line);
		rx_buf_printf(&line, "x-amz-security-token: %s", a->aws_token);
		if (!redact)
			*headers = curl_slist_append(*headers, line.data);
		show(shown, "x-amz-security-token", "***");
	}
	rx_buf_reset(&line);
	rx_buf_printf(&line, "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
		      "Signature=%s", a->aws_key_id, day, a->aws_region, a->aws_service, signed_headers, sighex);
	if (redact)
		show(shown, "Authorization", "***");
	else
		*headers = curl_slist_append(*headers, line.data);
	rx_buf_free(&line);
	rx_buf_free(&cr);
	rx_buf_free(&sts);
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
	free(a->aws_key_id);
	free(a->aws_region);
	free(a->aws_service);
	if (a->aws_token != NULL) {
		memset(a->aws_token, 0, strlen(a->aws_token));
		free(a->aws_token);
	}
	if (a->proof_key != NULL) {
		memset(a->proof_key, 0, strlen(a->proof_key));
		free(a->proof_key);
	}
	memset(a, 0, sizeof *a);
}
