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

/// Text with XML's special characters escaped and characters XML 1.0 cannot carry dropped.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    let clean = text
        .chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..));
    if clean {
        quick_xml::escape::escape(text)
    } else {
        let kept: String = text
            .chars()
            .filter(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
            .collect();
        std::borrow::Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
    }
}

fn element(out: &mut Vec<u8>, indent: &str, tag: &str, text: &str) {
    let _ = writeln!(out, "{indent}<{tag}>{}</{tag}>", escape(text));
}

fn version(out: &mut Vec<u8>, pkg: &PackageInfo) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        pkg.epoch,
        escape(&pkg.version),
        escape(&pkg.release)
    );
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
    let _ = writeln!(out, "  <location href=\"{}\"/>", escape(href));
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
        let _ = write!(out, "      <rpm:entry name=\"{}\"", escape(&dep.name));
        if let Some(flags) = dep.flags {
            let _ = write!(out, " flags=\"{flags}\"");
        }
        if let Some(epoch) = &dep.epoch {
            let _ = write!(out, " epoch=\"{}\"", escape(epoch));
        }
        if let Some(ver) = &dep.version {
            let _ = write!(out, " ver=\"{}\"", escape(ver));
        }
        if let Some(rel) = &dep.release {
            let _ = write!(out, " rel=\"{}\"", escape(rel));
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
    let _ = writeln!(out, "{indent}<file{kind}>{}</file>", escape(path));
}

fn package_open(out: &mut Vec<u8>, pkg: &PackageInfo) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        pkg.checksum,
        escape(&pkg.name),
        escape(&pkg.arch)
    );
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
        let _ = writeln!(
            out,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            escape(&entry.author),
            entry.date,
            escape(&entry.text)
        );
    }
    out.extend_from_slice(b"</package>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_handles_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("bell\u{7}ring"), "bellring");
        assert_eq!(escape("plain"), "plain");
    }
}
