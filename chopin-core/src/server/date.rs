//! The `Date` header line that ends every fast-lane head, formatted at most once a second
//! per thread (hyper keeps the same kind of cache for the answers it writes).

use std::{
    cell::RefCell,
    time::{SystemTime, UNIX_EPOCH},
};

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const LEN: usize = 29;

const NAME: &[u8] = b"date: ";

/// The date line and the blank line after it: one copy per answer instead of three.
const LINE: usize = NAME.len() + LEN + 4;

const fn blank_line() -> [u8; LINE] {
    let mut line = [b' '; LINE];
    let mut at = 0;
    while at < NAME.len() {
        line[at] = NAME[at];
        at += 1;
    }
    line[LINE - 4] = b'\r';
    line[LINE - 3] = b'\n';
    line[LINE - 2] = b'\r';
    line[LINE - 1] = b'\n';
    line
}

thread_local! {
    static CACHE: RefCell<(u64, [u8; LINE])> = const { RefCell::new((u64::MAX, blank_line())) };
}

/// Calls `f` with `date: <now>\r\n\r\n`, the end of a response head.
pub(super) fn with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(cached, line)| {
        if *cached != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == LEN {
                line[NAME.len()..NAME.len() + LEN].copy_from_slice(formatted.as_bytes());
                *cached = second;
            }
        }
        f(line)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_the_date_line_of_now() {
        let line = super::with(<[u8]>::to_vec);
        let line = std::str::from_utf8(&line).expect("ASCII");
        let value = line
            .strip_prefix("date: ")
            .and_then(|rest| rest.strip_suffix("\r\n\r\n"))
            .expect("a date line ending the head");
        let parsed = httpdate::parse_http_date(value).expect("an HTTP date");
        let age = std::time::SystemTime::now()
            .duration_since(parsed)
            .expect("not in the future");
        assert!(age.as_secs() <= 1, "{age:?}");
    }
}
