//! The kinds of setting: how each is read from its variable, checked when set in code,
//! and described in errors and in docs/configuration.md.

use std::{fmt, ops::RangeInclusive, str::FromStr, time::Duration};

use crate::error::Error;

/// How a setting of type `T` is parsed and checked.
pub(super) trait Rule<T> {
    /// The value of `var` as written in the environment.
    fn parse(&self, var: &'static str, text: &str) -> Result<T, Error>;

    /// Whether a value set in code keeps the rule; `field` names it in the error.
    fn check(&self, var: &'static str, field: &'static str, value: &T) -> Result<(), Error>;

    /// What the variable accepts, in the words of its error message.
    fn expected(&self) -> String;

    /// `value` as it would be written in the variable, for docs/configuration.md.
    #[cfg(test)]
    fn show(&self, value: &T) -> String;
}

/// A whole number within `range`; `note`, if any, follows the range in messages.
pub(super) struct Count<N> {
    what: &'static str,
    range: RangeInclusive<N>,
    note: &'static str,
}

/// A number of `what` within `range`.
pub(super) fn count<N>(what: &'static str, range: RangeInclusive<N>) -> Count<N> {
    let note = "";
    Count { what, range, note }
}

impl<N> Count<N> {
    pub(super) fn note(self, note: &'static str) -> Self {
        Self { note, ..self }
    }
}

impl<N: Copy + FromStr + PartialOrd + fmt::Display> Rule<N> for Count<N> {
    fn parse(&self, var: &'static str, text: &str) -> Result<N, Error> {
        match text.trim().parse::<N>() {
            Ok(n) if self.range.contains(&n) => Ok(n),
            _ => Err(Error::invalid(var, text, self.expected())),
        }
    }

    fn check(&self, var: &'static str, field: &'static str, n: &N) -> Result<(), Error> {
        if self.range.contains(n) {
            return Ok(());
        }
        Err(Error::invalid_field(
            field,
            var,
            n.to_string(),
            self.expected(),
        ))
    }

    fn expected(&self) -> String {
        let (min, max) = (self.range.start(), self.range.end());
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.note)
        };
        format!("{} from {min} to {max}{note}", self.what)
    }

    #[cfg(test)]
    fn show(&self, n: &N) -> String {
        n.to_string()
    }
}

