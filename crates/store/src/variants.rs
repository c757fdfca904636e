//! The A/B verdict (issue 17): per variant of a message set, posts and mean / median views,
//! reactions and replies with a 95 % interval of the mean, and Welch's t-test between two
//! variants on their posts' reach (views where Telegram counts them, else reactions +
//! replies). The t distribution is statrs's; nothing here is hand-rolled maths beyond means
//! and variances. `auto_winner` asks [`winner`]: a minimum sample and a significant result.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::reach::VariantPost;

/// Significance level of the verdict: a difference is "real" below this two-sided p-value.
pub const ALPHA: f64 = 0.05;

/// Mean, median and 95 % interval of the mean of one figure.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Figure {
    /// Mean over the measured posts.
    pub mean: f64,
    /// Median over the measured posts.
    pub median: f64,
    /// 95 % interval of the mean (t-based); equal to the mean with fewer than 2 posts.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

/// One variant's summary over the posts whose reach was read at least once.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantSummary {
    /// The label.
    pub variant: String,
    /// Posts sent with this variant.
    pub posts: usize,
    /// Posts with at least one reach read (the sample below).
    pub measured: usize,
    /// Views (`None`: no measured post has views, e.g. groups only).
    pub views: Option<Figure>,
    /// Reactions.
    pub reactions: Option<Figure>,
    /// Replies.
    pub replies: Option<Figure>,
}

/// Welch's t-test between two variants' reach.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// The variant with the higher mean reach.
    pub better: String,
    /// The other one.
    pub worse: String,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `p_value < ALPHA`.
    pub significant: bool,
}

/// The reach of one post as the test compares it: views where counted, else reactions +
/// replies (groups have no views).
fn score(p: &VariantPost) -> Option<f64> {
    if p.reach_reads == 0 {
        return None;
    }
    Some(match p.views {
        Some(v) => v as f64,
        None => (p.reactions.unwrap_or(0) + p.replies.unwrap_or(0)) as f64,
    })
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var)
}

fn figure(mut xs: Vec<f64>) -> Option<Figure> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    let (mean, var) = mean_var(&xs);
    let half = if n > 1 {
        StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .map_or(0.0, |t| t.inverse_cdf(0.975) * (var / n as f64).sqrt())
    } else {
        0.0
    };
    Some(Figure {
        mean,
        median,
        low: mean - half,
        high: mean + half,
    })
}

/// Per variant (sorted by label), the summary of `posts`.
pub fn summarize(posts: &[VariantPost]) -> Vec<VariantSummary> {
    let mut labels: Vec<&str> = posts.iter().map(|p| p.variant.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| {
            let mine: Vec<&VariantPost> = posts.iter().filter(|p| p.variant == label).collect();
            let read: Vec<&&VariantPost> = mine.iter().filter(|p| p.reach_reads > 0).collect();
            let of = |f: fn(&VariantPost) -> Option<u64>| {
                figure(read.iter().filter_map(|p| f(p)).map(|v| v as f64).collect())
            };
            VariantSummary {
                variant: label.to_owned(),
                posts: mine.len(),
                measured: read.len(),
                views: of(|p| p.views),
                reactions: of(|p| p.reactions),
                replies: of(|p| p.replies),
            }
        })
        .collect()
}

