//! How counts about people are published: exactly, to callers who may read every
//! record behind them anyway, or protected, as the Office for National Statistics
//! publishes small-area tables. Profile maps and the ASB equality analysis publish
//! through the same rules.

/// Published counts are multiples of this when a figure is protected.
pub const ROUNDING_BASE: i64 = 5;

/// How counts are published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// As counted: for callers who may read every record (and every answer) behind
    /// every count anyway.
    Exact,
    /// Every published count (cells, totals, completeness) independently rounded to
    /// the nearest multiple of [`ROUNDING_BASE`]; cells that round to 0 are left out.
    /// Because *every* figure is rounded, differencing a cell against a total, an
    /// unfiltered figure or a caller's own exact counts leaves an uncertainty of
    /// several people, never the exact count; leaving out zero cells means a
    /// cell's presence never tells that somebody in it exists (1 and 2 look like 0).
    RoundedToBase5,
}

impl Disclosure {
    /// The rounding base a figure reports (0 when exact).
    pub fn base(self) -> i64 {
        match self {
            Self::Exact => 0,
            Self::RoundedToBase5 => ROUNDING_BASE,
        }
    }

    /// `count` as published.
    pub fn publish(self, count: i64) -> i64 {
        match self {
            Self::Exact => count,
            Self::RoundedToBase5 => round_to_base(count),
        }
    }

    /// `count`, a part of a group of `group` people, as published: a protected part
    /// is also never above its group rounded *down*, since a caller who can count a
    /// small group exactly could otherwise read "everyone in it" from a part rounded
    /// up past the group's size (3 of 3 published as 5).
    pub fn publish_within(self, count: i64, group: i64) -> i64 {
        match self {
            Self::Exact => count,
            Self::RoundedToBase5 => round_to_base(count).min(group.max(0) / ROUNDING_BASE * ROUNDING_BASE),
        }
    }
}

/// `count` to the nearest multiple of 5 (1 and 2 become 0, 3 and 4 become 5).
pub fn round_to_base(count: i64) -> i64 {
    let count = count.max(0);
    (count + ROUNDING_BASE / 2) / ROUNDING_BASE * ROUNDING_BASE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_counts_round_to_five_and_never_above_their_group() {
        let rounded: Vec<i64> = (0..=8).map(round_to_base).collect();
        assert_eq!(rounded, [0, 0, 0, 5, 5, 5, 5, 5, 10]);
        let protected = Disclosure::RoundedToBase5;
        assert_eq!(protected.publish_within(3, 3), 0, "3 of 3 shows nothing");
        assert_eq!(protected.publish_within(8, 8), 5);
        assert_eq!(Disclosure::Exact.publish_within(3, 3), 3);
        assert_eq!((Disclosure::Exact.base(), protected.base()), (0, 5));
    }
}
