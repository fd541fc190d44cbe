/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Authentication: Bearer tokens on every protected request, and login with
 * e-mail address and password. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_keys.h"
#include "itsm_json.h"
#include "itsm_util.h"

/* Extracts the credentials of "Authorization: Bearer <credentials>". */
static const char *bearer_credentials(request_rec *r)
{
    const char *header = apr_table_get(r->headers_in, "Authorization");
    const char *c;

    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        return NULL;
    }
    for (c = header + 7; *c == ' '; c++) {
    }
    return *c ? c : NULL;
}

static int send_invalid_token(itsm_req_t *req, const char *message)
{
    return itsm_send_unauthorized(req, 1, message);
}

/* Resolves an API key sent as the bearer credential. */
static int authenticate_key(itsm_req_t *req, itsm_db_t *db,
                            const char *token, itsm_principal_t *caller,
                            const char **puser_id)
{
    apr_status_t rv = itsm_key_verify(db, token, &caller->api_key_id,
                                      puser_id, &caller->read_only);

    if (rv == APR_EACCES) {
        return send_invalid_token(req, "Invalid API key");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error authenticating");
    }
    return ITSM_CONTINUE;
}

/* Verifies a JWT; one exchanged for an API key carries the key's id and
 * lives only as long as the key does. */
static int authenticate_jwt(itsm_req_t *req, itsm_db_t *db,
                            const char *token, itsm_principal_t *caller,
                            itsm_jwt_claims_t *claims)
{
    const char *err;
    apr_status_t rv;

    memset(claims, 0, sizeof(*claims));
    rv = itsm_jwt_verify(req->r->pool, &req->sc->jwt, token, claims, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00010)
                      "rejected bearer token: %s", err);
        return send_invalid_token(req, err);
    }
    if (claims->key_id) {
        rv = itsm_key_check_id(db, claims->key_id, claims->sub,
                               &caller->read_only);
        if (rv == APR_EACCES) {
            return send_invalid_token(req, "API key of this token is "
                                      "revoked or expired");
        }
        if (rv != APR_SUCCESS) {
            return itsm_send_db_error(req, rv, db, "Error authenticating");
        }
        caller->api_key_id = claims->key_id;
    }
    return ITSM_CONTINUE;
}

int itsm_authenticate(itsm_req_t *req)
{
    request_rec *r = req->r;
    const char *token = bearer_credentials(r), *user_id = NULL;
    itsm_jwt_claims_t claims;
    itsm_principal_t *caller;
    itsm_user_t *user;
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    if (!token) {
        return itsm_send_unauthorized(req, 0, "Authentication required");
    }
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    caller = apr_pcalloc(r->pool, sizeof(*caller));
    if (itsm_key_looks_like(token)) {
        rc = authenticate_key(req, db, token, caller, &user_id);
    }
    else {
        rc = authenticate_jwt(req, db, token, caller, &claims);
        user_id = claims.sub;
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }

    rv = itsm_user_load(db, user_id, &user);
    if (APR_STATUS_IS_ENOENT(rv)) {
        /* The user was deleted. */
        return send_invalid_token(req, itsm_key_looks_like(token)
                                       ? "Invalid API key" : "Invalid token");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error authenticating");
    }
    /* A password change, deactivation or deletion raises or removes the
     * version, which ends every token issued before it. API keys are
     * separate credentials and survive a password change. */
    if (!itsm_key_looks_like(token) && claims.ver != user->token_version) {
        return send_invalid_token(req, "Token has been revoked; log in "
                                  "again");
    }
    if (!user->is_active) {
        return send_invalid_token(req, "Account is deactivated");
    }

    caller->user = user;
    req->caller = caller;
    r->user = apr_pstrdup(r->pool, user->id);
    return ITSM_CONTINUE;
}

/* ---------------------------------------------------------------------
 * Throttling of failed logins and key exchanges, shared by all children
 * and servers through the database.
 */

