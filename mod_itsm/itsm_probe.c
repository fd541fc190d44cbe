/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>
#include <stdlib.h>

#include <sodium.h>

#include <apr_base64.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_uri.h>

#include "itsm_probe.h"

#define FIELD_AUTH          "config.auth."
#define FIELD_CREDENTIALS   "config.auth.credentials."
#define FIELD_OPTIONS       "config.options."

/* Seconds before the reported expiry at which a cached token is dropped,
 * so that it does not run out between the lookup and the probe. */
#define TOKEN_MARGIN_SEC    60

#define FINGERPRINT_HEX     (2 * crypto_generichash_BYTES + 1)

/* Longest Location or Retry-After value repeated in a health message. */
#define QUOTE_MAX           200

/* ---------------------------------------------------------------------- */
/* names and defaults                                                      */

const char *itsm_health_name(itsm_health_e status)
{
    switch (status) {
    case ITSM_HEALTH_HEALTHY:   return "healthy";
    case ITSM_HEALTH_DEGRADED:  return "degraded";
    case ITSM_HEALTH_UNHEALTHY: return "unhealthy";
    case ITSM_HEALTH_INACTIVE:  return "inactive";
    case ITSM_HEALTH_UNKNOWN:   return "unknown";
    }
    return "unknown";
}

void itsm_probe_config_init(itsm_probe_config_t *conf)
{
    itsm_http_policy_init(&conf->http);
    conf->degraded_ms = ITSM_PROBE_DEFAULT_DEGRADED_MS;
    conf->max_concurrency = ITSM_PROBE_DEFAULT_CONCURRENCY;
}

/* ---------------------------------------------------------------------- */
/* secrets in pool memory                                                  */

typedef struct wipe_t {
    char *data;
    apr_size_t len;
} wipe_t;

static apr_status_t wipe_cleanup(void *data)
{
    wipe_t *wipe = data;

    sodium_memzero(wipe->data, wipe->len);
    return APR_SUCCESS;
}

/* Zero s when p is cleared or destroyed; returns s. */
static char *wiped(apr_pool_t *p, char *s)
{
    wipe_t *wipe = apr_palloc(p, sizeof(*wipe));

    wipe->data = s;
    wipe->len = strlen(s);
    apr_pool_cleanup_register(p, wipe, wipe_cleanup, apr_pool_cleanup_null);
    return s;
}

/* application/x-www-form-urlencoded, as OAuth token requests need. */
static char *form_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1);
    char *o = out;

    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;

        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else if (c == ' ') {
            *o++ = '+';
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

/* "Authorization: Basic base64(user:secret)", wiped with p. */
static const char *basic_header(apr_pool_t *p, const char *user,
                                const char *secret)
{
    char *plain = wiped(p, apr_pstrcat(p, user, ":", secret, NULL));
    int len = (int)strlen(plain);
    char *encoded = apr_palloc(p, apr_base64_encode_len(len));

    apr_base64_encode(encoded, plain, len);
    wiped(p, encoded);
    return wiped(p, apr_pstrcat(p, "Authorization: Basic ", encoded, NULL));
}

/* ---------------------------------------------------------------------- */
/* OAuth token cache                                                       */

typedef struct token_entry_t {
    char *id;                       /* malloc'd, also the hash key */
    char fingerprint[FINGERPRINT_HEX];
    char *token;                    /* malloc'd, zeroed before free */
    apr_size_t token_len;
    apr_time_t expires;
} token_entry_t;

typedef struct token_cache_t {
    apr_hash_t *entries;            /* integration id -> token_entry_t */
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
} token_cache_t;

static token_cache_t *token_cache;

static void token_entry_free(token_entry_t *entry)
{
    if (entry) {
        sodium_memzero(entry->token, entry->token_len);
        free(entry->token);
        free(entry->id);
        free(entry);
    }
}

static void cache_lock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(token_cache->mutex);
#endif
}

static void cache_unlock(void)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(token_cache->mutex);
#endif
}

/* Remove the entry of id from the table and free it.  The table keeps the
 * key pointer of the first insert, so removal comes before the free. */
static void cache_remove_locked(const char *id)
{
    token_entry_t *entry = apr_hash_get(token_cache->entries, id,
                                        APR_HASH_KEY_STRING);

    if (entry) {
        apr_hash_set(token_cache->entries, id, APR_HASH_KEY_STRING, NULL);
        token_entry_free(entry);
    }
}

static apr_status_t token_cache_cleanup(void *data)
{
    apr_hash_index_t *hi;

    (void)data;
    /* Runs before the mutex cleanup, which was registered earlier. */
    for (hi = apr_hash_first(NULL, token_cache->entries); hi;
         hi = apr_hash_next(hi)) {
        token_entry_free(apr_hash_this_val(hi));
    }
    token_cache = NULL;
    return APR_SUCCESS;
}

apr_status_t itsm_probe_init(apr_pool_t *p)
{
    token_cache_t *cache;
    apr_status_t rv = APR_SUCCESS;

    if (token_cache) {
        return APR_SUCCESS;
    }
    if (sodium_init() < 0) {
        return APR_EGENERAL;
    }
    cache = apr_pcalloc(p, sizeof(*cache));
    cache->entries = apr_hash_make(p);
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&cache->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
#endif
    token_cache = cache;
    apr_pool_cleanup_register(p, cache, token_cache_cleanup,
                              apr_pool_cleanup_null);
    return rv;
}

void itsm_probe_forget_token(const char *id)
{
    if (!token_cache || !id) {
        return;
    }
    cache_lock();
    cache_remove_locked(id);
    cache_unlock();
}

