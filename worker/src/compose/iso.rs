//! ISO images of a compose, as Pungi lays them out, with productmd's `images.json` under
//! `metadata/`: the `iso` result (Pungi's createiso phase), per arch a non-installable image of
//! the os tree (its packages and repodata) in `Temporary/{arch}/iso/` with a `CHECKSUM` file
//! beside it, made by `xorriso`, which every distribution packages; and the `boot.iso` result
//! (Pungi's buildinstall phase), `Temporary/{arch}/os/images/boot.iso`, made by the
//! configured `boot_iso_command` (lorax, or what a site uses instead).

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
use odcs_common::config::pungi::BOOT_ISO_OUTPUT;

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

/// Which images a compose gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageRequest<'a> {
    /// An image of each arch's os tree (`iso`).
    pub dvd: bool,
    /// The command making each arch's `boot.iso` (empty: none asked for).
    pub boot_iso_command: &'a [String],
}

impl ImageRequest<'_> {
    /// Whether any image is asked for.
    pub fn any(&self) -> bool {
        self.dvd || !self.boot_iso_command.is_empty()
    }
}

/// What an image is, in productmd's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// The packages and repodata of a tree (`dvd`, not bootable).
    Dvd,
    /// An installer image (`boot`, bootable).
    Boot,
}

/// One image written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoImage {
    /// What it is.
    pub kind: ImageKind,
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

/// Makes the images `request` asks for, for every arch of the compose under `trees` (boot
/// images first, as Pungi's buildinstall runs before createiso), and `metadata/images.json`;
/// stops when `cancel` says so.
pub fn write_images(
    trees: &Trees,
    d: &ComposeDescription<'_>,
    request: ImageRequest<'_>,
    cancel: &Cancel,
) -> Result<Vec<IsoImage>, ComposeError> {
    let mut images = Vec::new();
    for arch in d.arches {
        if !request.boot_iso_command.is_empty() {
            images.push(write_boot_image(
                trees,
                d,
                arch,
                request.boot_iso_command,
                cancel,
            )?);
        }
        if request.dvd {
            images.push(write_dvd_image(trees, d, arch, cancel)?);
        }
    }
    let metadata_dir = trees.metadata_dir();
    std::fs::create_dir_all(&metadata_dir).map_err(io_err("create", &metadata_dir))?;
    let mut text = serde_json::to_string_pretty(&images_json(d, &images)).unwrap_or_default();
    text.push('\n');
    write_synced(&metadata_dir.join("images.json"), text.as_bytes())?;
    Ok(images)
}

/// `Temporary/{arch}/os/images/boot.iso` relative to `compose/`.
pub fn boot_iso_rel(arch: &str) -> String {
    format!("{}/images/boot.iso", Trees::os_rel(arch))
}

fn write_boot_image(
    trees: &Trees,
    d: &ComposeDescription<'_>,
    arch: &str,
    command: &[String],
    cancel: &Cancel,
) -> Result<IsoImage, ComposeError> {
    let rel = boot_iso_rel(arch);
    let image = trees.path(&rel);
    if let Some(dir) = image.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    let volume_id = volume_id(d.name, arch);
    let repo = trees.path(&Trees::os_rel(arch));
    let fill = |arg: &String| {
        arg.replace("{arch}", arch)
            .replace("{repo}", &repo.to_string_lossy())
            .replace(BOOT_ISO_OUTPUT, &image.to_string_lossy())
            .replace("{volid}", &volume_id)
    };
    run_tool(
        trees,
        arch,
        command.iter().map(fill).collect(),
        "Making the boot.iso image",
    )
    .run(cancel)?;
    match std::fs::metadata(&image) {
        Ok(meta) if meta.len() > 0 => {}
        _ => {
            return Err(ComposeError::Iso {
                arch: arch.to_owned(),
                reason: format!("boot_iso_command wrote no image at {}", image.display()),
            })
        }
    }
    describe(ImageKind::Boot, arch, &image, rel, volume_id)
}

fn write_dvd_image(
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
    run_tool(
        trees,
        arch,
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
    )
    .run(cancel)?;
    let described = describe(
        ImageKind::Dvd,
        arch,
        &image,
        format!("{}/{name}", iso_rel(arch)),
        volume_id,
    )?;
    if described.size > MAX_IMAGE_BYTES {
        return Err(ComposeError::Iso {
            arch: arch.to_owned(),
            reason: format!(
                "the image is {} bytes, more than one disc holds ({MAX_IMAGE_BYTES})",
                described.size
            ),
        });
    }
    let checksum = format!(
        "# {name}: {} bytes\nSHA256 ({name}) = {}\n",
        described.size, described.sha256
    );
    write_synced(&iso_dir.join("CHECKSUM"), checksum.as_bytes())?;
    Ok(described)
}

/// An image tool run for `arch`, its output kept to explain a failure.
struct ToolRun {
    command: ExternalCommand,
    arch: String,
    log: std::path::PathBuf,
}

fn run_tool(trees: &Trees, arch: &str, argv: Vec<String>, what: &str) -> ToolRun {
    let log = trees.root.join(format!(".{arch}-image-tool.log"));
    let mut command = ExternalCommand::new(argv, what, IMAGE_TIMEOUT);
    command.stdout = Some(log.clone());
    command.stderr = Some(log.clone());
    ToolRun {
        command,
        arch: arch.to_owned(),
        log,
    }
}

impl ToolRun {
    /// Runs the tool; a failure carries the end of what it said.
    fn run(self, cancel: &Cancel) -> Result<(), ComposeError> {
        let ran = self.command.run(cancel);
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        ran.map_err(|e| ComposeError::Iso {
            arch: self.arch,
            reason: match output.trim() {
                "" => e.to_string(),
                said => format!("{e}: {}", last_lines(said, 5)),
            },
        })
    }
}

/// What productmd records of the image at `image` (`rel` to `compose/`).
fn describe(
    kind: ImageKind,
    arch: &str,
    image: &Path,
    rel: String,
    volume_id: String,
) -> Result<IsoImage, ComposeError> {
    let meta = std::fs::metadata(image).map_err(io_err("read", image))?;
    let sha256 = file_sha256(image).map_err(io_err("read", image))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(IsoImage {
        kind,
        arch: arch.to_owned(),
        path: rel,
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
        let (kind, bootable) = match image.kind {
            ImageKind::Dvd => ("dvd", false),
            ImageKind::Boot => ("boot", true),
        };
        let entry = json!({
            "arch": image.arch,
            "bootable": bootable,
            "checksums": {"sha256": image.sha256},
            "disc_count": 1,
            "disc_number": 1,
            "format": "iso",
            "implant_md5": null,
            "mtime": image.mtime,
            "path": image.path,
            "size": image.size,
            "subvariant": VARIANT,
            "type": kind,
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
