/* fetch.h — libcurl's multi interface on the core loop (HTTP/SMTP/IMAP transfers for plugins). */
#ifndef GW_FETCH_H
#define GW_FETCH_H

#include <curl/curl.h>

#include "host/plugin_api.h" /* gw_fetch_cb; include loop.h after this header (see http.h) */

struct gw_loop;
struct gw_fetch;

/* A curl-multi driven by loop `l` (socket and timer callbacks; no polling).  NULL on
 * failure. */
struct gw_fetch *gw_fetch_new(struct gw_loop *l);
/* Abort every transfer still running (each callback runs with CURLE_ABORTED_BY_CALLBACK),
 * then free.  NULL-safe; sets *fp = NULL. */
void gw_fetch_free(struct gw_fetch **fp);

/* Run the prepared easy handle.  The handle stays the caller's: the fetch layer only sets
 * CURLOPT_NOSIGNAL and CURLOPT_TCP_NODELAY (both 1) and never touches CURLOPT_PRIVATE.
 * `cb(arg, easy, curl_code)` runs exactly once from the loop when the transfer ends
 * (CURLE_OK or an error; HTTP status via CURLINFO_RESPONSE_CODE), by which time the handle
 * is out of the multi: the callback may curl_easy_cleanup() or re-add it.  owner: plugin
 * name (copied) for gw_fetch_cancel_owner(), or NULL.  Returns GW_OK, GW_EINVAL (NULL
 * argument, handle already running), GW_ENOMEM, GW_EIO (curl refused it; cb not called). */
int gw_fetch_add(struct gw_fetch *f, CURL *easy, gw_fetch_cb cb, void *arg, const char *owner);

/* Abort all transfers of `owner` (NULL: those added without owner).  Each callback runs,
 * synchronously, with CURLE_ABORTED_BY_CALLBACK so the plugin frees its state.  The plugin
 * host calls this before the plugin's stop(). */
void gw_fetch_cancel_owner(struct gw_fetch *f, const char *owner);

/* Number of transfers running (tests, health). */
size_t gw_fetch_count(const struct gw_fetch *f);

#endif
