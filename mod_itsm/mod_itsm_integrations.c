/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The integration registry: the /integration endpoints, their validation
 * and access rules, the credential vault around the store, and manual
 * health checks. */

#include <string.h>

#include <apr_strings.h>
#include <apr_hash.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_integrations.h"
#include "itsm_check.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define NAME_MAX_LEN 200
#define DESCRIPTION_MAX_LEN 2000
#define URL_MAX_LEN 2048
#define MAX_ENDPOINTS 100
#define MAX_MANAGERS 100

#define MSG_CREATED_PENDING "Integration created, health check pending"
#define MSG_INACTIVE "Integration is currently inactive"
#define MSG_ACTIVATED_PENDING "Integration activated, health check pending"

static const char *const integration_types[] = {
    "jira", "servicenow", "zendesk", "ivanti", "cherwell", "custom", NULL
};
static const char *const auth_types[] = {
    "basic", "token", "apikey", "bearer", "oauth", "none", NULL
};
static const char *const endpoint_methods[] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", NULL
};

/* Column order of ITSM_INTEGRATION_COLUMNS in mod_itsm_statements.h. */
enum {
    COL_ID, COL_NAME, COL_DESCRIPTION, COL_TYPE, COL_BASE_URL, COL_AUTH_TYPE,
    COL_CREDENTIALS, COL_OPTIONS, COL_CA, COL_ENDPOINTS, COL_ACTIVE,
    COL_HEALTH_STATUS, COL_HEALTH_MESSAGE, COL_HEALTH_CHECKED,
    COL_HEALTH_LATENCY, COL_HEALTH_HTTP, COL_FAILURES, COL_CREATED_BY,
    COL_CREATED_AT, COL_UPDATED_AT, COL_ROW_VERSION
};

