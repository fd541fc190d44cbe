/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * ServiceNow adapter (Table API), on options.table (default incident):
 *   create      POST  /api/now/table/{table}
 *   get         GET   /api/now/table/{table}/{sys_id}, or by number with
 *               GET   /api/now/table/{table}?sysparm_query=number=...
 *   update      PATCH /api/now/table/{table}/{sys_id}
 *   list        GET   /api/now/table/{table}?sysparm_query=...
 *               &sysparm_limit=...&sysparm_offset=...
 *   assign      PATCH assigned_to, after a sys_user lookup
 *   comment     PATCH work_notes (internal) or comments (public), then the
 *               new entry from sys_journal_field when the account may read
 *               it
 *   kb_search   GET   /api/now/table/kb_knowledge (published articles)
 * Records are read with sysparm_display_value=all, so that every field is
 * {value, display_value}: values for the mapping, labels for rawStatus
 * and rawPriority.
 */

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "itsm_json.h"
#include "itsm_tickets_private.h"
#include "itsm_util.h"

#define RECORD_FIELDS "sys_id,number,short_description,description,state," \
                      "priority,assigned_to,sys_created_on,sys_updated_on," \
                      "sys_updated_by"

#define READ_PARAMS   "sysparm_display_value=all" \
                      "&sysparm_exclude_reference_link=true" \
                      "&sysparm_fields=" RECORD_FIELDS

#define DEFAULT_CLOSE_CODE "Solution provided"

static const tickets_map_t servicenow_states[] = {
    { "open", "1" },
    { "in_progress", "2" },
    { "in_progress", "3" },
    { "resolved", "6" },
    { "closed", "7" },
    { "closed", "8" },
    { NULL, NULL }
};

static const tickets_map_t servicenow_priorities[] = {
    { "critical", "1" },
    { "high", "2" },
    { "medium", "3" },
    { "low", "4" },
    { "low", "5" },
    { NULL, NULL }
};

/* Impact and urgency that the default priority lookup rules of ServiceNow
 * turn into each priority. */
static const struct {
    const char *priority;
    const char *impact;
    const char *urgency;
} priority_matrix[] = {
    { "1", "1", "1" },
    { "2", "1", "2" },
    { "3", "2", "2" },
    { "4", "2", "3" },
    { "5", "3", "3" },
    { NULL, NULL, NULL }
};

/* A field value: plain, or the value of a {value, display_value} pair. */
static const char *field_value(apr_pool_t *p, const json_t *record,
                               const char *field)
{
    const json_t *value = json_object_get(record, field);
    const char *text;

    if (json_is_object(value)) {
        value = json_object_get(value, "value");
    }
    text = itsm_json_scalar_text(p, value);
    return text && *text ? text : NULL;
}

/* The label of a field, or its value when there is no label. */
static const char *field_label(apr_pool_t *p, const json_t *record,
                               const char *field)
{
    const json_t *value = json_object_get(record, field);
    const char *text = itsm_json_string(value, "display_value");

    return text && *text ? text : field_value(p, record, field);
}

static int is_sys_id(const char *s)
{
    int i;

    for (i = 0; s[i]; ++i) {
        if (!apr_isxdigit(s[i])) {
            return 0;
        }
    }
    return i == 32;
}

static apr_status_t get_table(const char **ptable, tickets_call_t *call)
{
    const char *table = itsm_tickets_option(call, "table");

    *ptable = table ? table : "incident";
    if (!itsm_tickets_is_word(*ptable, "_")) {
        return itsm_tickets_fail(call, APR_EGENERAL, "The integration is "
                                 "misconfigured: config.options.table must "
                                 "be a table name such as incident; an "
                                 "administrator must fix it.");
    }
    return APR_SUCCESS;
}

