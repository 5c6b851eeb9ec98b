//! The subset of PVE calendar events used by replication/backup schedules:
//! `[WEEKDAYS] [HOURS:]MINUTES` with `*`, numbers, `a..b` ranges, `a/step` / `*/step` and comma
//! lists (`*/15`, `21:00`, `sun 02:00`, `mon..fri 2:30`, `sat,sun 0/6:00`), plus the aliases
//! `minutely`, `hourly`, `daily`, `weekly`, `monthly`-ish (first Monday is not modelled).
//! Used to compute `next-run` / `next_sync` (pve-cli.md §5.2, §6.3).

use crate::sys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    dows: Vec<u32>,
    hours: Vec<u32>,
    minutes: Vec<u32>,
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn field(spec: &str, max: u32, names: Option<&[&str; 7]>) -> Option<Vec<u32>> {
    let val = |s: &str| -> Option<u32> {
        if let Some(n) = names {
            if let Some(i) = n.iter().position(|d| s.eq_ignore_ascii_case(d) || s.to_ascii_lowercase().starts_with(d)) {
                return Some(i as u32);
            }
        }
        s.parse::<u32>().ok().filter(|v| *v <= max)
    };
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, max)
        } else if let Some((a, b)) = range.split_once("..") {
            (val(a)?, val(b)?)
        } else {
            let v = val(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        let mut x = lo;
        while x <= hi {
            out.push(x);
            x += step;
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

impl Event {
    pub fn parse(s: &str) -> Option<Event> {
        let s = s.trim();
        let alias = match s {
            "minutely" => Some("*:*"),
            "hourly" => Some("*:00"),
            "daily" => Some("00:00"),
            "weekly" => Some("mon 00:00"),
            "monthly" => Some("00:00"),
            _ => None,
        };
        let s = alias.unwrap_or(s);
        let mut parts: Vec<&str> = s.split_whitespace().collect();
        if parts.is_empty() || parts.len() > 2 {
            return None;
        }
        let dows = if parts.len() == 2 || parts[0].chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            let d = parts.remove(0);
            field(d, 6, Some(&DAYS))?
        } else {
            (0..7).collect()
        };
        let time = parts.first().copied().unwrap_or("00:00");
        let (h, m) = match time.split_once(':') {
            Some((h, m)) => (field(h, 23, None)?, field(m, 59, None)?),
            None => ((0..24).collect(), field(time, 59, None)?),
        };
        Some(Event { dows, hours: h, minutes: m })
    }

    /// First matching minute strictly after `t` (epoch seconds), searching 8 days ahead.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        let mut c = t - t.rem_euclid(60) + 60;
        for _ in 0..(8 * 24 * 60) {
            let tm = sys::localtime(c);
            if self.dows.contains(&tm.wday) && self.hours.contains(&tm.hour) && self.minutes.contains(&tm.min) {
                return Some(c);
            }
            c += 60;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert!(Event::parse("*/15").is_some());
        assert!(Event::parse("21:00").is_some());
        assert!(Event::parse("sun 02:00").is_some());
        assert!(Event::parse("mon..fri 2:30").is_some());
        assert!(Event::parse("sat,sun 0/6:00").is_some());
        assert!(Event::parse("bogus").is_none());
        assert!(Event::parse("25:00").is_none());
    }

    #[test]
    fn every_quarter_hour() {
        let e = Event::parse("*/15").unwrap();
        let n = e.next_after(0).unwrap();
        assert!(n > 0 && n <= 15 * 60);
        assert_eq!(sys::localtime(n).min % 15, 0);
    }
}
