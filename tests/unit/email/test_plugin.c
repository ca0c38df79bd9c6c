/* test_plugin.c — the email plugin against the fake host: IMAP cycle, threading, robots,
 * bounces, batching, automatic-text limits, transcripts, crash safety. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "fakehost.h"
#include "fixtures.h"
#include "mailparse.h"
#include "xfer.h"

extern const struct gw_plugin skagerrak_plugin;

#define OURID "<5f1c2a9e0b7d4e21.8a6b3c9d1e2f4a5b@karriere.example.no>"
#define OURID2 "<77aa01bb02cc03dd.04ee05ff06aa07bb@karriere.example.no>"

static const char CONF[] =
    "email = { address = \"veiledning@karriere.example.no\"; from_name = \"Karriereveiledning\";"
    " imap_url = \"imap://127.0.0.1:14143\"; imap_tls = \"off\"; imap_user = \"svc\";"
    " imap_password = \"secret\"; smtp_url = \"smtp://127.0.0.1:2525\"; smtp_tls = \"off\";"
    " batch_window_s = 60; batch_max_s = 300; auto_window_s = 5; auto_interval_h = 12;"
    " lang = \"nb\"; poll_interval_s = 3600; };";

#define POLL_MS 3600000

static struct fakehost *start(const char *conf)
{
    struct fakehost *fh = fakehost_new();
    const config_setting_t *g = fakehost_conf(fh, conf, "email");
    assert_non_null(g);
    char err[256] = "";
    int rc = fakehost_plugin_init(fh, &skagerrak_plugin, g, err, sizeof err);
    if (rc != GW_OK)
        fail_msg("init: %s / %s", err, fh->ncfg_errors ? fh->cfg_errors[0] : "");
    assert_int_equal(fakehost_plugin_start(fh), GW_OK);
    return fh;
}

/* Index of the newest fetch not completed yet (fails when there is none). */
static size_t pending_fetch(struct fakehost *fh)
{
    for (size_t i = fh->nfetches; i > 0; i--)
        if (!fh->fetches[i - 1].done)
            return i - 1;
    fail_msg("no transfer pending");
    return 0;
}

static size_t npending(struct fakehost *fh)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->nfetches; i++)
        n += !fh->fetches[i].done;
    return n;
}

/* Answer the pending transfer with `data` (may be NULL) and curl code `code`. */
static void answer(struct fakehost *fh, const char *data, size_t len, int code)
{
    size_t i = pending_fetch(fh);
    if (data)
        assert_int_equal(mail_xfer_feed(fh->fetches[i].easy, data, len), GW_OK);
    assert_int_equal(fakehost_fetch_complete(fh, i, code), GW_OK);
}

static void answer_s(struct fakehost *fh, const char *s)
{
    answer(fh, s, s ? strlen(s) : 0, 0);
}

static char *kv(struct fakehost *fh, const char *key)
{
    return fakehost_api(fh)->kv_get(fakehost_host(fh), key);
}

/* s with every `from` replaced by `to` (takes s). */
static char *replace_all(char *s, const char *from, const char *to)
{
    struct mail_buf b = {0};
    const char *p = s;
    for (const char *hit; (hit = strstr(p, from)); p = hit + strlen(from)) {
        mail_buf_add(&b, p, (size_t)(hit - p));
        mail_buf_adds(&b, to);
    }
    mail_buf_adds(&b, p);
    free(s);
    return mail_buf_detach(&b);
}

/* A fixture with its reply token replaced by a fake-host conversation token. */
static char *fixture_tok(const char *name, const char *token)
{
    return replace_all(fixture_load(name, NULL), "k3x9q2mf7h", token);
}

static char *kv(struct fakehost *fh, const char *key);

/* Run one full IMAP poll delivering `n` raw messages as UIDs first_uid.. .  The first poll
 * (no UIDVALIDITY known yet) starts with STATUS. */
