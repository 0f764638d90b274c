//! Reading the dependency data of packages from repodata: `primary.xml` for identity and
//! dependencies, `filelists.xml` for the files that satisfy file requirements.
//!
//! Both readers accept whole documents or bare `<package>` elements (as the package cache
//! keeps them), so the compose's own packages and lookaside repositories load the same way.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use thiserror::Error;

use super::capability::{Capability, Op, Range};

/// Why repodata could not be read.
#[derive(Debug, Error)]
#[error("malformed {document} metadata: {reason}")]
pub struct MetadataError {
    /// primary or filelists.
    pub document: &'static str,
    /// What the parser said.
    pub reason: String,
}

/// What gathering needs of one package, from primary.xml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the primary.xml values of the same name
pub struct PackageRecord {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The checksum primary.xml identifies the package by (filelists' `pkgid`).
    pub pkgid: String,
    /// `location href`, relative to the repository.
    pub location: String,
    pub sourcerpm: String,
    pub provides: Vec<Capability>,
    pub requires: Vec<Capability>,
    pub conflicts: Vec<Capability>,
    pub obsoletes: Vec<Capability>,
    /// Files primary.xml lists (a subset of filelists').
    pub files: Vec<String>,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Deepest element nesting read: primary and filelists nest a few levels, and a document
/// nested deeper is not metadata.
const MAX_XML_DEPTH: usize = 64;

/// The next event of `reader`, keeping `depth` and refusing documents nested too deeply.
fn read_event<'b>(
    reader: &mut Reader<&[u8]>,
    buf: &'b mut Vec<u8>,
    depth: &mut usize,
    document: &'static str,
) -> Result<Event<'b>, MetadataError> {
    let event = reader
        .read_event_into(buf)
        .map_err(|e| error(document, e))?;
    match &event {
        Event::Start(_) => {
            *depth += 1;
            if *depth > MAX_XML_DEPTH {
                return Err(error(document, "elements are nested too deeply"));
            }
        }
        Event::End(_) => *depth = depth.saturating_sub(1),
        _ => {}
    }
    Ok(event)
}

fn error(document: &'static str, reason: impl ToString) -> MetadataError {
    MetadataError {
        document,
        reason: reason.to_string(),
    }
}

/// A dependency entry: `<rpm:entry name flags epoch ver rel/>`.
fn entry(e: &BytesStart<'_>) -> Option<Capability> {
    let name = attr(e, b"name")?;
    let range = attr(e, b"flags")
        .and_then(|f| Op::from_flags(&f))
        .and_then(|op| {
            let epoch = attr(e, b"epoch").and_then(|v| v.parse().ok()).unwrap_or(0);
            let version = attr(e, b"ver")?;
            Some(Range {
                op,
                epoch,
                version,
                release: attr(e, b"rel").filter(|r| !r.is_empty()),
            })
        });
    Some(Capability { name, range })
}

#[derive(Clone, Copy)]
enum List {
    None,
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
}

