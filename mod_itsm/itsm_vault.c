/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>

#include <sodium.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "itsm_vault.h"

#define FORMAT_PREFIX "v1."
#define NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define B64_VARIANT   sodium_base64_VARIANT_URLSAFE_NO_PADDING

typedef struct vault_key_t {
    unsigned char *key;             /* sodium_malloc'd, read-only */
    char id[ITSM_VAULT_KEY_ID_LEN + 1];
    const char *path;
} vault_key_t;

struct itsm_vault_t {
    apr_pool_t *pool;
    apr_array_header_t *keys;       /* vault_key_t */
    int primary;                    /* index into keys, -1 when none */
};

/* Plaintext handed to the caller, wiped by a cleanup of the caller's pool. */
typedef struct secret_t {
    char *data;
    apr_size_t len;
} secret_t;

/* ---------------------------------------------------------------------- */
/* keys                                                                    */

static apr_status_t vault_cleanup(void *data)
{
    itsm_vault_t *vault = data;
    int i;

    for (i = 0; i < vault->keys->nelts; ++i) {
        vault_key_t *entry = &APR_ARRAY_IDX(vault->keys, i, vault_key_t);

        /* sodium_free makes the page writable again and zeroes it. */
        sodium_free(entry->key);
        entry->key = NULL;
    }
    vault->keys->nelts = 0;
    vault->primary = -1;
    return APR_SUCCESS;
}

apr_status_t itsm_vault_create(itsm_vault_t **pvault, apr_pool_t *p)
{
    itsm_vault_t *vault;

    *pvault = NULL;
    if (sodium_init() < 0) {
        return APR_EGENERAL;
    }
    vault = apr_pcalloc(p, sizeof(*vault));
    vault->pool = p;
    vault->keys = apr_array_make(p, 2, sizeof(vault_key_t));
    vault->primary = -1;
    apr_pool_cleanup_register(p, vault, vault_cleanup,
                              apr_pool_cleanup_null);
    *pvault = vault;
    return APR_SUCCESS;
}

/* APR keeps permission bits in its own layout; rebuild the octal mode. */
static unsigned int unix_mode(apr_fileperms_t prot)
{
    return (unsigned int)((((prot >> 8) & 7) << 6) | (((prot >> 4) & 7) << 3)
                          | (prot & 7));
}

static void key_id_compute(char *id, const unsigned char *key)
{
    unsigned char hash[crypto_generichash_BYTES];

    crypto_generichash(hash, sizeof(hash), key, ITSM_VAULT_KEY_BYTES,
                       NULL, 0);
    sodium_bin2hex(id, ITSM_VAULT_KEY_ID_LEN + 1, hash,
                   ITSM_VAULT_KEY_ID_LEN / 2);
}

static const char *open_error(apr_pool_t *p, const char *path,
                              apr_status_t rv)
{
    char buf[120];

    if (APR_STATUS_IS_ENOENT(rv)) {
        return apr_psprintf(p, "key file %s not found", path);
    }
    if (APR_STATUS_IS_EACCES(rv)) {
        return apr_psprintf(p, "key file %s cannot be read by this user "
                            "(permission denied)", path);
    }
    return apr_psprintf(p, "cannot open key file %s: %s", path,
                        apr_strerror(rv, buf, sizeof(buf)));
}

/* Read the file into a new sodium_malloc'd key; *pkey is NULL on error. */
static apr_status_t key_read(unsigned char **pkey, apr_pool_t *p,
                             const char *path, const char **perr)
{
    apr_file_t *file = NULL;
    apr_finfo_t finfo;
    unsigned char *buf = NULL;
    apr_size_t len = 0;
    apr_fileperms_t others = APR_FPROT_GREAD | APR_FPROT_GWRITE
                             | APR_FPROT_GEXECUTE | APR_FPROT_WREAD
                             | APR_FPROT_WWRITE | APR_FPROT_WEXECUTE;
    apr_status_t rv;

    *pkey = NULL;
    rv = apr_file_open(&file, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        *perr = open_error(p, path, rv);
        goto leave;
    }

    /* Checked on the open descriptor, so the file cannot be swapped
     * between the check and the read. */
    rv = apr_file_info_get(&finfo, APR_FINFO_TYPE | APR_FINFO_PROT, file);
    if (rv != APR_SUCCESS) {
        *perr = apr_psprintf(p, "cannot stat key file %s", path);
        goto leave;
    }
    if (finfo.filetype != APR_REG) {
        *perr = apr_psprintf(p, "key file %s is not a regular file", path);
        rv = APR_EINVAL;
        goto leave;
    }
    if (finfo.protection & others) {
        *perr = apr_psprintf(p, "key file %s is accessible by group or "
                             "others (mode %03o); make it mode 0600 or "
                             "0400 with chmod 600 %s", path,
                             unix_mode(finfo.protection), path);
        rv = APR_EACCES;
        goto leave;
    }

    /* Reading one byte more than a key detects files that are too long. */
    buf = sodium_malloc(ITSM_VAULT_KEY_BYTES + 1);
    if (!buf) {
        *perr = "out of memory (sodium_malloc) while loading a key";
        rv = APR_ENOMEM;
        goto leave;
    }
    rv = apr_file_read_full(file, buf, ITSM_VAULT_KEY_BYTES + 1, &len);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
        *perr = apr_psprintf(p, "cannot read key file %s", path);
        goto leave;
    }
    if (len != ITSM_VAULT_KEY_BYTES) {
        *perr = apr_psprintf(p, "key file %s has %s%" APR_SIZE_T_FMT
                             " bytes; it must contain exactly %d raw bytes "
                             "(not hex or base64), e.g. from "
                             "head -c 32 /dev/urandom", path,
                             len > ITSM_VAULT_KEY_BYTES ? "more than " : "",
                             len > ITSM_VAULT_KEY_BYTES ? len - 1 : len,
                             ITSM_VAULT_KEY_BYTES);
        rv = APR_EINVAL;
        goto leave;
    }
    if (sodium_is_zero(buf, ITSM_VAULT_KEY_BYTES)) {
        *perr = apr_psprintf(p, "key file %s contains only zero bytes; "
                             "create it from /dev/urandom", path);
        rv = APR_EINVAL;
        goto leave;
    }
    sodium_mprotect_readonly(buf);
    *pkey = buf;
    buf = NULL;
    rv = APR_SUCCESS;