/// A duration written as a whole number of units, at most `max` of them, so no deadline
/// computed from it can overflow; for an `Option<Duration>`, `0` is `None`.
pub(super) struct Span {
    units: Count<u64>,
    /// Seconds in one unit, and its name.
    unit: (u64, &'static str),
    zero: Zero,
}

/// What `0` means for a [`Span`]: nothing (it must be positive), `None` (the note says
/// what, e.g. "0 disables"), or a zero duration (e.g. "0 closes connections at once").
#[derive(Clone, Copy)]
pub(super) enum Zero {
    Refused,
    Disables(&'static str),
    Allowed(&'static str),
}

/// Up to `max` seconds.
pub(super) fn seconds(max: u64, zero: Zero) -> Span {
    let what = "a whole number of seconds";
    let units = match zero {
        Zero::Refused => count(what, 1..=max),
        Zero::Disables(note) | Zero::Allowed(note) => count(what, 0..=max).note(note),
    };
    Span {
        units,
        unit: (1, "seconds"),
        zero,
    }
}

/// From 1 to `max` hours.
pub(super) fn hours(max: u64) -> Span {
    Span {
        units: count("a whole number of hours", 1..=max),
        unit: (3600, "hours"),
        zero: Zero::Refused,
    }
}

impl Span {
    fn duration(&self, var: &'static str, text: &str) -> Result<Duration, Error> {
        Ok(Duration::from_secs(
            self.units.parse(var, text)? * self.unit.0,
        ))
    }

    /// A duration set in code may be finer than whole units, not longer than the maximum.
    fn allows(&self, var: &'static str, field: &'static str, value: Duration) -> Result<(), Error> {
        let zero_ok = matches!(self.zero, Zero::Allowed(_));
        let longest = Duration::from_secs(self.units.range.end() * self.unit.0);
        if value <= longest && (zero_ok || !value.is_zero()) {
            return Ok(());
        }
        let lower = if zero_ok { "" } else { "above zero and " };
        let none = if matches!(self.zero, Zero::Disables(_)) {
            ", or None"
        } else {
            ""
        };
        let (max, unit) = (self.units.range.end(), self.unit.1);
        let expected = format!("a duration {lower}at most {max} {unit}{none}");
        Err(Error::invalid_field(
            field,
            var,
            format!("{value:?}"),
            expected,
        ))
    }
}

impl Rule<Duration> for Span {
    fn parse(&self, var: &'static str, text: &str) -> Result<Duration, Error> {
        self.duration(var, text)
    }

    fn check(&self, var: &'static str, field: &'static str, value: &Duration) -> Result<(), Error> {
        self.allows(var, field, *value)
    }

    fn expected(&self) -> String {
        self.units.expected()
    }

    #[cfg(test)]
    fn show(&self, value: &Duration) -> String {
        (value.as_secs() / self.unit.0).to_string()
    }
}

impl Rule<Option<Duration>> for Span {
    fn parse(&self, var: &'static str, text: &str) -> Result<Option<Duration>, Error> {
        Ok(Some(self.duration(var, text)?).filter(|d| !d.is_zero()))
    }

    fn check(
        &self,
        var: &'static str,
        field: &'static str,
        value: &Option<Duration>,
    ) -> Result<(), Error> {
        value.map_or(Ok(()), |d| self.allows(var, field, d))
    }

    fn expected(&self) -> String {
        self.units.expected()
    }

    #[cfg(test)]
    fn show(&self, value: &Option<Duration>) -> String {
        (value.unwrap_or_default().as_secs() / self.unit.0).to_string()
    }
}

/// A value named by one of a fixed set of words, matched without regard to case.
pub(super) trait Named: Copy + PartialEq + 'static {
    const NAMES: &'static [(&'static str, Self)];

    fn name(self) -> &'static str {
        let named = Self::NAMES.iter().find(|(_, value)| *value == self);
        named.map_or("", |(name, _)| name)
    }
}

/// `on` or `off`.
impl Named for bool {
    const NAMES: &'static [(&'static str, Self)] = &[("on", true), ("off", false)];
}

/// The rule of a [`Named`] setting.
pub(super) struct OneOf;

impl<T: Named> Rule<T> for OneOf {
    fn parse(&self, var: &'static str, text: &str) -> Result<T, Error> {
        let named = T::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()));
        let expected = || Error::invalid(var, text, Rule::<T>::expected(self));
        named.map(|(_, value)| *value).ok_or_else(expected)
    }

    fn check(&self, _: &'static str, _: &'static str, _: &T) -> Result<(), Error> {
        Ok(())
    }

    fn expected(&self) -> String {
        let quoted: Vec<String> = T::NAMES
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.concat(),
        }
    }

    #[cfg(test)]
    fn show(&self, value: &T) -> String {
        value.name().to_owned()
    }
}

/// A setting of its own kind: parsed by `parse`, checked by `check`.
pub(super) struct Text<T: 'static> {
    pub(super) expected: &'static str,
    pub(super) parse: fn(&'static str, &str) -> Result<T, Error>,
    pub(super) check: fn(&'static str, &T) -> Result<(), Error>,
    #[cfg(test)]
    pub(super) show: fn(&T) -> String,
}

impl<T> Rule<T> for Text<T> {
    fn parse(&self, var: &'static str, text: &str) -> Result<T, Error> {
        (self.parse)(var, text)
    }

    fn check(&self, var: &'static str, _: &'static str, value: &T) -> Result<(), Error> {
        (self.check)(var, value)
    }

    fn expected(&self) -> String {
        self.expected.to_owned()
    }

    #[cfg(test)]
    fn show(&self, value: &T) -> String {
        (self.show)(value)
    }
}
