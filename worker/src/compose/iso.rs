//! ISO images of a compose (the `iso` result), as Pungi's createiso phase lays them out: per
//! arch, a non-installable image of the os tree (its packages and repodata) in
//! `Temporary/{arch}/iso/`, with a `CHECKSUM` file beside it, and productmd's `images.json`
//! under `metadata/`. The image is made by `xorriso`, which every distribution packages.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::layout::{Trees, VARIANT};
use super::metadata::{variant_document, ComposeDescription};
use super::{io_err, ComposeError};
use crate::cancel::Cancel;
use crate::checksum::Sha256;
use crate::command::ExternalCommand;
use crate::durable::write_synced;

/// The program that makes the images.
pub const XORRISO: &str = "xorriso";

/// How long one image may take: xorriso writes at disk speed, so this only catches a hung
/// tool.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// ISO 9660 volume identifiers hold at most this many characters.
const VOLUME_ID_MAX: usize = 32;

/// The longest single ISO made here, the size of a dual-layer DVD: a compose over it needs a
/// split into several discs, which this service does not do.
const MAX_IMAGE_BYTES: u64 = 8_500_000_000;

/// One image written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoImage {
    /// The arch whose os tree it holds.
    pub arch: String,
    /// Its path relative to `compose/`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The ISO 9660 volume identifier.
    pub volume_id: String,
    /// When it was made (seconds since the epoch).
    pub mtime: i64,
}

/// `Temporary/{arch}/iso` relative to `compose/`.
pub fn iso_rel(arch: &str) -> String {
    format!("{VARIANT}/{arch}/iso")
}

/// The image's file name, as Pungi names a first DVD: `{compose_id}-{variant}-{arch}-dvd1.iso`.
pub fn image_name(compose_id: &str, arch: &str) -> String {
    format!("{compose_id}-{VARIANT}-{arch}-dvd1.iso")
}

/// The volume identifier, as Pungi's default format makes it (`{short}-{version}
/// {variant}.{arch}`), cut to the 32 characters ISO 9660 allows.
pub fn volume_id(name: &str, arch: &str) -> String {
    format!("{name}-1 {VARIANT}.{arch}")
        .chars()
        .take(VOLUME_ID_MAX)
        .collect()
}

/// Makes the image of every arch's os tree under `trees`, its `CHECKSUM` file and
/// `metadata/images.json`; stops when `cancel` says so.
pub fn write_images(
    trees: &Trees,
    d: &ComposeDescription<'_>,
    cancel: &Cancel,
) -> Result<Vec<IsoImage>, ComposeError> {
    let mut images = Vec::new();
    for arch in d.arches {
        images.push(write_image(trees, d, arch, cancel)?);
    }
    let metadata_dir = trees.metadata_dir();
    std::fs::create_dir_all(&metadata_dir).map_err(io_err("create", &metadata_dir))?;
    let mut text = serde_json::to_string_pretty(&images_json(d, &images)).unwrap_or_default();
    text.push('\n');
    write_synced(&metadata_dir.join("images.json"), text.as_bytes())?;
    Ok(images)
}

fn write_image(
    trees: &Trees,
    d: &ComposeDescription<'_>,
    arch: &str,
    cancel: &Cancel,
) -> Result<IsoImage, ComposeError> {
    let os_dir = trees.path(&Trees::os_rel(arch));
    let iso_dir = trees.path(&iso_rel(arch));
    std::fs::create_dir_all(&iso_dir).map_err(io_err("create", &iso_dir))?;
    let name = image_name(d.compose_id, arch);
    let image = iso_dir.join(&name);
    let volume_id = volume_id(d.name, arch);
    let log = trees
        .root
        .join(format!("{VARIANT}/{arch}/iso/.xorriso.log"));
    let mut command = ExternalCommand::new(
        vec![
            XORRISO.to_owned(),
            "-as".into(),
            "mkisofs".into(),
            "-quiet".into(),
            "-rational-rock".into(),
            "-joliet".into(),
            "-joliet-long".into(),
            "-volid".into(),
            volume_id.clone(),
            "-output".into(),
            image.to_string_lossy().into_owned(),
            os_dir.to_string_lossy().into_owned(),
        ],
        "Making the ISO image",
        IMAGE_TIMEOUT,
    );
    command.stdout = Some(log.clone());
    command.stderr = Some(log.clone());
    let made = command.run(cancel);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    made.map_err(|e| ComposeError::Iso {
        arch: arch.to_owned(),
        reason: match output.trim() {
            "" => e.to_string(),
            said => format!("{e}: {}", last_lines(said, 5)),
        },
    })?;
    let meta = std::fs::metadata(&image).map_err(io_err("read", &image))?;
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(ComposeError::Iso {
            arch: arch.to_owned(),
            reason: format!(
                "the image is {} bytes, more than one disc holds ({MAX_IMAGE_BYTES})",
                meta.len()
            ),
        });
    }
    let sha256 = file_sha256(&image).map_err(io_err("read", &image))?;
    let checksum = format!(
        "# {name}: {} bytes\nSHA256 ({name}) = {sha256}\n",
        meta.len()
    );
    write_synced(&iso_dir.join("CHECKSUM"), checksum.as_bytes())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(IsoImage {
        arch: arch.to_owned(),
        path: format!("{}/{name}", iso_rel(arch)),
        size: meta.len(),
        sha256,
        volume_id,
        mtime,
    })
}

/// The last `n` lines of a tool's output, for an error message.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// SHA-256 of a file, read in 1 MiB pieces.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hash.hex());
        }
        hash.update(&buffer[..n]);
    }
}

/// productmd images.json (format 1.2): every image, per variant and arch.
pub fn images_json(d: &ComposeDescription<'_>, images: &[IsoImage]) -> Value {
    let mut arches = serde_json::Map::new();
    for image in images {
        let entry = json!({
            "arch": image.arch,
            "bootable": false,
            "checksums": {"sha256": image.sha256},
            "disc_count": 1,
            "disc_number": 1,
            "format": "iso",
            "implant_md5": null,
            "mtime": image.mtime,
            "path": image.path,
            "size": image.size,
            "subvariant": VARIANT,
            "type": "dvd",
            "volume_id": image.volume_id,
        });
        match arches.get_mut(&image.arch) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                arches.insert(image.arch.clone(), json!([entry]));
            }
        }
    }
    variant_document(d, "images", Value::Object(arches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_pungi_and_fit_iso_9660() {
        assert_eq!(
            image_name("odcs-7-1-20261203.t.0", "x86_64"),
            "odcs-7-1-20261203.t.0-Temporary-x86_64-dvd1.iso"
        );
        assert_eq!(volume_id("odcs-7", "x86_64"), "odcs-7-1 Temporary.x86_64");
        let long = volume_id("odcs-123456789", "ppc64le");
        assert_eq!(long.chars().count(), VOLUME_ID_MAX);
        assert!(long.starts_with("odcs-123456789-1 Temporary."), "{long}");
        assert_eq!(last_lines("a\nb\nc", 2), "b / c");
    }
}
