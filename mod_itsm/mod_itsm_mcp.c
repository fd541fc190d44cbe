/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The itsm-mcp handler: the Model Context Protocol over streamable HTTP,
 * stateless. Every POST carries one JSON-RPC message and a request gets one
 * application/json response; notifications and client responses get 202.
 * There are no sessions and no server-sent events, so GET and DELETE are
 * 405. Authentication is the same as for /api. Protocol errors are JSON-RPC
 * errors; a tool's own failures, bad arguments included, are tool results
 * with isError, which the agent reads and can act on. */

#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>

#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>

#include "mod_itsm_api.h"
#include "mod_itsm_audit.h"
#include "mod_itsm_integrations.h"
#include "mod_itsm_mcp.h"
#include "mod_itsm_tickets.h"
#include "itsm_json.h"
#include "itsm_util.h"

#define LATEST_VERSION "2025-11-25"

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_UNSUPPORTED_VERSION -32000

static const char *const supported_versions[] = {
    "2025-11-25", "2025-06-18", "2025-03-26", NULL
};

static int is_supported_version(const char *v)
{
    int i;

    for (i = 0; v && supported_versions[i]; i++) {
        if (strcmp(v, supported_versions[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Responses
 */

static int send_rpc(itsm_req_t *req, int status, json_t *message)
{
    return itsm_send(req, status, message);
}

/* Sends a JSON-RPC error. id is the request's id (any JSON type), or NULL
 * when it could not be read. */
static int send_rpc_error(itsm_req_t *req, int status, json_t *id, int code,
                          const char *message)
{
    return send_rpc(req, status, json_pack("{s:s, s:O, s:{s:i, s:s}}",
                                           "jsonrpc", "2.0",
                                           "id", id ? id : json_null(),
                                           "error", "code", code,
                                           "message", message));
}

static int send_rpc_result(itsm_req_t *req, json_t *id, json_t *result)
{
    return send_rpc(req, HTTP_OK, json_pack("{s:s, s:O, s:o}", "jsonrpc",
                                            "2.0", "id", id,
                                            "result", result));
}

/* A tool result whose text is the JSON of structured content. */
json_t *itsm_mcp_tool_result(apr_pool_t *p, json_t *structured)
{
    return json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text",
                     "text", itsm_json_dump(p, structured),
                     "structuredContent", structured, "isError", 0);
}

json_t *itsm_mcp_tool_error(const char *message)
{
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text",
                     "text", message, "isError", 1);
}

/* ---------------------------------------------------------------------
 * Argument checks: the subset of JSON Schema the tools' input schemas use
 * (type, enum, minLength, maxLength, minimum, maximum, required,
 * additionalProperties false).
 */

/* Counts the characters (code points) of a UTF-8 string, the unit of JSON
 * Schema's minLength and maxLength, where json_string_length counts
 * bytes. */
static json_int_t string_length(json_t *value)
{
    const unsigned char *s = (const unsigned char *)json_string_value(value);
    size_t i, n = json_string_length(value);
    json_int_t count = 0;

    for (i = 0; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            count++;
        }
    }
    return count;
}

static const char *check_type(apr_pool_t *p, const char *name,
                              json_t *value, json_t *schema)
{
    const char *type = itsm_json_string(schema, "type");
    json_t *limit, *choices, *choice;
    size_t i;
    int found;

    if (!type) {
        return NULL;
    }
    if ((strcmp(type, "string") == 0 && !json_is_string(value))
        || (strcmp(type, "integer") == 0 && !json_is_integer(value))
        || (strcmp(type, "boolean") == 0 && !json_is_boolean(value))) {
        return apr_psprintf(p, "Argument '%s' must be %s %s, not %s.",
                            name, type[0] == 'i' ? "an" : "a", type,
                            itsm_json_type_name(value));
    }
    if (json_is_string(value)) {
        limit = json_object_get(schema, "minLength");
        if (json_is_integer(limit)
            && string_length(value) < json_integer_value(limit)) {
            return apr_psprintf(p, "Argument '%s' must not be empty.", name);
        }
        limit = json_object_get(schema, "maxLength");
        if (json_is_integer(limit)
            && string_length(value) > json_integer_value(limit)) {
            /* apr_psprintf does not support the "lld" of
             * JSON_INTEGER_FORMAT, so the value goes as apr_int64_t. */
            return apr_psprintf(p, "Argument '%s' must be at most %"
                                APR_INT64_T_FMT " characters.", name,
                                (apr_int64_t)json_integer_value(limit));
        }
    }
    if (json_is_integer(value)) {
        json_t *min = json_object_get(schema, "minimum");
        json_t *max = json_object_get(schema, "maximum");

        if ((json_is_integer(min)
             && json_integer_value(value) < json_integer_value(min))
            || (json_is_integer(max)
                && json_integer_value(value) > json_integer_value(max))) {
            return apr_psprintf(p, "Argument '%s' must be from %"
                                APR_INT64_T_FMT " to %" APR_INT64_T_FMT ".",
                                name, (apr_int64_t)json_integer_value(min),
                                (apr_int64_t)json_integer_value(max));
        }
    }
    choices = json_object_get(schema, "enum");
    if (json_is_array(choices)) {
        const char *list = "";

        found = 0;
        json_array_foreach(choices, i, choice) {
            found |= json_equal(choice, value);
            list = apr_pstrcat(p, list, i ? ", " : "",
                               json_string_value(choice), NULL);
        }
        if (!found) {
            return apr_psprintf(p, "Argument '%s' must be one of: %s.", name,
                                list);
        }
    }
    return NULL;
}

const char *itsm_mcp_check_arguments(apr_pool_t *p, json_t *args,
                                     json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    json_t *required = json_object_get(schema, "required"), *v, *prop;
    const char *key, *err;
    size_t i;

    if (!json_is_object(args)) {
        return "Arguments must be a JSON object.";
    }
    json_object_foreach(args, key, v) {
        prop = json_object_get(props, key);
        if (!prop) {
            return apr_psprintf(p, "Unknown argument '%s'.", key);
        }
        if ((err = check_type(p, key, v, prop))) {
            return err;
        }
    }
    json_array_foreach(required, i, v) {
        if (!json_object_get(args, json_string_value(v))) {
            return apr_psprintf(p, "Missing required argument '%s'.",
                                json_string_value(v));
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------
 * Methods
 */

static int m_initialize(itsm_req_t *req, json_t *id, json_t *params)
{
    const char *requested = itsm_json_string(params, "protocolVersion");

    /* An unsupported version gets the latest one in reply; the client
     * decides whether it can use it. */
    return send_rpc_result(req, id, json_pack(
        "{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
        "protocolVersion", is_supported_version(requested) ? requested
                                                           : LATEST_VERSION,
        "capabilities", "tools", "listChanged", 0,
        "serverInfo", "name", "mod_itsm", "title", "ITSM integration hub",
        "version", ITSM_VERSION,
        "instructions",
        "Tools to work with tickets in the ITSM systems (Jira, ServiceNow, "
        "Zendesk) registered here. Call list_integrations first; then pass "
        "its id or name as 'integration' to the ticket tools, or a system "
        "type as 'system' when only one integration of that type exists. "
        "Credentials stay on the server."));
}

static int m_tools_list(itsm_req_t *req, json_t *id, json_t *params)
{
    apr_int64_t offset = 0, page = req->sc->mcp_tools_page;
    json_t *cursor = json_object_get(params, "cursor");
    json_t *tools = json_array(), *result;
    int i, shown = 0, visible = 0;

    if (cursor && (!json_is_string(cursor)
                   || itsm_parse_int64(json_string_value(cursor), &offset)
                      != APR_SUCCESS || offset < 0)) {
        json_decref(tools);
        return send_rpc_error(req, HTTP_OK, id, RPC_INVALID_PARAMS,
                              "Invalid cursor");
    }
    for (i = 0; itsm_mcp_tools[i].name; i++) {
        const itsm_mcp_tool_t *tool = &itsm_mcp_tools[i];

        /* Read-scoped API keys see only the read-only tools. */
        if (req->caller->read_only && !tool->read_only) {
            continue;
        }
        if (visible++ < offset || shown >= page) {
            continue;
        }
        json_array_append_new(tools, itsm_mcp_tool_json(req->r->pool, tool));
        shown++;
    }
    result = json_pack("{s:o}", "tools", tools);
    if (offset + shown < visible) {
        json_object_set_new(result, "nextCursor", json_string(
            itsm_i64toa(req->r->pool, offset + shown)));
    }
    return send_rpc_result(req, id, result);
}

static int m_tools_call(itsm_req_t *req, json_t *id, json_t *params)
{
    const char *name = itsm_json_string(params, "name");
    json_t *args = json_object_get(params, "arguments");
    const itsm_mcp_tool_t *tool = NULL;
    json_t *result;
    int i;

    if (!name) {
        return send_rpc_error(req, HTTP_OK, id, RPC_INVALID_PARAMS,
                              "tools/call needs a string 'name'");
    }
    for (i = 0; itsm_mcp_tools[i].name; i++) {
        if (strcmp(itsm_mcp_tools[i].name, name) == 0) {
            tool = &itsm_mcp_tools[i];
        }
    }
    /* itsm_mcp_call_tool rejects a write tool called with a read-scoped
     * API key, as a tool result with an audit row. */
    if (!tool) {
        return send_rpc_error(req, HTTP_OK, id, RPC_INVALID_PARAMS,
                              apr_pstrcat(req->r->pool, "Unknown tool: ",
                                          name, NULL));
    }
    if (args && json_is_null(args)) {
        args = NULL;
    }
    result = itsm_mcp_call_tool(req, tool, args ? args
                                : itsm_json_bind(req->r->pool,
                                                 json_object()));
    return send_rpc_result(req, id, result);
}

/* ---------------------------------------------------------------------
 * Transport
 */

/* A present Origin must be this server's own or one allowed by
 * ITSMMCPAllowedOrigin; browsers send it, SDK clients do not. */
static int origin_is_allowed(itsm_req_t *req)
{
    request_rec *r = req->r;
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *host = apr_table_get(r->headers_in, "Host");
    apr_array_header_t *allowed = req->sc->mcp_origins;
    const char *slash;
    int i;

    if (!origin) {
        return 1;
    }
    for (i = 0; allowed && i < allowed->nelts; i++) {
        const char *a = APR_ARRAY_IDX(allowed, i, const char *);

        if (strcmp(a, "*") == 0 || strcasecmp(a, origin) == 0) {
            return 1;
        }
    }
    /* Same origin: this request's own scheme, host and port. */
    slash = strstr(origin, "://");
    return host && slash
           && strncasecmp(origin, ap_http_scheme(r), slash - origin) == 0
           && strlen(ap_http_scheme(r)) == (apr_size_t)(slash - origin)
           && strcasecmp(slash + 3, host) == 0;
}

static int accepts_json(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    return !accept || ap_strcasestr(accept, "application/json")
           || ap_strcasestr(accept, "*/*")
           || ap_strcasestr(accept, "application/*");
}

static int dispatch(itsm_req_t *req, json_t *msg)
{
    request_rec *r = req->r;
    json_t *id = json_object_get(msg, "id");
    const char *method = itsm_json_string(msg, "method");
    const char *version = apr_table_get(r->headers_in,
                                        "MCP-Protocol-Version");
    json_t *params = json_object_get(msg, "params");
    json_t *jsonrpc = json_object_get(msg, "jsonrpc");

    if (!json_is_string(jsonrpc)
        || strcmp(json_string_value(jsonrpc), "2.0") != 0) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL,
                              RPC_INVALID_REQUEST,
                              "Invalid Request: jsonrpc must be \"2.0\"");
    }
    if (!method) {
        /* A response to a server request; this server sends none, so
         * there is nothing to match it with. */
        if (id && (json_object_get(msg, "result")
                   || json_object_get(msg, "error"))) {
            r->status = HTTP_ACCEPTED;
            return OK;
        }
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL,
                              RPC_INVALID_REQUEST,
                              "Invalid Request: no method");
    }
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL,
                              RPC_INVALID_REQUEST,
                              "Invalid Request: id must be a string or an "
                              "integer");
    }
    if (strcmp(method, "initialize") != 0 && version
        && !is_supported_version(version)) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, id,
                              RPC_UNSUPPORTED_VERSION, apr_pstrcat(r->pool,
                              "Bad Request: Unsupported protocol version: ",
                              version, "; supported: 2025-11-25, "
                              "2025-06-18, 2025-03-26", NULL));
    }
    if (!id) {
        /* Notifications (initialized, cancelled, ...) get no response. */
        r->status = HTTP_ACCEPTED;
        return OK;
    }
    if (params && json_is_null(params)) {
        params = NULL;
    }
    if (params && !json_is_object(params)) {
        return send_rpc_error(req, HTTP_OK, id, RPC_INVALID_PARAMS,
                              "params must be an object");
    }
    if (!params) {
        params = itsm_json_bind(r->pool, json_object());
    }
    if (strcmp(method, "initialize") == 0) {
        return m_initialize(req, id, params);
    }
    if (strcmp(method, "ping") == 0) {
        return send_rpc_result(req, id, json_object());
    }
    if (strcmp(method, "tools/list") == 0) {
        return m_tools_list(req, id, params);
    }
    if (strcmp(method, "tools/call") == 0) {
        return m_tools_call(req, id, params);
    }
    return send_rpc_error(req, HTTP_OK, id, RPC_METHOD_NOT_FOUND,
                          apr_pstrcat(r->pool, "Method not found: ", method,
                                      NULL));
}

