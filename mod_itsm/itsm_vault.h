/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/*
 * Encryption of integration credentials at rest, with libsodium's
 * XChaCha20-Poly1305 AEAD (crypto_aead_xchacha20poly1305_ietf).
 *
 * A vault contains one primary key, which seals and opens, and any number
 * of older keys, which only open.  To rotate keys, load the new key as
 * primary and the old one as an older key.  Then re-seal what
 * itsm_vault_needs_reseal reports, and drop the old key.
 *
 * Key file: exactly 32 raw random bytes (not hex or base64), mode 0600 or
 * 0400, for example
 *     head -c 32 /dev/urandom > credentials.key && chmod 600 credentials.key
 *
 * Sealed text: "v1.<key id>.<base64url without padding of nonce || ct>",
 * where the key id is the first 16 hex characters of the BLAKE2b hash
 * (crypto_generichash, 32-byte output) of the key.  The id identifies a key
 * without revealing it.  The associated data passed to seal and open is the
 * integration id, so a ciphertext copied to another row does not open.
 *
 * Keys live in sodium_malloc'd read-only memory and are wiped and freed
 * when the vault's pool is destroyed.  After loading, the vault is only
 * read, so seal and open may run in several threads at once.
 */

#ifndef ITSM_VAULT_H
#define ITSM_VAULT_H

#include <apr_pools.h>

#define ITSM_VAULT_KEY_BYTES   32
#define ITSM_VAULT_KEY_ID_LEN  16

typedef struct itsm_vault_t itsm_vault_t;

/* Create an empty vault in p and initialise libsodium (sodium_init, which
 * may be called any number of times). */
apr_status_t itsm_vault_create(itsm_vault_t **pvault, apr_pool_t *p);

/*
 * Load a key file into the vault, as the primary key when primary is
 * non-zero.  Returns APR_SUCCESS, or an error with *perr saying which
 * rule failed: file missing or unreadable, not a regular file, accessible
 * by group or others, not exactly 32 bytes, all zero bytes, a key already
 * loaded, or a second primary key.  Messages name the path, never the key.
 */
apr_status_t itsm_vault_load_key(itsm_vault_t *vault, const char *path,
                                 int primary, const char **perr);

/* Return the primary key id, or NULL when no primary key is loaded. */
const char *itsm_vault_primary_key_id(const itsm_vault_t *vault);

/* Return the number of keys loaded, the primary one included. */
int itsm_vault_key_count(const itsm_vault_t *vault);

/*
 * Encrypt the NUL-terminated plaintext under the primary key with aad as
 * associated data (NULL means empty) and set *pciphertext to the sealed
 * text, allocated from p.  Fails with APR_ENOENT when there is no primary
 * key.
 */
apr_status_t itsm_vault_seal(const char **pciphertext, apr_pool_t *p,
                             const itsm_vault_t *vault, const char *aad,
                             const char *plaintext, const char **perr);

/*
 * Decrypt sealed text with the key its id names and set *pplaintext to the
 * NUL-terminated plaintext.  The plaintext is allocated from p and wiped
 * when p is cleared or destroyed.  Fails with APR_EINVAL for text that is
 * not in the v1 format, APR_ENOENT when the key is not loaded, and
 * APR_EGENERAL when authentication fails (wrong aad or modified text).
 */
apr_status_t itsm_vault_open(const char **pplaintext, apr_pool_t *p,
                             const itsm_vault_t *vault, const char *aad,
                             const char *text, const char **perr);

/* Return the key id of sealed text, allocated from p, or NULL when text
 * is not in the v1 format. */
const char *itsm_vault_key_id_of(apr_pool_t *p, const char *text);

/* Return non-zero when text was sealed under a loaded key other than the
 * primary one, so that itsm_vault_reseal can move it to the primary key. */
int itsm_vault_needs_reseal(const itsm_vault_t *vault, const char *text);

/* Open text and seal its plaintext again under the primary key. */
apr_status_t itsm_vault_reseal(const char **pciphertext, apr_pool_t *p,
                               const itsm_vault_t *vault, const char *aad,
                               const char *text, const char **perr);

#endif /* ITSM_VAULT_H */
