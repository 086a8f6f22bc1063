//! Collecting what a backup holds: every regular file and directory under the sources, checked
//! before a single byte is archived, so a refusal (symlink out of the tree, FIFO, bad name)
//! never leaves half a backup behind.

use crate::Error;
use mobius_core::backups::{unsafe_entry_name, MANIFEST_NAME};
use mobius_core::platform::{self, FileId};
use std::collections::BTreeSet;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

/// One source as the operator named it, and where it is on disk.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// As given (relative to the root when relative); recorded in the manifest.
    pub shown: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File { size: u64 },
}

/// One zip entry to write.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The zip entry name; directories end with `/`.
    pub name: String,
    /// Where the bytes are read from (for a symlink inside the source: the link, followed).
    pub path: PathBuf,
    pub kind: Kind,
    /// Permission bits (`& 0o777`): setuid/setgid/sticky are deliberately not carried over.
    pub mode: u32,
    pub mtime: Option<SystemTime>,
    /// Read through a symlink: open without O_NOFOLLOW.
    pub via_link: bool,
}

impl Item {
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File { size } => size,
            Kind::Dir => 0,
        }
    }
}

/// Walks every source and returns the entries sorted by name (byte order). `skip` is the
/// output directory's identity: when it lies inside a source, it is not archived (a backup
/// must not contain earlier backups, nor its own temporary file).
pub(crate) fn collect(sources: &[Source], skip: Option<&FileId>) -> Result<Vec<Item>, Error> {
    let prefixes = prefixes(sources)?;
    let mut items = Vec::new();
    for (src, prefix) in sources.iter().zip(&prefixes) {
        let before = items.len();
        collect_one(src, prefix.as_deref(), skip, &mut items)?;
        let files = items[before..]
            .iter()
            .filter(|i| matches!(i.kind, Kind::File { .. }))
            .count();
        if files == 0 {
            return Err(Error::EmptySource {
                path: src.path.clone(),
            });
        }
    }
    items.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(items)
}

/// With one source its files sit at the top level of the zip; with several, each source's
/// files go under the source's base name, which must therefore differ between sources.
fn prefixes(sources: &[Source]) -> Result<Vec<Option<String>>, Error> {
    if sources.len() == 1 {
        return Ok(vec![None]);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for src in sources {
        let base = base_name(&src.path).ok_or_else(|| {
            Error::Usage(format!(
                "--source {}: cannot tell its base name, which names its folder in the zip; give the directory by name",
                src.shown
            ))
        })?;
        if !seen.insert(base.clone()) {
            return Err(Error::Usage(format!(
                "two --source paths share the base name {base:?}; their files would collide in the zip"
            )));
        }
        out.push(Some(base));
    }
    Ok(out)
}

fn base_name(path: &Path) -> Option<String> {
    let name = match path.components().next_back()? {
        Component::Normal(n) => n.to_str()?.to_owned(),
        // `.` or `..`: use the real directory's name.
        _ => fs::canonicalize(path)
            .ok()?
            .file_name()?
            .to_str()?
            .to_owned(),
    };
    (unsafe_entry_name(&name).is_none() && name != MANIFEST_NAME).then_some(name)
}

fn collect_one(
    src: &Source,
    prefix: Option<&str>,
    skip: Option<&FileId>,
    items: &mut Vec<Item>,
) -> Result<(), Error> {
    // The source itself may be a symlink (config/production -> /srv/config): the operator
    // named it, so it is followed. Links inside it are judged one by one below.
    let meta = match fs::metadata(&src.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::SourceMissing {
                path: src.path.clone(),
            })
        }
        Err(e) => return Err(Error::io("read", &src.path, e)),
    };
    if meta.is_file() {
        let name = match prefix {
            Some(p) => p.to_owned(),
            None => base_name(&src.path).ok_or_else(|| Error::Refused {
                path: src.path.clone(),
                why: "its file name cannot be stored in a zip".into(),
            })?,
        };
        items.push(file_item(name, src.path.clone(), &meta, false));
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(Error::Refused {
            path: src.path.clone(),
            why: format!(
                "it is a {}; a source must be a directory or a regular file",
                kind_name(&meta)
            ),
        });
    }
    let root = fs::canonicalize(&src.path).map_err(|e| Error::io("resolve", &src.path, e))?;
    if let Some(p) = prefix {
        items.push(dir_item(format!("{p}/"), src.path.clone(), &meta));
    }
    let mut walk = walkdir::WalkDir::new(&src.path)
        .follow_links(false)
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| walk_error(&src.path, e))?;
        let path = entry.path();
        let rel = path.strip_prefix(&src.path).unwrap_or(path);
        let name = entry_name(prefix, rel).map_err(|why| Error::Refused {
            path: path.to_path_buf(),
            why,
        })?;
        let meta = entry.metadata().map_err(|e| walk_error(&src.path, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            if skip.is_some() && skip == platform::file_id(path, &meta).as_ref() {
                walk.skip_current_dir();
                continue;
            }
            items.push(dir_item(format!("{name}/"), path.to_path_buf(), &meta));
        } else if ft.is_file() {
            items.push(file_item(name, path.to_path_buf(), &meta, false));
        } else if ft.is_symlink() {
            let target = check_link(path, &root)?;
            items.push(file_item(name, path.to_path_buf(), &target, true));
        } else {
            return Err(Error::Refused {
                path: path.to_path_buf(),
                why: format!(
                    "it is a {}; only regular files and directories are backed up",
                    kind_name(&meta)
                ),
            });
        }
    }
    Ok(())
}

