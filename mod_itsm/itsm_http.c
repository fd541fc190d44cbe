/* Licensed under the Apache License, Version 2.0; see LICENSE. */

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <curl/curl.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "itsm_http.h"

/* Upper bound of one curl_multi_poll wait, so that the abort callback runs
 * often enough for a server stop to be noticed within a second. */
#define POLL_INTERVAL_MS 200

#define BLOCKED_HINT "private, loopback or link-local address " \
                     "(set ITSMAllowPrivateTargets On to allow)"

/* State of the transfer running on one easy handle. */
typedef struct transfer_t {
    const itsm_http_policy_t *policy;
    const itsm_http_request_t *req;
    itsm_http_response_t *resp;
    apr_size_t max_bytes;
    char *body;                     /* malloc'd, freed by transfer_reset */
    apr_size_t body_len;
    apr_size_t body_cap;
    int too_large;
    int out_of_memory;
    int blocked_count;              /* addresses rejected by the guard */
    int allowed_count;              /* addresses passed by the guard */
    char blocked_addr[INET6_ADDRSTRLEN];
    char errbuf[CURL_ERROR_SIZE];
} transfer_t;

/* One easy handle, reused for the requests it runs one after another. */
typedef struct slot_t {
    CURL *easy;
    struct curl_slist *headers;
    int busy;                       /* added to the multi handle */
    transfer_t xfer;
} slot_t;

typedef struct batch_t {
    CURLM *multi;
    slot_t *slots;
    int nslots;
} batch_t;

/* ---------------------------------------------------------------------- */
/* library set-up                                                          */

apr_status_t itsm_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK
           ? APR_SUCCESS : APR_EGENERAL;
}

void itsm_http_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *itsm_http_describe(apr_pool_t *p)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);

    return apr_psprintf(p, "libcurl/%s %s, thread-safe init: %s, "
                        "async DNS: %s", info->version,
                        info->ssl_version ? info->ssl_version : "no-TLS",
                        (info->features & CURL_VERSION_THREADSAFE)
                        ? "yes" : "no",
                        (info->features & CURL_VERSION_ASYNCHDNS)
                        ? "yes" : "no");
}

int itsm_http_has_async_dns(void)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);

    return (info->features & CURL_VERSION_ASYNCHDNS) != 0;
}

const char *itsm_http_error_name(itsm_http_error_e error)
{
    switch (error) {
    case ITSM_HTTP_ERR_NONE:            return "none";
    case ITSM_HTTP_ERR_DNS:             return "dns";
    case ITSM_HTTP_ERR_CONNECT:         return "connect";
    case ITSM_HTTP_ERR_TLS:             return "tls";
    case ITSM_HTTP_ERR_TIMEOUT:         return "timeout";
    case ITSM_HTTP_ERR_TOO_LARGE:       return "too_large";
    case ITSM_HTTP_ERR_BLOCKED_ADDRESS: return "blocked_address";
    case ITSM_HTTP_ERR_BAD_REQUEST:     return "bad_request";
    case ITSM_HTTP_ERR_ABORTED:         return "aborted";
    case ITSM_HTTP_ERR_OTHER:           return "other";
    }
    return "other";
}

void itsm_http_policy_init(itsm_http_policy_t *policy)
{
    memset(policy, 0, sizeof(*policy));
    policy->connect_timeout_ms = ITSM_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
    policy->timeout_ms = ITSM_HTTP_DEFAULT_TIMEOUT_MS;
    policy->max_response_bytes = ITSM_HTTP_DEFAULT_MAX_RESPONSE_BYTES;
}

/* ---------------------------------------------------------------------- */
/* address guard                                                           */

