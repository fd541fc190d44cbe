/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <time.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <sodium.h>

#include "itsm_util.h"

static const char hex_digits[] = "0123456789abcdef";

static void hex_encode(char *out, const unsigned char *in, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

apr_status_t itsm_random_bytes(unsigned char *buf, apr_size_t n)
{
    /* libsodium reads the kernel's getrandom(), which never blocks once the
     * pool is initialised and needs no file descriptor. */
    randombytes_buf(buf, n);
    return APR_SUCCESS;
}

const char *itsm_random_hex(apr_pool_t *p, apr_size_t n)
{
    unsigned char *raw = apr_palloc(p, n);
    char *out = apr_palloc(p, 2 * n + 1);

    itsm_random_bytes(raw, n);
    hex_encode(out, raw, n);
    return out;
}

apr_status_t itsm_id_new(apr_pool_t *p, const char **pid)
{
    unsigned char raw[12];
    char *out = apr_palloc(p, ITSM_ID_LEN + 1);
    apr_uint32_t secs = (apr_uint32_t)apr_time_sec(apr_time_now());

    raw[0] = (unsigned char)(secs >> 24);
    raw[1] = (unsigned char)(secs >> 16);
    raw[2] = (unsigned char)(secs >> 8);
    raw[3] = (unsigned char)secs;
    itsm_random_bytes(raw + 4, 8);
    hex_encode(out, raw, sizeof(raw));
    *pid = out;
    return APR_SUCCESS;
}

int itsm_id_is_valid(const char *s)
{
    int i;

    if (!s) {
        return 0;
    }
    for (i = 0; i < ITSM_ID_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[ITSM_ID_LEN] == '\0';
}

apr_int64_t itsm_now_ms(void)
{
    return (apr_int64_t)(apr_time_now() / 1000);
}

const char *itsm_time_format(apr_pool_t *p, apr_int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (ms < 0 || !gmtime_r(&secs, &tm)) {
        return "1970-01-01T00:00:00.000Z";
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

apr_status_t itsm_time_parse(const char *s, apr_int64_t *pms)
{
    int year, mon, day, hour, min, sec, millis = 0, consumed = 0;
    struct tm tm;
    const char *rest;
    time_t secs;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day,
                     &hour, &min, &sec, &consumed) != 6 || consumed != 19) {
        return APR_EINVAL;
    }
    rest = s + consumed;
    if (*rest == '.') {
        int digits = 0;

        rest++;
        while (apr_isdigit(*rest)) {
            if (digits < 3) {
                millis = millis * 10 + (*rest - '0');
            }
            digits++;
            rest++;
        }
        if (digits == 0) {
            return APR_EINVAL;
        }
        for (; digits < 3; digits++) {
            millis *= 10;
        }
    }
    if (strcmp(rest, "Z") != 0 || mon < 1 || mon > 12 || day < 1
        || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return APR_EINVAL;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    secs = timegm(&tm);
    /* timegm rolls 2030-02-31 over into March; such a date is invalid. */
    if (secs == (time_t)-1 || !gmtime_r(&secs, &tm)
        || tm.tm_mday != day || tm.tm_mon != mon - 1) {
        return APR_EINVAL;
    }
    *pms = (apr_int64_t)secs * 1000 + millis;
    return APR_SUCCESS;
}

const char *itsm_i64toa(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

apr_status_t itsm_parse_int64(const char *s, apr_int64_t *pvalue)
{
    char *end;
    apr_int64_t v;

    if (!s || !*s || apr_isspace(*s)) {
        return APR_EINVAL;
    }
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (errno || *end) {
        return APR_EINVAL;
    }
    *pvalue = v;
    return APR_SUCCESS;
}

apr_int64_t itsm_int64_or(const char *s, apr_int64_t fallback)
{
    apr_int64_t v;

    return itsm_parse_int64(s, &v) == APR_SUCCESS ? v : fallback;
}

int itsm_email_is_valid(const char *s)
{
    const char *at, *dot, *c;
    apr_size_t len;

    if (!s) {
        return 0;
    }
    len = strlen(s);
    if (len < 3 || len > 254) {
        return 0;
    }
    for (c = s; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '<' || *c == '>'
            || *c == '(' || *c == ')' || *c == ',' || *c == ';'
            || *c == '\\' || *c == '"') {
            return 0;
        }
    }
    at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@')) {
        return 0;
    }
    dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0' || at[1] == '.'
        || strstr(at + 1, "..")) {
        return 0;
    }
    return 1;
}

const char *itsm_email_key(apr_pool_t *p, const char *email)
{
    char *key = apr_pstrdup(p, email);
    char *c;

    for (c = key; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return key;
}

apr_size_t itsm_utf8_length(const char *s)
{
    apr_size_t n = 0;

    /* Every byte except a continuation byte (10xxxxxx) starts a
     * character. */
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}
