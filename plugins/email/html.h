/* html.h — HTML mail bodies to readable plain text, links kept as numbered footnotes. */
#ifndef MAIL_HTML_H
#define MAIL_HTML_H

#include <stddef.h>

/* Links collected while converting: links[i] is the target of marker "[i+1]". */
struct mail_links {
    char **url;
    size_t n;
};

/* Convert UTF-8 HTML to UTF-8 text.  Block elements become line breaks, list items "- ",
 * <blockquote> content becomes "> "-prefixed lines (so quote stripping treats it like a
 * plain-text quote), <script>/<style>/<head> and comments are dropped, entities decoded.
 * A link whose text differs from its target is written as "text [n]" and its target stored
 * in `links` (if non-NULL; the same target reuses its number).  Never fails on bad markup.
 * Returns a malloc'd string (caller frees) or NULL on allocation failure. */
char *mail_html_to_text(const char *html, struct mail_links *links);

/* Append "[n] url" footnote lines to `text` for each link whose marker "[n]" still occurs
 * in it (quoted history may have been cut away).  Returns a malloc'd string or NULL. */
char *mail_links_append(const char *text, const struct mail_links *links);

/* Free the collected links; NULL-safe. */
void mail_links_release(struct mail_links *links);

#endif