/* Copy the cached token of id into p when it matches fingerprint and has
 * not expired. */
static const char *cache_lookup(apr_pool_t *p, const char *id,
                                const char *fingerprint)
{
    token_entry_t *entry;
    const char *token = NULL;

    if (!token_cache || !id) {
        return NULL;
    }
    cache_lock();
    entry = apr_hash_get(token_cache->entries, id, APR_HASH_KEY_STRING);
    if (entry && strcmp(entry->fingerprint, fingerprint) == 0
        && entry->expires > apr_time_now()) {
        token = wiped(p, apr_pstrmemdup(p, entry->token, entry->token_len));
    }
    cache_unlock();
    return token;
}

static void cache_store(const char *id, const char *fingerprint,
                        const char *token, long expires_in)
{
    token_entry_t *entry;
    apr_hash_index_t *hi;
    apr_time_t now = apr_time_now();
    long ttl;

    if (!token_cache || !id || expires_in <= 0) {
        return;
    }
    ttl = expires_in > 2 * TOKEN_MARGIN_SEC
          ? expires_in - TOKEN_MARGIN_SEC : expires_in / 2;
    if (ttl <= 0) {
        return;
    }

    entry = calloc(1, sizeof(*entry));
    if (!entry) {
        return;
    }
    entry->id = strdup(id);
    entry->token_len = strlen(token);
    entry->token = malloc(entry->token_len + 1);
    if (!entry->id || !entry->token) {
        token_entry_free(entry);
        return;
    }
    memcpy(entry->token, token, entry->token_len + 1);
    apr_cpystrn(entry->fingerprint, fingerprint, sizeof(entry->fingerprint));
    entry->expires = now + apr_time_from_sec(ttl);

    cache_lock();
    cache_remove_locked(id);
    /* Expired entries go here, so deleted integrations do not pile up. */
    for (hi = apr_hash_first(NULL, token_cache->entries); hi;
         hi = apr_hash_next(hi)) {
        token_entry_t *old = apr_hash_this_val(hi);

        if (old->expires <= now) {
            cache_remove_locked(old->id);
        }
    }
    apr_hash_set(token_cache->entries, entry->id, APR_HASH_KEY_STRING, entry);
    cache_unlock();
}

/* ---------------------------------------------------------------------- */
/* validation                                                              */

static const char *const probe_types[] = {
    "jira", "servicenow", "zendesk", "ivanti", "cherwell", "custom", NULL
};

