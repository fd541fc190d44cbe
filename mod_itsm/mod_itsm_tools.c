/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The MCP tools: their schemas and annotations, how a call finds the
 * integration it works on, access rules, and the audit row of each call.
 * Admins and integrators may use every integration, other users those
 * they created or manage. */

#include <string.h>

#include <apr_strings.h>

#include <httpd.h>
#include <http_log.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_integrations.h"
#include "mod_itsm_mcp.h"
#include "mod_itsm_tickets.h"
#include "itsm_json.h"
#include "itsm_util.h"

/* Maximum length of an argument value copied into the audit log. */
#define AUDIT_VALUE_MAX 200

/* ---------------------------------------------------------------------
 * Schemas
 */

#define NULLABLE_STR "{\"type\":[\"string\",\"null\"]}"

#define TARGET_PROPS \
    "\"integration\":{\"type\":\"string\",\"minLength\":1," \
    "\"description\":\"Id or name of the integration, from " \
    "list_integrations\"}," \
    "\"system\":{\"type\":\"string\",\"enum\":[\"jira\",\"servicenow\"," \
    "\"zendesk\",\"ivanti\",\"cherwell\",\"custom\"],\"description\":" \
    "\"System type, when exactly one integration of it is available\"}"

#define TICKET_ID \
    "\"ticket_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200," \
    "\"description\":\"Ticket id or key, e.g. PROJ-12, INC0010001 or 42\"}"

#define PRIORITY \
    "\"priority\":{\"type\":\"string\",\"enum\":[\"low\",\"medium\"," \
    "\"high\",\"critical\"]}"

#define STATUS \
    "\"status\":{\"type\":\"string\",\"enum\":[\"open\",\"in_progress\"," \
    "\"resolved\",\"closed\"]}"

#define TICKET_SCHEMA \
    "{\"type\":\"object\",\"properties\":{" \
    "\"id\":{\"type\":\"string\"},\"key\":" NULLABLE_STR "," \
    "\"title\":{\"type\":\"string\"},\"description\":" NULLABLE_STR "," \
    "\"status\":" NULLABLE_STR ",\"priority\":" NULLABLE_STR "," \
    "\"assignee\":" NULLABLE_STR ",\"url\":" NULLABLE_STR "," \
    "\"created\":" NULLABLE_STR ",\"updated\":" NULLABLE_STR "," \
    "\"system\":{\"type\":\"string\"},\"integration\":{\"type\":\"string\"}" \
    "},\"required\":[\"id\",\"title\",\"status\",\"system\"," \
    "\"integration\"]}"

#define HEALTH_SCHEMA \
    "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"}," \
    "\"message\":{\"type\":\"string\"},\"lastChecked\":{\"type\":\"string\"}" \
    "},\"required\":[\"status\",\"message\",\"lastChecked\"]}"

#define INTEGRATION_SUMMARY_SCHEMA \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}," \
    "\"name\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"}," \
    "\"description\":{\"type\":\"string\"}," \
    "\"isActive\":{\"type\":\"boolean\"},\"health\":" HEALTH_SCHEMA "}," \
    "\"required\":[\"id\",\"name\",\"type\",\"isActive\",\"health\"]}"

#define OBJECT_OF(props, required) \
    "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" \
    required "],\"additionalProperties\":false}"

#define OUTPUT_OF(props, required) \
    "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" \
    required "]}"

/* ---------------------------------------------------------------------
 * Integration lookup and access
 */

/* Finds the integration a call names by "integration" (id or name) or
 * "system" (a type with exactly one usable integration). Returns a
 * message for the agent when it cannot. */