/* a is in host byte order. */
static int ipv4_is_private(apr_uint32_t a)
{
    return (a >> 24) == 0                       /* 0/8 "this network" */
           || (a >> 24) == 10                   /* 10/8 */
           || (a & 0xffc00000u) == 0x64400000u  /* 100.64/10 shared CGN */
           || (a >> 24) == 127                  /* 127/8 loopback */
           || (a & 0xffff0000u) == 0xa9fe0000u  /* 169.254/16, metadata */
           || (a & 0xfff00000u) == 0xac100000u  /* 172.16/12 */
           || (a & 0xffff0000u) == 0xc0a80000u  /* 192.168/16 */
           || a >= 0xe0000000u;                 /* multicast, reserved */
}

static apr_uint32_t ipv4_from_bytes(const unsigned char *b)
{
    return ((apr_uint32_t)b[0] << 24) | ((apr_uint32_t)b[1] << 16)
           | ((apr_uint32_t)b[2] << 8) | (apr_uint32_t)b[3];
}

static int ipv6_is_private(const unsigned char *b)
{
    static const unsigned char mapped[12] =
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const unsigned char nat64[12] =
        { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
    static const unsigned char zero[12] = { 0 };

    /* ::/96 contains :: and ::1 and the deprecated IPv4-compatible form. */
    if (memcmp(b, zero, 12) == 0) {
        return 1;
    }
    /* Both embed an IPv4 address that the connection really goes to. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        return ipv4_is_private(ipv4_from_bytes(b + 12));
    }
    return (b[0] & 0xfe) == 0xfc                    /* fc00::/7 ULA */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 */
           || b[0] == 0xff;                         /* multicast */
}

int itsm_http_is_private_address(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return ipv4_is_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        return ipv6_is_private(in6->sin6_addr.s6_addr);
    }
    return 1;
}