static int is_one_of(const char *s, const char *const *list)
{
    for (; s && *list; ++list) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

static int has_control_chars(const char *s)
{
    for (; *s; ++s) {
        if (apr_iscntrl((unsigned char)*s)) {
            return 1;
        }
    }
    return 0;
}

/* Return the non-empty string member key of obj, or NULL. */
static const char *json_str(const json_t *obj, const char *key)
{
    const char *s = obj ? json_string_value(json_object_get(obj, key))
                        : NULL;

    return (s && *s) ? s : NULL;
}

static int json_has(const json_t *obj, const char *key)
{
    json_t *value = obj ? json_object_get(obj, key) : NULL;

    return value && !json_is_null(value);
}

/* Check that member key of obj is a non-empty string without control
 * characters.  On failure set *pfield to prefix + key. */
static apr_status_t require_string(const char **pfield,
                                   const char **pproblem, apr_pool_t *p,
                                   const json_t *obj, const char *prefix,
                                   const char *key)
{
    json_t *value = obj ? json_object_get(obj, key) : NULL;

    *pproblem = NULL;
    if (!value || json_is_null(value)) {
        *pproblem = "is required";
    }
    else if (!json_is_string(value)) {
        *pproblem = "must be a string";
    }
    else if (json_string_length(value) == 0) {
        *pproblem = "is required";
    }
    else if (strlen(json_string_value(value)) != json_string_length(value)
             || has_control_chars(json_string_value(value))) {
        *pproblem = "must not contain control characters";
    }
    if (*pproblem) {
        *pfield = apr_pstrcat(p, prefix, key, NULL);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* Like require_string, for members that may be left out. */
static apr_status_t optional_string(const char **pfield,
                                    const char **pproblem, apr_pool_t *p,
                                    const json_t *obj, const char *prefix,
                                    const char *key)
{
    if (!json_has(obj, key)) {
        return APR_SUCCESS;
    }
    return require_string(pfield, pproblem, p, obj, prefix, key);
}

static int is_header_name(const char *s)
{
    for (; *s; ++s) {
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s)) {
            return 0;
        }
    }
    return 1;
}

#define CHECK(expr) \
    do { \
        if ((rv = (expr)) != APR_SUCCESS) { \
            goto leave; \
        } \
    } while (0)

static apr_status_t validate_basic(const char **pfield,
                                   const char **pproblem, apr_pool_t *p,
                                   const json_t *cred)
{
    const char *user_key = "username";
    const char *secret_key = "password";
    apr_status_t rv;

    /* email + apiToken is the Atlassian Cloud form; username + password
     * is asked for when neither form is there. */
    if (!json_has(cred, "username") && json_has(cred, "email")) {
        user_key = "email";
        secret_key = "apiToken";
    }
    CHECK(require_string(pfield, pproblem, p, cred, FIELD_CREDENTIALS,
                         user_key));
    CHECK(require_string(pfield, pproblem, p, cred, FIELD_CREDENTIALS,
                         secret_key));
    if (strchr(json_str(cred, user_key), ':')) {
        /* RFC 7617: the user-id of Basic authentication has no colon. */
        *pfield = apr_pstrcat(p, FIELD_CREDENTIALS, user_key, NULL);
        *pproblem = "must not contain ':'";
        rv = APR_EINVAL;
    }

leave:
    return rv;
}

static apr_status_t validate_oauth(const char **pfield,
                                   const char **pproblem, apr_pool_t *p,
                                   const char *type, const json_t *cred,
                                   const json_t *options)
{
    const char *err = NULL;
    const char *client_auth;
    apr_status_t rv;

    CHECK(require_string(pfield, pproblem, p, cred, FIELD_CREDENTIALS,
                         "clientId"));
    CHECK(require_string(pfield, pproblem, p, cred, FIELD_CREDENTIALS,
                         "clientSecret"));
    if (json_has(options, "tokenUrl") || strcmp(type, "servicenow") != 0) {
        CHECK(require_string(pfield, pproblem, p, options, FIELD_OPTIONS,
                             "tokenUrl"));
        if (itsm_http_validate_url(&err, p, json_str(options, "tokenUrl"))
            != APR_SUCCESS) {
            *pfield = FIELD_OPTIONS "tokenUrl";
            *pproblem = apr_pstrcat(p, "is invalid: ", err, NULL);
            rv = APR_EINVAL;
            goto leave;
        }
    }
    CHECK(optional_string(pfield, pproblem, p, options, FIELD_OPTIONS,
                          "scope"));
    CHECK(optional_string(pfield, pproblem, p, options, FIELD_OPTIONS,
                          "clientAuth"));
    client_auth = json_str(options, "clientAuth");
    if (client_auth && strcmp(client_auth, "basic") != 0
        && strcmp(client_auth, "post") != 0) {
        *pfield = FIELD_OPTIONS "clientAuth";
        *pproblem = "must be \"basic\" or \"post\"";
        rv = APR_EINVAL;
    }

leave:
    return rv;
}

apr_status_t itsm_probe_validate_auth(const char **pfield,
                                      const char **pproblem,
                                      apr_pool_t *p, const char *type,
                                      const char *auth_type,
                                      const json_t *credentials,
                                      const json_t *options)
{
    const char *header;
    apr_status_t rv = APR_SUCCESS;

    *pfield = NULL;
    *pproblem = NULL;
    if (!type) {
        type = "custom";
    }
    if (credentials && !json_is_object(credentials)) {
        *pfield = FIELD_AUTH "credentials";
        *pproblem = "must be an object";
        return APR_EINVAL;
    }
    if (options && !json_is_object(options)) {
        *pfield = "config.options";
        *pproblem = "must be an object";
        return APR_EINVAL;
    }

    if (!auth_type) {
        *pfield = FIELD_AUTH "type";
        *pproblem = "is required";
        rv = APR_EINVAL;
    }
    else if (strcmp(auth_type, "basic") == 0) {
        rv = validate_basic(pfield, pproblem, p, credentials);
    }
    else if (strcmp(auth_type, "token") == 0) {
        CHECK(require_string(pfield, pproblem, p, credentials,
                             FIELD_CREDENTIALS, "apiToken"));
        if (strcmp(type, "zendesk") == 0) {
            CHECK(require_string(pfield, pproblem, p, credentials,
                                 FIELD_CREDENTIALS, "email"));
        }
        else {
            CHECK(optional_string(pfield, pproblem, p, credentials,
                                  FIELD_CREDENTIALS, "email"));
        }
    }
    else if (strcmp(auth_type, "bearer") == 0) {
        rv = require_string(pfield, pproblem, p, credentials,
                            FIELD_CREDENTIALS, "token");
    }
    else if (strcmp(auth_type, "apikey") == 0) {
        CHECK(require_string(pfield, pproblem, p, credentials,
                             FIELD_CREDENTIALS, "apiKey"));
        CHECK(optional_string(pfield, pproblem, p, options, FIELD_OPTIONS,
                              "apiKeyHeader"));
        header = json_str(options, "apiKeyHeader");
        if (header && !is_header_name(header)) {
            *pfield = FIELD_OPTIONS "apiKeyHeader";
            *pproblem = "must be a valid HTTP header name";
            rv = APR_EINVAL;
        }
    }
    else if (strcmp(auth_type, "oauth") == 0) {
        rv = validate_oauth(pfield, pproblem, p, type, credentials, options);
    }
    else if (strcmp(auth_type, "none") != 0) {
        *pfield = FIELD_AUTH "type";
        *pproblem = "must be one of basic, token, apikey, bearer, oauth, "
                    "none";
        rv = APR_EINVAL;
    }

leave:
    return rv;
}

/* True for types whose probe path comes from options.healthPath. */
static int uses_health_path(const char *type)
{
    return strcmp(type, "jira") != 0 && strcmp(type, "servicenow") != 0
           && strcmp(type, "zendesk") != 0;
}

apr_status_t itsm_probe_validate_target(const char **pfield,
                                        const char **pproblem,
                                        apr_pool_t *p,
                                        const itsm_probe_target_t *target)
{
    const char *err = NULL;
    const char *path;
    apr_status_t rv = APR_EINVAL;

    *pfield = NULL;
    *pproblem = NULL;
    if (!target->type) {
        *pfield = "type";
        *pproblem = "is required";
        goto leave;
    }
    if (!is_one_of(target->type, probe_types)) {
        *pfield = "type";
        *pproblem = "must be one of jira, servicenow, zendesk, ivanti, "
                    "cherwell, custom";
        goto leave;
    }
    if (itsm_http_validate_url(&err, p, target->base_url) != APR_SUCCESS) {
        *pfield = "config.baseUrl";
        *pproblem = apr_pstrcat(p, "is invalid: ", err, NULL);
        goto leave;
    }
    if (strpbrk(target->base_url, "?#")) {
        *pfield = "config.baseUrl";
        *pproblem = "must not contain a query string or fragment";
        goto leave;
    }
    if (target->options && json_is_object(target->options)
        && uses_health_path(target->type)) {
        CHECK(optional_string(pfield, pproblem, p, target->options,
                              FIELD_OPTIONS, "healthPath"));
        path = json_str(target->options, "healthPath");
        if (path && (strpbrk(path, " #")
                     || strstr(apr_pstrndup(p, path, strcspn(path, "?")),
                               "://"))) {
            *pfield = FIELD_OPTIONS "healthPath";
            *pproblem = "must be a path on the base URL, such as /health, "
                        "not a full URL";
            rv = APR_EINVAL;
            goto leave;
        }
    }
    rv = itsm_probe_validate_auth(pfield, pproblem, p, target->type,
                                  target->auth_type, target->credentials,
                                  target->options);

leave:
    return rv;
}

#undef CHECK

/* ---------------------------------------------------------------------- */
/* requests                                                                */

static const char *join_url(apr_pool_t *p, const char *base,
                            const char *path)
{
    apr_size_t len = strlen(base);

    if (!path || !*path) {
        return base;
    }
    while (len > 0 && base[len - 1] == '/') {
        --len;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, base, len),
                       path[0] == '/' ? "" : "/", path, NULL);
}

