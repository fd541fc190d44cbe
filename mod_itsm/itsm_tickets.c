/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Ticket operations: argument checks, dispatch to the adapter of the
 * integration type, and the parts that the adapters share. */

#include <stdarg.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "itsm_check.h"
#include "itsm_json.h"
#include "itsm_tickets_private.h"
#include "itsm_util.h"

/* Maximum length of a service error text in a message, in bytes. */
#define UPSTREAM_TEXT_MAX   400

/* Shortest credential value that is masked in service error texts; a
 * shorter one would mask ordinary words. */
#define SECRET_MIN_LEN      4

const char *const itsm_tickets_statuses[] = {
    "open", "in_progress", "resolved", "closed", NULL
};

const char *const itsm_tickets_priorities[] = {
    "low", "medium", "high", "critical", NULL
};

static const tickets_adapter_t *const adapters[] = {
    &itsm_tickets_jira, &itsm_tickets_servicenow, &itsm_tickets_zendesk,
    NULL
};

static const tickets_adapter_t *adapter_of(const char *type)
{
    int i;

    for (i = 0; type && adapters[i]; ++i) {
        if (strcmp(adapters[i]->type, type) == 0) {
            return adapters[i];
        }
    }
    return NULL;
}

int itsm_tickets_supported(const char *type)
{
    return adapter_of(type) != NULL;
}

static int is_one_of(const char *s, const char *const *list)
{
    for (; s && *list; ++list) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* messages                                                                */

apr_status_t itsm_tickets_fail(tickets_call_t *call, apr_status_t rv,
                               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    call->error = apr_pvsprintf(call->pool, fmt, ap);
    va_end(ap);
    return rv;
}

apr_status_t itsm_tickets_unexpected(tickets_call_t *call,
                                     const char *problem)
{
    return itsm_tickets_fail(call, APR_EGENERAL,
                             "%s returned an unexpected response: %s",
                             call->adapter->system, problem);
}

/* Replaces every occurrence of secret in s with a mask. */
static char *mask_one(apr_pool_t *p, char *s, const char *secret,
                      apr_size_t len)
{
    static const char mask[] = "[redacted]";
    apr_size_t from = 0;
    char *hit;

    if (len < SECRET_MIN_LEN) {
        return s;
    }
    /* The search goes on after the mask, which may contain the secret
     * itself. */
    while ((hit = strstr(s + from, secret)) != NULL) {
        from = (apr_size_t)(hit - s) + sizeof(mask) - 1;
        *hit = '\0';
        s = apr_pstrcat(p, s, mask, hit + len, NULL);
    }
    return s;
}

/* Replaces every secret credential value of the target that occurs in s,
 * and the credentials of the authentication headers sent, in the forms a
 * service may echo: a Basic header's base64, an OAuth access token. */
static char *mask_secrets(apr_pool_t *p, const tickets_call_t *call,
                          char *s)
{
    static const char *const secret_keys[] = {
        "password", "apiToken", "token", "apiKey", "clientSecret", NULL
    };
    int i;

    for (i = 0; secret_keys[i]; ++i) {
        const char *secret = itsm_json_string(call->target->credentials,
                                              secret_keys[i]);

        if (secret) {
            s = mask_one(p, s, secret, strlen(secret));
        }
    }
    for (i = 0; call->auth && i < call->auth->nelts; ++i) {
        const char *value = strchr(APR_ARRAY_IDX(call->auth, i,
                                                 const char *), ':');
        const char *space;

        if (!value) {
            continue;
        }
        for (++value; *value == ' '; ++value) {
        }
        /* "Basic <base64>" and "Bearer <token>": the part after the
         * scheme is the secret; other headers carry it whole. */
        space = strchr(value, ' ');
        if (space) {
            value = space + 1;
        }
        s = mask_one(p, s, value, strlen(value));
    }
    return s;
}

/* A service-supplied text made safe for a message: control characters
 * and runs of white space become one space, credentials are masked, and
 * the length is capped. */
static const char *clean_text(apr_pool_t *p, const tickets_call_t *call,
                              const char *s)
{
    char *out = apr_palloc(p, strlen(s) + 1);
    char *o = out;
    int space = 1;

    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;

        if (apr_iscntrl(c) || apr_isspace(c)) {
            if (!space) {
                *o++ = ' ';
            }
            space = 1;
            continue;
        }
        *o++ = (char)c;
        space = 0;
    }
    while (o > out && o[-1] == ' ') {
        --o;
    }
    *o = '\0';
    return itsm_tickets_cut(p, mask_secrets(p, call, out),
                            UPSTREAM_TEXT_MAX);
}