/// Welch's t-test between variants `a` and `b` on their posts' reach; `None` with fewer
/// than two measured posts on a side, or no variance at all.
pub fn compare(posts: &[VariantPost], a: &str, b: &str) -> Option<Verdict> {
    let xs: Vec<f64> = posts
        .iter()
        .filter(|p| p.variant == a)
        .filter_map(score)
        .collect();
    let ys: Vec<f64> = posts
        .iter()
        .filter(|p| p.variant == b)
        .filter_map(score)
        .collect();
    if xs.len() < 2 || ys.len() < 2 {
        return None;
    }
    let (mx, vx) = mean_var(&xs);
    let (my, vy) = mean_var(&ys);
    let (nx, ny) = (xs.len() as f64, ys.len() as f64);
    let se2 = vx / nx + vy / ny;
    let (better, worse) = if mx >= my { (a, b) } else { (b, a) };
    let p_value = if se2 <= 0.0 {
        // Both samples constant: equal means are no difference, different ones are certain.
        if mx == my { 1.0 } else { 0.0 }
    } else {
        let t = (mx - my) / se2.sqrt();
        // Welch–Satterthwaite degrees of freedom.
        let df = se2.powi(2) / ((vx / nx).powi(2) / (nx - 1.0) + (vy / ny).powi(2) / (ny - 1.0));
        let dist = StudentsT::new(0.0, 1.0, df).ok()?;
        2.0 * (1.0 - dist.cdf(t.abs()))
    };
    Some(Verdict {
        better: better.to_owned(),
        worse: worse.to_owned(),
        p_value,
        significant: p_value < ALPHA,
    })
}

/// `auto_winner`'s decision for a two-variant slot: the losing label once each variant has
/// at least `min_sample` measured posts and the difference is significant; `None` otherwise
/// (a tie, too few posts, or not exactly two variants).
pub fn winner(posts: &[VariantPost], min_sample: usize) -> Option<Verdict> {
    let summary = summarize(posts);
    let [a, b] = summary.as_slice() else {
        return None;
    };
    if a.measured < min_sample.max(2) || b.measured < min_sample.max(2) {
        return None;
    }
    compare(posts, &a.variant, &b.variant).filter(|v| v.significant)
}

/// The set with the losing variant `loser` of every A/B slot made inactive: the new
/// message-set version `auto_winner` stores (the winner keeps its slot, alone).
pub fn retire(set: &smb_domain::MessageSet, loser: &str) -> smb_domain::MessageSet {
    let mut next = set.clone();
    for m in &mut next.messages {
        if m.variant.as_deref() == Some(loser) {
            m.active = false;
        }
    }
    next
}

/// One message set's A/B report: `stats --variants`, `/api/v1/variants`, the dashboard.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SetReport {
    /// The message set (`[messages.NAME]`).
    pub set: String,
    /// The broadcasters posting it (their posts are the sample).
    pub broadcasters: Vec<String>,
    /// Per variant, sorted by label.
    pub variants: Vec<VariantSummary>,
    /// What the test compares: `views` (channel posts), `reactions+replies` (groups, where
    /// Telegram counts no views), or `mixed` (views where counted, else reactions + replies).
    pub compared_on: &'static str,
    /// Welch's t-test between the two variants (`None`: not exactly two variants, or fewer
    /// than two measured posts on a side).
    pub verdict: Option<Verdict>,
    /// `min_sample`: measured posts each variant needs before `auto_winner` decides.
    pub min_sample: usize,
    /// The verdict in words: `B is better (p = 0.0001)`, `no significant difference
    /// (p = 0.41)`, `too few measured posts (3 and 2; 2 each needed)`, …
    pub conclusion: String,
    /// Whether `auto_winner` (when on) retires the worse variant: a significant result with
    /// `min_sample` measured posts per variant.
    pub decided: bool,
}