static const char *probe_url(apr_pool_t *p, const itsm_probe_target_t *t)
{
    const char *path;

    if (strcmp(t->type, "jira") == 0) {
        path = "/rest/api/3/myself";
    }
    else if (strcmp(t->type, "servicenow") == 0) {
        path = "/api/now/table/sys_user?sysparm_limit=1";
    }
    else if (strcmp(t->type, "zendesk") == 0) {
        path = "/api/v2/users/me.json";
    }
    else {
        path = json_str(t->options, "healthPath");
    }
    return join_url(p, t->base_url, path);
}

static const char *token_url(apr_pool_t *p, const itsm_probe_target_t *t)
{
    const char *url = json_str(t->options, "tokenUrl");

    return url ? url : join_url(p, t->base_url, "/oauth_token.do");
}

/* ServiceNow documents client_id and client_secret as form parameters.
 * RFC 6749 section 2.3.1 requires servers to support HTTP Basic for client
 * secrets, so Basic is the default for the other types. */
static int client_auth_is_post(const itsm_probe_target_t *t)
{
    const char *method = json_str(t->options, "clientAuth");

    if (method) {
        return strcmp(method, "post") == 0;
    }
    return strcmp(t->type, "servicenow") == 0;
}

/* The header line of auth types basic and token, chosen as itsm_probe.h
 * describes.  Validation has made sure that the members used exist. */
static const char *secret_header(apr_pool_t *p, const itsm_probe_target_t *t)
{
    const json_t *cred = t->credentials;
    const char *email = json_str(cred, "email");
    const char *api_token = json_str(cred, "apiToken");
    int basic = strcmp(t->auth_type, "basic") == 0;

    if (basic && json_str(cred, "username")) {
        return basic_header(p, json_str(cred, "username"),
                            json_str(cred, "password"));
    }
    if (strcmp(t->type, "zendesk") == 0) {
        return basic_header(p, apr_pstrcat(p, email, "/token", NULL),
                            api_token);
    }
    if (email && (basic || strcmp(t->type, "jira") == 0)) {
        return basic_header(p, email, api_token);
    }
    return wiped(p, apr_pstrcat(p, "Authorization: Bearer ", api_token,
                                NULL));
}

/* The Authorization (or API key) header line for target, or NULL. */
static const char *auth_header(apr_pool_t *p, const itsm_probe_target_t *t,
                               const char *access_token)
{
    const json_t *cred = t->credentials;
    const char *auth = t->auth_type;
    const char *header;

    if (strcmp(auth, "basic") == 0 || strcmp(auth, "token") == 0) {
        return secret_header(p, t);
    }
    if (strcmp(auth, "bearer") == 0) {
        return wiped(p, apr_pstrcat(p, "Authorization: Bearer ",
                                    json_str(cred, "token"), NULL));
    }
    if (strcmp(auth, "apikey") == 0) {
        header = json_str(t->options, "apiKeyHeader");
        return wiped(p, apr_pstrcat(p, header ? header : "X-API-Key", ": ",
                                    json_str(cred, "apiKey"), NULL));
    }
    if (strcmp(auth, "oauth") == 0 && access_token) {
        return wiped(p, apr_pstrcat(p, "Authorization: Bearer ",
                                    access_token, NULL));
    }
    return NULL;
}

static apr_array_header_t *json_headers(apr_pool_t *p)
{
    apr_array_header_t *headers = apr_array_make(p, 3, sizeof(const char *));

    APR_ARRAY_PUSH(headers, const char *) = "Accept: application/json";
    return headers;
}

static void build_probe_request(itsm_http_request_t *req, apr_pool_t *p,
                                const itsm_probe_target_t *t,
                                const char *url, const char *access_token)
{
    const char *auth = auth_header(p, t, access_token);

    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->url = url;
    req->headers = json_headers(p);
    if (auth) {
        APR_ARRAY_PUSH(req->headers, const char *) = auth;
    }
    req->ca_file = t->ca_file;
    req->ca_pem = t->ca_pem;
}

