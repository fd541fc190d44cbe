/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* API keys: verification for authentication and the admin endpoints. */

#ifndef MOD_ITSM_KEYS_H
#define MOD_ITSM_KEYS_H

#include "mod_itsm_api.h"

extern const itsm_route_t itsm_key_routes[];

/* Returns 1 when a bearer credential has the form of an API key rather
 * than a JWT. */
int itsm_key_looks_like(const char *token);

/* Verifies an API key. Returns APR_EACCES for an unknown, revoked or
 * expired key or a wrong secret, in the same time for each, or a storage
 * error; on success sets the key id, its user and whether it may only
 * read. */
apr_status_t itsm_key_verify(itsm_db_t *db, const char *token,
                             const char **pkey_id, const char **puser_id,
                             int *pread_only);

/* Checks that the key a token was exchanged for is still usable and
 * belongs to user_id; APR_EACCES when it is not. */
apr_status_t itsm_key_check_id(itsm_db_t *db, const char *key_id,
                               const char *user_id, int *pread_only);

#endif