int itsm_mcp_handler(request_rec *r)
{
    itsm_req_t *req;
    json_error_t err;
    json_t *msg;
    char *body;
    apr_size_t len;
    int rc;

    if (!r->handler || strcmp(r->handler, "itsm-mcp") != 0) {
        return DECLINED;
    }
    req = apr_pcalloc(r->pool, sizeof(*req));
    req->r = r;
    req->sc = itsm_srv_cfg(r->server);
    req->dc = ap_get_module_config(r->per_dir_config, &itsm_module);
    req->realm = "mcp";
    req->mcp = 1;

    /* When httpd's HTTP_IN filter rejects the body's framing (a bad chunk
     * size), ap_die() redirects the error to this URI as a GET, through
     * the custom response that itsm_read_body sets. It gets the original
     * status here, not the 405 of a GET. */
    if (r->prev && ap_is_HTTP_ERROR(r->status)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return send_rpc_error(req, r->status, NULL, RPC_INVALID_REQUEST,
                              r->status == HTTP_BAD_REQUEST
                              ? "Invalid chunked encoding of the request "
                                "body"
                              : ap_get_status_line(r->status) + 4);
    }
    if (r->method_number != M_POST || r->header_only) {
        apr_table_setn(r->err_headers_out, "Allow", "POST");
        return send_rpc_error(req, HTTP_METHOD_NOT_ALLOWED, NULL,
                              RPC_INVALID_REQUEST, "Method Not Allowed: this "
                              "endpoint takes POST only, without sessions");
    }
    if (!origin_is_allowed(req)) {
        return send_rpc_error(req, HTTP_FORBIDDEN, NULL, RPC_INVALID_REQUEST,
                              "Forbidden: Origin is not allowed");
    }
    rc = itsm_authenticate(req);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    if (!accepts_json(r)) {
        return send_rpc_error(req, HTTP_NOT_ACCEPTABLE, NULL,
                              RPC_INVALID_REQUEST, "Not Acceptable: the "
                              "client must accept application/json");
    }
    rc = itsm_read_body(req, &body, &len);
    if (rc != ITSM_CONTINUE) {
        return rc;
    }
    msg = itsm_json_bind(r->pool, json_loadb(body, len,
                                             JSON_REJECT_DUPLICATES
                                             | JSON_DECODE_ANY, &err));
    if (!msg) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL, RPC_PARSE_ERROR,
                              apr_pstrcat(r->pool, "Parse error: ",
                                          itsm_json_error_text(r->pool, &err),
                                          NULL));
    }
    if (json_is_array(msg)) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL,
                              RPC_INVALID_REQUEST, "Invalid Request: batches "
                              "are not supported");
    }
    if (!json_is_object(msg)) {
        return send_rpc_error(req, HTTP_BAD_REQUEST, NULL,
                              RPC_INVALID_REQUEST, "Invalid Request: the "
                              "body must be a JSON-RPC message object");
    }
    return dispatch(req, msg);
}