/* Client credentials grant, RFC 6749 section 4.4. */
static void build_token_request(itsm_http_request_t *req, apr_pool_t *p,
                                const itsm_probe_target_t *t,
                                const char *url)
{
    const char *id = form_encode(p, json_str(t->credentials, "clientId"));
    char *secret = wiped(p, form_encode(p, json_str(t->credentials,
                                                    "clientSecret")));
    const char *scope = json_str(t->options, "scope");
    const char *body = "grant_type=client_credentials";

    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->url = url;
    req->headers = json_headers(p);
    APR_ARRAY_PUSH(req->headers, const char *) =
        "Content-Type: application/x-www-form-urlencoded";
    if (scope) {
        body = apr_pstrcat(p, body, "&scope=", form_encode(p, scope), NULL);
    }
    if (client_auth_is_post(t)) {
        body = wiped(p, apr_pstrcat(p, body, "&client_id=", id,
                                    "&client_secret=", secret, NULL));
    }
    else {
        APR_ARRAY_PUSH(req->headers, const char *) =
            basic_header(p, id, secret);
    }
    req->body = body;
    req->body_len = strlen(body);
    req->ca_file = t->ca_file;
    req->ca_pem = t->ca_pem;
}

/* Hex BLAKE2b of everything that decides which token the server issues. */
static void fingerprint_compute(char *hex, const itsm_probe_target_t *t,
                                const char *url)
{
    const char *parts[5];
    crypto_generichash_state state;
    unsigned char hash[crypto_generichash_BYTES];
    int i;

    parts[0] = url;
    parts[1] = json_str(t->credentials, "clientId");
    parts[2] = json_str(t->credentials, "clientSecret");
    parts[3] = json_str(t->options, "scope");
    parts[4] = client_auth_is_post(t) ? "post" : "basic";

    crypto_generichash_init(&state, NULL, 0, sizeof(hash));
    for (i = 0; i < 5; ++i) {
        const char *s = parts[i] ? parts[i] : "";

        /* The NUL keeps "ab" + "c" apart from "a" + "bc". */
        crypto_generichash_update(&state, (const unsigned char *)s,
                                  strlen(s) + 1);
    }
    crypto_generichash_final(&state, hash, sizeof(hash));
    sodium_memzero(&state, sizeof(state));
    sodium_bin2hex(hex, FINGERPRINT_HEX, hash, sizeof(hash));
}

/* ---------------------------------------------------------------------- */
/* classification                                                          */

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

/* Parse an object or array; the value is released with p. */
static json_t *json_parse(apr_pool_t *p, const char *buf, apr_size_t len)
{
    json_t *json = json_loadb(buf, len, 0, NULL);

    if (json) {
        apr_pool_cleanup_register(p, json, json_cleanup,
                                  apr_pool_cleanup_null);
    }
    return json;
}

/* Printable copy of a server-supplied value, cut at max characters, and
 * at the query string when cut_query is set, since queries may carry
 * session tokens. */
static const char *quote_value(apr_pool_t *p, const char *s, int cut_query)
{
    char *out = apr_pstrndup(p, s, QUOTE_MAX);
    char *c;

    if (cut_query) {
        out[strcspn(out, "?#")] = '\0';
    }
    for (c = out; *c; ++c) {
        if (!apr_isprint(*c)) {
            *c = '?';
        }
    }
    if (strlen(s) > QUOTE_MAX && !cut_query) {
        out = apr_pstrcat(p, out, "...", NULL);
    }
    return out;
}

static const char *host_port(apr_pool_t *p, const char *url)
{
    apr_uri_t uri;

    if (!url || apr_uri_parse(p, url, &uri) != APR_SUCCESS
        || !uri.hostname) {
        return "the service";
    }
    return apr_psprintf(p, "%s port %u", uri.hostname,
                        uri.port ? uri.port
                                 : apr_uri_port_of_scheme(uri.scheme));
}

static const char *transport_message(apr_pool_t *p, const char *url,
                                     const itsm_http_response_t *resp)
{
    apr_uri_t uri;

    switch (resp->error) {
    case ITSM_HTTP_ERR_DNS:
        if (url && apr_uri_parse(p, url, &uri) == APR_SUCCESS
            && uri.hostname) {
            return apr_pstrcat(p, "DNS lookup failed for ", uri.hostname,
                               NULL);
        }
        return "DNS lookup failed";
    case ITSM_HTTP_ERR_CONNECT:
        return apr_pstrcat(p, "connection to ", host_port(p, url),
                           " refused or failed", NULL);
    case ITSM_HTTP_ERR_TLS:
        return apr_pstrcat(p, "TLS handshake or certificate verification "
                           "failed: ", resp->error_text, NULL);
    case ITSM_HTTP_ERR_TIMEOUT:
        return apr_psprintf(p, "timed out after %ld ms", resp->latency_ms);
    case ITSM_HTTP_ERR_TOO_LARGE:
    case ITSM_HTTP_ERR_BLOCKED_ADDRESS:
        return resp->error_text;
    case ITSM_HTTP_ERR_BAD_REQUEST:
        return apr_pstrcat(p, "invalid request: ", resp->error_text, NULL);
    case ITSM_HTTP_ERR_ABORTED:
        return "check aborted before it finished";
    default:
        return apr_pstrcat(p, "request failed: ", resp->error_text, NULL);
    }
}

static void result_set(itsm_probe_result_t *result, itsm_health_e status,
                       const char *message)
{
    result->status = status;
    result->message = message;
}

