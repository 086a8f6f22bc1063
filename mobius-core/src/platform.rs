//! The few file-system facts that differ between Unix and other systems (Windows), in one
//! place so the tools themselves need no `cfg`: permission bits, creating files and
//! directories with a mode, the kind of a special file, and the identity of a directory.
//!
//! On Unix these are the real thing (`st_mode`, `mkdir(2)`/`open(2)` modes, device and
//! inode). Elsewhere there are no Unix modes: nothing is chmod-ed, and a mode is derived from
//! what the system does have (directory or file, read-only or not) so manifests still hold a
//! sensible value. The fallbacks are plain functions compiled everywhere, so the Linux tests
//! exercise them too.

use std::fs::{self, DirBuilder, File, FileType, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// True where permission bits are real (Unix): elsewhere [`mode_of`] is derived and two
/// modes compared across systems mean nothing.
pub const MODES_ARE_REAL: bool = cfg!(unix);

/// The permission bits (`& 0o777`) of a file or directory.
pub fn mode_of(meta: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        derived_mode(meta.is_dir(), meta.permissions().readonly())
    }
}

/// The mode recorded where the system has none: what a Unix system would typically give a
/// directory (0755) or a file (0644), without the write bits when it is read-only.
pub fn derived_mode(is_dir: bool, readonly: bool) -> u32 {
    let mode = if is_dir { 0o755 } else { 0o644 };
    if readonly {
        mode & !0o222
    } else {
        mode
    }
}

/// Gives `path` exactly `mode` (the umask is not applied). Without Unix modes, does nothing:
/// marking files read-only on Windows would only stop them from being replaced or removed.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// [`set_mode`] on an open file.
pub fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}

/// A directory builder that creates directories with `mode` (before the umask) on Unix.
pub fn dir_builder(mode: u32) -> DirBuilder {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let mut b = DirBuilder::new();
        b.mode(mode);
        b
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        DirBuilder::new()
    }
}

/// Sets the mode a file created through `opts` gets (before the umask) on Unix.
pub fn create_mode(opts: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        opts
    }
}

/// What a file that is neither a regular file, a directory nor a symlink is, for messages:
/// `FIFO (named pipe)`, `socket`, `block device`, `character device`, or `special file`.
pub fn special_kind(ft: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "FIFO (named pipe)";
        } else if ft.is_socket() {
            return "socket";
        } else if ft.is_block_device() {
            return "block device";
        } else if ft.is_char_device() {
            return "character device";
        }
    }
    #[cfg(not(unix))]
    let _ = ft;
    "special file"
}

/// What tells one file or directory from every other: device and inode on Unix; elsewhere
/// the canonical path (std has no stable file index on Windows), which tells apart anything
/// that is not renamed while it is being looked at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileId {
    Inode { dev: u64, ino: u64 },
    Path(PathBuf),
}

/// The [`FileId`] of `path`, whose metadata `meta` the caller already has (following or not
/// following a final symlink, as the caller chose). None when it cannot be told.
pub fn file_id(path: &Path, meta: &Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Some(FileId::Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        path_id(path)
    }
}

/// The [`FileId`] of `path` by its canonical path (symlinks resolved).
pub fn path_id(path: &Path) -> Option<FileId> {
    fs::canonicalize(path).ok().map(FileId::Path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_modes_look_like_unix_defaults() {
        assert_eq!(derived_mode(false, false), 0o644);
        assert_eq!(derived_mode(false, true), 0o444);
        assert_eq!(derived_mode(true, false), 0o755);
        assert_eq!(derived_mode(true, true), 0o555);
    }

    #[test]
    fn created_files_and_directories_get_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        dir_builder(0o700).recursive(true).create(&sub).unwrap();
        let f = dir.path().join("a/f");
        let file = create_mode(OpenOptions::new().write(true).create_new(true), 0o600)
            .open(&f)
            .unwrap();
        let file_mode = mode_of(&fs::metadata(&f).unwrap());
        let dir_mode = mode_of(&fs::metadata(&sub).unwrap());
        if MODES_ARE_REAL {
            assert_eq!(file_mode & 0o077, 0, "no bits for group and others");
            assert_eq!(dir_mode & 0o077, 0);
            set_file_mode(&file, 0o640).unwrap();
            assert_eq!(mode_of(&fs::metadata(&f).unwrap()), 0o640);
            set_mode(&sub, 0o751).unwrap();
            assert_eq!(mode_of(&fs::metadata(&sub).unwrap()), 0o751);
        } else {
            assert_eq!(file_mode, 0o644);
            assert_eq!(dir_mode, 0o755);
            set_file_mode(&file, 0o400).unwrap();
            set_mode(&sub, 0o500).unwrap();
            assert_eq!(
                mode_of(&fs::metadata(&f).unwrap()),
                0o644,
                "modes are not set"
            );
        }
        assert_eq!(
            special_kind(&fs::metadata(&f).unwrap().file_type()),
            "special file"
        );
    }

    #[test]
    fn ids_tell_directories_apart_and_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let id = |p: &Path| file_id(p, &fs::metadata(p).unwrap()).unwrap();
        assert_ne!(id(&a), id(&b));
        assert_eq!(id(&a), id(&dir.path().join("b/../a")));
        assert_eq!(path_id(&a), path_id(&dir.path().join("./a")));
        assert_ne!(path_id(&a), path_id(&b));
        assert_eq!(path_id(&dir.path().join("missing")), None);
    }
}