static const char *table_url(tickets_call_t *call, const char *table,
                             const char *sys_id, const char *query)
{
    return itsm_tickets_url(call, apr_pstrcat(call->scratch,
                                              "/api/now/table/", table,
                                              sys_id ? "/" : "",
                                              sys_id ? sys_id : "",
                                              "?", query, NULL));
}

/* An encoded query term value: '^' separates terms, and ServiceNow has no
 * escape for it. */
static apr_status_t check_query_value(tickets_call_t *call,
                                      const char *name, const char *value)
{
    if (strchr(value, '^')) {
        return itsm_tickets_fail(call, APR_EINVAL, "The %s must not "
                                 "contain '^'.", name);
    }
    return APR_SUCCESS;
}

static json_t *record_ticket(tickets_call_t *call, const char *table,
                             const json_t *record)
{
    apr_pool_t *p = call->scratch;
    const char *sys_id = field_value(p, record, "sys_id");
    json_t *ticket;

    if (!sys_id) {
        return NULL;
    }
    ticket = itsm_tickets_ticket_new(call);
    itsm_tickets_set(ticket, "id", sys_id);
    itsm_tickets_set(ticket, "key", field_value(p, record, "number"));
    itsm_tickets_set(ticket, "title",
                     field_value(p, record, "short_description"));
    itsm_tickets_set(ticket, "description",
                     field_value(p, record, "description"));
    itsm_tickets_set(ticket, "status",
                     itsm_tickets_map_in(call, "statusMap",
                                         servicenow_states,
                                         field_value(p, record, "state")));
    itsm_tickets_set(ticket, "rawStatus", field_label(p, record, "state"));
    itsm_tickets_set(ticket, "priority",
                     itsm_tickets_map_in(call, "priorityMap",
                                         servicenow_priorities,
                                         field_value(p, record,
                                                     "priority")));
    itsm_tickets_set(ticket, "rawPriority",
                     field_label(p, record, "priority"));
    itsm_tickets_set(ticket, "assignee",
                     field_value(p, record, "assigned_to"));
    itsm_tickets_set(ticket, "url",
                     apr_pstrcat(p, call->base_url, "/nav_to.do?uri=",
                                 table, ".do?sys_id=", sys_id, NULL));
    itsm_tickets_set(ticket, "created",
                     itsm_tickets_time(p, field_value(p, record,
                                                      "sys_created_on")));
    itsm_tickets_set(ticket, "updated",
                     itsm_tickets_time(p, field_value(p, record,
                                                      "sys_updated_on")));
    return ticket;
}

/* The ticket of a {"result": record} response body. */
static apr_status_t response_ticket(json_t **pticket, tickets_call_t *call,
                                  const char *table, const json_t *response)
{
    *pticket = record_ticket(call, table, json_object_get(response, "result"));
    if (!*pticket) {
        return itsm_tickets_unexpected(call, "no \"result\" record with a "
                                       "sys_id");
    }
    return APR_SUCCESS;
}

static const char *record_subject(tickets_call_t *call, const char *table,
                                  const char *id)
{
    return apr_pstrcat(call->scratch, "ServiceNow ", table, " ", id, NULL);
}

/* Read the record of a sys_id or number into *precord. */
static apr_status_t fetch_record(json_t **precord, tickets_call_t *call,
                                 const char *table, const char *id,
                                 const char *params)
{
    json_t *response = NULL;
    json_t *result;
    apr_status_t rv;

    *precord = NULL;
    if (!itsm_tickets_is_word(id, "")) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid ServiceNow "
                                 "record id \"%s\": use a number such as "
                                 "INC0010001 or a 32-character sys_id.",
                                 itsm_tickets_cut(call->scratch, id, 80));
    }
    if (is_sys_id(id)) {
        rv = itsm_tickets_send(&response, call, "GET",
                               table_url(call, table, id, params), NULL,
                               record_subject(call, table, id));
        if (rv != APR_SUCCESS) {
            return rv;
        }
        *precord = json_object_get(response, "result");
    }
    else {
        rv = itsm_tickets_send(&response, call, "GET",
                               table_url(call, table, NULL, apr_pstrcat(
                                   call->scratch, "sysparm_query=number%3D",
                                   id, "&sysparm_limit=1&", params, NULL)),
                               NULL, NULL);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        result = json_object_get(response, "result");
        if (json_is_array(result) && json_array_size(result) == 0) {
            return itsm_tickets_fail(call, APR_ENOENT, "%s was not found.",
                                     record_subject(call, table, id));
        }
        *precord = json_array_get(result, 0);
    }
    if (!json_is_object(*precord)
        || !field_value(call->scratch, *precord, "sys_id")) {
        *precord = NULL;
        return itsm_tickets_unexpected(call, "no \"result\" record with a "
                                       "sys_id");
    }
    return APR_SUCCESS;
}

