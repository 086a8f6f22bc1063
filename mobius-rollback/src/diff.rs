//! What a restore changes: the backup's manifest (verified) against the live tree.

use mobius_core::backups::ManifestFile;
use mobius_core::digest::sha256_file;
use mobius_core::platform::{self, MODES_ARE_REAL};
use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path};

/// Files (not directories) the restore adds, changes (content, mode or type) and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: u64,
}

struct Live {
    is_file: bool,
    size: u64,
    mode: u32,
}

/// Compares; a live file that cannot be read counts as changed (it will be replaced).
/// Files with the same size and mode are hashed, the others are changed on sight.
/// `files` are the manifest's entries of this place, with their names relative to it.
pub fn changes<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a ManifestFile)>,
    target: &Path,
) -> io::Result<Changes> {
    let mut live: BTreeMap<String, Live> = BTreeMap::new();
    if target.is_dir() {
        for entry in walkdir::WalkDir::new(target)
            .min_depth(1)
            .follow_links(false)
        {
            let entry = entry.map_err(io::Error::other)?;
            if entry.file_type().is_dir() {
                continue;
            }
            let rel = zip_name(
                entry
                    .path()
                    .strip_prefix(target)
                    .map_err(io::Error::other)?,
            );
            let meta = entry.metadata().map_err(io::Error::other)?;
            live.insert(
                rel,
                Live {
                    is_file: entry.file_type().is_file(),
                    size: meta.len(),
                    mode: platform::mode_of(&meta),
                },
            );
        }
    }
    let mut out = Changes::default();
    for (rel, f) in files {
        match live.remove(rel) {
            None => out.added.push(rel.to_owned()),
            Some(l) => {
                let same = l.is_file
                    && l.size == f.size
                    // Without Unix modes (Windows) the live mode is made up: it cannot differ.
                    && (!MODES_ARE_REAL || l.mode == f.mode & 0o777)
                    && sha256_file(&target.join(rel))
                        .map(|(h, _)| h.eq_ignore_ascii_case(&f.sha256))
                        .unwrap_or(false);
                if same {
                    out.unchanged += 1;
                } else {
                    out.changed.push(rel.to_owned());
                }
            }
        }
    }
    out.removed = live.into_keys().collect();
    Ok(out)
}

/// A relative path as the manifest names it: components joined by `/` (Windows joins them
/// by `\`).
fn zip_name(rel: &Path) -> String {
    let parts: Vec<_> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_paths_are_named_as_in_the_manifest() {
        let rel = Path::new("a").join("b").join("c.json");
        assert_eq!(zip_name(&rel), "a/b/c.json");
        assert_eq!(zip_name(Path::new("app.json")), "app.json");
    }
}
