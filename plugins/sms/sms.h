/* sms.h — the SMS plugin's shared state (plugin.c: inbound and life cycle; send.c:
 * provider requests on the core's curl-multi and early delivery reports). */
#ifndef SMS_SMS_H
#define SMS_SMS_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "gsm7.h"
#include "plugin_api.h"
#include "provider.h"
#include "ratelimit.h"
#include "smsconf.h"

#define SMS_RESP_MAX (64 * 1024) /* provider answers we read at most */
#define SMS_STASH 64             /* delivery reports that came before their send answer */
#define SMS_STASH_TTL_MS (10 * 60 * 1000)
#define SMS_REF_MAX 160 /* "<number id>:<provider message id>" */

/* One provider request in flight on the core's curl-multi. */
struct sms_xfer {
    TAILQ_ENTRY(sms_xfer) link;
    struct sms_plugin *p;
    CURL *easy;
    struct curl_slist *hdrs;
    char *resp;
    size_t rlen;
    int64_t msg_id; /* 0: an opt-out/opt-in confirmation, not an outbox item */
    const struct sms_provider *prov;
    char numid[SMS_ID_MAX];
    char ref[64];
    char masked[48];
    char lang[4]; /* for texts the counsellor reads */
    unsigned parts;
};

/* A delivery report whose channel_ref the core did not know yet. */
struct sms_stashed {
    char ref[SMS_REF_MAX];
    enum gw_dlr state;
    char reason[160];
    int64_t at_ms;
};

struct sms_plugin {
    const struct gw_host_api *api;
    struct gw_host *h;
    struct sms_conf *conf;
    struct sms_rl *rl_in, *rl_out;
    TAILQ_HEAD(, sms_xfer) xfers;
    struct sms_stashed stash[SMS_STASH];
    unsigned stash_next;
    uint64_t seq;
};

/* Start one provider request for `text` to `to` from number n; msg_id 0 marks a text outside
 * the outbox (confirmations).  Returns GW_PENDING (api->deliver_done() follows for
 * msg_id != 0) or GW_EAGAIN/GW_EPERM with err set.  `ref` is our reference for this
 * attempt (copied). */
int sms_send_start(struct sms_plugin *p, const struct sms_number *n, const char *to,
                   const char *text, const struct sms_encinfo *enc, int64_t msg_id,
                   const char *ref, char *err, size_t errlen);

/* Send catalogue text `key` (in n's language) to `to`, outside the outbox: used for the
 * opt-out/opt-in confirmations.  Failures are logged. */
void sms_send_confirmation(struct sms_plugin *p, const struct sms_number *n, const char *to,
                           const char *key);

/* Keep a delivery report whose ref the core does not know yet (it can arrive before the
 * send answer); it is replayed when the answer names that ref, or dropped after 10 min. */
void sms_stash_put(struct sms_plugin *p, const char *ref, enum gw_dlr st, const char *why);

/* Free every request still in flight (stop()).  The handles are the plugin's. */
void sms_send_free_all(struct sms_plugin *p);

/* Number of requests in flight. */
size_t sms_send_inflight(const struct sms_plugin *p);

/* Fill "{parts}" and "{max}" of a catalogue text into out. */
void sms_fill(const char *tpl, long long parts, long long max, char *out, size_t outlen);

#endif
