//! Secrets behind one small interface: Secrets Manager in Lambda (fetched once per cold start and
//! cached), the environment or a generated file in the data dir locally.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use tokio::sync::Mutex;

/// Why a secret could not be had. Never carries the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} not found")]
    NotFound { name: String },
    /// The secret is there but cannot serve (too short to sign with, say).
    #[error("secret {name} is unusable: {reason}")]
    Unusable { name: String, reason: &'static str },
    #[error("secret {name} could not be read")]
    Unavailable {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where secrets come from.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret named `name` (a Secrets Manager id, or a local variable name).
    async fn get(&self, name: &str) -> Result<SecretString, SecretError>;
}

/// AWS Secrets Manager through the real SDK client; each secret is fetched once and cached for the
/// life of the process (a Lambda execution environment).
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<String, SecretString>>,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> SecretsManager {
        SecretsManager {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl SecretSource for SecretsManager {
    async fn get(&self, name: &str) -> Result<SecretString, SecretError> {
        let mut cache = self.cache.lock().await;
        if let Some(s) = cache.get(name) {
            return Ok(s.clone());
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| {
                let not_found = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                if not_found {
                    SecretError::NotFound {
                        name: name.to_owned(),
                    }
                } else {
                    SecretError::Unavailable {
                        name: name.to_owned(),
                        source: Box::new(e),
                    }
                }
            })?;
        let value =
            out.secret_string()
                .map(str::to_owned)
                .ok_or_else(|| SecretError::NotFound {
                    name: name.to_owned(),
                })?;
        let secret = SecretString::from(value);
        cache.insert(name.to_owned(), secret.clone());
        Ok(secret)
    }
}

/// Fixed secrets (tests, benchmarks).
pub struct StaticSecrets(pub HashMap<String, SecretString>);

#[async_trait::async_trait]
impl SecretSource for StaticSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, SecretError> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
            })
    }
}

/// Local secrets: the environment variable `name` if set, else a random value generated once and
/// kept in `<data dir>/secrets/<name>` (mode 0600), so tokens survive restarts.
pub struct LocalSecrets {
    dir: PathBuf,
}

impl LocalSecrets {
    pub fn new(data_dir: impl Into<PathBuf>) -> LocalSecrets {
        LocalSecrets {
            dir: data_dir.into().join("secrets"),
        }
    }
}

#[async_trait::async_trait]
impl SecretSource for LocalSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, SecretError> {
        if let Ok(v) = std::env::var(name)
            && !v.is_empty()
        {
            return Ok(SecretString::from(v));
        }
        let unavailable = |e: std::io::Error| SecretError::Unavailable {
            name: name.to_owned(),
            source: Box::new(e),
        };
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(v) if !v.trim().is_empty() => return Ok(SecretString::from(v.trim().to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(e)),
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| unavailable(std::io::Error::other(e)))?;
        let value = URL_SAFE_NO_PAD.encode(bytes);
        std::fs::create_dir_all(&self.dir).map_err(unavailable)?;
        write_private(&path, &value).map_err(unavailable)?;
        Ok(SecretString::from(value))
    }
}

fn write_private(path: &std::path::Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(value.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn a_local_secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalSecrets::new(dir.path());
        let a = s.get("INSIGHTS_TEST_UNSET_SECRET").await.unwrap();
        let b = LocalSecrets::new(dir.path())
            .get("INSIGHTS_TEST_UNSET_SECRET")
            .await
            .unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().len() >= 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets/INSIGHTS_TEST_UNSET_SECRET"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
