/* html.c — a forgiving HTML-to-text converter for mail bodies (no DOM, one pass). */
#include "html.h"
#include "util.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Named entities that appear in real mail (Outlook, Gmail, Apple Mail, newsletters). */
static const struct {
    const char *name;
    uint32_t cp;
} entities[] = {
    {"amp", '&'},     {"lt", '<'},        {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},   {"nbsp", ' '},      {"aelig", 0xe6},    {"AElig", 0xc6},
    {"oslash", 0xf8}, {"Oslash", 0xd8},   {"aring", 0xe5},    {"Aring", 0xc5},
    {"auml", 0xe4},   {"Auml", 0xc4},     {"ouml", 0xf6},     {"Ouml", 0xd6},
    {"uuml", 0xfc},   {"Uuml", 0xdc},     {"eacute", 0xe9},   {"Eacute", 0xc9},
    {"egrave", 0xe8}, {"aacute", 0xe1},   {"oacute", 0xf3},   {"szlig", 0xdf},
    {"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201c}, {"rdquo", 0x201d},  {"laquo", 0xab},
    {"raquo", 0xbb},  {"euro", 0x20ac},   {"copy", 0xa9},     {"reg", 0xae},
    {"bull", 0x2022}, {"middot", 0xb7},   {"shy", 0},         {"zwnj", 0},
    {"zwj", 0},       {"thinsp", ' '},    {"ensp", ' '},      {"emsp", ' '},
    {"trade", 0x2122}, {"deg", 0xb0},     {"para", 0xb6},     {"sect", 0xa7},
};

/* Elements that end a line (or paragraph) before and after them. */
static const struct {
    const char *tag;
    int lines; /* 1 = line break, 2 = blank line */
} blocks[] = {
    {"p", 2},  {"div", 1},   {"br", 1},    {"tr", 1},    {"table", 1},  {"ul", 1},
    {"ol", 1}, {"li", 1},    {"h1", 2},    {"h2", 2},    {"h3", 2},     {"h4", 2},
    {"h5", 2}, {"h6", 2},    {"hr", 1},    {"pre", 1},   {"section", 1}, {"article", 1},
    {"header", 1}, {"footer", 1}, {"address", 1}, {"dl", 1}, {"dt", 1}, {"dd", 1},
    {"center", 1}, {"form", 1}, {"fieldset", 1}, {"figure", 1}, {"figcaption", 1},
};

/* Elements whose content is never shown. */
static const char *const hidden[] = {"head", "script", "style", "title", "template",
                                     "noscript", "xml", "object", NULL};

struct conv {
    struct mail_buf out;
    int pending_nl;    /* newlines owed before the next text */
    int pending_space; /* a space owed before the next text */
    int at_start;      /* nothing written yet */
    int quote;         /* blockquote depth */
    int pre;           /* inside <pre> */
    int list_item;     /* "- " owed at the next text */
    struct mail_links *links;
    /* the open <a>, if any */
    char *href;
    size_t a_start; /* out.len when <a> opened */
};

static void put_utf8(struct mail_buf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        mail_buf_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        mail_buf_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        mail_buf_add(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        mail_buf_add(b, u, 4);
    }
}

static void line_prefix(struct conv *c)
{
    for (int i = 0; i < c->quote; i++)
        mail_buf_add(&c->out, "> ", 2);
}

/* Flush owed newlines/spaces before visible text. */
static void before_text(struct conv *c)
{
    if (c->at_start) {
        c->at_start = 0;
        c->pending_nl = 0;
        c->pending_space = 0;
        line_prefix(c);
    } else if (c->pending_nl) {
        for (int i = 0; i < c->pending_nl; i++) {
            mail_buf_addc(&c->out, '\n');
            if (i + 1 < c->pending_nl && c->quote)
                mail_buf_add(&c->out, ">", 1);
        }
        line_prefix(c);
        c->pending_nl = 0;
        c->pending_space = 0;
    } else if (c->pending_space) {
        mail_buf_addc(&c->out, ' ');
        c->pending_space = 0;
    }
    if (c->list_item) {
        mail_buf_add(&c->out, "- ", 2);
        c->list_item = 0;
    }
}

static void newline(struct conv *c, int n)
{
    if (c->pending_nl < n)
        c->pending_nl = n;
}

static void text_char(struct conv *c, const char *p, size_t n)
{
    if (!c->pre && n == 1 && isspace((unsigned char)*p)) {
        c->pending_space = 1;
        return;
    }
    if (c->pre && n == 1 && *p == '\n') {
        c->pending_nl++;
        return;
    }
    before_text(c);
    mail_buf_add(&c->out, p, n);
}

static void text_cp(struct conv *c, uint32_t cp)
{
    if (cp == 0)
        return;
    if (cp == 0xa0)
        cp = ' ';
    if (cp < 0x80) {
        char ch = (char)cp;
        text_char(c, &ch, 1);
        return;
    }
    before_text(c);
    put_utf8(&c->out, cp);
}

/* Decode an entity at p ('&'); returns bytes consumed (0 = not an entity). */
static size_t entity(struct conv *c, const char *p)
{
    const char *q = p + 1;
    if (*q == '#') {
        q++;
        int hex = (*q == 'x' || *q == 'X');
        if (hex)
            q++;
        char *end;
        unsigned long v = strtoul(q, &end, hex ? 16 : 10);
        if (end == q || v > 0x10ffff)
            return 0;
        if (*end == ';')
            end++;
        /* windows-1252 numeric references (&#150; etc.) as browsers read them */
        static const uint16_t cp1252[32] = {
            0x20ac, 0, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160,
            0x2039, 0x152, 0, 0x17d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013,
            0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0, 0x17e, 0x178};
        if (v >= 0x80 && v < 0xa0)
            v = cp1252[v - 0x80];
        if ((v >= 0xd800 && v < 0xe000))
            v = 0xfffd;
        text_cp(c, (uint32_t)v);
        return (size_t)(end - p);
    }
    size_t n = 0;
    while (isalnum((unsigned char)q[n]) && n < 10)
        n++;
    if (!n)
        return 0;
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
        if (strlen(entities[i].name) == n && strncmp(entities[i].name, q, n) == 0) {
            text_cp(c, entities[i].cp);
            return 1 + n + (q[n] == ';');
        }
    }
    return 0;
}

