//! Collecting what a backup holds: every regular file and directory under the sources, checked
//! before a single byte is archived, so a refusal (symlink out of the tree, FIFO, bad name)
//! never leaves half a backup behind.

use crate::Error;
use mobius_core::app_config::folder_name;
use mobius_core::backups::{unrestorable_entry_name, unsafe_entry_name, MANIFEST_NAME};
use mobius_core::platform::{self, FileId};
use std::collections::BTreeSet;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};

/// One source as the operator named it, and where it is on disk.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// As given (relative to the root when relative); recorded in the manifest.
    pub shown: String,
    pub path: PathBuf,
    /// The `app.json` that declared it in `backup_sources`; `None` for a `--source` flag or
    /// the default. Errors point there.
    pub declared_in: Option<String>,
}

/// One zip entry to write, in 32 bytes: a backup of a release tree holds hundreds of
/// thousands of them, and they are all held from the walk (which must refuse before
/// anything is written) to the end. The name lives in [`Items`]' arena; the path on disk is
/// rebuilt from the source and the name when the file is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    name_at: u32,
    name_len: u32,
    pub size: u64,
    /// Modification time, seconds since the epoch (meaningful with the `MTIME` flag).
    mtime: u32,
    /// Permission bits (`& 0o777`): setuid/setgid/sticky are deliberately not carried over.
    pub mode: u16,
    source: u16,
    flags: u8,
}

const DIR: u8 = 1;
/// Read through a symlink: open without O_NOFOLLOW.
const VIA_LINK: u8 = 2;
/// The source itself (a file given as a source, or a source directory's own entry).
const WHOLE: u8 = 4;
/// `mtime` holds the modification time (1970 to 2106; the zip's UT field stops at 2038).
const MTIME: u8 = 8;

impl Item {
    pub fn is_dir(&self) -> bool {
        self.flags & DIR != 0
    }

    pub fn via_link(&self) -> bool {
        self.flags & VIA_LINK != 0
    }

    /// The modification time for the zip headers (seconds since the epoch).
    pub fn mtime(&self) -> Option<u64> {
        (self.flags & MTIME != 0).then_some(u64::from(self.mtime))
    }

    pub fn size(&self) -> u64 {
        if self.is_dir() {
            0
        } else {
            self.size
        }
    }
}

/// Every entry of a backup, sorted by name, with one arena for all the names.
#[derive(Debug, Default)]
pub(crate) struct Items {
    names: String,
    items: Vec<Item>,
    /// Per source: where it is on disk and how many bytes of each name are its prefix
    /// (`folder/`), so a path is `path` joined with the rest of the name.
    roots: Vec<(PathBuf, usize)>,
}

impl Items {
    pub fn all(&self) -> &[Item] {
        &self.items
    }

    pub fn get(&self, i: usize) -> &Item {
        &self.items[i]
    }

    /// The zip entry name; directories end with `/`.
    pub fn name(&self, item: &Item) -> &str {
        let at = item.name_at as usize;
        self.names
            .get(at..at + item.name_len as usize)
            .unwrap_or("")
    }

    /// Where the bytes are read from (for a symlink inside the source: the link, followed).
    pub fn path(&self, item: &Item) -> PathBuf {
        let (root, prefix) = &self.roots[usize::from(item.source)];
        if item.flags & WHOLE != 0 {
            return root.clone();
        }
        let rel = self.name(item).get(*prefix..).unwrap_or("");
        root.join(rel.strip_suffix('/').unwrap_or(rel))
    }

    /// Bytes of memory held per entry (the item and its name), for the benchmark's report
    /// and the test that keeps it small.
    #[cfg(test)]
    pub fn bytes_held(&self) -> usize {
        self.names.capacity() + self.items.capacity() * std::mem::size_of::<Item>()
    }

    fn push(
        &mut self,
        name: &str,
        source: u16,
        meta: &Metadata,
        flags: u8,
        path: &Path,
    ) -> Result<(), Error> {
        let too_many = || Error::Refused {
            path: path.to_path_buf(),
            why: "the sources hold more than 4 GiB of file names, more than one backup can index"
                .into(),
        };
        let name_at = u32::try_from(self.names.len()).map_err(|_| too_many())?;
        let name_len = u32::try_from(name.len()).map_err(|_| too_many())?;
        if name.len() > usize::from(u16::MAX) {
            return Err(Error::Refused {
                path: path.to_path_buf(),
                why: "its name is longer than a zip entry name can be (64 KiB)".into(),
            });
        }
        self.names.push_str(name);
        let mtime = mobius_core::zipout::unix_secs(meta.modified().ok())
            .and_then(|s| u32::try_from(s).ok());
        let flags = flags | if mtime.is_some() { MTIME } else { 0 };
        self.items.push(Item {
            name_at,
            name_len,
            size: if flags & DIR != 0 { 0 } else { meta.len() },
            mtime: mtime.unwrap_or(0),
            // mode_of keeps the permission bits only (<= 0o777).
            mode: u16::try_from(platform::mode_of(meta) & 0o777).unwrap_or(0o600),
            source,
            flags,
        });
        Ok(())
    }
}