/* Zendesk returns 200 with an anonymous user (id null) when it does not
 * accept the credentials. */
static int zendesk_anonymous(const json_t *json)
{
    json_t *id = json_object_get(json_object_get(json, "user"), "id");

    return !id || json_is_null(id);
}

static void classify_2xx(itsm_probe_result_t *result, apr_pool_t *p,
                         apr_pool_t *scratch, long degraded_ms,
                         const itsm_probe_target_t *target,
                         const itsm_http_response_t *resp)
{
    json_t *json = NULL;

    /* A 204 has no body to judge; anything else must be JSON. */
    if (!(resp->status == 204 && resp->body_len == 0)) {
        json = json_parse(scratch, resp->body, resp->body_len);
        if (!json) {
            result_set(result, ITSM_HEALTH_DEGRADED, "responded with "
                       "non-JSON content (the instance may be hibernating)");
            return;
        }
    }
    if (json && strcmp(target->type, "zendesk") == 0
        && zendesk_anonymous(json)) {
        result_set(result, ITSM_HEALTH_UNHEALTHY,
                   "authentication failed (credentials not accepted)");
        return;
    }
    if (degraded_ms > 0 && resp->latency_ms > degraded_ms) {
        result_set(result, ITSM_HEALTH_DEGRADED,
                   apr_psprintf(p, "responding slowly (%ld ms)",
                                resp->latency_ms));
        return;
    }
    result_set(result, ITSM_HEALTH_HEALTHY, ITSM_PROBE_HEALTHY_MESSAGE);
}

static void classify_response(itsm_probe_result_t *result, apr_pool_t *p,
                              apr_pool_t *scratch, long degraded_ms,
                              const itsm_probe_target_t *target,
                              const char *url,
                              const itsm_http_response_t *resp)
{
    int status = resp->status;

    result->latency_ms = resp->latency_ms;
    result->http_status = status;
    result->error = resp->error;
    result->checked_at = apr_time_now();
    result->retry_after = resp->retry_after && (status == 429 || status == 503)
                          ? apr_pstrdup(p, resp->retry_after) : NULL;

    if (resp->error != ITSM_HTTP_ERR_NONE) {
        result_set(result, resp->error == ITSM_HTTP_ERR_ABORTED
                           ? ITSM_HEALTH_UNKNOWN : ITSM_HEALTH_UNHEALTHY,
                   apr_pstrdup(p, transport_message(scratch, url, resp)));
    }
    else if (status == 401 || status == 403) {
        result_set(result, ITSM_HEALTH_UNHEALTHY,
                   apr_psprintf(p, "authentication failed (HTTP %d)",
                                status));
    }
    else if (status == 429) {
        result_set(result, ITSM_HEALTH_DEGRADED, resp->retry_after
                   ? apr_psprintf(p, "rate limited by the service "
                                  "(Retry-After: %s)",
                                  quote_value(scratch, resp->retry_after, 0))
                   : "rate limited by the service (HTTP 429)");
    }
    else if (status >= 300 && status < 400) {
        result_set(result, ITSM_HEALTH_UNHEALTHY, resp->location
                   ? apr_psprintf(p, "redirect to %s not followed (HTTP %d)",
                                  quote_value(scratch, resp->location, 1),
                                  status)
                   : apr_psprintf(p, "redirect not followed (HTTP %d)",
                                  status));
    }
    else if (status < 200 || status >= 300) {
        result_set(result, ITSM_HEALTH_UNHEALTHY,
                   apr_psprintf(p, "HTTP %d from the service", status));
    }
    else {
        classify_2xx(result, p, scratch, degraded_ms, target, resp);
    }
}

void itsm_probe_classify(itsm_probe_result_t *result, apr_pool_t *p,
                         const itsm_probe_config_t *conf,
                         const itsm_probe_target_t *target,
                         const itsm_http_response_t *resp)
{
    apr_pool_t *scratch = NULL;
    long degraded_ms = conf ? conf->degraded_ms
                            : ITSM_PROBE_DEFAULT_DEGRADED_MS;

    if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
        scratch = p;
    }
    classify_response(result, p, scratch, degraded_ms, target,
                      target->base_url, resp);
    if (scratch != p) {
        apr_pool_destroy(scratch);
    }
}

/* ---------------------------------------------------------------------- */
/* runs                                                                    */

/* Probe state of one target across the rounds of a run. */
typedef struct job_t {
    const itsm_probe_target_t *target;
    itsm_probe_result_t *result;
    const char *url;
    const char *token_url;          /* oauth only */
    char fingerprint[FINGERPRINT_HEX];
    const char *access_token;       /* oauth only, wiped with the pool */
    int token_from_cache;
    int pending;                    /* still needs its probe request */
} job_t;

typedef struct run_t {
    apr_pool_t *pool;               /* results and their messages */
    apr_pool_t *scratch;            /* requests and responses */
    const itsm_probe_config_t *conf;
    job_t *jobs;
    int njobs;
    itsm_http_abort_cb *abort_cb;
    void *abort_baton;
} run_t;

static void job_fail(job_t *job, apr_pool_t *p, itsm_health_e status,
                     const char *message)
{
    result_set(job->result, status, apr_pstrdup(p, message));
    job->result->checked_at = apr_time_now();
    job->pending = 0;
}