/* Counts an attempt against every subject first, then sends 429 with
 * Retry-After when one has more attempts in the current window than it
 * may fail. Counting before the check means that requests arriving
 * together cannot all pass it; a success gives its count back
 * (itsm_throttle_forgive). */
int itsm_throttle_attempt(itsm_req_t *req, itsm_db_t *db,
                          const itsm_throttle_t *subjects, int n)
{
    apr_int64_t now = itsm_now_ms(), window = req->sc->login_window * 1000;
    apr_int64_t wait = 0;
    itsm_rows_t *rows;
    apr_status_t rv;
    int i;

    itsm_throttle_fail(req, db, subjects, n);
    for (i = 0; i < n; i++) {
        rv = itsm_db_select(db, ITSM_Q_auth_failure_get,
                            ITSM_ARGS(subjects[i].subject), &rows);
        if (rv != APR_SUCCESS) {
            return itsm_send_db_error(req, rv, db, "Error checking limits");
        }
        if (rows->nrows > 0
            && itsm_rows_int(rows, 0, 0) > subjects[i].max_failures) {
            apr_int64_t ends = itsm_rows_int(rows, 1, 0) + window;

            if (ends > now && ends - now > wait) {
                wait = ends - now;
            }
        }
    }
    if (wait > 0) {
        apr_table_setn(req->r->err_headers_out, "Retry-After",
                       itsm_i64toa(req->r->pool, (wait + 999) / 1000));
        return itsm_send_error(req, HTTP_TOO_MANY_REQUESTS,
                               "Too many failed attempts; retry later");
    }
    return ITSM_CONTINUE;
}

void itsm_throttle_forgive(itsm_req_t *req, itsm_db_t *db,
                           const itsm_throttle_t *subject)
{
    itsm_db_exec(db, ITSM_Q_auth_failure_forgive,
                 ITSM_ARGS(subject->subject), NULL);
}

void itsm_throttle_fail(itsm_req_t *req, itsm_db_t *db,
                        const itsm_throttle_t *subjects, int n)
{
    apr_pool_t *p = req->r->pool;
    apr_int64_t now = itsm_now_ms();
    const char *now_text = itsm_i64toa(p, now);
    const char *expired = itsm_i64toa(p, now - req->sc->login_window * 1000);
    int i;

    for (i = 0; i < n; i++) {
        if (itsm_db_exec(db, ITSM_Q_auth_failure_add,
                         ITSM_ARGS(subjects[i].subject, now_text, expired,
                                   expired), NULL) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r,
                          ITSM_LOGNO(00014) "cannot count a failed attempt: "
                          "%s", db->error);
        }
    }
}

static int issue_token(itsm_req_t *req, const itsm_user_t *user,
                       const char *key_id, const char **ptoken)
{
    itsm_jwt_claims_t claims;

    memset(&claims, 0, sizeof(claims));
    claims.sub = user->id;
    claims.role = user->role;
    claims.ver = user->token_version;
    claims.key_id = key_id;
    if (itsm_jwt_issue(req->r->pool, &req->sc->jwt, &claims, ptoken)
        != APR_SUCCESS) {
        return itsm_send_db_error(req, APR_EGENERAL, NULL,
                                  "Error issuing token");
    }
    return ITSM_CONTINUE;
}

/* Writes the audit row of an authentication attempt. A failure to write
 * it is logged and does not change the response. */
static void audit_attempt(itsm_req_t *req, itsm_db_t *db, const char *action,
                          const char *target_type, const char *target_id,
                          int outcome, json_t *details)
{
    itsm_audit(req, db, action, target_type, target_id, outcome, details);
}