static int in_list(const char *s, const char *const *list)
{
    int i;

    for (i = 0; s && list[i]; i++) {
        if (strcmp(s, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *join_list(apr_pool_t *p, const char *const *list)
{
    const char *out = list[0];
    int i;

    for (i = 1; list[i]; i++) {
        out = apr_pstrcat(p, out, ", ", list[i], NULL);
    }
    return out;
}

/* Parses JSON text stored by this module; NULL text gives NULL. */
static json_t *stored_json(apr_pool_t *p, const char *text)
{
    return text ? itsm_json_bind(p, json_loads(text, 0, NULL)) : NULL;
}

static itsm_integration_t *integration_from_row(apr_pool_t *p,
                                                const char **row)
{
    itsm_integration_t *it = apr_pcalloc(p, sizeof(*it));

    it->id = row[COL_ID];
    it->name = row[COL_NAME];
    it->description = row[COL_DESCRIPTION] ? row[COL_DESCRIPTION] : "";
    it->type = row[COL_TYPE];
    it->base_url = row[COL_BASE_URL];
    it->auth_type = row[COL_AUTH_TYPE];
    it->sealed_credentials = row[COL_CREDENTIALS];
    it->options = stored_json(p, row[COL_OPTIONS]);
    it->ca_certificate = row[COL_CA];
    it->endpoints = stored_json(p, row[COL_ENDPOINTS]);
    if (!json_is_array(it->endpoints)) {
        it->endpoints = itsm_json_bind(p, json_array());
    }
    it->is_active = itsm_int64_or(row[COL_ACTIVE], 0) != 0;
    it->health_status = row[COL_HEALTH_STATUS];
    it->health_message = row[COL_HEALTH_MESSAGE] ? row[COL_HEALTH_MESSAGE]
                                                 : "";
    it->health_checked_at = itsm_int64_or(row[COL_HEALTH_CHECKED], 0);
    it->health_latency_ms = itsm_int64_or(row[COL_HEALTH_LATENCY], -1);
    it->health_http_status = itsm_int64_or(row[COL_HEALTH_HTTP], -1);
    it->consecutive_failures = itsm_int64_or(row[COL_FAILURES], 0);
    it->created_by = row[COL_CREATED_BY];
    it->created_at = itsm_int64_or(row[COL_CREATED_AT], 0);
    it->updated_at = itsm_int64_or(row[COL_UPDATED_AT], 0);
    it->row_version = itsm_int64_or(row[COL_ROW_VERSION], 0);
    it->managers = apr_array_make(p, 2, sizeof(const char *));
    return it;
}

static apr_status_t load_managers(itsm_db_t *db, itsm_integration_t *it)
{
    itsm_rows_t *rows;
    apr_status_t rv;
    int i;

    rv = itsm_db_select(db, ITSM_Q_managers_of, ITSM_ARGS(it->id), &rows);
    for (i = 0; rv == APR_SUCCESS && i < rows->nrows; i++) {
        APR_ARRAY_PUSH(it->managers, const char *) = rows->rows[i][0];
    }
    return rv;
}

/* Share of healthy checks, or null without checks in the window. */
static json_t *uptime_share(const char *checks, const char *healthy)
{
    apr_int64_t n = itsm_int64_or(checks, 0), ok = itsm_int64_or(healthy, 0);

    if (n <= 0) {
        return json_null();
    }
    /* Two decimals of a percentage, e.g. 99.31. */
    return json_real((double)((ok * 10000 + n / 2) / n) / 100.0);
}

/* Sets the uptime of one integration (it) or of every integration in
 * by_id, from the hourly counters. */
static apr_status_t load_uptime(itsm_db_t *db, itsm_stmt_id_e id,
                                itsm_integration_t *it, apr_hash_t *by_id)
{
    apr_pool_t *p = db->p;
    apr_int64_t now = itsm_now_ms(), hour = 3600 * 1000LL;
    const char *since24 = itsm_i64toa(p, now - 24 * hour);
    const char *since7 = itsm_i64toa(p, now - 7 * 24 * hour);
    const char *since30 = itsm_i64toa(p, now - 30 * 24 * hour);
    itsm_rows_t *rows;
    apr_status_t rv;
    int i;

    if (it) {
        rv = itsm_db_select(db, id, ITSM_ARGS(since24, since24, since7,
                                              since7, since30, it->id),
                            &rows);
    }
    else {
        rv = itsm_db_select(db, id, ITSM_ARGS(since24, since24, since7,
                                              since7, since30), &rows);
    }
    for (i = 0; rv == APR_SUCCESS && i < rows->nrows; i++) {
        const char **row = rows->rows[i];
        itsm_integration_t *target = it ? it
            : apr_hash_get(by_id, row[0], APR_HASH_KEY_STRING);

        if (target) {
            target->uptime = itsm_json_bind(p, json_pack("{s:o, s:o, s:o}",
                "24h", uptime_share(row[1], row[2]),
                "7d", uptime_share(row[3], row[4]),
                "30d", uptime_share(row[5], row[6])));
        }
    }
    return rv;
}

apr_status_t itsm_integration_load(itsm_db_t *db, const char *id,
                                   itsm_integration_t **pit)
{
    itsm_rows_t *rows;
    apr_status_t rv;

    if (!itsm_id_is_valid(id)) {
        return APR_ENOENT;
    }
    rv = itsm_db_select(db, ITSM_Q_integration_by_id, ITSM_ARGS(id), &rows);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nrows == 0) {
        return APR_ENOENT;
    }
    *pit = integration_from_row(db->p, rows->rows[0]);
    rv = load_managers(db, *pit);
    if (rv == APR_SUCCESS) {
        rv = load_uptime(db, ITSM_Q_health_uptime_one, *pit, NULL);
    }
    return rv;
}

/* Loads a list of integrations with their managers in two queries. */
static apr_status_t load_list(itsm_db_t *db, itsm_stmt_id_e id, int nargs,
                              const char **args, apr_array_header_t **plist)
{
    apr_array_header_t *list;
    apr_hash_t *by_id;
    itsm_rows_t *rows;
    apr_status_t rv;
    int i;

    rv = itsm_db_select(db, id, nargs, args, &rows);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    list = apr_array_make(db->p, rows->nrows, sizeof(itsm_integration_t *));
    by_id = apr_hash_make(db->p);
    for (i = 0; i < rows->nrows; i++) {
        itsm_integration_t *it = integration_from_row(db->p, rows->rows[i]);

        APR_ARRAY_PUSH(list, itsm_integration_t *) = it;
        apr_hash_set(by_id, it->id, APR_HASH_KEY_STRING, it);
    }
    rv = itsm_db_select(db, ITSM_Q_managers_all, ITSM_NO_ARGS, &rows);
    for (i = 0; rv == APR_SUCCESS && i < rows->nrows; i++) {
        itsm_integration_t *it = apr_hash_get(by_id, rows->rows[i][0],
                                              APR_HASH_KEY_STRING);

        if (it) {
            APR_ARRAY_PUSH(it->managers, const char *) = rows->rows[i][1];
        }
    }
    if (rv == APR_SUCCESS) {
        rv = load_uptime(db, ITSM_Q_health_uptime_all, NULL, by_id);
    }
    *plist = list;
    return rv;
}

json_t *itsm_integration_health_json(apr_pool_t *p,
                                     const itsm_integration_t *it)
{
    json_t *health = json_pack("{s:s, s:s, s:s, s:I}",
                               "status", it->health_status,
                               "lastChecked",
                               itsm_time_format(p, it->health_checked_at),
                               "message", it->health_message,
                               "consecutiveFailures",
                               (json_int_t)it->consecutive_failures);

    if (it->health_latency_ms >= 0) {
        json_object_set_new(health, "latencyMs",
                            json_integer(it->health_latency_ms));
    }
    if (it->health_http_status >= 0) {
        json_object_set_new(health, "httpStatus",
                            json_integer(it->health_http_status));
    }
    json_object_set_new(health, "uptime", it->uptime
                        ? json_incref(it->uptime)
                        : json_pack("{s:n, s:n, s:n}", "24h", "7d", "30d"));
    return health;
}

json_t *itsm_integration_to_json(apr_pool_t *p, const itsm_integration_t *it)
{
    json_t *config, *managers = json_array();
    int i;

    /* The credentials never leave the server; clients only learn whether
     * some are stored. */
    config = json_pack("{s:s, s:{s:s, s:b}}", "baseUrl", it->base_url,
                       "auth", "type", it->auth_type, "hasCredentials",
                       it->sealed_credentials != NULL);
    if (it->options) {
        json_object_set(config, "options", it->options);
    }
    if (it->ca_certificate) {
        json_object_set_new(config, "caCertificate",
                            json_string(it->ca_certificate));
    }
    for (i = 0; i < it->managers->nelts; i++) {
        json_array_append_new(managers, json_string(
            APR_ARRAY_IDX(it->managers, i, const char *)));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:O, s:b, s:o, s:s, s:o, "
                     "s:s, s:s}",
                     "_id", it->id, "name", it->name,
                     "description", it->description, "type", it->type,
                     "config", config, "endpoints", it->endpoints,
                     "isActive", it->is_active,
                     "health", itsm_integration_health_json(p, it),
                     "createdBy", it->created_by, "managers", managers,
                     "createdAt", itsm_time_format(p, it->created_at),
                     "updatedAt", itsm_time_format(p, it->updated_at));
}

/* ---------------------------------------------------------------------
 * Access rules
 */

static int is_manager(const itsm_req_t *req, const itsm_integration_t *it)
{
    const char *me = req->caller->user->id;
    int i;

    for (i = 0; i < it->managers->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(it->managers, i, const char *), me) == 0) {
            return 1;
        }
    }
    return 0;
}

int itsm_integration_can_manage(const itsm_req_t *req,
                                const itsm_integration_t *it)
{
    return itsm_caller_is_admin(req)
           || strcmp(it->created_by, req->caller->user->id) == 0
           || is_manager(req, it);
}

int itsm_integration_can_read(const itsm_req_t *req,
                              const itsm_integration_t *it)
{
    return strcmp(req->caller->user->role, "integrator") == 0
           || itsm_integration_can_manage(req, it);
}

/* Loads the integration of the route's :id and checks access with check.
 * Unknown and malformed ids are 404; others' integrations are 403. */
static int load_target(itsm_req_t *req, itsm_db_t *db,
                       int (*check)(const itsm_req_t *,
                                    const itsm_integration_t *),
                       itsm_integration_t **pit)
{
    apr_status_t rv = itsm_integration_load(db, req->params[0], pit);

    if (APR_STATUS_IS_ENOENT(rv)) {
        return itsm_send_error(req, HTTP_NOT_FOUND, "Integration not found");
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching integration");
    }
    if (!check(req, *pit)) {
        return itsm_send_error(req, HTTP_FORBIDDEN, "Access denied");
    }
    return ITSM_CONTINUE;
}

/* ---------------------------------------------------------------------
 * Validation of create and update bodies
 */

/* The members of a request body, each with whether it was present. */
typedef struct integration_input_t {
    const char *name, *description, *type, *base_url, *auth_type, *ca;
    json_t *credentials;        /* NULL when absent or null */
    json_t *options;
    json_t *endpoints;
    apr_array_header_t *managers;
    int is_active;
    int has_name, has_description, has_type, has_config, has_base_url,
        has_auth, has_auth_type, has_credentials, has_options, has_ca,
        has_endpoints, has_managers, has_is_active;
} integration_input_t;

static const char *unknown_member(apr_pool_t *p, json_t *obj,
                                  const char *prefix,
                                  const char *const *allowed)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        if (!in_list(key, allowed)) {
            return apr_psprintf(p, "Unknown field: %s%s", prefix, key);
        }
    }
    return NULL;
}