/* The sys_id of a ticket id, looked up when it is a number. */
static apr_status_t resolve_sys_id(const char **psys_id,
                                   tickets_call_t *call, const char *table,
                                   const char *id)
{
    json_t *record = NULL;
    apr_status_t rv;

    *psys_id = NULL;
    if (is_sys_id(id)) {
        *psys_id = id;
        return APR_SUCCESS;
    }
    rv = fetch_record(&record, call, table, id, "sysparm_fields=sys_id");
    if (rv == APR_SUCCESS) {
        *psys_id = field_value(call->scratch, record, "sys_id");
    }
    return rv;
}

/* PATCH fields into a record and set *pticket to the result. */
static apr_status_t patch_record(json_t **pticket, tickets_call_t *call,
                                 const char *table, const char *id,
                                 json_t *fields)
{
    json_t *response = NULL;
    const char *sys_id;
    apr_status_t rv;

    if ((rv = resolve_sys_id(&sys_id, call, table, id)) != APR_SUCCESS) {
        return rv;
    }
    rv = itsm_tickets_send(&response, call, "PATCH",
                           table_url(call, table, sys_id, READ_PARAMS),
                           fields, record_subject(call, table, id));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, table, response);
}

/* Put the fields that set our priority into fields. */
static void set_priority(tickets_call_t *call, json_t *fields,
                         const char *priority)
{
    const char *value = itsm_tickets_map_out(call, "priorityMap",
                                             servicenow_priorities,
                                             priority);
    int i;

    for (i = 0; priority_matrix[i].priority; ++i) {
        if (strcmp(priority_matrix[i].priority, value) == 0) {
            itsm_tickets_set(fields, "impact", priority_matrix[i].impact);
            itsm_tickets_set(fields, "urgency", priority_matrix[i].urgency);
            return;
        }
    }
    /* A mapped value outside the default lookup goes to priority. */
    itsm_tickets_set(fields, "priority", value);
}