static const char *resolve_integration(itsm_req_t *req, itsm_db_t *db,
                                       json_t *args,
                                       itsm_integration_t **pit)
{
    apr_pool_t *p = req->r->pool;
    const char *name = itsm_json_string(args, "integration");
    const char *system = itsm_json_string(args, "system");
    apr_array_header_t *list;
    const char *candidates = "";
    apr_status_t rv;
    int i, found = 0;

    if (name) {
        rv = itsm_integration_find(db, name, pit);
        if (rv == APR_SUCCESS && system && itsm_integration_can_read(req, *pit)
            && strcmp(system, (*pit)->type) != 0) {
            return apr_psprintf(p, "Integration '%s' is a %s integration, "
                                "not %s; pass only one of 'integration' and "
                                "'system'.", name, (*pit)->type, system);
        }
        if (APR_STATUS_IS_ENOENT(rv)
            || (rv == APR_SUCCESS && !itsm_integration_can_read(req, *pit))) {
            return apr_psprintf(p, "No integration named '%s' is available "
                                "to you; call list_integrations to see "
                                "those you may use.", name);
        }
        return rv == APR_SUCCESS ? NULL : "The registry is not available "
                                          "right now; try again shortly.";
    }
    if (!system) {
        return "Pass 'integration' (an id or name from list_integrations) "
               "or 'system' (jira, servicenow, zendesk, ...).";
    }
    rv = itsm_integration_list(db, system, &list);
    if (rv != APR_SUCCESS) {
        return "The registry is not available right now; try again "
               "shortly.";
    }
    for (i = 0; i < list->nelts; i++) {
        itsm_integration_t *it = APR_ARRAY_IDX(list, i, itsm_integration_t *);

        if (!itsm_integration_can_read(req, it)) {
            continue;
        }
        candidates = apr_psprintf(p, "%s%s'%s' (%s)", candidates,
                                  found ? ", " : "", it->name, it->id);
        *pit = it;
        found++;
    }
    if (found == 0) {
        return apr_psprintf(p, "No %s integration is available to you.",
                            system);
    }
    if (found > 1) {
        return apr_psprintf(p, "%d %s integrations are available: %s. Pass "
                            "one of them as 'integration'.", found, system,
                            candidates);
    }
    return NULL;
}

static json_t *health_summary(apr_pool_t *p, const itsm_integration_t *it)
{
    return json_pack("{s:s, s:s, s:s}", "status", it->health_status,
                     "message", it->health_message, "lastChecked",
                     itsm_time_format(p, it->health_checked_at));
}

static json_t *integration_summary(apr_pool_t *p,
                                   const itsm_integration_t *it)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "id", it->id,
                     "name", it->name, "type", it->type, "description",
                     it->description, "isActive", it->is_active,
                     "health", health_summary(p, it));
}

/* ---------------------------------------------------------------------
 * Tools
 */

static json_t *t_list_integrations(itsm_req_t *req,
                                   const itsm_mcp_tool_t *tool, json_t *args)
{
    apr_pool_t *p = req->r->pool;
    const char *type = itsm_json_string(args, "system");
    const char *status = itsm_json_string(args, "status");
    apr_array_header_t *list;
    json_t *items;
    itsm_db_t *db;
    int i;

    if (itsm_db_acquire(req->r, &db) != APR_SUCCESS
        || itsm_integration_list(db, type, &list) != APR_SUCCESS) {
        return itsm_mcp_tool_error("The registry is not available right "
                                   "now; try again shortly.");
    }
    items = json_array();
    for (i = 0; i < list->nelts; i++) {
        itsm_integration_t *it = APR_ARRAY_IDX(list, i, itsm_integration_t *);

        if (itsm_integration_can_read(req, it)
            && (!status || strcmp(status, it->health_status) == 0)) {
            json_array_append_new(items, integration_summary(p, it));
        }
    }
    return itsm_mcp_tool_result(p, json_pack("{s:I, s:o}", "count",
                                (json_int_t)json_array_size(items),
                                "integrations", items));
}

static json_t *t_get_integration(itsm_req_t *req,
                                 const itsm_mcp_tool_t *tool, json_t *args)
{
    apr_pool_t *p = req->r->pool;
    itsm_integration_t *it = req->mcp_integration;
    json_t *full = itsm_integration_to_json(p, it), *out;

    /* The agent gets the same fields as /api, credentials only as a
     * flag, with the health in the short form. */
    out = integration_summary(p, it);
    json_object_set(out, "baseUrl",
                    json_object_get(json_object_get(full, "config"),
                                    "baseUrl"));
    json_object_set(out, "auth", json_object_get(
                        json_object_get(full, "config"), "auth"));
    json_object_set(out, "endpoints", json_object_get(full, "endpoints"));
    json_object_set(out, "managers", json_object_get(full, "managers"));
    json_object_set(out, "createdBy", json_object_get(full, "createdBy"));
    json_decref(full);
    return itsm_mcp_tool_result(p, json_pack("{s:o}", "integration", out));
}