static const char *string_member(apr_pool_t *p, json_t *obj,
                                 const char *key, const char *path,
                                 apr_size_t max_len, int allow_empty,
                                 const char **pvalue, int *phas)
{
    json_t *v = json_object_get(obj, key);

    *phas = v != NULL;
    if (!v) {
        return NULL;
    }
    if (!json_is_string(v)) {
        return apr_psprintf(p, "%s must be a string", path);
    }
    if (!allow_empty && json_string_length(v) == 0) {
        return apr_psprintf(p, "%s must not be empty", path);
    }
    if (itsm_utf8_length(json_string_value(v)) > max_len) {
        return apr_psprintf(p, "%s must be at most %" APR_SIZE_T_FMT
                            " characters", path, max_len);
    }
    *pvalue = json_string_value(v);
    return NULL;
}

static const char *parse_auth(apr_pool_t *p, json_t *auth,
                              integration_input_t *in)
{
    static const char *const allowed[] = { "type", "credentials", NULL };
    json_t *creds;
    const char *err;

    if (!json_is_object(auth)) {
        return "config.auth must be an object";
    }
    if ((err = unknown_member(p, auth, "config.auth.", allowed))
        || (err = string_member(p, auth, "type", "config.auth.type", 32, 0,
                                &in->auth_type, &in->has_auth_type))) {
        return err;
    }
    if (in->has_auth_type && !in_list(in->auth_type, auth_types)) {
        return apr_pstrcat(p, "config.auth.type must be one of ",
                           join_list(p, auth_types), NULL);
    }
    creds = json_object_get(auth, "credentials");
    in->has_credentials = creds != NULL;
    if (creds && !json_is_null(creds) && !json_is_object(creds)) {
        return "config.auth.credentials must be an object or null";
    }
    in->credentials = json_is_object(creds) ? creds : NULL;
    return NULL;
}

static const char *parse_config(apr_pool_t *p, json_t *config,
                                integration_input_t *in)
{
    static const char *const allowed[] = {
        "baseUrl", "auth", "options", "caCertificate", NULL
    };
    json_t *v;
    const char *err;

    if (!json_is_object(config)) {
        return "config must be an object";
    }
    if ((err = unknown_member(p, config, "config.", allowed))
        || (err = string_member(p, config, "baseUrl", "config.baseUrl",
                                URL_MAX_LEN, 0, &in->base_url,
                                &in->has_base_url))) {
        return err;
    }
    /* null removes the CA certificate; the system's CAs apply again. */
    if (json_is_null(json_object_get(config, "caCertificate"))) {
        in->has_ca = 1;
        in->ca = NULL;
    }
    else if ((err = string_member(p, config, "caCertificate",
                                  "config.caCertificate", 64 * 1024, 0,
                                  &in->ca, &in->has_ca))) {
        return err;
    }
    if (in->has_ca && in->ca
        && !strstr(in->ca, "-----BEGIN CERTIFICATE-----")) {
        return "config.caCertificate must be a PEM certificate";
    }
    if (in->has_base_url
        && itsm_http_validate_url(&err, p, in->base_url) != APR_SUCCESS) {
        return apr_pstrcat(p, "config.baseUrl must be an absolute http or "
                           "https URL: ", err, NULL);
    }
    v = json_object_get(config, "options");
    in->has_options = v != NULL;
    if (v && !json_is_object(v) && !json_is_null(v)) {
        return "config.options must be an object";
    }
    in->options = json_is_object(v) ? v : NULL;
    v = json_object_get(config, "auth");
    in->has_auth = v != NULL;
    return v ? parse_auth(p, v, in) : NULL;
}

static const char *parse_endpoints(apr_pool_t *p, json_t *list)
{
    static const char *const allowed[] = { "name", "path", "method", NULL };
    apr_hash_t *names = apr_hash_make(p);
    const char *name, *path, *method, *err, *at;
    json_t *e;
    size_t i;
    int has;

    if (!json_is_array(list)) {
        return "endpoints must be an array";
    }
    if (json_array_size(list) > MAX_ENDPOINTS) {
        return apr_psprintf(p, "endpoints must have at most %d entries",
                            MAX_ENDPOINTS);
    }
    json_array_foreach(list, i, e) {
        at = apr_psprintf(p, "endpoints[%" APR_SIZE_T_FMT "]", i);
        if (!json_is_object(e)) {
            return apr_pstrcat(p, at, " must be an object", NULL);
        }
        name = path = method = NULL;
        if ((err = unknown_member(p, e, apr_pstrcat(p, at, ".", NULL),
                                  allowed))
            || (err = string_member(p, e, "name",
                                    apr_pstrcat(p, at, ".name", NULL), 100,
                                    0, &name, &has))
            || (err = string_member(p, e, "path",
                                    apr_pstrcat(p, at, ".path", NULL),
                                    URL_MAX_LEN, 0, &path, &has))
            || (err = string_member(p, e, "method",
                                    apr_pstrcat(p, at, ".method", NULL), 10,
                                    0, &method, &has))) {
            return err;
        }
        if (!name || !path || !method) {
            return apr_pstrcat(p, at, !name ? ".name" : !path ? ".path"
                               : ".method", " is required", NULL);
        }
        if (path[0] != '/' || strpbrk(path, " \t\r\n")) {
            return apr_pstrcat(p, at, ".path must start with / and contain "
                               "no whitespace", NULL);
        }
        if (!in_list(method, endpoint_methods)) {
            return apr_pstrcat(p, at, ".method must be one of ",
                               join_list(p, endpoint_methods), NULL);
        }
        if (apr_hash_get(names, name, APR_HASH_KEY_STRING)) {
            return apr_pstrcat(p, at, ".name repeats the endpoint name ",
                               name, NULL);
        }
        apr_hash_set(names, name, APR_HASH_KEY_STRING, name);
    }
    return NULL;
}