static int h_login(itsm_req_t *req)
{
    request_rec *r = req->r;
    apr_pool_t *p = r->pool;
    const char *email = itsm_json_string(req->body, "email");
    const char *password = itsm_json_string(req->body, "password");
    itsm_user_t *user = NULL;
    const char *token, *hash;
    itsm_throttle_t subjects[2];
    itsm_db_t *db;
    apr_status_t rv;
    int ok, rc;

    if (!email) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "email is required and must be a string");
    }
    if (!password) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "password is required and must be a string");
    }
    /* No address is longer; the limit also keeps the audit rows of a
     * flood of attempts small. */
    if (strlen(email) > ITSM_EMAIL_MAX_LEN) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "email must be at most "
                               "254 characters");
    }
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* Counted for unknown addresses too, so a 429 reveals nothing. */
    subjects[0].subject = apr_pstrcat(p, "login:", itsm_email_key(p, email),
                                      NULL);
    subjects[0].max_failures = req->sc->login_max_failures;
    subjects[1].subject = apr_pstrcat(p, "address:", r->useragent_ip, NULL);
    subjects[1].max_failures = req->sc->login_max_failures_ip;
    rc = itsm_throttle_attempt(req, db, subjects, 2);
    if (rc != ITSM_CONTINUE) {
        audit_attempt(req, db, "auth.login", "user", NULL, ITSM_AUDIT_FAILURE,
                      json_pack("{s:s, s:s}", "email", email,
                                "reason", "throttled"));
        return rc;
    }
    rv = itsm_user_load_by_email(db, email, &user);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_db_error(req, rv, db, "Error logging in");
    }

    /* An unknown address is checked against a dummy hash, so that it costs
     * the same time as a wrong password and reveals nothing. */
    hash = user ? user->password_hash : req->sc->dummy_hash;
    ok = itsm_password_verify(itsm_pwgate, hash, password) && user;
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ITSM_LOGNO(00011)
                      "login failed for %s", user ? user->id
                                                  : "an unknown address");
        audit_attempt(req, db, "auth.login", "user", user ? user->id : NULL,
                      ITSM_AUDIT_FAILURE, json_pack("{s:s, s:s}", "email",
                      email, "reason", user ? "wrong password"
                                            : "unknown e-mail address"));
        return itsm_send_error(req, HTTP_UNAUTHORIZED, "Invalid credentials");
    }
    if (!user->is_active) {
        audit_attempt(req, db, "auth.login", "user", user->id,
                      ITSM_AUDIT_FAILURE,
                      json_pack("{s:s}", "reason", "deactivated"));
        return itsm_send_error(req, HTTP_FORBIDDEN, "Account is deactivated");
    }

    if (itsm_password_needs_rehash(user->password_hash, &req->sc->pwhash)
        && itsm_password_hash(p, itsm_pwgate, &req->sc->pwhash, password,
                              &hash) == APR_SUCCESS) {
        /* Best effort: a failure here must not fail the login. */
        itsm_db_exec(db, ITSM_Q_user_rehash,
                     ITSM_ARGS(hash, user->id, user->password_hash), NULL);
    }
    rc = issue_token(req, user, NULL, &token);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* Success clears the e-mail address's failures and gives back the
     * attempt counted against the client address. */
    itsm_db_exec(db, ITSM_Q_auth_failure_clear, ITSM_ARGS(subjects[0].subject),
                 NULL);
    itsm_throttle_forgive(req, db, &subjects[1]);
    /* The user who logged in is the actor, as the key is for an exchange. */
    req->caller = apr_pcalloc(p, sizeof(*req->caller));
    req->caller->user = user;
    audit_attempt(req, db, "auth.login", "user", user->id, ITSM_AUDIT_SUCCESS,
                  NULL);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ITSM_LOGNO(00012)
                  "login succeeded for user %s", user->id);
    return itsm_send(req, HTTP_OK,
                     json_pack("{s:b, s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
                               "success", 1, "token", token, "user",
                               "_id", user->id, "firstName", user->first_name,
                               "lastName", user->last_name,
                               "email", user->email, "role", user->role));
}

