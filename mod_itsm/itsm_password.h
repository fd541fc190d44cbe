/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Password hashing with argon2id (libsodium), with a bound on how many
 * hashes one process computes at once: each one uses the configured memory
 * (19 MiB by default) for its whole run. */

#ifndef ITSM_PASSWORD_H
#define ITSM_PASSWORD_H

#include <apr_pools.h>

#define ITSM_PASSWORD_MIN_LEN 8
#define ITSM_PASSWORD_MAX_LEN 128

typedef struct itsm_pwhash_params_t {
    apr_size_t memlimit_kib;    /* argon2id m, in KiB */
    unsigned long opslimit;     /* argon2id t, the number of passes */
} itsm_pwhash_params_t;

typedef struct itsm_pwgate_t itsm_pwgate_t;

/* Creates the per-process gate that admits at most max_concurrent hashes at
 * a time; other callers wait for a free slot. */
apr_status_t itsm_pwgate_create(apr_pool_t *p, int max_concurrent,
                                itsm_pwgate_t **pgate);

/* Hashes password into a "$argon2id$..." string allocated from p. The gate
 * may be NULL (start-up, single-threaded). */
apr_status_t itsm_password_hash(apr_pool_t *p, itsm_pwgate_t *gate,
                                const itsm_pwhash_params_t *params,
                                const char *password, const char **phash);

/* Returns 1 when password matches hash. Hashes of any other scheme than
 * argon2id never match. */
int itsm_password_verify(itsm_pwgate_t *gate, const char *hash,
                         const char *password);

/* Returns 1 when hash was made with other parameters than params, so that
 * a successful login should store a new hash. */
int itsm_password_needs_rehash(const char *hash,
                               const itsm_pwhash_params_t *params);

#endif