static void job_prepare(run_t *run, job_t *job)
{
    const itsm_probe_target_t *t = job->target;
    const char *field = NULL;
    const char *problem = NULL;

    if (itsm_probe_validate_target(&field, &problem, run->scratch, t)
        != APR_SUCCESS) {
        job->result->error = ITSM_HTTP_ERR_BAD_REQUEST;
        job_fail(job, run->pool, ITSM_HEALTH_UNHEALTHY,
                 apr_pstrcat(run->scratch, "configuration error: ", field,
                             " ", problem, NULL));
        return;
    }
    job->url = probe_url(run->scratch, t);
    if (strcmp(t->auth_type, "oauth") == 0) {
        job->token_url = token_url(run->scratch, t);
        fingerprint_compute(job->fingerprint, t, job->token_url);
    }
    job->pending = 1;
}

/*
 * Read the access token out of a token endpoint response and cache it for
 * target under fingerprint.  On failure return APR_EACCES when the endpoint
 * rejected the client (HTTP 400, 401 or 403), APR_EAGAIN when it rate
 * limited the request (HTTP 429) and APR_EGENERAL otherwise, and set *perr
 * to a message without secrets.
 */
static apr_status_t token_receive(const char **ptoken, const char **perr,
                                  apr_pool_t *p,
                                  const itsm_probe_target_t *t,
                                  const char *url, const char *fingerprint,
                                  const itsm_http_response_t *resp)
{
    json_t *json;
    json_t *expires;
    const char *token;
    const char *code;
    const char *retry;
    long expires_in = 0;
    int status = resp->status;

    *ptoken = NULL;
    *perr = NULL;
    if (resp->error != ITSM_HTTP_ERR_NONE) {
        *perr = apr_pstrcat(p, "OAuth token request failed: ",
                            transport_message(p, url, resp), NULL);
        return APR_EGENERAL;
    }
    json = json_parse(p, resp->body, resp->body_len);
    if (status < 200 || status >= 300) {
        /* RFC 6749 error codes such as invalid_client are not secret. */
        code = json_str(json, "error");
        retry = status == 429 && resp->retry_after
                ? apr_pstrcat(p, ", Retry-After: ",
                              quote_value(p, resp->retry_after, 0), NULL)
                : "";
        *perr = apr_psprintf(p, "OAuth token request %s (HTTP %d%s%s%s)",
                             status == 400 || status == 401
                             ? "rejected" : "failed", status,
                             code ? ", " : "",
                             code ? quote_value(p, code, 0) : "", retry);
        if (status == 400 || status == 401 || status == 403) {
            return APR_EACCES;
        }
        return status == 429 ? APR_EAGAIN : APR_EGENERAL;
    }
    token = json_str(json, "access_token");
    if (!token || has_control_chars(token)) {
        *perr = "OAuth token endpoint returned no usable access_token";
        return APR_EGENERAL;
    }
    expires = json_object_get(json, "expires_in");
    if (json_is_integer(expires)) {
        expires_in = (long)json_integer_value(expires);
    }
    else if (json_is_string(expires)) {
        expires_in = atol(json_string_value(expires));
    }
    *ptoken = wiped(p, apr_pstrdup(p, token));
    cache_store(t->id, fingerprint, *ptoken, expires_in);
    return APR_SUCCESS;
}

apr_status_t itsm_probe_auth_headers(apr_array_header_t **pheaders,
                                     int *pcached, const char **perr,
                                     apr_pool_t *p,
                                     const itsm_http_policy_t *policy,
                                     const itsm_probe_target_t *target)
{
    itsm_http_policy_t defaults;
    itsm_http_request_t req;
    itsm_http_response_t *resp = NULL;
    char fingerprint[FINGERPRINT_HEX];
    const char *field = NULL;
    const char *problem = NULL;
    const char *url;
    const char *token = NULL;
    const char *header;
    apr_status_t rv;

    *pheaders = apr_array_make(p, 1, sizeof(const char *));
    *perr = NULL;
    if (pcached) {
        *pcached = 0;
    }
    rv = itsm_probe_validate_target(&field, &problem, p, target);
    if (rv != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "configuration error: ", field, " ", problem,
                            NULL);
        goto leave;
    }

    if (strcmp(target->auth_type, "oauth") == 0) {
        if (!policy) {
            itsm_http_policy_init(&defaults);
            policy = &defaults;
        }
        url = token_url(p, target);
        fingerprint_compute(fingerprint, target, url);
        token = cache_lookup(p, target->id, fingerprint);
        if (token && pcached) {
            *pcached = 1;
        }
        if (!token) {
            build_token_request(&req, p, target, url);
            /* A transfer failure is in resp, which token_receive reads. */
            itsm_http_perform(&resp, p, policy, &req);
            rv = token_receive(&token, perr, p, target, url, fingerprint,
                               resp);
            if (rv != APR_SUCCESS) {
                goto leave;
            }
        }
    }
    header = auth_header(p, target, token);
    if (header) {
        APR_ARRAY_PUSH(*pheaders, const char *) = header;
    }

leave:
    return rv;
}