static void format_address(char *buf, apr_size_t len,
                           const struct sockaddr *sa)
{
    const void *addr = NULL;

    if (sa->sa_family == AF_INET) {
        addr = &((const struct sockaddr_in *)sa)->sin_addr;
    }
    else if (sa->sa_family == AF_INET6) {
        addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    }
    if (!addr || !inet_ntop(sa->sa_family, addr, buf, (socklen_t)len)) {
        apr_cpystrn(buf, "a non-IP address", len);
    }
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: runs after name resolution and before
 * connect(), once for every address that libcurl tries.  Returning
 * CURL_SOCKET_BAD makes libcurl skip the address, and the transfer ends
 * with CURLE_COULDNT_CONNECT when no address is left.
 */
static curl_socket_t open_socket(void *baton, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
    transfer_t *xfer = baton;
    int type = address->socktype;

    if (purpose != CURLSOCKTYPE_IPCXN
        || (!xfer->policy->allow_private
            && itsm_http_is_private_address(&address->addr))) {
        if (xfer->blocked_count++ == 0) {
            format_address(xfer->blocked_addr, sizeof(xfer->blocked_addr),
                           &address->addr);
        }
        return CURL_SOCKET_BAD;
    }
    xfer->allowed_count++;

#ifdef SOCK_CLOEXEC
    /* Keep the socket out of CGI and piped-log processes. */
    type |= SOCK_CLOEXEC;
#endif
    return socket(address->family, type, address->protocol);
}

/* ---------------------------------------------------------------------- */
/* request validation                                                      */

static apr_status_t curlu_cleanup(void *data)
{
    curl_url_cleanup(data);
    return APR_SUCCESS;
}

apr_status_t itsm_http_validate_url(const char **perr, apr_pool_t *p,
                                    const char *url)
{
    CURLU *parsed = NULL;
    CURLUcode uc;
    char *part = NULL;
    apr_status_t rv = APR_EINVAL;

    *perr = NULL;
    if (!url || !*url) {
        *perr = "URL is missing";
        goto leave;
    }
    parsed = curl_url();
    if (!parsed) {
        *perr = "out of memory while parsing the URL";
        rv = APR_ENOMEM;
        goto leave;
    }
    apr_pool_cleanup_register(p, parsed, curlu_cleanup,
                              apr_pool_cleanup_null);

    uc = curl_url_set(parsed, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        *perr = apr_pstrcat(p, "URL is not valid: ", curl_url_strerror(uc),
                            NULL);
        goto leave;
    }

    if (curl_url_get(parsed, CURLUPART_SCHEME, &part, 0) != CURLUE_OK
        || (strcasecmp(part, "http") != 0
            && strcasecmp(part, "https") != 0)) {
        *perr = "URL must start with http:// or https://";
        goto leave;
    }
    curl_free(part);
    part = NULL;

    if (curl_url_get(parsed, CURLUPART_USER, &part, 0) != CURLUE_NO_USER
        || curl_url_get(parsed, CURLUPART_PASSWORD, &part, 0)
           != CURLUE_NO_PASSWORD) {
        *perr = "URL must not contain a user name or password; "
                "put them in the credentials";
        goto leave;
    }

    if (curl_url_get(parsed, CURLUPART_HOST, &part, 0) != CURLUE_OK
        || !*part) {
        *perr = "URL has no host";
        goto leave;
    }
    rv = APR_SUCCESS;

leave:
    curl_free(part);
    if (parsed) {
        apr_pool_cleanup_run(p, parsed, curlu_cleanup);
    }
    return rv;
}

/* RFC 9110 token characters, used by methods and header names. */
static int is_token_char(int c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if (!is_token_char((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Messages name a bad header but never repeat its value, because the
 * value may contain credentials. */
static const char *check_request(apr_pool_t *p, const itsm_http_request_t *req)
{
    const char *err = NULL;
    const char *method = req->method;
    int i;

    if (method && (strlen(method) > 32 || !is_token(method, strlen(method)))) {
        return "HTTP method is not a valid token";
    }
    if (method && req->body
        && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
        return apr_psprintf(p, "a %s request cannot have a body", method);
    }
    if (itsm_http_validate_url(&err, p, req->url) != APR_SUCCESS) {
        return err;
    }
    for (i = 0; req->headers && i < req->headers->nelts; ++i) {
        const char *line = APR_ARRAY_IDX(req->headers, i, const char *);
        const char *colon = line ? strchr(line, ':') : NULL;

        if (!colon || !is_token(line, (apr_size_t)(colon - line))) {
            return apr_psprintf(p, "request header %d has no valid name", i);
        }
        if (strpbrk(colon, "\r\n")) {
            return apr_psprintf(p, "request header %.*s contains a line "
                                "break", (int)(colon - line), line);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* per-transfer callbacks                                                  */

/* Counts the body and aborts the transfer (CURLE_WRITE_ERROR) above the
 * cap, because CURLOPT_MAXFILESIZE only works when the size is announced. */
static size_t write_body(char *data, size_t size, size_t nmemb, void *baton)
{
    transfer_t *xfer = baton;
    apr_size_t len = size * nmemb;

    if (len > xfer->max_bytes - xfer->body_len) {
        xfer->too_large = 1;
        return 0;
    }
    if (xfer->body_len + len > xfer->body_cap) {
        apr_size_t cap = xfer->body_cap ? xfer->body_cap : 4096;
        char *grown;

        while (cap < xfer->body_len + len) {
            cap *= 2;
        }
        if (cap > xfer->max_bytes) {
            cap = xfer->max_bytes;
        }
        grown = realloc(xfer->body, cap);
        if (!grown) {
            xfer->out_of_memory = 1;
            return 0;
        }
        xfer->body = grown;
        xfer->body_cap = cap;
    }
    memcpy(xfer->body + xfer->body_len, data, len);
    xfer->body_len += len;
    return len;
}

static void transfer_reset(transfer_t *xfer)
{
    free(xfer->body);
    memset(xfer, 0, sizeof(*xfer));
}

/* ---------------------------------------------------------------------- */
/* handles                                                                 */

static apr_status_t batch_cleanup(void *data)
{
    batch_t *batch = data;
    int i;

    for (i = 0; i < batch->nslots; ++i) {
        slot_t *slot = &batch->slots[i];

        if (slot->busy) {
            curl_multi_remove_handle(batch->multi, slot->easy);
            slot->busy = 0;
        }
        if (slot->easy) {
            curl_easy_cleanup(slot->easy);
            slot->easy = NULL;
        }
        curl_slist_free_all(slot->headers);
        slot->headers = NULL;
        transfer_reset(&slot->xfer);
    }
    if (batch->multi) {
        curl_multi_cleanup(batch->multi);
        batch->multi = NULL;
    }
    return APR_SUCCESS;
}

#define SETOPT(h, opt, val) \
    do { \
        if ((cc = curl_easy_setopt((h), (opt), (val))) != CURLE_OK) { \
            goto leave; \
        } \
    } while (0)

static CURLcode set_method(CURL *h, const itsm_http_request_t *req)
{
    CURLcode cc;
    const char *method = req->method;

    if (!method) {
        method = req->body ? "POST" : "GET";
    }
    if (strcmp(method, "GET") == 0) {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    }
    else if (strcmp(method, "HEAD") == 0) {
        SETOPT(h, CURLOPT_NOBODY, 1L);
    }
    else {
        /* POSTFIELDS selects POST, and CUSTOMREQUEST replaces the method
         * name for PUT, PATCH or DELETE. */
        SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE,
               (curl_off_t)(req->body ? req->body_len : 0));
        SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(method, "POST") != 0) {
            SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    cc = CURLE_OK;

leave:
    return cc;
}

static CURLcode set_headers(slot_t *slot, const itsm_http_request_t *req)
{
    struct curl_slist *list = NULL;
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    int i;

    for (i = 0; req->headers && i < req->headers->nelts; ++i) {
        struct curl_slist *grown = curl_slist_append(
            list, APR_ARRAY_IDX(req->headers, i, const char *));

        if (!grown) {
            goto leave;
        }
        list = grown;
    }
    /* libcurl 7.88 adds "Expect: 100-continue" to large bodies (seen with
     * 1.1 MB, not with 2 KB) and then waits up to a second for a 100. */
    if (req->body) {
        struct curl_slist *grown = curl_slist_append(list, "Expect:");

        if (!grown) {
            goto leave;
        }
        list = grown;
    }
    cc = curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER, list);

leave:
    /* The slot owns the list from here on, even on failure. */
    slot->headers = list;
    return cc;
}

static CURLcode set_options(slot_t *slot, const itsm_http_policy_t *policy,
                            const itsm_http_request_t *req)
{
    CURL *h = slot->easy;
    transfer_t *xfer = &slot->xfer;
    CURLcode cc;

    SETOPT(h, CURLOPT_PRIVATE, slot);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_MAXREDIRS, 0L);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, policy->connect_timeout_ms);
    SETOPT(h, CURLOPT_TIMEOUT_MS, policy->timeout_ms);
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->ca_pem) {
        /* The integration's own CA alone decides, without the system CA
         * bundle or directory (CURLOPT_CAINFO_BLOB, libcurl 7.77+). */
        struct curl_blob blob;

        blob.data = (void *)req->ca_pem;
        blob.len = strlen(req->ca_pem);
        blob.flags = CURL_BLOB_COPY;
        SETOPT(h, CURLOPT_CAINFO_BLOB, &blob);
        SETOPT(h, CURLOPT_CAPATH, (const char *)NULL);
    }
    else if (req->ca_file) {
        /* The CA file alone decides, without the system CA directory. */
        SETOPT(h, CURLOPT_CAINFO, req->ca_file);
        SETOPT(h, CURLOPT_CAPATH, (const char *)NULL);
    }
    /* An empty proxy string overrides the *_proxy environment variables. */
    SETOPT(h, CURLOPT_PROXY, policy->proxy ? policy->proxy : "");
    SETOPT(h, CURLOPT_USERAGENT, policy->user_agent
           ? policy->user_agent : ITSM_HTTP_DEFAULT_USER_AGENT);
    SETOPT(h, CURLOPT_URL, req->url);
    SETOPT(h, CURLOPT_ERRORBUFFER, xfer->errbuf);
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)xfer->max_bytes);
    SETOPT(h, CURLOPT_WRITEFUNCTION, write_body);
    SETOPT(h, CURLOPT_WRITEDATA, xfer);
    SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(h, CURLOPT_OPENSOCKETDATA, xfer);
    if ((cc = set_method(h, req)) != CURLE_OK) {
        goto leave;
    }
    cc = set_headers(slot, req);

leave:
    return cc;
}

#undef SETOPT

/* ---------------------------------------------------------------------- */
/* results                                                                 */

static itsm_http_error_e classify(CURLcode cc, const transfer_t *xfer)
{
    switch (cc) {
    case CURLE_OK:
        return ITSM_HTTP_ERR_NONE;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return ITSM_HTTP_ERR_DNS;
    case CURLE_COULDNT_CONNECT:
        /* Blocked only when the guard rejected every address tried.  A
         * public address that refused is an ordinary connect failure. */
        return (xfer->blocked_count > 0 && xfer->allowed_count == 0)
               ? ITSM_HTTP_ERR_BLOCKED_ADDRESS : ITSM_HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return ITSM_HTTP_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return ITSM_HTTP_ERR_TLS;
    case CURLE_FILESIZE_EXCEEDED:
        return ITSM_HTTP_ERR_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        return xfer->too_large ? ITSM_HTTP_ERR_TOO_LARGE : ITSM_HTTP_ERR_OTHER;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return ITSM_HTTP_ERR_BAD_REQUEST;
    case CURLE_ABORTED_BY_CALLBACK:
        return ITSM_HTTP_ERR_ABORTED;
    default:
        return ITSM_HTTP_ERR_OTHER;
    }
}

static const char *copy_header(apr_pool_t *p, CURL *h, const char *name)
{
    struct curl_header *hdr = NULL;

    /* request -1 selects the last response, after any 1xx interim ones. */
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK) {
        return NULL;
    }
    return apr_pstrdup(p, hdr->value);
}

static const char *error_text(apr_pool_t *p, CURLcode cc,
                              const transfer_t *xfer, itsm_http_error_e error)
{
    switch (error) {
    case ITSM_HTTP_ERR_NONE:
        return NULL;
    case ITSM_HTTP_ERR_BLOCKED_ADDRESS:
        return apr_psprintf(p, "connection to %s refused: " BLOCKED_HINT,
                            xfer->blocked_addr);
    case ITSM_HTTP_ERR_TOO_LARGE:
        return apr_psprintf(p, "response larger than %" APR_SIZE_T_FMT
                            " bytes", xfer->max_bytes);
    case ITSM_HTTP_ERR_ABORTED:
        return "request aborted";
    default:
        break;
    }
    if (xfer->out_of_memory) {
        return "out of memory while reading the response";
    }
    return apr_pstrdup(p, xfer->errbuf[0] ? xfer->errbuf
                                          : curl_easy_strerror(cc));
}

static void fill_response(apr_pool_t *p, slot_t *slot, CURLcode cc)
{
    transfer_t *xfer = &slot->xfer;
    itsm_http_response_t *resp = xfer->resp;
    CURL *h = slot->easy;
    long status = 0;
    curl_off_t usec = 0;
    char *ctype = NULL;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &usec);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);

    resp->status = (int)status;
    resp->latency_ms = (long)((usec + 500) / 1000);
    resp->content_type = ctype ? apr_pstrdup(p, ctype) : NULL;
    if (status > 0) {
        resp->retry_after = copy_header(p, h, "Retry-After");
        resp->location = copy_header(p, h, "Location");
    }
    resp->body = xfer->body_len
                 ? apr_pstrmemdup(p, xfer->body, xfer->body_len) : "";
    resp->body_len = xfer->body_len;
    resp->error = classify(cc, xfer);
    resp->error_text = error_text(p, cc, xfer, resp->error);
}