static void poll_deliver(struct fakehost *fh, unsigned validity, unsigned first_uid,
                         char **raws, size_t n)
{
    char buf[256];
    char *known = kv(fh, "imap.uidvalidity");
    if (!known) {
        snprintf(buf, sizeof buf, "* STATUS INBOX (UIDVALIDITY %u UIDNEXT %zu)\r\n",
                 validity, first_uid + n);
        answer_s(fh, buf); /* STATUS */
    }
    free(known);
    struct mail_buf s = {0};
    mail_buf_adds(&s, "* SEARCH");
    for (size_t i = 0; i < n; i++)
        mail_buf_addf(&s, " %zu", first_uid + i);
    mail_buf_adds(&s, "\r\n");
    answer_s(fh, s.s); /* SEARCH */
    mail_buf_release(&s);
    for (size_t i = 0; i < n; i++) {
        answer_s(fh, raws[i]); /* FETCH */
        answer_s(fh, NULL);    /* STORE/MOVE */
    }
}

static const struct fakehost_submit *last_submit(struct fakehost *fh)
{
    assert_true(fh->nsubmits > 0);
    return &fh->submits[fh->nsubmits - 1];
}

static void test_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "email = { smtp_url = \"smtp://127.0.0.1:25\"; smtp_tls = \"off\"; };",
        "email = { address = \"veiledning@x.no\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://mail.x.no\"; "
        "smtp_tls = \"off\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"http://x\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://x/path\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://x\"; colour = 1; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://x\"; smtp_user = \"u\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://x\"; lang = \"sv\"; };",
        "email = { address = \"veiledning@x.no\"; smtp_url = \"smtp://x\"; batch_window_s = -1; };",
        "email = { address = \"Kari <v@x.no>\"; smtp_url = \"smtp://x\"; };",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fakehost *fh = fakehost_new();
        const config_setting_t *g = fakehost_conf(fh, bad[i], "email");
        char err[256] = "";
        int rc = fakehost_plugin_init(fh, &skagerrak_plugin, g, err, sizeof err);
        if (rc == GW_OK && fh->ncfg_errors == 0)
            fail_msg("config %zu accepted", i);
        fakehost_free(&fh);
    }
    /* smtps:// may use any host; TLS policy only matters for plain URLs */
    struct fakehost *fh = start("email = { address = \"v@x.no\"; smtp_url = \"smtps://mail.x.no\"; };");
    assert_true(fakehost_log_contains(fh, "neither imap_url nor inject_token"));
    assert_int_equal(fh->nfetches, 0); /* no IMAP configured: no polling */
    fakehost_free(&fh);
    fh = fakehost_new();
    const config_setting_t *g = fakehost_conf(
        fh, "email = { address = \"v@x.no\"; smtp_url = \"smtps://x\"; inject_token = \"short\"; };",
        "email");
    char err[200] = "";
    fakehost_plugin_init(fh, &skagerrak_plugin, g, err, sizeof err);
    assert_true(fakehost_cfg_error_contains(fh, "at least 16"));
    fakehost_free(&fh);
}

