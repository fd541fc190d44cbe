/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* API keys for services: itsm_<id>_<secret>, where the id finds the row
 * without a scan and only a BLAKE2b hash of the 256-bit secret is stored.
 * A key acts for one user with that user's role, narrowed to reading for
 * the read scope, and stops working when it is revoked or expires or the
 * user is deactivated or deleted. */

#include <string.h>

#include <apr_strings.h>
#include <sodium.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_keys.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define KEY_PREFIX "itsm_"
#define KEY_PREFIX_LEN 5
#define SECRET_BYTES 32
/* Unpadded base64url length of SECRET_BYTES. */
#define SECRET_TEXT_LEN 43
#define NAME_MAX_LEN 100
#define TOUCH_EVERY_MS 60000

/* Column order of ITSM_API_KEY_COLUMNS in mod_itsm_statements.h. */
enum {
    COL_ID, COL_NAME, COL_USER, COL_SCOPE, COL_HASH, COL_CREATED_BY,
    COL_CREATED_AT, COL_EXPIRES_AT, COL_LAST_USED_AT, COL_REVOKED_AT
};

typedef struct api_key_t {
    const char *id;
    const char *name;
    const char *user_id;
    const char *scope;
    const char *secret_hash;
    const char *created_by;
    apr_int64_t created_at;
    apr_int64_t expires_at;             /* 0: never */
    apr_int64_t last_used_at;           /* 0: never */
    apr_int64_t revoked_at;             /* 0: not revoked */
} api_key_t;

static api_key_t *key_from_row(apr_pool_t *p, const char **row)
{
    api_key_t *k = apr_pcalloc(p, sizeof(*k));

    k->id = row[COL_ID];
    k->name = row[COL_NAME];
    k->user_id = row[COL_USER];
    k->scope = row[COL_SCOPE];
    k->secret_hash = row[COL_HASH];
    k->created_by = row[COL_CREATED_BY];
    k->created_at = itsm_int64_or(row[COL_CREATED_AT], 0);
    k->expires_at = itsm_int64_or(row[COL_EXPIRES_AT], 0);
    k->last_used_at = itsm_int64_or(row[COL_LAST_USED_AT], 0);
    k->revoked_at = itsm_int64_or(row[COL_REVOKED_AT], 0);
    return k;
}

static json_t *time_or_null(apr_pool_t *p, apr_int64_t ms)
{
    return ms ? json_string(itsm_time_format(p, ms)) : json_null();
}

static json_t *key_to_json(apr_pool_t *p, const api_key_t *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:o}",
                     "_id", k->id, "name", k->name, "userId", k->user_id,
                     "scope", k->scope, "createdBy", k->created_by,
                     "createdAt", itsm_time_format(p, k->created_at),
                     "expiresAt", time_or_null(p, k->expires_at),
                     "lastUsedAt", time_or_null(p, k->last_used_at),
                     "revoked", k->revoked_at != 0,
                     "revokedAt", time_or_null(p, k->revoked_at));
}

/* Hex BLAKE2b-256 of the secret part. The secret carries 256 random bits,
 * so a fast hash suffices: there is nothing to guess. */
static const char *hash_secret(apr_pool_t *p, const char *secret)
{
    unsigned char digest[crypto_generichash_BYTES];
    char *hex = apr_palloc(p, 2 * sizeof(digest) + 1);

    crypto_generichash(digest, sizeof(digest), (const unsigned char *)secret,
                       strlen(secret), NULL, 0);
    sodium_bin2hex(hex, 2 * sizeof(digest) + 1, digest, sizeof(digest));
    return hex;
}

int itsm_key_looks_like(const char *token)
{
    return strncmp(token, KEY_PREFIX, KEY_PREFIX_LEN) == 0;
}

/* Splits itsm_<24 hex id>_<43 base64url characters>. */
static int key_split(apr_pool_t *p, const char *token, const char **pid,
                     const char **psecret)
{
    const char *id = token + KEY_PREFIX_LEN, *secret, *c;

    if (!itsm_key_looks_like(token) || strlen(token) != KEY_PREFIX_LEN
        + ITSM_ID_LEN + 1 + SECRET_TEXT_LEN || id[ITSM_ID_LEN] != '_') {
        return 0;
    }
    secret = id + ITSM_ID_LEN + 1;
    for (c = secret; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
              || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            return 0;
        }
    }
    *pid = apr_pstrmemdup(p, id, ITSM_ID_LEN);
    *psecret = secret;
    return itsm_id_is_valid(*pid);
}

