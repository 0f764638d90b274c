//! SHA-256 as the engine computes it (package checksums, repodata files, cache keys): through
//! the system's OpenSSL libcrypto, the library createrepo_c hashes with. It picks its assembly
//! for the CPU at run time (the SHA extensions, AVX2, AVX or SSSE3 on x86-64, the ARMv8 crypto
//! extensions on aarch64), where portable Rust code hashes at half that speed on CPUs without
//! SHA extensions, which most build farms have. It also honours OpenSSL's `OPENSSL_ia32cap`
//! switch, so one machine can measure both kinds of CPU against createrepo_c in one run
//! (`OPENSSL_ia32cap=:~0x20000000` masks the SHA extensions for both).

//!
//! Where the CPU lacks the SHA extensions but has AVX2, hashing many files is faster in the
//! lanes of [`lanes`], eight files per core in lockstep ([`files`]): OpenSSL hashes one
//! stream at a time, bound by its chain of dependent operations, while the lanes share every
//! instruction among eight. [`lockstep_preferred`] says which way this machine hashes files.

#[cfg(target_arch = "x86_64")]
pub mod files;
#[cfg(target_arch = "x86_64")]
pub mod lanes;

/// Whether many files are best hashed in lockstep lanes ([`files::hash_files`]) here: the
/// CPU has AVX2 and OpenSSL will not use SHA extensions (absent, or masked with
/// `OPENSSL_ia32cap`, which this honours as OpenSSL does). Decided once per process.
pub fn lockstep_preferred() -> bool {
    static PREFERRED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PREFERRED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let sha = std::arch::is_x86_feature_detected!("sha")
                && !sha_masked(std::env::var("OPENSSL_ia32cap").ok().as_deref());
            lanes::available() && !sha
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether an `OPENSSL_ia32cap` value keeps OpenSSL from using the SHA extensions: its
/// second word (CPUID leaf 7, EBX) either clears bit 29 (`~mask`) or replaces the word
/// with one that lacks it.
fn sha_masked(ia32cap: Option<&str>) -> bool {
    const SHA_BIT: u64 = 1 << 29;
    let Some(word) = ia32cap.and_then(|v| v.split(':').nth(1)) else {
        return false;
    };
    let (clear, digits) = match word.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"));
    let Some(value) = digits.and_then(|d| u64::from_str_radix(d, 16).ok()) else {
        return false;
    };
    if clear {
        value & SHA_BIT != 0
    } else {
        value & SHA_BIT == 0
    }
}

/// The SHA-256 of a file as it was when it was read, with what identified that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// The digest in lowercase hex.
    pub hex: String,
    /// The file's size, which matched the bytes read.
    pub size: u64,
    /// The file's modification time when it was opened.
    pub modified: Option<std::time::SystemTime>,
}

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256(openssl::sha::Sha256);

impl Sha256 {
    /// A hash of nothing yet.
    pub fn new() -> Sha256 {
        Sha256(openssl::sha::Sha256::new())
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest, in lowercase hex as repodata writes it.
    pub fn hex(self) -> String {
        hex::encode(self.0.finish())
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

/// The SHA-256 of `data`.
///
/// Through OpenSSL's streaming interface, not its one-shot `SHA256()`: in OpenSSL 3 that one
/// fetches the digest from a provider on every call, and the first call loads `openssl.cnf`
/// (2 to 3 ms, in a run that hashes two thousand hrefs before anything else).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hash = openssl::sha::Sha256::new();
    hash.update(data);
    hash.finish()
}

/// The SHA-256 of `data`, in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openssl_switch_that_masks_sha_extensions_is_recognised() {
        assert!(sha_masked(Some(":~0x20000000")));
        assert!(sha_masked(Some("0x4:0x0")));
        assert!(!sha_masked(Some(":~0x10000000")));
        assert!(!sha_masked(Some("~0x200000000000000")));
        assert!(!sha_masked(Some(":0x20000000")));
        assert!(!sha_masked(Some(":~junk")));
        assert!(!sha_masked(None));
    }

    #[test]
    fn digests_are_sha256() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_hex(b""), empty);
        let mut hash = Sha256::new();
        hash.update(b"ab");
        hash.update(b"c");
        assert_eq!(
            hash.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
