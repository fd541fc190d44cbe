/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* jansson values tied to APR pools: every value handed out here is released
 * by a cleanup of the pool it was bound to, so error paths cannot leak it. */

#ifndef ITSM_JSON_H
#define ITSM_JSON_H

#include <apr_pools.h>
#include <jansson.h>

/* Deepest nesting of arrays and objects that a request body may have. */
#define ITSM_JSON_MAX_DEPTH 16

/* Registers json_decref(json) as a cleanup of p and returns json. */
json_t *itsm_json_bind(apr_pool_t *p, json_t *json);

/* Parses a request body. The body must be one JSON object, without
 * duplicate keys and no deeper than ITSM_JSON_MAX_DEPTH. On failure returns
 * APR_EINVAL and a message for the client, with line and column. */
apr_status_t itsm_json_parse_object(apr_pool_t *p, const char *buf,
                                    apr_size_t len, json_t **pjson,
                                    const char **perr);

/* Describes a parse error with its line and column, without the piece of
 * input jansson quotes, which may be a secret. */
const char *itsm_json_error_text(apr_pool_t *p, const json_error_t *err);

/* Serialises json compactly into memory from p. */
const char *itsm_json_dump(apr_pool_t *p, const json_t *json);

/* Returns a string member, or NULL when absent or not a string. */
const char *itsm_json_string(const json_t *obj, const char *key);

/* Returns a copy of the key's value as an integer or a string. */
const char *itsm_json_scalar_text(apr_pool_t *p, const json_t *value);

/* Name of the JSON type of v, for error messages ("string", "array"...). */
const char *itsm_json_type_name(const json_t *v);

#endif