static void test_new_conversation_and_threading(void **state)
{
    (void)state;
    struct fakehost *fh = start(CONF);
    assert_int_equal(npending(fh), 1); /* STATUS right away */

    /* 1. a new mail opens a conversation */
    char *raw[3];
    raw[0] = fixture_load("gmail_new_nb.eml", NULL);
    poll_deliver(fh, 7, 1, raw, 1);
    assert_int_equal(fh->nsubmits, 1);
    const struct fakehost_submit *s = last_submit(fh);
    assert_null(s->conv);
    assert_string_equal(s->address, "kari.nordmann@gmail.com");
    assert_string_equal(s->channel_msg_id, "<CAF9zq1pX7y=V4nC2bLk8Qm+R3t@mail.gmail.com>");
    assert_string_equal(s->lang, "nb");
    assert_non_null(strstr(s->body, "✉ Spørsmål om sykepleie\n\nHei!"));
    assert_non_null(strstr(s->meta_json, "\"original\""));
    assert_null(strstr(s->meta_json, "\"auto\""));
    char conv1[40];
    snprintf(conv1, sizeof conv1, "%s", s->out.conv);
    char *v = kv(fh, "imap.last_uid");
    assert_string_equal(v, "1");
    free(v);
    v = kv(fh, "imap.uidvalidity");
    assert_string_equal(v, "7");
    free(v);
    free(raw[0]);
    assert_int_equal(fakehost_timers_pending(fh), 1); /* the next poll */

    /* 2. Kari's Gmail reply carries the token in To: joins by token */
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = fixture_tok("gmail_reply_en.eml", conv1);
    /* 3. the stranger quoting Kari's token gets a conversation of her own */
    raw[1] = fixture_tok("stranger_token.eml", conv1);
    poll_deliver(fh, 7, 2, raw, 2);
    assert_int_equal(fh->nsubmits, 3);
    assert_string_equal(fh->submits[1].conv, conv1);
    assert_non_null(strstr(fh->submits[1].meta_json, "\"matched\":\"token\""));
    assert_string_equal(fh->submits[1].body, "✉ Re: Question about nursing\n\n"
                                             "Thanks, that helps a lot! Can I apply to both?\n\nKari");
    assert_null(fh->submits[2].conv);
    assert_string_not_equal(fh->submits[2].out.conv, conv1);
    assert_non_null(strstr(fh->submits[2].meta_json, "\"matched\":\"stranger\""));
    free(raw[0]);
    free(raw[1]);

    /* 4. threading by References only: Per's Outlook reply to a token we do not know */
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = strdup("From: Per Hansen <per.hansen@outlook.com>\r\nTo: veiledning@karriere."
                    "example.no\r\nSubject: Opptakskrav\r\nMessage-ID: <per-1@outlook.com>\r\n\r\n"
                    "Hei, hva er opptakskravene?\r\n");
    poll_deliver(fh, 7, 4, raw, 1);
    free(raw[0]);
    char conv2[40];
    snprintf(conv2, sizeof conv2, "%s", last_submit(fh)->out.conv);
    fakehost_ref_add(fh, OURID2, conv2);
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = fixture_tok("outlook_reply_nb.eml", "unknown");
    poll_deliver(fh, 7, 5, raw, 1);
    free(raw[0]);
    s = last_submit(fh);
    assert_string_equal(s->conv, conv2);
    assert_non_null(strstr(s->meta_json, "\"matched\":\"references\""));
    /* the subject did not change (SV: Opptakskrav): no subject line */
    assert_string_equal(s->body, "Hei igjen,\n\nJeg har sett på opptakskravene. Må jeg ha R1 for "
                                 "å komme inn på ingeniør?\n\nHilsen\nPer");
    fakehost_free(&fh);
}