/* Checks that managers is an array of distinct ids of existing users. */
static int parse_managers(itsm_req_t *req, itsm_db_t *db, json_t *list,
                          apr_array_header_t **pids)
{
    apr_pool_t *p = req->r->pool;
    apr_array_header_t *ids;
    apr_hash_t *seen = apr_hash_make(p);
    itsm_user_t *u;
    apr_status_t rv;
    json_t *v;
    size_t i;

    if (!json_is_array(list) || json_array_size(list) > MAX_MANAGERS) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(p,
            "managers must be an array of at most %d user ids",
            MAX_MANAGERS));
    }
    ids = apr_array_make(p, (int)json_array_size(list), sizeof(char *));
    json_array_foreach(list, i, v) {
        const char *id = json_is_string(v) ? json_string_value(v) : NULL;

        rv = id ? itsm_user_load(db, id, &u) : APR_ENOENT;
        if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
            return itsm_send_db_error(req, rv, db, "Error checking managers");
        }
        if (rv != APR_SUCCESS) {
            return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(p,
                "managers[%" APR_SIZE_T_FMT "] is not the id of an existing "
                "user", i));
        }
        if (apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
            return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(p,
                "managers[%" APR_SIZE_T_FMT "] repeats user %s", i, id));
        }
        apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
        APR_ARRAY_PUSH(ids, const char *) = id;
    }
    *pids = ids;
    return ITSM_CONTINUE;
}

/* Reads every member of a create or update body into in, checking types
 * and formats; rules that depend on the stored row come later. */
static int parse_input(itsm_req_t *req, itsm_db_t *db,
                       integration_input_t *in)
{
    static const char *const allowed[] = {
        "name", "description", "type", "config", "endpoints", "managers",
        "isActive", NULL
    };
    apr_pool_t *p = req->r->pool;
    json_t *body = req->body, *v;
    const char *err;

    memset(in, 0, sizeof(*in));
    if ((err = unknown_member(p, body, "", allowed))
        || (err = string_member(p, body, "name", "name", NAME_MAX_LEN, 0,
                                &in->name, &in->has_name))
        || (err = string_member(p, body, "description", "description",
                                DESCRIPTION_MAX_LEN, 1, &in->description,
                                &in->has_description))
        || (err = string_member(p, body, "type", "type", 32, 0, &in->type,
                                &in->has_type))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    if (in->has_type && !in_list(in->type, integration_types)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
            apr_pstrcat(p, "type must be one of ",
                        join_list(p, integration_types), NULL));
    }
    v = json_object_get(body, "config");
    in->has_config = v != NULL;
    if (v && (err = parse_config(p, v, in))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    v = json_object_get(body, "endpoints");
    in->has_endpoints = v != NULL;
    if (v && (err = parse_endpoints(p, v))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, err);
    }
    in->endpoints = v;
    v = json_object_get(body, "isActive");
    in->has_is_active = v != NULL;
    if (v && !json_is_boolean(v)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "isActive must be a boolean");
    }
    in->is_active = json_is_true(v);
    v = json_object_get(body, "managers");
    in->has_managers = v != NULL;
    if (v) {
        return parse_managers(req, db, v, &in->managers);
    }
    return ITSM_CONTINUE;
}

/* Checks type, URL and auth of the merged integration. The credentials
 * checked are those it has after the request (new, removed or stored), so
 * that an update cannot leave an auth type without the fields it needs. */
static int validate_target(itsm_req_t *req, const itsm_integration_t *it,
                           const integration_input_t *in)
{
    itsm_probe_target_t target, stored;
    const char *field = NULL, *problem = NULL, *err = NULL;
    apr_status_t rv;

    memset(&target, 0, sizeof(target));
    target.id = it->id;
    target.type = it->type;
    target.base_url = it->base_url;
    target.auth_type = it->auth_type;
    target.credentials = in->credentials;
    target.options = it->options;
    if (!in->has_credentials && it->sealed_credentials) {
        /* Credentials that cannot be decrypted (their key is no longer
         * loaded) are not checked, so the rest can still be edited. */
        if (itsm_integration_target(req->r->pool, req->sc, it, &stored, &err)
            == APR_SUCCESS) {
            target.credentials = stored.credentials;
        }
        else {
            target.auth_type = "none";
        }
    }
    rv = itsm_probe_validate_target(&field, &problem, req->r->pool, &target);
    if (rv != APR_SUCCESS) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               apr_pstrcat(req->r->pool,
                                           field ? field : "config", " ",
                                           problem ? problem : "is invalid",
                                           NULL));
    }
    return ITSM_CONTINUE;
}

/* Encrypts the credentials object of integration id for storage. */
static apr_status_t seal_credentials(itsm_req_t *req, const char *id,
                                     json_t *credentials, const char **psealed)
{
    const char *err;
    apr_status_t rv;

    rv = itsm_vault_seal(psealed, req->r->pool, req->sc->vault, id,
                         itsm_json_dump(req->r->pool, credentials), &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, req->r, ITSM_LOGNO(00040)
                      "cannot encrypt the credentials of integration %s: %s",
                      id, err);
    }
    return rv;
}

/* ---------------------------------------------------------------------
 * Storage with managers, in one transaction each
 */

/* An audit row to write with a change. */
typedef struct audit_entry_t {
    const char *action;
    json_t *details;
} audit_entry_t;

static void audit_add(apr_array_header_t *audit, const char *action,
                      json_t *details)
{
    audit_entry_t *e = apr_array_push(audit);

    e->action = action;
    e->details = details;
}

/* Names the members an update carries; credentials only as changed or
 * removed, never their values. */
static json_t *changed_fields(const integration_input_t *in)
{
    json_t *fields = json_array();

#define FIELD(flag, name) \
    if (in->flag) { json_array_append_new(fields, json_string(name)); }
    FIELD(has_name, "name");
    FIELD(has_description, "description");
    FIELD(has_type, "type");
    FIELD(has_base_url, "config.baseUrl");
    FIELD(has_auth_type, "config.auth.type");
    FIELD(has_options, "config.options");
    FIELD(has_ca, "config.caCertificate");
    FIELD(has_endpoints, "endpoints");
    FIELD(has_managers, "managers");
    FIELD(has_is_active, "isActive");
#undef FIELD
    return json_pack("{s:o, s:s}", "fields", fields, "credentials",
                     !in->has_credentials ? "unchanged"
                     : in->credentials ? "changed" : "removed");
}

