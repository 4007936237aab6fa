//! `dateFormat`: how an export writes its dates (and times), read into
//! `YYYY-MM-DD` (or, for `meta.lastModified`, an RFC 3339 UTC time).
//!
//! A format is a date part and an optional time part, e.g. `MM/DD/YYYY`,
//! `DD-MMM-YY`, `YYYY-MM-DD HH:mm:ss` or `M/D/YYYY hh:mm A`:
//!
//! - `YYYY` a four-digit year; `YY` a two-digit one, in 1900s from the
//!   pivot on (`twoDigitYearPivot`, default 69 as POSIX: `69`–`99` are
//!   1969–1999, `00`–`68` are 2000–2068);
//! - `MM` (or `M`) a month number, `MMM` or `MMMM` a month's English name,
//!   abbreviated or not, in any case (`Mar`, `MARCH`, `Sept`);
//! - `DD` (or `D`) a day of the month;
//! - separated by one of `-` `/` `.` space `,` or `, `, or by nothing, where
//!   numbers take their full width (`YYYYMMDD`);
//! - then, after a space or `T`, `HH:mm` or `HH:mm:ss` (24-hour) or
//!   `hh:mm[:ss] A` (12-hour with `AM`/`PM`). A value's time may carry a
//!   fraction of a second and a UTC offset (`Z`, `+01:00`, `+0100`); without
//!   one it is UTC. A value may leave the time out (midnight).
//!
//! A format without a time part still accepts a value with a trailing
//! time of day (`03/15/2024 00:00:00`, as spreadsheets export), and ignores it.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The default `twoDigitYearPivot`.
pub const DEFAULT_YEAR_PIVOT: u8 = 69;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Year4,
    Year2,
    /// A month number (two digits when no separator follows).
    Month,
    MonthName,
    Day,
    Sep(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    H24 { seconds: bool },
    H12 { seconds: bool },
}

/// A parsed `dateFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    spelling: String,
    tokens: Vec<Token>,
    clock: Option<Clock>,
    pivot: u8,
}

/// What a value holds: a date, and a time when the value had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub date: Date,
    pub time: Option<(Time, UtcOffset)>,
}

impl Parsed {
    /// `YYYY-MM-DD`.
    pub fn date_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.date.year(), u8::from(self.date.month()), self.date.day())
    }

    /// RFC 3339 in UTC, e.g. `2024-03-15T13:30:00Z` (midnight UTC without a time).
    pub fn rfc3339_utc(&self) -> String {
        let (time, offset) = self.time.unwrap_or((Time::MIDNIGHT, UtcOffset::UTC));
        let utc: OffsetDateTime =
            PrimitiveDateTime::new(self.date, time).assume_offset(offset).to_offset(UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        )
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl DateFormat {
    /// `None` when the spelling is not a format (see the module documentation).
    pub fn parse(spelling: &str, pivot: Option<u8>) -> Option<Self> {
        let (date_part, clock) = split_clock(spelling)?;
        let mut tokens = Vec::new();
        let mut rest = date_part;
        while !rest.is_empty() {
            let (token, len) = [
                ("YYYY", Token::Year4),
                ("YY", Token::Year2),
                ("MMMM", Token::MonthName),
                ("MMM", Token::MonthName),
                ("MM", Token::Month),
                ("M", Token::Month),
                ("DD", Token::Day),
                ("D", Token::Day),
            ]
            .iter()
            .find(|(s, _)| rest.starts_with(s))
            .map(|(s, t)| (*t, s.len()))
            .or_else(|| {
                // `, ` is one separator (`March 5, 2024`).
                if rest.starts_with(", ") {
                    return Some((Token::Sep(','), 2));
                }
                let c = rest.chars().next()?;
                "-/. ,".contains(c).then_some((Token::Sep(c), 1))
            })?;
            tokens.push(token);
            rest = &rest[len..];
        }
        let count = |f: fn(&Token) -> bool| tokens.iter().filter(|t| f(t)).count();
        let years = count(|t| matches!(t, Token::Year4 | Token::Year2));
        let months = count(|t| matches!(t, Token::Month | Token::MonthName));
        let days = count(|t| matches!(t, Token::Day));
        let seps_in_a_row = tokens.windows(2).any(|w| matches!(w, [Token::Sep(_), Token::Sep(_)]));
        let edges =
            matches!(tokens.first(), Some(Token::Sep(_))) || matches!(tokens.last(), Some(Token::Sep(_)));
        if (years, months, days) != (1, 1, 1) || seps_in_a_row || edges {
            return None;
        }
        if pivot.is_some_and(|p| p > 99) {
            return None;
        }
        Some(Self {
            spelling: spelling.to_owned(),
            tokens,
            clock,
            pivot: pivot.unwrap_or(DEFAULT_YEAR_PIVOT),
        })
    }

    pub fn spelling(&self) -> &str {
        &self.spelling
    }

    /// The value's date (and time), or `None` when it does not fit the format.
    pub fn parse_value(&self, value: &str) -> Option<Parsed> {
        let value = value.trim();
        let (mut year, mut month, mut day) = (None, None, None);
        let mut rest = value;
        for (i, token) in self.tokens.iter().enumerate() {
            // Without a separator after it, a number takes its full width.
            let bounded = matches!(self.tokens.get(i + 1), Some(Token::Sep(_)) | None);
            match token {
                // A comma or a space may be followed by more spaces.
                Token::Sep(c @ (',' | ' ')) => rest = rest.strip_prefix(*c)?.trim_start(),
                Token::Sep(c) => rest = rest.strip_prefix(*c)?,
                Token::Year4 => {
                    let (n, r) = digits(rest, 4, 4)?;
                    (year, rest) = (Some(n as i32), r);
                }
                Token::Year2 => {
                    let (n, r) = digits(rest, 2, 2)?;
                    let century = if n >= u32::from(self.pivot) { 1900 } else { 2000 };
                    (year, rest) = (Some(century + n as i32), r);
                }
                Token::Month | Token::Day => {
                    let (n, r) = if bounded { digits(rest, 1, 2)? } else { digits(rest, 2, 2)? };
                    let n = u8::try_from(n).ok()?;
                    if *token == Token::Month {
                        month = Some(n)
                    } else {
                        day = Some(n)
                    }
                    rest = r;
                }
                Token::MonthName => {
                    let len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
                    let (name, r) = rest.split_at(len);
                    (month, rest) = (Some(month_named(name)?), r);
                }
            }
        }
        let date = Date::from_calendar_date(year?, Month::try_from(month?).ok()?, day?).ok()?;
        let time = match (rest, self.clock) {
            ("", _) => None,
            (r, Some(clock)) => Some(parse_time(r.strip_prefix([' ', 'T'])?.trim_start(), clock)?),
            // A date-only format ignores a trailing time of day.
            (r, None) => {
                let t = r.strip_prefix(' ')?.trim();
                if !t.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.') {
                    return None;
                }
                None
            }
        };
        Some(Parsed { date, time })
    }
}