static void test_robots_and_bounces(void **state)
{
    (void)state;
    struct fakehost *fh = start(CONF);
    char *raw[4];
    raw[0] = fixture_load("gmail_new_nb.eml", NULL);
    poll_deliver(fh, 7, 1, raw, 1);
    free(raw[0]);
    char conv1[40];
    snprintf(conv1, sizeof conv1, "%s", last_submit(fh)->out.conv);
    fakehost_ref_add(fh, OURID, conv1);

    /* mailing list, vacation from someone else, bounce: nothing reaches a counsellor as a
     * seeker's message; the bounce marks our mail failed */
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = fixture_load("mailing_list.eml", NULL);
    raw[1] = fixture_load("autoreply_vacation.eml", NULL); /* Emma, not Kari */
    raw[2] = fixture_load("bounce_postfix.eml", NULL);
    poll_deliver(fh, 7, 2, raw, 3);
    for (int i = 0; i < 3; i++)
        free(raw[i]);
    assert_int_equal(fh->nsubmits, 1);
    assert_int_equal(fh->ndlrs, 1);
    assert_string_equal(fh->dlrs[0].channel_ref, OURID);
    assert_int_equal(fh->dlrs[0].state, GW_DLR_FAILED);
    assert_non_null(strstr(fh->dlrs[0].reason, "5.1.1"));
    char *v = kv(fh, "bounced:kari.typo@gmial.example");
    assert_string_equal(v, "5.1.1");
    free(v);
    char *lu = kv(fh, "imap.last_uid");
    assert_string_equal(lu, "4");
    free(lu);

    /* deliver to the bounced address is refused for good */
    struct gw_msg m = {.id = 50, .kind = GW_MSG_TEXT, .conv = conv1,
                       .address = "kari.typo@gmial.example", .body = "Hei"};
    char err[200] = "";
    assert_int_equal(fakehost_plugin_deliver(fh, &m, err, sizeof err), GW_EPERM);
    assert_non_null(strstr(err, "bounced"));

    /* Kari's own vacation reply threads in, marked automatic (no automatic answer) */
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = replace_all(fixture_load("autoreply_vacation.eml", NULL), "emma.berg@icloud.com",
                         "kari.nordmann@gmail.com");
    poll_deliver(fh, 7, 5, raw, 1);
    free(raw[0]);
    assert_int_equal(fh->nsubmits, 2);
    const struct fakehost_submit *s = last_submit(fh);
    assert_string_equal(s->conv, conv1);
    assert_non_null(strstr(s->meta_json, "\"auto\":true"));
    assert_non_null(strstr(s->meta_json, "\"auto_kind\":\"autoreply\""));
    assert_true(strncmp(s->body, "[nb:email_auto_reply]\n", 22) == 0);

    /* ...and an automatic text to that conversation is not mailed (robot loop guard) */
    size_t before = fh->nfetches;
    struct gw_msg a = {.id = 51, .kind = GW_MSG_AUTO, .conv = conv1,
                       .address = "kari.nordmann@gmail.com", .body = "Du er nummer 2 i køen."};
    assert_int_equal(fakehost_plugin_deliver(fh, &a, err, sizeof err), GW_OK);
    fakehost_fire_timers(fh, 10000);
    assert_int_equal(fh->nfetches - before, 0);

    /* an Exchange "Automatisk svar" that matches nothing is dropped; a subject-only one is
     * kept as a new conversation (a person may have written it), marked automatic */
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = fixture_load("autoreply_outlook_ooo_nb.eml", NULL);
    raw[1] = strdup("From: Ola <ola@example.no>\r\nTo: veiledning@karriere.example.no\r\n"
                    "Subject: Automatic reply: hei\r\nMessage-ID: <ooo-weak@example.no>\r\n\r\n"
                    "Jeg er borte.\r\n");
    poll_deliver(fh, 7, 6, raw, 2);
    free(raw[0]);
    free(raw[1]);
    assert_int_equal(fh->nsubmits, 3);
    s = last_submit(fh);
    assert_string_equal(s->address, "ola@example.no");
    assert_non_null(strstr(s->meta_json, "\"auto\":true"));
    fakehost_free(&fh);
}

/* The mail composed for the pending SMTP transfer, parsed. */
static struct mail_parsed *pending_mail(struct fakehost *fh, char **raw_out)
{
    size_t i = pending_fetch(fh);
    struct mail_xfer *x = NULL;
    assert_int_equal(curl_easy_getinfo(fh->fetches[i].easy, CURLINFO_PRIVATE, (char **)&x), CURLE_OK);
    assert_non_null(x->up);
    struct mail_parsed *p = NULL;
    assert_int_equal(mail_parse(x->up, x->up_len, &p, NULL, 0), 0);
    if (raw_out)
        *raw_out = strndup(x->up, x->up_len);
    return p;
}