static apr_status_t servicenow_create(json_t **pticket, tickets_call_t *call,
                                      const char *title,
                                      const char *description,
                                      const char *priority)
{
    const json_t *extra = json_object_get(call->target->options,
                                          "createFields");
    json_t *fields = itsm_json_bind(call->scratch, json_object());
    json_t *response = NULL;
    const char *table;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    itsm_tickets_set(fields, "short_description", title);
    if (description) {
        itsm_tickets_set(fields, "description", description);
    }
    if (priority) {
        set_priority(call, fields, priority);
    }
    if (json_is_object(extra)) {
        json_object_update_missing(fields, (json_t *)extra);
    }
    rv = itsm_tickets_send(&response, call, "POST",
                           table_url(call, table, NULL, READ_PARAMS), fields,
                           NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return response_ticket(pticket, call, table, response);
}

static apr_status_t servicenow_get(json_t **pticket, tickets_call_t *call,
                                   const char *ticket_id)
{
    json_t *record = NULL;
    const char *table;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    rv = fetch_record(&record, call, table, ticket_id, READ_PARAMS);
    if (rv == APR_SUCCESS) {
        *pticket = record_ticket(call, table, record);
    }
    return rv;
}

static apr_status_t servicenow_update(json_t **pticket, tickets_call_t *call,
                                      const char *ticket_id,
                                      const char *status,
                                      const char *priority,
                                      const char *comment)
{
    json_t *fields = itsm_json_bind(call->scratch, json_object());
    const char *table;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    if (status) {
        itsm_tickets_set(fields, "state",
                         itsm_tickets_map_out(call, "statusMap",
                                              servicenow_states, status));
        /* Data policies of many instances require both fields to
         * resolve or close an incident. */
        if (strcmp(status, "resolved") == 0
            || strcmp(status, "closed") == 0) {
            const char *code = itsm_tickets_option(call, "closeCode");

            itsm_tickets_set(fields, "close_code",
                             code ? code : DEFAULT_CLOSE_CODE);
            itsm_tickets_set(fields, "close_notes", comment
                             ? comment
                             : apr_pstrcat(call->scratch, "Set to ", status,
                                           " through mod_itsm.", NULL));
        }
    }
    if (priority) {
        set_priority(call, fields, priority);
    }
    if (comment) {
        itsm_tickets_set(fields, "comments", comment);
    }
    return patch_record(pticket, call, table, ticket_id, fields);
}

static apr_status_t servicenow_list(json_t **ptickets,
                                    const char **pnext_cursor,
                                    tickets_call_t *call, const char *status,
                                    const char *assigned_to, int limit,
                                    const char *cursor)
{
    apr_pool_t *p = call->scratch;
    apr_int64_t offset = 0;
    json_t *response = NULL;
    json_t *result;
    json_t *record;
    json_t *tickets;
    const char *table;
    const char *query = "";
    size_t i;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    if (cursor && (itsm_parse_int64(cursor, &offset) != APR_SUCCESS
                   || offset < 0)) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid cursor \"%s\": "
                                 "pass the cursor of the previous page, or "
                                 "none for the first page.",
                                 itsm_tickets_cut(p, cursor, 80));
    }
    if (status) {
        apr_array_header_t *states = itsm_tickets_map_values(
            call, "statusMap", servicenow_states, status);

        query = apr_pstrcat(p, "stateIN",
                            apr_array_pstrcat(p, states, ','), "^", NULL);
    }
    if (assigned_to) {
        if ((rv = check_query_value(call, "assignee filter", assigned_to))
            != APR_SUCCESS) {
            return rv;
        }
        query = apr_pstrcat(p, query,
                            is_sys_id(assigned_to) ? "assigned_to="
                            : strchr(assigned_to, '@')
                            ? "assigned_to.email="
                            : "assigned_to.user_name=",
                            assigned_to, "^", NULL);
    }
    query = apr_pstrcat(p, query, "ORDERBYDESCsys_created_on", NULL);

    /* One record more than the limit shows whether a next page exists,
     * because itsm_http does not expose the Link header of the Table
     * API. */
    rv = itsm_tickets_send(&response, call, "GET",
                           table_url(call, table, NULL, apr_psprintf(
                               p, "sysparm_query=%s&sysparm_limit=%d"
                               "&sysparm_offset=%" APR_INT64_T_FMT "&%s",
                               itsm_tickets_escape(p, query), limit + 1,
                               offset, READ_PARAMS)), NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    result = json_object_get(response, "result");
    if (!json_is_array(result)) {
        return itsm_tickets_unexpected(call, "no \"result\" array");
    }
    tickets = itsm_tickets_array_new(call);
    json_array_foreach(result, i, record) {
        json_t *ticket;

        if ((int)i == limit) {
            *pnext_cursor = itsm_i64toa(p, offset + limit);
            break;
        }
        ticket = record_ticket(call, table, record);
        if (!ticket) {
            return itsm_tickets_unexpected(call, "a record has no sys_id");
        }
        json_array_append(tickets, ticket);
    }
    *ptickets = tickets;
    return APR_SUCCESS;
}

