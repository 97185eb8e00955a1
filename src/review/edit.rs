//! Every change a reviewer can make, as a value. [`ReviewState::apply`] validates an edit
//! completely before touching the state, applies it, and returns its exact inverse: applying
//! the inverse restores the persisted state bit for bit (cluster records, ids, names,
//! colours, exclusion flags and the assignment of every image).

use serde::{Deserialize, Serialize};

use super::palette;
use super::state::{Cluster, ClusterId, ReviewState};

/// One change to a [`ReviewState`]. Image indices are indices into `Analysis::records`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Give a cluster a new name (stored without the size).
    Rename { cluster: ClusterId, name: String },
    /// Move images into an existing cluster. The inverse moves each image back to the
    /// cluster it came from (one `Move` per origin, in a `Batch`).
    Move { images: Vec<usize>, to: ClusterId },
    /// Move every member of `clusters` into `into` and remove those clusters. The inverse
    /// recreates each of them with its old id, name, colour and flag, and its old members.
    Merge {
        clusters: Vec<ClusterId>,
        into: ClusterId,
    },
    /// Split `cluster` by a sub-clustering computed by the caller: `members[i]` gets part
    /// `parts[i]`. Part 0 (or the lowest part present) stays in `cluster`; every other part
    /// becomes a new cluster, ids allocated from [`ReviewState::next_cluster_id`] in part
    /// order, named by majority modality and anatomy. `members` must be exactly the
    /// cluster's current members, in any order.
    Split {
        cluster: ClusterId,
        members: Vec<usize>,
        parts: Vec<u32>,
    },
    /// Create `cluster` (its id must be free) and move `images` into it. Build one with
    /// [`ReviewState::new_cluster_edit`].
    NewCluster {
        cluster: Cluster,
        images: Vec<usize>,
    },
    /// Remove an empty cluster (the inverse of `NewCluster` uses it).
    DeleteCluster { cluster: ClusterId },
    /// Set the "excluded / unusable" flag of images. The inverse flips back only the
    /// images whose flag changed.
    Exclude { images: Vec<usize>, excluded: bool },
    /// Set a whole cluster's "excluded / unusable" flag.
    ExcludeCluster { cluster: ClusterId, excluded: bool },
    /// Change a cluster's colour.
    Recolor { cluster: ClusterId, color: [u8; 3] },
    /// Several edits applied in order as one; all or nothing.
    Batch { edits: Vec<Edit> },
}

/// Why an edit was refused. The state is unchanged when `apply` returns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("cluster {0} does not exist")]
    UnknownCluster(ClusterId),
    #[error("cluster {0} already exists")]
    ClusterExists(ClusterId),
    #[error("cluster {0} still has images")]
    NotEmpty(ClusterId),
    #[error("image {0} does not exist")]
    ImageOutOfRange(usize),
    #[error("a cluster name cannot be empty")]
    EmptyName,
    #[error("split of cluster {cluster}: {reason}")]
    BadSplit { cluster: ClusterId, reason: String },
    #[error("merge needs at least one cluster other than the target")]
    NothingToMerge,
}

impl Edit {
    /// A move of `images` to `to`, for the UI.
    pub fn move_to(images: Vec<usize>, to: ClusterId) -> Self {
        Edit::Move { images, to }
    }

    /// Short human description for menus and the log: "Move 3 images".
    pub fn label(&self) -> String {
        let n = |k: usize, one: &str, many: &str| {
            if k == 1 {
                format!("1 {one}")
            } else {
                format!("{k} {many}")
            }
        };
        match self {
            Edit::Rename { name, .. } => format!("Rename cluster to \"{name}\""),
            Edit::Move { images, .. } => format!("Move {}", n(images.len(), "image", "images")),
            Edit::Merge { clusters, .. } => {
                format!("Merge {}", n(clusters.len() + 1, "cluster", "clusters"))
            }
            Edit::Split { .. } => "Split cluster".into(),
            Edit::NewCluster { images, .. } => {
                format!("New cluster from {}", n(images.len(), "image", "images"))
            }
            Edit::DeleteCluster { .. } => "Delete cluster".into(),
            Edit::Exclude {
                images,
                excluded: true,
            } => format!("Exclude {}", n(images.len(), "image", "images")),
            Edit::Exclude {
                images,
                excluded: false,
            } => format!("Include {}", n(images.len(), "image", "images")),
            Edit::ExcludeCluster { excluded: true, .. } => "Exclude cluster".into(),
            Edit::ExcludeCluster {
                excluded: false, ..
            } => "Include cluster".into(),
            Edit::Recolor { .. } => "Recolour cluster".into(),
            Edit::Batch { edits } if edits.len() == 1 => edits[0].label(),
            Edit::Batch { edits } => n(edits.len(), "edit", "edits"),
        }
    }