static void join_text(apr_pool_t *p, const char **pout, const char *text)
{
    if (!text || !*text) {
        return;
    }
    *pout = *pout ? apr_pstrcat(p, *pout, "; ", text, NULL) : text;
}

/* "key: value" pairs of an object whose values are strings, or arrays of
 * strings or of objects with a description (Zendesk's details). */
static void join_members(apr_pool_t *p, const char **pout, const json_t *obj)
{
    const char *key;
    json_t *value;
    json_t *item;
    size_t i;

    json_object_foreach((json_t *)obj, key, value) {
        if (json_is_string(value)) {
            join_text(p, pout, apr_pstrcat(p, key, ": ",
                                           json_string_value(value), NULL));
            continue;
        }
        json_array_foreach(value, i, item) {
            const char *text = json_is_string(item)
                ? json_string_value(item)
                : itsm_json_string(item, "description");

            if (text) {
                join_text(p, pout, apr_pstrcat(p, key, ": ", text, NULL));
            }
        }
    }
}

/*
 * The error text of a service response body: Jira errorMessages and
 * errors, ServiceNow error.message and error.detail, Zendesk error,
 * description and details, Confluence and others message.  Plain text
 * bodies are used as they are; HTML is not.
 */
static const char *upstream_text(apr_pool_t *p, const tickets_call_t *call,
                                 const itsm_http_response_t *resp)
{
    json_t *json = itsm_json_bind(p, json_loadb(resp->body, resp->body_len,
                                                0, NULL));
    json_t *error = json_object_get(json, "error");
    json_t *item;
    const char *out = NULL;
    size_t i;

    if (!json) {
        if (resp->content_type
            && strncasecmp(resp->content_type, "text/plain", 10) == 0
            && resp->body_len > 0) {
            return clean_text(p, call, resp->body);
        }
        return NULL;
    }
    json_array_foreach(json_object_get(json, "errorMessages"), i, item) {
        join_text(p, &out, json_string_value(item));
    }
    join_members(p, &out, json_object_get(json, "errors"));
    if (json_is_object(error)) {
        join_text(p, &out, itsm_json_string(error, "message"));
        join_text(p, &out, itsm_json_string(error, "title"));
        join_text(p, &out, itsm_json_string(error, "detail"));
    }
    else if (json_is_string(error)) {
        join_text(p, &out, json_string_value(error));
    }
    join_text(p, &out, itsm_json_string(json, "description"));
    join_members(p, &out, json_object_get(json, "details"));
    if (!out) {
        join_text(p, &out, itsm_json_string(json, "message"));
        join_text(p, &out, itsm_json_string(json, "error_description"));
    }
    return out ? clean_text(p, call, out) : NULL;
}

/* "retry after N seconds", from a Retry-After value in seconds or as an
 * HTTP date. */
static const char *retry_advice(apr_pool_t *p, const char *retry_after)
{
    apr_int64_t ms;

    if (!retry_after) {
        return "retry later (the service sent no Retry-After header)";
    }
    ms = itsm_check_retry_after_ms(retry_after, itsm_now_ms());
    return apr_psprintf(p, "retry after %" APR_INT64_T_FMT " seconds",
                        (ms + 999) / 1000);
}

static const char *integration_label(const tickets_call_t *call)
{
    if (call->ctx->integration_name) {
        return call->ctx->integration_name;
    }
    return call->ctx->integration_id ? call->ctx->integration_id
                                     : "(unnamed)";
}

/* Turn a failed transfer or a non-2xx response into a status and
 * call->error. */