/* The sys_id of the user with a sys_id, user name or e-mail address. */
static apr_status_t find_user(const char **psys_id, tickets_call_t *call,
                              const char *user)
{
    apr_pool_t *p = call->scratch;
    json_t *response = NULL;
    json_t *result;
    const char *query;
    apr_status_t rv;

    *psys_id = NULL;
    if ((rv = check_query_value(call, "user id", user)) != APR_SUCCESS) {
        return rv;
    }
    query = apr_pstrcat(p, "sys_id=", user, "^ORuser_name=", user,
                        "^ORemail=", user, NULL);
    rv = itsm_tickets_send(&response, call, "GET",
                           itsm_tickets_url(call, apr_pstrcat(
                               p, "/api/now/table/sys_user?sysparm_query=",
                               itsm_tickets_escape(p, query),
                               "&sysparm_limit=1&sysparm_fields=sys_id",
                               NULL)), NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    result = json_object_get(response, "result");
    if (!json_is_array(result)) {
        return itsm_tickets_unexpected(call, "no \"result\" array");
    }
    *psys_id = field_value(p, json_array_get(result, 0), "sys_id");
    if (!*psys_id) {
        return itsm_tickets_fail(call, APR_EINVAL, "No ServiceNow user has "
                                 "the sys_id, user name or e-mail address "
                                 "\"%s\".", itsm_tickets_cut(p, user, 120));
    }
    return APR_SUCCESS;
}

static apr_status_t servicenow_assign(json_t **pticket, tickets_call_t *call,
                                      const char *ticket_id,
                                      const char *user_id)
{
    json_t *fields = itsm_json_bind(call->scratch, json_object());
    const char *table;
    const char *user;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = find_user(&user, call, user_id)) != APR_SUCCESS) {
        return rv;
    }
    itsm_tickets_set(fields, "assigned_to", user);
    return patch_record(pticket, call, table, ticket_id, fields);
}

/* The newest journal entry of a record's field when it has the text, or
 * NULL.  Reading sys_journal_field needs a role that many integration
 * accounts lack, so a failure here is not an error. */
static const json_t *find_journal_entry(tickets_call_t *call,
                                        const char *sys_id,
                                        const char *field, const char *text)
{
    apr_pool_t *p = call->scratch;
    json_t *response = NULL;
    const json_t *entry;
    const char *query = apr_pstrcat(p, "element_id=", sys_id, "^element=",
                                    field, "^ORDERBYDESCsys_created_on",
                                    NULL);
    const char *error = call->error;
    const char *value;

    if (itsm_tickets_send(&response, call, "GET",
                          itsm_tickets_url(call, apr_pstrcat(
                              p, "/api/now/table/sys_journal_field"
                              "?sysparm_query=",
                              itsm_tickets_escape(p, query),
                              "&sysparm_limit=1&sysparm_fields=sys_id,"
                              "value,element,sys_created_by,sys_created_on",
                              NULL)), NULL, NULL) != APR_SUCCESS) {
        call->error = error;
        return NULL;
    }
    entry = json_array_get(json_object_get(response, "result"), 0);
    value = field_value(p, entry, "value");
    return value && strcmp(value, text) == 0 ? entry : NULL;
}

