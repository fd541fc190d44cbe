/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_audit.h"
#include "itsm_json.h"
#include "itsm_util.h"

apr_status_t itsm_audit(itsm_req_t *req, itsm_db_t *db, const char *action,
                        const char *target_type, const char *target_id,
                        int outcome, json_t *details)
{
    request_rec *r = req->r;
    const char *actor_type = "anonymous", *actor_id = NULL;
    const char *details_text = NULL;
    apr_status_t rv;

    itsm_json_bind(r->pool, details);
    if (req->caller && req->caller->api_key_id) {
        actor_type = "api_key";
        actor_id = req->caller->api_key_id;
        if (!details) {
            details = itsm_json_bind(r->pool, json_object());
        }
        json_object_set_new(details, "userId",
                            json_string(req->caller->user->id));
    }
    else if (req->caller) {
        actor_type = "user";
        actor_id = req->caller->user->id;
    }
    if (details) {
        details_text = itsm_json_dump(r->pool, details);
    }
    rv = itsm_db_exec(db, ITSM_Q_audit_insert,
                      ITSM_ARGS(itsm_i64toa(r->pool, itsm_now_ms()),
                                actor_type, actor_id, action, target_type,
                                target_id, r->useragent_ip,
                                apr_table_get(r->subprocess_env, "UNIQUE_ID"),
                                outcome ? "success" : "failure",
                                details_text), NULL);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, ITSM_LOGNO(00060)
                      "cannot write the audit record of %s: %s", action,
                      db->error);
    }
    return rv;
}

/* Reads a time filter given as RFC 3339 UTC text. */
static int time_param(itsm_req_t *req, apr_table_t *args, const char *name,
                      apr_int64_t *pms)
{
    const char *v = apr_table_get(args, name);

    if (v && itsm_time_parse(v, pms) != APR_SUCCESS) {
        return itsm_send_error(req, HTTP_BAD_REQUEST,
            apr_psprintf(req->r->pool, "%s must be a UTC time such as "
                         "2024-01-31T00:00:00Z", name));
    }
    return ITSM_CONTINUE;
}

static json_t *nullable_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int h_list(itsm_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    apr_table_t *args = itsm_query_args(req);
    const char *actor = apr_table_get(args, "actor");
    const char *action = apr_table_get(args, "action");
    const char *target_type = apr_table_get(args, "targetType");
    const char *target = apr_table_get(args, "target");
    apr_int64_t from = 0, to = APR_INT64_MAX, limit, before = APR_INT64_MAX;
    const char *cursor = NULL, *f, *t;
    itsm_rows_t *rows, *count;
    itsm_db_t *db;
    json_t *data;
    apr_status_t rv;
    int rc, i;

    rc = time_param(req, args, "from", &from);
    if (rc == ITSM_CONTINUE) {
        rc = time_param(req, args, "to", &to);
    }
    if (rc == ITSM_CONTINUE) {
        rc = itsm_page_params(req, args, &limit, &cursor);
    }
    if (rc == ITSM_CONTINUE && cursor
        && (itsm_parse_int64(cursor, &before) != APR_SUCCESS || before < 1)) {
        rc = itsm_send_error(req, HTTP_BAD_REQUEST,
                             "cursor must be a nextCursor value from an "
                             "earlier page");
    }
    if (rc == ITSM_CONTINUE) {
        rc = itsm_req_db(req, &db);
    }
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    f = itsm_i64toa(p, from);
    t = itsm_i64toa(p, to);
    rv = itsm_db_select(db, ITSM_Q_audit_list,
                        ITSM_ARGS(actor, actor, action, action, target_type,
                                  target_type, target, target, f, t,
                                  itsm_i64toa(p, before),
                                  itsm_i64toa(p, limit)), &rows);
    if (rv == APR_SUCCESS) {
        rv = itsm_db_select(db, ITSM_Q_audit_count,
                            ITSM_ARGS(actor, actor, action, action,
                                      target_type, target_type, target,
                                      target, f, t), &count);
    }
    if (rv != APR_SUCCESS) {
        return itsm_send_db_error(req, rv, db, "Error fetching audit log");
    }
    data = json_array();
    for (i = 0; i < rows->nrows; i++) {
        const char **row = rows->rows[i];
        apr_int64_t at = 0;
        json_t *details = row[10] ? json_loads(row[10], 0, NULL) : NULL;

        itsm_parse_int64(row[1], &at);
        json_array_append_new(data, json_pack(
            "{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o}",
            "_id", row[0], "at", itsm_time_format(p, at), "actorType", row[2],
            "actorId", nullable_string(row[3]), "action", row[4],
            "targetType", nullable_string(row[5]),
            "targetId", nullable_string(row[6]),
            "clientIp", nullable_string(row[7]),
            "requestId", nullable_string(row[8]), "outcome", row[9],
            "details", details ? details : json_object()));
    }
    return itsm_send(req, HTTP_OK, json_pack("{s:b, s:i, s:I, s:o, s:o}",
                     "success", 1, "count", rows->nrows, "total",
                     (json_int_t)itsm_rows_int(count, 0, 0), "data", data,
                     "nextCursor", rows->nrows == limit
                     ? json_string(rows->rows[rows->nrows - 1][0])
                     : json_null()));
}

const itsm_route_t itsm_audit_routes[] = {
    { M_GET, "/audit", h_list, ITSM_ACCESS_ADMIN, 0 },
    { 0, NULL, NULL, 0, 0 }
};