/// A symlink is archived as the content of the file it points to, but only when that file is
/// inside the source: a link out of the tree would copy (and on restore, plant) data the
/// operator never asked to back up. Links to directories are refused too: following them
/// could archive a subtree twice or loop.
fn check_link(path: &Path, root: &Path) -> Result<Metadata, Error> {
    let refuse = |why: String| Error::Refused {
        path: path.to_path_buf(),
        why,
    };
    let shown_target = fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let target = match fs::canonicalize(path) {
        Ok(t) => t,
        Err(_) => {
            return Err(refuse(format!(
                "it is a symlink to {shown_target}, which does not exist"
            )))
        }
    };
    if !target.starts_with(root) {
        return Err(refuse(format!(
            "it is a symlink pointing outside the source (to {})",
            target.display()
        )));
    }
    let meta = fs::metadata(&target).map_err(|e| Error::io("read", &target, e))?;
    if meta.is_dir() {
        return Err(refuse(format!(
            "it is a symlink to the directory {shown_target}; symlinked directories are not backed up (replace the link with the directory or remove it)"
        )));
    }
    if !meta.is_file() {
        return Err(refuse(format!(
            "it is a symlink to a {} ({shown_target}); only regular files are backed up",
            kind_name(&meta)
        )));
    }
    Ok(meta)
}

fn entry_name(prefix: Option<&str>, rel: &Path) -> Result<String, String> {
    let mut parts: Vec<&str> = prefix.into_iter().collect();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(
                n.to_str()
                    .ok_or_else(|| "its name is not valid UTF-8".to_owned())?,
            ),
            _ => return Err("its path is not a plain relative path".into()),
        }
    }
    let name = parts.join("/");
    if let Some(why) = unsafe_entry_name(&name) {
        return Err(format!(
            "its name is unsafe in a zip ({why}); restore tools refuse such entries, so rename it"
        ));
    }
    if name == MANIFEST_NAME {
        return Err(format!(
            "{MANIFEST_NAME} is reserved for the backup's own manifest; rename the file"
        ));
    }
    Ok(name)
}

fn file_item(name: String, path: PathBuf, meta: &Metadata, via_link: bool) -> Item {
    Item {
        name,
        path,
        kind: Kind::File { size: meta.len() },
        mode: platform::mode_of(meta),
        mtime: meta.modified().ok(),
        via_link,
    }
}

fn dir_item(name: String, path: PathBuf, meta: &Metadata) -> Item {
    Item {
        name,
        path,
        kind: Kind::Dir,
        mode: platform::mode_of(meta),
        mtime: meta.modified().ok(),
        via_link: false,
    }
}

fn kind_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else {
        platform::special_kind(&ft)
    }
}

fn walk_error(src: &Path, e: walkdir::Error) -> Error {
    let path = e.path().unwrap_or(src).to_path_buf();
    match e.into_io_error() {
        Some(io) if io.kind() == io::ErrorKind::PermissionDenied => Error::Refused {
            path,
            why: "it cannot be read (permission denied); fix its permissions".into(),
        },
        Some(io) => Error::io("read", &path, io),
        None => Error::Refused {
            path,
            why: "it is part of a filesystem loop".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_slash_joined_and_checked() {
        assert_eq!(
            entry_name(Some("app"), Path::new("a/b c.json")).unwrap(),
            "app/a/b c.json"
        );
        assert_eq!(entry_name(None, Path::new("x.json")).unwrap(), "x.json");
        assert!(entry_name(None, Path::new("host:8080.json")).is_err());
        if cfg!(unix) {
            assert!(entry_name(None, Path::new("a\\b")).is_err());
        } else {
            // Windows reads the backslash as a separator, never as part of a name.
            assert_eq!(entry_name(None, Path::new("a\\b")).unwrap(), "a/b");
        }
        assert!(entry_name(None, Path::new(MANIFEST_NAME)).is_err());
        assert!(entry_name(Some("app"), Path::new(MANIFEST_NAME)).is_ok());
    }
}