static apr_status_t servicenow_comment(json_t **pcomment,
                                       tickets_call_t *call,
                                       const char *ticket_id,
                                       const char *text, int internal)
{
    apr_pool_t *p = call->scratch;
    const char *field = internal ? "work_notes" : "comments";
    json_t *fields = itsm_json_bind(p, json_object());
    json_t *response = NULL;
    json_t *record;
    json_t *comment;
    const json_t *entry;
    const char *table;
    const char *sys_id;
    apr_status_t rv;

    if ((rv = get_table(&table, call)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = resolve_sys_id(&sys_id, call, table, ticket_id))
        != APR_SUCCESS) {
        return rv;
    }
    itsm_tickets_set(fields, field, text);
    rv = itsm_tickets_send(&response, call, "PATCH",
                           table_url(call, table, sys_id, READ_PARAMS),
                           fields, record_subject(call, table, ticket_id));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    record = json_object_get(response, "result");
    if (!json_is_object(record)) {
        return itsm_tickets_unexpected(call, "no \"result\" record");
    }

    comment = itsm_tickets_object_new(call);
    entry = find_journal_entry(call, sys_id, field, text);
    itsm_tickets_set(comment, "id", field_value(p, entry, "sys_id"));
    itsm_tickets_set(comment, "body", text);
    json_object_set_new(comment, "internal", json_boolean(internal));
    /* Without the journal entry, the record's last update is the
     * comment. */
    itsm_tickets_set(comment, "author",
                     entry ? field_value(p, entry, "sys_created_by")
                           : field_value(p, record, "sys_updated_by"));
    itsm_tickets_set(comment, "created", itsm_tickets_time(
                         p, entry ? field_value(p, entry, "sys_created_on")
                                  : field_value(p, record,
                                                "sys_updated_on")));
    *pcomment = comment;
    return APR_SUCCESS;
}

static apr_status_t servicenow_kb_search(json_t **particles,
                                         tickets_call_t *call,
                                         const char *query, int limit)
{
    apr_pool_t *p = call->scratch;
    const char *mode = itsm_tickets_option(call, "kbSearch");
    char *terms = apr_pstrdup(p, query);
    char *c;
    const char *encoded;
    json_t *response = NULL;
    json_t *result;
    json_t *record;
    json_t *articles;
    size_t i;
    apr_status_t rv;

    /* '^' would end the term early; a space does not change a search. */
    for (c = terms; *c; ++c) {
        if (*c == '^') {
            *c = ' ';
        }
    }
    if (mode && strcmp(mode, "text") == 0) {
        encoded = apr_pstrcat(p, "workflow_state=published^123TEXTQUERY321=",
                              terms, NULL);
    }
    else {
        encoded = apr_pstrcat(p, "workflow_state=published"
                              "^short_descriptionLIKE", terms,
                              "^ORtextLIKE", terms, NULL);
    }
    rv = itsm_tickets_send(&response, call, "GET",
                           itsm_tickets_url(call, apr_psprintf(
                               p, "/api/now/table/kb_knowledge"
                               "?sysparm_query=%s&sysparm_limit=%d"
                               "&sysparm_fields=sys_id,number,"
                               "short_description,text",
                               itsm_tickets_escape(p, encoded), limit)),
                           NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    result = json_object_get(response, "result");
    if (!json_is_array(result)) {
        return itsm_tickets_unexpected(call, "no \"result\" array");
    }
    articles = itsm_tickets_array_new(call);
    json_array_foreach(result, i, record) {
        const char *number = field_value(p, record, "number");
        json_t *article = json_object();

        itsm_tickets_set(article, "id", field_value(p, record, "sys_id"));
        itsm_tickets_set(article, "title",
                         field_value(p, record, "short_description"));
        itsm_tickets_set(article, "snippet",
                         itsm_tickets_cut(p, itsm_tickets_html_text(
                             p, field_value(p, record, "text")),
                             ITSM_TICKETS_SNIPPET_MAX));
        itsm_tickets_set(article, "url", number
                         ? apr_pstrcat(p, call->base_url,
                                       "/kb_view.do?sysparm_article=",
                                       itsm_tickets_escape(p, number), NULL)
                         : NULL);
        json_array_append_new(articles, article);
    }
    *particles = articles;
    return APR_SUCCESS;
}

const tickets_adapter_t itsm_tickets_servicenow = {
    "servicenow", "ServiceNow",
    servicenow_create, servicenow_get, servicenow_update, servicenow_list,
    servicenow_assign, servicenow_comment, servicenow_kb_search
};
