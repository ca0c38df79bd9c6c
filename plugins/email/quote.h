/* quote.h — strip quoted history and signatures from a mail body, keeping what is new. */
#ifndef MAIL_QUOTE_H
#define MAIL_QUOTE_H

/* Return the new part of `text` (UTF-8, LF or CRLF line ends):
 *  - everything from the first reply header on is cut: English "On … wrote:", Norwegian
 *    and Danish "… skrev:" (nynorsk "skreiv") / "Den … skrev:" / "… skrev følgende:",
 *    German "Am … schrieb …:", Outlook "-----Original Message-----" (and its nb/da/sv/de forms), a "From:/Fra:" line
 *    followed within four lines by "Sent:/Sendt:/Date:/Dato:", and a "____" rule before such
 *    a block;  a reply header needs a date, an address or following '>' lines to count, so
 *    a seeker writing "Min lærer skrev:" keeps the rest.  An attribution followed by '>'
 *    lines only introduces a quote: it is dropped and scanning goes on, so answers written
 *    below or between quoted lines (bottom-posting) survive;
 *  - lines starting with '>' are removed (interleaved answers stay);
 *  - a signature after "-- " (or "--") is cut, and a trailing "Sent from my iPhone" /
 *    "Sendt fra min iPhone" style line dropped;
 *  - runs of blank lines shrink to one, leading/trailing blank lines and trailing spaces go.
 * Forwarded messages ("Begin forwarded message", "Forwarded message") are kept: the seeker
 * sent them on purpose.  The result may be "" when nothing new was written.
 * Returns a malloc'd string (caller frees) or NULL on allocation failure. */
char *mail_quote_strip(const char *text);

#endif