    /// True for an edit that changes nothing in any state (an empty move or batch).
    pub fn is_noop(&self) -> bool {
        match self {
            Edit::Move { images, .. } | Edit::Exclude { images, .. } => images.is_empty(),
            Edit::Batch { edits } => edits.iter().all(Edit::is_noop),
            _ => false,
        }
    }
}

impl ReviewState {
    /// Apply `edit` and return its exact inverse. Refused edits leave the state unchanged.
    pub fn apply(&mut self, edit: Edit) -> Result<Edit, EditError> {
        self.validate(&edit)?;
        let inv = self.apply_valid(edit);
        self.bump();
        Ok(inv)
    }

    fn check_cluster(&self, c: ClusterId) -> Result<(), EditError> {
        if self.clusters.contains_key(&c) {
            Ok(())
        } else {
            Err(EditError::UnknownCluster(c))
        }
    }

    fn check_images(&self, images: &[usize]) -> Result<(), EditError> {
        match images.iter().find(|&&i| i >= self.assignment.len()) {
            Some(&i) => Err(EditError::ImageOutOfRange(i)),
            None => Ok(()),
        }
    }

    /// Check without changing anything. A `Batch` is validated by applying it to a scratch
    /// copy, since its later edits may depend on its earlier ones.
    fn validate(&self, edit: &Edit) -> Result<(), EditError> {
        match edit {
            Edit::Rename { cluster, name } => {
                self.check_cluster(*cluster)?;
                if name.trim().is_empty() {
                    return Err(EditError::EmptyName);
                }
            }
            Edit::Recolor { cluster, .. } | Edit::ExcludeCluster { cluster, .. } => {
                self.check_cluster(*cluster)?
            }
            Edit::Move { images, to } => {
                self.check_cluster(*to)?;
                self.check_images(images)?;
            }
            Edit::Exclude { images, .. } => self.check_images(images)?,
            Edit::Merge { clusters, into } => {
                self.check_cluster(*into)?;
                for c in clusters {
                    self.check_cluster(*c)?;
                }
                if !clusters.iter().any(|c| c != into) {
                    return Err(EditError::NothingToMerge);
                }
            }
            Edit::Split {
                cluster,
                members,
                parts,
            } => {
                self.check_cluster(*cluster)?;
                self.check_images(members)?;
                let bad = |reason: String| EditError::BadSplit {
                    cluster: *cluster,
                    reason,
                };
                if members.len() != parts.len() {
                    return Err(bad(format!(
                        "{} members but {} part labels",
                        members.len(),
                        parts.len()
                    )));
                }
                let mut seen = vec![false; self.assignment.len()];
                for &m in members {
                    if self.assignment[m] != *cluster {
                        return Err(bad(format!("image {m} is not a member")));
                    }
                    if std::mem::replace(&mut seen[m], true) {
                        return Err(bad(format!("image {m} is listed twice")));
                    }
                }
                if members.len() != self.size(*cluster) {
                    return Err(bad(format!(
                        "{} of {} members given",
                        members.len(),
                        self.size(*cluster)
                    )));
                }
            }
            Edit::NewCluster { cluster, images } => {
                if self.clusters.contains_key(&cluster.id) {
                    return Err(EditError::ClusterExists(cluster.id));
                }
                if cluster.name.trim().is_empty() {
                    return Err(EditError::EmptyName);
                }
                self.check_images(images)?;
            }
            Edit::DeleteCluster { cluster } => {
                self.check_cluster(*cluster)?;
                if self.size(*cluster) > 0 {
                    return Err(EditError::NotEmpty(*cluster));
                }
            }
            Edit::Batch { edits } => {
                if edits.len() <= 1 {
                    if let Some(e) = edits.first() {
                        self.validate(e)?;
                    }
                } else {
                    let mut scratch = self.clone();
                    for e in edits {
                        scratch.validate(e)?;
                        scratch.apply_valid(e.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn set_cluster(&mut self, image: usize, to: ClusterId) -> ClusterId {
        let from = std::mem::replace(&mut self.assignment[image], to);
        if from != to {
            if let Some(n) = self.sizes.get_mut(&from) {
                *n -= 1;
                if *n == 0 {
                    self.sizes.remove(&from);
                }
            }
            *self.sizes.entry(to).or_insert(0) += 1;
        }
        from
    }

    /// Move images, returning the inverse: one move per origin cluster, origins in order of
    /// first appearance.
    fn move_images(&mut self, images: &[usize], to: ClusterId) -> Edit {
        let mut back: Vec<(ClusterId, Vec<usize>)> = Vec::new();
        for &i in images {
            let from = self.set_cluster(i, to);
            if from == to {
                continue;
            }
            match back.iter_mut().find(|(c, _)| *c == from) {
                Some((_, v)) => v.push(i),
                None => back.push((from, vec![i])),
            }
        }
        Edit::Batch {
            edits: back
                .into_iter()
                .map(|(c, images)| Edit::Move { images, to: c })
                .collect(),
        }
    }

    /// Apply an edit already validated against the current state.
    fn apply_valid(&mut self, edit: Edit) -> Edit {
        match edit {
            Edit::Rename { cluster, name } => {
                let c = self.clusters.get_mut(&cluster).expect("validated");
                Edit::Rename {
                    cluster,
                    name: std::mem::replace(&mut c.name, name),
                }
            }
            Edit::Recolor { cluster, color } => {
                let c = self.clusters.get_mut(&cluster).expect("validated");
                Edit::Recolor {
                    cluster,
                    color: std::mem::replace(&mut c.color, color),
                }
            }
            Edit::ExcludeCluster { cluster, excluded } => {
                let c = self.clusters.get_mut(&cluster).expect("validated");
                Edit::ExcludeCluster {
                    cluster,
                    excluded: std::mem::replace(&mut c.excluded, excluded),
                }
            }
            Edit::Exclude { images, excluded } => {
                let mut changed = Vec::new();
                for i in images {
                    if std::mem::replace(&mut self.excluded[i], excluded) != excluded {
                        changed.push(i);
                    }
                }
                Edit::Exclude {
                    images: changed,
                    excluded: !excluded,
                }
            }
            Edit::Move { images, to } => self.move_images(&images, to),
            Edit::NewCluster { cluster, images } => {
                let id = cluster.id;
                self.clusters.insert(id, cluster);
                let Edit::Batch { mut edits } = self.move_images(&images, id) else {
                    unreachable!()
                };
                edits.push(Edit::DeleteCluster { cluster: id });
                Edit::Batch { edits }
            }
            Edit::DeleteCluster { cluster } => {
                let record = self.clusters.remove(&cluster).expect("validated");
                self.sizes.remove(&cluster);
                Edit::NewCluster {
                    cluster: record,
                    images: Vec::new(),
                }
            }
            Edit::Merge { clusters, into } => {
                let members = self.all_members();
                let mut undo = Vec::new();
                let mut done: Vec<ClusterId> = Vec::new();
                for c in clusters {
                    if c == into || done.contains(&c) {
                        continue;
                    }
                    done.push(c);
                    let imgs = members.get(&c).cloned().unwrap_or_default();
                    for &i in &imgs {
                        self.set_cluster(i, into);
                    }
                    let record = self.clusters.remove(&c).expect("validated");
                    self.sizes.remove(&c);
                    undo.push(Edit::NewCluster {
                        cluster: record,
                        images: imgs,
                    });
                }
                undo.reverse();
                Edit::Batch { edits: undo }
            }
            Edit::Split {
                cluster: _,
                members,
                parts,
            } => {
                let mut labels: Vec<u32> = parts.clone();
                labels.sort_unstable();
                labels.dedup();
                let mut undo = Vec::new();
                let mut next = self.next_cluster_id();
                for &part in labels.iter().skip(1) {
                    let imgs: Vec<usize> = members
                        .iter()
                        .zip(&parts)
                        .filter(|(_, &p)| p == part)
                        .map(|(&m, _)| m)
                        .collect();
                    let name = self.unique_name(self.default_name_for(&imgs), &[]);
                    let record = Cluster {
                        id: next,
                        name,
                        color: palette::color(next.0),
                        excluded: false,
                    };
                    undo.push(self.apply_valid(Edit::NewCluster {
                        cluster: record,
                        images: imgs,
                    }));
                    next = ClusterId(next.0 + 1);
                }
                undo.reverse();
                Edit::Batch { edits: undo }
            }
            Edit::Batch { edits } => {
                let mut undo: Vec<Edit> = edits.into_iter().map(|e| self.apply_valid(e)).collect();
                undo.reverse();
                Edit::Batch { edits: undo }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::review::state::tests::sample;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn check_inverse(state: &mut ReviewState, edit: Edit) -> Edit {
        let before = state.clone();
        let inv = state
            .apply(edit.clone())
            .unwrap_or_else(|e| panic!("{edit:?}: {e}"));
        let after = state.clone();
        let redo = state.apply(inv.clone()).unwrap();
        assert_eq!(*state, before, "inverse of {edit:?} did not restore");
        assert_eq!(
            state.sizes(),
            before.sizes(),
            "size cache after undo of {edit:?}"
        );
        state.apply(redo).unwrap();
        assert_eq!(*state, after, "redo of {edit:?} differs");
        state.apply(inv.clone()).unwrap();
        inv
    }

    #[test]
    fn every_variant_inverts_exactly() {
        let mut s = ReviewState::from_analysis(&sample());
        let c = ClusterId;
        let fresh = s.new_cluster_edit(vec![0, 3, 5], None);
        let edits = vec![
            Edit::Rename {
                cluster: c(1),
                name: "Brain MR".into(),
            },
            Edit::Recolor {
                cluster: c(2),
                color: [1, 2, 3],
            },
            Edit::Move {
                images: vec![0, 3, 4, 9, 0],
                to: c(2),
            },
            Edit::Move {
                images: vec![5],
                to: c(2),
            },
            Edit::Merge {
                clusters: vec![c(0), c(3), c(0), c(1)],
                into: c(1),
            },
            Edit::Split {
                cluster: c(2),
                members: vec![7, 5, 6],
                parts: vec![4, 1, 9],
            },
            Edit::Split {
                cluster: c(0),
                members: vec![0, 1, 2],
                parts: vec![0, 0, 0],
            },
            fresh,
            Edit::Exclude {
                images: vec![1, 2, 2],
                excluded: true,
            },
            Edit::ExcludeCluster {
                cluster: c(3),
                excluded: true,
            },
            Edit::Batch {
                edits: vec![
                    Edit::Move {
                        images: vec![8, 9],
                        to: c(0),
                    },
                    Edit::Merge {
                        clusters: vec![c(3)],
                        into: c(2),
                    },
                    Edit::Rename {
                        cluster: c(0),
                        name: "x".into(),
                    },
                ],
            },
        ];
        for e in edits {
            check_inverse(&mut s, e);
        }
        // An edit with an excluded image already set only flips back what changed.
        s.apply(Edit::Exclude {
            images: vec![1],
            excluded: true,
        })
        .unwrap();
        let inv = s
            .apply(Edit::Exclude {
                images: vec![1, 2],
                excluded: true,
            })
            .unwrap();
        assert_eq!(
            inv,
            Edit::Exclude {
                images: vec![2],
                excluded: false
            }
        );
    }

    #[test]
    fn split_creates_named_clusters_and_merge_removes() {
        let mut s = ReviewState::from_analysis(&sample());
        s.apply(Edit::Merge {
            clusters: vec![ClusterId(1)],
            into: ClusterId(0),
        })
        .unwrap();
        assert!(s.cluster(ClusterId(1)).is_none());
        assert_eq!(s.size(ClusterId(0)), 5);
        let members = s.members(ClusterId(0));
        let parts: Vec<u32> = members
            .iter()
            .map(|&m| u32::from(s.modality_of(m) == "MR"))
            .collect();
        s.apply(Edit::Split {
            cluster: ClusterId(0),
            members,
            parts,
        })
        .unwrap();
        assert_eq!(s.members(ClusterId(4)), vec![3, 4]);
        assert_eq!(s.cluster(ClusterId(4)).unwrap().name, "MR HEAD");
        assert_eq!(s.size(ClusterId(0)), 3);
    }

    #[test]
    fn refused_edits_change_nothing() {
        let mut s = ReviewState::from_analysis(&sample());
        let before = s.clone();
        let bad = [
            (
                Edit::Rename {
                    cluster: ClusterId(9),
                    name: "a".into(),
                },
                EditError::UnknownCluster(ClusterId(9)),
            ),
            (
                Edit::Rename {
                    cluster: ClusterId(0),
                    name: "  ".into(),
                },
                EditError::EmptyName,
            ),
            (
                Edit::Move {
                    images: vec![0, 99],
                    to: ClusterId(1),
                },
                EditError::ImageOutOfRange(99),
            ),
            (
                Edit::Merge {
                    clusters: vec![ClusterId(0)],
                    into: ClusterId(0),
                },
                EditError::NothingToMerge,
            ),
            (
                Edit::DeleteCluster {
                    cluster: ClusterId(0),
                },
                EditError::NotEmpty(ClusterId(0)),
            ),
            (
                Edit::Batch {
                    edits: vec![
                        Edit::Move {
                            images: vec![0],
                            to: ClusterId(1),
                        },
                        Edit::Rename {
                            cluster: ClusterId(7),
                            name: "b".into(),
                        },
                    ],
                },
                EditError::UnknownCluster(ClusterId(7)),
            ),
        ];
        for (e, want) in bad {
            assert_eq!(s.apply(e), Err(want));
            assert_eq!(s, before);
        }
        let split = s.apply(Edit::Split {
            cluster: ClusterId(0),
            members: vec![0, 1],
            parts: vec![0, 1],
        });
        assert!(
            matches!(split, Err(EditError::BadSplit { .. })),
            "{split:?}"
        );
    }

    /// A random valid edit for the current state.
    pub(crate) fn random_edit(s: &ReviewState, rng: &mut ChaCha8Rng) -> Edit {
        let ids = s.cluster_ids();
        let pick = |rng: &mut ChaCha8Rng| ids[rng.gen_range(0..ids.len())];
        let images = |rng: &mut ChaCha8Rng| -> Vec<usize> {
            let k = rng.gen_range(0..4);
            (0..k).map(|_| rng.gen_range(0..s.len())).collect()
        };
        match rng.gen_range(0..9) {
            0 => Edit::Rename {
                cluster: pick(rng),
                name: format!("n{}", rng.gen_range(0..5)),
            },
            1 => Edit::Move {
                images: images(rng),
                to: pick(rng),
            },
            2 if ids.len() > 1 => Edit::Merge {
                clusters: vec![pick(rng), pick(rng)],
                into: pick(rng),
            },
            3 => {
                let c = pick(rng);
                let members = s.members(c);
                let parts = members.iter().map(|_| rng.gen_range(0..3)).collect();
                Edit::Split {
                    cluster: c,
                    members,
                    parts,
                }
            }
            4 => s.new_cluster_edit(images(rng), None),
            5 => Edit::Exclude {
                images: images(rng),
                excluded: rng.gen(),
            },
            6 => Edit::ExcludeCluster {
                cluster: pick(rng),
                excluded: rng.gen(),
            },
            7 => Edit::Recolor {
                cluster: pick(rng),
                color: [rng.gen(), rng.gen(), rng.gen()],
            },
            _ => Edit::Batch {
                edits: vec![Edit::Move {
                    images: images(rng),
                    to: pick(rng),
                }],
            },
        }
    }

    #[test]
    fn random_sequences_undo_to_the_original() {
        for seed in 0..20u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let original = ReviewState::from_analysis(&sample());
            let mut s = original.clone();
            let mut inverses = Vec::new();
            for _ in 0..60 {
                let e = random_edit(&s, &mut rng);
                match s.apply(e.clone()) {
                    Ok(inv) => inverses.push(inv),
                    // A merge of a cluster into itself is refused: fine, nothing changed.
                    Err(EditError::NothingToMerge) => {}
                    Err(err) => panic!("seed {seed}: {e:?}: {err}"),
                }
            }
            for inv in inverses.into_iter().rev() {
                s.apply(inv).unwrap();
            }
            assert_eq!(s, original, "seed {seed}");
            assert_eq!(s.sizes(), original.sizes());
        }
    }
}