static apr_status_t response_error(tickets_call_t *call,
                                   const itsm_http_response_t *resp,
                                   const char *subject)
{
    const char *system = call->adapter->system;
    const char *text;
    const char *detail;
    int status = resp->status;

    if (resp->error != ITSM_HTTP_ERR_NONE) {
        return itsm_tickets_fail(call, APR_EGENERAL,
                                 "Request to %s failed (%s): %s", system,
                                 itsm_http_error_name(resp->error),
                                 resp->error_text ? resp->error_text
                                                  : "no details");
    }
    text = upstream_text(call->scratch, call, resp);
    detail = text ? apr_pstrcat(call->scratch, ": ", text, NULL) : "";

    if (status == 401) {
        return itsm_tickets_fail(call, APR_EACCES,
                                 "%s rejected the credentials of "
                                 "integration \"%s\" (HTTP 401%s). An "
                                 "administrator must update the "
                                 "integration's credentials.", system,
                                 integration_label(call), detail);
    }
    if (status == 403) {
        return itsm_tickets_fail(call, APR_EACCES,
                                 "%s denied the request (HTTP 403%s). The "
                                 "integration's account may lack the "
                                 "permission for this operation.", system,
                                 detail);
    }
    if (status == 404 && subject) {
        return itsm_tickets_fail(call, APR_ENOENT,
                                 "%s was not found (HTTP 404%s).", subject,
                                 detail);
    }
    if (status == 429) {
        return itsm_tickets_fail(call, APR_EAGAIN,
                                 "%s rate limited the request (HTTP 429%s); "
                                 "%s.", system, detail,
                                 retry_advice(call->scratch,
                                              resp->retry_after));
    }
    if (status == 400 || status == 422) {
        return itsm_tickets_fail(call, APR_EINVAL,
                                 "%s rejected the request (HTTP %d%s).",
                                 system, status, detail);
    }
    if (status >= 300 && status < 400) {
        return itsm_tickets_fail(call, APR_EGENERAL,
                                 "%s responded with a redirect (HTTP %d), "
                                 "which is not followed; check the base "
                                 "URL of the integration.", system, status);
    }
    if (status == 404) {
        return itsm_tickets_fail(call, APR_EGENERAL,
                                 "%s has no such endpoint (HTTP 404%s); "
                                 "check the base URL of the integration.",
                                 system, detail);
    }
    detail = text ? apr_pstrcat(call->scratch, " (", text, ")", NULL) : "";
    if (status >= 500) {
        return itsm_tickets_fail(call, APR_EGENERAL,
                                 "%s failed with HTTP %d%s; the service may "
                                 "be down, try again later.", system, status,
                                 detail);
    }
    return itsm_tickets_fail(call, APR_EGENERAL, "%s returned HTTP %d%s.",
                             system, status, detail);
}

/* ---------------------------------------------------------------------- */
/* requests                                                                */

static apr_status_t auth_error(tickets_call_t *call, apr_status_t rv,
                               const char *err)
{
    switch (rv) {
    case APR_EACCES:
        return itsm_tickets_fail(call, rv, "%s. An administrator must "
                                 "update the integration's OAuth client "
                                 "credentials.", err);
    case APR_EAGAIN:
        return itsm_tickets_fail(call, rv, "%s; retry later.", err);
    case APR_EINVAL:
        return itsm_tickets_fail(call, APR_EGENERAL, "The integration is "
                                 "misconfigured (%s); an administrator must "
                                 "fix it.", err);
    default:
        return itsm_tickets_fail(call, APR_EGENERAL, "%s.", err);
    }
}

static itsm_http_request_t *request_new(tickets_call_t *call,
                                        const char *method, const char *url,
                                        const char *body)
{
    itsm_http_request_t *req = apr_pcalloc(call->scratch, sizeof(*req));
    int i;

    req->method = method;
    req->url = url;
    req->headers = apr_array_make(call->scratch, 4, sizeof(const char *));
    APR_ARRAY_PUSH(req->headers, const char *) = "Accept: application/json";
    if (body) {
        APR_ARRAY_PUSH(req->headers, const char *) =
            "Content-Type: application/json";
        req->body = body;
        req->body_len = strlen(body);
    }
    for (i = 0; i < call->auth->nelts; ++i) {
        APR_ARRAY_PUSH(req->headers, const char *) =
            APR_ARRAY_IDX(call->auth, i, const char *);
    }
    req->ca_file = call->target->ca_file;
    req->ca_pem = call->target->ca_pem;
    return req;
}