/* ---------------------------------------------------------------------- */
/* the transfer loop                                                       */

static itsm_http_response_t *response_create(apr_pool_t *p)
{
    itsm_http_response_t *resp = apr_pcalloc(p, sizeof(*resp));

    resp->body = "";
    return resp;
}

static void fail_response(itsm_http_response_t *resp,
                          itsm_http_error_e error, const char *text)
{
    resp->error = error;
    resp->error_text = text;
}

/* Start req on slot.  Returns non-zero when the transfer is running,
 * otherwise zero with the failure already in resp. */
static int slot_start(batch_t *batch, slot_t *slot, apr_pool_t *p,
                      const itsm_http_policy_t *policy,
                      const itsm_http_request_t *req,
                      itsm_http_response_t *resp)
{
    transfer_t *xfer = &slot->xfer;
    const char *invalid;
    CURLcode cc;

    invalid = check_request(p, req);
    if (invalid) {
        fail_response(resp, ITSM_HTTP_ERR_BAD_REQUEST, invalid);
        return 0;
    }

    if (!slot->easy) {
        slot->easy = curl_easy_init();
        if (!slot->easy) {
            fail_response(resp, ITSM_HTTP_ERR_OTHER,
                          "could not create a libcurl handle");
            return 0;
        }
    }
    else {
        curl_easy_reset(slot->easy);
    }
    curl_slist_free_all(slot->headers);
    slot->headers = NULL;

    transfer_reset(xfer);
    xfer->policy = policy;
    xfer->req = req;
    xfer->resp = resp;
    xfer->max_bytes = policy->max_response_bytes
                      ? policy->max_response_bytes
                      : ITSM_HTTP_DEFAULT_MAX_RESPONSE_BYTES;

    cc = set_options(slot, policy, req);
    if (cc != CURLE_OK) {
        fail_response(resp, ITSM_HTTP_ERR_OTHER,
                      apr_pstrcat(p, "could not set a libcurl option: ",
                                  curl_easy_strerror(cc), NULL));
        return 0;
    }
    if (curl_multi_add_handle(batch->multi, slot->easy) != CURLM_OK) {
        fail_response(resp, ITSM_HTTP_ERR_OTHER,
                      "could not add the transfer to the multi handle");
        return 0;
    }
    slot->busy = 1;
    return 1;
}

