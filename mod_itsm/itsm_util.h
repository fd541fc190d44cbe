/* Licensed under the Apache License, Version 2.0; see LICENSE. */

/* Small helpers of the core: object ids, timestamps, e-mail addresses. */

#ifndef ITSM_UTIL_H
#define ITSM_UTIL_H

#include <apr_pools.h>
#include <apr_time.h>

#define ITSM_ID_LEN 24

/* Creates a 24-character lowercase hex id: 4 bytes of seconds since the
 * epoch followed by 8 random bytes, the form of a MongoDB ObjectId. */
apr_status_t itsm_id_new(apr_pool_t *p, const char **pid);

/* Returns 1 when s is exactly 24 lowercase hex characters. */
int itsm_id_is_valid(const char *s);

/* Current UTC time in milliseconds since the epoch. */
apr_int64_t itsm_now_ms(void);

/* Formats milliseconds since the epoch as 2023-01-01T00:00:00.000Z. */
const char *itsm_time_format(apr_pool_t *p, apr_int64_t ms);

/* Parses an RFC 3339 UTC time such as 2023-01-01T00:00:00Z or
 * 2023-01-01T00:00:00.000Z into milliseconds. Returns APR_EINVAL when the
 * text is not of that form. */
apr_status_t itsm_time_parse(const char *s, apr_int64_t *pms);

/* Formats a 64-bit integer in decimal. */
const char *itsm_i64toa(apr_pool_t *p, apr_int64_t v);

/* Parses a decimal integer that fills the whole string. */
apr_status_t itsm_parse_int64(const char *s, apr_int64_t *pvalue);

/* Returns the decimal integer in s, or fallback when s is NULL or not an
 * integer (a database value read as text). */
apr_int64_t itsm_int64_or(const char *s, apr_int64_t fallback);

/* Returns 1 when s looks like a deliverable address: one '@', a non-empty
 * local part, a domain with a dot, no spaces or control characters, at most
 * 254 bytes. */
int itsm_email_is_valid(const char *s);

/* Returns the address in ASCII lower case, the key that makes e-mail
 * uniqueness case-insensitive. */
const char *itsm_email_key(apr_pool_t *p, const char *email);

/* Returns the number of characters (code points) in the UTF-8 string s. */
apr_size_t itsm_utf8_length(const char *s);

/* Fills buf with n random bytes from the operating system's generator. */
apr_status_t itsm_random_bytes(unsigned char *buf, apr_size_t n);

/* Returns n random bytes as 2n lowercase hex characters. */
const char *itsm_random_hex(apr_pool_t *p, apr_size_t n);

#endif