static apr_status_t write_managers(itsm_db_t *db, const itsm_integration_t *it)
{
    apr_status_t rv;
    int i;

    rv = itsm_db_exec(db, ITSM_Q_managers_delete, ITSM_ARGS(it->id), NULL);
    for (i = 0; rv == APR_SUCCESS && i < it->managers->nelts; i++) {
        rv = itsm_db_exec(db, ITSM_Q_manager_insert,
                          ITSM_ARGS(it->id,
                                    APR_ARRAY_IDX(it->managers, i,
                                                  const char *),
                                    apr_itoa(db->p, i)), NULL);
    }
    return rv;
}

static const char *json_text_or_null(apr_pool_t *p, json_t *v)
{
    return v ? itsm_json_dump(p, v) : NULL;
}

/* Stores an integration and its managers, and the audit rows that
 * describe the change, in one transaction. */
static apr_status_t store_integration(itsm_req_t *req, itsm_db_t *db,
                                      itsm_integration_t *it, int create,
                                      apr_array_header_t *audit)
{
    apr_pool_t *p = db->p;
    const char *now = itsm_i64toa(p, it->updated_at);
    apr_status_t rv;
    int nrows = 0, i;

    rv = itsm_db_begin(db);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (create) {
        rv = itsm_db_exec(db, ITSM_Q_integration_insert,
            ITSM_ARGS(it->id, it->name, itsm_email_key(p, it->name),
                      it->description, it->type, it->base_url, it->auth_type,
                      it->sealed_credentials,
                      json_text_or_null(p, it->options), it->ca_certificate,
                      itsm_json_dump(p, it->endpoints),
                      it->is_active ? "1" : "0", it->health_status,
                      it->health_message,
                      itsm_i64toa(p, it->health_checked_at), it->created_by,
                      now, now), &nrows);
    }
    else {
        rv = itsm_db_exec(db, ITSM_Q_integration_update,
            ITSM_ARGS(it->name, itsm_email_key(p, it->name), it->description,
                      it->type, it->base_url, it->auth_type,
                      it->sealed_credentials,
                      json_text_or_null(p, it->options), it->ca_certificate,
                      itsm_json_dump(p, it->endpoints),
                      it->is_active ? "1" : "0", it->health_status,
                      it->health_message,
                      itsm_i64toa(p, it->health_checked_at),
                      it->health_latency_ms < 0 ? "1" : "0",
                      it->health_http_status < 0 ? "1" : "0", now, it->id,
                      itsm_i64toa(p, it->row_version)),
            &nrows);
    }
    if (rv == APR_SUCCESS && nrows == 0) {
        /* An update finds no row when it was deleted or changed since it
         * was read; the caller tells the two apart. */
        rv = create ? APR_EEXIST : APR_ENOENT;
    }
    if (rv == APR_SUCCESS) {
        rv = write_managers(db, it);
    }
    for (i = 0; rv == APR_SUCCESS && i < audit->nelts; i++) {
        const audit_entry_t *e = &APR_ARRAY_IDX(audit, i, audit_entry_t);

        rv = itsm_audit(req, db, e->action, "integration", it->id,
                        ITSM_AUDIT_SUCCESS, e->details);
    }
    return itsm_db_finish(db, rv);
}

/* ---------------------------------------------------------------------
 * Handlers
 */

static const char *const health_statuses[] = {
    "healthy", "degraded", "unhealthy", "unknown", "inactive", NULL
};

/* Sends one page of integrations, filtered by type (NULL for all) and by
 * ?isActive=, ?health= and ?name= (a name prefix, any case). */
static int send_page(itsm_req_t *req, const char *type)
{
    apr_pool_t *p = req->r->pool;
    apr_table_t *args = itsm_query_args(req);
    const char *active = apr_table_get(args, "isActive");
    const char *health = apr_table_get(args, "health");
    const char *prefix = apr_table_get(args, "name");
    const char *cursor = NULL, *after_id = "", *after, *last;
    apr_int64_t limit, after_at = -1;
    apr_array_header_t *list;
    itsm_rows_t *count;
    itsm_db_t *db;
    json_t *data;
    apr_status_t rv;
    int rc, i;

    rc = itsm_page_params(req, args, &limit, &cursor);
    if (rc == ITSM_CONTINUE && cursor) {
        rc = itsm_cursor_parse(req, cursor, &after_at, &after_id);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (active && strcmp(active, "true") && strcmp(active, "false")) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "isActive must be true or false");
    }
    active = active ? (strcmp(active, "true") == 0 ? "1" : "0") : NULL;
    if (health && !in_list(health, health_statuses)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_pstrcat(p,
            "health must be one of ", join_list(p, health_statuses), NULL));
    }
    if (prefix && (!*prefix || strlen(prefix) > NAME_MAX_LEN)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_psprintf(p,
            "name must be a prefix of 1 to %d characters", NAME_MAX_LEN));
    }
    prefix = prefix ? itsm_email_key(p, prefix) : NULL;
    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    after = itsm_i64toa(p, after_at);
    rv = load_list(db, ITSM_Q_integration_page,
                   ITSM_ARGS(type, type, active, active, health, health,
                             prefix, prefix, prefix, after, after, after_id,
                             itsm_i64toa(p, limit)), &list);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_integration_page_count,
                            ITSM_ARGS(type, type, active, active, health,
                                      health, prefix, prefix, prefix),
                            &count);
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching integrations");
    }
    data = json_array();
    last = NULL;
    for (i = 0; i < list->nelts; i++) {
        itsm_integration_t *it = APR_ARRAY_IDX(list, i, itsm_integration_t *);

        json_array_append_new(data, itsm_integration_to_json(p, it));
        last = itsm_cursor_make(p, it->created_at, it->id);
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:i, s:I, s:o, s:o}",
                     "success", 1, "count", list->nelts, "total",
                     (json_int_t)itsm_rows_int(count, 0, 0), "data", data,
                     "nextCursor", list->nelts == limit && last
                     ? json_string(last) : json_null()));
}

static int h_list(itsm_req_t *req)
{
    return send_page(req, NULL);
}

static int h_list_by_type(itsm_req_t *req)
{
    const char *type = req->params[0];

    if (!in_list(type, integration_types)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
            apr_pstrcat(req->r->pool, "type must be one of ",
                        join_list(req->r->pool, integration_types), NULL));
    }
    return send_page(req, type);
}

static int h_get(itsm_req_t *req)
{
    itsm_integration_t *it;
    itsm_db_t *db;
    int rc;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, itsm_integration_can_read, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:o}", "success", 1,
                     "data", itsm_integration_to_json(req->r->pool, it)));
}

