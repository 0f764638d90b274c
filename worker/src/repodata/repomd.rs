//! repomd.xml: the index of a repository's metadata files.

use std::fmt::Write;

use super::xml::escape;

/// One `<data>` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdRecord {
    /// `primary`, `filelists`, `other`, `modules`, `group`, `group_gz`, ...
    pub kind: String,
    /// SHA-256 of the file as stored.
    pub checksum: String,
    /// SHA-256 of the uncompressed content; `None` for uncompressed files.
    pub open_checksum: Option<String>,
    /// Path relative to the repository root.
    pub location: String,
    /// Seconds since the epoch.
    pub timestamp: u64,
    /// Size as stored.
    pub size: u64,
    /// Uncompressed size; `None` for uncompressed files.
    pub open_size: Option<u64>,
}

/// The repomd.xml document for `records` at `revision`.
pub fn render(revision: u64, records: &[RepomdRecord]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(out, "  <revision>{revision}</revision>");
    for r in records {
        let _ = writeln!(out, "  <data type=\"{}\">", escape(&r.kind));
        let _ = writeln!(
            out,
            "    <checksum type=\"sha256\">{}</checksum>",
            r.checksum
        );
        if let Some(open) = &r.open_checksum {
            let _ = writeln!(
                out,
                "    <open-checksum type=\"sha256\">{open}</open-checksum>"
            );
        }
        let _ = writeln!(out, "    <location href=\"{}\"/>", escape(&r.location));
        let _ = writeln!(out, "    <timestamp>{}</timestamp>", r.timestamp);
        let _ = writeln!(out, "    <size>{}</size>", r.size);
        if let Some(open) = r.open_size {
            let _ = writeln!(out, "    <open-size>{open}</open-size>");
        }
        out.push_str("  </data>\n");
    }
    out.push_str("</repomd>\n");
    out
}

/// One `<data>` record read from an existing repomd.xml: its type and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// The record's type.
    pub kind: String,
    /// Path relative to the repository root.
    pub location: String,
}

/// The type and location of every record in a repomd.xml document.
pub fn parse_locations(xml: &str) -> Result<Vec<SourceRecord>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut records = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.name().as_ref() == b"data" => {
                current = attribute(&e, b"type")?;
            }
            Event::Empty(e) | Event::Start(e) if e.name().as_ref() == b"location" => {
                if let (Some(kind), Some(href)) = (current.clone(), attribute(&e, b"href")?) {
                    records.push(SourceRecord {
                        kind,
                        location: href,
                    });
                }
            }
            Event::End(e) if e.name().as_ref() == b"data" => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(records)
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| err.to_string())?;
        if attr.key.as_ref() == name {
            return attr
                .unescape_value()
                .map(|v| Some(v.into_owned()))
                .map_err(|err| err.to_string());
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_render_and_parse_back() {
        let records = [RepomdRecord {
            kind: "primary".into(),
            checksum: "abc".into(),
            open_checksum: Some("def".into()),
            location: "repodata/abc-primary.xml.gz".into(),
            timestamp: 7,
            size: 10,
            open_size: Some(20),
        }];
        let xml = render(7, &records);
        assert!(xml.contains("<revision>7</revision>"));
        assert!(xml.contains("<open-size>20</open-size>"));
        let parsed = parse_locations(&xml).expect("parse");
        assert_eq!(
            parsed,
            [SourceRecord {
                kind: "primary".into(),
                location: "repodata/abc-primary.xml.gz".into()
            }]
        );
    }
}
