//! The `Date` header value for the fast lane, formatted at most once a second per thread
//! (hyper keeps the same kind of cache for the answers it writes).

use std::{
    cell::RefCell,
    time::{SystemTime, UNIX_EPOCH},
};

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const LEN: usize = 29;

thread_local! {
    static CACHE: RefCell<(u64, [u8; LEN])> = const { RefCell::new((u64::MAX, [b' '; LEN])) };
}

/// Calls `f` with the current `Date` value.
pub(super) fn with<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(cached, value)| {
        if *cached != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == LEN {
                value.copy_from_slice(formatted.as_bytes());
                *cached = second;
            }
        }
        f(value)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_http_date_of_now() {
        let value = super::with(<[u8]>::to_vec);
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&value).expect("ASCII"))
            .expect("an HTTP date");
        let age = std::time::SystemTime::now()
            .duration_since(parsed)
            .expect("not in the future");
        assert!(age.as_secs() <= 1, "{age:?}");
    }
}
