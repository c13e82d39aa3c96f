//! The owner's ed25519 signing key: generated from OS randomness, kept as a hex text file
//! readable only by its owner, with its public half in a `.pub` file to publish.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::ClaimError;

/// An ed25519 signing key. `Debug` shows only the public key's fingerprint.
pub struct SigningIdentity {
    key: SigningKey,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningIdentity(fingerprint {})", self.fingerprint())
    }
}

impl SigningIdentity {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<SigningIdentity, ClaimError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| ClaimError::Random(e.to_string()))?;
        Ok(SigningIdentity::from_secret_bytes(&secret))
    }

    /// The key with this 32-byte secret (deterministic keys for tests).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> SigningIdentity {
        SigningIdentity { key: SigningKey::from_bytes(secret) }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key as 64 lower-case hex digits: what a checker passes as the trust anchor.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// First 16 hex digits of the public key's SHA-256, short enough for people to compare.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.key.verifying_key())
    }

    /// Writes the secret key to `path` (hex, mode 0600 on unix) and the public key to
    /// [`public_key_path`]`(path)`. Refuses to replace either file unless `overwrite`: losing an
    /// owner key loses the ability to sign as that owner. Returns the public key's path.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<PathBuf, ClaimError> {
        let pub_path = public_key_path(path);
        if !overwrite {
            for p in [path, pub_path.as_path()] {
                if p.exists() {
                    return Err(ClaimError::KeyFile {
                        path: p.to_path_buf(),
                        reason: "exists; refusing to overwrite a key (pass --force to replace it)".into(),
                    });
                }
            }
        }
        let secret = format!("{}\n", hex::encode(self.key.to_bytes()));
        write_private(path, secret.as_bytes())?;
        let public = format!("{}\n", self.public_key_hex());
        std::fs::write(&pub_path, public).map_err(|source| ClaimError::Io { path: pub_path.clone(), source })?;
        Ok(pub_path)
    }

    /// Reads a secret key file written by [`SigningIdentity::save`].
    pub fn load(path: &Path) -> Result<SigningIdentity, ClaimError> {
        let bad = |reason: &str| ClaimError::KeyFile { path: path.to_path_buf(), reason: reason.into() };
        let text =
            std::fs::read_to_string(path).map_err(|source| ClaimError::Io { path: path.to_path_buf(), source })?;
        let bytes = hex::decode(text.trim()).map_err(|_| bad("not a mown secret key (expected 64 hex digits)"))?;
        let secret: [u8; 32] =
            bytes.try_into().map_err(|_| bad("not a mown secret key (expected 64 hex digits, 32 bytes)"))?;
        Ok(SigningIdentity::from_secret_bytes(&secret))
    }
}

/// Creates or truncates `path` with owner-only permissions before any secret is written.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClaimError> {
    let io = |source| ClaimError::Io { path: path.to_path_buf(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path).map_err(io)?;
        // `mode` applies only when the file is created: tighten a replaced file too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        write_all(file, bytes).map_err(io)
    }
    #[cfg(not(unix))]
    {
        let file = options.open(path).map_err(io)?;
        write_all(file, bytes).map_err(io)
    }
}

fn write_all(mut file: std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Where the public key of the secret key file `path` goes: `path` + ".pub".
pub fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

pub(crate) fn fingerprint_of(key: &VerifyingKey) -> String {
    crate::sha256_hex(key.as_bytes())[..16].to_string()
}

/// The short fingerprint (see [`SigningIdentity::fingerprint`]) of a hex public key.
pub fn key_fingerprint(public_key_hex: &str) -> Result<String, ClaimError> {
    Ok(fingerprint_of(&decode_public_key(&parse_public_key(public_key_hex)?)?))
}

/// Normalises a public key given by a person (`--public-key`, a `.pub` file): 64 hex digits in
/// either case, surrounding whitespace ignored; returns them in lower case.
pub fn parse_public_key(text: &str) -> Result<String, ClaimError> {
    let hex_text = text.trim().to_ascii_lowercase();
    let bytes =
        hex::decode(&hex_text).map_err(|_| ClaimError::BadPublicKey(format!("'{}' is not hex", text.trim())))?;
    if bytes.len() != 32 {
        return Err(ClaimError::BadPublicKey(format!("{} bytes, an ed25519 public key has 32", bytes.len())));
    }
    decode_public_key(&hex_text)?;
    Ok(hex_text)
}

/// Reads a `.pub` file written by [`SigningIdentity::save`].
pub fn read_public_key_file(path: &Path) -> Result<String, ClaimError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClaimError::Io { path: path.to_path_buf(), source })?;
    parse_public_key(&text).map_err(|e| ClaimError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })
}

/// The verifying key of exactly 64 lower-case hex digits (the only spelling a signed document
/// may use, so a changed letter case is a changed document).
pub(crate) fn decode_public_key(hex_text: &str) -> Result<VerifyingKey, ClaimError> {
    let bytes: [u8; 32] = hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .filter(|_| hex_text.bytes().all(|b| !b.is_ascii_uppercase()))
        .ok_or_else(|| ClaimError::BadPublicKey(format!("'{hex_text}' is not 64 lower-case hex digits")))?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| ClaimError::BadPublicKey(format!("'{hex_text}' is not a point on the curve")))?;
    if key.is_weak() {
        return Err(ClaimError::BadPublicKey(format!("'{hex_text}' is a weak (small-order) key")));
    }
    Ok(key)
}
