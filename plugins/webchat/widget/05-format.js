// 05-format.js — clock and date texts in the gateway's time zone, queue and wait texts, field labels.
  /* ---- formatting ---- */

  function locale() { return t('locale'); }
  function clock(ms) {
    try {
      return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
    } catch (e) { return new Date(ms).toTimeString().slice(0, 5); }
  }
  function when(ms) {
    var tz = S.cfg.timezone, d = new Date(ms), now = Date.now();
    try {
      var day = function (x) {
        return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(x);
      };
      var time = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: tz }).format(d);
      if (day(d) === day(new Date(now))) return t('when_today', { time: time });
      if (day(d) === day(new Date(now + 864e5))) return t('when_tomorrow', { time: time });
      var long = new Intl.DateTimeFormat(locale(), { weekday: 'long', day: 'numeric', month: 'long', timeZone: tz }).format(d);
      return t('when_day', { day: long, time: time });
    } catch (e) { return d.toLocaleString(); }
  }
  /* Wait estimate text; '' when unknown (the core sends -1). */
  function waitText(s) {
    if (s == null || s < 0) return '';
    return ' ' + (s < 60 ? t('wait_short') : t('wait_min', { min: Math.round(s / 60) }));
  }
  function closedText(next) {
    return next > 0 ? t('closed_hours', { when: when(next) }) : t('closed_hours_unknown');
  }
  function queueText(q) {
    if (!q) return '';
    if (q.open === false) return closedText(q.next_open_ms);
    var n = q.waiting | 0, s = n === 0 ? t('queue_none') : n === 1 ? t('queue_one') : t('queue_many', { n: n });
    return n > 0 ? s + waitText(q.wait_s) : s;
  }
  function fieldLabel(f) {
    if (f.label && (f.label[S.lang] || f.label.en)) return f.label[S.lang] || f.label.en;
    return has('field.' + f.id) ? t('field.' + f.id) : f.id;
  }
  function optionLabel(f, o) {
    if (o.label && (o.label[S.lang] || o.label.en)) return o.label[S.lang] || o.label.en;
    var k = 'field.' + f.id + '.' + o.value;
    return has(k) ? t(k) : o.value;
  }