static json_t *t_check_health(itsm_req_t *req, const itsm_mcp_tool_t *tool,
                              json_t *args)
{
    apr_pool_t *p = req->r->pool;
    itsm_integration_t *it = req->mcp_integration;
    json_t *health;
    itsm_db_t *db;

    /* As POST /api/integration/:id/check-health: the probe contacts the
     * service with the stored credentials and records the result. */
    if (!itsm_integration_can_manage(req, it)) {
        return itsm_mcp_tool_error("Only admins, the integration's creator "
                                   "and its managers may run a health "
                                   "check; the last result is in "
                                   "get_integration.");
    }
    if (itsm_db_acquire(req->r, &db) != APR_SUCCESS
        || itsm_integration_check_now(req, db, it) != APR_SUCCESS) {
        return itsm_mcp_tool_error("The health check ran but its result "
                                   "could not be stored; try again "
                                   "shortly.");
    }
    health = health_summary(p, it);
    json_object_set_new(health, "integration", json_string(it->id));
    if (it->health_latency_ms >= 0) {
        json_object_set_new(health, "latencyMs",
                            json_integer(it->health_latency_ms));
    }
    if (it->health_http_status >= 0) {
        json_object_set_new(health, "httpStatus",
                            json_integer(it->health_http_status));
    }
    return itsm_mcp_tool_result(p, health);
}

/* Runs the ticket operation of a ticket tool. */
static json_t *t_ticket(itsm_req_t *req, const itsm_mcp_tool_t *tool,
                        json_t *args)
{
    const char *err = NULL;
    json_t *result = NULL;
    apr_status_t rv;

    rv = itsm_ticket_run(req, req->mcp_integration, tool->op, args, &result,
                         &err);
    if (rv != APR_SUCCESS) {
        return itsm_mcp_tool_error(apr_psprintf(req->r->pool,
            "%s failed on %s (%s): %s", tool->name,
            req->mcp_integration->name, req->mcp_integration->type,
            err ? err : "unknown error"));
    }
    return itsm_mcp_tool_result(req->r->pool, result);
}