apr_status_t itsm_tickets_send(json_t **pjson, tickets_call_t *call,
                               const char *method, const char *url,
                               const json_t *body, const char *subject)
{
    itsm_http_response_t *resp = NULL;
    const char *text = body ? itsm_json_dump(call->scratch, body) : NULL;
    const char *err = NULL;
    json_t *json = NULL;
    json_error_t jerr;
    int attempt;
    apr_status_t rv = APR_SUCCESS;

    if (pjson) {
        *pjson = NULL;
    }
    call->http_status = 0;
    for (attempt = 0; attempt < 2; ++attempt) {
        if (!call->auth) {
            rv = itsm_probe_auth_headers(&call->auth, &call->auth_cached,
                                         &err, call->scratch,
                                         call->ctx->http, call->target);
            if (rv != APR_SUCCESS) {
                call->auth = NULL;
                rv = auth_error(call, rv, err);
                goto leave;
            }
        }
        /* A failed transfer is described in resp. */
        itsm_http_perform(&resp, call->scratch, call->ctx->http,
                          request_new(call, method, url, text));
        call->http_status = resp->status;
        /* A cached OAuth token may have been revoked, so one more try
         * with a fresh token distinguishes that from rejected
         * credentials. */
        if (resp->status == 401 && call->auth_cached && attempt == 0) {
            itsm_probe_forget_token(call->target->id);
            call->auth = NULL;
            continue;
        }
        break;
    }

    if (resp->error != ITSM_HTTP_ERR_NONE || resp->status < 200
        || resp->status >= 300) {
        rv = response_error(call, resp, subject);
        goto leave;
    }
    if (resp->body_len == 0) {
        goto leave;
    }
    json = itsm_json_bind(call->scratch,
                          json_loadb(resp->body, resp->body_len, 0, &jerr));
    if (!json) {
        rv = itsm_tickets_fail(call, APR_EGENERAL,
                               "%s returned a response that is not JSON "
                               "(HTTP %d, Content-Type %s); the instance "
                               "may be hibernating or the base URL may "
                               "point to a web page.",
                               call->adapter->system, resp->status,
                               resp->content_type
                               ? clean_text(call->scratch, call,
                                            resp->content_type)
                               : "not given");
        goto leave;
    }
    if (pjson) {
        *pjson = json;
    }

leave:
    return rv;
}

const char *itsm_tickets_url(tickets_call_t *call, const char *path)
{
    return apr_pstrcat(call->scratch, call->base_url, path, NULL);
}

const char *itsm_tickets_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1);
    char *o = out;

    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;

        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---------------------------------------------------------------------- */
/* mappings and options                                                    */

/* The text of a map value: a string or an integer (ServiceNow values). */
static const char *map_value_text(apr_pool_t *p, const json_t *value)
{
    const char *text = itsm_json_scalar_text(p, value);

    return text && *text ? text : NULL;
}

/* The override of ours in options.<option>, or NULL. */
static const json_t *map_override(const tickets_call_t *call,
                                  const char *option, const char *ours)
{
    const json_t *map = json_object_get(call->target->options, option);

    return json_is_object(map) ? json_object_get(map, ours) : NULL;
}

const char *itsm_tickets_map_out(const tickets_call_t *call,
                                 const char *option,
                                 const tickets_map_t *defaults,
                                 const char *ours)
{
    const json_t *value = map_override(call, option, ours);
    int i;

    if (json_is_array(value)) {
        value = json_array_get(value, 0);
    }
    if (value) {
        return map_value_text(call->scratch, value);
    }
    for (i = 0; defaults[i].ours; ++i) {
        if (strcmp(defaults[i].ours, ours) == 0) {
            return defaults[i].theirs;
        }
    }
    return NULL;
}

const char *itsm_tickets_map_in(const tickets_call_t *call,
                                const char *option,
                                const tickets_map_t *defaults,
                                const char *theirs)
{
    const json_t *map = json_object_get(call->target->options, option);
    const char *ours;
    json_t *value;
    json_t *item;
    size_t n;
    int i;

    if (!theirs) {
        return NULL;
    }
    json_object_foreach((json_t *)map, ours, value) {
        const char *text;

        if (!json_is_array(value)) {
            text = map_value_text(call->scratch, value);
            if (text && strcasecmp(text, theirs) == 0) {
                return ours;
            }
            continue;
        }
        json_array_foreach(value, n, item) {
            text = map_value_text(call->scratch, item);
            if (text && strcasecmp(text, theirs) == 0) {
                return ours;
            }
        }
    }
    for (i = 0; defaults[i].ours; ++i) {
        if (strcasecmp(defaults[i].theirs, theirs) == 0) {
            return defaults[i].ours;
        }
    }
    return NULL;
}

