//! The one clock of the control plane: the runtime's time in Unix milliseconds. Every
//! decision takes `now` as an argument; only the shell reads the clock, through here.

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// A Unix time in milliseconds as ISO 8601 in UTC (`2026-12-02T01:02:03.004Z`).
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an ISO 8601 time as providers write it (`2026-07-11T22:14:10Z`, or with
/// fractional seconds, or with an offset such as `+00:00`) into Unix milliseconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let (s, offset_min) = match s.strip_suffix('Z') {
        Some(rest) => (rest, 0),
        None => {
            let at = s.len().checked_sub(6)?;
            let (rest, off) = (s.get(..at)?, s.get(at..)?);
            let sign = match off.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = off.get(1..)?.split_once(':')?;
            (
                rest,
                sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?),
            )
        }
    };
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (t.next()??, t.next()??, t.next()??);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&m)
        && (0..61).contains(&sec);
    if !valid || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = format!("{frac:0<3}")[..3].parse::<i64>().ok()?;
    // Days since 1970-01-01 from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let local = (days * 86_400 + h * 3600 + m * 60 + sec) * 1000 + millis;
    Some(local - offset_min * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_parses_back() {
        for ms in [0, 951_782_400_000, 1_796_173_323_004, -1] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(
            parse_iso8601("2026-07-11T22:14:10Z"),
            Some(1_783_808_050_000)
        );
        assert_eq!(parse_iso8601("2026-07-11T22:14:10"), None);
        assert_eq!(
            parse_iso8601("2018-07-03T01:28:05.903251+00:00"),
            Some(1_530_581_285_903)
        );
        assert_eq!(
            parse_iso8601("2018-07-03T03:28:05+02:00"),
            parse_iso8601("2018-07-03T01:28:05Z")
        );
        assert_eq!(parse_iso8601("2026-13-11T22:14:10Z"), None);
        assert_eq!(parse_iso8601("soon"), None);
    }

    #[test]
    fn iso8601_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_796_173_323_004), "2026-12-02T01:02:03.004Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }
}
