//! Counting from running totals. Every connection is in exactly one health class,
//! and within a class `enableConnection` and `connectionStatus` are fixed, so a filter
//! over only those two properties selects whole classes: its count is a sum of the
//! classes' totals, which triggers keep (see the `partner_counts` migrations). Any
//! other filter is counted by reading the rows.

use crate::edm::{Derived, Property, Scalar, Source};
use crate::model::schema::ENABLE_CONNECTION_COLUMN;
use crate::model::ConnectionStatus;
use crate::odata::{CompareOp, Filter};
use std::cmp::Ordering;

/// Which of the four classes (indexed by `ConnectionStatus::value`) a filter keeps;
/// `None` when it looks at anything but the class.
pub fn classes(filter: Option<&Filter>) -> Option<[bool; 4]> {
    let mut keep = [true; 4];
    if let Some(f) = filter {
        for status in ConnectionStatus::ALL {
            keep[status.value() as usize] = holds(f, status)?;
        }
    }
    Some(keep)
}

/// The sum of the kept classes' totals.
pub fn total(keep: [bool; 4], totals: [u64; 4]) -> u64 {
    keep.iter()
        .zip(totals)
        .filter(|(k, _)| **k)
        .map(|(_, n)| n)
        .sum()
}

/// What a property holds for every connection of a class; `None` for the others.
fn class_value(p: Property, status: ConnectionStatus) -> Option<Scalar> {
    match p.source {
        Source::Derived(Derived::Status) => Some(Scalar::Enum(status.value())),
        Source::Column(c) if c == ENABLE_CONNECTION_COLUMN => {
            Some(Scalar::Bool(status != ConnectionStatus::NotAvailable))
        }
        _ => None,
    }
}

/// Evaluates the filter as `sql::Builder` writes it, for a connection of the class.
fn holds(f: &Filter, status: ConnectionStatus) -> Option<bool> {
    Some(match f {
        Filter::And(a, b) => holds(a, status)? & holds(b, status)?,
        Filter::Or(a, b) => holds(a, status)? | holds(b, status)?,
        Filter::Not(a) => !holds(a, status)?,
        Filter::Compare {
            property,
            op,
            value,
        } => {
            let have = class_value(property, status)?;
            // Both properties are non-nullable: `eq null` is false, any other
            // comparison with null true, as the SQL builder writes them.
            if *value == Scalar::Null {
                return Some(*op != CompareOp::Eq);
            }
            let ord = order(&have, value)?;
            match op {
                CompareOp::Eq => ord == Ordering::Equal,
                CompareOp::Ne => ord != Ordering::Equal,
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
            }
        }
        Filter::In { property, values } => {
            let have = class_value(property, status)?;
            values.contains(&have)
        }
    })
}

/// How the databases order the two kinds of value involved: booleans false before
/// true, enum members by their stored value.
fn order(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(y)),
        (Scalar::Enum(x), Scalar::Enum(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::PARTNERS;
    use crate::odata::filter::parse_filter;

    fn keep(text: &str) -> Option<[bool; 4]> {
        classes(Some(&parse_filter(text, &PARTNERS).unwrap()))
    }

    #[test]
    fn no_filter_counts_every_class() {
        assert_eq!(classes(None), Some([true; 4]));
    }

    #[test]
    fn class_filters_select_classes() {
        // [notAvailable, available, healthy, unhealthy]
        let cases = [
            ("enableConnection eq true", [false, true, true, true]),
            ("enableConnection eq false", [true, false, false, false]),
            ("enableConnection ne true", [true, false, false, false]),
            ("connectionStatus eq 'healthy'", [false, false, true, false]),
            ("connectionStatus ne 'healthy'", [true, true, false, true]),
            (
                "connectionStatus in ('available', 'unhealthy')",
                [false, true, false, true],
            ),
            (
                "not (connectionStatus eq 'healthy' or enableConnection eq false)",
                [false, true, false, true],
            ),
            (
                "enableConnection eq true and connectionStatus ne 'available'",
                [false, false, true, true],
            ),
            ("connectionStatus eq null", [false; 4]),
            ("connectionStatus ne null", [true; 4]),
        ];
        for (text, want) in cases {
            assert_eq!(keep(text), Some(want), "{text}");
        }
    }

    #[test]
    fn other_properties_need_the_rows() {
        for text in [
            "partnerId eq '9d1c0b4e-7c1e-4c38-9a63-1b0e5b6f0d11'",
            "enableConnection eq true and lastSyncDateTime eq null",
            "connectionStatus eq 'healthy' or id eq 'x'",
        ] {
            assert_eq!(keep(text), None, "{text}");
        }
    }

    #[test]
    fn totals_sum_the_kept_classes() {
        assert_eq!(total([false, true, true, false], [1, 20, 300, 4000]), 320);
        assert_eq!(total([true; 4], [1, 2, 3, 4]), 10);
    }
}