apr_array_header_t *itsm_tickets_map_values(const tickets_call_t *call,
                                            const char *option,
                                            const tickets_map_t *defaults,
                                            const char *ours)
{
    apr_array_header_t *values = apr_array_make(call->scratch, 4,
                                                sizeof(const char *));
    const json_t *value = map_override(call, option, ours);
    json_t *item;
    const char *text;
    size_t n;
    int i;

    if (json_is_array(value)) {
        json_array_foreach(value, n, item) {
            if ((text = map_value_text(call->scratch, item)) != NULL) {
                APR_ARRAY_PUSH(values, const char *) = text;
            }
        }
        return values;
    }
    if (value) {
        APR_ARRAY_PUSH(values, const char *) =
            map_value_text(call->scratch, value);
        return values;
    }
    for (i = 0; defaults[i].ours; ++i) {
        if (strcmp(defaults[i].ours, ours) == 0) {
            APR_ARRAY_PUSH(values, const char *) = defaults[i].theirs;
        }
    }
    return values;
}

/* Check that options.<option> maps values of ours to strings, integers or
 * non-empty arrays of them. */
static apr_status_t check_map_option(tickets_call_t *call,
                                     const char *option,
                                     const char *const *ours)
{
    const json_t *map = json_object_get(call->target->options, option);
    const char *key;
    json_t *value;
    json_t *item;
    size_t n;

    if (!map || json_is_null(map)) {
        return APR_SUCCESS;
    }
    if (!json_is_object(map)) {
        return itsm_tickets_fail(call, APR_EGENERAL, "The integration is "
                                 "misconfigured: config.options.%s must be "
                                 "an object; an administrator must fix it.",
                                 option);
    }
    json_object_foreach((json_t *)map, key, value) {
        int valid = map_value_text(call->scratch, value) != NULL;

        if (!is_one_of(key, ours)) {
            return itsm_tickets_fail(call, APR_EGENERAL, "The integration "
                                     "is misconfigured: config.options.%s "
                                     "has the key \"%s\", which is not one "
                                     "of %s; an administrator must fix it.",
                                     option, key,
                                     ours == itsm_tickets_statuses
                                     ? "open, in_progress, resolved, closed"
                                     : "low, medium, high, critical");
        }
        if (json_is_array(value)) {
            valid = json_array_size(value) > 0;
            json_array_foreach(value, n, item) {
                valid = valid && map_value_text(call->scratch, item);
            }
        }
        if (!valid) {
            return itsm_tickets_fail(call, APR_EGENERAL, "The integration "
                                     "is misconfigured: config.options.%s.%s "
                                     "must be a string or a non-empty array "
                                     "of strings; an administrator must fix "
                                     "it.", option, key);
        }
    }
    return APR_SUCCESS;
}

const char *itsm_tickets_option(const tickets_call_t *call, const char *key)
{
    const char *value = itsm_json_string(call->target->options, key);

    return value && *value ? value : NULL;
}

/* ---------------------------------------------------------------------- */
/* JSON and text helpers                                                   */

json_t *itsm_tickets_ticket_new(const tickets_call_t *call)
{
    static const char *const members[] = {
        "id", "key", "title", "description", "status", "rawStatus",
        "priority", "rawPriority", "assignee", "url", "created", "updated",
        NULL
    };
    json_t *ticket = itsm_json_bind(call->pool, json_object());
    int i;

    for (i = 0; members[i]; ++i) {
        json_object_set_new(ticket, members[i], json_null());
    }
    itsm_tickets_set(ticket, "system", call->target->type);
    itsm_tickets_set(ticket, "integration", call->ctx->integration_id);
    return ticket;
}

json_t *itsm_tickets_array_new(const tickets_call_t *call)
{
    return itsm_json_bind(call->pool, json_array());
}

json_t *itsm_tickets_object_new(const tickets_call_t *call)
{
    return itsm_json_bind(call->pool, json_object());
}

void itsm_tickets_set(json_t *obj, const char *key, const char *value)
{
    json_t *json = value ? json_string(value) : NULL;

    /* json_string returns NULL for text that is not UTF-8. */
    json_object_set_new(obj, key, json ? json : json_null());
}

const char *itsm_tickets_text(apr_pool_t *p, const json_t *obj,
                              const char *key)
{
    return itsm_json_scalar_text(p, json_object_get(obj, key));
}

