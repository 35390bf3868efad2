//! Where each shop's Admin API access token is kept: one Secrets Manager secret per tenant on AWS
//! (cached per cold start), or the embedded store encrypted at rest (ChaCha20-Poly1305) locally.

use std::collections::HashMap;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::domain::TenantId;
use crate::store::items::sync::SealedToken;
use crate::store::keys::TenantItem;
use crate::store::{Store, StoreError, WriteOp};

/// Why the vault failed. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("token vault unavailable")]
    Unavailable {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the stored token could not be decrypted (was the encryption key changed?)")]
    Undecryptable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the vault keeps for a shop: its access token and, for an expiring offline token (OAuth),
/// the refresh token and both expiries. A token without a refresh token (`PUT /tenants/me/shopify`)
/// is kept as the bare token, as before; a pair as one JSON document, so both are replaced
/// together.
#[derive(Clone, Debug)]
pub struct ShopTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (`None`: it does not).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub refresh_token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPair {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    refresh_token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ShopTokens {
    /// A token that does not expire and cannot be refreshed.
    pub fn access_only(token: SecretString) -> ShopTokens {
        ShopTokens {
            access_token: token,
            refresh_token: None,
            expires_at: None,
            refresh_token_expires_at: None,
        }
    }

    /// The secret the vault keeps.
    pub fn encode(&self) -> SecretString {
        let Some(refresh) = &self.refresh_token else {
            return self.access_token.clone();
        };
        let pair = StoredPair {
            access_token: self.access_token.expose_secret().to_owned(),
            refresh_token: refresh.expose_secret().to_owned(),
            expires_at: self.expires_at,
            refresh_token_expires_at: self.refresh_token_expires_at,
        };
        // Serializing strings and timestamps cannot fail.
        SecretString::from(serde_json::to_string(&pair).unwrap_or_default())
    }

    /// What a kept secret holds: a pair, or a bare access token.
    pub fn decode(secret: &SecretString) -> ShopTokens {
        let text = secret.expose_secret();
        match serde_json::from_str::<StoredPair>(text) {
            Ok(p) if text.starts_with('{') => ShopTokens {
                access_token: SecretString::from(p.access_token),
                refresh_token: Some(SecretString::from(p.refresh_token)),
                expires_at: p.expires_at,
                refresh_token_expires_at: p.refresh_token_expires_at,
            },
            _ => ShopTokens::access_only(secret.clone()),
        }
    }
}

/// Keeps one token per tenant.
#[async_trait::async_trait]
pub trait TokenVault: Send + Sync {
    async fn put(&self, tenant: TenantId, token: &SecretString) -> Result<(), VaultError>;
    async fn get(&self, tenant: TenantId) -> Result<Option<SecretString>, VaultError>;
    async fn delete(&self, tenant: TenantId) -> Result<(), VaultError>;
    /// What the vault holds now, past any cache (another process may have replaced it).
    async fn reload(&self, tenant: TenantId) -> Result<Option<SecretString>, VaultError> {
        self.get(tenant).await
    }
}

/// No vault configured (functions that never touch shop tokens).
pub struct NoVault;

#[async_trait::async_trait]
impl TokenVault for NoVault {
    async fn put(&self, _: TenantId, _: &SecretString) -> Result<(), VaultError> {
        Err(VaultError::Unavailable {
            source: "no token vault is configured".into(),
        })
    }
    async fn get(&self, _: TenantId) -> Result<Option<SecretString>, VaultError> {
        Err(VaultError::Unavailable {
            source: "no token vault is configured".into(),
        })
    }
    /// Holds no token, so there is none to destroy (app/uninstalled and shop/redact succeed).
    async fn delete(&self, _: TenantId) -> Result<(), VaultError> {
        Ok(())
    }
}

/// AWS Secrets Manager: the secret `<prefix><tenant>` per tenant, through the real SDK client.
pub struct SecretsManagerVault {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
    cache: Mutex<HashMap<TenantId, SecretString>>,
}

impl SecretsManagerVault {
    /// `prefix` like `insights/prod/shopify-token/`.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        prefix: impl Into<String>,
    ) -> SecretsManagerVault {
        SecretsManagerVault {
            client,
            prefix: prefix.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn name(&self, t: TenantId) -> String {
        format!("{}{t}", self.prefix)
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> VaultError {
    VaultError::Unavailable {
        source: Box::new(e),
    }
}

#[async_trait::async_trait]
impl TokenVault for SecretsManagerVault {
    async fn put(&self, tenant: TenantId, token: &SecretString) -> Result<(), VaultError> {
        let name = self.name(tenant);
        let created = self
            .client
            .create_secret()
            .name(&name)
            .description("Shopify Admin API access token of one Shopify Insights tenant")
            .secret_string(token.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(token.expose_secret())
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.cache.lock().await.insert(tenant, token.clone());
        Ok(())
    }

    async fn get(&self, tenant: TenantId) -> Result<Option<SecretString>, VaultError> {
        if let Some(t) = self.cache.lock().await.get(&tenant) {
            return Ok(Some(t.clone()));
        }
        match self
            .client
            .get_secret_value()
            .secret_id(self.name(tenant))
            .send()
            .await
        {
            Ok(out) => {
                let token = out
                    .secret_string()
                    .map(|s| SecretString::from(s.to_owned()));
                if let Some(t) = &token {
                    self.cache.lock().await.insert(tenant, t.clone());
                }
                Ok(token)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn reload(&self, tenant: TenantId) -> Result<Option<SecretString>, VaultError> {
        self.cache.lock().await.remove(&tenant);
        self.get(tenant).await
    }

    async fn delete(&self, tenant: TenantId) -> Result<(), VaultError> {
        self.cache.lock().await.remove(&tenant);
        match self
            .client
            .delete_secret()
            .secret_id(self.name(tenant))
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The embedded store, the token encrypted with ChaCha20-Poly1305 under a key derived from a local
/// secret (`INSIGHTS_ENCRYPTION_KEY`, or one generated into the data dir); the tenant id is the
/// associated data, so a ciphertext copied to another tenant does not decrypt.
pub struct LocalVault {
    store: Arc<dyn Store>,
    cipher: ChaCha20Poly1305,
    /// The key of earlier versions (the material's plain SHA-256): a token sealed with it is read
    /// once and sealed again with the derived key.
    legacy: ChaCha20Poly1305,
}

impl LocalVault {
    /// The sealing key is derived from `key_material` for this one use (HMAC-SHA256 under a
    /// purpose label), never the material itself nor its plain hash.
    pub fn new(store: Arc<dyn Store>, key_material: &SecretString) -> LocalVault {
        use hmac::{KeyInit as _, Mac};
        let material = key_material.expose_secret().as_bytes();
        let derived = match hmac::Hmac::<Sha256>::new_from_slice(material) {
            Ok(mut m) => {
                m.update(b"insights/local-vault/v1");
                m.finalize().into_bytes()
            }
            Err(_) => unreachable!("HMAC takes a key of any length"),
        };
        LocalVault {
            store,
            cipher: cipher(&derived),
            legacy: cipher(&Sha256::digest(material)),
        }
    }
}

/// A 32-byte key always fits ChaCha20.
fn cipher(key: &[u8]) -> ChaCha20Poly1305 {
    match ChaCha20Poly1305::new_from_slice(key) {
        Ok(c) => c,
        Err(_) => unreachable!("the key is 32 bytes"),
    }
}

#[async_trait::async_trait]
impl TokenVault for LocalVault {
    async fn put(&self, tenant: TenantId, token: &SecretString) -> Result<(), VaultError> {
        let nonce = Nonce::generate();
        let aad = tenant.to_string();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Undecryptable)?;
        let token = SealedToken {
            nonce: nonce.to_vec(),
            ciphertext: sealed,
        };
        self.store.write(vec![token.put(tenant)]).await?;
        Ok(())
    }

    async fn get(&self, tenant: TenantId) -> Result<Option<SecretString>, VaultError> {
        let Some(item) = self
            .store
            .get(&TenantItem::ShopifyToken.key(tenant))
            .await?
        else {
            return Ok(None);
        };
        let sealed = SealedToken::from_item(&item).ok_or(VaultError::Undecryptable)?;
        let nonce =
            Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| VaultError::Undecryptable)?;
        let aad = tenant.to_string();
        let payload = || Payload {
            msg: &sealed.ciphertext,
            aad: aad.as_bytes(),
        };
        let (plain, legacy) = match self.cipher.decrypt(&nonce, payload()) {
            Ok(p) => (p, false),
            Err(_) => (
                self.legacy
                    .decrypt(&nonce, payload())
                    .map_err(|_| VaultError::Undecryptable)?,
                true,
            ),
        };
        let token =
            SecretString::from(String::from_utf8(plain).map_err(|_| VaultError::Undecryptable)?);
        if legacy {
            self.put(tenant, &token).await?;
        }
        Ok(Some(token))
    }

    async fn delete(&self, tenant: TenantId) -> Result<(), VaultError> {
        let key = TenantItem::ShopifyToken.key(tenant);
        self.store
            .write(vec![WriteOp::Delete {
                key,
                condition: None,
            }])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_pair_round_trips_and_a_bare_token_stays_bare() {
        let bare = SecretString::from("shpat_abc");
        let t = ShopTokens::decode(&ShopTokens::access_only(bare.clone()).encode());
        assert_eq!(t.access_token.expose_secret(), "shpat_abc");
        assert!(t.refresh_token.is_none());
        let at = chrono::DateTime::from_timestamp(1_900_000_000, 0);
        let pair = ShopTokens {
            access_token: SecretString::from("shpua_1"),
            refresh_token: Some(SecretString::from("shprt_1")),
            expires_at: at,
            refresh_token_expires_at: at,
        };
        let back = ShopTokens::decode(&pair.encode());
        assert_eq!(back.access_token.expose_secret(), "shpua_1");
        assert_eq!(
            back.refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned())
                .as_deref(),
            Some("shprt_1")
        );
        assert_eq!(back.expires_at, at);
        assert!(!format!("{back:?}").contains("shpua_1"));
    }

    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn a_local_token_is_stored_encrypted_and_only_its_tenant_can_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let vault = LocalVault::new(store.clone(), &SecretString::from("local key"));
        let (a, b) = (TenantId::new(1), TenantId::new(2));
        vault
            .put(a, &SecretString::from("shpat_secret_token"))
            .await
            .unwrap();
        assert_eq!(
            vault.get(a).await.unwrap().unwrap().expose_secret(),
            "shpat_secret_token"
        );
        assert!(vault.get(b).await.unwrap().is_none());

        // At rest: no plaintext, and moved to another tenant it does not decrypt.
        let item = store
            .get(&TenantItem::ShopifyToken.key(a))
            .await
            .unwrap()
            .unwrap();
        assert!(!format!("{item:?}").contains("shpat_secret_token"));
        let sealed = SealedToken::from_item(&item).unwrap();
        store.write(vec![sealed.put(b)]).await.unwrap();
        assert!(matches!(vault.get(b).await, Err(VaultError::Undecryptable)));
        // Another key cannot read it either.
        let other = LocalVault::new(store.clone(), &SecretString::from("another key"));
        assert!(matches!(other.get(a).await, Err(VaultError::Undecryptable)));

        vault.delete(a).await.unwrap();
        assert!(vault.get(a).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_token_sealed_under_the_old_plain_hash_key_is_read_once_and_sealed_again() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let material = SecretString::from("local key");
        let t = TenantId::new(5);
        // What an earlier version wrote: sealed under SHA-256 of the material itself.
        let old = cipher(&Sha256::digest(material.expose_secret().as_bytes()));
        let nonce = Nonce::generate();
        let aad = t.to_string();
        let ciphertext = old
            .encrypt(
                &nonce,
                Payload {
                    msg: b"shpat_old",
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let sealed = SealedToken {
            nonce: nonce.to_vec(),
            ciphertext: ciphertext.clone(),
        };
        store.write(vec![sealed.put(t)]).await.unwrap();

        let vault = LocalVault::new(store.clone(), &material);
        assert_eq!(
            vault.get(t).await.unwrap().unwrap().expose_secret(),
            "shpat_old"
        );
        let item = store
            .get(&TenantItem::ShopifyToken.key(t))
            .await
            .unwrap()
            .unwrap();
        let now = SealedToken::from_item(&item).unwrap();
        assert_ne!(now.ciphertext, ciphertext, "sealed again");
        let n = Nonce::try_from(now.nonce.as_slice()).unwrap();
        let payload = Payload {
            msg: &now.ciphertext,
            aad: aad.as_bytes(),
        };
        assert!(
            old.decrypt(&n, payload).is_err(),
            "no longer under the old key"
        );
        assert_eq!(
            vault.get(t).await.unwrap().unwrap().expose_secret(),
            "shpat_old"
        );
    }
}
