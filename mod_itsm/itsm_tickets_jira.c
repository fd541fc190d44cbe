/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Jira Cloud adapter (REST API v3):
 *   create      POST /rest/api/3/issue, then GET the new issue
 *   get         GET  /rest/api/3/issue/{key}?fields=...
 *   update      PUT  /rest/api/3/issue/{key} (priority), the transition
 *               from GET and POST /rest/api/3/issue/{key}/transitions
 *               (status), POST /rest/api/3/issue/{key}/comment
 *   list        POST /rest/api/3/search/jql, following nextPageToken
 *   assign      PUT  /rest/api/3/issue/{key}/assignee {accountId}; an
 *               e-mail address is looked up with GET /rest/api/3/user/search
 *   comment     POST /rest/api/3/issue/{key}/comment
 *   kb_search   GET  /wiki/rest/api/search?cql=... (Confluence Cloud)
 * Descriptions and comments are Atlassian Document Format (ADF) documents.
 */

#include <string.h>

#include <apr_strings.h>

#include "itsm_json.h"
#include "itsm_tickets_private.h"

#define ISSUE_FIELDS "summary,description,status,priority,assignee," \
                     "created,updated"

/* Nesting of ADF nodes beyond which the text is not read further. */
#define ADF_MAX_DEPTH 64

static const tickets_map_t jira_statuses[] = {
    { "open", "To Do" },
    { "open", "Open" },
    { "open", "Reopened" },
    { "open", "Backlog" },
    { "open", "New" },
    { "in_progress", "In Progress" },
    { "in_progress", "In Review" },
    { "in_progress", "Waiting for support" },
    { "in_progress", "Waiting for customer" },
    { "in_progress", "Pending" },
    { "resolved", "Resolved" },
    { "resolved", "Done" },
    { "closed", "Closed" },
    { "closed", "Canceled" },
    { "closed", "Cancelled" },
    { NULL, NULL }
};

static const tickets_map_t jira_priorities[] = {
    { "critical", "Highest" },
    { "critical", "Critical" },
    { "critical", "Blocker" },
    { "high", "High" },
    { "high", "Major" },
    { "medium", "Medium" },
    { "low", "Low" },
    { "low", "Lowest" },
    { "low", "Minor" },
    { "low", "Trivial" },
    { NULL, NULL }
};

/* Jira's status category key for our status. */
static const char *category_of(const char *status)
{
    if (strcmp(status, "open") == 0) {
        return "new";
    }
    if (strcmp(status, "in_progress") == 0) {
        return "indeterminate";
    }
    return "done";
}

/* The status category name that JQL takes for our status. */
static const char *category_name_of(const char *status)
{
    if (strcmp(status, "open") == 0) {
        return "\"To Do\"";
    }
    if (strcmp(status, "in_progress") == 0) {
        return "\"In Progress\"";
    }
    return "Done";
}

static const char *status_of_category(const char *category)
{
    if (!category) {
        return NULL;
    }
    if (strcmp(category, "new") == 0) {
        return "open";
    }
    if (strcmp(category, "indeterminate") == 0) {
        return "in_progress";
    }
    return strcmp(category, "done") == 0 ? "resolved" : NULL;
}

/* Text inside double quotes of JQL or CQL: '"' and '\' escaped. */
static const char *quote_query(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 3);
    char *o = out;

    *o++ = '"';
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* ---------------------------------------------------------------------- */
/* Atlassian Document Format                                               */

/* A paragraph node of one block of text; line breaks become hardBreak
 * nodes, and empty text nodes, which ADF forbids, are left out. */
static json_t *adf_paragraph(const char *text, apr_size_t len)
{
    json_t *content = json_array();
    apr_size_t start = 0;
    apr_size_t i;

    for (i = 0; i <= len; ++i) {
        if (i < len && text[i] != '\n') {
            continue;
        }
        if (i > start) {
            json_array_append_new(content,
                                  json_pack("{s:s, s:s%}", "type", "text",
                                            "text", text + start,
                                            (size_t)(i - start)));
        }
        if (i < len) {
            json_array_append_new(content, json_pack("{s:s}", "type",
                                                     "hardBreak"));
        }
        start = i + 1;
    }
    return json_pack("{s:s, s:o}", "type", "paragraph", "content", content);
}