const char *itsm_tickets_time(apr_pool_t *p, const char *s)
{
    apr_size_t len;
    char *out;

    if (!s || !*s) {
        return NULL;
    }
    len = strlen(s);
    /* ServiceNow: "2024-01-02 03:04:05", UTC. */
    if (len == 19 && s[10] == ' ') {
        out = apr_pstrcat(p, s, "Z", NULL);
        out[10] = 'T';
        return out;
    }
    /* Jira: "2024-01-02T03:04:05.000+0000". */
    if (len > 5 && (s[len - 5] == '+' || s[len - 5] == '-')
        && apr_isdigit(s[len - 4]) && apr_isdigit(s[len - 3])
        && apr_isdigit(s[len - 2]) && apr_isdigit(s[len - 1])) {
        return apr_psprintf(p, "%.*s:%s", (int)(len - 2), s, s + len - 2);
    }
    return apr_pstrdup(p, s);
}

/* Write the UTF-8 form of the numeric character reference at s (after
 * "&#") to out, and return the length of the reference after "&#"
 * including ';', or 0 when it is invalid.  The UTF-8 form is never longer
 * than the reference. */
static apr_size_t numeric_entity(const char *s, char *out,
                                 apr_size_t *pout_len)
{
    int hex = *s == 'x' || *s == 'X';
    const char *digits = s + hex;
    char *end = NULL;
    unsigned long cp = strtoul(digits, &end, hex ? 16 : 10);

    if (end == digits || *end != ';' || !apr_isxdigit((unsigned char)*digits)
        || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        *pout_len = 1;
    }
    else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        *pout_len = 2;
    }
    else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        *pout_len = 3;
    }
    else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        *pout_len = 4;
    }
    return (apr_size_t)(end - s) + 1;
}

/* Decode the entity at s (after '&') into out; return its length
 * including ';', or 0 when it is not one of the common ones. */
static apr_size_t html_entity(const char *s, char *out)
{
    static const struct {
        const char *name;
        char c;
    } entities[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
        { "#39;", '\'' }, { "apos;", '\'' }, { "nbsp;", ' ' }, { NULL, 0 }
    };
    int i;

    for (i = 0; entities[i].name; ++i) {
        apr_size_t len = strlen(entities[i].name);

        if (strncmp(s, entities[i].name, len) == 0) {
            *out = entities[i].c;
            return len;
        }
    }
    return 0;
}

const char *itsm_tickets_html_text(apr_pool_t *p, const char *html)
{
    char *out;
    char *o;
    int in_tag = 0;
    int space = 1;

    if (!html) {
        return NULL;
    }
    out = apr_palloc(p, strlen(html) + 1);
    o = out;
    for (; *html; ++html) {
        char c = *html;
        apr_size_t skip;
        apr_size_t len;

        if (in_tag) {
            in_tag = c != '>';
            if (!in_tag && !space) {
                *o++ = ' ';
                space = 1;
            }
            continue;
        }
        if (c == '<') {
            in_tag = 1;
            continue;
        }
        if (c == '&' && html[1] == '#'
            && (skip = numeric_entity(html + 2, o, &len)) > 0) {
            html += skip + 1;
            o += len;
            space = 0;
            continue;
        }
        if (c == '&' && (skip = html_entity(html + 1, &c)) > 0) {
            html += skip;
        }
        if (apr_isspace((unsigned char)c)) {
            if (!space) {
                *o++ = ' ';
                space = 1;
            }
            continue;
        }
        *o++ = c;
        space = 0;
    }
    while (o > out && o[-1] == ' ') {
        --o;
    }
    *o = '\0';
    return out;
}

const char *itsm_tickets_cut(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t len;

    if (!s || strlen(s) <= max) {
        return s;
    }
    len = max;
    /* Back off continuation bytes, so that no character is split. */
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
        --len;
    }
    return apr_pstrcat(p, apr_pstrndup(p, s, len), "...", NULL);
}