static void slot_finish(batch_t *batch, slot_t *slot, apr_pool_t *p,
                        CURLcode cc)
{
    fill_response(p, slot, cc);
    curl_multi_remove_handle(batch->multi, slot->easy);
    slot->busy = 0;
    curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER, (void *)NULL);
    curl_slist_free_all(slot->headers);
    slot->headers = NULL;
    transfer_reset(&slot->xfer);
}

/* Ends every running transfer with the given class and text. */
static void slots_fail(batch_t *batch, itsm_http_error_e error,
                       const char *text)
{
    int i;

    for (i = 0; i < batch->nslots; ++i) {
        slot_t *slot = &batch->slots[i];

        if (slot->busy) {
            fail_response(slot->xfer.resp, error, text);
            curl_multi_remove_handle(batch->multi, slot->easy);
            slot->busy = 0;
        }
    }
}

static slot_t *slot_free(batch_t *batch)
{
    int i;

    for (i = 0; i < batch->nslots; ++i) {
        if (!batch->slots[i].busy) {
            return &batch->slots[i];
        }
    }
    return NULL;
}

/* Reads finished transfers.  Returns how many ended. */
static int collect_done(batch_t *batch, apr_pool_t *p)
{
    CURLMsg *msg;
    int msgs_left = 0;
    int done = 0;

    while ((msg = curl_multi_info_read(batch->multi, &msgs_left)) != NULL) {
        slot_t *slot = NULL;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
        slot_finish(batch, slot, p, msg->data.result);
        ++done;
    }
    return done;
}

