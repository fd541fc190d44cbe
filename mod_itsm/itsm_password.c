/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <sodium.h>

#include "itsm_password.h"

#define ARGON2ID_PREFIX "$argon2id$"

struct itsm_pwgate_t {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    int free_slots;
};

apr_status_t itsm_pwgate_create(apr_pool_t *p, int max_concurrent,
                                itsm_pwgate_t **pgate)
{
    itsm_pwgate_t *gate = apr_pcalloc(p, sizeof(*gate));
    apr_status_t rv;

    gate->free_slots = max_concurrent > 0 ? max_concurrent : 1;
    rv = apr_thread_mutex_create(&gate->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&gate->cond, p);
    }
    if (rv == APR_SUCCESS) {
        *pgate = gate;
    }
    return rv;
}

static void gate_enter(itsm_pwgate_t *gate)
{
    if (!gate) {
        return;
    }
    apr_thread_mutex_lock(gate->mutex);
    while (gate->free_slots == 0) {
        apr_thread_cond_wait(gate->cond, gate->mutex);
    }
    gate->free_slots--;
    apr_thread_mutex_unlock(gate->mutex);
}

static void gate_leave(itsm_pwgate_t *gate)
{
    if (!gate) {
        return;
    }
    apr_thread_mutex_lock(gate->mutex);
    gate->free_slots++;
    apr_thread_cond_signal(gate->cond);
    apr_thread_mutex_unlock(gate->mutex);
}

apr_status_t itsm_password_hash(apr_pool_t *p, itsm_pwgate_t *gate,
                                const itsm_pwhash_params_t *params,
                                const char *password, const char **phash)
{
    char out[crypto_pwhash_STRBYTES];
    int rc;

    gate_enter(gate);
    rc = crypto_pwhash_str_alg(out, password, strlen(password),
                               params->opslimit,
                               params->memlimit_kib * 1024,
                               crypto_pwhash_ALG_ARGON2ID13);
    gate_leave(gate);
    if (rc != 0) {
        return APR_ENOMEM;
    }
    *phash = apr_pstrdup(p, out);
    return APR_SUCCESS;
}

int itsm_password_verify(itsm_pwgate_t *gate, const char *hash,
                         const char *password)
{
    int rc;

    if (!hash || strncmp(hash, ARGON2ID_PREFIX, strlen(ARGON2ID_PREFIX)) != 0) {
        return 0;
    }
    gate_enter(gate);
    rc = crypto_pwhash_str_verify(hash, password, strlen(password));
    gate_leave(gate);
    return rc == 0;
}

int itsm_password_needs_rehash(const char *hash,
                               const itsm_pwhash_params_t *params)
{
    return crypto_pwhash_str_needs_rehash(hash, params->opslimit,
                                          params->memlimit_kib * 1024) != 0;
}