leave:
    sodium_free(buf);
    if (file) {
        apr_file_close(file);
    }
    return rv;
}

apr_status_t itsm_vault_load_key(itsm_vault_t *vault, const char *path,
                                 int primary, const char **perr)
{
    apr_pool_t *p = vault->pool;
    unsigned char *key = NULL;
    vault_key_t *entry;
    int i;
    apr_status_t rv;

    *perr = NULL;
    if (primary && vault->primary >= 0) {
        *perr = apr_psprintf(p, "cannot load %s as primary key: a primary "
                             "key is already loaded from %s", path,
                             APR_ARRAY_IDX(vault->keys, vault->primary,
                                           vault_key_t).path);
        rv = APR_EEXIST;
        goto leave;
    }
    if ((rv = key_read(&key, p, path, perr)) != APR_SUCCESS) {
        goto leave;
    }
    for (i = 0; i < vault->keys->nelts; ++i) {
        const vault_key_t *other = &APR_ARRAY_IDX(vault->keys, i,
                                                  vault_key_t);

        if (sodium_memcmp(other->key, key, ITSM_VAULT_KEY_BYTES) == 0) {
            *perr = apr_psprintf(p, "key file %s contains the same key as "
                                 "%s", path, other->path);
            rv = APR_EEXIST;
            goto leave;
        }
    }

    entry = apr_array_push(vault->keys);
    entry->key = key;
    key = NULL;
    entry->path = apr_pstrdup(p, path);
    key_id_compute(entry->id, entry->key);
    if (primary) {
        vault->primary = vault->keys->nelts - 1;
    }

leave:
    sodium_free(key);
    return rv;
}

const char *itsm_vault_primary_key_id(const itsm_vault_t *vault)
{
    if (vault->primary < 0) {
        return NULL;
    }
    return APR_ARRAY_IDX(vault->keys, vault->primary, vault_key_t).id;
}

int itsm_vault_key_count(const itsm_vault_t *vault)
{
    return vault->keys->nelts;
}

