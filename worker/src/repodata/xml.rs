//! The XML of one package in primary.xml, filelists.xml and other.xml, and the documents'
//! headers and footers. Layout and element order follow createrepo_c's output.

use std::io::Write;

use crate::package::{Dependency, FileKind, PackageInfo};

/// Which repodata document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// primary.xml
    Primary,
    /// filelists.xml
    Filelists,
    /// other.xml
    Other,
}

impl Document {
    /// All three, in the order repomd.xml lists them.
    pub const ALL: [Document; 3] = [Document::Primary, Document::Filelists, Document::Other];

    /// The repomd `type` and file name stem.
    pub fn name(self) -> &'static str {
        match self {
            Document::Primary => "primary",
            Document::Filelists => "filelists",
            Document::Other => "other",
        }
    }

    /// The opening of the document for `count` packages.
    pub fn header(self, count: usize) -> Vec<u8> {
        let root = match self {
            Document::Primary => format!(
                "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
                 xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">"
            ),
            Document::Filelists => format!(
                "<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">"
            ),
            Document::Other => format!(
                "<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">"
            ),
        };
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{root}\n").into_bytes()
    }

    /// The closing of the document.
    pub fn footer(self) -> &'static [u8] {
        match self {
            Document::Primary => b"</metadata>\n",
            Document::Filelists => b"</filelists>\n",
            Document::Other => b"</otherdata>\n",
        }
    }

    /// Appends the package's element to `out`.
    pub fn render(self, pkg: &PackageInfo, href: &str, out: &mut Vec<u8>) {
        match self {
            Document::Primary => primary(pkg, href, out),
            Document::Filelists => filelists(pkg, out),
            Document::Other => other(pkg, out),
        }
    }
}

/// Whether a character may appear in an XML 1.0 document.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text with XML's special characters escaped and characters XML 1.0 cannot carry dropped.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(xml_char) {
        quick_xml::escape::escape(text)
    } else {
        let kept: String = text.chars().filter(|c| xml_char(*c)).collect();
        std::borrow::Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
    }
}

/// Appends `text` escaped. Most strings need nothing: one byte scan decides, and they are
/// copied as they are (the hot path of rendering thousands of packages).
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let plain = text.bytes().all(|b| {
        (b >= 0x20 || b == b'\t' || b == b'\n' || b == b'\r')
            && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF)
    });
    if plain {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend_from_slice(escape(text).as_bytes());
    }
}

/// Appends ` name="value"` with the value escaped.
fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    push_escaped(out, value);
    out.push(b'"');
}

fn element(out: &mut Vec<u8>, indent: &str, tag: &str, text: &str) {
    out.extend_from_slice(indent.as_bytes());
    out.push(b'<');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
    push_escaped(out, text);
    out.extend_from_slice(b"</");
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(b">\n");
}

fn version(out: &mut Vec<u8>, pkg: &PackageInfo) {
    let _ = write!(out, "  <version epoch=\"{}\"", pkg.epoch);
    attr(out, "ver", &pkg.version);
    attr(out, "rel", &pkg.release);
    out.extend_from_slice(b"/>\n");
}