/* An ADF document of plain text: one paragraph per block of text between
 * blank lines.  The caller owns the reference. */
static json_t *adf_from_text(apr_pool_t *p, const char *text)
{
    json_t *content = json_array();
    char *copy = apr_pstrdup(p, text);
    char *c;
    char *o;
    const char *block;

    /* Line ends become "\n". */
    for (c = o = copy; *c; ++c) {
        if (*c == '\r') {
            if (c[1] != '\n') {
                *o++ = '\n';
            }
            continue;
        }
        *o++ = *c;
    }
    *o = '\0';

    block = copy;
    while (*block) {
        const char *end = strstr(block, "\n\n");
        apr_size_t len = end ? (apr_size_t)(end - block) : strlen(block);

        while (len > 0 && *block == '\n') {
            ++block;
            --len;
        }
        if (len > 0) {
            json_array_append_new(content, adf_paragraph(block, len));
        }
        block += len;
        while (*block == '\n') {
            ++block;
        }
    }
    return json_pack("{s:s, s:i, s:o}", "type", "doc", "version", 1,
                     "content", content);
}

typedef struct adf_text_t {
    apr_array_header_t *chars;
    int list_depth;
    int item_start;                 /* right after a list item's "- " */
} adf_text_t;

static void adf_append(adf_text_t *out, const char *s)
{
    if (!s || !*s) {
        return;
    }
    for (; *s; ++s) {
        *(char *)apr_array_push(out->chars) = *s;
    }
    out->item_start = 0;
}

static int adf_ends_with(const adf_text_t *out, const char *suffix)
{
    apr_size_t len = strlen(suffix);

    return (apr_size_t)out->chars->nelts >= len
           && memcmp(out->chars->elts + out->chars->nelts - len, suffix,
                     len) == 0;
}

/* Separate a new block from the text before it: a blank line, or a line
 * break inside lists. */
static void adf_begin_block(adf_text_t *out)
{
    if (out->chars->nelts == 0 || out->item_start) {
        return;
    }
    if (out->list_depth > 0) {
        if (!adf_ends_with(out, "\n")) {
            adf_append(out, "\n");
        }
        return;
    }
    if (!adf_ends_with(out, "\n")) {
        adf_append(out, "\n");
    }
    if (!adf_ends_with(out, "\n\n")) {
        adf_append(out, "\n");
    }
}