static void test_batching_and_auto_limits(void **state)
{
    (void)state;
    struct fakehost *fh = start(CONF);
    char *raw[1] = {fixture_load("gmail_new_nb.eml", NULL)};
    poll_deliver(fh, 7, 1, raw, 1);
    free(raw[0]);
    char conv1[40];
    snprintf(conv1, sizeof conv1, "%s", last_submit(fh)->out.conv);
    const char *kari = "kari.nordmann@gmail.com";
    const char *ref = "<CAF9zq1pX7y=V4nC2bLk8Qm+R3t@mail.gmail.com>";
    char err[200];

    /* welcome + position within the auto window: one automatic mail */
    struct gw_msg m = {.id = 10, .kind = GW_MSG_AUTO, .conv = conv1, .address = kari,
                       .lang = "nb", .body = "Velkommen!", .reply_ref = ref};
    assert_int_equal(fakehost_plugin_deliver(fh, &m, err, sizeof err), GW_PENDING);
    m.id = 11;
    m.body = "Du er nummer 1 i køen.";
    assert_int_equal(fakehost_plugin_deliver(fh, &m, err, sizeof err), GW_PENDING);
    size_t before = fh->nfetches;
    fakehost_fire_timers(fh, 4000);
    assert_int_equal(fh->nfetches, before);
    fakehost_fire_timers(fh, 1000);
    assert_int_equal(fh->nfetches, before + 1);
    char *rawmail;
    struct mail_parsed *p = pending_mail(fh, &rawmail);
    assert_string_equal(p->text, "Velkommen!\n\nDu er nummer 1 i køen.\n");
    assert_string_equal(mail_parsed_header(p, "Auto-Submitted"), "auto-replied");
    assert_string_equal(p->subject, "Re: Spørsmål om sykepleie");
    assert_string_equal(p->in_reply_to, ref);
    char want_rt[100];
    snprintf(want_rt, sizeof want_rt, "veiledning+%s@karriere.example.no", conv1);
    assert_string_equal(p->reply_to, want_rt);
    assert_string_equal(p->from_addr, "veiledning@karriere.example.no");
    assert_string_equal(p->from_name, "Karriereveiledning");
    char *msgid = strdup(p->message_id);
    mail_parsed_free(&p);
    free(rawmail);
    answer_s(fh, NULL); /* SMTP OK */
    assert_int_equal(fh->ndones, 2);
    assert_int_equal(fh->dones[0].msg_id, 10);
    assert_int_equal(fh->dones[1].msg_id, 11);
    assert_int_equal(fh->dones[0].status, GW_OK);
    assert_string_equal(fh->dones[0].channel_ref, msgid);
    assert_string_equal(fh->dones[1].channel_ref, msgid);
    /* SMTP's 250 is all the confirmation mail gives: reported as delivered (the receipt) */
    assert_int_equal(fh->ndlrs, 1);
    assert_string_equal(fh->dlrs[0].channel_ref, msgid);
    assert_int_equal(fh->dlrs[0].state, GW_DLR_DELIVERED);
    free(msgid);

    /* another automatic text within 12 h: not mailed */
    m.id = 12;
    m.body = "Du er nummer 1 i køen.";
    before = fh->nfetches;
    assert_int_equal(fakehost_plugin_deliver(fh, &m, err, sizeof err), GW_OK);
    fakehost_fire_timers(fh, 10000);
    assert_int_equal(npending(fh), 0);

    /* three counsellor lines, 20 s apart: one mail 60 s after the last */
    const char *lines[] = {"Hei Kari!", "Sykepleie er en bachelor på tre år.",
                           "Vernepleie også."};
    for (int i = 0; i < 3; i++) {
        struct gw_msg t = {.id = 20 + i, .kind = GW_MSG_TEXT, .conv = conv1, .address = kari,
                           .lang = "nb", .body = lines[i], .reply_ref = ref};
        assert_int_equal(fakehost_plugin_deliver(fh, &t, err, sizeof err), GW_PENDING);
        fakehost_fire_timers(fh, 20000);
    }
    assert_int_equal(npending(fh), 0);
    fakehost_fire_timers(fh, 40000);
    assert_int_equal(npending(fh), 1);
    p = pending_mail(fh, &rawmail);
    assert_string_equal(p->text, "Hei Kari!\n\nSykepleie er en bachelor på tre år.\n\n"
                                 "Vernepleie også.\n");
    assert_null(mail_parsed_header(p, "Auto-Submitted"));
    assert_int_equal(p->n_references, 1);
    assert_string_equal(p->references[0], ref);
    mail_parsed_free(&p);
    free(rawmail);
    /* a temporary SMTP failure: each line goes back to the outbox */
    answer(fh, NULL, 0, CURLE_COULDNT_CONNECT);
    assert_int_equal(fh->ndones, 5);
    for (int i = 2; i < 5; i++)
        assert_int_equal(fh->dones[i].status, GW_EAGAIN);

    /* a counsellor writing on and on: the mail leaves batch_max_s after the first line */
    for (int i = 0; i < 20; i++) {
        struct gw_msg t = {.id = 30 + i, .kind = GW_MSG_TEXT, .conv = conv1, .address = kari,
                           .body = "mer", .reply_ref = ref};
        assert_int_equal(fakehost_plugin_deliver(fh, &t, err, sizeof err), GW_PENDING);
        fakehost_fire_timers(fh, 30000);
        if (npending(fh))
            break;
    }
    assert_int_equal(npending(fh), 1);
    assert_true(fh->now_ms - 1767225600000 <= 10 * 60000 + 400000);
    answer_s(fh, NULL);

    /* typing is ignored; a transcript goes out at once to the address in meta */
    struct gw_msg ty = {.id = 60, .kind = GW_MSG_TYPING, .conv = conv1, .address = kari,
                        .body = "composing"};
    assert_int_equal(fakehost_plugin_deliver(fh, &ty, err, sizeof err), GW_OK);
    struct gw_msg tr = {.id = 61, .kind = GW_MSG_TRANSCRIPT, .conv = "c-web", .address = "web-1",
                        .lang = "en", .body = "You: hi\nCounsellor: hello\n",
                        .meta_json = "{\"to\":\"kari@example.no\"}"};
    fakehost_set_text(fh, "en", "email_transcript_subject", "Your conversation with us");
    assert_int_equal(fakehost_plugin_deliver(fh, &tr, err, sizeof err), GW_PENDING);
    p = pending_mail(fh, NULL);
    assert_string_equal(p->subject, "Your conversation with us");
    assert_string_equal(mail_parsed_header(p, "Auto-Submitted"), "auto-generated");
    assert_null(p->reply_to);
    mail_parsed_free(&p);
    answer_s(fh, NULL);
    assert_int_equal(fh->dones[fh->ndones - 1].msg_id, 61);
    tr.meta_json = "{\"to\":\"not an address\"}";
    assert_int_equal(fakehost_plugin_deliver(fh, &tr, err, sizeof err), GW_EPERM);

    /* a batch pending at stop is simply dropped: the core's outbox has it; a mail still
     * being sent ends as "try again" */
    struct gw_msg t = {.id = 70, .kind = GW_MSG_TEXT, .conv = conv1, .address = kari, .body = "x"};
    assert_int_equal(fakehost_plugin_deliver(fh, &t, err, sizeof err), GW_PENDING);
    tr.id = 71;
    tr.meta_json = NULL;
    tr.address = kari;
    assert_int_equal(fakehost_plugin_deliver(fh, &tr, err, sizeof err), GW_PENDING);
    size_t nd = fh->ndones;
    fakehost_plugin_stop(fh);
    assert_int_equal(fh->ndones, nd + 1);
    assert_int_equal(fh->dones[nd].msg_id, 71);
    assert_int_equal(fh->dones[nd].status, GW_EAGAIN);
    fakehost_free(&fh);
}