/* Read attribute `name` from a tag's attribute text [a, e).  Returns malloc'd raw value. */
static char *attr(const char *a, const char *e, const char *name)
{
    size_t nl = strlen(name);
    const char *p = a;
    while (p < e) {
        while (p < e && (isspace((unsigned char)*p) || *p == '/'))
            p++;
        const char *ns = p;
        while (p < e && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/')
            p++;
        size_t len = (size_t)(p - ns);
        while (p < e && isspace((unsigned char)*p))
            p++;
        const char *vs = NULL, *ve = NULL;
        if (p < e && *p == '=') {
            p++;
            while (p < e && isspace((unsigned char)*p))
                p++;
            if (p < e && (*p == '"' || *p == '\'')) {
                char qch = *p++;
                vs = p;
                while (p < e && *p != qch)
                    p++;
                ve = p;
                if (p < e)
                    p++;
            } else {
                vs = p;
                while (p < e && !isspace((unsigned char)*p) && *p != '>')
                    p++;
                ve = p;
            }
        }
        if (len == nl && strncasecmp(ns, name, nl) == 0 && vs)
            return strndup(vs, (size_t)(ve - vs));
        if (len == 0 && p == ns)
            p++;
    }
    return NULL;
}

/* Decode the few entities that occur in href values. */
static void unescape_attr(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (strncmp(r, "&amp;", 5) == 0) {
            *w++ = '&';
            r += 5;
        } else if (strncmp(r, "&#38;", 5) == 0) {
            *w++ = '&';
            r += 5;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static size_t link_number(struct conv *c, const char *url)
{
    struct mail_links *l = c->links;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->url[i], url) == 0)
            return i + 1;
    char **n = realloc(l->url, (l->n + 1) * sizeof *n);
    if (!n) {
        c->out.oom = 1;
        return 0;
    }
    l->url = n;
    if (!(l->url[l->n] = strdup(url))) {
        c->out.oom = 1;
        return 0;
    }
    return ++l->n;
}

static void close_link(struct conv *c)
{
    if (!c->href)
        return;
    char *href = c->href;
    c->href = NULL;
    const char *shown = c->out.s ? c->out.s + c->a_start : "";
    size_t shown_len = c->out.len - c->a_start;
    const char *target = href;
    const char *mailto = mail_prefix(href, "mailto:");
    if (mailto)
        target = mailto;
    int useless = !*href || href[0] == '#' || mail_prefix(href, "javascript:") ||
                  mail_prefix(href, "cid:");
    /* text that already is the target ("https://x.no" or "kari@x.no") needs no footnote */
    int same = shown_len && (strlen(target) == shown_len || strlen(href) == shown_len) &&
               (strncasecmp(shown, target, shown_len) == 0 ||
                strncasecmp(shown, href, shown_len) == 0);
    if (!same && shown_len && strncasecmp(target, "http", 4) == 0) {
        /* "www.x.no" shown for "https://www.x.no/" */
        const char *t = strstr(target, "://");
        if (t) {
            t += 3;
            size_t tl = strlen(t);
            if (tl && t[tl - 1] == '/')
                tl--;
            if (tl == shown_len && strncasecmp(t, shown, tl) == 0)
                same = 1;
        }
    }
    if (useless || same || !shown_len || !c->links) {
        /* nothing to add: no target worth showing, an image-only link, or no footnotes */
    } else if (!mailto) {
        size_t n = link_number(c, href);
        if (n)
            mail_buf_addf(&c->out, " [%zu]", n);
    } else {
        mail_buf_addf(&c->out, " <%s>", target);
    }
    free(href);
}

static int tag_is(const char *name, size_t n, const char *tag)
{
    return strlen(tag) == n && strncasecmp(name, tag, n) == 0;
}

/* Handle a tag <...> starting at p; returns bytes consumed. */
static size_t tag(struct conv *c, const char *p, int *hidden_depth, char *hidden_tag,
                  size_t hidden_len)
{
    const char *q = p + 1;
    if (strncmp(q, "!--", 3) == 0) {
        const char *e = strstr(q + 3, "-->");
        return e ? (size_t)(e + 3 - p) : strlen(p);
    }
    if (*q == '!' || *q == '?') {
        const char *e = strchr(q, '>');
        return e ? (size_t)(e + 1 - p) : strlen(p);
    }
    int closing = 0;
    if (*q == '/') {
        closing = 1;
        q++;
    }
    if (!isalpha((unsigned char)*q)) {
        text_char(c, "<", 1);
        return 1;
    }
    const char *ns = q;
    while (isalnum((unsigned char)*q) || *q == ':' || *q == '-')
        q++;
    size_t nl = (size_t)(q - ns);
    /* find the end of the tag, respecting quoted attribute values */
    const char *e = q;
    char qch = 0;
    while (*e && (qch || *e != '>')) {
        if (qch && *e == qch)
            qch = 0;
        else if (!qch && (*e == '"' || *e == '\''))
            qch = *e;
        e++;
    }
    size_t used = (size_t)(*e ? e + 1 - p : e - p);
    int self_closing = e > q && e[-1] == '/';

    if (*hidden_depth) {
        if (closing && nl < hidden_len && tag_is(ns, nl, hidden_tag))
            *hidden_depth = 0;
        return used;
    }
    for (int i = 0; hidden[i]; i++) {
        if (!closing && !self_closing && tag_is(ns, nl, hidden[i])) {
            *hidden_depth = 1;
            snprintf(hidden_tag, hidden_len, "%s", hidden[i]);
            return used;
        }
    }
    if (tag_is(ns, nl, "blockquote")) {
        newline(c, 1);
        if (closing) {
            if (c->quote)
                c->quote--;
        } else {
            c->quote++;
        }
        return used;
    }
    if (tag_is(ns, nl, "pre")) {
        c->pre = !closing;
    }
    if (tag_is(ns, nl, "a")) {
        if (closing) {
            close_link(c);
        } else {
            close_link(c);
            char *h = attr(q, e, "href");
            if (h) {
                unescape_attr(h);
                /* trim spaces inside the attribute */
                char *s = h;
                while (isspace((unsigned char)*s))
                    s++;
                memmove(h, s, strlen(s) + 1);
                size_t hl = strlen(h);
                while (hl && isspace((unsigned char)h[hl - 1]))
                    h[--hl] = '\0';
                before_text(c); /* settle owed whitespace so a_start is the link text */
                c->href = h;
                c->a_start = c->out.len;
            }
        }
        return used;
    }
    if (tag_is(ns, nl, "td") || tag_is(ns, nl, "th")) {
        if (!closing)
            c->pending_space = 1;
        return used;
    }
    if (tag_is(ns, nl, "img")) {
        return used;
    }
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (tag_is(ns, nl, blocks[i].tag)) {
            if (tag_is(ns, nl, "br")) {
                /* <br> is a hard break even when one is already owed */
                if (c->at_start)
                    return used;
                if (c->pending_nl)
                    c->pending_nl++;
                else
                    c->pending_nl = 1;
                if (c->pending_nl > 2)
                    c->pending_nl = 2;
            } else {
                newline(c, blocks[i].lines);
            }
            if (tag_is(ns, nl, "li") && !closing)
                c->list_item = 1;
            return used;
        }
    }
    return used;
}

