/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* The MCP endpoint and its tools. */

#ifndef MOD_ITSM_MCP_H
#define MOD_ITSM_MCP_H

#include "mod_itsm_api.h"

typedef struct itsm_mcp_tool_t itsm_mcp_tool_t;

/* Runs a tool with checked arguments; returns the tool result object. */
typedef json_t *itsm_mcp_tool_fn(itsm_req_t *req,
                                 const itsm_mcp_tool_t *tool, json_t *args);

struct itsm_mcp_tool_t {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;   /* JSON text */
    const char *output_schema;  /* JSON text */
    int read_only;
    int destructive;
    int idempotent;
    int open_world;
    int needs_integration;      /* takes integration or system */
    int op;                     /* the ticket operation, for ticket tools */
    itsm_mcp_tool_fn *fn;
};

/* Every tool, ending with a NULL name. */
extern const itsm_mcp_tool_t itsm_mcp_tools[];

int itsm_mcp_handler(request_rec *r);

/* The tools/list entry of a tool. */
json_t *itsm_mcp_tool_json(apr_pool_t *p, const itsm_mcp_tool_t *tool);

/* Checks arguments, runs the tool and writes its audit row. */
json_t *itsm_mcp_call_tool(itsm_req_t *req, const itsm_mcp_tool_t *tool,
                           json_t *args);

/* Checks args against the subset of JSON Schema the tools use; returns a
 * message for the agent, or NULL when they fit. */
const char *itsm_mcp_check_arguments(apr_pool_t *p, json_t *args,
                                     json_t *schema);

/* Tool results: structured content (whose reference this takes) with the
 * same JSON as text, or an error text the agent can act on. */
json_t *itsm_mcp_tool_result(apr_pool_t *p, json_t *structured);
json_t *itsm_mcp_tool_error(const char *message);

#endif
