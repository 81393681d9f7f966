//! How a setting is read from its variable, checked when set in code, and described in
//! errors and in docs/configuration.md.

use std::{fmt, time::Duration};

use crate::error::Error;

/// What a variable accepts: a whole number from `min` to `max` (of `unit` seconds, for a
/// duration), `note` saying what `0` means; or, with no range, text that `valid` approves.
#[derive(Clone, Copy)]
pub(super) struct Rule {
    what: &'static str,
    min: u64,
    max: u64,
    unit: u64,
    note: &'static str,
    pub(super) valid: fn(&str) -> bool,
}

/// A number of `what` from `min` to `max`.
pub(super) const fn count(what: &'static str, min: u64, max: u64) -> Rule {
    let (unit, note, valid) = (1, "", |_: &str| true);
    Rule {
        what,
        min,
        max,
        unit,
        note,
        valid,
    }
}

/// Whole seconds up to `max`; `0` is refused unless `zero` says what it means.
pub(super) const fn seconds(max: u64, zero: &'static str) -> Rule {
    let min = if zero.is_empty() { 1 } else { 0 };
    count("a whole number of seconds", min, max).note(zero)
}

/// Whole hours from 1 to `max`.
pub(super) const fn hours(max: u64) -> Rule {
    let rule = count("a whole number of hours", 1, max);
    Rule { unit: 3600, ..rule }
}

/// Text that `valid` approves, `what` saying what.
pub(super) const fn text(what: &'static str, valid: fn(&str) -> bool) -> Rule {
    Rule {
        valid,
        ..count(what, 0, 0)
    }
}

/// The rule of a [`Named`] setting: its names say it all.
pub(super) const ONE_OF: Rule = text("", |_| true);

impl Rule {
    /// Says what `0` means, after the range.
    pub(super) const fn note(self, note: &'static str) -> Self {
        Self { note, ..self }
    }

    fn expected(&self) -> String {
        let Self { what, min, max, .. } = *self;
        match (max, self.note) {
            (0, _) => what.to_owned(),
            (_, "") => format!("{what} from {min} to {max}"),
            (_, note) => format!("{what} from {min} to {max} ({note})"),
        }
    }

    fn number(&self, var: &'static str, text: &str) -> Result<u64, Error> {
        let n = text.trim().parse().ok();
        let n = n.filter(|n| (self.min..=self.max).contains(n));
        n.ok_or_else(|| Error::invalid(var, text, self.expected()))
    }

    /// What a duration set in code may be: finer than whole units, not longer than `max`.
    fn span(&self, above_zero: bool, or_none: &str) -> String {
        let lower = if above_zero { "above zero and " } else { "" };
        let unit = if self.unit == 1 { "seconds" } else { "hours" };
        format!("a duration {lower}at most {} {unit}{or_none}", self.max)
    }
}

/// A type a setting may have.
pub(super) trait Setting: Sized + fmt::Debug {
    /// `text`, the value of `var`, read under `rule`.
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error>;

    /// Whether a value set in code keeps `rule`; `field` names it in the error.
    fn check(&self, _var: &'static str, _field: &'static str, _rule: &Rule) -> Result<(), Error> {
        Ok(())
    }

    /// What `rule` accepts, in the words of errors and docs.
    fn expected(rule: &Rule) -> String {
        rule.expected()
    }

    /// The value as its variable would say it, for docs/configuration.md.
    #[cfg(test)]
    fn show(&self, _: &Rule) -> String {
        format!("{self:?}")
    }
}

fn refused(
    field: &'static str,
    var: &'static str,
    value: impl fmt::Debug,
    expected: String,
) -> Error {
    Error::invalid_field(field, var, format!("{value:?}"), expected)
}

macro_rules! numbers {
    ($($n:ty),+) => {$(
        impl Setting for $n {
            fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
                let n = rule.number(var, text)?;
                Self::try_from(n).map_err(|_| Error::invalid(var, text, rule.expected()))
            }

            fn check(&self, var: &'static str, field: &'static str, rule: &Rule) -> Result<(), Error> {
                match (rule.min..=rule.max).contains(&(*self as u64)) {
                    true => Ok(()),
                    false => Err(refused(field, var, self, rule.expected())),
                }
            }
        }
    )+};
}

numbers!(u16, u32, usize);

impl Setting for Duration {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        Ok(Self::from_secs(rule.number(var, text)? * rule.unit))
    }

    fn check(&self, var: &'static str, field: &'static str, rule: &Rule) -> Result<(), Error> {
        let above_zero = rule.min > 0;
        if *self > Self::from_secs(rule.max * rule.unit) || (above_zero && self.is_zero()) {
            return Err(refused(field, var, self, rule.span(above_zero, "")));
        }
        Ok(())
    }

    #[cfg(test)]
    fn show(&self, rule: &Rule) -> String {
        (self.as_secs() / rule.unit).to_string()
    }
}

/// `0` is `None`, so a duration set in code must be above zero.
impl Setting for Option<Duration> {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        Ok(Some(Duration::read(var, text, rule)?).filter(|d| !d.is_zero()))
    }

    fn check(&self, var: &'static str, field: &'static str, rule: &Rule) -> Result<(), Error> {
        match self {
            Some(d) if d.is_zero() || d.check(var, field, rule).is_err() => {
                Err(refused(field, var, d, rule.span(true, ", or None")))
            }
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    fn show(&self, rule: &Rule) -> String {
        self.unwrap_or_default().show(rule)
    }
}

/// Text its rule approves, refused by the same message when set in code.
impl Setting for String {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        match (rule.valid)(text) {
            true => Ok(text.to_owned()),
            false => Err(Error::invalid(var, text, rule.expected())),
        }
    }

    fn check(&self, var: &'static str, _: &'static str, rule: &Rule) -> Result<(), Error> {
        Self::read(var, self, rule).map(drop)
    }

    #[cfg(test)]
    fn show(&self, _: &Rule) -> String {
        self.clone()
    }
}

/// A value named by one of a fixed set of words, matched without regard to case.
pub(super) trait Named: Copy + PartialEq + fmt::Debug + 'static {
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

impl<T: Named> Setting for T {
    fn read(var: &'static str, text: &str, rule: &Rule) -> Result<Self, Error> {
        let mut names = T::NAMES.iter();
        let named = names.find(|(name, _)| name.eq_ignore_ascii_case(text.trim()));
        let refused = || Error::invalid(var, text, Self::expected(rule));
        named.map(|&(_, value)| value).ok_or_else(refused)
    }

    fn expected(_: &Rule) -> String {
        let quoted: Vec<String> = T::NAMES.iter().map(|(n, _)| format!("{n:?}")).collect();
        match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.concat(),
        }
    }

    #[cfg(test)]
    fn show(&self, _: &Rule) -> String {
        self.name().to_owned()
    }
}
