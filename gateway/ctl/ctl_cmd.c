/* ctl_cmd.c — the control socket's requests, independent of the socket: the output helpers
 * for handlers, the command tables and help, parsing and dispatching one request line, and
 * encoding the answer (ctl.c carries the bytes; the contract is ctl.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "desk/core.h"
#include "io/log.h"

#define GW_CTL_MAX_ARGS 256

/* --- output helpers for handlers --- */

void gw_ctl_printf(struct gw_ctl_out *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (out->len + (size_t)n + 1 > out->cap) {
        size_t ncap = out->cap ? out->cap : 1024;
        while (ncap < out->len + (size_t)n + 1)
            ncap *= 2;
        char *t = realloc(out->text, ncap);
        if (!t)
            return; /* cut, as documented */
        out->text = t;
        out->cap = ncap;
    }
    if ((size_t)n < sizeof small) {
        memcpy(out->text + out->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(out->text + out->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    out->len += (size_t)n;
}

int gw_ctl_fail(struct gw_ctl_out *out, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    return code;
}

/* --- the command tables --- */

static const struct gw_ctl_cmd *const *tables(void)
{
    static const struct gw_ctl_cmd *const t[] = {gw_ctl_ops_cmds, gw_ctl_privacy_cmds,
                                                 gw_ctl_audit_cmds, NULL};
    return t;
}

const struct gw_ctl_cmd *gw_ctl_find(const char *name)
{
    for (const struct gw_ctl_cmd *const *t = tables(); *t; t++)
        for (const struct gw_ctl_cmd *cmd = *t; cmd->name; cmd++)
            if (strcmp(cmd->name, name) == 0)
                return cmd;
    return NULL;
}

/* `help` lives here: it lists every table, so it is complete whoever adds a command. */
static int cmd_help(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    (void)c;
    json_t *list = json_array();
    if (rq->argc > 1) {
        const struct gw_ctl_cmd *cmd = gw_ctl_find(rq->argv[1]);
        if (!cmd) {
            json_decref(list);
            return gw_ctl_fail(out, 2, "unknown subcommand '%s'; see skagerrakctl help",
                               rq->argv[1]);
        }
        gw_ctl_printf(out, "usage: skagerrakctl %s\n  %s\n", cmd->usage, cmd->summary);
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", cmd->name, "usage",
                                              cmd->usage, "summary", cmd->summary));
        out->result = json_pack("{s:o}", "commands", list);
        return 0;
    }
    gw_ctl_printf(out, "usage: skagerrakctl [--socket PATH | --config FILE] [--json] "
                       "SUBCOMMAND [ARGS...]\n\nsubcommands:\n");
    gw_ctl_printf(out, "  %-26s %s\n", "help [SUBCOMMAND]", "this list, or one subcommand's usage");
    for (const struct gw_ctl_cmd *const *t = tables(); *t; t++)
        for (const struct gw_ctl_cmd *cmd = *t; cmd->name; cmd++) {
            gw_ctl_printf(out, "  %-26s %s\n", cmd->name, cmd->summary);
            json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", cmd->name, "usage",
                                                  cmd->usage, "summary", cmd->summary));
        }
    out->result = json_pack("{s:o}", "commands", list);
    return 0;
}

/* --- answers --- */

/* A JSON string from bytes that may not be UTF-8 (a plugin's health text, a config value):
 * invalid bytes become '?', so the answer can always be encoded. */
json_t *gw_ctl_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_string("");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_string("");
}

/* Encode an answer as one line (owned), NULL on ENOMEM. */
char *gw_ctl_encode_answer(int code, json_t *result, const char *text, const char *error)
{
    json_t *a = json_object();
    json_object_set_new(a, "exit", json_integer(code));
    json_object_set_new(a, "result", result ? result : json_object());
    json_object_set_new(a, "text", gw_ctl_str(text ? text : ""));
    if (error && *error)
        json_object_set_new(a, "error", gw_ctl_str(error));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = 0;
    return line;
}

