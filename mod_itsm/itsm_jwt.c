/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "itsm_jwt.h"
#include "itsm_json.h"
#include "itsm_util.h"

/* Length of an unpadded base64url HMAC-SHA256 signature. */
#define HS256_SIG_LEN 43

static apr_status_t jwt_cleanup(void *data)
{
    jwt_free((jwt_t *)data);
    return APR_SUCCESS;
}

apr_status_t itsm_jwt_issue(apr_pool_t *p, const itsm_jwt_config_t *cfg,
                            const itsm_jwt_claims_t *claims,
                            const char **ptoken)
{
    jwt_t *jwt = NULL;
    char *encoded;
    apr_int64_t now = itsm_now_ms() / 1000;
    int rc = 0;

    if (cfg->key_len < ITSM_JWT_MIN_KEY_LEN || jwt_new(&jwt) != 0) {
        return APR_EINVAL;
    }
    apr_pool_cleanup_register(p, jwt, jwt_cleanup, apr_pool_cleanup_null);

    rc |= jwt_set_alg(jwt, JWT_ALG_HS256, cfg->key, (int)cfg->key_len);
    rc |= jwt_add_grant(jwt, "iss", cfg->issuer);
    rc |= jwt_add_grant(jwt, "aud", cfg->audience);
    rc |= jwt_add_grant(jwt, "sub", claims->sub);
    rc |= jwt_add_grant(jwt, "role", claims->role);
    rc |= jwt_add_grant(jwt, "jti", itsm_random_hex(p, 16));
    rc |= jwt_add_grant_int(jwt, "ver", (long)claims->ver);
    rc |= jwt_add_grant_int(jwt, "iat", (long)now);
    rc |= jwt_add_grant_int(jwt, "nbf", (long)now);
    rc |= jwt_add_grant_int(jwt, "exp", (long)(now + cfg->lifetime_s));
    if (claims->key_id) {
        rc |= jwt_add_grant(jwt, "kid", claims->key_id);
    }
    if (rc != 0) {
        return APR_EGENERAL;
    }
    encoded = jwt_encode_str(jwt);
    if (!encoded) {
        return APR_EGENERAL;
    }
    *ptoken = apr_pstrdup(p, encoded);
    free(encoded);
    return APR_SUCCESS;
}

/* Accepts only header.payload.signature in the base64url alphabet, with an
 * HS256-sized signature, so that lenient decoding in libjwt 1.10 (trailing
 * characters, padding) never comes into play. */
static int token_shape_is_valid(const char *token, const char **psig)
{
    const char *c, *dot1 = NULL, *dot2 = NULL;
    apr_size_t len = 0;

    for (c = token; *c; c++, len++) {
        if (len >= ITSM_JWT_MAX_LEN) {
            return 0;
        }
        if (*c == '.') {
            if (!dot1) {
                dot1 = c;
            }
            else if (!dot2) {
                dot2 = c;
            }
            else {
                return 0;
            }
        }
        else if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
                   || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            return 0;
        }
    }
    if (!dot1 || !dot2 || dot1 == token || dot2 == dot1 + 1
        || strlen(dot2 + 1) != HS256_SIG_LEN) {
        return 0;
    }
    *psig = dot2 + 1;
    return 1;
}

static int signature_is_valid(const itsm_jwt_config_t *cfg, const char *token,
                              const char *sig)
{
    crypto_auth_hmacsha256_state state;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char expected[HS256_SIG_LEN + 2];
    int ok;

    crypto_auth_hmacsha256_init(&state, cfg->key, cfg->key_len);
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)token,
                                  (unsigned long long)(sig - 1 - token));
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_bin2base64(expected, sizeof(expected), mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ok = sodium_memcmp(expected, sig, HS256_SIG_LEN) == 0;
    sodium_memzero(mac, sizeof(mac));
    return ok;
}

/* Decodes one base64url segment of the token and parses it as a JSON
 * object, rejecting duplicate members. libjwt 1.10 keeps the last of the
 * duplicates, so its claims could differ from what another parser reads
 * in the same signed text. Returns NULL for any defect. */