/// Walks every source and returns the entries sorted by name (byte order). `skip` is the
/// output directory's identity: when it lies inside a source, it is not archived (a backup
/// must not contain earlier backups, nor its own temporary file).
pub(crate) fn collect(sources: &[Source], skip: Option<&FileId>) -> Result<Items, Error> {
    let prefixes = prefixes(sources)?;
    let mut items = Items::default();
    for (i, (src, prefix)) in sources.iter().zip(&prefixes).enumerate() {
        let source = u16::try_from(i).map_err(|_| {
            Error::Usage("more than 65,535 sources; archive their parent instead".into())
        })?;
        items
            .roots
            .push((src.path.clone(), prefix.as_ref().map_or(0, |p| p.len() + 1)));
        let before = items.items.len();
        collect_one(src, source, prefix.as_deref(), skip, &mut items)?;
        let files = items.items[before..].iter().filter(|i| !i.is_dir()).count();
        if files == 0 {
            return Err(Error::EmptySource {
                path: src.path.clone(),
                declared_in: src.declared_in.clone(),
            });
        }
    }
    // Unstable sort: it needs no buffer (a stable one takes half the list again), and names
    // are unique, so order among equals cannot arise.
    let Items {
        names, items: list, ..
    } = &mut items;
    list.sort_unstable_by(|a, b| {
        let name = |i: &Item| {
            let at = i.name_at as usize;
            names
                .as_bytes()
                .get(at..at + i.name_len as usize)
                .unwrap_or(&[])
        };
        name(a).cmp(name(b))
    });
    items.names.shrink_to_fit();
    items.items.shrink_to_fit();
    Ok(items)
}