const itsm_mcp_tool_t itsm_mcp_tools[] = {
    { "list_integrations", "List integrations",
      "Lists the ITSM integrations you may use, with their health. Filter "
      "by system type or health status.",
      OBJECT_OF("\"system\":{\"type\":\"string\",\"enum\":[\"jira\","
                "\"servicenow\",\"zendesk\",\"ivanti\",\"cherwell\","
                "\"custom\"]},\"status\":{\"type\":\"string\",\"enum\":["
                "\"healthy\",\"degraded\",\"unhealthy\",\"unknown\","
                "\"inactive\"]}", ""),
      OUTPUT_OF("\"count\":{\"type\":\"integer\"},\"integrations\":{\"type\":"
                "\"array\",\"items\":" INTEGRATION_SUMMARY_SCHEMA "}",
                "\"count\",\"integrations\""),
      1, 0, 1, 0, 0, ITSM_TICKET_NONE, t_list_integrations },
    { "get_integration", "Get an integration",
      "Shows one integration: type, base URL, auth type (never the "
      "credentials), endpoints, managers and health.",
      OBJECT_OF(TARGET_PROPS, ""),
      OUTPUT_OF("\"integration\":{\"type\":\"object\"}", "\"integration\""),
      1, 0, 1, 0, 1, ITSM_TICKET_NONE, t_get_integration },
    { "check_integration_health", "Check integration health",
      "Probes the integration now with its stored credentials and reports "
      "healthy, degraded or unhealthy with the reason. Admins, its creator "
      "and its managers only.",
      OBJECT_OF(TARGET_PROPS, ""),
      OUTPUT_OF("\"integration\":{\"type\":\"string\"},\"status\":{\"type\":"
                "\"string\"},\"message\":{\"type\":\"string\"},"
                "\"lastChecked\":{\"type\":\"string\"},\"latencyMs\":{\"type\":"
                "\"integer\"},\"httpStatus\":{\"type\":\"integer\"}",
                "\"integration\",\"status\",\"message\",\"lastChecked\""),
      0, 0, 1, 1, 1, ITSM_TICKET_NONE, t_check_health },
    { "create_ticket", "Create a ticket",
      "Creates a ticket (Jira issue, ServiceNow incident, Zendesk ticket) "
      "in the integration's system.",
      OBJECT_OF(TARGET_PROPS ",\"title\":{\"type\":\"string\",\"minLength\":1,"
                "\"maxLength\":255},\"description\":{\"type\":\"string\","
                "\"maxLength\":32000}," PRIORITY, "\"title\""),
      OUTPUT_OF("\"ticket\":" TICKET_SCHEMA, "\"ticket\""),
      0, 0, 0, 1, 1, ITSM_TICKET_CREATE, t_ticket },
    { "get_ticket", "Get a ticket",
      "Reads one ticket by id or key.",
      OBJECT_OF(TARGET_PROPS "," TICKET_ID, "\"ticket_id\""),
      OUTPUT_OF("\"ticket\":" TICKET_SCHEMA, "\"ticket\""),
      1, 0, 1, 1, 1, ITSM_TICKET_GET, t_ticket },
    { "update_ticket", "Update a ticket",
      "Changes a ticket's status or priority and may add a public "
      "comment.",
      OBJECT_OF(TARGET_PROPS "," TICKET_ID "," STATUS "," PRIORITY
                ",\"comment\":{\"type\":\"string\",\"minLength\":1,"
                "\"maxLength\":32000}", "\"ticket_id\""),
      OUTPUT_OF("\"ticket\":" TICKET_SCHEMA, "\"ticket\""),
      0, 0, 0, 1, 1, ITSM_TICKET_UPDATE, t_ticket },
    { "list_tickets", "List tickets",
      "Lists tickets, newest first, optionally by status or assignee; "
      "pass nextCursor back as cursor for more.",
      OBJECT_OF(TARGET_PROPS "," STATUS ",\"assigned_to\":{\"type\":"
                "\"string\",\"minLength\":1,\"maxLength\":200},\"limit\":{"
                "\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
                "\"cursor\":{\"type\":\"string\",\"maxLength\":2000}", ""),
      OUTPUT_OF("\"tickets\":{\"type\":\"array\",\"items\":" TICKET_SCHEMA
                "},\"nextCursor\":" NULLABLE_STR, "\"tickets\""),
      1, 0, 1, 1, 1, ITSM_TICKET_LIST, t_ticket },
    { "assign_ticket", "Assign a ticket",
      "Assigns a ticket to a user of the system (Jira accountId, "
      "ServiceNow user sys_id or user_name, Zendesk user id).",
      OBJECT_OF(TARGET_PROPS "," TICKET_ID ",\"user_id\":{\"type\":"
                "\"string\",\"minLength\":1,\"maxLength\":200}",
                "\"ticket_id\",\"user_id\""),
      OUTPUT_OF("\"ticket\":" TICKET_SCHEMA, "\"ticket\""),
      0, 0, 1, 1, 1, ITSM_TICKET_ASSIGN, t_ticket },
    { "add_comment", "Comment on a ticket",
      "Adds a comment to a ticket; internal comments (work notes) are "
      "hidden from the requester.",
      OBJECT_OF(TARGET_PROPS "," TICKET_ID ",\"comment\":{\"type\":"
                "\"string\",\"minLength\":1,\"maxLength\":32000},"
                "\"internal\":{\"type\":\"boolean\"}",
                "\"ticket_id\",\"comment\""),
      OUTPUT_OF("\"comment\":{\"type\":\"object\"}", "\"comment\""),
      0, 0, 0, 1, 1, ITSM_TICKET_COMMENT, t_ticket },
    { "search_knowledge_base", "Search the knowledge base",
      "Searches knowledge articles (Confluence for Jira, kb_knowledge for "
      "ServiceNow, Help Center for Zendesk).",
      OBJECT_OF(TARGET_PROPS ",\"query\":{\"type\":\"string\",\"minLength\":"
                "1,\"maxLength\":500},\"limit\":{\"type\":\"integer\","
                "\"minimum\":1,\"maximum\":50}", "\"query\""),
      OUTPUT_OF("\"articles\":{\"type\":\"array\",\"items\":{\"type\":"
                "\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
                "\"title\":{\"type\":\"string\"},\"snippet\":" NULLABLE_STR
                ",\"url\":" NULLABLE_STR "},\"required\":[\"id\","
                "\"title\"]}}", "\"articles\""),
      1, 0, 1, 1, 1, ITSM_TICKET_KB_SEARCH, t_ticket },
    { NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, NULL }
};