/// Calls `each` with every package of primary.xml text `xml`.
pub fn read_primary(xml: &[u8], mut each: impl FnMut(PackageRecord)) -> Result<(), MetadataError> {
    const DOC: &str = "primary";
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut current: Option<PackageRecord> = None;
    let mut list = List::None;
    let mut text_of: Option<&'static str> = None;
    let mut text = String::new();
    let mut depth = 0;
    loop {
        let event = read_event(&mut reader, &mut buf, &mut depth, DOC)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                match local.as_ref() {
                    b"package" => current = Some(PackageRecord::default()),
                    _ if current.is_none() => {}
                    b"version" => {
                        if let Some(p) = current.as_mut() {
                            p.epoch = attr(e, b"epoch").and_then(|v| v.parse().ok()).unwrap_or(0);
                            p.version = attr(e, b"ver").unwrap_or_default();
                            p.release = attr(e, b"rel").unwrap_or_default();
                        }
                    }
                    b"location" => {
                        if let Some(p) = current.as_mut() {
                            p.location = attr(e, b"href").unwrap_or_default();
                        }
                    }
                    b"provides" => list = List::Provides,
                    b"requires" => list = List::Requires,
                    b"conflicts" => list = List::Conflicts,
                    b"obsoletes" => list = List::Obsoletes,
                    b"recommends" | b"suggests" | b"supplements" | b"enhances" => list = List::None,
                    b"entry" => {
                        if let (Some(p), Some(cap)) = (current.as_mut(), entry(e)) {
                            match list {
                                List::Provides => p.provides.push(cap),
                                List::Requires => p.requires.push(cap),
                                List::Conflicts => p.conflicts.push(cap),
                                List::Obsoletes => p.obsoletes.push(cap),
                                List::None => {}
                            }
                        }
                    }
                    b"name" if !empty => text_of = Some("name"),
                    b"arch" if !empty => text_of = Some("arch"),
                    b"checksum" if !empty => text_of = Some("checksum"),
                    b"sourcerpm" if !empty => text_of = Some("sourcerpm"),
                    b"file" if !empty => text_of = Some("file"),
                    _ => {}
                }
                if empty {
                    continue;
                }
                text.clear();
            }
            Event::Text(t) if text_of.is_some() => {
                text.push_str(&t.unescape().map_err(|e| error(DOC, e))?);
            }
            Event::End(e) => {
                let local = e.local_name();
                if let (Some(field), Some(p)) = (text_of.take(), current.as_mut()) {
                    let value = std::mem::take(&mut text);
                    match field {
                        "name" => p.name = value,
                        "arch" => p.arch = value,
                        "checksum" => p.pkgid = value,
                        "sourcerpm" => p.sourcerpm = value,
                        _ => p.files.push(value),
                    }
                }
                match local.as_ref() {
                    b"package" => {
                        if let Some(p) = current.take() {
                            each(p);
                        }
                    }
                    b"provides" | b"requires" | b"conflicts" | b"obsoletes" => list = List::None,
                    _ => {}
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// Calls `each(pkgid, path)` for every file in filelists.xml text `xml` for which
/// `wanted(path)` holds.
pub fn read_filelists(
    xml: &[u8],
    wanted: impl Fn(&str) -> bool,
    mut each: impl FnMut(&str, String),
) -> Result<(), MetadataError> {
    const DOC: &str = "filelists";
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut pkgid = String::new();
    let mut in_file = false;
    let mut text = String::new();
    let mut depth = 0;
    loop {
        match read_event(&mut reader, &mut buf, &mut depth, DOC)? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"package" => pkgid = attr(&e, b"pkgid").unwrap_or_default(),
                b"file" => {
                    in_file = true;
                    text.clear();
                }
                _ => {}
            },
            Event::Text(t) if in_file => text.push_str(&t.unescape().map_err(|e| error(DOC, e))?),
            Event::End(e) if e.local_name().as_ref() == b"file" => {
                in_file = false;
                if wanted(&text) {
                    each(&pkgid, std::mem::take(&mut text));
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn deeply_nested_documents_are_refused() {
        let xml = format!("{}{}", "<a>".repeat(1000), "</a>".repeat(1000));
        let err = read_primary(xml.as_bytes(), |_| {}).expect_err("too deep");
        assert!(err.to_string().contains("nested too deeply"), "{err}");
        let err = read_filelists(xml.as_bytes(), |_| true, |_, _| {}).expect_err("too deep");
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>foo</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="2.0" rel="3.fc40"/>
  <checksum type="sha256" pkgid="YES">abc</checksum>
  <location href="Packages/f/foo-2.0-3.fc40.x86_64.rpm"/>
  <format>
    <rpm:sourcerpm>foo-2.0-3.fc40.src.rpm</rpm:sourcerpm>
    <rpm:provides>
      <rpm:entry name="foo" flags="EQ" epoch="1" ver="2.0" rel="3.fc40"/>
      <rpm:entry name="libfoo.so.1()(64bit)"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="(bar &gt;= 1 or baz)"/>
      <rpm:entry name="/bin/sh" pre="1"/>
    </rpm:requires>
    <rpm:obsoletes><rpm:entry name="oldfoo" flags="LT" epoch="0" ver="2"/></rpm:obsoletes>
    <rpm:recommends><rpm:entry name="weak"/></rpm:recommends>
    <file>/usr/bin/foo &amp; bar</file>
  </format>
</package>
</metadata>"#;

    #[test]
    fn primary_packages_read_with_dependencies() {
        let mut all = Vec::new();
        read_primary(PRIMARY.as_bytes(), |p| all.push(p)).expect("parses");
        assert_eq!(all.len(), 1);
        let p = &all[0];
        assert_eq!((p.name.as_str(), p.epoch), ("foo", 1));
        assert_eq!((p.version.as_str(), p.release.as_str()), ("2.0", "3.fc40"));
        assert_eq!(p.pkgid, "abc");
        assert_eq!(p.sourcerpm, "foo-2.0-3.fc40.src.rpm");
        assert_eq!(p.provides.len(), 2);
        assert_eq!(p.requires[0].name, "(bar >= 1 or baz)");
        assert_eq!(p.obsoletes[0].to_string(), "oldfoo < 2");
        assert_eq!(p.files, ["/usr/bin/foo & bar"]);
    }

    #[test]
    fn filelists_keep_only_wanted_paths() {
        let xml = r#"<filelists><package pkgid="abc" name="foo" arch="x86_64">
            <version epoch="0" ver="1" rel="1"/><file>/a</file><file type="dir">/b</file>
            </package></filelists>"#;
        let mut seen = Vec::new();
        read_filelists(
            xml.as_bytes(),
            |p| p == "/b",
            |id, path| seen.push((id.to_owned(), path)),
        )
        .expect("parses");
        assert_eq!(seen, [("abc".to_owned(), "/b".to_owned())]);
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(read_primary(b"<metadata><package><name>x</nam></package>", |_| {}).is_err());
    }
}