static void test_crash_between_fetch_and_mark(void **state)
{
    (void)state;
    struct fakehost *fh = start(CONF);
    char *raw = fixture_load("gmail_new_nb.eml", NULL);
    answer_s(fh, "* STATUS INBOX (UIDVALIDITY 7 UIDNEXT 2)\r\n");
    answer_s(fh, "* SEARCH\r\n"); /* first start: UNSEEN, nothing yet */
    fakehost_fire_timers(fh, POLL_MS);
    answer_s(fh, "* SEARCH 1\r\n");
    /* storage fails: UID not remembered, \Seen given back */
    fh->submit_rc = GW_EIO;
    answer_s(fh, raw);
    assert_int_equal(npending(fh), 1); /* the STORE -FLAGS */
    answer_s(fh, NULL);
    char *v = kv(fh, "imap.last_uid");
    assert_string_equal(v, "0");
    free(v);
    assert_true(fakehost_log_contains(fh, "will retry"));
    fh->submit_rc = 0;

    /* next poll (UIDVALIDITY known: straight to SEARCH): stored, then the gateway
     * "crashes" before the mark completes */
    fakehost_fire_timers(fh, POLL_MS);
    answer_s(fh, "* SEARCH 1\r\n");
    answer_s(fh, raw);
    assert_int_equal(npending(fh), 1);
    size_t stored = 0;
    for (size_t i = 0; i < fh->nsubmits; i++)
        stored += fh->submits[i].rc == GW_OK;
    assert_int_equal(stored, 1);
    /* the gateway stops before the mark completes: the host aborts the transfer (its
     * callback runs with CURLE_ABORTED_BY_CALLBACK), then stops the plugin */
    answer(fh, NULL, 0, CURLE_ABORTED_BY_CALLBACK);
    fakehost_plugin_stop(fh);

    /* restart: the UID is remembered, nothing is fetched twice */
    const config_setting_t *g = fakehost_conf(fh, CONF, "email");
    char err[200];
    assert_int_equal(fakehost_plugin_init(fh, &skagerrak_plugin, g, err, sizeof err), GW_OK);
    assert_int_equal(fakehost_plugin_start(fh), GW_OK);
    answer_s(fh, "* SEARCH 1\r\n"); /* UID 2:* answers with the last UID, 1 */
    assert_int_equal(npending(fh), 0);
    size_t n = fh->nsubmits;

    /* and if the UID was lost too (crash before kv_set), the re-read is a duplicate */
    fakehost_api(fh)->kv_set(fakehost_host(fh), "imap.last_uid", "0");
    fakehost_fire_timers(fh, POLL_MS);
    answer_s(fh, "* SEARCH 1\r\n");
    answer_s(fh, raw);
    answer_s(fh, NULL);
    assert_int_equal(fh->nsubmits, n + 1);
    assert_int_equal(last_submit(fh)->out.duplicate, 1);

    /* UIDVALIDITY changed: curl refuses the select, STATUS learns the new value, and
     * unread mail is rescanned from scratch */
    fakehost_fire_timers(fh, POLL_MS);
    answer(fh, NULL, 0, CURLE_REMOTE_FILE_NOT_FOUND);
    answer_s(fh, "* STATUS INBOX (UIDVALIDITY 8 UIDNEXT 3)\r\n");
    answer_s(fh, "* SEARCH 1 2\r\n");
    answer_s(fh, raw);
    answer_s(fh, NULL);
    answer_s(fh, "garbage without headers");
    answer_s(fh, NULL); /* flagged for a human */
    v = kv(fh, "imap.last_uid");
    assert_string_equal(v, "2");
    free(v);
    assert_true(fakehost_log_contains(fh, "UIDVALIDITY changed"));
    assert_true(fakehost_log_contains(fh, "left for a human"));

    /* a broken connection ends the poll; the next one comes as usual */
    fakehost_fire_timers(fh, POLL_MS);
    answer(fh, NULL, 0, CURLE_COULDNT_CONNECT);
    assert_true(fakehost_log_contains(fh, "IMAP poll failed"));
    char health[300];
    assert_int_equal(skagerrak_plugin.health(fakehost_plugin_self(fh), health, sizeof health), 0);
    assert_non_null(strstr(health, "\"imap\":\"error\""));
    assert_int_equal(fakehost_timers_pending(fh), 1);
    free(raw);
    fakehost_free(&fh);
}

