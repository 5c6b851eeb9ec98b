//! Proxmox calendar events (the `schedule` of replication and backup jobs).
//!
//! PVE 9 checks schedules with the `proxmox-time` crate (systemd-like, not cron). The
//! grammar checked here is the one it implements:
//!
//! ```text
//! event    = keyword [" UTC"] | [weekdays] [date] [time] [" UTC"]      (at least one part)
//! keyword  = minutely | hourly | daily | weekly | monthly | yearly | annually
//!          | quarterly | semiannually | semi-annually
//! weekdays = range ("," range)*        range = day [".." day]   (mon..fri, sat..sun; wraps)
//! day      = mon|tue|wed|thu|fri|sat|sun | monday … sunday     (any case)
//! date     = [years "-"] months "-" days                         (2025-10-21, *-1..7, *-*-01)
//! time     = [hours ":"] minutes [":" seconds]                  (02:30, */5, 8..17:0/15)
//! field    = "*" | "*/" step | item ("," item)*
//! item     = n | n ".." m | n "/" step | n ".." m "/" step
//! ```
//!
//! Ranges: years < 2200, months 1..=12, days 1..=31, hours 0..=23, minutes/seconds 0..=59;
//! steps ≥ 1; a range must not run backwards. A single number is *minutes* (`*/5` = every
//! five minutes, `30` = at minute 30 of every hour), not hours. This checker is slightly
//! stricter than proxmox-time where proxmox-time accepts nonsense (month 0, step 0, parts
//! glued together without a space).

const EXAMPLES: &str = "e.g. `*/5` (every 5 minutes), `02:30` (daily at 02:30), `sun 02:00`, `mon..fri 21:00`, `sat *-1..7 15:00`, `daily`";

const KEYWORDS: &[&str] = &[
    "minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "quarterly", "semiannually",
    "semi-annually",
];

/// Check a calendar event; the error explains the first problem and shows valid forms.
pub fn check_calendar_event(s: &str) -> Result<(), String> {
    check_inner(s).map_err(|why| format!("invalid calendar event `{s}`: {why}; {EXAMPLES}"))
}

fn check_inner(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("it is empty".into());
    }
    if s.trim() != s {
        return Err("remove the leading/trailing spaces".into());
    }
    let body = match s.strip_suffix("UTC") {
        Some(rest) if rest.ends_with([' ', '\t']) => rest.trim_end_matches([' ', '\t']),
        Some("") => return Err("`UTC` alone is not an event; write e.g. `daily UTC`".into()),
        _ => s,
    };
    let tokens: Vec<&str> = body.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
    if tokens.len() == 1 && KEYWORDS.contains(&tokens[0]) {
        return Ok(());
    }
    if let Some(k) = tokens.iter().find(|t| KEYWORDS.contains(t)) {
        return Err(format!("`{k}` stands alone and cannot be combined with other parts (for a time of day write just `02:00`)"));
    }
    if let Some(k) = tokens.iter().find(|t| KEYWORDS.contains(&t.to_ascii_lowercase().as_str())) {
        return Err(format!("write `{}` in lower case", k.to_ascii_lowercase()));
    }

    let mut rest = &tokens[..];
    if let Some(first) = rest.first() {
        if first.starts_with(|c: char| c.is_ascii_alphabetic()) {
            check_weekdays(first)?;
            rest = &rest[1..];
        }
    }
    if let Some(tok) = rest.first() {
        if tok.contains('-') {
            check_date(tok)?;
            rest = &rest[1..];
        }
    }
    if let Some(tok) = rest.first() {
        if tok.contains('-') {
            return Err(format!("`{tok}`: only one date is allowed, and it comes before the time"));
        }
        if tok.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("`{tok}`: weekdays come first (e.g. `sun 02:00`)"));
        }
        check_time(tok)?;
        rest = &rest[1..];
    }
    if let Some(extra) = rest.first() {
        if AM_PM.contains(&extra.to_ascii_lowercase().as_str()) {
            return Err(format!("`{extra}`: {TWENTY_FOUR}"));
        }
        if extra.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("`{extra}`: weekdays come first (e.g. `sun 02:00`)"));
        }
        let cron = if tokens.len() == 5 { " (this looks like a cron line; Proxmox schedules are calendar events)" } else { "" };
        return Err(format!("unexpected `{extra}` after the time{cron}"));
    }
    Ok(())
}

