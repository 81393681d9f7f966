//! argon2id password hashes, computed on the blocking pool: a hash takes tens of
//! milliseconds of CPU, which would stall every connection on an async thread.
//!
//! At most one hash per core runs at a time (each takes 19 MiB): a burst of logins
//! queues here, bounded by the request timeout, instead of starting hundreds of
//! blocking threads and gigabytes of hashing memory.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use crate::api_error::ApiError;

/// A PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub(crate) async fn hash(password: String) -> Result<String, ApiError> {
    blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches `hash`. With no hash (unknown user) a dummy hash is
/// checked instead, so the answer takes as long as for a known user.
pub(crate) async fn verify(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    blocking(move || {
        let known = hash.is_some();
        let hash = hash.as_deref().unwrap_or(DUMMY_HASH);
        let parsed = PasswordHash::new(hash).map_err(|error| {
            tracing::error!(%error, "stored password hash is malformed");
            ApiError::internal()
        })?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn hash_now(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| {
            tracing::error!(%error, "cannot hash a password");
            ApiError::internal()
        })
}

/// What unknown emails are checked against: a hash of a password nobody has, with the
/// parameters of `Argon2::default()` (checked by a test), so checking it costs what
/// checking a real one does. A constant rather than a hash made at startup: making one
/// takes 19 MiB that the allocator then keeps, doubling the idle footprint.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$TrV9T2VwOfZoj/I0nCfzdg$y9Jauyzg8yZms5MBg5p5Xo0J+BtsjcEgdJIGpvRN6F4";

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    // The semaphore is never closed, so acquiring only waits.
    let permit = HASHING.acquire().await.map_err(|_| ApiError::internal())?;
    // Held by the hash itself: a request that times out does not free its slot early.
    let work = move || {
        let _permit = permit;
        work()
    };
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "password hashing task failed");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let a = hash("correct horse".into()).await.unwrap();
        let b = hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            verify("correct horse".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(a)).await.unwrap());
        assert!(!verify("correct horse".into(), None).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash_now("anything").unwrap();
        let params = |hash: &str| hash.rsplitn(3, '$').nth(2).map(str::to_owned);
        assert_eq!(
            params(DUMMY_HASH),
            params(&real),
            "same algorithm, version and cost"
        );
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