static const vault_key_t *key_find(const itsm_vault_t *vault, const char *id)
{
    int i;

    for (i = 0; i < vault->keys->nelts; ++i) {
        const vault_key_t *entry = &APR_ARRAY_IDX(vault->keys, i,
                                                  vault_key_t);

        if (strcmp(entry->id, id) == 0) {
            return entry;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* sealed text                                                             */

/* Split "v1.<id>.<data>"; id must hold ITSM_VAULT_KEY_ID_LEN + 1 bytes.
 * Returns a pointer to <data>, or NULL when the format does not match. */
static const char *parse_sealed(char *id, const char *text)
{
    const char *p;
    int i;

    if (!text || strncmp(text, FORMAT_PREFIX, strlen(FORMAT_PREFIX)) != 0) {
        return NULL;
    }
    p = text + strlen(FORMAT_PREFIX);
    for (i = 0; i < ITSM_VAULT_KEY_ID_LEN; ++i) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return NULL;
        }
        id[i] = p[i];
    }
    id[i] = '\0';
    if (p[i] != '.') {
        return NULL;
    }
    return p + i + 1;
}

const char *itsm_vault_key_id_of(apr_pool_t *p, const char *text)
{
    char id[ITSM_VAULT_KEY_ID_LEN + 1];

    return parse_sealed(id, text) ? apr_pstrdup(p, id) : NULL;
}

int itsm_vault_needs_reseal(const itsm_vault_t *vault, const char *text)
{
    char id[ITSM_VAULT_KEY_ID_LEN + 1];
    const char *primary = itsm_vault_primary_key_id(vault);

    if (!parse_sealed(id, text) || !key_find(vault, id)) {
        return 0;
    }
    return !primary || strcmp(primary, id) != 0;
}

apr_status_t itsm_vault_seal(const char **pciphertext, apr_pool_t *p,
                             const itsm_vault_t *vault, const char *aad,
                             const char *plaintext, const char **perr)
{
    const vault_key_t *entry;
    apr_size_t mlen;
    apr_size_t blen;
    apr_size_t b64len;
    unsigned char *bin;
    unsigned long long clen = 0;
    char *b64;

    *pciphertext = NULL;
    *perr = NULL;
    if (!plaintext) {
        plaintext = "";
    }
    mlen = strlen(plaintext);
    blen = NONCE_BYTES + mlen + TAG_BYTES;
    b64len = sodium_base64_ENCODED_LEN(blen, B64_VARIANT);
    if (vault->primary < 0) {
        *perr = "no primary credential key is loaded";
        return APR_ENOENT;
    }
    entry = &APR_ARRAY_IDX(vault->keys, vault->primary, vault_key_t);

    bin = apr_palloc(p, blen);
    randombytes_buf(bin, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        bin + NONCE_BYTES, &clen, (const unsigned char *)plaintext, mlen,
        (const unsigned char *)aad, aad ? strlen(aad) : 0, NULL, bin,
        entry->key);

    b64 = apr_palloc(p, b64len);
    sodium_bin2base64(b64, b64len, bin, NONCE_BYTES + (apr_size_t)clen,
                      B64_VARIANT);
    *pciphertext = apr_pstrcat(p, FORMAT_PREFIX, entry->id, ".", b64, NULL);
    return APR_SUCCESS;
}

static apr_status_t secret_cleanup(void *data)
{
    secret_t *secret = data;

    sodium_memzero(secret->data, secret->len);
    return APR_SUCCESS;
}

apr_status_t itsm_vault_open(const char **pplaintext, apr_pool_t *p,
                             const itsm_vault_t *vault, const char *aad,
                             const char *text, const char **perr)
{
    char id[ITSM_VAULT_KEY_ID_LEN + 1];
    const vault_key_t *entry;
    const char *data;
    const char *end = NULL;
    unsigned char *bin;
    size_t blen = 0;
    apr_size_t dlen;
    unsigned long long mlen = 0;
    secret_t *secret;
    apr_status_t rv = APR_EINVAL;

    *pplaintext = NULL;
    *perr = NULL;
    data = parse_sealed(id, text);
    if (!data) {
        *perr = "stored credentials are not in the v1.<key id>.<data> format";
        goto leave;
    }
    entry = key_find(vault, id);
    if (!entry) {
        *perr = apr_psprintf(p, "stored credentials were sealed with key %s, "
                             "which is not loaded", id);
        rv = APR_ENOENT;
        goto leave;
    }

    dlen = strlen(data);
    bin = apr_palloc(p, dlen + 1);
    if (sodium_base642bin(bin, dlen + 1, data, dlen, NULL, &blen, &end,
                          B64_VARIANT) != 0
        || end != data + dlen || blen < NONCE_BYTES + TAG_BYTES) {
        *perr = "stored credentials are damaged (invalid base64 data)";
        goto leave;
    }

    secret = apr_palloc(p, sizeof(*secret));
    secret->len = blen - NONCE_BYTES - TAG_BYTES + 1;
    secret->data = apr_palloc(p, secret->len);
    apr_pool_cleanup_register(p, secret, secret_cleanup,
                              apr_pool_cleanup_null);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)secret->data, &mlen, NULL, bin + NONCE_BYTES,
            blen - NONCE_BYTES, (const unsigned char *)aad,
            aad ? strlen(aad) : 0, bin, entry->key) != 0) {
        *perr = "stored credentials cannot be decrypted: they belong to "
                "another integration or were modified";
        rv = APR_EGENERAL;
        goto leave;
    }
    secret->data[mlen] = '\0';
    *pplaintext = secret->data;
    rv = APR_SUCCESS;

leave:
    return rv;
}

apr_status_t itsm_vault_reseal(const char **pciphertext, apr_pool_t *p,
                               const itsm_vault_t *vault, const char *aad,
                               const char *text, const char **perr)
{
    const char *plaintext = NULL;
    apr_status_t rv;

    *pciphertext = NULL;
    rv = itsm_vault_open(&plaintext, p, vault, aad, text, perr);
    if (rv == APR_SUCCESS) {
        rv = itsm_vault_seal(pciphertext, p, vault, aad, plaintext, perr);
    }
    return rv;
}
