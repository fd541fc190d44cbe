/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "itsm_json.h"

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *itsm_json_bind(apr_pool_t *p, json_t *json)
{
    if (json) {
        apr_pool_cleanup_register(p, json, json_cleanup,
                                  apr_pool_cleanup_null);
    }
    return json;
}

static int json_depth(const json_t *v)
{
    int max = 0, d;
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            d = json_depth(child);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            d = json_depth(child);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    return 0;
}

apr_status_t itsm_json_parse_object(apr_pool_t *p, const char *buf,
                                    apr_size_t len, json_t **pjson,
                                    const char **perr)
{
    json_error_t err;
    json_t *json;

    /* Without JSON_DECODE_ANY, jansson accepts only an array or an object
     * at the top; the object check below rejects arrays. The parser's own
     * nesting limit (2048) stops pathological input before json_depth
     * recurses over it. */
    json = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!json) {
        *perr = apr_psprintf(p, "Invalid JSON body: %s",
                             itsm_json_error_text(p, &err));
        return APR_EINVAL;
    }
    itsm_json_bind(p, json);
    if (!json_is_object(json)) {
        *perr = "Request body must be a JSON object";
        return APR_EINVAL;
    }
    if (json_depth(json) > ITSM_JSON_MAX_DEPTH) {
        *perr = apr_psprintf(p, "Request body is nested deeper than %d levels",
                             ITSM_JSON_MAX_DEPTH);
        return APR_EINVAL;
    }
    *pjson = json;
    return APR_SUCCESS;
}

const char *itsm_json_error_text(apr_pool_t *p, const json_error_t *err)
{
    const char *near = strstr(err->text, " near ");

    /* jansson quotes the input around the error ("near 'abc'"), which may
     * be a password or a token, so only its description is kept. */
    return apr_psprintf(p, "%.*s at line %d, column %d",
                        near ? (int)(near - err->text)
                             : (int)strlen(err->text),
                        err->text, err->line, err->column);
}

const char *itsm_json_dump(apr_pool_t *p, const json_t *json)
{
    char *s = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY
                         | JSON_REAL_PRECISION(10));
    const char *copy;

    if (!s) {
        return "null";
    }
    copy = apr_pstrdup(p, s);
    free(s);
    return copy;
}

const char *itsm_json_string(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *itsm_json_scalar_text(apr_pool_t *p, const json_t *value)
{
    if (json_is_string(value)) {
        return apr_pstrdup(p, json_string_value(value));
    }
    if (json_is_integer(value)) {
        /* apr_psprintf does not know the "lld" of JSON_INTEGER_FORMAT. */
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(value));
    }
    return NULL;
}

const char *itsm_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}