fn weekday(name: &str) -> Option<u8> {
    const DAYS: [(&str, &str); 7] = [
        ("mon", "monday"),
        ("tue", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    ];
    let n = name.to_ascii_lowercase();
    DAYS.iter().position(|(a, b)| n == *a || n == *b).map(|i| i as u8)
}

fn check_weekdays(tok: &str) -> Result<(), String> {
    for item in tok.split(',') {
        if item.is_empty() {
            return Err(format!("`{tok}`: empty entry in the weekday list"));
        }
        let (a, b) = match item.split_once("..") {
            Some((a, b)) => (a, Some(b)),
            None => (item, None),
        };
        for d in std::iter::once(a).chain(b) {
            if weekday(d).is_none() {
                let hint = if d.contains('-') {
                    " (ranges are written with `..`, e.g. mon..fri)"
                } else if weekday(d.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("")).is_some() {
                    " (put a space between the weekday and the time, e.g. `sun 02:00`)"
                } else {
                    ""
                };
                return Err(format!("`{d}` is not a weekday; use mon, tue, wed, thu, fri, sat, sun{hint}"));
            }
        }
    }
    Ok(())
}

fn check_date(tok: &str) -> Result<(), String> {
    let parts: Vec<&str> = tok.split('-').collect();
    let (years, months, days) = match parts.as_slice() {
        [m, d] => (None, *m, *d),
        [y, m, d] => (Some(*y), *m, *d),
        _ => return Err(format!("`{tok}` is not a date: write [YEAR-]MONTH-DAY, e.g. 2025-10-21 or *-*-01")),
    };
    if let Some(y) = years {
        check_field(y, "year", 0, 2199)?;
    }
    check_field(months, "month", 1, 12)?;
    check_field(days, "day", 1, 31)
}

fn check_time(tok: &str) -> Result<(), String> {
    let parts: Vec<&str> = tok.split(':').collect();
    match parts.as_slice() {
        [m] => check_field(m, "minute", 0, 59),
        [h, m] => {
            check_field(h, "hour", 0, 23)?;
            check_field(m, "minute", 0, 59)
        }
        [h, m, s] => {
            check_field(h, "hour", 0, 23)?;
            check_field(m, "minute", 0, 59)?;
            check_field(s, "second", 0, 59)
        }
        _ => Err(format!("`{tok}` is not a time: write [HOUR:]MINUTE[:SECOND], e.g. 02:30")),
    }
}

/// One date/time field: `*`, `*/step`, or a comma list of `n`, `n..m`, `n/step`, `n..m/step`.
fn check_field(f: &str, what: &str, min: u32, max: u32) -> Result<(), String> {
    if f == "*" {
        return Ok(());
    }
    if let Some(step) = f.strip_prefix("*/") {
        return check_step(step, what, max);
    }
    if f.starts_with('*') {
        return Err(format!("{what} `{f}`: `*` stands alone or as `*/STEP`"));
    }
    for item in f.split(',') {
        if item.is_empty() {
            return Err(format!("{what} `{f}`: empty entry in the list"));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let (a, b) = match range.split_once("..") {
            Some((a, b)) => (a, Some(b)),
            None => (range, None),
        };
        let start = number(a, what, min, max)?;
        if let Some(b) = b {
            let end = number(b, what, min, max)?;
            if start > end {
                return Err(format!("{what} range `{range}` runs backwards (start {start} is after end {end})"));
            }
        }
        if let Some(s) = step {
            check_step(s, what, max)?;
        }
    }
    Ok(())
}

fn check_step(s: &str, what: &str, max: u32) -> Result<(), String> {
    let n = number(s, &format!("{what} step"), 0, max)?;
    if n == 0 {
        return Err(format!("{what} step `{s}` must be at least 1"));
    }
    Ok(())
}

const AM_PM: &[&str] = &["am", "pm", "a.m.", "p.m."];
const TWENTY_FOUR: &str = "times are 24-hour without am/pm (02:00, 14:30)";

fn number(s: &str, what: &str, min: u32, max: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if AM_PM.iter().any(|x| lower.ends_with(x)) {
        return Err(format!("{what} `{s}`: {TWENTY_FOUR}"));
    }
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what} `{s}` is not a number"));
    }
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{what} `{s}` is out of range {min}..={max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::check_calendar_event as check;

    #[test]
    fn accepts_pve_examples() {
        // The admin guide's table of examples (pve-docs calendar-events) plus our own schedules.
        for ok in [
            "*/5", "*/15", "sun 02:00", "mon..fri 21:00", "02:30", "21:00", "12:05", "hourly", "daily", "weekly",
            "monthly", "yearly", "annually", "quarterly", "semiannually", "semi-annually", "minutely",
            "mon,tue,wed,thu,fri", "mon..fri", "sat,sun", "sat..sun", "mon,wed,fri", "0/5", "mon..wed 30/10",
            "mon..fri 8..17,22:0/15", "fri 12..13:5/20", "12,14,16,18,20,22:5", "12/2:5", "*", "*/1", "*-05",
            "Sat *-1..7 15:00", "2015-10-21", "*-01,04,07,10-01 00:00:00", "daily UTC", "sun 02:00 UTC",
            "fri..mon 3:00", "Sunday 02:00", "*:00", "*:*:30", "2025-*-1..7 4:00", "30",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn rejects_cron_and_typos_with_reasons() {
        for (bad, why) in [
            ("", "empty"),
            (" daily", "spaces"),
            ("0 2 * * 0", "unexpected"),
            ("*/5 * * * *", "unexpected"),
            ("mon-fri 21:00", "`..`"),
            ("sun02:00", "space between"),
            ("sunday 25:00", "hour `25`"),
            ("*/60", "out of range"),
            ("*/0", "at least 1"),
            ("12:60", "minute `60`"),
            ("5/0", "at least 1"),
            ("17..8:00", "backwards"),
            ("*-13-01", "month `13`"),
            ("*-00-01", "month `00`"),
            ("*-*-32", "day `32`"),
            ("daily 02:00", "stands alone"),
            ("Daily", "lower case"),
            ("funday", "not a weekday"),
            ("02:00 sun", "weekdays come first"),
            ("1:2:3:4", "not a time"),
            ("1-2-3-4", "not a date"),
            ("*5", "stands alone"),
            ("1,,2", "empty entry"),
            ("UTC", "alone"),
            ("1:b", "minute `b` is not a number"),
            ("sun 2am", "24-hour"),
            ("sun 2:00 pm", "24-hour"),
            ("a:b", "`a:b` is not a weekday"),
            ("2-3 4-5", "only one date"),
        ] {
            let err = check(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("e.g. `*/5`"), "{err}");
        }
    }
}
