//! Locale checks of `verify_locale_settings` (§3.2 step 3).
//!
//! The installer checks against its compiled-in `locale-info.json`: countries are the keys of
//! its `country` map (lower-case ISO 3166-1 alpha-2), time zones must appear in some `cczones`
//! list (built from tzdata's `zone.tab`) or be exactly `UTC`. We ship the country list and
//! read `zone.tab` from the local tzdata when present; without it we fall back to the shape
//! `Area/Location` with a known area, so validation still works on a minimal machine.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

/// ISO 3166-1 alpha-2 codes, lower-case (tzdata `iso3166.tab`, 249 entries).
const COUNTRIES: &str = "ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs \
bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee \
eg eh er es et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm \
hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc \
li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na \
nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw \
sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to \
tr tt tv tw tz ua ug um us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw";

/// Areas of `zone.tab` time zones, for the fallback shape check.
const AREAS: &[&str] =
    &["Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"];

pub fn country_is_valid(cc: &str) -> bool {
    COUNTRIES.split_whitespace().any(|c| c == cc)
}

fn zone_tab() -> Option<&'static BTreeSet<String>> {
    static ZONES: OnceLock<Option<BTreeSet<String>>> = OnceLock::new();
    ZONES
        .get_or_init(|| {
            let text = std::fs::read_to_string(Path::new("/usr/share/zoneinfo/zone.tab")).ok()?;
            let zones: BTreeSet<String> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split('\t').nth(2).map(str::to_string))
                .collect();
            (!zones.is_empty()).then_some(zones)
        })
        .as_ref()
}

pub fn timezone_is_valid(tz: &str) -> bool {
    if tz == "UTC" {
        return true;
    }
    match zone_tab() {
        Some(zones) => zones.contains(tz),
        None => {
            let mut parts = tz.split('/');
            let area = parts.next().unwrap_or("");
            AREAS.contains(&area)
                && tz.split('/').count() >= 2
                && tz.split('/').skip(1).all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_and_zones() {
        assert!(country_is_valid("at") && country_is_valid("us") && country_is_valid("de"));
        assert!(!country_is_valid("AT") && !country_is_valid("xx") && !country_is_valid("usa"));
        assert!(timezone_is_valid("UTC") && timezone_is_valid("Europe/Vienna"));
        assert!(timezone_is_valid("America/Argentina/Buenos_Aires"));
        assert!(!timezone_is_valid("Mars/Olympus") && !timezone_is_valid("utc") && !timezone_is_valid("Europe/"));
    }
}
