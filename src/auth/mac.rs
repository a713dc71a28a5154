//! HMAC-SHA256, the one keyed hash the control plane signs with: service tokens, `sig1`
//! signatures, browser cookies.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The HMAC-SHA256 of `msg` under `key`.
pub fn sign(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Whether `tag` is `msg`'s HMAC-SHA256 under `key`, compared in constant time.
pub fn verify(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    bool::from(sign(key, msg).as_slice().ct_eq(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    #[test]
    fn the_rfc_vector() {
        let tag = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &tag));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &tag));
        assert!(!verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag[..31]
        ));
    }
}
