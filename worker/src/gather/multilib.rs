//! Multilib: which packages of a compatible arch join a compose arch, by Pungi's methods.

use odcs_common::compose::{MultilibMethod, MultilibMethods};

use super::metadata::PackageRecord;

/// Pungi's multilib methods, as the compose's `multilib_method` bits store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods {
    /// Shared libraries (packages providing sonames), kernels excluded.
    pub runtime: bool,
    /// Development packages: `-devel`, `-static`, or providing `pkgconfig(...)`.
    pub devel: bool,
    /// Every package.
    pub all: bool,
}

impl From<MultilibMethods> for Methods {
    fn from(set: MultilibMethods) -> Self {
        Methods {
            runtime: set.contains(MultilibMethod::Runtime),
            devel: set.contains(MultilibMethod::Devel),
            all: set.contains(MultilibMethod::All),
        }
    }
}

impl Methods {
    /// The methods in `bits` as the compose stores them (runtime 1, devel 2, all 4).
    pub fn from_bits(bits: i32) -> Methods {
        Methods::from(MultilibMethods::from_bits(bits))
    }

    /// Whether any method is on.
    pub fn any(self) -> bool {
        self.runtime || self.devel || self.all
    }

    /// Whether `record` (a package of a compatible arch) is multilib under these methods.
    pub fn selects(self, record: &PackageRecord) -> bool {
        if self.all {
            return true;
        }
        let devel = || {
            record.name.ends_with("-devel")
                || record.name.ends_with("-static")
                || record
                    .provides
                    .iter()
                    .any(|p| p.name.starts_with("pkgconfig("))
        };
        let runtime = || {
            !(record.name == "kernel" || record.name.starts_with("kernel-"))
                && record.provides.iter().any(|p| is_soname(&p.name))
        };
        (self.devel && devel()) || (self.runtime && runtime())
    }
}

/// Whether a provide names a shared library (`libfoo.so.1`, `libfoo.so.1(VERS)`).
fn is_soname(name: &str) -> bool {
    !name.starts_with('/')
        && name
            .split('(')
            .next()
            .is_some_and(|base| base.ends_with(".so") || base.contains(".so."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::capability::Capability;

    fn pkg(name: &str, provides: &[&str]) -> PackageRecord {
        PackageRecord {
            name: name.into(),
            provides: provides.iter().map(|p| Capability::named(*p)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn methods_choose_as_pungi() {
        let lib = pkg("libfoo", &["libfoo.so.1", "libfoo.so.1(FOO_1.0)"]);
        let devel = pkg("libfoo-devel", &["pkgconfig(foo)"]);
        let pc = pkg("foo-tools", &["pkgconfig(foo-tools)"]);
        let tool = pkg("foo", &["foo"]);
        let kernel = pkg("kernel-core", &["libkernelish.so.1"]);
        let runtime = Methods::from_bits(1);
        let devel_m = Methods::from_bits(2);
        assert!(runtime.selects(&lib) && !runtime.selects(&devel) && !runtime.selects(&tool));
        assert!(!runtime.selects(&kernel));
        assert!(devel_m.selects(&devel) && devel_m.selects(&pc) && !devel_m.selects(&lib));
        assert!(Methods::from_bits(4).selects(&tool));
        assert!(!Methods::from_bits(0).any());
    }
}