int itsm_tickets_is_word(const char *s, const char *chars)
{
    if (!s || !*s) {
        return 0;
    }
    for (; *s; ++s) {
        if (!apr_isalnum((unsigned char)*s) && !strchr(chars, *s)) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* operations                                                              */

/* Set up call for ctx and check the integration.  Every failure but a
 * missing ctx or pool sets call->error. */
static apr_status_t call_begin(tickets_call_t *call,
                               const itsm_tickets_ctx_t *ctx)
{
    const itsm_probe_target_t *t = ctx ? ctx->target : NULL;
    const char *field = NULL;
    const char *problem = NULL;
    apr_size_t len;
    apr_status_t rv;

    memset(call, 0, sizeof(*call));
    if (!ctx || !ctx->pool) {
        return APR_EINVAL;
    }
    call->ctx = ctx;
    call->pool = ctx->pool;
    if (!t) {
        return itsm_tickets_fail(call, APR_EINVAL, "No integration was "
                                 "given for the ticket operation.");
    }
    call->target = t;
    call->adapter = adapter_of(t->type);
    if (!call->adapter) {
        return itsm_tickets_fail(call, APR_ENOTIMPL, "Ticket operations are "
                                 "not available for integrations of type "
                                 "%s; the supported types are jira, "
                                 "servicenow and zendesk.",
                                 t->type ? t->type : "(none)");
    }
    if (itsm_probe_validate_target(&field, &problem, call->pool, t)
        != APR_SUCCESS) {
        return itsm_tickets_fail(call, APR_EGENERAL, "The integration is "
                                 "misconfigured: %s %s; an administrator "
                                 "must fix it.", field, problem);
    }
    if ((rv = apr_pool_create(&call->scratch, call->pool)) != APR_SUCCESS) {
        return itsm_tickets_fail(call, rv, "Out of memory.");
    }
    if ((rv = check_map_option(call, "statusMap", itsm_tickets_statuses))
        != APR_SUCCESS) {
        return rv;
    }
    if ((rv = check_map_option(call, "priorityMap", itsm_tickets_priorities))
        != APR_SUCCESS) {
        return rv;
    }
    if (json_object_get(t->options, "createFields")
        && !json_is_object(json_object_get(t->options, "createFields"))) {
        return itsm_tickets_fail(call, APR_EGENERAL, "The integration is "
                                 "misconfigured: config.options.createFields "
                                 "must be an object; an administrator must "
                                 "fix it.");
    }
    len = strlen(t->base_url);
    while (len > 0 && t->base_url[len - 1] == '/') {
        --len;
    }
    call->base_url = apr_pstrmemdup(call->scratch, t->base_url, len);
    return APR_SUCCESS;
}

/* Finish call: hand the message to *perr and free the scratch pool. */
static apr_status_t call_end(tickets_call_t *call, const char **perr,
                             apr_status_t rv)
{
    *perr = NULL;
    if (rv != APR_SUCCESS) {
        *perr = call->error ? call->error
                            : "No context or pool was given for the ticket "
                              "operation.";
    }
    if (call->scratch) {
        apr_pool_destroy(call->scratch);
        call->scratch = NULL;
    }
    return rv;
}

/* Check that an optional text argument is UTF-8, as JSON requires. */
static apr_status_t check_utf8(tickets_call_t *call, const char *name,
                               const char *value)
{
    json_t *json;

    if (!value) {
        return APR_SUCCESS;
    }
    json = json_string(value);
    if (!json) {
        return itsm_tickets_fail(call, APR_EINVAL, "The %s is not valid "
                                 "UTF-8 text.", name);
    }
    json_decref(json);
    return APR_SUCCESS;
}

static apr_status_t check_required(tickets_call_t *call, const char *name,
                                   const char *value)
{
    if (!value || !*value) {
        return itsm_tickets_fail(call, APR_EINVAL, "The %s is required.",
                                 name);
    }
    return check_utf8(call, name, value);
}

static apr_status_t check_status(tickets_call_t *call, const char *status)
{
    if (check_utf8(call, "status", status) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (status && !is_one_of(status, itsm_tickets_statuses)) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid status \"%s\": "
                                 "use open, in_progress, resolved or "
                                 "closed.",
                                 clean_text(call->scratch, call, status));
    }
    return APR_SUCCESS;
}

static apr_status_t check_priority(tickets_call_t *call,
                                   const char *priority)
{
    if (check_utf8(call, "priority", priority) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (priority && !is_one_of(priority, itsm_tickets_priorities)) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid priority "
                                 "\"%s\": use low, medium, high or "
                                 "critical.",
                                 clean_text(call->scratch, call, priority));
    }
    return APR_SUCCESS;
}