/* Fetch missing OAuth tokens for the pending jobs of this round. */
static apr_status_t fetch_tokens(run_t *run)
{
    itsm_http_request_t *reqs;
    itsm_http_response_t **resps;
    int *index;
    int n = 0;
    int i;
    apr_status_t rv;

    reqs = apr_pcalloc(run->scratch, run->njobs * sizeof(*reqs));
    resps = apr_pcalloc(run->scratch, run->njobs * sizeof(*resps));
    index = apr_pcalloc(run->scratch, run->njobs * sizeof(*index));
    for (i = 0; i < run->njobs; ++i) {
        job_t *job = &run->jobs[i];

        if (!job->pending || !job->token_url || job->access_token) {
            continue;
        }
        job->access_token = cache_lookup(run->scratch, job->target->id,
                                         job->fingerprint);
        if (job->access_token) {
            job->token_from_cache = 1;
            continue;
        }
        build_token_request(&reqs[n], run->scratch, job->target,
                            job->token_url);
        index[n++] = i;
    }
    if (n == 0) {
        return APR_SUCCESS;
    }

    rv = itsm_http_perform_many(resps, run->scratch, &run->conf->http, reqs,
                                n, run->conf->max_concurrency, run->abort_cb,
                                run->abort_baton);
    for (i = 0; i < n; ++i) {
        job_t *job = &run->jobs[index[i]];
        const char *err = NULL;

        job->result->http_status = resps[i]->status;
        job->result->latency_ms = resps[i]->latency_ms;
        job->result->error = resps[i]->error;
        if (resps[i]->error == ITSM_HTTP_ERR_ABORTED) {
            job_fail(job, run->pool, ITSM_HEALTH_UNKNOWN,
                     "check aborted before it finished");
            continue;
        }
        if (token_receive(&job->access_token, &err, run->scratch,
                          job->target, job->token_url, job->fingerprint,
                          resps[i]) != APR_SUCCESS) {
            job_fail(job, run->pool, ITSM_HEALTH_UNHEALTHY, err);
            continue;
        }
        job->token_from_cache = 0;
    }
    return rv;
}

/* Send the probe requests of the pending jobs.  Sets *pretry when an
 * OAuth token from the cache was rejected and the job should run again. */
static apr_status_t send_probes(run_t *run, int *pretry)
{
    itsm_http_request_t *reqs;
    itsm_http_response_t **resps;
    int *index;
    int n = 0;
    int i;
    apr_status_t rv;

    *pretry = 0;
    reqs = apr_pcalloc(run->scratch, run->njobs * sizeof(*reqs));
    resps = apr_pcalloc(run->scratch, run->njobs * sizeof(*resps));
    index = apr_pcalloc(run->scratch, run->njobs * sizeof(*index));
    for (i = 0; i < run->njobs; ++i) {
        job_t *job = &run->jobs[i];

        if (job->pending) {
            build_probe_request(&reqs[n], run->scratch, job->target,
                                job->url, job->access_token);
            index[n++] = i;
        }
    }
    if (n == 0) {
        return APR_SUCCESS;
    }

    rv = itsm_http_perform_many(resps, run->scratch, &run->conf->http, reqs,
                                n, run->conf->max_concurrency, run->abort_cb,
                                run->abort_baton);
    for (i = 0; i < n; ++i) {
        job_t *job = &run->jobs[index[i]];

        classify_response(job->result, run->pool, run->scratch,
                          run->conf->degraded_ms, job->target, job->url,
                          resps[i]);
        job->pending = 0;
        if (job->token_url && resps[i]->status == 401) {
            itsm_probe_forget_token(job->target->id);
            if (job->token_from_cache) {
                /* The cached token may have been revoked.  One retry
                 * with a fresh token separates that from bad
                 * credentials. */
                job->access_token = NULL;
                job->token_from_cache = 0;
                job->pending = 1;
                *pretry = 1;
            }
        }
    }
    return rv;
}

apr_status_t itsm_probe_run_many(itsm_probe_result_t **presults,
                                 apr_pool_t *p,
                                 const itsm_probe_config_t *conf,
                                 const itsm_probe_target_t *targets,
                                 int ntargets,
                                 itsm_http_abort_cb *abort_cb,
                                 void *abort_baton)
{
    itsm_probe_config_t defaults;
    run_t run;
    int retry = 0;
    int round;
    int i;
    apr_status_t rv;

    if (!presults || ntargets < 0 || (ntargets > 0 && !targets)) {
        return APR_EINVAL;
    }
    if (!conf) {
        itsm_probe_config_init(&defaults);
        conf = &defaults;
    }
    if (conf->max_concurrency < 1) {
        return APR_EINVAL;
    }

    memset(&run, 0, sizeof(run));
    run.pool = p;
    run.conf = conf;
    run.njobs = ntargets;
    run.abort_cb = abort_cb;
    run.abort_baton = abort_baton;
    if ((rv = apr_pool_create(&run.scratch, p)) != APR_SUCCESS) {
        return rv;
    }
    run.jobs = apr_pcalloc(run.scratch, (ntargets + 1) * sizeof(job_t));
    for (i = 0; i < ntargets; ++i) {
        presults[i] = apr_pcalloc(p, sizeof(itsm_probe_result_t));
        result_set(presults[i], ITSM_HEALTH_UNKNOWN,
                   "check aborted before it finished");
        run.jobs[i].target = &targets[i];
        run.jobs[i].result = presults[i];
        job_prepare(&run, &run.jobs[i]);
    }

    /* Round 1 retries only the jobs whose cached token was rejected.  A
     * failed transfer loop is already recorded in each result, so only an
     * abort stops the run early. */
    for (round = 0; round < 2 && (round == 0 || retry); ++round) {
        if (fetch_tokens(&run) == APR_EINCOMPLETE
            || send_probes(&run, &retry) == APR_EINCOMPLETE) {
            rv = APR_EINCOMPLETE;
            break;
        }
    }

    apr_pool_destroy(run.scratch);
    return rv;
}

apr_status_t itsm_probe_run(itsm_probe_result_t **presult, apr_pool_t *p,
                            const itsm_probe_config_t *conf,
                            const itsm_probe_target_t *target)
{
    return itsm_probe_run_many(presult, p, conf, target, 1, NULL, NULL);
}
