//! argon2id password hashes, computed on the blocking pool: a hash takes tens of
//! milliseconds of CPU, which would stall every connection on an async thread.
//!
//! At most one hash per core runs at a time (each takes 19 MiB): a burst of logins
//! queues here, bounded by the request timeout, instead of starting hundreds of
//! blocking threads and gigabytes of hashing memory.

use std::sync::{LazyLock, OnceLock};

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
        let hash = match &hash {
            Some(hash) => hash.as_str(),
            None => dummy_hash()?,
        };
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

fn dummy_hash() -> Result<&'static str, ApiError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_now("not a password anyone has")?;
    Ok(DUMMY.get_or_init(|| hash))
}

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Computes the hash unknown emails are checked against, so the first such login costs
/// no more than any other.
pub(crate) async fn prepare() -> Result<(), ApiError> {
    blocking(|| dummy_hash().map(drop)).await?
}

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
}
