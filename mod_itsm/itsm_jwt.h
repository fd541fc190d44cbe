/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Access tokens: HS256 JWTs issued and verified through libjwt 1.10. That
 * version checks no claims and compares signatures with strcmp, so this file
 * checks the token's shape, the signature (in constant time) and every claim
 * itself, and hands libjwt only tokens it has already authenticated. */

#ifndef ITSM_JWT_H
#define ITSM_JWT_H

#include <apr_pools.h>

/* Shortest signing secret accepted, in bytes (RFC 7518 section 3.2). */
#define ITSM_JWT_MIN_KEY_LEN 32
/* Maximum length of a token, checked before any decoding. */
#define ITSM_JWT_MAX_LEN 4096

typedef struct itsm_jwt_config_t {
    const unsigned char *key;
    apr_size_t key_len;
    const char *issuer;
    const char *audience;
    apr_int64_t lifetime_s;
    apr_int64_t leeway_s;       /* clock skew allowed on exp, nbf and iat */
} itsm_jwt_config_t;

typedef struct itsm_jwt_claims_t {
    const char *sub;            /* user id */
    const char *role;
    const char *jti;
    apr_int64_t ver;            /* the user's token version at issue time */
    apr_int64_t iat;
    apr_int64_t exp;
    const char *key_id;         /* API key id for exchanged keys, else NULL */
} itsm_jwt_claims_t;

/* Issues a token for claims->sub, role, ver and key_id; iat, nbf, exp and
 * jti are filled in here. */
apr_status_t itsm_jwt_issue(apr_pool_t *p, const itsm_jwt_config_t *cfg,
                            const itsm_jwt_claims_t *claims,
                            const char **ptoken);

/* Verifies a token and returns its claims. Returns APR_TIMEUP for an expired
 * token and APR_EINVAL for any other defect, with a short reason in *perr
 * that is safe to show to the client. */
apr_status_t itsm_jwt_verify(apr_pool_t *p, const itsm_jwt_config_t *cfg,
                             const char *token, itsm_jwt_claims_t *claims,
                             const char **perr);

#endif
