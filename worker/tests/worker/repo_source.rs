//! The `repo` source type only reads from the allowed roots.

use odcs_worker::source::repo::{open, RepoSourceError};

use crate::support::*;

#[test]
fn paths_outside_the_roots_are_refused() {
    let scratch = Scratch::new("roots");
    let root = scratch.path().join("allowed");
    let repo = root.join("repo");
    link_rpms(&fixture_repo(), &repo);
    let outside = scratch.path().join("outside");
    link_rpms(&fixture_repo(), &outside);
    let roots = [root.clone()];

    let ok = open(&repo.display().to_string(), &roots, 1 << 30).expect("inside");
    assert_eq!(ok.packages.len(), 5);

    let cases = [
        (outside.display().to_string(), "outside the allowed roots"),
        (
            format!("{}/../outside", root.display()),
            "outside the allowed roots",
        ),
        ("allowed/repo".to_owned(), "must be an absolute path"),
        (format!("{}/missing", root.display()), "cannot be read"),
    ];
    for (source, message) in cases {
        let err = open(&source, &roots, 1 << 30).expect_err(&source);
        assert!(err.to_string().contains(message), "{source}: {err}");
    }

    std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
    let err =
        open(&root.join("link").display().to_string(), &roots, 1 << 30).expect_err("dir link");
    assert!(matches!(err, RepoSourceError::OutsideRoots { .. }), "{err}");

    let sneaky = root.join("sneaky");
    std::fs::create_dir_all(&sneaky).expect("dir");
    std::os::unix::fs::symlink(
        outside.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm"),
        sneaky.join("ed.rpm"),
    )
    .expect("symlink");
    let err = open(&sneaky.display().to_string(), &roots, 1 << 30).expect_err("file link");
    assert!(matches!(err, RepoSourceError::EscapingLink(_)), "{err}");

    let err = open(&repo.display().to_string(), &[], 1 << 30).expect_err("no roots");
    assert!(matches!(err, RepoSourceError::Disabled));

    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    assert!(matches!(
        open(&empty.display().to_string(), &roots, 1 << 30),
        Err(RepoSourceError::Empty(_))
    ));
}

/// Roots are configured as operators write them: through a symlink (`/srv/repos` pointing at
/// the data disk), also with `..` on the way; paths under them as written are inside.
#[test]
fn roots_named_through_symlinks_or_dot_dot_hold_their_repositories() {
    let scratch = Scratch::new("root-forms");
    let data = scratch.path().join("data");
    link_rpms(&fixture_repo(), &data.join("repo"));
    let linked_root = scratch.path().join("srv-repos");
    std::os::unix::fs::symlink(&data, &linked_root).expect("symlink");
    let dotted_link = scratch.path().join("elsewhere/../srv-repos");
    std::fs::create_dir_all(scratch.path().join("elsewhere")).expect("dir");
    for root in [linked_root, dotted_link] {
        let source = root.join("repo").display().to_string();
        let opened = open(&source, std::slice::from_ref(&root), 1 << 30)
            .unwrap_or_else(|e| panic!("{source} under {}: {e}", root.display()));
        assert_eq!(opened.packages.len(), 5);
    }
}
