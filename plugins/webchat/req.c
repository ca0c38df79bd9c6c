/* req.c — strict parsing of API request bodies: types, lengths, configured values only. */
#include "req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

static int fail(char *code, size_t codelen, const char *what, int rc)
{
    snprintf(code, codelen, "%s", what);
    return rc;
}

size_t web_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Parse an object body; jansson rejects invalid UTF-8 and (with this flag) NUL in strings. */
static json_t *load_object(const char *body, size_t len, char *code, size_t codelen)
{
    json_error_t e;
    if (!body || len == 0) {
        fail(code, codelen, "body_missing", 0);
        return NULL;
    }
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        fail(code, codelen, "json_invalid", 0);
        return NULL;
    }
    return j;
}

static int only_space(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

static int cid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WEB_CID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

int web_req_start(const struct web_conf *c, const char *body, size_t len, struct web_req_start *out,
                  char *code, size_t codelen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->lang, sizeof(out->lang), "%s", c->default_lang);
    snprintf(out->queue, sizeof(out->queue), "%s", c->queues[0]);
    out->fields = json_object();
    if (!out->fields)
        return fail(code, codelen, "nomem", GW_ENOMEM);
    if (!body || len == 0)
        goto required;
    json_t *j = load_object(body, len, code, codelen);
    if (!j) {
        web_req_start_release(out);
        return GW_EINVAL;
    }
    int rc = GW_OK;
    json_t *v;
    if ((v = json_object_get(j, "lang")) && !json_is_null(v)) {
        if (!json_is_string(v)) {
            rc = fail(code, codelen, "lang_invalid", GW_EINVAL);
            goto out;
        }
        /* an unknown language falls back to the default: a page's data-lang typo must not
         * keep a seeker out */
        if (web_conf_has_lang(c, json_string_value(v)))
            snprintf(out->lang, sizeof(out->lang), "%s", json_string_value(v));
    }
    if ((v = json_object_get(j, "queue")) && !json_is_null(v)) {
        if (!json_is_string(v) || !web_conf_has_queue(c, json_string_value(v))) {
            rc = fail(code, codelen, "queue_unknown", GW_EINVAL);
            goto out;
        }
        snprintf(out->queue, sizeof(out->queue), "%s", json_string_value(v));
    }
    if ((v = json_object_get(j, "fields")) && !json_is_null(v)) {
        if (!json_is_object(v)) {
            rc = fail(code, codelen, "fields_invalid", GW_EINVAL);
            goto out;
        }
        const char *k;
        json_t *fv;
        json_object_foreach(v, k, fv)
        {
            const struct web_field *f = web_conf_field(c, k);
            if (!f) {
                rc = fail(code, codelen, "field_unknown", GW_EINVAL);
                goto out;
            }
            if (json_is_null(fv))
                continue;
            if (!json_is_string(fv)) {
                rc = fail(code, codelen, "field_invalid", GW_EINVAL);
                goto out;
            }
            const char *s = json_string_value(fv);
            if (!*s || only_space(s))
                continue; /* an empty answer is no answer */
            if (f->type == WEB_FIELD_SELECT) {
                size_t i;
                for (i = 0; i < f->n_options; i++)
                    if (strcmp(f->options[i], s) == 0)
                        break;
                if (i == f->n_options) {
                    rc = fail(code, codelen, "field_invalid", GW_EINVAL);
                    goto out;
                }
            } else if (web_utf8_len(s) > f->maxlen) {
                rc = fail(code, codelen, "too_long", GW_ELIMIT);
                goto out;
            }
            json_object_set_new(out->fields, k, json_string(s));
        }
    }
out:
    json_decref(j);
    if (rc != GW_OK) {
        web_req_start_release(out);
        return rc;
    }
required:
    for (size_t i = 0; i < c->n_fields; i++)
        if (c->fields[i].required && !json_object_get(out->fields, c->fields[i].id)) {
            web_req_start_release(out);
            return fail(code, codelen, "field_required", GW_EINVAL);
        }
    return GW_OK;
}

void web_req_start_release(struct web_req_start *r)
{
    if (!r)
        return;
    json_decref(r->fields);
    r->fields = NULL;
}

