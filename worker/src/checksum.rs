//! SHA-256 as the engine computes it (package checksums, repodata files, cache keys): through
//! the system's OpenSSL libcrypto, the library createrepo_c hashes with. It picks its assembly
//! for the CPU at run time (the SHA extensions, AVX2, AVX or SSSE3 on x86-64, the ARMv8 crypto
//! extensions on aarch64), where portable Rust code hashes at half that speed on CPUs without
//! SHA extensions, which most build farms have. It also honours OpenSSL's `OPENSSL_ia32cap`
//! switch, so one machine can measure both kinds of CPU against createrepo_c in one run
//! (`OPENSSL_ia32cap=:~0x20000000` masks the SHA extensions for both).

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

/// The SHA-256 of `data`, in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(data))
}

#[cfg(test)]
mod tests {
    use super::*;

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