fn primary(pkg: &PackageInfo, href: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<package type=\"rpm\">\n");
    element(out, "  ", "name", &pkg.name);
    element(out, "  ", "arch", &pkg.arch);
    version(out, pkg);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        pkg.checksum
    );
    element(out, "  ", "summary", &pkg.summary);
    element(out, "  ", "description", &pkg.description);
    element(out, "  ", "packager", &pkg.packager);
    element(out, "  ", "url", &pkg.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        pkg.time_file, pkg.time_build
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        pkg.size_package, pkg.size_installed, pkg.size_archive
    );
    out.extend_from_slice(b"  <location");
    attr(out, "href", href);
    out.extend_from_slice(b"/>\n");
    out.extend_from_slice(b"  <format>\n");
    element(out, "    ", "rpm:license", &pkg.license);
    element(out, "    ", "rpm:vendor", &pkg.vendor);
    element(out, "    ", "rpm:group", &pkg.group);
    element(out, "    ", "rpm:buildhost", &pkg.buildhost);
    element(out, "    ", "rpm:sourcerpm", &pkg.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        pkg.header_start, pkg.header_end
    );
    for (tag, deps) in [
        ("rpm:provides", &pkg.provides),
        ("rpm:requires", &pkg.requires),
        ("rpm:conflicts", &pkg.conflicts),
        ("rpm:obsoletes", &pkg.obsoletes),
        ("rpm:suggests", &pkg.suggests),
        ("rpm:enhances", &pkg.enhances),
        ("rpm:recommends", &pkg.recommends),
        ("rpm:supplements", &pkg.supplements),
    ] {
        dependency_list(out, tag, deps);
    }
    for file in pkg
        .files
        .iter()
        .filter(|f| crate::package::is_primary_file(&f.path))
    {
        file_element(out, "    ", file.kind, &file.path);
    }
    out.extend_from_slice(b"  </format>\n</package>\n");
}

fn dependency_list(out: &mut Vec<u8>, tag: &str, deps: &[Dependency]) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <{tag}>");
    for dep in deps {
        out.extend_from_slice(b"      <rpm:entry");
        attr(out, "name", &dep.name);
        if let Some(flags) = dep.flags {
            attr(out, "flags", flags);
        }
        if let Some(epoch) = &dep.epoch {
            attr(out, "epoch", epoch);
        }
        if let Some(ver) = &dep.version {
            attr(out, "ver", ver);
        }
        if let Some(rel) = &dep.release {
            attr(out, "rel", rel);
        }
        if dep.pre {
            out.extend_from_slice(b" pre=\"1\"");
        }
        out.extend_from_slice(b"/>\n");
    }
    let _ = writeln!(out, "    </{tag}>");
}

fn file_element(out: &mut Vec<u8>, indent: &str, kind: FileKind, path: &str) {
    let kind = match kind {
        FileKind::File => "",
        FileKind::Dir => " type=\"dir\"",
        FileKind::Ghost => " type=\"ghost\"",
    };
    out.extend_from_slice(indent.as_bytes());
    out.extend_from_slice(b"<file");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'>');
    push_escaped(out, path);
    out.extend_from_slice(b"</file>\n");
}

fn package_open(out: &mut Vec<u8>, pkg: &PackageInfo) {
    out.extend_from_slice(b"<package");
    attr(out, "pkgid", &pkg.checksum);
    attr(out, "name", &pkg.name);
    attr(out, "arch", &pkg.arch);
    out.extend_from_slice(b">\n");
    version(out, pkg);
}

fn filelists(pkg: &PackageInfo, out: &mut Vec<u8>) {
    package_open(out, pkg);
    for file in &pkg.files {
        file_element(out, "  ", file.kind, &file.path);
    }
    out.extend_from_slice(b"</package>\n");
}

fn other(pkg: &PackageInfo, out: &mut Vec<u8>) {
    package_open(out, pkg);
    for entry in &pkg.changelogs {
        out.extend_from_slice(b"  <changelog");
        attr(out, "author", &entry.author);
        let _ = write!(out, " date=\"{}\">", entry.date);
        push_escaped(out, &entry.text);
        out.extend_from_slice(b"</changelog>\n");
    }
    out.extend_from_slice(b"</package>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushing_escapes_only_when_needed() {
        let mut out = Vec::new();
        push_escaped(&mut out, "plain text/");
        push_escaped(&mut out, "a&b");
        push_escaped(&mut out, "x\u{1}y\u{FFFE}");
        assert_eq!(out, b"plain text/a&amp;bxy");
    }

    #[test]
    fn escaping_handles_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("bell\u{7}ring"), "bellring");
        assert_eq!(escape("plain"), "plain");
    }
}