int web_req_message(const struct web_conf *c, const char *body, size_t len,
                    struct web_req_message *out, char *code, size_t codelen)
{
    memset(out, 0, sizeof(*out));
    if (len > c->max_body)
        return fail(code, codelen, "too_long", GW_ELIMIT);
    json_t *j = load_object(body, len, code, codelen);
    if (!j)
        return GW_EINVAL;
    int rc = GW_OK;
    json_t *t = json_object_get(j, "text");
    json_t *cid = json_object_get(j, "cid");
    if (!json_is_string(t) || only_space(json_string_value(t))) {
        rc = fail(code, codelen, "text_missing", GW_EINVAL);
    } else if (web_utf8_len(json_string_value(t)) > c->max_chars) {
        rc = fail(code, codelen, "too_long", GW_ELIMIT);
    } else if (cid && !json_is_null(cid) &&
               (!json_is_string(cid) || !cid_ok(json_string_value(cid)))) {
        rc = fail(code, codelen, "cid_invalid", GW_EINVAL);
    } else {
        out->text = strdup(json_string_value(t));
        if (!out->text)
            rc = fail(code, codelen, "nomem", GW_ENOMEM);
        else if (json_is_string(cid))
            snprintf(out->cid, sizeof(out->cid), "%s", json_string_value(cid));
    }
    json_decref(j);
    return rc;
}

void web_req_message_release(struct web_req_message *r)
{
    if (!r)
        return;
    free(r->text);
    r->text = NULL;
}

int web_req_typing(const char *body, size_t len, int *composing, char *code, size_t codelen)
{
    json_t *j = load_object(body, len, code, codelen);
    if (!j)
        return GW_EINVAL;
    const char *s = json_string_value(json_object_get(j, "state"));
    int rc = GW_OK;
    if (s && strcmp(s, "composing") == 0)
        *composing = 1;
    else if (s && strcmp(s, "paused") == 0)
        *composing = 0;
    else
        rc = fail(code, codelen, "state_invalid", GW_EINVAL);
    json_decref(j);
    return rc;
}

int web_req_feedback(const char *body, size_t len, int *rating, char **comment, char *code,
                     size_t codelen)
{
    *comment = NULL;
    if (len > 2000 * 6 + 1024)
        return fail(code, codelen, "too_long", GW_ELIMIT);
    json_t *j = load_object(body, len, code, codelen);
    if (!j)
        return GW_EINVAL;
    int rc = GW_OK;
    json_t *r = json_object_get(j, "rating");
    json_t *cm = json_object_get(j, "comment");
    if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > 5) {
        rc = fail(code, codelen, "rating_invalid", GW_EINVAL);
    } else if (cm && !json_is_null(cm) && !json_is_string(cm)) {
        rc = fail(code, codelen, "comment_invalid", GW_EINVAL);
    } else if (json_is_string(cm) && web_utf8_len(json_string_value(cm)) > 2000) {
        rc = fail(code, codelen, "too_long", GW_ELIMIT);
    } else {
        *rating = (int)json_integer_value(r);
        if (json_is_string(cm) && !only_space(json_string_value(cm))) {
            *comment = strdup(json_string_value(cm));
            if (!*comment)
                rc = fail(code, codelen, "nomem", GW_ENOMEM);
        }
    }
    json_decref(j);
    return rc;
}

/* Deliberately loose: one '@', a dot in the domain, no spaces, quotes, angle brackets or
 * control characters.  The email channel has the final word. */
static int email_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 254)
        return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        s[n - 1] == '.')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>\"(),;:\\[]", *p))
            return 0;
    return 1;
}

int web_req_email(const char *body, size_t len, char **address, char *code, size_t codelen)
{
    *address = NULL;
    json_t *j = load_object(body, len, code, codelen);
    if (!j)
        return GW_EINVAL;
    const char *a = json_string_value(json_object_get(j, "address"));
    int rc = GW_OK;
    if (!a || !email_ok(a))
        rc = fail(code, codelen, "address_invalid", GW_EINVAL);
    else if (!(*address = strdup(a)))
        rc = fail(code, codelen, "nomem", GW_ENOMEM);
    json_decref(j);
    return rc;
}

int web_req_ack(const char *body, size_t len, int64_t *ids, size_t max, size_t *n, char *code,
                size_t codelen)
{
    *n = 0;
    json_t *j = load_object(body, len, code, codelen);
    if (!j)
        return GW_EINVAL;
    json_t *a = json_object_get(j, "ids");
    int rc = GW_OK;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > WEB_ACK_MAX) {
        rc = fail(code, codelen, "ids_invalid", GW_EINVAL);
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                rc = fail(code, codelen, "ids_invalid", GW_EINVAL);
                *n = 0;
                break;
            }
            if (*n < max)
                ids[(*n)++] = json_integer_value(v);
        }
    }
    json_decref(j);
    return rc;
}