static json_t *segment_to_object(apr_pool_t *p, const char *seg,
                                 apr_size_t len)
{
    unsigned char *bin = apr_palloc(p, len + 1);
    size_t bin_len = 0;
    json_t *obj;

    if (len == 0
        || sodium_base642bin(bin, len + 1, seg, len, NULL, &bin_len, NULL,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return NULL;
    }
    obj = itsm_json_bind(p, json_loadb((const char *)bin, bin_len,
                                       JSON_REJECT_DUPLICATES, NULL));
    return json_is_object(obj) ? obj : NULL;
}

static int claim_int(json_t *claims, const char *name, apr_int64_t *pvalue)
{
    json_t *v = json_object_get(claims, name);

    if (!json_is_integer(v)) {
        return 0;
    }
    *pvalue = (apr_int64_t)json_integer_value(v);
    return 1;
}

static int audience_matches(json_t *aud, const char *expected)
{
    json_t *item;
    size_t i;

    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), expected) == 0;
    }
    if (json_is_array(aud)) {
        json_array_foreach(aud, i, item) {
            if (json_is_string(item)
                && strcmp(json_string_value(item), expected) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

apr_status_t itsm_jwt_verify(apr_pool_t *p, const itsm_jwt_config_t *cfg,
                             const char *token, itsm_jwt_claims_t *claims,
                             const char **perr)
{
    jwt_t *jwt = NULL;
    json_t *header, *grants;
    const char *sig, *dot, *iss, *role, *sub, *jti, *kid;
    apr_int64_t now = itsm_now_ms() / 1000, nbf;

    *perr = "Invalid token";
    if (cfg->key_len < ITSM_JWT_MIN_KEY_LEN
        || !token_shape_is_valid(token, &sig)
        || !signature_is_valid(cfg, token, sig)) {
        return APR_EINVAL;
    }

    /* The key is always given, so libjwt refuses alg "none"; the algorithm
     * is pinned again after decoding (a valid HS256 MAC under our key with
     * another alg header would still be refused here). */
    if (jwt_decode(&jwt, token, cfg->key, (int)cfg->key_len) != 0 || !jwt) {
        return APR_EINVAL;
    }
    apr_pool_cleanup_register(p, jwt, jwt_cleanup, apr_pool_cleanup_null);
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        return APR_EINVAL;
    }

    /* libjwt 1.10 reads numbers leniently and has already merged duplicate
     * members, so the header and the claims are parsed again, strictly,
     * from the token text. */
    dot = strchr(token, '.');
    header = segment_to_object(p, token, (apr_size_t)(dot - token));
    grants = segment_to_object(p, dot + 1, (apr_size_t)(sig - 1 - dot - 1));
    if (!header || !grants
        || !itsm_json_string(header, "alg")
        || strcmp(itsm_json_string(header, "alg"), "HS256") != 0) {
        return APR_EINVAL;
    }

    if (!claim_int(grants, "exp", &claims->exp)
        || !claim_int(grants, "iat", &claims->iat)
        || !claim_int(grants, "ver", &claims->ver)) {
        return APR_EINVAL;
    }
    if (json_object_get(grants, "nbf")) {
        if (!claim_int(grants, "nbf", &nbf) || nbf > now + cfg->leeway_s) {
            *perr = "Token is not valid yet";
            return APR_EINVAL;
        }
    }
    if (claims->iat > now + cfg->leeway_s) {
        *perr = "Token is not valid yet";
        return APR_EINVAL;
    }
    if (claims->exp + cfg->leeway_s <= now) {
        *perr = "Token expired";
        return APR_TIMEUP;
    }

    iss = itsm_json_string(grants, "iss");
    sub = itsm_json_string(grants, "sub");
    role = itsm_json_string(grants, "role");
    jti = itsm_json_string(grants, "jti");
    if (!iss || strcmp(iss, cfg->issuer) != 0
        || !audience_matches(json_object_get(grants, "aud"), cfg->audience)
        || !itsm_id_is_valid(sub) || !role || !jti) {
        return APR_EINVAL;
    }
    kid = itsm_json_string(grants, "kid");
    if (json_object_get(grants, "kid") && !kid) {
        return APR_EINVAL;
    }

    claims->sub = apr_pstrdup(p, sub);
    claims->role = apr_pstrdup(p, role);
    claims->jti = apr_pstrdup(p, jti);
    claims->key_id = kid ? apr_pstrdup(p, kid) : NULL;
    *perr = NULL;
    return APR_SUCCESS;
}