static void test_attachments_note_and_helpers(void **state)
{
    (void)state;
    struct fakehost *fh = start(CONF);
    char *raw[1] = {fixture_load("attachments.eml", NULL)};
    poll_deliver(fh, 7, 1, raw, 1);
    free(raw[0]);
    const struct fakehost_submit *s = last_submit(fh);
    assert_non_null(strstr(s->body, "📎 Søknad og CV.pdf (application/pdf, 2.0 kB)\n"
                                    "📎 vitnemaal.jpg (image/jpeg, 1.5 kB)"));
    assert_non_null(strstr(s->meta_json, "\"attachments\":[{\"name\":\"Søknad og CV.pdf\""));
    /* the seeker is told, once, that files are not forwarded */
    assert_int_equal(npending(fh), 1);
    struct mail_parsed *p = pending_mail(fh, NULL);
    assert_string_equal(p->text, "[nb:attachment_not_accepted]\n");
    assert_string_equal(mail_parsed_header(p, "Auto-Submitted"), "auto-replied");
    assert_string_equal(p->subject, "Re: CV og vitnemål");
    mail_parsed_free(&p);
    answer_s(fh, NULL);
    fakehost_fire_timers(fh, POLL_MS);
    raw[0] = replace_all(fixture_load("attachments.eml", NULL), "<att-1@", "<att-2@");
    poll_deliver(fh, 7, 2, raw, 1);
    free(raw[0]);
    assert_int_equal(npending(fh), 0); /* not twice within auto_interval_h */
    /* stop with a transfer in flight (a test host does not abort it): freed by stop */
    fakehost_fire_timers(fh, POLL_MS);
    assert_int_equal(npending(fh), 1);
    fakehost_free(&fh);

    /* reload applies behaviour, warns about servers */
    fh = start(CONF);
    const config_setting_t *g = fakehost_conf(
        fh, "email = { address = \"veiledning@karriere.example.no\"; smtp_url = "
            "\"smtp://127.0.0.1:2626\"; smtp_tls = \"off\"; batch_window_s = 5; };",
        "email");
    char err[200] = "";
    assert_int_equal(skagerrak_plugin.reload(fakehost_plugin_self(fh), g, err, sizeof err), GW_OK);
    assert_true(fakehost_log_contains(fh, "after a restart"));
    fakehost_free(&fh);
}