static int clamp_limit(int limit)
{
    if (limit <= 0) {
        return ITSM_TICKETS_DEFAULT_LIMIT;
    }
    return limit > ITSM_TICKETS_MAX_LIMIT ? ITSM_TICKETS_MAX_LIMIT : limit;
}

#define CHECK(expr) \
    do { \
        if ((rv = (expr)) != APR_SUCCESS) { \
            goto leave; \
        } \
    } while (0)

apr_status_t itsm_tickets_create(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *title, const char *description,
                                 const char *priority)
{
    tickets_call_t call;
    apr_status_t rv;

    *pticket = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "title", title));
    CHECK(check_utf8(&call, "description", description));
    CHECK(check_priority(&call, priority));
    CHECK(call.adapter->create(pticket, &call, title,
                               description && *description ? description
                                                           : NULL,
                               priority));

leave:
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_get(json_t **pticket, const char **perr,
                              const itsm_tickets_ctx_t *ctx,
                              const char *ticket_id)
{
    tickets_call_t call;
    apr_status_t rv;

    *pticket = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "ticket id", ticket_id));
    CHECK(call.adapter->get(pticket, &call, ticket_id));

leave:
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_update(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *ticket_id, const char *status,
                                 const char *priority, const char *comment)
{
    tickets_call_t call;
    apr_status_t rv;

    *pticket = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "ticket id", ticket_id));
    CHECK(check_status(&call, status));
    CHECK(check_priority(&call, priority));
    CHECK(check_utf8(&call, "comment", comment));
    if (comment && !*comment) {
        comment = NULL;
    }
    if (!status && !priority && !comment) {
        rv = itsm_tickets_fail(&call, APR_EINVAL, "Nothing to update: give "
                               "a status, a priority or a comment.");
        goto leave;
    }
    CHECK(call.adapter->update(pticket, &call, ticket_id, status, priority,
                               comment));

leave:
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_list(json_t **ptickets, const char **pnext_cursor,
                               const char **perr,
                               const itsm_tickets_ctx_t *ctx,
                               const char *status, const char *assigned_to,
                               int limit, const char *cursor)
{
    tickets_call_t call;
    apr_status_t rv;

    *ptickets = NULL;
    *pnext_cursor = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_status(&call, status));
    CHECK(check_utf8(&call, "assignee filter", assigned_to));
    CHECK(check_utf8(&call, "cursor", cursor));
    CHECK(call.adapter->list(ptickets, pnext_cursor, &call, status,
                             assigned_to && *assigned_to ? assigned_to
                                                         : NULL,
                             clamp_limit(limit),
                             cursor && *cursor ? cursor : NULL));
    if (*pnext_cursor) {
        *pnext_cursor = apr_pstrdup(call.pool, *pnext_cursor);
    }

leave:
    if (rv != APR_SUCCESS) {
        *ptickets = NULL;
        *pnext_cursor = NULL;
    }
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_assign(json_t **pticket, const char **perr,
                                 const itsm_tickets_ctx_t *ctx,
                                 const char *ticket_id, const char *user_id)
{
    tickets_call_t call;
    apr_status_t rv;

    *pticket = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "ticket id", ticket_id));
    CHECK(check_required(&call, "user id", user_id));
    CHECK(call.adapter->assign(pticket, &call, ticket_id, user_id));

leave:
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_comment(json_t **pcomment, const char **perr,
                                  const itsm_tickets_ctx_t *ctx,
                                  const char *ticket_id, const char *text,
                                  int internal)
{
    tickets_call_t call;
    apr_status_t rv;

    *pcomment = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "ticket id", ticket_id));
    CHECK(check_required(&call, "comment text", text));
    CHECK(call.adapter->comment(pcomment, &call, ticket_id, text,
                                internal != 0));

leave:
    return call_end(&call, perr, rv);
}

apr_status_t itsm_tickets_kb_search(json_t **particles, const char **perr,
                                    const itsm_tickets_ctx_t *ctx,
                                    const char *query, int limit)
{
    tickets_call_t call;
    apr_status_t rv;

    *particles = NULL;
    CHECK(call_begin(&call, ctx));
    CHECK(check_required(&call, "search query", query));
    CHECK(call.adapter->kb_search(particles, &call, query,
                                  clamp_limit(limit)));

leave:
    return call_end(&call, perr, rv);
}
