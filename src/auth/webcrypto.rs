//! The token vault's cipher: AES-256-GCM by the runtime's WebCrypto (`crypto.subtle`), in the
//! stored format of `auth::vault`. The imported key is kept for the isolate's life (keyed by
//! its bytes), so a request imports it at most once.

use std::cell::RefCell;

use worker::js_sys::{Array, ArrayBuffer, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{AesGcmParams, Crypto, CryptoKey, SubtleCrypto};

use crate::auth::vault::{self, VaultError, IV_LEN, KEY_LEN};

const ALGORITHM: &str = "AES-GCM";

thread_local! {
    /// The last key imported, by its bytes.
    static IMPORTED: RefCell<Option<([u8; KEY_LEN], CryptoKey)>> = const { RefCell::new(None) };
}

/// Seals and opens stored tokens with one key.
pub struct Vault {
    key: [u8; KEY_LEN],
}

impl Vault {
    /// The vault for `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes).
    pub fn from_base64_key(key: &str) -> Result<Self, VaultError> {
        Ok(Vault {
            key: vault::key_bytes(key)?,
        })
    }

    /// Encrypts `plaintext` under a fresh random IV, in the stored format.
    pub async fn encrypt(&self, plaintext: &str) -> Result<String, VaultError> {
        let iv = crate::auth::random::bytes::<IV_LEN>().map_err(|_| VaultError::Random)?;
        let (subtle, key) = self.cipher().await?;
        let sealed = subtle
            .encrypt_with_object_and_u8_array(&params(&iv), &key, plaintext.as_bytes())
            .map_err(|_| VaultError::Encrypt)?;
        let sealed = JsFuture::from(sealed)
            .await
            .map_err(|_| VaultError::Encrypt)?;
        Ok(vault::envelope(&iv, &bytes(&sealed)))
    }

    /// Encrypts `plaintext` when there is one.
    pub async fn encrypt_optional(
        &self,
        plaintext: Option<&str>,
    ) -> Result<Option<String>, VaultError> {
        match plaintext {
            Some(p) => Ok(Some(self.encrypt(p).await?)),
            None => Ok(None),
        }
    }

    /// Decrypts a stored value; a wrong key or a changed value is `Tampered`.
    pub async fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        let (iv, sealed) = vault::open_envelope(stored)?;
        let (subtle, key) = self.cipher().await?;
        let plain = subtle
            .decrypt_with_object_and_u8_array(&params(&iv), &key, &sealed)
            .map_err(|_| VaultError::Tampered)?;
        let plain = JsFuture::from(plain)
            .await
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(bytes(&plain)).map_err(|_| VaultError::Malformed)
    }

    /// The runtime's `crypto.subtle` and this vault's key, imported once per isolate.
    async fn cipher(&self) -> Result<(SubtleCrypto, CryptoKey), VaultError> {
        let crypto = Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))
            .ok()
            .filter(JsValue::is_object)
            .ok_or(VaultError::BadKey)?
            .unchecked_into::<Crypto>();
        let subtle = crypto.subtle();
        let cached = IMPORTED.with(|k| {
            k.borrow()
                .as_ref()
                .filter(|(bytes, _)| *bytes == self.key)
                .map(|(_, key)| key.clone())
        });
        if let Some(key) = cached {
            return Ok((subtle, key));
        }
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let key_data = Uint8Array::from(self.key.as_slice());
        let imported = subtle
            .import_key_with_str("raw", &key_data, ALGORITHM, false, &usages)
            .map_err(|_| VaultError::BadKey)?;
        let key: CryptoKey = JsFuture::from(imported)
            .await
            .map_err(|_| VaultError::BadKey)?
            .unchecked_into();
        IMPORTED.with(|k| *k.borrow_mut() = Some((self.key, key.clone())));
        Ok((subtle, key))
    }
}

fn params(iv: &[u8; IV_LEN]) -> AesGcmParams {
    AesGcmParams::new(ALGORITHM, &Uint8Array::from(iv.as_slice()))
}

/// The bytes of the `ArrayBuffer` a WebCrypto promise resolved to.
fn bytes(buffer: &JsValue) -> Vec<u8> {
    Uint8Array::new(buffer.unchecked_ref::<ArrayBuffer>()).to_vec()
}
