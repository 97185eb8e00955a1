//! Pseudonymisation of exported identifiers: UIDs and paths are replaced by stable salted
//! hashes. The same salt gives the same pseudonyms in every export, so files from several
//! exports still join on them; without the salt they cannot be reversed or recomputed.
//!
//! Pseudonymised UIDs are valid DICOM UIDs under the `2.25` root (PS3.5 B.2, UUID-derived
//! UIDs): `2.25.` followed by a 128-bit integer taken from SHA-256(salt, value).

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;

/// Salted, stable replacement of identifiers.
#[derive(Clone, PartialEq, Eq)]
pub struct Pseudonymizer {
    salt: Vec<u8>,
}

/// The salt is secret: never printed.
impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { salt: <hidden> }")
    }
}

impl Pseudonymizer {
    pub fn new(salt: impl AsRef<[u8]>) -> Self {
        Self {
            salt: salt.as_ref().to_vec(),
        }
    }

    /// A fresh random 256-bit salt.
    pub fn random() -> Self {
        Self {
            salt: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    /// The salt kept in `path` (hex), created with a random salt on first use, so that
    /// every export of a review uses the same pseudonyms. Keep the file private.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let hex = text.trim();
                let salt = (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: not a hex salt", path.display()),
                        )
                    })?;
                Ok(Self { salt })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let p = Self::random();
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let hex: String = p.salt.iter().map(|b| format!("{b:02x}")).collect();
                write_atomic(path, hex.as_bytes())?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
                }
                Ok(p)
            }
            Err(e) => Err(e),
        }
    }

    fn digest(&self, kind: &str, value: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.salt.len() as u64).to_le_bytes());
        h.update(&self.salt);
        h.update(kind.as_bytes());
        h.update([0u8]);
        h.update(value);
        h.finalize().into()
    }

    /// A DICOM UID's pseudonym, `2.25.<decimal>`; an empty UID stays empty.
    pub fn uid(&self, uid: &str) -> String {
        if uid.is_empty() {
            return String::new();
        }
        let d = self.digest("uid", uid.as_bytes());
        let n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
        format!("2.25.{n}")
    }

    /// A path's pseudonym: 32 hex digits plus `.dcm`. The folder structure is not kept.
    pub fn path(&self, path: &Path) -> String {
        let d = self.digest("path", path.to_string_lossy().as_bytes());
        let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}.dcm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_salted_and_valid_uids() {
        let a = Pseudonymizer::new(b"salt-a");
        let b = Pseudonymizer::new(b"salt-b");
        let u = "1.2.840.113619.2.55.3.604688119.969.1268071029.320";
        assert_eq!(a.uid(u), a.uid(u));
        assert_ne!(a.uid(u), b.uid(u));
        assert_ne!(a.uid(u), a.uid("1.2.3"));
        let p = a.uid(u);
        assert!(p.starts_with("2.25.") && p.len() <= 64, "{p}");
        assert!(
            p[5..].chars().all(|c| c.is_ascii_digit()) && !p[5..].starts_with('0'),
            "{p}"
        );
        assert_eq!(a.uid(""), "");
        let path = a.path(Path::new("/data/Patient Smith/ct1.dcm"));
        assert!(
            !path.contains("Smith") && path.ends_with(".dcm") && path.len() == 36,
            "{path}"
        );
        assert!(!format!("{a:?}").contains("salt-a"));
    }

    #[test]
    fn salt_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/salt");
        let first = Pseudonymizer::load_or_create(&f).unwrap();
        let again = Pseudonymizer::load_or_create(&f).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.uid("1.2.3"), again.uid("1.2.3"));
        fs::write(&f, "zz").unwrap();
        assert!(Pseudonymizer::load_or_create(&f).is_err());
    }
}