static apr_status_t key_load(itsm_db_t *db, const char *id, api_key_t **pkey)
{
    itsm_rows_t *rows;
    apr_status_t rv;

    if (!itsm_id_is_valid(id)) {
        return APR_ENOENT;
    }
    rv = itsm_db_select(db, ITSM_Q_api_key_by_id, ITSM_ARGS(id), &rows);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nrows == 0) {
        return APR_ENOENT;
    }
    *pkey = key_from_row(db->p, rows->rows[0]);
    return APR_SUCCESS;
}

static int key_is_usable(const api_key_t *k, apr_int64_t now)
{
    return !k->revoked_at && (!k->expires_at || k->expires_at > now);
}

apr_status_t itsm_key_verify(itsm_db_t *db, const char *token,
                             const char **pkey_id, const char **puser_id,
                             int *pread_only)
{
    apr_pool_t *p = db->p;
    const char *id = NULL, *secret = "", *hash;
    api_key_t *k = NULL;
    apr_status_t rv;
    int match;

    if (!key_split(p, token, &id, &secret)) {
        id = NULL;
    }
    rv = id ? key_load(db, id, &k) : APR_ENOENT;
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        return rv;
    }
    /* The hash is computed and compared whether or not the key exists, so
     * that unknown, revoked and expired keys take the same time. */
    hash = hash_secret(p, secret);
    match = k && strlen(k->secret_hash) == strlen(hash)
            && sodium_memcmp(k->secret_hash, hash, strlen(hash)) == 0;
    if (!match || !key_is_usable(k, itsm_now_ms())) {
        return APR_EACCES;
    }
    *pkey_id = k->id;
    *puser_id = k->user_id;
    *pread_only = strcmp(k->scope, "read") == 0;
    /* Best effort: a busy database must not fail the request. */
    itsm_db_exec(db, ITSM_Q_api_key_touch,
                 ITSM_ARGS(itsm_i64toa(p, itsm_now_ms()), k->id,
                           itsm_i64toa(p, itsm_now_ms() - TOUCH_EVERY_MS)),
                 NULL);
    return APR_SUCCESS;
}

apr_status_t itsm_key_check_id(itsm_db_t *db, const char *key_id,
                               const char *user_id, int *pread_only)
{
    api_key_t *k;
    apr_status_t rv = key_load(db, key_id, &k);

    if (APR_STATUS_IS_ENOENT(rv)) {
        return APR_EACCES;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!key_is_usable(k, itsm_now_ms()) || strcmp(k->user_id, user_id)) {
        return APR_EACCES;
    }
    *pread_only = strcmp(k->scope, "read") == 0;
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Admin endpoints
 */

static int h_create(itsm_req_t *req)
{
    static const char *const allowed[] = {
        "name", "userId", "scope", "expiresAt", NULL
    };
    apr_pool_t *p = req->r->pool;
    api_key_t *k = apr_pcalloc(p, sizeof(*k));
    unsigned char raw[SECRET_BYTES];
    char secret[SECRET_TEXT_LEN + 2];
    const char *key_text, *expires;
    itsm_user_t *owner;
    itsm_db_t *db;
    apr_status_t rv;
    const char *key;
    json_t *v;
    int rc;

    json_object_foreach(req->body, key, v) {
        int i, known = 0;

        for (i = 0; allowed[i]; i++) {
            known |= strcmp(key, allowed[i]) == 0;
        }
        if (!known) {
            return itsm_send_error(req, HTTP_BAD_REQUEST,
                                   apr_pstrcat(p, "Unknown field: ", key,
                                               NULL));
        }
    }
    k->name = itsm_json_string(req->body, "name");
    if (!k->name || !*k->name || itsm_utf8_length(k->name) > NAME_MAX_LEN) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "name is required and "
                               "must be a string of 1 to 100 characters");
    }
    v = json_object_get(req->body, "userId");
    if (v && !json_is_string(v)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "userId must be a string");
    }
    k->user_id = v ? json_string_value(v) : req->caller->user->id;
    v = json_object_get(req->body, "scope");
    k->scope = v ? json_string_value(v) : "write";
    if (!k->scope || (strcmp(k->scope, "read") && strcmp(k->scope, "write"))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "scope must be read or write");
    }
    v = json_object_get(req->body, "expiresAt");
    if (v && !json_is_null(v)
        && (!json_is_string(v)
            || itsm_time_parse(json_string_value(v), &k->expires_at)
               != APR_SUCCESS)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, "expiresAt must be a "
                               "UTC time such as 2030-01-31T00:00:00Z");
    }
    k->created_at = itsm_now_ms();
    if (k->expires_at && k->expires_at <= k->created_at) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "expiresAt must be in the future");
    }

    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_user_load(db, k->user_id, &owner);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "userId is not the id of an existing user");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error creating API key");
    }

    itsm_id_new(p, &k->id);
    itsm_random_bytes(raw, sizeof(raw));
    sodium_bin2base64(secret, sizeof(secret), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    k->secret_hash = hash_secret(p, secret);
    k->created_by = req->caller->user->id;
    key_text = apr_pstrcat(p, KEY_PREFIX, k->id, "_", secret, NULL);
    sodium_memzero(secret, sizeof(secret));
    expires = k->expires_at ? itsm_i64toa(p, k->expires_at) : NULL;

    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_api_key_insert,
                          ITSM_ARGS(k->id, k->name, k->user_id, k->scope,
                                    k->secret_hash, k->created_by,
                                    itsm_i64toa(p, k->created_at), expires),
                          NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = itsm_audit(req, db, "api_key.create", "api_key", k->id,
                        ITSM_AUDIT_SUCCESS,
                        json_pack("{s:s, s:s, s:s}", "name", k->name,
                                  "userId", k->user_id, "scope", k->scope));
    }
    rv = itsm_db_finish(db, rv);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error creating API key");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00061)
                  "API key %s (%s scope) created for user %s by %s", k->id,
                  k->scope, k->user_id, k->created_by);
    /* The only time the key is shown. */
    v = key_to_json(p, k);
    json_object_set_new(v, "key", json_string(key_text));
    return itsm_send(req, HTTP_CREATED, json_pack("{s:b, s:s, s:o}",
                     "success", 1, "message",
                     "API key created; store it now, it is not shown again",
                     "data", v));
}

