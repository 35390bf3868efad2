//! Password hashing with Argon2id.

use std::sync::OnceLock;

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

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        assert_ne!(
            hash("same password!").unwrap(),
            hash("same password!").unwrap()
        );
    }
}