apr_status_t itsm_http_perform_many(itsm_http_response_t **presps,
                                    apr_pool_t *p,
                                    const itsm_http_policy_t *policy,
                                    const itsm_http_request_t *reqs,
                                    int nreqs, int max_concurrency,
                                    itsm_http_abort_cb *abort_cb,
                                    void *abort_baton)
{
    itsm_http_policy_t defaults;
    apr_pool_t *scratch = NULL;
    batch_t *batch;
    int next = 0;
    int running = 0;
    int i;
    const char *unsent = "request not sent: libcurl could not be set up";
    apr_status_t rv = APR_SUCCESS;

    if (!presps || nreqs < 0 || (nreqs > 0 && !reqs) || max_concurrency < 1) {
        return APR_EINVAL;
    }
    for (i = 0; i < nreqs; ++i) {
        presps[i] = response_create(p);
    }
    if (!policy) {
        itsm_http_policy_init(&defaults);
        policy = &defaults;
    }
    if (nreqs == 0) {
        return APR_SUCCESS;
    }

    /* Handles live in a subpool, so they are freed as soon as this
     * function returns, or with the caller's pool if that goes first. */
    if ((rv = apr_pool_create(&scratch, p)) != APR_SUCCESS) {
        goto leave;
    }
    batch = apr_pcalloc(scratch, sizeof(*batch));
    batch->nslots = max_concurrency < nreqs ? max_concurrency : nreqs;
    batch->slots = apr_pcalloc(scratch, batch->nslots * sizeof(slot_t));
    apr_pool_cleanup_register(scratch, batch, batch_cleanup,
                              apr_pool_cleanup_null);
    batch->multi = curl_multi_init();
    if (!batch->multi) {
        rv = APR_ENOMEM;
        goto leave;
    }

    for (;;) {
        slot_t *slot;
        int still_running = 0;
        CURLMcode mc;

        while (next < nreqs && (slot = slot_free(batch)) != NULL) {
            if (slot_start(batch, slot, p, policy, &reqs[next],
                           presps[next])) {
                ++running;
            }
            ++next;
        }
        if (running == 0 && next >= nreqs) {
            break;
        }

        mc = curl_multi_perform(batch->multi, &still_running);
        if (mc == CURLM_OK) {
            running -= collect_done(batch, p);
        }
        if (abort_cb && abort_cb(abort_baton)) {
            slots_fail(batch, ITSM_HTTP_ERR_ABORTED, "request aborted");
            rv = APR_EINCOMPLETE;
            break;
        }
        /* Fill freed slots at once instead of waiting in poll. */
        if (mc == CURLM_OK && running > 0
            && (next >= nreqs || running == batch->nslots)) {
            mc = curl_multi_poll(batch->multi, NULL, 0, POLL_INTERVAL_MS,
                                 NULL);
        }
        if (mc != CURLM_OK) {
            unsent = apr_pstrcat(p, "libcurl multi interface failed: ",
                                 curl_multi_strerror(mc), NULL);
            slots_fail(batch, ITSM_HTTP_ERR_OTHER, unsent);
            rv = APR_EGENERAL;
            break;
        }
    }

leave:
    /* Requests that never started share the fate of the batch. */
    for (i = next; rv != APR_SUCCESS && i < nreqs; ++i) {
        if (rv == APR_EINCOMPLETE) {
            fail_response(presps[i], ITSM_HTTP_ERR_ABORTED,
                          "request aborted");
        }
        else {
            fail_response(presps[i], ITSM_HTTP_ERR_OTHER, unsent);
        }
    }
    if (scratch) {
        apr_pool_destroy(scratch);
    }
    return rv;
}

apr_status_t itsm_http_perform(itsm_http_response_t **presp, apr_pool_t *p,
                               const itsm_http_policy_t *policy,
                               const itsm_http_request_t *req)
{
    apr_status_t rv;

    rv = itsm_http_perform_many(presp, p, policy, req, 1, 1, NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    switch ((*presp)->error) {
    case ITSM_HTTP_ERR_NONE:
        return APR_SUCCESS;
    case ITSM_HTTP_ERR_BAD_REQUEST:
        return APR_EINVAL;
    case ITSM_HTTP_ERR_TIMEOUT:
        return APR_TIMEUP;
    default:
        return APR_EGENERAL;
    }
}