/// The report of one set from its posts (all of its broadcasters').
pub fn report(
    set: &str,
    broadcasters: Vec<String>,
    posts: &[VariantPost],
    min_sample: usize,
) -> SetReport {
    let variants = summarize(posts);
    let read: Vec<&VariantPost> = posts.iter().filter(|p| p.reach_reads > 0).collect();
    let with_views = read.iter().filter(|p| p.views.is_some()).count();
    let compared_on = if with_views == read.len() && !read.is_empty() {
        "views"
    } else if with_views == 0 {
        "reactions+replies"
    } else {
        "mixed"
    };
    let verdict = match variants.as_slice() {
        [a, b] => compare(posts, &a.variant, &b.variant),
        _ => None,
    };
    let decided = winner(posts, min_sample).is_some();
    let conclusion = match (&verdict, variants.as_slice()) {
        (_, []) => "no posts of A/B variants yet".to_owned(),
        (_, [only]) => format!("only variant {} was posted", only.variant),
        (None, [a, b]) => format!(
            "too few measured posts ({} of {}, {} of {}; 2 each needed)",
            a.measured, a.variant, b.measured, b.variant
        ),
        (None, _) => format!(
            "{} variants: the test compares two; retire or merge the others",
            variants.len()
        ),
        (Some(v), _) if v.significant && decided => {
            format!("{} is better (p = {:.4})", v.better, v.p_value)
        }
        (Some(v), _) if v.significant => format!(
            "{} is better (p = {:.4}), below min_sample ({min_sample} measured posts per variant)",
            v.better, v.p_value
        ),
        (Some(v), _) => format!("no significant difference (p = {:.4})", v.p_value),
    };
    SetReport {
        set: set.to_owned(),
        broadcasters,
        variants,
        compared_on,
        verdict,
        min_sample,
        conclusion,
        decided,
    }
}