/// With one source its files sit at the top level of the zip; with several, each source's
/// files go under its folder name ([`folder_name`]: the last component of the path as
/// written), which must therefore differ between sources. Rollback maps folders back to the
/// live declared sources with the same function, so both agree on every name.
fn prefixes(sources: &[Source]) -> Result<Vec<Option<String>>, Error> {
    if sources.len() == 1 {
        return Ok(vec![None]);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for src in sources {
        let base = match &src.declared_in {
            // A declared source must have a plain last component: rollback finds its place
            // by that name, and cannot for `.` or `..`.
            Some(app) => source_folder(src, false).ok_or_else(|| Error::BadDeclaration {
                path: app.clone(),
                why: format!(
                    "entry {:?} does not end in a plain directory name (its folder in the backup); name the directory itself",
                    src.shown
                ),
            })?,
            None => source_folder(src, true).ok_or_else(|| {
                Error::Usage(format!(
                    "--source {}: cannot tell its base name, which names its folder in the zip; give the directory by name",
                    src.shown
                ))
            })?,
        };
        if !seen.insert(base.clone()) {
            return Err(match &src.declared_in {
                Some(app) => Error::BadDeclaration {
                    path: app.clone(),
                    why: format!(
                        "holds two paths ending in {base:?}; each source's files go under that folder in the backup, so they would collide: rename one directory"
                    ),
                },
                None => Error::Usage(format!(
                    "two --source paths share the base name {base:?}; their files would collide in the zip"
                )),
            });
        }
        out.push(Some(base));
    }
    Ok(out)
}

/// The folder of `src`: [`folder_name`] of the path as written; for a `--source` of `.` or
/// `..` (`canonical`), the real directory's name. Names a zip cannot hold are refused.
fn source_folder(src: &Source, canonical: bool) -> Option<String> {
    let name = match folder_name(Path::new(&src.shown)) {
        Some(n) => n,
        None if canonical => fs::canonicalize(&src.path)
            .ok()?
            .file_name()?
            .to_str()?
            .to_owned(),
        None => return None,
    };
    (unsafe_entry_name(&name).is_none()
        && unrestorable_entry_name(&name).is_none()
        && name != MANIFEST_NAME)
        .then_some(name)
}

fn collect_one(
    src: &Source,
    source: u16,
    prefix: Option<&str>,
    skip: Option<&FileId>,
    items: &mut Items,
) -> Result<(), Error> {
    // The source itself may be a symlink (config/production -> /srv/config): the operator
    // named it, so it is followed. Links inside it are judged one by one below.
    let meta = match fs::metadata(&src.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::SourceMissing {
                path: src.path.clone(),
                declared_in: src.declared_in.clone(),
            })
        }
        Err(e) => return Err(Error::io("read", &src.path, e)),
    };
    if meta.is_file() {
        let name = match prefix {
            Some(p) => p.to_owned(),
            None => source_folder(src, true).ok_or_else(|| Error::Refused {
                path: src.path.clone(),
                why: "its file name cannot be stored in a zip".into(),
            })?,
        };
        return items.push(&name, source, &meta, WHOLE, &src.path);
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
        items.push(&format!("{p}/"), source, &meta, DIR | WHOLE, &src.path)?;
    }
    let mut walk = walkdir::WalkDir::new(&src.path)
        .follow_links(false)
        .min_depth(1)
        .into_iter();
    let mut name = String::new();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| walk_error(&src.path, e))?;
        let path = entry.path();
        let rel = path.strip_prefix(&src.path).unwrap_or(path);
        entry_name(prefix, rel, &mut name).map_err(|why| Error::Refused {
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
            name.push('/');
            items.push(&name, source, &meta, DIR, path)?;
        } else if ft.is_file() {
            items.push(&name, source, &meta, 0, path)?;
        } else if ft.is_symlink() {
            let target = check_link(path, &root)?;
            items.push(&name, source, &target, VIA_LINK, path)?;
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

/// Builds the entry name of `rel` into `name` (reused from entry to entry: no allocation per
/// file).
fn entry_name(prefix: Option<&str>, rel: &Path, name: &mut String) -> Result<(), String> {
    name.clear();
    if let Some(p) = prefix {
        name.push_str(p);
    }
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                if !name.is_empty() {
                    name.push('/');
                }
                name.push_str(
                    n.to_str()
                        .ok_or_else(|| "its name is not valid UTF-8".to_owned())?,
                );
            }
            _ => return Err("its path is not a plain relative path".into()),
        }
    }
    if let Some(why) = unsafe_entry_name(name) {
        return Err(format!(
            "its name is unsafe in a zip ({why}); restore tools refuse such entries, so rename it"
        ));
    }
    if let Some(why) = unrestorable_entry_name(name) {
        return Err(format!(
            "a restore could not create it ({why}), so a backup holding it would promise a restore that fails; rename it"
        ));
    }
    if name == MANIFEST_NAME {
        return Err(format!(
            "{MANIFEST_NAME} is reserved for the backup's own manifest; rename the file"
        ));
    }
    Ok(())
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

    fn en(prefix: Option<&str>, rel: &str) -> Result<String, String> {
        let mut s = String::from("left over");
        entry_name(prefix, Path::new(rel), &mut s).map(|()| s)
    }

    #[test]
    fn entry_names_are_slash_joined_and_checked() {
        assert_eq!(en(Some("app"), "a/b c.json").unwrap(), "app/a/b c.json");
        assert_eq!(en(None, "x.json").unwrap(), "x.json");
        assert!(en(None, "host:8080.json").is_err());
        if cfg!(unix) {
            assert!(en(None, "a\\b").is_err());
        } else {
            // Windows reads the backslash as a separator, never as part of a name.
            assert_eq!(en(None, "a\\b").unwrap(), "a/b");
        }
        assert!(en(None, MANIFEST_NAME).is_err());
        assert!(en(Some("app"), MANIFEST_NAME).is_ok());
    }

    #[test]
    fn an_item_is_small_and_paths_are_rebuilt_from_source_and_name() {
        // The memory budget of a 300,000-file backup rests on this (see the module header).
        assert!(std::mem::size_of::<Item>() <= 32);
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("current");
        fs::create_dir_all(src.join("lib/a")).unwrap();
        fs::write(src.join("lib/a/x.js"), b"x").unwrap();
        fs::write(d.path().join("app.json"), b"{}").unwrap();
        let sources = [
            Source {
                shown: "current".into(),
                path: src.clone(),
                declared_in: None,
            },
            Source {
                shown: "app.json".into(),
                path: d.path().join("app.json"),
                declared_in: None,
            },
        ];
        let items = collect(&sources, None).unwrap();
        let listed: Vec<(String, PathBuf)> = items
            .all()
            .iter()
            .map(|i| (items.name(i).to_owned(), items.path(i)))
            .collect();
        assert_eq!(
            listed,
            [
                ("app.json".to_owned(), d.path().join("app.json")),
                ("current/".to_owned(), src.clone()),
                ("current/lib/".to_owned(), src.join("lib")),
                ("current/lib/a/".to_owned(), src.join("lib/a")),
                ("current/lib/a/x.js".to_owned(), src.join("lib/a/x.js")),
            ]
        );
        let names: usize = listed.iter().map(|(n, _)| n.len()).sum();
        assert_eq!(items.bytes_held(), names + 5 * std::mem::size_of::<Item>());
    }
}