static int h_list(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_table_t *args = itsm_query_args(req);
    const char *cursor = NULL, *after_id = "";
    apr_int64_t limit, after_at = -1;
    itsm_rows_t *rows, *count;
    itsm_db_t *db;
    json_t *data;
    apr_status_t rv;
    int rc, i;

    rc = itsm_page_params(req, args, &limit, &cursor);
    if (rc == ITSM_CONTINUE && cursor) {
        rc = itsm_cursor_parse(req, cursor, &after_at, &after_id);
    }
    if (rc == ITSM_CONTINUE) {
        rc = itsm_req_db(req, &db);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_db_select(db, ITSM_Q_api_key_list,
                        ITSM_ARGS(itsm_i64toa(p, after_at),
                                  itsm_i64toa(p, after_at), after_id,
                                  itsm_i64toa(p, limit)), &rows);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_api_key_count, ITSM_NO_ARGS, &count);
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching API keys");
    }
    data = json_array();
    for (i = 0; i < rows->nrows; i++) {
        json_array_append_new(data, key_to_json(p, key_from_row(p,
                                                rows->rows[i])));
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:i, s:I, s:o, s:o}",
                     "success", 1, "count", rows->nrows, "total",
                     (json_int_t)itsm_rows_int(count, 0, 0), "data", data,
                     "nextCursor", rows->nrows == limit
                     ? json_string(itsm_cursor_make(p,
                           itsm_int64_or(rows->rows[rows->nrows - 1][COL_CREATED_AT], 0),
                           rows->rows[rows->nrows - 1][COL_ID]))
                     : json_null()));
}

static int h_revoke(itsm_req_t *req)
{
    const char *id = req->params[0];
    api_key_t *k;
    itsm_db_t *db;
    apr_status_t rv;
    int rc, nrows = 0;

    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = key_load(db, id, &k);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "API key not found");
    }
    rv = rv == APR_SUCCESS ? itsm_db_begin(db) : rv;
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_api_key_revoke,
                          ITSM_ARGS(itsm_i64toa(req->r->pool, itsm_now_ms()),
                                    id), &nrows);
    }
    if (rv == APR_SUCCESS && nrows > 0) {
        rv = itsm_audit(req, db, "api_key.revoke", "api_key", id,
                        ITSM_AUDIT_SUCCESS,
                        json_pack("{s:s, s:s}", "name", k->name,
                                  "userId", k->user_id));
    }
    rv = itsm_db_finish(db, rv);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error revoking API key");
    }
    if (nrows > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00062)
                      "API key %s revoked by %s", id, req->caller->user->id);
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s}", "success", 1,
                     "message", nrows > 0 ? "API key revoked"
                                          : "API key was already revoked"));
}

const itsm_route_t itsm_key_routes[] = {
    { M_POST, "/auth/api-keys", h_create, ITSM_ACCESS_ADMIN,
      ITSM_ROUTE_BODY },
    { M_GET, "/auth/api-keys", h_list, ITSM_ACCESS_ADMIN, 0 },
    { M_DELETE, "/auth/api-keys/:id", h_revoke, ITSM_ACCESS_ADMIN, 0 },
    { 0, NULL, NULL, 0, 0 }
};