json_t *itsm_mcp_tool_json(apr_pool_t *p, const itsm_mcp_tool_t *tool)
{
    json_t *input = json_loads(tool->input_schema, 0, NULL);
    json_t *output = json_loads(tool->output_schema, 0, NULL);
    /* Every hint is given, because an absent destructiveHint means true
     * and an absent idempotentHint false to a client. */
    json_t *annotations = json_pack("{s:s, s:b, s:b, s:b, s:b}",
                                    "title", tool->title,
                                    "readOnlyHint", tool->read_only,
                                    "destructiveHint", tool->destructive,
                                    "idempotentHint", tool->idempotent,
                                    "openWorldHint", tool->open_world);

    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", tool->name,
                     "title", tool->title, "description", tool->description,
                     "inputSchema", input ? input : json_object(),
                     "outputSchema", output ? output : json_object(),
                     "annotations", annotations);
}

/* Copies the arguments for the audit log, with long text cut short. Only
 * the arguments that the input schema declares are copied, because a
 * call may carry any others, credentials included, and is rejected for
 * them. */
static json_t *audit_arguments(json_t *args, json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    json_t *copy = json_object(), *v;
    const char *key, *text;
    size_t len;

    json_object_foreach(args, key, v) {
        if (!json_object_get(props, key)) {
            continue;
        }
        if (json_is_string(v) && json_string_length(v) > AUDIT_VALUE_MAX) {
            /* The cut must not split a UTF-8 sequence, or jansson
             * rejects the string. */
            text = json_string_value(v);
            len = AUDIT_VALUE_MAX;
            while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
                len--;
            }
            json_object_set_new(copy, key, json_stringn(text, len));
        }
        else {
            json_object_set(copy, key, v);
        }
    }
    return copy;
}

json_t *itsm_mcp_call_tool(itsm_req_t *req, const itsm_mcp_tool_t *tool,
                           json_t *args)
{
    apr_pool_t *p = req->r->pool;
    json_t *schema, *result;
    const char *err;
    itsm_db_t *db = NULL;
    int failed;

    schema = itsm_json_bind(p, json_loads(tool->input_schema, 0, NULL));
    if (req->caller->read_only && !tool->read_only) {
        err = apr_pstrcat(p, "A read-scoped API key may call only read-only "
                          "tools, and ", tool->name, " changes data; use a "
                          "key with write scope.", NULL);
    }
    else {
        err = itsm_mcp_check_arguments(p, args, schema);
    }
    if (!err && tool->needs_integration) {
        if (itsm_db_acquire(req->r, &db) != APR_SUCCESS) {
            err = "The registry is not available right now; try again "
                  "shortly.";
        }
        else {
            err = resolve_integration(req, db, args, &req->mcp_integration);
        }
        if (err) {
            /* On failure it may point to a candidate that was not used,
             * which the audit row must not name. */
            req->mcp_integration = NULL;
        }
        if (!err && !req->mcp_integration->is_active
            && tool->op != ITSM_TICKET_NONE) {
            err = apr_psprintf(p, "Integration '%s' is inactive; an "
                               "administrator must activate it before "
                               "tickets can be used.",
                               req->mcp_integration->name);
        }
    }
    result = err ? itsm_mcp_tool_error(err) : tool->fn(req, tool, args);

    failed = json_is_true(json_object_get(result, "isError"));
    if (db || itsm_db_acquire(req->r, &db) == APR_SUCCESS) {
        itsm_audit(req, db, "mcp.tool_call", req->mcp_integration
                   ? "integration" : NULL, req->mcp_integration
                   ? req->mcp_integration->id : NULL,
                   failed ? ITSM_AUDIT_FAILURE : ITSM_AUDIT_SUCCESS,
                   json_pack("{s:s, s:o}", "tool", tool->name, "arguments",
                             audit_arguments(args, schema)));
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, ITSM_LOGNO(00070)
                  "MCP tool %s by %s on %s: %s", tool->name,
                  req->caller->user->id, req->mcp_integration
                  ? req->mcp_integration->id : "the registry",
                  failed ? "failed" : "done");
    return result;
}