/// The report of each set in `sets` (set → the broadcasters posting it), in that order.
pub async fn reports(
    store: &crate::SqliteStore,
    sets: &std::collections::BTreeMap<String, Vec<String>>,
    min_sample: usize,
) -> Result<Vec<SetReport>, smb_engine::StoreError> {
    let mut out = Vec::with_capacity(sets.len());
    for (set, broadcasters) in sets {
        let posts = store.variant_posts(Some(broadcasters)).await?;
        out.push(report(set, broadcasters.clone(), &posts, min_sample));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_domain::{Message, MessageSet, Rotation};

    fn post(variant: &str, views: Option<u64>, reactions: u64, replies: u64) -> VariantPost {
        VariantPost {
            broadcaster: "b2b".into(),
            cycle: 1,
            target: "@chat".into(),
            variant: variant.into(),
            message: format!("price {variant}"),
            views,
            reactions: Some(reactions),
            replies: Some(replies),
            forwards: None,
            reach_reads: 1,
        }
    }

    fn seeded(a: &[u64], b: &[u64]) -> Vec<VariantPost> {
        a.iter()
            .map(|v| post("A", Some(*v), v / 20, 0))
            .chain(b.iter().map(|v| post("B", Some(*v), v / 20, 0)))
            .collect()
    }

    #[test]
    fn summary_gives_mean_median_and_an_interval_around_the_mean() {
        let posts = seeded(&[100, 120, 140, 160, 180], &[50]);
        let s = summarize(&posts);
        assert_eq!(s.len(), 2);
        let a = s[0].views.unwrap();
        assert_eq!((s[0].posts, s[0].measured), (5, 5));
        assert_eq!(a.mean, 140.0);
        assert_eq!(a.median, 140.0);
        // sd = 31.62, se = 14.14, t(0.975, 4) = 2.776: 140 ± 39.3.
        assert!((a.high - a.mean - 39.26).abs() < 0.05, "{a:?}");
        assert!((a.mean - a.low - 39.26).abs() < 0.05, "{a:?}");
        // One post: no interval.
        let b = s[1].views.unwrap();
        assert_eq!((b.low, b.high), (50.0, 50.0));
        // A post not read yet counts as posted, not measured.
        let mut more = posts.clone();
        more.push(VariantPost {
            reach_reads: 0,
            views: None,
            ..post("B", None, 0, 0)
        });
        assert_eq!(summarize(&more)[1].posts, 2);
        assert_eq!(summarize(&more)[1].measured, 1);
    }

    #[test]
    fn a_clear_winner_on_seeded_figures_is_found_and_retired() {
        let posts = seeded(
            &[410, 395, 430, 388, 402, 420, 399, 415],
            &[210, 190, 230, 205, 199, 220, 214, 201],
        );
        let v = winner(&posts, 5).expect("a clear winner");
        assert_eq!((v.better.as_str(), v.worse.as_str()), ("A", "B"));
        assert!(v.p_value < 1e-6, "{v:?}");
        let set = MessageSet::new(
            "b2b",
            vec![
                Message {
                    variant: Some("A".into()),
                    ..Message::new("price A")
                },
                Message {
                    variant: Some("B".into()),
                    ..Message::new("price B")
                },
            ],
        );
        let next = retire(&set, &v.worse);
        assert_eq!(
            next.messages.iter().map(|m| m.active).collect::<Vec<_>>(),
            [true, false]
        );
        // The winner alone holds the slot from then on.
        let slot = next.pick_slot(Rotation::Sequential, 0, 0).unwrap();
        assert_eq!(slot.len(), 1);
        assert_eq!(slot[0].text, "price A");
    }

    #[test]
    fn a_tie_or_a_small_sample_retires_nothing() {
        // Same spread, means 1 apart: p far above 0.05.
        let tie = seeded(
            &[300, 280, 320, 310, 290, 305],
            &[301, 279, 321, 311, 291, 303],
        );
        let v = compare(&tie, "A", "B").unwrap();
        assert!(!v.significant, "{v:?}");
        assert!(v.p_value > 0.5, "{v:?}");
        assert_eq!(winner(&tie, 5), None);
        // A clear difference, but fewer posts than the minimum sample.
        let few = seeded(&[400, 410, 420], &[100, 110, 120]);
        assert!(compare(&few, "A", "B").unwrap().significant);
        assert_eq!(winner(&few, 5), None);
    }

    #[test]
    fn groups_without_views_compare_reactions_and_replies() {
        let posts: Vec<VariantPost> = (0..6)
            .map(|i| post("A", None, 10 + i, 5))
            .chain((0..6).map(|i| post("B", None, 1 + i % 2, 0)))
            .collect();
        let v = compare(&posts, "A", "B").unwrap();
        assert_eq!(v.better, "A");
        assert!(v.significant, "{v:?}");
        assert!(summarize(&posts)[0].views.is_none());
    }

    #[test]
    fn the_report_says_the_verdict_in_words() {
        let clear = seeded(
            &[410, 395, 430, 388, 402, 420, 399, 415],
            &[210, 190, 230, 205, 199, 220, 214, 201],
        );
        let r = report("b2b", vec!["b2b".into()], &clear, 5);
        assert_eq!(r.compared_on, "views");
        assert!(r.decided);
        assert_eq!(r.conclusion, "A is better (p = 0.0000)");
        assert_eq!(r.variants.len(), 2);
        // The same figures below the minimum sample: significant, not decided.
        let r = report("b2b", vec![], &clear, 20);
        assert!(!r.decided);
        assert!(
            r.conclusion.contains("below min_sample (20"),
            "{}",
            r.conclusion
        );
        let tie = seeded(
            &[300, 280, 320, 310, 290, 305],
            &[301, 279, 321, 311, 291, 303],
        );
        let r = report("b2b", vec![], &tie, 5);
        assert!(!r.decided);
        assert!(
            r.conclusion
                .starts_with("no significant difference (p = 0."),
            "{}",
            r.conclusion
        );
        let r = report("b2b", vec![], &seeded(&[1], &[2]), 5);
        assert_eq!(
            r.conclusion,
            "too few measured posts (1 of A, 1 of B; 2 each needed)"
        );
        assert_eq!(
            report("b2b", vec![], &[], 5).conclusion,
            "no posts of A/B variants yet"
        );
        let json = serde_json::to_value(report("b2b", vec![], &tie, 5)).unwrap();
        assert_eq!(json["variants"][0]["variant"], "A");
        assert_eq!(json["variants"][0]["posts"], 6);
        assert!(json["variants"][0]["views"]["median"].is_number());
        assert_eq!(json["verdict"]["significant"], false);
    }
}