/// The date part of a spelling and its clock, if it has one.
fn split_clock(spelling: &str) -> Option<(&str, Option<Clock>)> {
    for (suffix, clock) in [
        ("HH:mm:ss", Clock::H24 { seconds: true }),
        ("HH:mm", Clock::H24 { seconds: false }),
        ("hh:mm:ss A", Clock::H12 { seconds: true }),
        ("hh:mm A", Clock::H12 { seconds: false }),
    ] {
        if let Some(date) = spelling.strip_suffix(suffix) {
            let date = date.strip_suffix([' ', 'T'])?;
            return Some((date, Some(clock)));
        }
    }
    Some((spelling, None))
}

/// Between `min` and `max` ASCII digits at the start of `s`, as a number.
fn digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let len = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len < min {
        return None;
    }
    Some((s[..len].parse().ok()?, &s[len..]))
}

fn month_named(name: &str) -> Option<u8> {
    let name = name.to_ascii_lowercase();
    if name.len() < 3 {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| *m == name || (name.len() == 3 && m.starts_with(&name)))
        .or_else(|| (name == "sept").then_some(8))?;
    Some(month as u8 + 1)
}

fn parse_time(s: &str, clock: Clock) -> Option<(Time, UtcOffset)> {
    let (hour, r) = digits(s, 1, 2)?;
    let r = r.strip_prefix(':')?;
    let (minute, mut r) = digits(r, 2, 2)?;
    let mut second = 0;
    let seconds = matches!(clock, Clock::H24 { seconds: true } | Clock::H12 { seconds: true });
    if let Some(after) = r.strip_prefix(':') {
        let (s, after) = digits(after, 2, 2)?;
        second = s;
        r = after;
        if let Some(fraction) = r.strip_prefix('.') {
            let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
            r = &fraction[len..];
        }
    } else if seconds {
        return None;
    }
    let hour = match clock {
        Clock::H24 { .. } => hour,
        Clock::H12 { .. } => {
            let r2 = r.trim_start();
            let (pm, after) =
                if let Some(a) = strip_ci(r2, "pm") { (true, a) } else { (false, strip_ci(r2, "am")?) };
            r = after;
            if !(1..=12).contains(&hour) {
                return None;
            }
            (hour % 12) + if pm { 12 } else { 0 }
        }
    };
    let offset = parse_offset(r.trim_start())?;
    let time =
        Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?)
            .ok()?;
    Some((time, offset))
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Nothing (UTC), `Z`, `±HH:MM` or `±HHMM`.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    match s {
        "" | "Z" | "z" => return Some(UtcOffset::UTC),
        _ => {}
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &s[1..];
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => body.split_at(2),
        None => return None,
    };
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &str, value: &str) -> Option<String> {
        let f = DateFormat::parse(format, None).unwrap_or_else(|| panic!("{format} is a format"));
        f.parse_value(value).map(|p| if p.time.is_some() { p.rfc3339_utc() } else { p.date_string() })
    }

    #[test]
    fn numeric_dates_in_every_order() {
        let cases = [
            ("YYYY-MM-DD", "2024-02-29", Some("2024-02-29")),
            ("MM/DD/YYYY", "2/9/2024", Some("2024-02-09")),
            ("M/D/YYYY", "2/9/2024", Some("2024-02-09")),
            ("DD/MM/YYYY", "09/02/2024", Some("2024-02-09")),
            ("DD.MM.YYYY", "29.02.2024", Some("2024-02-29")),
            ("YYYYMMDD", "20240229", Some("2024-02-29")),
            ("DDMMYYYY", "29022024", Some("2024-02-29")),
            ("DD.MM.YYYY", "29.02.2023", None),
            ("MM/DD/YYYY", "13/01/2024", None),
            ("YYYYMMDD", "2024229", None),
            ("YYYY-MM-DD", "24-02-29", None),
            ("MM/DD/YYYY", "02/29/2024 junk", None),
            ("MM/DD/YYYY", "02/29/2024 00:00:00", Some("2024-02-29")),
        ];
        for (format, value, want) in cases {
            assert_eq!(parse(format, value).as_deref(), want, "{format} {value}");
        }
    }

    #[test]
    fn month_names_and_two_digit_years() {
        let cases = [
            ("DD-MMM-YYYY", "01-Mar-2024", Some("2024-03-01")),
            ("DD-MMM-YYYY", "01-MAR-2024", Some("2024-03-01")),
            ("DD-MMM-YYYY", "01-March-2024", Some("2024-03-01")),
            ("DD-MMM-YY", "15-Sept-23", Some("2023-09-15")),
            ("MMMM D, YYYY", "March 5, 2024", Some("2024-03-05")),
            ("DD MMM YYYY", "5 mar 2024", Some("2024-03-05")),
            ("DD-MMM-YYYY", "01-Mrz-2024", None),
            ("DD-MMM-YYYY", "01-Ma-2024", None),
            ("DD/MM/YY", "31/12/68", Some("2068-12-31")),
            ("DD/MM/YY", "01/01/69", Some("1969-01-01")),
            ("DD/MM/YY", "01/01/2024", None),
            ("YYMMDD", "240229", Some("2024-02-29")),
        ];
        for (format, value, want) in cases {
            assert_eq!(parse(format, value).as_deref(), want, "{format} {value}");
        }
        let pivot_30 = DateFormat::parse("DD/MM/YY", Some(30)).unwrap();
        assert_eq!(pivot_30.parse_value("01/01/45").unwrap().date_string(), "1945-01-01");
        assert_eq!(pivot_30.parse_value("01/01/29").unwrap().date_string(), "2029-01-01");
    }

    #[test]
    fn date_times_with_offsets_become_utc() {
        let cases = [
            ("YYYY-MM-DD HH:mm:ss", "2024-03-15 13:30:05", Some("2024-03-15T13:30:05Z")),
            ("YYYY-MM-DDTHH:mm:ss", "2024-03-15T13:30:05.123+01:00", Some("2024-03-15T12:30:05Z")),
            ("YYYY-MM-DD HH:mm", "2024-03-15 23:30 -0200", Some("2024-03-16T01:30:00Z")),
            ("M/D/YYYY hh:mm A", "3/15/2024 1:30 PM", Some("2024-03-15T13:30:00Z")),
            ("M/D/YYYY hh:mm A", "3/15/2024 12:05 am", Some("2024-03-15T00:05:00Z")),
            ("M/D/YYYY hh:mm:ss A", "3/15/2024 12:05:09 PM", Some("2024-03-15T12:05:09Z")),
            ("M/D/YYYY hh:mm A", "3/15/2024 13:30 PM", None),
            ("YYYY-MM-DD HH:mm:ss", "2024-03-15 25:00:00", None),
            ("YYYY-MM-DD HH:mm:ss", "2024-03-15 13:30", None),
            ("YYYY-MM-DD HH:mm", "2024-03-15 13:30 CET", None),
            // The time may be left out: midnight.
            ("YYYY-MM-DD HH:mm", "2024-03-15", Some("2024-03-15")),
        ];
        for (format, value, want) in cases {
            assert_eq!(parse(format, value).as_deref(), want, "{format} {value}");
        }
    }

    #[test]
    fn spellings_that_are_not_formats() {
        for bad in
            ["", "YYYY-MM", "YYYY-MM-DD-DD", "DD-MON-YY", "YY/MM/DD/", "YYYY--MM-DD", "QQ/MM/YYYY", "HH:mm"]
        {
            assert!(DateFormat::parse(bad, None).is_none(), "{bad}");
        }
        assert!(DateFormat::parse("DD/MM/YY", Some(100)).is_none(), "a pivot is 0 to 99");
    }
}