static int send_store_error(itsm_req_t *req, apr_status_t rv, itsm_db_t *db,
                            const char *message)
{
    if (APR_STATUS_IS_EEXIST(rv)) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "name is already used by another integration");
    }
    if (APR_STATUS_IS_ENOENT(rv)) {
        itsm_integration_t *now;

        if (itsm_integration_load(db, req->params[0], &now) == APR_SUCCESS) {
            return itsm_send_error(req, HTTP_CONFLICT, "The integration was "
                                   "changed by another request; read it "
                                   "again and retry");
        }
        return itsm_send_error(req, HTTP_NOT_FOUND, "Integration not found");
    }
    return itsm_send_db_error(req, rv, db, message);
}

/* Lets the background runner probe a new or changed integration soon, at
 * a random point within ITSMHealthCheckInterval (at most 10 seconds), so
 * that integrations created together are not probed at once. A failure
 * here only delays the first check. */
static void schedule_first_check(itsm_req_t *req, itsm_db_t *db,
                                 const itsm_integration_t *it)
{
    apr_int64_t spread = req->sc->health_interval_ms;
    apr_int64_t due;

    if (spread > 10000) {
        spread = 10000;
    }
    due = itsm_now_ms() + (spread > 0 ? itsm_check_jitter(spread / 2, 100)
                                      : 0);
    if (itsm_db_exec(db, ITSM_Q_integration_reschedule,
                     ITSM_ARGS(itsm_i64toa(db->p, due), it->id), NULL)
        != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r, ITSM_LOGNO(00049)
                      "cannot schedule the first check of integration %s: "
                      "%s", it->id, db->error);
    }
}

static int h_create(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_array_header_t *audit;
    integration_input_t in;
    itsm_integration_t *it;
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = parse_input(req, db, &in);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (!in.has_name || !in.has_type || !in.has_config || !in.has_base_url
        || !in.has_auth || !in.has_auth_type) {
        return itsm_send_error(req, HTTP_BAD_REQUEST, apr_pstrcat(p,
            !in.has_name ? "name" : !in.has_type ? "type"
            : !in.has_config ? "config" : !in.has_base_url ? "config.baseUrl"
            : !in.has_auth ? "config.auth" : "config.auth.type",
            " is required", NULL));
    }

    it = apr_pcalloc(p, sizeof(*it));
    itsm_id_new(p, &it->id);
    it->name = in.name;
    it->description = in.has_description ? in.description : "";
    it->type = in.type;
    it->base_url = in.base_url;
    it->auth_type = in.auth_type;
    it->options = in.options;
    it->ca_certificate = in.has_ca ? in.ca : NULL;
    it->endpoints = in.endpoints ? in.endpoints
                                 : itsm_json_bind(p, json_array());
    it->is_active = in.has_is_active ? in.is_active : 1;
    it->created_by = req->caller->user->id;
    it->created_at = it->updated_at = it->health_checked_at = itsm_now_ms();
    it->health_status = it->is_active ? "unknown" : "inactive";
    it->health_message = it->is_active ? MSG_CREATED_PENDING : MSG_INACTIVE;
    it->health_latency_ms = it->health_http_status = -1;
    it->managers = in.managers ? in.managers
                               : apr_array_make(p, 1, sizeof(char *));

    rc = validate_target(req, it, &in);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (in.credentials
        && seal_credentials(req, it->id, in.credentials,
                            &it->sealed_credentials) != APR_SUCCESS) {
        return itsm_send_db_error(req, APR_EGENERAL, NULL,
                                  "Error creating integration");
    }
    audit = apr_array_make(p, 1, sizeof(audit_entry_t));
    audit_add(audit, "integration.create",
              json_pack("{s:s, s:s, s:b}", "name", it->name, "type",
                        it->type, "credentials",
                        it->sealed_credentials != NULL));
    rv = store_integration(req, db, it, 1, audit);
    if (rv != APR_SUCCESS) {
        return send_store_error(req, rv, db, "Error creating integration");
    }
    schedule_first_check(req, db, it);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00041)
                  "integration %s (%s, %s) created by %s", it->id, it->name,
                  it->type, it->created_by);
    return itsm_send(req, HTTP_CREATED, json_pack("{s:b, s:s, s:o}",
                     "success", 1, "message",
                     "Integration created successfully", "data",
                     itsm_integration_to_json(p, it)));
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int h_update(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_array_header_t *audit;
    integration_input_t in;
    itsm_integration_t *it;
    itsm_db_t *db;
    apr_status_t rv;
    const char *old_url, *old_type, *old_token_url;
    int rc, was_active;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, itsm_integration_can_manage, &it);
    }
    if (rc == ITSM_CONTINUE) {
        rc = parse_input(req, db, &in);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }

    was_active = it->is_active;
    old_url = it->base_url;
    old_type = it->type;
    old_token_url = itsm_json_string(it->options, "tokenUrl");
    if (in.has_name) {
        it->name = in.name;
    }
    if (in.has_description) {
        it->description = in.description;
    }
    if (in.has_type) {
        it->type = in.type;
    }
    if (in.has_base_url) {
        it->base_url = in.base_url;
    }
    if (in.has_auth_type) {
        it->auth_type = in.auth_type;
    }
    if (in.has_options) {
        it->options = in.options;
    }
    if (in.has_ca) {
        it->ca_certificate = in.ca;
    }
    if (in.has_endpoints) {
        it->endpoints = in.endpoints;
    }
    if (in.has_managers) {
        it->managers = in.managers;
    }
    if (in.has_is_active) {
        it->is_active = in.is_active;
    }

    rc = validate_target(req, it, &in);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    /* Credentials: absent keeps the stored ones, null removes them, an
     * object replaces them. */
    if (in.has_credentials && !in.credentials) {
        it->sealed_credentials = NULL;
    }
    else if (in.credentials
             && seal_credentials(req, it->id, in.credentials,
                                 &it->sealed_credentials) != APR_SUCCESS) {
        return itsm_send_db_error(req, APR_EGENERAL, NULL,
                                  "Error updating integration");
    }
    /* Stored credentials never follow the integration to another
     * address: anyone who may edit it could otherwise point it at a server of
     * their own and receive them. */
    if (it->sealed_credentials && !in.has_credentials
        && (strcmp(old_url, it->base_url) != 0
            || strcmp(old_type, it->type) != 0
            || !same_text(old_token_url,
                          itsm_json_string(it->options, "tokenUrl")))) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
                               "config.auth.credentials must be sent again "
                               "when type, config.baseUrl or "
                               "config.options.tokenUrl changes");
    }
    itsm_probe_forget_token(it->id);
    it->updated_at = itsm_now_ms();
    if (was_active != it->is_active) {
        it->health_status = it->is_active ? "unknown" : "inactive";
        it->health_message = it->is_active ? MSG_ACTIVATED_PENDING
                                           : MSG_INACTIVE;
        it->health_checked_at = it->updated_at;
        /* The last probe's numbers do not describe the new state. */
        it->health_latency_ms = it->health_http_status = -1;
    }

    audit = apr_array_make(p, 2, sizeof(audit_entry_t));
    audit_add(audit, "integration.update", changed_fields(&in));
    if (was_active != it->is_active) {
        audit_add(audit, it->is_active ? "integration.activate"
                                       : "integration.deactivate", NULL);
    }
    rv = store_integration(req, db, it, 0, audit);
    if (rv != APR_SUCCESS) {
        return send_store_error(req, rv, db, "Error updating integration");
    }
    if (in.has_credentials || in.has_auth || in.has_base_url
        || in.has_type || in.has_options || in.has_ca
        || (it->is_active && !was_active)) {
        schedule_first_check(req, db, it);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00042)
                  "integration %s updated by %s%s", it->id,
                  req->caller->user->id,
                  in.has_credentials ? " (credentials changed)" : "");
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s, s:o}",
                     "success", 1, "message",
                     "Integration updated successfully", "data",
                     itsm_integration_to_json(p, it)));
}