static void test_inject_route(void **state)
{
    (void)state;
    struct fakehost *fh = start(
        "email = { address = \"veiledning@karriere.example.no\"; smtp_url = \"smtps://x\";"
        " inject_token = \"0123456789abcdef0123\"; };");
    assert_int_equal(fh->nfetches, 0);
    assert_true(fakehost_log_contains(fh, "only arrives through skagerrak-inject"));
    char *raw = fixture_load("gmail_new_nb.eml", NULL);
    const char *good[] = {"Authorization", "Bearer 0123456789abcdef0123", NULL};
    const char *bad[] = {"Authorization", "Bearer 0123456789abcdef0124", NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(fh, "POST", "/inject", bad, NULL, raw, NULL, &r), 401);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(fh, "POST", "/inject", good, NULL, raw, "192.0.2.1", &r), 403);
    fakehost_resp_free(&r);
    assert_int_equal(fh->nsubmits, 0);
    assert_int_equal(fakehost_http(fh, "POST", "/inject", good, NULL, raw, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(fh->nsubmits, 1);
    assert_string_equal(last_submit(fh)->address, "kari.nordmann@gmail.com");
    /* the MTA retries: a duplicate, still 200 */
    assert_int_equal(fakehost_http(fh, "POST", "/inject", good, NULL, raw, NULL, &r), 200);
    fakehost_resp_free(&r);
    assert_int_equal(last_submit(fh)->out.duplicate, 1);
    fh->submit_rc = GW_EIO;
    assert_int_equal(fakehost_http(fh, "POST", "/inject", good, NULL, raw, NULL, &r), 503);
    fakehost_resp_free(&r);
    fh->submit_rc = 0;
    assert_int_equal(fakehost_http(fh, "POST", "/inject", good, NULL, "no headers\x01", NULL, &r),
                     422);
    fakehost_resp_free(&r);
    free(raw);
    fakehost_free(&fh);
}

static int setup(void **state)
{
    (void)state;
    g_mime_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    g_mime_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_new_conversation_and_threading),
        cmocka_unit_test(test_robots_and_bounces),
        cmocka_unit_test(test_batching_and_auto_limits),
        cmocka_unit_test(test_crash_between_fetch_and_mark),
        cmocka_unit_test(test_attachments_note_and_helpers),
        cmocka_unit_test(test_inject_route),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