char *mail_html_to_text(const char *html, struct mail_links *links)
{
    struct conv c = {.at_start = 1, .links = links};
    int hidden_depth = 0;
    char hidden_tag[16] = "";
    const char *p = html ? html : "";
    while (*p) {
        if (*p == '<') {
            p += tag(&c, p, &hidden_depth, hidden_tag, sizeof hidden_tag);
        } else if (hidden_depth) {
            p++;
        } else if (*p == '&') {
            size_t n = entity(&c, p);
            if (!n) {
                text_char(&c, p, 1);
                n = 1;
            }
            p += n;
        } else if (*p == '\r') {
            p++;
        } else {
            size_t n = 1;
            unsigned char u = (unsigned char)*p;
            if (u >= 0xc0)
                while ((((unsigned char)p[n]) & 0xc0) == 0x80 && n < 4)
                    n++;
            text_char(&c, p, n);
            p += n;
        }
    }
    close_link(&c);
    /* no trailing spaces on any line */
    struct mail_buf out = {0};
    const char *s = c.out.s ? c.out.s : "";
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        size_t t = n;
        while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
            t--;
        mail_buf_add(&out, s, t);
        if (!nl)
            break;
        mail_buf_addc(&out, '\n');
        s = nl + 1;
    }
    if (c.out.oom)
        out.oom = 1;
    mail_buf_release(&c.out);
    mail_buf_rtrim(&out, "\n ");
    return mail_buf_detach(&out);
}

char *mail_links_append(const char *text, const struct mail_links *links)
{
    struct mail_buf b = {0};
    mail_buf_adds(&b, text);
    int first = 1;
    for (size_t i = 0; links && i < links->n; i++) {
        char mark[32];
        snprintf(mark, sizeof mark, "[%zu]", i + 1);
        if (!strstr(text, mark))
            continue;
        if (first) {
            mail_buf_adds(&b, "\n");
            first = 0;
        }
        mail_buf_addf(&b, "\n%s %s", mark, links->url[i]);
    }
    return mail_buf_detach(&b);
}

void mail_links_release(struct mail_links *links)
{
    if (!links)
        return;
    for (size_t i = 0; i < links->n; i++)
        free(links->url[i]);
    free(links->url);
    links->url = NULL;
    links->n = 0;
}