static int h_delete(itsm_req_t *req)
{
    const char *id = req->params[0];
    itsm_integration_t *it;
    itsm_db_t *db;
    apr_status_t rv;
    int rc, nrows = 0;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, itsm_integration_can_manage, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_managers_delete, ITSM_ARGS(id), NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_health_checks_delete, ITSM_ARGS(id),
                          NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_health_hourly_delete, ITSM_ARGS(id),
                          NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_integration_delete, ITSM_ARGS(id),
                          &nrows);
    }
    if (rv == APR_SUCCESS && nrows == 0) {
        rv = APR_ENOENT;
    }
    if (rv == APR_SUCCESS) {
        rv = itsm_audit(req, db, "integration.delete", "integration", id,
                        ITSM_AUDIT_SUCCESS, json_pack("{s:s, s:s}", "name",
                                                      it->name, "type",
                                                      it->type));
    }
    rv = itsm_db_finish(db, rv);
    if (rv != APR_SUCCESS) {
        return send_store_error(req, rv, db, "Error deleting integration");
    }
    itsm_probe_forget_token(id);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00043)
                  "integration %s (%s) deleted by %s", id, it->name,
                  req->caller->user->id);
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s}", "success", 1,
                     "message", "Integration deleted successfully"));
}

apr_status_t itsm_integration_target(apr_pool_t *p, itsm_srv_cfg_t *sc,
                                     const itsm_integration_t *it,
                                     itsm_probe_target_t *target,
                                     const char **perr)
{
    const char *plain;
    apr_status_t rv;

    memset(target, 0, sizeof(*target));
    target->id = it->id;
    target->type = it->type;
    target->base_url = it->base_url;
    target->auth_type = it->auth_type;
    target->options = it->options;
    target->ca_pem = it->ca_certificate;
    if (!it->sealed_credentials) {
        return APR_SUCCESS;
    }
    rv = itsm_vault_open(&plain, p, sc->vault, it->id,
                         it->sealed_credentials, perr);
    if (rv == APR_SUCCESS) {
        target->credentials = itsm_json_bind(p, json_loads(plain, 0, NULL));
        if (!json_is_object(target->credentials)) {
            *perr = "stored credentials are not a JSON object";
            rv = APR_EGENERAL;
        }
    }
    return rv;
}

apr_status_t itsm_integration_add_history(itsm_db_t *db, const char *id,
                                         const itsm_probe_result_t *res,
                                         apr_int64_t checked_at)
{
    apr_pool_t *p = db->p;
    const char *status = itsm_health_name(res->status);
    const char *latency = res->checked_at
                          ? apr_ltoa(p, res->latency_ms) : NULL;
    const char *http = res->http_status ? apr_itoa(p, res->http_status)
                                        : NULL;
    apr_int64_t hour = checked_at - checked_at % (3600 * 1000);
    apr_status_t rv;

    rv = itsm_db_exec(db, ITSM_Q_health_check_insert,
                      ITSM_ARGS(id, itsm_i64toa(p, checked_at), status,
                                latency, http, res->message), NULL);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_health_hourly_add,
                          ITSM_ARGS(id, itsm_i64toa(p, hour),
                                    res->status == ITSM_HEALTH_HEALTHY
                                    ? "1" : "0"), NULL);
    }
    return rv;
}

apr_status_t itsm_integration_record_health(itsm_db_t *db,
                                            const char *id,
                                            const itsm_probe_result_t *res,
                                            apr_int64_t checked_at)
{
    apr_pool_t *p = db->p;
    const char *latency = res->checked_at
                          ? apr_ltoa(p, res->latency_ms) : NULL;
    const char *http = res->http_status ? apr_itoa(p, res->http_status)
                                        : NULL;
    const char *failed = res->status == ITSM_HEALTH_UNHEALTHY ? "1" : "0";
    apr_status_t rv;
    int nrows = 0;

    rv = itsm_db_begin(db);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_exec(db, ITSM_Q_integration_health_update,
                          ITSM_ARGS(itsm_health_name(res->status),
                                    res->message,
                                    itsm_i64toa(p, checked_at), latency,
                                    http, failed, failed, id), &nrows);
    }
    /* No history row when the integration was deactivated or deleted
     * while the probe ran. */
    if (rv == APR_SUCCESS && nrows > 0) {
        rv = itsm_integration_add_history(db, id, res, checked_at);
    }
    return itsm_db_finish(db, rv);
}

