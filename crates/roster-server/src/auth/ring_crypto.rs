//! The signature half of JWT verification, on `ring`.
//!
//! `jsonwebtoken` delegates its cryptography to a process-wide
//! `CryptoProvider`; its two built-in ones bring a second crypto library
//! (aws-lc or the RustCrypto crates). This one uses `ring`, which the
//! workspace already has through rustls, and does only what the server needs:
//! verifying RS256/RS384/RS512 (RSA 2048–8192 bits) and ES256 signatures
//! with public keys from a JWKS. It cannot sign, and it refuses every other
//! algorithm — HMAC above all, so a public key can never be used as an HMAC
//! secret, whatever the token's header says.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384,
    RSA_PKCS1_2048_8192_SHA512, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey,
};

/// The algorithms a token may be signed with.
pub const ACCEPTED: [Algorithm; 4] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256];

/// `KeyUtils` serve JWK thumbprints and keys made from private keys, which
/// the server never computes: they are left unimplemented.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this the process's provider; call before the first verification.
/// Idempotent. (Only this crate uses `jsonwebtoken`, so nothing installs
/// another one first.)
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(other) = PROVIDER.install_default()
            && !std::ptr::eq(other, &PROVIDER)
        {
            tracing::warn!("another jsonwebtoken CryptoProvider was installed first; it verifies JWTs");
        }
    });
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let rsa = |params: &'static RsaParameters| match (key.family(), key.kind()) {
        (AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            // ring wants minimal big-endian integers; some JWKS pad `n` with a zero.
            let minimal = |b: &[u8]| b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..].to_vec();
            let key = RingKey::Rsa { params, n: minimal(n), e: minimal(e) };
            Ok(Box::new(RingVerifier { alg: *alg, key }) as Box<dyn JwtVerifier>)
        }
        _ => Err(ErrorKind::InvalidKeyFormat.into()),
    };
    match alg {
        Algorithm::RS256 => rsa(&RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => rsa(&RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => rsa(&RSA_PKCS1_2048_8192_SHA512),
        Algorithm::ES256 => match (key.family(), key.kind()) {
            // An uncompressed P-256 point: 0x04 || x || y.
            (AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) if point.len() == 65 => {
                Ok(Box::new(RingVerifier { alg: *alg, key: RingKey::P256 { point: point.clone() } }))
            }
            _ => Err(ErrorKind::InvalidEcdsaKey.into()),
        },
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

enum RingKey {
    Rsa { params: &'static RsaParameters, n: Vec<u8>, e: Vec<u8> },
    P256 { point: Vec<u8> },
}

struct RingVerifier {
    alg: Algorithm,
    key: RingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let checked = match &self.key {
            RingKey::Rsa { params, n, e } => RsaPublicKeyComponents { n, e }.verify(params, msg, sig),
            RingKey::P256 { point } => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, sig)
            }
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_unlisted_algorithms_get_no_verifier() {
        let secret = DecodingKey::from_secret(b"public key material");
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::PS256, Algorithm::EdDSA]
        {
            assert!(verifier(&alg, &secret).is_err(), "{alg:?}");
        }
        // An RSA key is not an EC key, nor the other way round.
        let rsa = DecodingKey::from_rsa_raw_components(&[1; 256], &[1, 0, 1]);
        assert!(verifier(&Algorithm::ES256, &rsa).is_err());
        let ec = DecodingKey::from_ec_der(&[4; 65]);
        assert!(verifier(&Algorithm::RS256, &ec).is_err());
        assert!(no_signer(&Algorithm::RS256, &EncodingKey::from_secret(b"k")).is_err());
    }
}
