//! Architecture names: the ones a request may name, and which arches' packages may join another
//! arch as multilib. One table for the API's checks, Koji listings and gather.

/// Arch names a request may ask for: rpm's own list of architectures.
pub const KNOWN_ARCHES: &[&str] = &[
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "geode",
    "pentium3",
    "pentium4",
    "amd64",
    "ia32e",
    "em64t",
    "x86_64_v2",
    "x86_64_v3",
    "x86_64_v4",
    "aarch64",
    "armv5tel",
    "armv5tejl",
    "armv6l",
    "armv6hl",
    "armv7l",
    "armv7hl",
    "armv7hnl",
    "armv8l",
    "armv8hl",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppc64p7",
    "ppc64pseries",
    "ppc64iseries",
    "s390",
    "s390x",
    "riscv64",
    "loongarch64",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "sparc",
    "sparcv9",
    "sparc64",
    "ia64",
    "alpha",
    "noarch",
    "src",
];

/// Whether `arch` is one rpm knows.
pub fn is_known(arch: &str) -> bool {
    KNOWN_ARCHES.contains(&arch)
}

/// The arches whose packages may join `arch` as multilib (i686 for x86_64, ppc for ppc64, s390
/// for s390x), as Pungi's multilib arches are.
pub fn compatible_arches(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" => &["athlon", "i686", "i586", "i486", "i386"],
        "ppc64" => &["ppc"],
        "s390x" => &["s390"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multilib_companions_are_known_arches() {
        for arch in KNOWN_ARCHES {
            for companion in compatible_arches(arch) {
                assert!(is_known(companion), "{companion}");
            }
        }
        assert_eq!(compatible_arches("ppc64"), ["ppc"]);
        assert!(compatible_arches("aarch64").is_empty());
    }
}