apr_status_t itsm_integration_check_now(itsm_req_t *req, itsm_db_t *db,
                                       itsm_integration_t *it)
{
    apr_pool_t *p = req->r->pool;
    itsm_probe_target_t target;
    itsm_probe_result_t *res;
    const char *err = NULL;
    apr_status_t rv;

    if (!it->is_active) {
        /* A deactivated integration is not contacted at all. */
        it->health_status = "inactive";
        it->health_message = MSG_INACTIVE;
        it->health_checked_at = itsm_now_ms();
        return APR_SUCCESS;
    }
    rv = itsm_integration_target(p, req->sc, it, &target, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, req->r, ITSM_LOGNO(00044)
                      "cannot decrypt the credentials of integration %s: %s",
                      it->id, err);
        res = apr_pcalloc(p, sizeof(*res));
        res->status = ITSM_HEALTH_UNHEALTHY;
        res->message = "Stored credentials cannot be decrypted (a "
                       "missing key, or an altered or moved ciphertext); set "
                       "them again";
    }
    else {
        /* No transaction or statement is open while the probe runs. */
        itsm_probe_run(&res, p, &req->sc->probe, &target);
    }
    it->health_checked_at = itsm_now_ms();
    rv = itsm_integration_record_health(db, it->id, res,
                                        it->health_checked_at);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    it->health_status = itsm_health_name(res->status);
    it->health_message = res->message;
    it->health_latency_ms = res->checked_at
                            ? res->latency_ms : -1;
    it->health_http_status = res->http_status ? res->http_status : -1;
    it->consecutive_failures = res->status == ITSM_HEALTH_UNHEALTHY
                               ? it->consecutive_failures + 1 : 0;
    /* Best effort: the uptime shown then includes this check. */
    load_uptime(db, ITSM_Q_health_uptime_one, it, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00045)
                  "health check of integration %s: %s (%s)", it->id,
                  it->health_status, it->health_message);
    return APR_SUCCESS;
}

static int h_check_health(itsm_req_t *req)
{
    itsm_integration_t *it;
    itsm_db_t *db;
    apr_status_t rv;
    int rc;

    rc = itsm_req_db(req, &db);
    if (rc == ITSM_CONTINUE) {
        rc = load_target(req, db, itsm_integration_can_manage, &it);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_integration_check_now(req, db, it);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db,
                                  "Error recording the health check");
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s, s:o}", "success", 1,
                     "message", "Health check performed", "data",
                     itsm_integration_health_json(req->r->pool, it)));
}

/* Finds an integration by id or, in any case, by name. */
apr_status_t itsm_integration_find(itsm_db_t *db, const char *id_or_name,
                                   itsm_integration_t **pit)
{
    itsm_rows_t *rows;
    apr_status_t rv;

    if (itsm_id_is_valid(id_or_name)) {
        rv = itsm_integration_load(db, id_or_name, pit);
        if (!APR_STATUS_IS_ENOENT(rv)) {
            return rv;
        }
    }
    rv = itsm_db_select(db, ITSM_Q_integration_by_name,
                        ITSM_ARGS(itsm_email_key(db->p, id_or_name)), &rows);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nrows == 0) {
        return APR_ENOENT;
    }
    return itsm_integration_load(db, rows->rows[0][COL_ID], pit);
}

apr_status_t itsm_integration_list(itsm_db_t *db, const char *type,
                                   apr_array_header_t **plist)
{
    return load_list(db, ITSM_Q_integration_page,
                     ITSM_ARGS(type, type, NULL, NULL, NULL, NULL, NULL, NULL,
                               NULL, "-1", "-1", "", ITSM_LIST_LIMIT),
                     plist);
}

/* Re-encrypts every stored credential that is not sealed under the
 * primary key, for key rotation. Safe to run while requests go on. */
static int h_reencrypt(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    itsm_rows_t *rows;
    itsm_db_t *db;
    const char *sealed = NULL, *err = NULL;
    apr_status_t rv;
    int rc, i, done = 0, failed = 0, nrows;

    rc = itsm_req_db(req, &db);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    rv = itsm_db_select(db, ITSM_Q_integration_sealed_credentials,
                        ITSM_NO_ARGS, &rows);
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error re-encrypting");
    }
    for (i = 0; i < rows->nrows; i++) {
        const char *id = rows->rows[i][0], *old = rows->rows[i][1];
        const char *key_id = itsm_vault_key_id_of(p, old);

        if (!itsm_vault_needs_reseal(req->sc->vault, old)) {
            /* Rows of the primary key need nothing. The others have a key
             * that is not loaded, or are not sealed text at all, so they
             * cannot be re-encrypted and count as failed. */
            if (key_id && strcmp(key_id, itsm_vault_primary_key_id(
                                             req->sc->vault)) == 0) {
                continue;
            }
            err = key_id ? apr_psprintf(p, "they are sealed with key %s, "
                                        "which is not loaded", key_id)
                         : "they are not in the v1.<key id>.<data> format";
            rv = APR_ENOENT;
        }
        else {
            rv = itsm_vault_reseal(&sealed, p, req->sc->vault, id, old,
                                   &err);
        }
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, ITSM_LOGNO(00046)
                          "cannot re-encrypt the credentials of integration "
                          "%s: %s", id, err);
            failed++;
            continue;
        }
        nrows = 0;
        rv = itsm_db_exec(db, ITSM_Q_integration_reseal,
                          ITSM_ARGS(sealed, id, old), &nrows);
        if (rv != APR_SUCCESS) {
            return itsm_send_db_error(req, rv, db, "Error re-encrypting");
        }
        done += nrows;
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, req->r, ITSM_LOGNO(00047)
                  "re-encrypted %d credentials under key %s (%d failed)",
                  done, itsm_vault_primary_key_id(req->sc->vault), failed);
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:s, s:{s:i, s:i, s:s}}",
                     "success", 1, "message", "Credentials re-encrypted",
                     "data", "reencrypted", done, "failed", failed,
                     "keyId", itsm_vault_primary_key_id(req->sc->vault)));
}

const itsm_route_t itsm_integration_routes[] = {
    { M_GET, "/integration", h_list, ITSM_ACCESS_INTEGRATOR, 0 },
    { M_POST, "/integration", h_create, ITSM_ACCESS_INTEGRATOR,
      ITSM_ROUTE_BODY },
    { M_GET, "/integration/type/:type", h_list_by_type,
      ITSM_ACCESS_INTEGRATOR, 0 },
    { M_POST, "/integration/credentials/reencrypt", h_reencrypt,
      ITSM_ACCESS_ADMIN, 0 },
    { M_GET, "/integration/:id", h_get, ITSM_ACCESS_USER, 0 },
    { M_PUT, "/integration/:id", h_update, ITSM_ACCESS_USER,
      ITSM_ROUTE_BODY },
    { M_DELETE, "/integration/:id", h_delete, ITSM_ACCESS_ADMIN, 0 },
    { M_POST, "/integration/:id/check-health", h_check_health,
      ITSM_ACCESS_USER, 0 },
    { 0, NULL, NULL, 0, 0 }
};