/* Exchanges an API key for a JWT that acts for the key's user. */
static int h_api_key(itsm_req_t *req)
{
    request_rec *r = req->r;
    apr_pool_t *p = r->pool;
    const char *key = itsm_json_string(req->body, "apiKey");
    const char *key_id = NULL, *user_id = NULL, *public_id = NULL, *token;
    const char *reason = "invalid, revoked or expired key";
    itsm_throttle_t subjects[2];
    itsm_user_t *user = NULL;
    itsm_db_t *db;
    apr_status_t rv;
    int read_only = 0, rc, nsubjects = 1;

    if (!key) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "apiKey is required and must be a string");
    }
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    subjects[0].subject = apr_pstrcat(p, "address:", r->useragent_ip, NULL);
    subjects[0].max_failures = req->sc->login_max_failures_ip;
    /* The public id part names the key without revealing its secret. */
    if (itsm_key_looks_like(key) && strlen(key) > 5 + ITSM_ID_LEN) {
        subjects[1].subject = apr_pstrcat(p, "key:",
            apr_pstrmemdup(p, key + 5, ITSM_ID_LEN), NULL);
        subjects[1].max_failures = req->sc->login_max_failures;
        nsubjects = 2;
        /* Failed attempts name the key they were made on, if any. */
        public_id = subjects[1].subject + 4;
        if (!itsm_id_is_valid(public_id)) {
            public_id = NULL;
        }
    }
    rc = itsm_throttle_attempt(req, db, subjects, nsubjects);
    if (rc != ITSM_CONTINUE) {
        audit_attempt(req, db, "auth.api_key", "api_key", public_id,
                      ITSM_AUDIT_FAILURE,
                      json_pack("{s:s}", "reason", "throttled"));
        return rc;
    }
    rv = itsm_key_verify(db, key, &key_id, &user_id, &read_only);
    if (rv == APR_SUCCESS) {
        rv = itsm_user_load(db, user_id, &user);
        reason = "user not found";
        if (rv == APR_SUCCESS && !user->is_active) {
            rv = APR_EACCES;
            reason = "deactivated";
        }
    }
    if (rv == APR_EACCES || APR_STATUS_IS_ENOENT(rv)) {
        audit_attempt(req, db, "auth.api_key", "api_key", public_id,
                      ITSM_AUDIT_FAILURE, json_pack("{s:s}", "reason",
                                                    reason));
        return itsm_send_error(req, HTTP_UNAUTHORIZED, "Invalid API key");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error checking API key");
    }
    rc = issue_token(req, user, key_id, &token);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* A success clears the key's failure count but not the client
     * address's, as a login does for an e-mail address. */
    if (nsubjects == 2) {
        itsm_db_exec(db, ITSM_Q_auth_failure_clear,
                     ITSM_ARGS(subjects[1].subject), NULL);
    }
    itsm_throttle_forgive(req, db, &subjects[0]);
    req->caller = apr_pcalloc(p, sizeof(*req->caller));
    req->caller->user = user;
    req->caller->api_key_id = key_id;
    audit_attempt(req, db, "auth.api_key", "api_key", key_id,
                  ITSM_AUDIT_SUCCESS, NULL);
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s}", "success", 1,
                                             "token", token));
}

static int h_health(itsm_req_t *req)
{
    itsm_db_t *db;
    itsm_rows_t *rows;
    apr_status_t rv;

    rv = itsm_db_acquire(req->r, &db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_ping, ITSM_NO_ARGS, &rows);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, req->r, ITSM_LOGNO(00013)
                      "health check: database does not answer");
        apr_table_setn(req->r->err_headers_out, "Retry-After", "5");
        return itsm_send_error(req, HTTP_SERVICE_UNAVAILABLE,
                               "Database unavailable");
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s}", "success", 1,
                                             "status", "ok"));
}

const itsm_route_t itsm_auth_routes[] = {
    { M_GET, "/health", h_health, ITSM_ACCESS_PUBLIC, 0 },
    { M_POST, "/auth/login", h_login, ITSM_ACCESS_PUBLIC, ITSM_ROUTE_BODY },
    { M_POST, "/auth/api-key", h_api_key, ITSM_ACCESS_PUBLIC,
      ITSM_ROUTE_BODY },
    { 0, NULL, NULL, 0, 0 }
};
