/* test_html.c — HTML to text with link footnotes (plugins/email/html.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

static char *conv(const char *html, struct mail_links *l)
{
    char *t = mail_html_to_text(html, l);
    assert_non_null(t);
    return t;
}

static void test_blocks_and_entities(void **state)
{
    (void)state;
    struct mail_links l = {0};
    char *t = conv("<html><head><title>T</title><style>p{}</style></head><body>"
                   "<p>Hei&nbsp;p&aring; deg,</p><div>linje&#160;to<br>tre</div>"
                   "<ul><li>en</li><li>to &amp; tre</li></ul><p>&lt;x&gt; &#8211; &#x20AC; &#150;"
                   " &euro;</p><script>alert(1)</script><!-- c --></body></html>",
                   &l);
    assert_string_equal(t, "Hei på deg,\n\nlinje to\ntre\n- en\n- to & tre\n\n<x> – € – €");
    assert_int_equal(l.n, 0);
    free(t);
}

static void test_links_as_footnotes(void **state)
{
    (void)state;
    struct mail_links l = {0};
    char *t = conv("Se <a href=\"https://a.no/x?a=1&amp;b=2\">siden</a>, "
                   "<a href='https://utdanning.no'>https://utdanning.no</a>, "
                   "<a href=\"https://www.nav.no/\">www.nav.no</a>, "
                   "<a href=\"mailto:k@x.no\">k@x.no</a>, <a href=\"mailto:k@x.no\">meg</a>, "
                   "<a href=\"#top\">topp</a>, igjen <a href=\"https://a.no/x?a=1&amp;b=2\">her</a>"
                   "<a href=\"https://logo\"><img src=x></a>.",
                   &l);
    assert_string_equal(t, "Se siden [1], https://utdanning.no, www.nav.no, k@x.no, meg <k@x.no>, "
                           "topp, igjen her [1].");
    assert_int_equal(l.n, 1);
    assert_string_equal(l.url[0], "https://a.no/x?a=1&b=2");
    char *f = mail_links_append(t, &l);
    assert_string_equal(f, "Se siden [1], https://utdanning.no, www.nav.no, k@x.no, meg <k@x.no>, "
                           "topp, igjen her [1].\n\n[1] https://a.no/x?a=1&b=2");
    free(f);
    /* a marker that was cut away (quoted history) gets no footnote */
    f = mail_links_append("no markers", &l);
    assert_string_equal(f, "no markers");
    free(f);
    mail_links_release(&l);
    mail_links_release(&l);
    free(t);
}

static void test_blockquote_becomes_quote(void **state)
{
    (void)state;
    char *t = conv("<div>Takk!</div><div class=\"gmail_quote\">On Tue, X &lt;x@y&gt; wrote:<br>"
                   "<blockquote>Hei<br><br>Ola<blockquote>eldre</blockquote></blockquote></div>",
                   NULL);
    assert_string_equal(t, "Takk!\nOn Tue, X <x@y> wrote:\n> Hei\n>\n> Ola\n> > eldre");
    free(t);
}

static void test_broken_markup(void **state)
{
    (void)state;
    char *t = conv("a < b and <b>bold <i>unclosed <a href=x>link", NULL);
    assert_string_equal(t, "a < b and bold unclosed link");
    free(t);
    t = conv("<p>x<!-- never closed", NULL);
    assert_string_equal(t, "x");
    free(t);
    t = conv("<pre>  keep\n   spaces</pre>after", NULL);
    assert_string_equal(t, "  keep\n   spaces\nafter");
    free(t);
    t = conv("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", NULL);
    assert_string_equal(t, "a b\nc");
    free(t);
    t = conv(NULL, NULL);
    assert_string_equal(t, "");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_and_entities),
        cmocka_unit_test(test_links_as_footnotes),
        cmocka_unit_test(test_blockquote_becomes_quote),
        cmocka_unit_test(test_broken_markup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