static void log_request(const char *peer, const struct gw_ctl_req *rq, int code)
{
    /* The subcommand and its exit, never its arguments (an address, a why).  Looking is at
     * debug level (a monitoring script polls status every few seconds); anything else, and
     * every failure, at info. */
    static const char *const quiet[] = {"status",        "queues", "counsellors",
                                        "conversations", "help",   NULL};
    const char *name = rq->argc ? rq->argv[0] : "?";
    int look = 0;
    for (int i = 0; quiet[i]; i++)
        look |= strcmp(quiet[i], name) == 0;
    if (look && code == 0)
        GW_DEBUG("ctl: %s: %s -> exit %d", peer, name, code);
    else
        GW_INFO("ctl: %s: %s -> exit %d", peer,
                code == 2 && !gw_ctl_find(name) && strcmp(name, "help") ? "(unknown subcommand)"
                                                                        : name,
                code);
}

char *gw_ctl_run(struct gw_core *c, const char *peer, const char *line, size_t len, int *ran)
{
    *ran = 0;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, 0, &jerr);
    if (!req || !json_is_object(req)) {
        char why[300];
        if (req)
            snprintf(why, sizeof why, "malformed request: not a JSON object");
        else
            snprintf(why, sizeof why, "malformed request: %s (at byte %d)", jerr.text,
                     jerr.position);
        GW_WARN("ctl: %s: %s", peer, why);
        json_decref(req);
        return gw_ctl_encode_answer(2, NULL, "", why);
    }
    json_t *v = json_object_get(req, "v"), *argv = json_object_get(req, "argv"),
           *js = json_object_get(req, "json");
    const char *why = NULL;
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        why = "malformed request: \"v\" must be 1 (a newer skagerrakctl than this daemon?)";
    else if (!json_is_array(argv) || json_array_size(argv) == 0)
        why = "malformed request: \"argv\" must be a non-empty array of strings";
    else if (json_array_size(argv) > GW_CTL_MAX_ARGS)
        why = "malformed request: too many arguments";
    else if (js && !json_is_boolean(js))
        why = "malformed request: \"json\" must be true or false";
    for (size_t i = 0; !why && i < json_array_size(argv); i++)
        if (!json_is_string(json_array_get(argv, i)))
            why = "malformed request: \"argv\" must be a non-empty array of strings";
    if (why) {
        GW_WARN("ctl: %s: %s", peer, why);
        json_decref(req);
        return gw_ctl_encode_answer(2, NULL, "", why);
    }
    struct gw_ctl_req rq = {.json = json_is_true(js), .peer = peer};
    rq.argc = (int)json_array_size(argv);
    rq.argv = calloc((size_t)rq.argc + 1, sizeof *rq.argv);
    if (!rq.argv) {
        json_decref(req);
        return gw_ctl_encode_answer(1, NULL, "", "out of memory");
    }
    for (int i = 0; i < rq.argc; i++)
        rq.argv[i] = (char *)json_string_value(json_array_get(argv, (size_t)i));
    struct gw_ctl_out out = {0};
    int code;
    const struct gw_ctl_cmd *cmd = NULL;
    if (strcmp(rq.argv[0], "help") == 0) {
        code = cmd_help(c, &rq, &out);
    } else if ((cmd = gw_ctl_find(rq.argv[0])) != NULL) {
        code = cmd->fn(c, &rq, &out);
        if (code < 0 || code > 2)
            code = 1;
        if (code == 2 && !out.error[0])
            gw_ctl_fail(&out, 2, "usage: skagerrakctl %s", cmd->usage);
    } else {
        code = gw_ctl_fail(&out, 2, "unknown subcommand '%s'; see skagerrakctl help", rq.argv[0]);
    }
    log_request(peer, &rq, code);
    *ran = 1;
    char *answer = gw_ctl_encode_answer(code, out.result, out.text, out.error);
    out.result = NULL; /* encode_answer took it */
    free(out.text);
    free(rq.argv);
    json_decref(req);
    return answer;
}
