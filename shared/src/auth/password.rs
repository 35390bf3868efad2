//! Password hashing with Argon2id.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): memory-hard enough
/// to make offline guessing expensive, cheap enough (tens of ms) for a 256 MB Lambda to answer a
/// login well inside API Gateway's timeout. Stored hashes carry their parameters, so raising these
/// later still verifies old hashes.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Result<Argon2<'static>, argon2::Error> {
    Ok(Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(MEMORY_KIB, PASSES, LANES, None)?,
    ))
}

/// Why hashing failed (only the RNG or the parameters can make it fail).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Hashes a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) with a random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let argon = hasher().map_err(|_| HashError)?;
    let hashed: PasswordHash = argon
        .hash_password(password.as_bytes())
        .map_err(|_| HashError)?;
    Ok(hashed.to_string())
}

/// True when `password` matches `phc`. The comparison of the derived key is constant-time.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(argon) = hasher() else { return false };
    argon.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Spends the same work as [`verify`] against a hash nobody has, so an unknown email takes as long
/// as a wrong password and the two cannot be told apart by timing.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("no account has this password").unwrap_or_default());
    let _ = verify(password, dummy);
}

/// How long a request waits for a free hashing slot before it is told to come back.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Slots for password work: each hash holds 19 MiB and a core for tens of ms, so running more at
/// once than there are cores only adds memory, never throughput.
fn slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// Why password work did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every slot stayed taken for [`SLOT_WAIT`]: the caller answers `503` with `Retry-After`.
    #[error("too many password checks at once")]
    Busy,
    #[error("the password task failed")]
    Failed,
}

/// Runs password work (a hash, a verification) on the blocking pool once a slot is free: memory
/// stays at (slots × 19 MiB) however many requests arrive, and a request that cannot get a slot
/// soon is refused rather than queued without limit.
pub async fn in_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PoolError> {
    let permit = tokio::time::timeout(SLOT_WAIT, slots().acquire())
        .await
        .map_err(|_| PoolError::Busy)?
        .map_err(|_| PoolError::Failed)?;
    let out = tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| PoolError::Failed);
    drop(permit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(in_pool(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = hash("a password to hash");
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            // Some may be refused as busy on a slow machine; none may overlap past the slots.
            let _ = t.await.unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= slots().available_permits().max(1));
        assert!(most.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        assert_ne!(
            hash("same password!").unwrap(),
            hash("same password!").unwrap()
        );
    }
}
