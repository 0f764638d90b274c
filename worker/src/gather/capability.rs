//! Capabilities as RPM compares them: a name with an optional version range, matched against
//! another range the way rpm's `rpmdsCompare` does (release ignored when either side has none).

use std::cmp::Ordering;
use std::fmt;

use rpm_version::Evr;

/// The comparison of a versioned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=`
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

impl Op {
    /// The operator repodata spells `flags` (`LT`, `LE`, `EQ`, `GE`, `GT`).
    pub fn from_flags(flags: &str) -> Option<Op> {
        Some(match flags {
            "LT" => Op::Lt,
            "LE" => Op::Le,
            "EQ" => Op::Eq,
            "GE" => Op::Ge,
            "GT" => Op::Gt,
            _ => return None,
        })
    }

    /// The operator a rich dependency spells `symbol` (`<`, `<=`, `=`, `==`, `>=`, `>`).
    pub fn from_symbol(symbol: &str) -> Option<Op> {
        Some(match symbol {
            "<" => Op::Lt,
            "<=" | "=<" => Op::Le,
            "=" | "==" => Op::Eq,
            ">=" | "=>" => Op::Ge,
            ">" => Op::Gt,
            _ => return None,
        })
    }

    fn less(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }

    fn equal(self) -> bool {
        matches!(self, Op::Le | Op::Eq | Op::Ge)
    }

    fn greater(self) -> bool {
        matches!(self, Op::Ge | Op::Gt)
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
}

/// A version bound: `op epoch:version[-release]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Range {
    /// How versions relate to the bound.
    pub op: Op,
    /// The epoch (0 when not given).
    pub epoch: u32,
    /// The version.
    pub version: String,
    /// The release, when given; without one, any release of the version matches.
    pub release: Option<String>,
}

impl Range {
    /// The range holding exactly `epoch:version-release` (a package's own version).
    pub fn exactly(epoch: u32, version: &str, release: &str) -> Range {
        Range {
            op: Op::Eq,
            epoch,
            version: version.to_owned(),
            release: Some(release.to_owned()),
        }
    }

    /// Parses `[epoch:]version[-release]` after `op`; `None` for a non-numeric epoch.
    pub fn parse(op: Op, evr: &str) -> Option<Range> {
        let (epoch, rest) = match evr.split_once(':') {
            Some(("", rest)) => (0, rest),
            Some((epoch, rest)) => (epoch.parse().ok()?, rest),
            None => (0, evr),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((version, release)) => (version, Some(release.to_owned())),
            None => (rest, None),
        };
        Some(Range {
            op,
            epoch,
            version: version.to_owned(),
            release: release.filter(|r| !r.is_empty()),
        })
    }

    /// Whether some version lies in both ranges, as rpm decides whether a provide satisfies a
    /// requirement.
    pub fn overlaps(&self, other: &Range) -> bool {
        let release = |r: &Range| match (&self.release, &other.release) {
            (Some(_), Some(_)) => r.release.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let evr = |r: &Range| Evr::new(r.epoch.to_string(), r.version.clone(), release(r));
        match evr(self).cmp(&evr(other)) {
            Ordering::Less => self.op.greater() || other.op.less(),
            Ordering::Greater => self.op.less() || other.op.greater(),
            Ordering::Equal => {
                (self.op.equal() && other.op.equal())
                    || (self.op.less() && other.op.less())
                    || (self.op.greater() && other.op.greater())
            }
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op.symbol())?;
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if let Some(release) = &self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

/// A provided, required, conflicting or obsoleted capability. Rich dependencies keep their
/// whole expression as the name, with no range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The capability, path or rich expression.
    pub name: String,
    /// The version bound, if any.
    pub range: Option<Range>,
}

impl Capability {
    /// An unversioned capability.
    pub fn named(name: impl Into<String>) -> Capability {
        Capability {
            name: name.into(),
            range: None,
        }
    }

    /// Whether this is a rich (boolean) dependency.
    pub fn is_rich(&self) -> bool {
        self.name.starts_with('(')
    }

    /// Whether this names a file.
    pub fn is_file(&self) -> bool {
        self.name.starts_with('/')
    }

    /// Whether a provide `self` satisfies a requirement of the same name with range `wanted`.
    pub fn satisfies(&self, wanted: Option<&Range>) -> bool {
        match (&self.range, wanted) {
            (_, None) | (None, Some(_)) => true,
            (Some(have), Some(want)) => have.overlaps(want),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(range) = &self.range {
            write!(f, " {range}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Range {
        let (op, evr) = s.split_once(' ').expect("op and evr");
        Range::parse(Op::from_symbol(op).expect("op"), evr).expect("evr")
    }

    #[test]
    fn ranges_overlap_as_rpm_decides() {
        assert!(range("= 1.0-1").overlaps(&range(">= 1.0")));
        assert!(range("= 1.0-1").overlaps(&range("= 1.0")));
        assert!(!range("= 1.0-1").overlaps(&range("> 1.0")));
        assert!(!range("= 1.0-1").overlaps(&range("= 1.0-2")));
        assert!(range("= 1:0.5-1").overlaps(&range("> 2.0")));
        assert!(!range("= 0.5-1").overlaps(&range("> 1:0.1")));
        assert!(range("< 2").overlaps(&range("> 1")));
        assert!(!range("< 1").overlaps(&range("> 2")));
        assert!(range(">= 3").overlaps(&range(">= 5")));
        assert!(range("<= 3").overlaps(&range(">= 3")));
        assert!(!range("< 3").overlaps(&range(">= 3")));
    }

    #[test]
    fn tilde_sorts_before_and_caret_after_the_release() {
        assert!(range("= 1.0~rc1-1").overlaps(&range("< 1.0")));
        assert!(!range("= 1.0~rc1-1").overlaps(&range(">= 1.0")));
        assert!(range("= 1.0^git1-1").overlaps(&range("> 1.0")));
        assert!(range("= 1.0^git1-1").overlaps(&range("< 1.0.1")));
    }

    #[test]
    fn unversioned_sides_always_match() {
        let provide = Capability::named("foo");
        assert!(provide.satisfies(Some(&range(">= 9"))));
        let versioned = Capability {
            name: "foo".into(),
            range: Some(range("= 1-1")),
        };
        assert!(versioned.satisfies(None));
        assert!(!versioned.satisfies(Some(&range(">= 9"))));
    }
}