static int is_block_type(const char *type)
{
    static const char *const blocks[] = {
        "paragraph", "heading", "codeBlock", "blockquote", "panel", "rule",
        "expand", "nestedExpand", "mediaSingle", "mediaGroup", "table",
        "bulletList", "orderedList", "taskList", "decisionList", NULL
    };
    int i;

    for (i = 0; blocks[i]; ++i) {
        if (strcmp(type, blocks[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static void adf_walk(adf_text_t *out, const json_t *node, int depth)
{
    const char *type = itsm_json_string(node, "type");
    const json_t *attrs = json_object_get(node, "attrs");
    json_t *child;
    size_t i;
    int list;

    if (!type || depth > ADF_MAX_DEPTH) {
        return;
    }
    if (strcmp(type, "text") == 0) {
        adf_append(out, itsm_json_string(node, "text"));
        return;
    }
    if (strcmp(type, "hardBreak") == 0) {
        adf_append(out, "\n");
        return;
    }
    if (strcmp(type, "mention") == 0 || strcmp(type, "emoji") == 0
        || strcmp(type, "status") == 0) {
        adf_append(out, itsm_json_string(attrs, "text")
                        ? itsm_json_string(attrs, "text")
                        : itsm_json_string(attrs, "shortName"));
        return;
    }
    if (strcmp(type, "inlineCard") == 0 || strcmp(type, "blockCard") == 0
        || strcmp(type, "embedCard") == 0) {
        adf_append(out, itsm_json_string(attrs, "url"));
        return;
    }
    if (strcmp(type, "listItem") == 0 || strcmp(type, "taskItem") == 0
        || strcmp(type, "decisionItem") == 0) {
        if (out->chars->nelts > 0 && !adf_ends_with(out, "\n")) {
            adf_append(out, "\n");
        }
        for (i = 1; i < (size_t)out->list_depth; ++i) {
            adf_append(out, "  ");
        }
        adf_append(out, "- ");
        out->item_start = 1;
    }
    else if (strcmp(type, "tableRow") == 0) {
        if (out->chars->nelts > 0 && !adf_ends_with(out, "\n")) {
            adf_append(out, "\n");
        }
    }
    else if (strcmp(type, "tableCell") == 0
             || strcmp(type, "tableHeader") == 0) {
        if (out->chars->nelts > 0 && !adf_ends_with(out, "\n")) {
            adf_append(out, " | ");
        }
    }
    else if (is_block_type(type)) {
        adf_begin_block(out);
    }

    list = strstr(type, "List") != NULL;
    out->list_depth += list;
    json_array_foreach(json_object_get(node, "content"), i, child) {
        /* Cells hold paragraphs, which stay on the row's line. */
        if (strcmp(type, "tableCell") == 0
            || strcmp(type, "tableHeader") == 0) {
            out->item_start = 1;
        }
        adf_walk(out, child, depth + 1);
    }
    out->list_depth -= list;
}

/* The plain text of an ADF document, or the value itself when it is a
 * string (descriptions of API v2 and of old issues). */
static const char *adf_to_text(apr_pool_t *p, const json_t *doc)
{
    adf_text_t out;
    char *text;
    int len;

    if (json_is_string(doc)) {
        return json_string_value(doc);
    }
    if (!json_is_object(doc)) {
        return NULL;
    }
    memset(&out, 0, sizeof(out));
    out.chars = apr_array_make(p, 256, 1);
    adf_walk(&out, doc, 0);
    len = out.chars->nelts;
    while (len > 0 && (out.chars->elts[len - 1] == '\n'
                       || out.chars->elts[len - 1] == ' ')) {
        --len;
    }
    text = apr_pstrmemdup(p, out.chars->elts, len);
    return text;
}

/* ---------------------------------------------------------------------- */
/* issues                                                                  */

static apr_status_t check_issue_id(tickets_call_t *call, const char *id)
{
    if (!itsm_tickets_is_word(id, "-_")) {
        return itsm_tickets_fail(call, APR_EINVAL, "Invalid Jira issue key "
                                 "\"%s\": use a key such as PROJ-123 or a "
                                 "numeric issue id.",
                                 itsm_tickets_cut(call->scratch, id, 80));
    }
    return APR_SUCCESS;
}

static const char *issue_subject(tickets_call_t *call, const char *id)
{
    return apr_pstrcat(call->scratch, "Jira issue ", id, NULL);
}

static const char *issue_url(tickets_call_t *call, const char *key,
                             const char *suffix)
{
    return itsm_tickets_url(call, apr_pstrcat(call->scratch,
                                              "/rest/api/3/issue/",
                                              itsm_tickets_escape(
                                                  call->scratch, key),
                                              suffix, NULL));
}

/* Our status of an issue's fields.status. */
static const char *issue_status(const tickets_call_t *call,
                                const json_t *status)
{
    const char *ours = itsm_tickets_map_in(call, "statusMap", jira_statuses,
                                           itsm_json_string(status, "name"));

    if (ours) {
        return ours;
    }
    return status_of_category(itsm_json_string(
        json_object_get(status, "statusCategory"), "key"));
}

/* The ticket of an issue, or NULL when the issue lacks key or fields. */
static json_t *issue_ticket(tickets_call_t *call, const json_t *issue)
{
    const json_t *fields = json_object_get(issue, "fields");
    const json_t *status = json_object_get(fields, "status");
    const json_t *priority = json_object_get(fields, "priority");
    const char *key = itsm_json_string(issue, "key");
    const char *priority_name = itsm_json_string(priority, "name");
    apr_pool_t *p = call->scratch;
    json_t *ticket;

    if (!key || !json_is_object(fields)) {
        return NULL;
    }
    ticket = itsm_tickets_ticket_new(call);
    itsm_tickets_set(ticket, "id", itsm_tickets_text(p, issue, "id"));
    itsm_tickets_set(ticket, "key", key);
    itsm_tickets_set(ticket, "title", itsm_json_string(fields, "summary"));
    itsm_tickets_set(ticket, "description",
                     adf_to_text(p, json_object_get(fields, "description")));
    itsm_tickets_set(ticket, "status", issue_status(call, status));
    itsm_tickets_set(ticket, "rawStatus", itsm_json_string(status, "name"));
    itsm_tickets_set(ticket, "priority",
                     itsm_tickets_map_in(call, "priorityMap",
                                         jira_priorities, priority_name));
    itsm_tickets_set(ticket, "rawPriority", priority_name);
    itsm_tickets_set(ticket, "assignee",
                     itsm_json_string(json_object_get(fields, "assignee"),
                                      "accountId"));
    itsm_tickets_set(ticket, "url", apr_pstrcat(p, call->base_url,
                                                "/browse/", key, NULL));
    itsm_tickets_set(ticket, "created",
                     itsm_tickets_time(p, itsm_json_string(fields,
                                                           "created")));
    itsm_tickets_set(ticket, "updated",
                     itsm_tickets_time(p, itsm_json_string(fields,
                                                           "updated")));
    return ticket;
}

static apr_status_t fetch_issue(json_t **pissue, tickets_call_t *call,
                                const char *id)
{
    json_t *issue = NULL;
    apr_status_t rv;

    *pissue = NULL;
    if ((rv = check_issue_id(call, id)) != APR_SUCCESS) {
        return rv;
    }
    rv = itsm_tickets_send(&issue, call, "GET",
                           issue_url(call, id, "?fields=" ISSUE_FIELDS),
                           NULL, issue_subject(call, id));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!itsm_json_string(issue, "key")
        || !json_is_object(json_object_get(issue, "fields"))) {
        return itsm_tickets_unexpected(call, "the issue has no key or "
                                       "fields");
    }
    *pissue = issue;
    return APR_SUCCESS;
}

static apr_status_t jira_get(json_t **pticket, tickets_call_t *call,
                             const char *ticket_id)
{
    json_t *issue = NULL;
    apr_status_t rv;

    if ((rv = fetch_issue(&issue, call, ticket_id)) == APR_SUCCESS) {
        *pticket = issue_ticket(call, issue);
    }
    return rv;
}

static apr_status_t require_project(const char **pproject,
                                    tickets_call_t *call, const char *what)
{
    *pproject = itsm_tickets_option(call, "projectKey");
    if (!*pproject) {
        return itsm_tickets_fail(call, APR_ENOTIMPL, "The Jira integration "
                                 "has no project to %s tickets in: an "
                                 "administrator must set "
                                 "config.options.projectKey to a project "
                                 "key such as ITSM.", what);
    }
    return APR_SUCCESS;
}

/* Prefix call->error with the step of an update that failed. */
static apr_status_t step_failed(tickets_call_t *call, apr_status_t rv,
                                const char *step, const char *key)
{
    call->error = apr_psprintf(call->pool, "Could not %s of Jira issue %s: "
                               "%s", step, key, call->error);
    return rv;
}

static apr_status_t jira_create(json_t **pticket, tickets_call_t *call,
                                const char *title, const char *description,
                                const char *priority)
{
    const json_t *extra = json_object_get(call->target->options,
                                          "createFields");
    const char *project;
    const char *key;
    json_t *fields;
    json_t *body;
    json_t *created = NULL;
    apr_status_t rv;

    if ((rv = require_project(&project, call, "create")) != APR_SUCCESS) {
        return rv;
    }
    fields = json_pack("{s:{s:s}, s:s, s:{s:s}}", "project", "key", project,
                       "summary", title, "issuetype", "name",
                       itsm_tickets_option(call, "issueType")
                       ? itsm_tickets_option(call, "issueType") : "Task");
    body = itsm_json_bind(call->scratch, json_pack("{s:o}", "fields",
                                                   fields));
    if (description) {
        json_object_set_new(fields, "description",
                            adf_from_text(call->scratch, description));
    }
    if (priority) {
        json_object_set_new(fields, "priority",
                            json_pack("{s:s}", "name",
                                      itsm_tickets_map_out(
                                          call, "priorityMap",
                                          jira_priorities, priority)));
    }
    if (json_is_object(extra)) {
        json_object_update_missing(fields, (json_t *)extra);
    }

    rv = itsm_tickets_send(&created, call, "POST",
                           itsm_tickets_url(call, "/rest/api/3/issue"), body,
                           NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    key = itsm_json_string(created, "key");
    if (!key) {
        return itsm_tickets_unexpected(call, "the created issue has no key");
    }
    return jira_get(pticket, call, key);
}

/* List the transitions of a GET .../transitions response for a message:
 * "Start Progress (to In Progress), ...". */
static const char *transition_names(apr_pool_t *p, const json_t *list)
{
    const char *out = NULL;
    json_t *item;
    size_t i;

    json_array_foreach(list, i, item) {
        const char *name = itsm_json_string(item, "name");
        const char *to = itsm_json_string(json_object_get(item, "to"),
                                          "name");
        const char *text = apr_psprintf(p, "%s (to %s)", name ? name : "?",
                                        to ? to : "?");

        out = out ? apr_pstrcat(p, out, ", ", text, NULL) : text;
    }
    return out ? out : "none";
}

/* The id of the transition to our status: by mapped status name first,
 * then by status category. */
static const char *pick_transition(tickets_call_t *call, const json_t *list,
                                   const char *status)
{
    apr_array_header_t *names = itsm_tickets_map_values(call, "statusMap",
                                                        jira_statuses,
                                                        status);
    const char *category = category_of(status);
    json_t *item;
    size_t i;
    int n;

    for (n = 0; n < names->nelts; ++n) {
        const char *name = APR_ARRAY_IDX(names, n, const char *);

        json_array_foreach(list, i, item) {
            const char *to = itsm_json_string(json_object_get(item, "to"),
                                              "name");

            if (to && strcasecmp(to, name) == 0) {
                return itsm_tickets_text(call->scratch, item, "id");
            }
        }
    }
    json_array_foreach(list, i, item) {
        const json_t *to = json_object_get(item, "to");
        const char *key = itsm_json_string(json_object_get(to,
                                                           "statusCategory"),
                                           "key");

        if (key && strcmp(key, category) == 0) {
            return itsm_tickets_text(call->scratch, item, "id");
        }
    }
    return NULL;
}

static apr_status_t transition_issue(tickets_call_t *call, const char *key,
                                     const char *status)
{
    json_t *response = NULL;
    json_t *list;
    json_t *body;
    const char *id;
    apr_status_t rv;

    rv = itsm_tickets_send(&response, call, "GET",
                           issue_url(call, key, "/transitions"), NULL,
                           issue_subject(call, key));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    list = json_object_get(response, "transitions");
    if (!json_is_array(list)) {
        return itsm_tickets_unexpected(call, "no \"transitions\" array");
    }
    id = pick_transition(call, list, status);
    if (!id) {
        return itsm_tickets_fail(call, APR_EINVAL, "The workflow of Jira "
                                 "issue %s has no transition from its "
                                 "current status to a status that maps to "
                                 "%s. Available transitions: %s. An "
                                 "administrator can map status names in "
                                 "config.options.statusMap.", key, status,
                                 transition_names(call->scratch, list));
    }
    body = itsm_json_bind(call->scratch,
                          json_pack("{s:{s:s}}", "transition", "id", id));
    return itsm_tickets_send(NULL, call, "POST",
                             issue_url(call, key, "/transitions"), body,
                             issue_subject(call, key));
}

/* Add a comment to an issue and set *presponse to Jira's comment object. */
static apr_status_t add_comment(json_t **presponse, tickets_call_t *call,
                                const char *key, const char *text,
                                int internal)
{
    json_t *body = itsm_json_bind(call->scratch, json_object());

    json_object_set_new(body, "body", adf_from_text(call->scratch, text));
    if (internal) {
        /* Jira Service Management reads this property; other projects
         * store it without effect. */
        json_object_set_new(body, "properties",
                            json_pack("[{s:s, s:{s:b}}]", "key",
                                      "sd.public.comment", "value",
                                      "internal", 1));
    }
    return itsm_tickets_send(presponse, call, "POST",
                             issue_url(call, key, "/comment"), body,
                             issue_subject(call, key));
}

static apr_status_t jira_update(json_t **pticket, tickets_call_t *call,
                                const char *ticket_id, const char *status,
                                const char *priority, const char *comment)
{
    json_t *issue = NULL;
    json_t *body;
    const char *key;
    const char *current;
    apr_status_t rv;

    if ((rv = fetch_issue(&issue, call, ticket_id)) != APR_SUCCESS) {
        return rv;
    }
    key = itsm_json_string(issue, "key");
    current = issue_status(call, json_object_get(json_object_get(issue,
                                                                 "fields"),
                                                 "status"));

    if (priority) {
        body = itsm_json_bind(call->scratch,
                              json_pack("{s:{s:{s:s}}}", "fields",
                                        "priority", "name",
                                        itsm_tickets_map_out(
                                            call, "priorityMap",
                                            jira_priorities, priority)));
        rv = itsm_tickets_send(NULL, call, "PUT", issue_url(call, key, ""),
                               body, issue_subject(call, key));
        if (rv != APR_SUCCESS) {
            return step_failed(call, rv, "change the priority", key);
        }
    }
    /* An issue already in the status needs no transition. */
    if (status && !(current && strcmp(current, status) == 0)) {
        rv = transition_issue(call, key, status);
        if (rv != APR_SUCCESS) {
            return step_failed(call, rv, "change the status", key);
        }
    }
    if (comment) {
        rv = add_comment(NULL, call, key, comment, 0);
        if (rv != APR_SUCCESS) {
            return step_failed(call, rv, "add the comment", key);
        }
    }
    return jira_get(pticket, call, key);
}

static apr_status_t jira_list(json_t **ptickets, const char **pnext_cursor,
                              tickets_call_t *call, const char *status,
                              const char *assigned_to, int limit,
                              const char *cursor)
{
    apr_pool_t *p = call->scratch;
    const char *project;
    const char *jql;
    const char *token = cursor;
    json_t *tickets;
    int page;
    apr_status_t rv;

    if ((rv = require_project(&project, call, "list")) != APR_SUCCESS) {
        return rv;
    }
    jql = apr_pstrcat(p, "project = ", quote_query(p, project), NULL);
    if (status && json_object_get(json_object_get(call->target->options,
                                                  "statusMap"), status)) {
        apr_array_header_t *names = itsm_tickets_map_values(call,
                                                            "statusMap",
                                                            jira_statuses,
                                                            status);
        const char *in = NULL;
        int i;

        for (i = 0; i < names->nelts; ++i) {
            const char *q = quote_query(p, APR_ARRAY_IDX(names, i,
                                                         const char *));

            in = in ? apr_pstrcat(p, in, ", ", q, NULL) : q;
        }
        jql = apr_pstrcat(p, jql, " AND status in (", in, ")", NULL);
    }
    else if (status) {
        /* Names differ between workflows, categories do not.  The
         * tickets are filtered below as well, since resolved and closed
         * share the category done. */
        jql = apr_pstrcat(p, jql, " AND statusCategory = ",
                          category_name_of(status), NULL);
    }
    if (assigned_to) {
        jql = apr_pstrcat(p, jql, " AND assignee = ",
                          quote_query(p, assigned_to), NULL);
    }
    jql = apr_pstrcat(p, jql, " ORDER BY created DESC", NULL);

    tickets = itsm_tickets_array_new(call);
    for (page = 0; page < ITSM_TICKETS_MAX_PAGES; ++page) {
        json_t *body;
        json_t *response = NULL;
        json_t *issues;
        json_t *issue;
        json_t *is_last;
        size_t i;

        /* Each page requests no more issues than are missing, so that
         * no issue of a page is skipped when the list stops. */
        body = itsm_json_bind(p, json_pack("{s:s, s:i, s:[s,s,s,s,s,s,s]}",
                                           "jql", jql, "maxResults",
                                           limit - (int)json_array_size(
                                               tickets),
                                           "fields", "summary",
                                           "description", "status",
                                           "priority", "assignee",
                                           "created", "updated"));
        if (token) {
            json_object_set_new(body, "nextPageToken", json_string(token));
        }
        rv = itsm_tickets_send(&response, call, "POST",
                               itsm_tickets_url(call,
                                                "/rest/api/3/search/jql"),
                               body, NULL);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        issues = json_object_get(response, "issues");
        if (!json_is_array(issues)) {
            return itsm_tickets_unexpected(call, "no \"issues\" array");
        }
        json_array_foreach(issues, i, issue) {
            json_t *ticket = issue_ticket(call, issue);
            const char *ours = itsm_json_string(ticket, "status");

            if (!ticket) {
                return itsm_tickets_unexpected(call, "an issue has no key "
                                               "or fields");
            }
            if (!status || (ours && strcmp(ours, status) == 0)) {
                json_array_append(tickets, ticket);
            }
        }
        token = itsm_json_string(response, "nextPageToken");
        is_last = json_object_get(response, "isLast");
        if (json_is_true(is_last) || json_array_size(issues) == 0) {
            token = NULL;
        }
        if (!token || (int)json_array_size(tickets) >= limit) {
            break;
        }
    }
    *ptickets = tickets;
    *pnext_cursor = token;
    return APR_SUCCESS;
}

/* The accountId of the Jira user with an e-mail address. */
static apr_status_t find_account(const char **paccount,
                                 tickets_call_t *call, const char *email)
{
    json_t *users = NULL;
    json_t *user;
    size_t i;
    apr_status_t rv;

    *paccount = NULL;
    rv = itsm_tickets_send(&users, call, "GET",
                           itsm_tickets_url(call, apr_pstrcat(
                               call->scratch, "/rest/api/3/user/search"
                               "?maxResults=2&query=",
                               itsm_tickets_escape(call->scratch, email),
                               NULL)), NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!json_is_array(users)) {
        return itsm_tickets_unexpected(call, "the user search did not "
                                       "return an array");
    }
    json_array_foreach(users, i, user) {
        if ((*paccount = itsm_json_string(user, "accountId")) != NULL) {
            return APR_SUCCESS;
        }
    }
    return itsm_tickets_fail(call, APR_EINVAL, "No Jira user matches \"%s\"; "
                             "give the user's accountId instead.",
                             itsm_tickets_cut(call->scratch, email, 120));
}

static apr_status_t jira_assign(json_t **pticket, tickets_call_t *call,
                                const char *ticket_id, const char *user_id)
{
    const char *account = user_id;
    json_t *body;
    apr_status_t rv;

    if ((rv = check_issue_id(call, ticket_id)) != APR_SUCCESS) {
        return rv;
    }
    if (strchr(user_id, '@')
        && (rv = find_account(&account, call, user_id)) != APR_SUCCESS) {
        return rv;
    }
    body = itsm_json_bind(call->scratch,
                          json_pack("{s:s}", "accountId", account));
    rv = itsm_tickets_send(NULL, call, "PUT",
                           issue_url(call, ticket_id, "/assignee"), body,
                           issue_subject(call, ticket_id));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return jira_get(pticket, call, ticket_id);
}

static apr_status_t jira_comment(json_t **pcomment, tickets_call_t *call,
                                 const char *ticket_id, const char *text,
                                 int internal)
{
    json_t *response = NULL;
    json_t *comment;
    json_t *body;
    apr_status_t rv;

    if ((rv = check_issue_id(call, ticket_id)) != APR_SUCCESS) {
        return rv;
    }
    rv = add_comment(&response, call, ticket_id, text, internal);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!json_is_object(response)) {
        return itsm_tickets_unexpected(call, "no comment object");
    }
    body = json_object_get(response, "body");
    comment = itsm_tickets_object_new(call);
    itsm_tickets_set(comment, "id", itsm_tickets_text(call->scratch, response,
                                                      "id"));
    itsm_tickets_set(comment, "body", body ? adf_to_text(call->scratch, body)
                                           : text);
    /* jsdPublic is false only for internal Service Management comments. */
    json_object_set_new(comment, "internal",
                        json_boolean(json_is_false(
                            json_object_get(response, "jsdPublic"))));
    itsm_tickets_set(comment, "author",
                     itsm_json_string(json_object_get(response, "author"),
                                      "accountId"));
    itsm_tickets_set(comment, "created",
                     itsm_tickets_time(call->scratch,
                                       itsm_json_string(response,
                                                        "created")));
    *pcomment = comment;
    return APR_SUCCESS;
}

/* Confluence marks search hits with @@@hl@@@ and @@@endhl@@@. */
static const char *strip_highlights(apr_pool_t *p, const char *s)
{
    static const char *const markers[] = { "@@@hl@@@", "@@@endhl@@@",
                                           NULL };
    char *out;
    char *hit;
    int i;

    if (!s) {
        return NULL;
    }
    out = apr_pstrdup(p, s);
    for (i = 0; markers[i]; ++i) {
        apr_size_t len = strlen(markers[i]);

        while ((hit = strstr(out, markers[i])) != NULL) {
            memmove(hit, hit + len, strlen(hit + len) + 1);
        }
    }
    return out;
}

static apr_status_t jira_kb_search(json_t **particles, tickets_call_t *call,
                                   const char *query, int limit)
{
    apr_pool_t *p = call->scratch;
    json_t *response = NULL;
    json_t *results;
    json_t *result;
    json_t *articles;
    const char *cql;
    const char *link_base;
    size_t i;
    apr_status_t rv;

    if (!json_is_true(json_object_get(call->target->options,
                                      "confluence"))) {
        return itsm_tickets_fail(call, APR_ENOTIMPL, "Knowledge base search "
                                 "is not configured for this Jira "
                                 "integration: it searches Confluence, "
                                 "which an administrator enables by setting "
                                 "config.options.confluence to true.");
    }
    cql = apr_pstrcat(p, "type = page AND text ~ ", quote_query(p, query),
                      NULL);
    rv = itsm_tickets_send(&response, call, "GET",
                           itsm_tickets_url(call, apr_psprintf(
                               p, "/wiki/rest/api/search?limit=%d&cql=%s",
                               limit, itsm_tickets_escape(p, cql))),
                           NULL, NULL);
    if (rv != APR_SUCCESS && call->http_status == 404) {
        return itsm_tickets_fail(call, APR_ENOTIMPL, "Confluence search was "
                                 "not found at %s/wiki (HTTP 404); the site "
                                 "may have no Confluence, and an "
                                 "administrator should then set "
                                 "config.options.confluence to false.",
                                 call->base_url);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    results = json_object_get(response, "results");
    if (!json_is_array(results)) {
        return itsm_tickets_unexpected(call, "no \"results\" array");
    }
    link_base = itsm_json_string(json_object_get(response, "_links"), "base");
    if (!link_base) {
        link_base = apr_pstrcat(p, call->base_url, "/wiki", NULL);
    }

    articles = itsm_tickets_array_new(call);
    json_array_foreach(results, i, result) {
        const json_t *content = json_object_get(result, "content");
        const char *title = itsm_json_string(content, "title");
        const char *path = itsm_json_string(result, "url");
        json_t *article = json_object();

        if (!path) {
            path = itsm_json_string(json_object_get(content, "_links"),
                                    "webui");
        }
        if (!title) {
            title = strip_highlights(p, itsm_json_string(result, "title"));
        }
        itsm_tickets_set(article, "id", itsm_tickets_text(p, content, "id"));
        itsm_tickets_set(article, "title", title);
        itsm_tickets_set(article, "snippet",
                         itsm_tickets_cut(p, itsm_tickets_html_text(
                             p, strip_highlights(
                                 p, itsm_json_string(result, "excerpt"))),
                             ITSM_TICKETS_SNIPPET_MAX));
        itsm_tickets_set(article, "url", path
                         ? apr_pstrcat(p, link_base, path, NULL) : NULL);
        json_array_append_new(articles, article);
    }
    *particles = articles;
    return APR_SUCCESS;
}

const tickets_adapter_t itsm_tickets_jira = {
    "jira", "Jira",
    jira_create, jira_get, jira_update, jira_list, jira_assign,
    jira_comment, jira_kb_search
};
